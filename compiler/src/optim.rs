//! Optimisers and learning-rate schedules.
//!
//! `std.optim` declares them (`extern fn adam(lr = 1e-3, ...)`); their
//! update rules live here, as the second group of the training step: a
//! graph that reads each parameter, its gradient (the sync point, see
//! [`crate::program`]) and its optimiser state (`Input::OptimizerState`,
//! zero before the first step), and produces the new parameter and state.
//! The learning rate and the step counter are scalar inputs: the schedule
//! is a function of the step, evaluated by the runtime.

// A new op or dtype must be a compile error here, not a silent default.
#![deny(clippy::wildcard_enum_match_arm)]

use crate::ir::{BinaryOp as B, Builder, DType, Graph, Hyper, Input, NodeId, Output, ReduceOp};
use crate::ir::{TensorTy, UnaryOp as U};
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

/// The update group of a training step for `params` (path and type, in
/// order): clipping by global norm when `clip` is set, then `opt`'s rule.
pub fn update_step(params: &[(String, TensorTy)], opt: &Optimizer, clip: Option<f64>) -> Graph {
    let mut b = Builder::new();
    let lr = b.input(Input::Hyper(Hyper::Lr), TensorTy::scalar(DType::F32));
    let step = b.input(Input::Hyper(Hyper::Step), TensorTy::scalar(DType::I32));
    // Adam's bias correction counts steps from 1.
    let step = b.cast(step, DType::F32);
    let one = b.constant(1.0, DType::F32);
    let t = b.binary(B::Add, step, one);
    let mut nodes = Vec::with_capacity(params.len());
    let mut grads = Vec::with_capacity(params.len());
    for (path, ty) in params {
        nodes.push(b.input(Input::param(path), ty.clone()));
        grads.push(b.input(Input::Gradient(path.clone()), ty.clone()));
    }
    let grads = match clip {
        Some(max_norm) => clip_by_global_norm(&mut b, &grads, max_norm),
        None => grads,
    };
    for (((path, _), &p), g) in params.iter().zip(&nodes).zip(grads) {
        let new = update(&mut b, opt, path, p, g, lr, t);
        b.set_output(Output::NewParam(path.clone()), new);
    }
    b.finish()
}

/// One parameter's new value; its new optimiser state becomes outputs.
fn update(
    b: &mut Builder,
    opt: &Optimizer,
    path: &str,
    p: NodeId,
    g: NodeId,
    lr: NodeId,
    t: NodeId,
) -> NodeId {
    match opt {
        Optimizer::Sgd {
            momentum,
            nesterov,
            weight_decay,
            ..
        } => {
            let g = decay_into_grad(b, g, p, *weight_decay);
            let step = if *momentum > 0.0 {
                let buf = with_momentum(b, *momentum, path, p, g);
                if *nesterov {
                    let mu = b.full_like(*momentum, buf);
                    let ahead = b.binary(B::Mul, mu, buf);
                    b.binary(B::Add, g, ahead)
                } else {
                    buf
                }
            } else {
                g
            };
            descend(b, p, step, lr)
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
                decay_into_grad(b, g, p, *weight_decay)
            };
            let m = state(b, "m", path, p);
            let v = state(b, "v", path, p);
            let m = mix(b, m, g, *beta1);
            let g2 = b.binary(B::Mul, g, g);
            let v = mix(b, v, g2, *beta2);
            set_state(b, "m", path, m);
            set_state(b, "v", path, v);
            // Bias corrections 1 / (1 - beta^t), computed in the graph from
            // t, once per step: each moment is multiplied by its correction
            // (one division per step, not one per element).
            let ty = b.ty(p).clone();
            let r1 = bias_correction(b, *beta1, t, ty.dtype);
            let r2 = bias_correction(b, *beta2, t, ty.dtype);
            let r1 = b.broadcast_to(r1, &ty.shape);
            let m_hat = b.binary(B::Mul, m, r1);
            let r2 = b.broadcast_to(r2, &ty.shape);
            let v_hat = b.binary(B::Mul, v, r2);
            let root = b.unary(U::Sqrt, v_hat);
            let e = b.full_like(*eps, root);
            let den = b.binary(B::Add, root, e);
            let step = b.binary(B::Div, m_hat, den);
            let p_decayed = if *decoupled && *weight_decay > 0.0 {
                // p <- p - lr * wd * p
                let wd = b.full_like(*weight_decay, p);
                let lr_p = b.cast(lr, ty.dtype);
                let lr_b = b.broadcast_to(lr_p, &ty.shape);
                let k = b.binary(B::Mul, lr_b, wd);
                let d = b.binary(B::Mul, k, p);
                b.binary(B::Sub, p, d)
            } else {
                p
            };
            descend(b, p_decayed, step, lr)
        }
        Optimizer::Rmsprop {
            alpha,
            eps,
            momentum,
            weight_decay,
            ..
        } => {
            let g = decay_into_grad(b, g, p, *weight_decay);
            let sq = state(b, "square_avg", path, p);
            let g2 = b.binary(B::Mul, g, g);
            let sq = mix(b, sq, g2, *alpha);
            set_state(b, "square_avg", path, sq);
            let root = b.unary(U::Sqrt, sq);
            let e = b.full_like(*eps, root);
            let den = b.binary(B::Add, root, e);
            let step = b.binary(B::Div, g, den);
            let step = if *momentum > 0.0 {
                with_momentum(b, *momentum, path, p, step)
            } else {
                step
            };
            descend(b, p, step, lr)
        }
    }
}

