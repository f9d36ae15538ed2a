//! The book's reference of built-ins and standard library functions
//! (`book/src/reference/builtins.md`) is kept in step with the code: every
//! built-in has its table row (name, parameters, where, doc line) and every
//! stdlib function its doc comment and signature as the stdlib writes them;
//! and the book lists no built-in that does not exist.

use dlp_compiler::check::builtins::{Place, BUILTINS};
use dlp_compiler::stdlib::MODULES;

fn book() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/book/src/reference/builtins.md"
    );
    std::fs::read_to_string(path).expect("the reference")
}

/// The row of one built-in, as the reference writes it.
fn row(b: &dlp_compiler::check::builtins::Builtin) -> String {
    let params: Vec<String> = b
        .params
        .iter()
        .map(|(name, required)| format!("{name}{}", if *required { "" } else { "?" }))
        .collect();
    let place = match b.place {
        Place::Anywhere => "anywhere",
        Place::Body => "bodies",
        Place::Dataset => "datasets",
        Place::Metric => "metrics",
    };
    format!(
        "| `{}({})` | {place} | {} |",
        b.name,
        params.join(", "),
        b.doc
    )
}

/// Each stdlib function's doc comment and signature, as written in `text`.
fn declarations(text: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(rest) = line
            .strip_prefix("fn ")
            .or_else(|| line.strip_prefix("extern fn "))
        else {
            continue;
        };
        let name = rest.split('(').next().unwrap_or_default().to_string();
        let doc_start = (0..i)
            .rev()
            .take_while(|&j| lines[j].starts_with("///"))
            .last()
            .unwrap_or(i);
        let mut signature = String::new();
        for l in &lines[i..] {
            match l.find(" {") {
                Some(at) => {
                    signature.push_str(&l[..at]);
                    break;
                }
                None if l.starts_with("extern fn") => {
                    signature.push_str(l);
                    break;
                }
                None => {
                    signature.push_str(l);
                    signature.push('\n');
                }
            }
        }
        let mut block = lines[doc_start..i].join("\n");
        if !block.is_empty() {
            block.push('\n');
        }
        block.push_str(&signature);
        out.push((name, block));
    }
    out
}

#[test]
fn every_built_in_has_its_row_in_the_reference() {
    let book = book();
    let missing: Vec<String> = BUILTINS
        .iter()
        .map(row)
        .filter(|r| !book.contains(r.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "book/src/reference/builtins.md lacks (or has an outdated form of) these rows:\n{}",
        missing.join("\n")
    );
    for line in book.lines().filter(|l| l.starts_with("| `")) {
        let name = line[3..].split(['(', '`']).next().unwrap_or_default();
        assert!(
            BUILTINS.iter().any(|b| b.name == name),
            "the reference lists `{name}`, which is not a built-in"
        );
    }
}

#[test]
fn every_stdlib_function_is_in_the_reference_as_written() {
    let book = book();
    let mut missing = Vec::new();
    for (module, text) in MODULES {
        assert!(
            book.contains(&format!("### `std.{module}`")),
            "no section for std.{module}"
        );
        for (name, block) in declarations(text) {
            if !book.contains(&block) {
                missing.push(format!("std.{module}.{name}:\n{block}\n"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "book/src/reference/builtins.md lacks (or has an outdated form of):\n{}",
        missing.join("\n")
    );
}
