//! The error suite: annotated programs under `tests/errors/`.
//!
//! Each file holds cases separated by `--- name ---` lines. A case is a
//! program whose expected diagnostics are written in it as comments:
//! `// error: L:C text` says that an error starts at line L, column C
//! (counted from the case's first line) and that its message contains
//! `text`; `// warning: L:C text` says the same of a warning. A case must
//! report exactly those diagnostics, no more: those of `dlpc check`,
//! which lowers the train blocks of a program the front end accepts.

mod common;

use dlp_compiler::{compile, NoModules};

struct Case {
    name: String,
    source: String,
    /// Line, column, severity and a part of the message.
    expected: Vec<(usize, usize, &'static str, String)>,
}

fn cases(text: &str) -> Vec<Case> {
    let mut out: Vec<Case> = Vec::new();
    for line in text.lines() {
        if let Some(name) = line
            .strip_prefix("--- ")
            .and_then(|l| l.strip_suffix(" ---"))
        {
            out.push(Case {
                name: name.to_string(),
                source: String::new(),
                expected: Vec::new(),
            });
            continue;
        }
        let Some(case) = out.last_mut() else { continue };
        let trimmed = line.trim_start();
        let spec = trimmed
            .strip_prefix("// error: ")
            .map(|s| ("error", s))
            .or_else(|| trimmed.strip_prefix("// warning: ").map(|s| ("warning", s)));
        if let Some((severity, spec)) = spec {
            let (pos, message) = spec
                .split_once(' ')
                .expect("`// error: L:C message` or `// warning: L:C message`");
            let (l, c) = pos.split_once(':').expect("L:C");
            case.expected.push((
                l.parse().unwrap(),
                c.parse().unwrap(),
                severity,
                message.to_string(),
            ));
        }
        case.source.push_str(line);
        case.source.push('\n');
    }
    out
}

fn severity(d: &dlp_compiler::Diagnostic) -> &'static str {
    if d.is_error() {
        "error"
    } else {
        "warning"
    }
}

/// What `dlpc check` reports: the front end's diagnostics, then, when it
/// found no error, what lowering the train blocks finds.
fn checked(name: &str, text: &str) -> dlp_compiler::Compilation {
    let mut compilation = compile(name, text, &mut NoModules);
    if !compilation.diagnostics.iter().any(|d| d.is_error()) {
        let fallback =
            dlp_compiler::Loc::new(compilation.program.modules[0].file, Default::default());
        let lowered = dlp_compiler::lower::check(&compilation);
        compilation
            .diagnostics
            .extend(lowered.iter().map(|e| e.diagnostic(fallback)));
    }
    compilation
}

