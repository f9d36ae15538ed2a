//! Two full training steps (forward, cross entropy, backward, Adam with
//! L2 weight decay) of a small MLP written in dlp, against an independent
//! numpy computation (`reference/adam_step.py`, output committed beside it).

use dlp_compiler::ir::{Hyper, Input, Output};
use dlp_compiler::lower;
use dlp_compiler::{compile, NoModules};
use dlp_runtime::interp::Interpreter;
use dlp_runtime::Tensor;
use serde_json::Value;
use std::collections::HashMap;

const PROGRAM: &str = r#"
use std.nn.{linear, relu}
use std.loss.cross_entropy
use std.optim.adam

dataset d {
    source = csv("never-read.csv")
    x      = columns(0..3) as f32[3]
    y      = column(3) as class(2)
}

model Mlp {
    input x: f32[B, 3]
    h = relu(linear(x, 4))
    output logits = linear(h, 2)
}

train t {
    model     = Mlp()
    data      = d
    batch     = 5
    epochs    = 1
    loss      = cross_entropy(logits, y)
    optimizer = adam(lr = 0.01, weight_decay = 0.1)
}
"#;

fn tensor(v: &Value) -> Tensor {
    let shape = v["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    let values = v["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    Tensor::f32(shape, values)
}

#[test]
fn two_adam_steps_match_numpy() {
    let reference: Value = serde_json::from_str(include_str!("reference/adam_step.json")).unwrap();
    let comp = compile("adam.dlp", PROGRAM, &mut NoModules);
    assert!(!comp.has_errors(), "{:?}", comp.diagnostics);
    let program = lower::compile(&comp, None).unwrap();
    let mut params: HashMap<String, Tensor> = reference["initial"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), tensor(v)))
        .collect();
    let mut paths: Vec<&str> = program
        .plan
        .params
        .iter()
        .map(|p| p.path.as_str())
        .collect();
    paths.sort_unstable();
    assert_eq!(
        paths,
        ["h.b", "h.w", "logits.b", "logits.w"],
        "parameter paths"
    );
    let x: Vec<f32> = reference["x"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    let y: Vec<i32> = reference["y"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap() as i32)
        .collect();
    let (x, y) = (Tensor::f32(vec![5, 3], x), Tensor::i32(vec![5], y));
    let lr = Tensor::scalar_f32(0.01);
    let (seed, zero) = (Tensor::scalar_i32(0), Tensor::scalar_i32(0));
    let samples = Tensor::i32(vec![5], (0..5).collect());
    let mut states: HashMap<Input, Tensor> = HashMap::new();
    let forward = Interpreter::new(&program.train.gradients);
    let update = Interpreter::new(&program.train.update);
    for step in 1..=2 {
        let t = Tensor::scalar_i32(step as i32 - 1);
        let out = forward
            .run(5, &|i| match i {
                Input::Feed(n) if n == "x" => Some(&x),
                Input::Feed(n) if n == "y" => Some(&y),
                Input::Param(p) => params.get(p),
                Input::Seed => Some(&seed),
                Input::SampleIndex => Some(&samples),
                Input::Hyper(Hyper::Step | Hyper::Epoch) => Some(&zero),
                _ => None,
            })
            .unwrap();
        let mut grads = HashMap::new();
        for (output, value) in out {
            match output {
                Output::LossSum => {
                    let want = reference["losses"][step - 1].as_f64().unwrap();
                    let loss = value.item() / 5.0;
                    assert!(
                        (loss - want).abs() < 1e-5,
                        "loss at step {step}: {loss} vs {want}"
                    );
                }
                Output::Gradient(p) => {
                    grads.insert(p, value);
                }
                other => panic!("unexpected output {other}"),
            }
        }
        let out = update
            .run(5, &|i| match i {
                Input::Param(p) => params.get(p),
                Input::Gradient(p) => grads.get(p),
                Input::Hyper(Hyper::Lr) => Some(&lr),
                Input::Hyper(Hyper::Step) => Some(&t),
                other => states.get(other),
            })
            .unwrap();
        let (mut new_params, mut new_states) = (HashMap::new(), HashMap::new());
        for (output, value) in out {
            match output {
                Output::NewParam(p) => {
                    new_params.insert(p, value);
                }
                Output::NewOptimizerState { slot, param } => {
                    new_states.insert(Input::OptimizerState { slot, param }, value);
                }
                other => panic!("unexpected output {other}"),
            }
        }
        params = new_params;
        states = new_states;
    }
    for (name, want) in reference["after_two_steps"].as_object().unwrap() {
        let want = tensor(want).to_f64();
        let got = params[name].to_f64();
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                (g - w).abs() < 1e-5,
                "{name}[{i}] after two steps: {g} vs numpy {w}"
            );
        }
    }
}
