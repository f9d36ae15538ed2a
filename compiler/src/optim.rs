//! Optimisers and learning-rate schedules.
//!
//! `std.optim` declares them (`extern fn adam(lr = 1e-3, ...)`); their
//! update rules live here, as nodes added to the training step's graph
//! after the backward pass. Optimiser state (moments, momentum buffers) is
//! `State` nodes in and `state.<name>` outputs out, so the whole step —
//! forward, loss, backward, update — is one graph. The learning rate and
//! the 1-based step number `t` are scalar inputs (`lr`, `t`): the schedule
//! is a function of the step, evaluated by the runtime.

use crate::ir::{BinaryOp as B, DType, Graph, NodeId, Op, ReduceOp, TensorTy, UnaryOp as U};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Optimizer {
    Sgd {
        lr: f64,
        momentum: f64,
        nesterov: bool,
        weight_decay: f64,
    },
    /// Adam, and AdamW when `decoupled` (weight decay applied to the
    /// weights, not added to the gradient).
    Adam {
        lr: f64,
        beta1: f64,
        beta2: f64,
        eps: f64,
        weight_decay: f64,
        decoupled: bool,
    },
    Rmsprop {
        lr: f64,
        alpha: f64,
        eps: f64,
        momentum: f64,
        weight_decay: f64,
    },
}

