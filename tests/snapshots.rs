//! insta snapshots: the S-expression AST printer on real programs, and a
//! handful of rendered diagnostics (colour off, as in CI logs).

use dlp_compiler::{compile, render, NoModules};

fn example(name: &str) -> String {
    std::fs::read_to_string(format!("{}/examples/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn ast_of_the_normative_example() {
    let (ast, errors) = dlp_grammar::parse(&example("digits_mlp.dlp"));
    assert!(errors.is_empty());
    insta::assert_snapshot!(dlp_grammar::print::sexpr(&ast));
}

#[test]
fn ast_of_the_stdlib_layers() {
    let (ast, errors) = dlp_grammar::parse(dlp_compiler::stdlib::module("nn").unwrap());
    assert!(errors.is_empty());
    insta::assert_snapshot!(dlp_grammar::print::sexpr(&ast));
}

fn rendered(src: &str) -> String {
    let c = compile("case.dlp", src, &mut NoModules);
    c.diagnostics
        .iter()
        .map(|d| render(d, &c.program.sources, false))
        .collect()
}

#[test]
fn diagnostic_matmul_points_at_both_sides() {
    insta::assert_snapshot!(rendered(
        "fn f(a: f32[B, 64], b: f32[10, 3]) -> f32[B, 3] { a @ b }\n"
    ));
}

#[test]
fn diagnostic_call_explains_the_binding() {
    insta::assert_snapshot!(rendered(
        "use std.nn.linear\nfn f(x: f32[B, 64]) -> f32[B, 10] {\n    h = linear(x, 32)\n    h @ x\n}\n"
    ));
}

#[test]
fn diagnostic_missing_import_suggests_the_use() {
    insta::assert_snapshot!(rendered(
        "model M {\n    input x: f32[B, 4]\n    output y = relu(x)\n}\n"
    ));
}

#[test]
fn diagnostic_dataset_binding_names_both_sides() {
    insta::assert_snapshot!(rendered(
        "use std.loss.mse\nuse std.optim.adam\ndataset d {\n    source = csv(\"d.csv\")\n    x      = columns(0..5) as f32[5]\n}\nmodel M {\n    input x: f32[B, 4]\n    output p = x\n}\ntrain t {\n    model     = M\n    data      = d\n    epochs    = 1\n    loss      = mse(p, p)\n    optimizer = adam()\n}\n"
    ));
}

#[test]
fn diagnostic_syntax_errors_recover_per_item() {
    insta::assert_snapshot!(rendered(
        "fn a( -> f32 { 1.0 }\nfn b(x: f32) -> f32 { x + }\n"
    ));
}

#[test]
fn diagnostics_as_json() {
    let c = compile(
        "case.dlp",
        "fn f(x: f32[N]) -> f32[N] { exp(xx) }\n",
        &mut NoModules,
    );
    let lines: Vec<String> = c
        .diagnostics
        .iter()
        .map(|d| dlp_compiler::render_json(d, &c.program.sources))
        .collect();
    insta::assert_snapshot!(lines.join("\n"));
}
