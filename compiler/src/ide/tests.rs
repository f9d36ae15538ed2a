//! No query panics, on any offset of any text: whole programs, every
//! prefix of one (what a file looks like while it is typed), non-ASCII text,
//! offsets inside multi-byte characters and past the end.

use super::Analysis;
use crate::NoModules;

const DIGITS: &str = include_str!("../../../examples/digits_mlp.dlp");

const UNICODE: &str =
    "// Ünïcode 😀\n/// Halves x — ½.\nfn half(x: f32[..S]) -> f32[..S] { x * 0.5 }\n\
dataset d {\n    source = csv(\"dätä😀.csv\", header = true)\n    x = columns(0..4) as f32[4]\n}\n";

fn every_query_everywhere(text: &str, step: usize) {
    let a = Analysis::new("t.dlp", text, &mut NoModules);
    a.diagnostics();
    a.document_symbols();
    for offset in (0..text.len() + 3).step_by(step) {
        a.hover(offset);
        a.definition(offset);
        a.references(offset, true);
        a.completions(offset);
        a.signature_help(offset);
        let _ = a.prepare_rename(offset);
        let _ = a.rename(offset, "renamed");
    }
}

#[test]
fn no_query_panics_on_whole_programs() {
    every_query_everywhere(DIGITS, 1);
    every_query_everywhere(UNICODE, 1);
    for (_, stdlib) in crate::stdlib::MODULES {
        every_query_everywhere(stdlib, 3);
    }
}

#[test]
fn no_query_panics_while_a_file_is_typed() {
    let mut cut = 0;
    while cut < DIGITS.len() {
        every_query_everywhere(&DIGITS[..cut], 11);
        cut += 13;
    }
}

/// The editor lowers a model within a budget: one far too large for it
/// (here a billion statements that add no operation) is left unchecked
/// at once, not lowered while the user waits.
#[test]
fn a_model_over_the_editors_budget_is_left_unchecked() {
    let huge = DIGITS.replace(
        "    output logits",
        "    repeat 1000 { repeat 1000 { repeat 1000 { n = 1 } } }\n    output logits",
    );
    assert_ne!(huge, DIGITS);
    let a = Analysis::new("t.dlp", &huge, &mut NoModules);
    assert_eq!(a.diagnostics(), []);
    // Within the budget, what lowering finds is shown.
    let zero = DIGITS.replace("Mlp(hidden = 256)", "Mlp(hidden = 0)");
    assert_ne!(zero, DIGITS);
    let a = Analysis::new("t.dlp", &zero, &mut NoModules);
    let codes: Vec<_> = a.diagnostics().iter().map(|d| d.code).collect();
    assert_eq!(codes, ["E0400"]);
}