impl Optimizer {
    pub fn lr(&self) -> f64 {
        match self {
            Optimizer::Sgd { lr, .. }
            | Optimizer::Adam { lr, .. }
            | Optimizer::Rmsprop { lr, .. } => *lr,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Schedule {
    Constant,
    /// Multiply by `gamma` every `every` epochs.
    StepDecay {
        every: u64,
        gamma: f64,
    },
    /// Cosine from the base rate down to `min_lr` over the run.
    Cosine {
        min_lr: f64,
    },
    /// Linear from 0 over `steps` steps, then `then` (whose clock starts
    /// after the warmup).
    Warmup {
        steps: u64,
        then: Box<Schedule>,
    },
}

/// Where training is when a learning rate is asked for.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    /// Optimiser steps taken before this one.
    pub step: u64,
    pub epoch: u64,
    pub steps_per_epoch: u64,
    pub total_steps: u64,
}

impl Schedule {
    /// The learning rate for the step at `clock`.
    pub fn lr(&self, base: f64, clock: Clock) -> f64 {
        match self {
            Schedule::Constant => base,
            Schedule::StepDecay { every, gamma } => {
                base * gamma.powi((clock.epoch / (*every).max(1)) as i32)
            }
            Schedule::Cosine { min_lr } => {
                let progress = clock.step as f64 / clock.total_steps.max(1) as f64;
                min_lr
                    + (base - min_lr)
                        * 0.5
                        * (1.0 + (std::f64::consts::PI * progress.min(1.0)).cos())
            }
            Schedule::Warmup { steps, then } => {
                if clock.step < *steps {
                    base * (clock.step + 1) as f64 / *steps as f64
                } else {
                    let after = Clock {
                        step: clock.step - steps,
                        epoch: clock
                            .epoch
                            .saturating_sub(steps / clock.steps_per_epoch.max(1)),
                        steps_per_epoch: clock.steps_per_epoch,
                        total_steps: clock.total_steps.saturating_sub(*steps),
                    };
                    then.lr(base, after)
                }
            }
        }
    }
}

/// The scalar inputs an update reads.
pub const LR_INPUT: &str = "lr";
pub const STEP_INPUT: &str = "t";

/// Adds the update of every parameter to `graph`: outputs `param.<path>`
/// (the new value) and `state.<name>` (new optimiser state). `grads[i]`
/// is the gradient of `params[i]`. With `clip`, gradients are first
/// scaled so that their global L2 norm is at most `clip`.
pub fn add_update(
    graph: &mut Graph,
    params: &[(String, NodeId)],
    grads: &[NodeId],
    opt: &Optimizer,
    clip: Option<f64>,
) {
    graph.loc = None;
    let lr = graph.add(
        Op::Input(LR_INPUT.into()),
        &[],
        TensorTy::scalar(DType::F32),
    );
    let t = graph.add(
        Op::Input(STEP_INPUT.into()),
        &[],
        TensorTy::scalar(DType::F32),
    );
    let grads = match clip {
        Some(max_norm) => clip_by_global_norm(graph, grads, max_norm),
        None => grads.to_vec(),
    };
    for ((path, p), g) in params.iter().zip(grads) {
        let new = match opt {
            Optimizer::Sgd {
                momentum,
                nesterov,
                weight_decay,
                ..
            } => {
                let g = decay_into_grad(graph, g, *p, *weight_decay);
                let step = if *momentum > 0.0 {
                    let buf = state(graph, "momentum", path, *p);
                    let mu = graph.full_like(*momentum, buf);
                    let kept = graph.binary(B::Mul, mu, buf);
                    let buf = graph.binary(B::Add, kept, g);
                    graph.set_output(format!("state.momentum.{path}"), buf);
                    if *nesterov {
                        let ahead = graph.binary(B::Mul, mu, buf);
                        graph.binary(B::Add, g, ahead)
                    } else {
                        buf
                    }
                } else {
                    g
                };
                descend(graph, *p, step, lr)
            }
            Optimizer::Adam {
                beta1,
                beta2,
                eps,
                weight_decay,
                decoupled,
                ..
            } => {
                let g = if *decoupled {
                    g
                } else {
                    decay_into_grad(graph, g, *p, *weight_decay)
                };
                let m = state(graph, "m", path, *p);
                let v = state(graph, "v", path, *p);
                let m = mix(graph, m, g, *beta1);
                let g2 = graph.binary(B::Mul, g, g);
                let v = mix(graph, v, g2, *beta2);
                graph.set_output(format!("state.m.{path}"), m);
                graph.set_output(format!("state.v.{path}"), v);
                // Bias corrections 1 - beta^t, computed in the graph from t.
                let dtype = graph.ty(*p).dtype;
                let c1 = one_minus_pow(graph, *beta1, t);
                let c1 = graph.cast(c1, dtype);
                let c2 = one_minus_pow(graph, *beta2, t);
                let c2 = graph.cast(c2, dtype);
                let m_hat = {
                    let c = graph.broadcast_to(c1, &graph.ty(m).shape.clone());
                    graph.binary(B::Div, m, c)
                };
                let v_hat = {
                    let c = graph.broadcast_to(c2, &graph.ty(v).shape.clone());
                    graph.binary(B::Div, v, c)
                };
                let root = graph.unary(U::Sqrt, v_hat);
                let e = graph.full_like(*eps, root);
                let den = graph.binary(B::Add, root, e);
                let step = graph.binary(B::Div, m_hat, den);
                let p_decayed = if *decoupled && *weight_decay > 0.0 {
                    // p <- p - lr * wd * p
                    let wd = graph.full_like(*weight_decay, *p);
                    let ty = graph.ty(*p).clone();
                    let lr_p = graph.cast(lr, ty.dtype);
                    let lr_b = graph.broadcast_to(lr_p, &ty.shape);
                    let k = graph.binary(B::Mul, lr_b, wd);
                    let d = graph.binary(B::Mul, k, *p);
                    graph.binary(B::Sub, *p, d)
                } else {
                    *p
                };
                descend(graph, p_decayed, step, lr)
            }
            Optimizer::Rmsprop {
                alpha,
                eps,
                momentum,
                weight_decay,
                ..
            } => {
                let g = decay_into_grad(graph, g, *p, *weight_decay);
                let sq = state(graph, "square_avg", path, *p);
                let g2 = graph.binary(B::Mul, g, g);
                let sq = mix(graph, sq, g2, *alpha);
                graph.set_output(format!("state.square_avg.{path}"), sq);
                let root = graph.unary(U::Sqrt, sq);
                let e = graph.full_like(*eps, root);
                let den = graph.binary(B::Add, root, e);
                let step = graph.binary(B::Div, g, den);
                let step = if *momentum > 0.0 {
                    let buf = state(graph, "momentum", path, *p);
                    let mu = graph.full_like(*momentum, buf);
                    let kept = graph.binary(B::Mul, mu, buf);
                    let buf = graph.binary(B::Add, kept, step);
                    graph.set_output(format!("state.momentum.{path}"), buf);
                    buf
                } else {
                    step
                };
                descend(graph, *p, step, lr)
            }
        };
        graph.set_output(format!("param.{path}"), new);
    }
}

/// A zero-initialised state buffer shaped like parameter `p`.
fn state(graph: &mut Graph, kind: &str, path: &str, p: NodeId) -> NodeId {
    let ty = graph.ty(p).clone();
    graph.add(Op::State(format!("{kind}.{path}")), &[], ty)
}

/// g + wd * p (L2 weight decay).
fn decay_into_grad(graph: &mut Graph, g: NodeId, p: NodeId, wd: f64) -> NodeId {
    if wd == 0.0 {
        return g;
    }
    let k = graph.full_like(wd, p);
    let d = graph.binary(B::Mul, k, p);
    graph.binary(B::Add, g, d)
}

/// beta * old + (1 - beta) * new.
fn mix(graph: &mut Graph, old: NodeId, new: NodeId, beta: f64) -> NodeId {
    let b = graph.full_like(beta, old);
    let kept = graph.binary(B::Mul, b, old);
    let c = graph.full_like(1.0 - beta, new);
    let added = graph.binary(B::Mul, c, new);
    graph.binary(B::Add, kept, added)
}

/// 1 - beta^t for the scalar `t`.
fn one_minus_pow(graph: &mut Graph, beta: f64, t: NodeId) -> NodeId {
    let b = graph.constant(beta, DType::F32);
    let p = graph.binary(B::Pow, b, t);
    let one = graph.constant(1.0, DType::F32);
    graph.binary(B::Sub, one, p)
}

/// p - lr * step.
fn descend(graph: &mut Graph, p: NodeId, step: NodeId, lr: NodeId) -> NodeId {
    let ty = graph.ty(p).clone();
    let lr = graph.cast(lr, ty.dtype);
    let lr = graph.broadcast_to(lr, &ty.shape);
    let d = graph.binary(B::Mul, lr, step);
    graph.binary(B::Sub, p, d)
}

fn clip_by_global_norm(graph: &mut Graph, grads: &[NodeId], max_norm: f64) -> Vec<NodeId> {
    let mut total: Option<NodeId> = None;
    for &g in grads {
        let sq = graph.binary(B::Mul, g, g);
        let axes = (0..graph.ty(g).shape.len()).collect();
        let s = graph.reduce(ReduceOp::Sum, sq, axes);
        let s = graph.cast(s, DType::F32);
        total = Some(match total {
            Some(t) => graph.binary(B::Add, t, s),
            None => s,
        });
    }
    let Some(total) = total else {
        return Vec::new();
    };
    // scale = min(1, max_norm / (norm + 1e-6)), as PyTorch's clip_grad_norm_.
    let norm = graph.unary(U::Sqrt, total);
    let tiny = graph.constant(1e-6, DType::F32);
    let den = graph.binary(B::Add, norm, tiny);
    let limit = graph.constant(max_norm, DType::F32);
    let ratio = graph.binary(B::Div, limit, den);
    let one = graph.constant(1.0, DType::F32);
    let scale = graph.binary(B::Min, ratio, one);
    grads
        .iter()
        .map(|&g| {
            let ty = graph.ty(g).clone();
            let s = graph.cast(scale, ty.dtype);
            let s = graph.broadcast_to(s, &ty.shape);
            graph.binary(B::Mul, g, s)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(step: u64) -> Clock {
        Clock {
            step,
            epoch: step / 10,
            steps_per_epoch: 10,
            total_steps: 100,
        }
    }

    #[test]
    fn step_decay_multiplies_every_n_epochs() {
        let s = Schedule::StepDecay {
            every: 2,
            gamma: 0.5,
        };
        assert_eq!(s.lr(1.0, at(0)), 1.0);
        assert_eq!(s.lr(1.0, at(19)), 1.0);
        assert_eq!(s.lr(1.0, at(20)), 0.5);
        assert_eq!(s.lr(1.0, at(45)), 0.25);
    }

    #[test]
    fn cosine_goes_from_the_base_rate_to_the_minimum() {
        let s = Schedule::Cosine { min_lr: 0.1 };
        assert!((s.lr(1.0, at(0)) - 1.0).abs() < 1e-12);
        assert!((s.lr(1.0, at(50)) - 0.55).abs() < 1e-12);
        assert!((s.lr(1.0, at(100)) - 0.1).abs() < 1e-12);
    }

    #[test]
    fn warmup_ramps_up_then_hands_over_with_its_own_clock() {
        let s = Schedule::Warmup {
            steps: 20,
            then: Box::new(Schedule::Cosine { min_lr: 0.0 }),
        };
        assert!((s.lr(2.0, at(0)) - 0.1).abs() < 1e-12);
        assert!((s.lr(2.0, at(19)) - 2.0).abs() < 1e-12);
        // The cosine starts at the top when the warmup ends, and reaches
        // zero at the end of the run (80 steps later).
        assert!((s.lr(2.0, at(20)) - 2.0).abs() < 1e-12);
        assert!(s.lr(2.0, at(100)).abs() < 1e-12);
    }
}