/// The optimiser state `slot` of parameter `p` (zero before the first step).
fn state(b: &mut Builder, slot: &str, path: &str, p: NodeId) -> NodeId {
    let ty = b.ty(p).clone();
    b.input(
        Input::OptimizerState {
            slot: slot.into(),
            param: path.into(),
        },
        ty,
    )
}

fn set_state(b: &mut Builder, slot: &str, path: &str, value: NodeId) {
    b.set_output(
        Output::NewOptimizerState {
            slot: slot.into(),
            param: path.into(),
        },
        value,
    );
}

/// The momentum buffer of `p` after adding `x`: mu * buf + x (its new
/// value is an output too).
fn with_momentum(b: &mut Builder, mu: f64, path: &str, p: NodeId, x: NodeId) -> NodeId {
    let buf = state(b, "momentum", path, p);
    let mu = b.full_like(mu, buf);
    let kept = b.binary(B::Mul, mu, buf);
    let buf = b.binary(B::Add, kept, x);
    set_state(b, "momentum", path, buf);
    buf
}

/// g + wd * p (L2 weight decay).
fn decay_into_grad(b: &mut Builder, g: NodeId, p: NodeId, wd: f64) -> NodeId {
    if wd == 0.0 {
        return g;
    }
    let k = b.full_like(wd, p);
    let d = b.binary(B::Mul, k, p);
    b.binary(B::Add, g, d)
}

/// beta * old + (1 - beta) * new.
fn mix(b: &mut Builder, old: NodeId, new: NodeId, beta: f64) -> NodeId {
    let k = b.full_like(beta, old);
    let kept = b.binary(B::Mul, k, old);
    let c = b.full_like(1.0 - beta, new);
    let added = b.binary(B::Mul, c, new);
    b.binary(B::Add, kept, added)
}

/// 1 - beta^t for the scalar `t`.
/// `1 / (1 - beta^t)` as a scalar of `dtype`.
fn bias_correction(b: &mut Builder, beta: f64, t: NodeId, dtype: DType) -> NodeId {
    let c = one_minus_pow(b, beta, t);
    let c = b.cast(c, dtype);
    let one = b.constant(1.0, dtype);
    b.binary(B::Div, one, c)
}

fn one_minus_pow(b: &mut Builder, beta: f64, t: NodeId) -> NodeId {
    let k = b.constant(beta, DType::F32);
    let p = b.binary(B::Pow, k, t);
    let one = b.constant(1.0, DType::F32);
    b.binary(B::Sub, one, p)
}

/// p - lr * step.
fn descend(b: &mut Builder, p: NodeId, step: NodeId, lr: NodeId) -> NodeId {
    let ty = b.ty(p).clone();
    let lr = b.cast(lr, ty.dtype);
    let lr = b.broadcast_to(lr, &ty.shape);
    let d = b.binary(B::Mul, lr, step);
    b.binary(B::Sub, p, d)
}

fn clip_by_global_norm(b: &mut Builder, grads: &[NodeId], max_norm: f64) -> Vec<NodeId> {
    let mut total: Option<NodeId> = None;
    for &g in grads {
        let sq = b.binary(B::Mul, g, g);
        let axes = (0..b.ty(g).rank()).collect();
        let s = b.reduce(ReduceOp::Sum, sq, axes);
        let s = b.cast(s, DType::F32);
        total = Some(match total {
            Some(t) => b.binary(B::Add, t, s),
            None => s,
        });
    }
    let Some(total) = total else {
        return Vec::new();
    };
    // scale = min(1, max_norm / (norm + 1e-6)), as PyTorch's clip_grad_norm_.
    let norm = b.unary(U::Sqrt, total);
    let tiny = b.constant(1e-6, DType::F32);
    let den = b.binary(B::Add, norm, tiny);
    let limit = b.constant(max_norm, DType::F32);
    let ratio = b.binary(B::Div, limit, den);
    let one = b.constant(1.0, DType::F32);
    let scale = b.binary(B::Min, ratio, one);
    grads
        .iter()
        .map(|&g| {
            let ty = b.ty(g).clone();
            let s = b.cast(scale, ty.dtype);
            let s = b.broadcast_to(s, &ty.shape);
            b.binary(B::Mul, g, s)
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
