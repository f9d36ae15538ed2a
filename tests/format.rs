//! `fmt` is idempotent and keeps the parse (modulo spans and layout) on every
//! example, the stdlib, and every error-suite case that parses.

mod common;

use dlp_grammar::{format::format, parse, print::sexpr};

fn programs() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for dir in ["examples", "stdlib", "tests/errors"] {
        for p in common::dlp_files(dir) {
            let text = std::fs::read_to_string(&p).unwrap();
            for (i, case) in text.split("\n--- ").enumerate() {
                let body = if i == 0 {
                    case.to_string()
                } else {
                    case.split_once('\n').map_or("", |c| c.1).to_string()
                };
                out.push((format!("{} #{i}", p.display()), body));
            }
        }
    }
    out
}

#[test]
fn format_is_idempotent_and_keeps_the_tree() {
    let mut formatted = 0;
    for (name, text) in programs() {
        let Ok(once) = format(&text) else { continue };
        formatted += 1;
        let twice = format(&once)
            .unwrap_or_else(|e| panic!("{name}: formatted output does not parse: {e:?}\n{once}"));
        assert_eq!(once, twice, "{name}: not idempotent");
        assert_eq!(
            sexpr(&parse(&text).0),
            sexpr(&parse(&once).0),
            "{name}: the tree changed"
        );
        let comments = |s: &str| {
            dlp_grammar::comments::comments(s)
                .into_iter()
                .map(|c| c.text)
                .collect::<Vec<_>>()
        };
        assert_eq!(comments(&text), comments(&once), "{name}: comments changed");
    }
    assert!(formatted > 50, "only {formatted} programs formatted");
}

#[test]
fn shipped_programs_are_formatted() {
    for (name, text) in programs()
        .into_iter()
        .filter(|(n, _)| !n.contains("tests/errors"))
    {
        assert_eq!(
            format(&text).unwrap(),
            text,
            "{name} is not in canonical layout"
        );
    }
}
