//! Lowering a checked program to the compiled program: the steps of a
//! small model (an insta snapshot of the textual IR), parameter paths,
//! modes, sizes symbolic in the batch.

use dlp_compiler::ir::{Input, Op, Output, Size};
use dlp_compiler::lower;
use dlp_compiler::{compile, CompiledProgram, NoModules};

fn program(model_body: &str, extra: &str) -> String {
    format!(
        r#"
use std.nn.{{linear, relu, dropout}}
use std.loss.cross_entropy
use std.optim.sgd

dataset d {{
    source = csv("d.csv", header = true)
    x      = columns(0..3) as f32[3] / 2.0
    y      = column("y") as class(2)
}}

{extra}

model M {{
    input x: f32[B, 3]
{model_body}
}}

train t {{
    model     = M()
    data      = d
    batch     = 4
    epochs    = 1
    loss      = cross_entropy(logits, y)
    optimizer = sgd(lr = 0.5)
}}
"#
    )
}

fn compiled(text: &str) -> CompiledProgram {
    let comp = compile("p.dlp", text, &mut NoModules);
    assert!(!comp.has_errors(), "{:?}", comp.diagnostics);
    lower::compile(&comp, None).unwrap()
}

fn params(text: &str) -> Vec<String> {
    let program = compiled(text);
    program.plan.params.iter().map(|p| p.path.clone()).collect()
}

#[test]
fn the_ir_of_a_linear_classifier() {
    let program = compiled(&program("    output logits = linear(x, 2)", ""));
    insta::assert_snapshot!("linear_classifier", program.text());
}

#[test]
fn the_train_step_is_two_groups_with_the_gradients_between_them() {
    let program = compiled(&program("    output logits = linear(x, 2)", ""));
    let (grads, update) = (&program.train.gradients, &program.train.update);
    for path in ["logits.w", "logits.b"] {
        assert!(grads.output(&Output::Gradient(path.into())).is_some());
        assert!(update.input(&Input::Gradient(path.into())).is_some());
        assert!(update.output(&Output::NewParam(path.into())).is_some());
        assert!(grads.output(&Output::NewParam(path.into())).is_none());
    }
    assert!(grads.output(&Output::LossSum).is_some());
    let eval = &program.eval[0].step;
    assert!(eval.output(&Output::LossSum).is_some());
    assert!(eval
        .outputs
        .iter()
        .all(|(o, _)| matches!(o, Output::LossSum | Output::MetricSum(_))));
}

#[test]
fn sizes_stay_symbolic_in_the_batch() {
    let text = program("    output logits = linear(x, 2)", "");
    let program = compiled(&text);
    let x = program
        .train
        .gradients
        .input(&Input::Feed("x".into()))
        .unwrap();
    assert_eq!(
        program.train.gradients.ty(x).shape,
        [Size::BATCH, Size::fixed(3)]
    );
    // `B` is a size too: flattening a batch keeps its meaning.
    let body =
        "    h = reshape(x, [B * 3]) * 2.0\n    output logits = linear(reshape(h, [B, 3]), 2)";
    let program = compiled(&program_text(body));
    let flat = program.eval[0]
        .step
        .nodes
        .iter()
        .find(|n| n.ty.shape == [Size { batch: 3, fixed: 0 }]);
    assert!(flat.is_some(), "a node of type f32[B*3]");
}

fn program_text(body: &str) -> String {
    program(body, "")
}

#[test]
fn the_compiled_program_survives_json() {
    let program = compiled(&program("    output logits = linear(x, 2)", ""));
    let json = serde_json::to_string(&program).unwrap();
    let back: CompiledProgram = serde_json::from_str(&json).unwrap();
    assert_eq!(back.text(), program.text());
    // A graph that no longer verifies is refused when read back.
    let broken = json.replacen("\"mat_mul\"", "\"gather\"", 1);
    assert_ne!(broken, json);
    assert!(serde_json::from_str::<CompiledProgram>(&broken).is_err());
}

#[test]
fn parameters_are_named_after_what_their_instance_is_bound_to() {
    let body = "    h = relu(linear(x, 4))\n    h = linear(linear(h, 4), 4)\n    output logits = linear(h, 2)";
    assert_eq!(
        params(&program(body, "")),
        ["h.w", "h.b", "h_2.w", "h_2.b", "h_3.w", "h_3.b", "logits.w", "logits.b"]
    );
}

#[test]
fn repeat_and_nested_functions_give_nested_paths() {
    let block = "fn block(x: f32[B, D]) -> f32[B, D] {\n    h = relu(linear(x, D))\n    x + linear(h, D)\n}";
    let body =
        "    h = linear(x, 4)\n    repeat 2 { h = block(h) }\n    output logits = linear(h, 2)";
    assert_eq!(
        params(&program(body, block)),
        [
            "h.w",
            "h.b",
            "h.0.h.w",
            "h.0.h.b",
            "h.0.linear.w",
            "h.0.linear.b",
            "h.1.h.w",
            "h.1.h.b",
            "h.1.linear.w",
            "h.1.linear.b",
            "logits.w",
            "logits.b"
        ]
    );
}

#[test]
fn dropout_draws_random_numbers_only_while_training() {
    let body = "    h = dropout(linear(x, 4), p = 0.5)\n    output logits = linear(h, 2)";
    let program = compiled(&program(body, ""));
    let has_random =
        |g: &dlp_compiler::ir::Graph| g.nodes.iter().any(|n| matches!(n.op, Op::Random { .. }));
    assert!(has_random(&program.train.gradients));
    assert!(!has_random(&program.eval[0].step));
}

