//! One optimiser step: a batch through the train step's two groups —
//! forward and backward, then (past the sync point, where data-parallel
//! training would all-reduce the gradients) clipping and the update.

use super::{Metrics, TrainError};
use crate::backend::{Backend, Runner};
use crate::data::Batch;
use crate::tensor::Tensor;
use dlp_compiler::ir::{Hyper, Input, Output};
use dlp_compiler::program::TrainStep;
use std::collections::HashMap;

pub(super) struct Stepper<'p> {
    gradients: Runner<'p>,
    update: Runner<'p>,
    seed: Tensor,
}

/// Where a step is: its learning rate, the optimiser steps before it, and
/// its epoch (from 1).
#[derive(Clone, Copy)]
pub(super) struct At {
    pub lr: f64,
    pub step: u64,
    pub epoch: u64,
}

pub(super) struct Stepped {
    pub loss: f64,
    /// The loss first, then the metrics: means over the batch.
    pub metrics: Metrics,
    pub params: HashMap<String, Tensor>,
    pub states: HashMap<String, Tensor>,
}

/// Optimiser state in checkpoints and in [`Stepped::states`]: `m.h.w`.
pub(super) fn state_key(slot: &str, param: &str) -> String {
    format!("{slot}.{param}")
}

/// Loss and metric sums as means over `count` samples, the loss first.
pub(super) fn means(outputs: &[(Output, Tensor)], count: usize) -> Metrics {
    let mut metrics: Metrics = Vec::new();
    let mean = |t: &Tensor| t.item() / count.max(1) as f64;
    for (output, t) in outputs {
        match output {
            Output::LossSum => metrics.insert(0, ("loss".into(), mean(t))),
            Output::MetricSum(name) => metrics.push((name.clone(), mean(t))),
            Output::Gradient(_)
            | Output::NewParam(_)
            | Output::NewOptimizerState { .. }
            | Output::NewModelState(_) => {}
        }
    }
    metrics
}

/// The global indices of `rows` as the `sample_index` input.
pub(super) fn sample_index(rows: &[usize]) -> Tensor {
    Tensor::i32(
        vec![rows.len()],
        rows.iter().map(|&r| r as u32 as i32).collect(),
    )
}

impl<'p> Stepper<'p> {
    /// Gives back what the last step replaced (parameters, optimiser
    /// state): the next update writes into their buffers.
    pub fn recycle(&mut self, replaced: impl IntoIterator<Item = Tensor>) {
        self.update.recycle(replaced);
    }

    pub fn new(
        step: &'p TrainStep,
        seed: u64,
        backend: Backend,
    ) -> Result<Stepper<'p>, TrainError> {
        Ok(Stepper {
            gradients: Runner::new(backend, &step.gradients, "gradients")?,
            update: Runner::new(backend, &step.update, "update")?,
            seed: Tensor::scalar_i32(seed as u32 as i32),
        })
    }

    /// The step on `batch`, the samples `rows` of the training data.
    pub fn run(
        &mut self,
        batch: &Batch,
        rows: &[usize],
        params: &HashMap<String, Tensor>,
        states: &HashMap<String, Tensor>,
        at: At,
    ) -> Result<Stepped, TrainError> {
        let samples = sample_index(rows);
        let lr = Tensor::scalar_f32(at.lr as f32);
        let step = Tensor::scalar_i32(at.step as u32 as i32);
        let epoch = Tensor::scalar_i32(at.epoch as u32 as i32);
        let feeds: HashMap<&str, &Tensor> =
            batch.feeds.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let seed = self.seed.clone();
        let common = |input: &Input| -> Option<&Tensor> {
            match input {
                Input::Param(p) => params.get(p),
                Input::Hyper(Hyper::Lr) => Some(&lr),
                Input::Hyper(Hyper::Step) => Some(&step),
                Input::Hyper(Hyper::Epoch) => Some(&epoch),
                Input::Seed => Some(&seed),
                Input::OptimizerState { slot, param } => states.get(&state_key(slot, param)),
                Input::Feed(_) | Input::SampleIndex | Input::Gradient(_) | Input::ModelState(_) => {
                    None
                }
            }
        };
        let forward = self.gradients.run(batch.len, &|input| match input {
            Input::Feed(name) => feeds.get(name.as_str()).copied(),
            Input::SampleIndex => Some(&samples),
            other => common(other),
        })?;
        // The sync point: every gradient, by parameter.
        let grads: HashMap<&str, &Tensor> = forward
            .iter()
            .filter_map(|(o, t)| match o {
                Output::Gradient(p) => Some((p.as_str(), t)),
                _ => None,
            })
            .collect();
        let updated = self.update.run(batch.len, &|input| match input {
            Input::Gradient(p) => grads.get(p.as_str()).copied(),
            other => common(other),
        })?;
        drop(grads);
        let metrics = means(&forward, batch.len);
        // The gradients' buffers hold the next step's.
        self.gradients.recycle(forward.into_iter().map(|(_, t)| t));
        let mut out = Stepped {
            loss: metrics.first().map_or(f64::NAN, |m| m.1),
            metrics,
            params: HashMap::new(),
            states: HashMap::new(),
        };
        for (output, t) in updated {
            match output {
                Output::NewParam(p) => {
                    out.params.insert(p, t);
                }
                Output::NewOptimizerState { slot, param } => {
                    out.states.insert(state_key(&slot, &param), t);
                }
                Output::LossSum
                | Output::MetricSum(_)
                | Output::Gradient(_)
                | Output::NewModelState(_) => {}
            }
        }
        Ok(out)
    }
}
