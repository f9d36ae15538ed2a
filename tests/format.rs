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

/// `dlpc fmt` on the files in place, as a user runs it.
mod in_place {
    use std::os::unix::fs::{symlink, PermissionsExt};
    use std::path::Path;
    use std::process::Command;

    const MESSY: &str = "model M(h:int=3){input x:f32[B,4]\n output y=x}\n";

    fn formatted() -> String {
        dlp_grammar::format::format(MESSY).expect("formats")
    }

    fn dlpc_fmt(file: &Path) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_dlpc"))
            .arg("fmt")
            .arg(file)
            .output()
            .expect("dlpc runs")
    }

    /// The names in `dir`, sorted: no temporary file may be left among them.
    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("the folder reads")
            .map(|e| {
                e.expect("an entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_symlink_stays_a_link_and_its_target_is_formatted() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let real_dir = dir.path().join("real");
        std::fs::create_dir(&real_dir).expect("a folder");
        let target = real_dir.join("model.dlp");
        std::fs::write(&target, MESSY).expect("writes");
        let link = dir.path().join("link.dlp");
        symlink("real/model.dlp", &link).expect("a relative symlink");
        let out = dlpc_fmt(&link);
        assert!(out.status.success(), "{out:?}");
        let meta = std::fs::symlink_metadata(&link).expect("the link is there");
        assert!(meta.file_type().is_symlink(), "the link became a file");
        assert_eq!(
            std::fs::read_link(&link).expect("a link"),
            Path::new("real/model.dlp")
        );
        assert_eq!(
            std::fs::read_to_string(&target).expect("reads"),
            formatted()
        );
        assert_eq!(entries(dir.path()), ["link.dlp", "real"]);
        assert_eq!(entries(&real_dir), ["model.dlp"]);
    }

    #[test]
    fn permissions_are_kept() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        for mode in [0o755, 0o600, 0o444] {
            let file = dir.path().join(format!("m{mode:o}.dlp"));
            std::fs::write(&file, MESSY).expect("writes");
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).expect("chmod");
            let out = dlpc_fmt(&file);
            assert!(out.status.success(), "{out:?}");
            assert_eq!(std::fs::read_to_string(&file).expect("reads"), formatted());
            let kept = std::fs::metadata(&file).expect("metadata").permissions();
            assert_eq!(kept.mode() & 0o7777, mode, "mode of {}", file.display());
        }
    }

    #[test]
    fn a_stale_temporary_file_is_removed() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let file = dir.path().join("model.dlp");
        let stale = dir.path().join("model.dlp.fmt-tmp");
        // Left by a run killed mid-write, read-only to make it harder.
        std::fs::write(&stale, "model M(").expect("writes");
        std::fs::set_permissions(&stale, std::fs::Permissions::from_mode(0o444)).expect("chmod");
        std::fs::write(&file, MESSY).expect("writes");
        assert!(dlpc_fmt(&file).status.success());
        assert_eq!(std::fs::read_to_string(&file).expect("reads"), formatted());
        assert_eq!(entries(dir.path()), ["model.dlp"]);
        // Also when there is nothing to write: the file is formatted already.
        std::fs::write(&stale, "model M(").expect("writes");
        assert!(dlpc_fmt(&file).status.success());
        assert_eq!(entries(dir.path()), ["model.dlp"]);
    }

    #[test]
    fn crlf_line_endings_and_a_byte_order_mark_are_kept() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let file = dir.path().join("windows.dlp");
        let windows = |text: &str| format!("\u{feff}{}", text.replace('\n', "\r\n"));
        std::fs::write(&file, windows(MESSY)).expect("writes");
        assert!(dlpc_fmt(&file).status.success());
        let written = std::fs::read_to_string(&file).expect("reads");
        assert_eq!(written, windows(&formatted()));
        // Formatted, it stays as it is.
        let out = dlpc_check(&file);
        assert!(out.status.success(), "{out:?}");
    }

    fn dlpc_check(file: &Path) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_dlpc"))
            .args(["fmt", "--check"])
            .arg(file)
            .output()
            .expect("dlpc runs")
    }

    #[test]
    fn check_prints_the_diff_on_stdout_and_the_verdict_on_stderr() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let file = dir.path().join("messy.dlp");
        std::fs::write(&file, MESSY).expect("writes");
        let out = dlpc_check(&file);
        assert_eq!(out.status.code(), Some(1));
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(
            stdout.contains("+++ ") && stdout.contains("@@ "),
            "{stdout}"
        );
        assert!(stdout.contains("+model M(h: int = 3) {"), "{stdout}");
        assert!(!stdout.contains("error:"), "{stdout}");
        assert!(stderr.ends_with("messy.dlp is not formatted\n"), "{stderr}");
        assert_eq!(std::fs::read_to_string(&file).expect("reads"), MESSY);
    }

    #[test]
    fn a_file_that_does_not_parse_is_left_alone_without_a_temporary_file() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let file = dir.path().join("broken.dlp");
        std::fs::write(&file, "model M(h:int {\n").expect("writes");
        let out = dlpc_fmt(&file);
        assert!(!out.status.success());
        assert_eq!(
            std::fs::read_to_string(&file).expect("reads"),
            "model M(h:int {\n"
        );
        assert_eq!(entries(dir.path()), ["broken.dlp"]);
    }
}

/// A UTF-8 byte-order mark (which some Windows editors write) is not part
/// of the program: every example reads as without it, with no error.
#[test]
fn a_byte_order_mark_reads_as_nothing() {
    use dlp_compiler::{compile, NoModules};
    for (name, text) in programs() {
        let marked = format!("\u{feff}{text}");
        assert_eq!(sexpr(&parse(&text).0), sexpr(&parse(&marked).0), "{name}");
        assert_eq!(parse(&text).1.len(), parse(&marked).1.len(), "{name}");
        let formatted = format(&text).ok().map(|f| format!("\u{feff}{f}"));
        assert_eq!(formatted, format(&marked).ok(), "{name}");
        let errors = |t: &str| compile("p.dlp", t, &mut NoModules).diagnostics.len();
        assert_eq!(errors(&text), errors(&marked), "{name}");
    }
}

/// A file whose lines end in a lone `\r` (or `\r\n`) reads as the same
/// program: a `//` comment stops at the line's end, not the file's, and
/// every diagnostic lands on the same line and column.
#[test]
fn every_line_ending_reads_as_the_same_program() {
    use dlp_compiler::{compile, NoModules};
    let located = |text: &str| {
        let comp = compile("p.dlp", text, &mut NoModules);
        comp.diagnostics
            .iter()
            .map(|d| {
                let file = comp.program.sources.get(d.primary.loc.file);
                (
                    d.message.clone(),
                    file.line_col(d.primary.loc.span.start as usize),
                )
            })
            .collect::<Vec<_>>()
    };
    for (name, lf) in programs() {
        let lf = lf.replace("\r\n", "\n");
        for ending in ["\r", "\r\n"] {
            let other = lf.replace('\n', ending);
            assert_eq!(
                sexpr(&parse(&lf).0),
                sexpr(&parse(&other).0),
                "{name} with {ending:?}: the tree changed"
            );
            // CRLF files stay CRLF; lone `\r`s become `\n`.
            let kept = |f: String| {
                if ending == "\r\n" {
                    f.replace('\n', "\r\n")
                } else {
                    f
                }
            };
            assert_eq!(
                format(&lf).ok().map(kept),
                format(&other).ok(),
                "{name} with {ending:?}"
            );
            assert_eq!(located(&lf), located(&other), "{name} with {ending:?}");
        }
    }
}