#[test]
fn error_suite() {
    let mut failures = Vec::new();
    let mut count = 0;
    for file in common::dlp_files("tests/errors") {
        let text = std::fs::read_to_string(&file).unwrap();
        for case in cases(&text) {
            count += 1;
            let compilation = checked("case.dlp", &case.source);
            let root = &compilation.program.sources;
            let mut actual: Vec<(usize, usize, &str, String)> = compilation
                .diagnostics
                .iter()
                .map(|d| {
                    let f = root.get(d.primary.loc.file);
                    let (l, c) = f.line_col(d.primary.loc.span.start as usize);
                    let where_ = if f.is_stdlib {
                        format!(" (in {})", f.name)
                    } else {
                        String::new()
                    };
                    (l, c, severity(d), format!("{}{where_}", d.message))
                })
                .collect();
            let mut missing = Vec::new();
            for (l, c, severity, text) in &case.expected {
                match actual.iter().position(|(al, ac, s, m)| {
                    al == l && ac == c && s == severity && m.contains(text.as_str())
                }) {
                    Some(i) => {
                        actual.remove(i);
                    }
                    None => missing.push(format!("{severity} {l}:{c} {text}")),
                }
            }
            if !missing.is_empty() || !actual.is_empty() {
                let got: Vec<String> = compilation
                    .diagnostics
                    .iter()
                    .map(|d| {
                        let (l, c) = root
                            .get(d.primary.loc.file)
                            .line_col(d.primary.loc.span.start as usize);
                        format!("// {}: {l}:{c} {}", severity(d), d.message)
                    })
                    .collect();
                failures.push(format!(
                    "{} / {}:\n  missing: {missing:?}\n  got:\n    {}",
                    file.file_name().unwrap().to_string_lossy(),
                    case.name,
                    got.join("\n    ")
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {count} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        count >= 40,
        "the suite should have at least 40 cases, has {count}"
    );
}

/// Spellings from Python, NumPy and PyTorch get dlp's, not the nearest
/// name by edit distance (`float32` is not `float`, a compile-time number).
#[test]
fn other_languages_spellings_are_named() {
    assert_helps(&[
        ("fn f(x: float32[B]) -> f32[B] { x }", "dlp spells it `f32`"),
        ("fn f(x: int64[B]) -> i64[B] { x }", "dlp spells it `i64`"),
        ("fn f(x: double) -> f64 { x }", "dlp spells it `f64`"),
        (
            "fn f(x: f32[B]) -> f32[B] { where(True, x, x) }",
            "dlp spells it `true`",
        ),
        (
            "fn f(x: f32[B]) -> f32[B] { where(False, x, x) }",
            "dlp spells it `false`",
        ),
    ]);
}

/// Each program has one diagnostic, with this help line.
fn assert_helps(cases: &[(&str, &str)]) {
    for (program, help) in cases {
        let comp = compile("p.dlp", program, &mut NoModules);
        let helps: Vec<_> = comp.diagnostics.iter().map(|d| d.help.clone()).collect();
        assert_eq!(helps, [Some(help.to_string())], "{program}");
    }
}

/// A stdlib function imported from the wrong module: the `use` says where
/// it is, and its uses are not reported again.
#[test]
fn a_wrong_stdlib_module_names_the_right_one_at_the_use() {
    let program =
        "use std.nn.accuracy\nfn f(x: f32[B, 3], y: class(3)[B]) -> f32 { accuracy(x, y) }";
    let comp = compile("p.dlp", program, &mut NoModules);
    let helps: Vec<_> = comp.diagnostics.iter().map(|d| d.help.clone()).collect();
    assert_eq!(
        helps,
        [Some(
            "`accuracy` is in std.metrics: `use std.metrics.accuracy`".to_string()
        )]
    );
}

/// A builtin used where it cannot be says where it can, not its doc comment.
#[test]
fn a_misplaced_builtin_says_where_it_belongs() {
    assert_helps(&[
        (
            "dataset d {\n    source = csv(\"d.csv\")\n    x = random_uniform(column(0) as f32[1])\n}",
            "`random_uniform` works on a model's tensors: call it in a `fn` or a `model`",
        ),
        (
            "fn f(x: f32[B]) -> f32[B] { standardize(x) }",
            "`standardize` works on the data, sample by sample: use it in a field of a `dataset` block",
        ),
    ]);
}

/// A `-` at the start of a line subtracts: when that leaves a `fn`
/// without a result, the help says which line continued which.
#[test]
fn a_leading_minus_that_swallows_the_result_is_explained() {
    let program = "fn f(x: f32[B]) -> f32[B] {\n    y = x * 2.0\n    - y\n}\n";
    let comp = compile("p.dlp", program, &mut NoModules);
    let help = comp.diagnostics[0].help.clone().unwrap_or_default();
    assert!(
        help.starts_with("the `-` that starts line 3 continues"),
        "{help}"
    );
    let program = "fn f(x: f32[B]) -> f32[B] {\n    y = x * 2.0 - x\n}\n";
    let comp = compile("p.dlp", program, &mut NoModules);
    let help = comp.diagnostics[0].help.clone().unwrap_or_default();
    assert_eq!(help, "end the body with the expression it returns");
}
