//! Each optimiser's update graph, run by the interpreter, against a plain
//! re-implementation of its textbook rule (PyTorch's conventions), over
//! three steps of the loss `sum(c * p * p)` (gradient `2 c p`).

use dlp_compiler::autodiff::backward;
use dlp_compiler::ir::TensorTy;
use dlp_compiler::ir::{verify, BinaryOp, Builder, DType, Hyper, Input, Output, ReduceOp};
use dlp_compiler::optim::{update_step, Optimizer};
use dlp_runtime::interp::Interpreter;
use dlp_runtime::Tensor;
use std::collections::HashMap;

const P0: [f64; 3] = [1.0, -2.0, 0.5];
const C: [f64; 3] = [0.5, 1.5, 2.0];
const LR: f64 = 0.1;

/// The parameter after each of three steps of the two groups: the
/// gradient, then the update graph.
fn run_graph(opt: &Optimizer, clip: Option<f64>) -> Vec<Vec<f64>> {
    let mut b = Builder::new();
    let ty = TensorTy::fixed(DType::F32, &[3]);
    let p = b.input(Input::param("p"), ty.clone());
    let c = b.input(Input::Feed("c".into()), ty.clone());
    let pp = b.binary(BinaryOp::Mul, p, p);
    let cpp = b.binary(BinaryOp::Mul, c, pp);
    let loss = b.reduce(ReduceOp::Sum, cpp, vec![0]);
    let grads = backward(&mut b, loss, &[p]).unwrap();
    b.set_output(Output::Gradient("p".into()), grads[0]);
    let forward = verify(b.finish()).unwrap();
    let update = verify(update_step(&[("p".to_string(), ty)], opt, clip)).unwrap();
    let (forward, update) = (Interpreter::new(&forward), Interpreter::new(&update));
    let c_value = Tensor::f32(vec![3], C.iter().map(|&x| x as f32).collect());
    let lr = Tensor::scalar_f32(LR as f32);
    let mut p_value = Tensor::f32(vec![3], P0.iter().map(|&x| x as f32).collect());
    let mut states: HashMap<Input, Tensor> = HashMap::new();
    let mut out = Vec::new();
    for step in 0..3 {
        let step = Tensor::scalar_i32(step);
        let g = forward
            .run(1, &|i| match i {
                Input::Param(_) => Some(&p_value),
                Input::Feed(_) => Some(&c_value),
                _ => None,
            })
            .unwrap()
            .remove(0)
            .1;
        let results = update
            .run(1, &|i| match i {
                Input::Param(_) => Some(&p_value),
                Input::Gradient(_) => Some(&g),
                Input::Hyper(Hyper::Lr) => Some(&lr),
                Input::Hyper(Hyper::Step) => Some(&step),
                other => states.get(other),
            })
            .unwrap();
        let mut new_states = HashMap::new();
        for (output, t) in results {
            match output {
                Output::NewParam(_) => p_value = t,
                Output::NewOptimizerState { slot, param } => {
                    new_states.insert(Input::OptimizerState { slot, param }, t);
                }
                other => panic!("unexpected output {other}"),
            }
        }
        states = new_states;
        out.push(p_value.to_f64());
    }
    out
}

