//! Two full training steps (forward, cross entropy, backward, Adam with
//! L2 weight decay) of a small MLP written in dlp, against an independent
//! numpy computation (`reference/adam_step.py`, output committed beside it).

use dlp_compiler::lower::{
    self, Mode, COUNTER_INPUT, LOSS_OUTPUT, PARAM_PREFIX, SEED_INPUT, STATE_PREFIX,
};
use dlp_compiler::optim::{LR_INPUT, STEP_INPUT};
use dlp_compiler::{compile, NoModules};
use dlp_runtime::interp::{Bindings, Interpreter};
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
    let lowered = lower::lower(&comp, None, Mode::Train, None, None).unwrap();
    let mut params: HashMap<String, Tensor> = reference["initial"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), tensor(v)))
        .collect();
    let mut paths: Vec<&str> = lowered
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
    let (seed, counter) = (Tensor::scalar_i32(0), Tensor::scalar_i32(0));
    let mut states: HashMap<String, Tensor> = HashMap::new();
    let interp = Interpreter::new(&lowered.graph);
    for step in 1..=2 {
        let t = Tensor::scalar_f32(step as f32);
        let mut b = Bindings {
            params: Some(&params),
            states: Some(&states),
            ..Bindings::default()
        };
        for (name, value) in [
            ("x", &x),
            ("y", &y),
            (LR_INPUT, &lr),
            (STEP_INPUT, &t),
            (SEED_INPUT, &seed),
            (COUNTER_INPUT, &counter),
        ] {
            b.inputs.insert(name, value);
        }
        let out = interp.run(&b).unwrap();
        let (mut new_params, mut new_states) = (HashMap::new(), HashMap::new());
        for (name, t) in out {
            if let Some(p) = name.strip_prefix(PARAM_PREFIX) {
                new_params.insert(p.to_string(), t);
            } else if let Some(s) = name.strip_prefix(STATE_PREFIX) {
                new_states.insert(s.to_string(), t);
            } else if name == LOSS_OUTPUT {
                let want = reference["losses"][step - 1].as_f64().unwrap();
                assert!(
                    (t.item() - want).abs() < 1e-5,
                    "loss at step {step}: {} vs {want}",
                    t.item()
                );
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