#[test]
fn every_node_points_back_at_the_source() {
    let text = program("    output logits = linear(x, 2)", "");
    let comp = compile("p.dlp", &text, &mut NoModules);
    let program = lower::compile(&comp, None).unwrap();
    let matmul = program.eval[0]
        .step
        .nodes
        .iter()
        .find(|n| n.op == Op::MatMul)
        .unwrap();
    let loc = matmul.loc.expect("a matmul comes from source");
    let file = comp.program.sources.get(loc.file);
    assert_eq!(file.slice(loc.span), "x @ w", "the stdlib's `linear` body");
}

/// The lowering error of `text`, the source text it points at, and the
/// texts its other labels point at.
fn lowering_error(text: &str) -> (String, String, Vec<String>) {
    let comp = compile("p.dlp", text, &mut NoModules);
    assert!(!comp.has_errors(), "{:?}", comp.diagnostics);
    let e = lower::compile(&comp, None).expect_err("an error");
    let text_at = |loc: dlp_compiler::Loc| {
        let file = comp.program.sources.get(loc.file);
        assert!(
            !file.is_stdlib,
            "points into the user's file, not the stdlib"
        );
        file.slice(loc.span).to_string()
    };
    let labels = e.labels.iter().map(|(loc, _)| text_at(*loc)).collect();
    (e.message.clone(), text_at(e.loc.expect("a place")), labels)
}

#[test]
fn sizes_only_known_when_lowering_are_checked_at_the_users_call() {
    let model = "    h = linear(x, n)\n    output logits = linear(h, 2)";
    let text = program(model, "").replace("model M {", "model M(n: int = 2) {");
    for (n, message) in [
        (
            "0",
            "parameter `h.w` would have shape [3, 0], with no elements",
        ),
        ("-5", "this size is -5: sizes cannot be negative"),
        (
            "100000000000",
            "would have shape [3, 100000000000]: more than 4294967296 values",
        ),
    ] {
        // Given in the train block: shown there, and where it is used.
        let given = format!("M(n = {n})");
        let (e, at, labels) = lowering_error(&text.replace("M()", &given));
        assert!(e.contains(message), "{e}");
        assert_eq!(at, format!("n = {n}"));
        assert_eq!(labels, ["linear(x, n)"]);
        // A default: shown at the user's call.
        let default = text.replace("n: int = 2", &format!("n: int = {n}"));
        let (e, at, labels) = lowering_error(&default);
        assert!(
            e.starts_with("in this call of `linear`: ") && e.contains(message),
            "{e}"
        );
        assert_eq!(at, "linear(x, n)");
        assert!(labels.is_empty());
    }
}

#[test]
fn stdlib_hyper_parameters_from_model_arguments_are_range_checked() {
    let body = "    h = dropout(linear(x, 4), p = rate)\n    output logits = linear(h, 2)";
    let text = program(body, "")
        .replace("model M {", "model M(rate: float = 0.1) {")
        .replace("model     = M()", "model     = M(rate = 1.5)");
    let (e, at, labels) = lowering_error(&text);
    assert_eq!(e, "`p` of `dropout` is 1.5, but it must be in [0, 1)");
    assert_eq!(at, "rate = 1.5");
    assert_eq!(labels, ["dropout(linear(x, 4), p = rate)"]);
}

#[test]
fn constants_fold_by_the_scalar_rules_the_interpreter_runs() {
    // `%` is floored and `erf` is libm's, whether folded or run.
    let body =
        "    h = x * (7.0 % -2.0) + erf(0.5) + (0 - 7) % 5\n    output logits = linear(h, 2)";
    let program = compiled(&program(body, ""));
    let consts: Vec<f64> = program.eval[0]
        .step
        .nodes
        .iter()
        .filter_map(|n| match n.op {
            Op::Constant(bits) => Some(f64::from_bits(bits)),
            _ => None,
        })
        .collect();
    assert!(consts.contains(&-1.0), "7.0 % -2.0 is -1: {consts:?}");
    assert!(consts.contains(&0.5204998778130465), "erf(0.5): {consts:?}");
    assert!(
        consts.contains(&3.0) && !consts.contains(&-2.0),
        "-7 % 5 is 3: {consts:?}"
    );
}

#[test]
fn models_too_large_to_compile_are_refused_quickly_with_the_reason() {
    let block = "fn block(x: f32[B, D]) -> f32[B, D] {\n    relu(linear(x, D))\n}";
    for (count, message) in [
        (
            "2147483647",
            "`repeat` 2147483647 times is more than a step can hold",
        ),
        (
            "999999",
            "the step has grown past 1.0e6 operations (or 1.0e7 statements run) here",
        ),
    ] {
        let body = format!("    h = linear(x, 4)\n    repeat {count} {{ h = block(h) }}\n    output logits = linear(h, 2)");
        let text = program(&body, block);
        let comp = compile("p.dlp", &text, &mut NoModules);
        assert!(!comp.has_errors(), "{:?}", comp.diagnostics);
        let e = lower::compile(&comp, None).expect_err("too large");
        assert!(e.message.contains(message), "{}", e.message);
    }
    // A model with too many parameters, with the estimate.
    let body = "    h = linear(x, 50000)\n    h = linear(h, 50000)\n    h = linear(h, 50000)\n    output logits = linear(h, 2)";
    let comp = compile("p.dlp", &program(body, ""), &mut NoModules);
    let e = lower::compile(&comp, None).expect_err("too many parameters");
    assert!(
        e.message
            .contains("the model has 5.0e9 parameters (20.0 GB as f32)"),
        "{}",
        e.message
    );
}