/// The same three steps, written out by hand.
fn reference(opt: &Optimizer, clip: Option<f64>) -> Vec<Vec<f64>> {
    let mut p = P0.to_vec();
    let (mut buf, mut m, mut v) = (vec![0.0; 3], vec![0.0; 3], vec![0.0; 3]);
    let mut out = Vec::new();
    for t in 1..=3 {
        let mut g: Vec<f64> = (0..3).map(|i| 2.0 * C[i] * p[i]).collect();
        if let Some(max) = clip {
            let norm = g.iter().map(|x| x * x).sum::<f64>().sqrt();
            let scale = (max / (norm + 1e-6)).min(1.0);
            g.iter_mut().for_each(|x| *x *= scale);
        }
        for i in 0..3 {
            match *opt {
                Optimizer::Sgd {
                    momentum,
                    nesterov,
                    weight_decay,
                    ..
                } => {
                    let gi = g[i] + weight_decay * p[i];
                    let step = if momentum > 0.0 {
                        buf[i] = momentum * buf[i] + gi;
                        if nesterov {
                            gi + momentum * buf[i]
                        } else {
                            buf[i]
                        }
                    } else {
                        gi
                    };
                    p[i] -= LR * step;
                }
                Optimizer::Adam {
                    beta1,
                    beta2,
                    eps,
                    weight_decay,
                    decoupled,
                    ..
                } => {
                    let gi = if decoupled {
                        g[i]
                    } else {
                        g[i] + weight_decay * p[i]
                    };
                    m[i] = beta1 * m[i] + (1.0 - beta1) * gi;
                    v[i] = beta2 * v[i] + (1.0 - beta2) * gi * gi;
                    let m_hat = m[i] / (1.0 - beta1.powi(t));
                    let v_hat = v[i] / (1.0 - beta2.powi(t));
                    if decoupled {
                        p[i] -= LR * weight_decay * p[i];
                    }
                    p[i] -= LR * m_hat / (v_hat.sqrt() + eps);
                }
                Optimizer::Rmsprop {
                    alpha,
                    eps,
                    momentum,
                    weight_decay,
                    ..
                } => {
                    let gi = g[i] + weight_decay * p[i];
                    v[i] = alpha * v[i] + (1.0 - alpha) * gi * gi;
                    let step = gi / (v[i].sqrt() + eps);
                    let step = if momentum > 0.0 {
                        buf[i] = momentum * buf[i] + step;
                        buf[i]
                    } else {
                        step
                    };
                    p[i] -= LR * step;
                }
            }
        }
        out.push(p.clone());
    }
    out
}

fn check(name: &str, opt: Optimizer, clip: Option<f64>) {
    let got = run_graph(&opt, clip);
    let want = reference(&opt, clip);
    for (step, (g, w)) in got.iter().zip(&want).enumerate() {
        for (a, b) in g.iter().zip(w) {
            assert!(
                (a - b).abs() <= 1e-5 * b.abs().max(1.0),
                "{name}, step {}: {g:?} vs {w:?}",
                step + 1
            );
        }
    }
}

#[test]
fn sgd_plain_with_momentum_nesterov_and_weight_decay() {
    let sgd = |momentum, nesterov, weight_decay| Optimizer::Sgd {
        lr: LR,
        momentum,
        nesterov,
        weight_decay,
    };
    check("sgd", sgd(0.0, false, 0.0), None);
    check("sgd momentum", sgd(0.9, false, 0.0), None);
    check("sgd nesterov", sgd(0.9, true, 0.0), None);
    check("sgd weight decay", sgd(0.5, false, 0.01), None);
}

#[test]
fn adam_and_adamw() {
    let adam = |weight_decay, decoupled| Optimizer::Adam {
        lr: LR,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay,
        decoupled,
    };
    check("adam", adam(0.0, false), None);
    check("adam l2", adam(0.1, false), None);
    check("adamw", adam(0.1, true), None);
}

#[test]
fn rmsprop_with_and_without_momentum() {
    let rms = |momentum, weight_decay| Optimizer::Rmsprop {
        lr: LR,
        alpha: 0.99,
        eps: 1e-8,
        momentum,
        weight_decay,
    };
    check("rmsprop", rms(0.0, 0.0), None);
    check("rmsprop momentum", rms(0.9, 0.01), None);
}

#[test]
fn clipping_by_global_norm() {
    let sgd = Optimizer::Sgd {
        lr: LR,
        momentum: 0.0,
        nesterov: false,
        weight_decay: 0.0,
    };
    check("clip 0.5", sgd.clone(), Some(0.5));
    check("clip large (no effect)", sgd, Some(1e6));
}
