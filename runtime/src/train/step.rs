//! One optimiser step: a batch through the train step's two groups —
//! forward and backward, then (past the sync point, where data-parallel
//! training would all-reduce the gradients) clipping and the update.

use super::{Metrics, TrainError};
use crate::backend::{Backend, Runner};
use crate::data::Batch;
use crate::gpu::{GpuTraining, StepFailure};
use crate::interp::RunError;
use crate::tensor::Tensor;
use dlp_compiler::ir::{Hyper, Input, Output};
use dlp_compiler::program::TrainStep;
use std::collections::HashMap;

pub(super) struct Stepper<'p> {
    engine: Engine<'p>,
    seed: Tensor,
    /// The step the GPU is running, whose results the next call returns:
    /// where it was, its number in the epoch, its batch's size.
    running: Option<(At, u64, usize)>,
    /// The model's `state`s (kept with the parameters, by path), which the
    /// forward group updates and the optimiser never sees.
    model_states: Vec<String>,
}

/// A step whose results are in.
pub(super) struct Done {
    pub at: At,
    /// Its number in the epoch, from 1.
    pub in_epoch: u64,
    pub out: Stepped,
}

/// What runs the two groups: a back end each, or the GPU, which keeps the
/// parameters and optimiser state on the device between steps.
enum Engine<'p> {
    Host {
        gradients: Runner<'p>,
        update: Runner<'p>,
    },
    Gpu(Box<GpuTraining<'p>>),
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
}

/// Optimiser state in checkpoints and in the trainer's state: `m.h.w`.
pub(super) fn state_key(slot: &str, param: &str) -> String {
    format!("{slot}.{param}")
}

/// The step input a [`state_key`] names (slot names have no dot).
fn state_input(key: &str) -> Option<Input> {
    let (slot, param) = key.split_once('.')?;
    Some(Input::OptimizerState {
        slot: slot.to_string(),
        param: param.to_string(),
    })
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
            | Output::NewModelState(_)
            | Output::Prediction(_) => {}
        }
    }
    metrics
}

/// A finished step from its outputs, over a batch of `len` samples.
fn done(at: At, in_epoch: u64, outputs: &[(Output, Tensor)], len: usize) -> Done {
    let metrics = means(outputs, len);
    Done {
        at,
        in_epoch,
        out: Stepped {
            loss: metrics.first().map_or(f64::NAN, |m| m.1),
            metrics,
        },
    }
}

/// A step's failure, naming the step (as the log and the divergence
/// messages number them).
fn failed_at(at: At, e: RunError) -> TrainError {
    TrainError::Run(format!("epoch {}, step {}: {}", at.epoch, at.step + 1, e.0))
}

/// The global indices of `rows` as the `sample_index` input.
pub(super) fn sample_index(rows: &[usize]) -> Tensor {
    Tensor::i32(
        vec![rows.len()],
        rows.iter().map(|&r| r as u32 as i32).collect(),
    )
}

impl<'p> Stepper<'p> {
    pub fn new(
        step: &'p TrainStep,
        seed: u64,
        backend: Backend,
    ) -> Result<Stepper<'p>, TrainError> {
        let engine = match backend {
            Backend::Gpu => Engine::Gpu(Box::new(GpuTraining::new(step)?)),
            Backend::Cpu | Backend::Interp => Engine::Host {
                gradients: Runner::new(backend, &step.gradients, "gradients")?,
                update: Runner::new(backend, &step.update, "update")?,
            },
        };
        let model_states = step
            .gradients
            .graph()
            .inputs()
            .filter_map(|(i, _)| match i {
                Input::ModelState(p) => Some(p.clone()),
                _ => None,
            })
            .collect();
        Ok(Stepper {
            engine,
            seed: Tensor::scalar_i32(seed as u32 as i32),
            running: None,
            model_states,
        })
    }

    /// Times the kernels of every step from now on; why not, where it
    /// cannot.
    pub fn start_profiling(&mut self) -> Option<String> {
        match &mut self.engine {
            Engine::Gpu(gpu) => (!gpu.start_profiling()).then(|| {
                "--profile: this GPU adapter cannot time kernels (no timestamp queries)".into()
            }),
            Engine::Host { gradients, update } => {
                let timed = gradients.start_profiling() & update.start_profiling();
                (!timed).then(|| {
                    "--profile times compiled kernels: the interpreter (--backend interp) has none"
                        .into()
                })
            }
        }
    }

    /// Where the step's time went, when profiling.
    pub fn profile_report(&self) -> Option<String> {
        match &self.engine {
            Engine::Gpu(gpu) => gpu.profile_report(),
            Engine::Host { gradients, update } => {
                let profiles: Vec<_> = [gradients.profile(), update.profile()]
                    .into_iter()
                    .flatten()
                    .collect();
                (!profiles.is_empty()).then(|| crate::profile::Profile::report("CPU", &profiles))
            }
        }
    }

    /// The results of the step still running, if one is (on the GPU, a
    /// step's results come in during the next).
    pub fn finish(&mut self) -> Result<Option<Done>, TrainError> {
        let (Engine::Gpu(gpu), Some((at, in_epoch, len))) = (&mut self.engine, self.running.take())
        else {
            return Ok(None);
        };
        let outputs = gpu.finish().map_err(|e| failed_at(at, e))?;
        Ok(Some(done(at, in_epoch, &outputs.unwrap_or_default(), len)))
    }

    /// Brings `params` and `states` up to date where the step keeps them
    /// elsewhere (on the GPU): before they are read (validation,
    /// checkpoints).
    pub fn sync(
        &mut self,
        params: &mut HashMap<String, Tensor>,
        states: &mut HashMap<String, Tensor>,
    ) -> Result<(), TrainError> {
        let Engine::Gpu(gpu) = &self.engine else {
            return Ok(());
        };
        for (input, t) in gpu.download()? {
            match input {
                Input::Param(p) | Input::ModelState(p) => {
                    params.insert(p, t);
                }
                Input::OptimizerState { slot, param } => {
                    states.insert(state_key(&slot, &param), t);
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The step on `batch`, the samples `rows` of the training data, step
    /// `in_epoch` of its epoch: `params` and `states` become the updated
    /// ones (the update may write them over the old, in place; on the GPU
    /// they stay there until [`Stepper::sync`]). The results of the step
    /// that finished: this one, or on the GPU the one before.
    pub fn run(
        &mut self,
        batch: &Batch,
        rows: &[usize],
        params: &mut HashMap<String, Tensor>,
        states: &mut HashMap<String, Tensor>,
        at: At,
        in_epoch: u64,
    ) -> Result<Option<Done>, TrainError> {
        let samples = sample_index(rows);
        let lr = Tensor::scalar_f32(at.lr as f32);
        let step = Tensor::scalar_i32(at.step as u32 as i32);
        let epoch = Tensor::scalar_i32(at.epoch as u32 as i32);
        let feeds: HashMap<&str, &Tensor> =
            batch.feeds.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let seed = self.seed.clone();
        let hyper = |input: &Input| -> Option<&Tensor> {
            match input {
                Input::Hyper(Hyper::Lr) => Some(&lr),
                Input::Hyper(Hyper::Step) => Some(&step),
                Input::Hyper(Hyper::Epoch) => Some(&epoch),
                Input::Seed => Some(&seed),
                _ => None,
            }
        };
        let (gradients, update) = match &mut self.engine {
            Engine::Host { gradients, update } => (gradients, update),
            Engine::Gpu(gpu) => {
                let by_input: HashMap<Input, &Tensor> = states
                    .iter()
                    .filter_map(|(key, t)| Some((state_input(key)?, t)))
                    .collect();
                let outputs = gpu.step(
                    batch.len,
                    &|input| match input {
                        Input::Feed(name) => feeds.get(name.as_str()).copied(),
                        Input::SampleIndex => Some(&samples),
                        // Read only where the GPU does not keep them.
                        Input::Param(p) | Input::ModelState(p) => params.get(p),
                        Input::OptimizerState { .. } => by_input.get(input).copied(),
                        other => hyper(other),
                    },
                    params,
                    &by_input,
                );
                let running = self.running.map(|(at, _, _)| at);
                let outputs = outputs.map_err(|failure| match failure {
                    StepFailure::This(e) => failed_at(at, e),
                    StepFailure::Previous(e) => failed_at(running.unwrap_or(at), e),
                })?;
                let before = self.running.replace((at, in_epoch, batch.len));
                return Ok(before.map(|(at, in_epoch, len)| {
                    done(at, in_epoch, &outputs.unwrap_or_default(), len)
                }));
            }
        };
        let forward = {
            let (params, states) = (&*params, &*states);
            gradients
                .run(batch.len, &|input| match input {
                    Input::Feed(name) => feeds.get(name.as_str()).copied(),
                    Input::SampleIndex => Some(&samples),
                    Input::Param(p) | Input::ModelState(p) => params.get(p),
                    Input::OptimizerState { slot, param } => states.get(&state_key(slot, param)),
                    other => hyper(other),
                })
                .map_err(|e| failed_at(at, e))?
        };
        // The model's states: their new values where the step updated
        // them, the old ones otherwise; the update never sees them.
        let mut kept: Vec<(String, Tensor)> = Vec::new();
        for path in &self.model_states {
            if let Some(t) = params.remove(path) {
                kept.push((path.clone(), t));
            }
        }
        let mut forward = forward;
        let mut i = 0;
        while i < forward.len() {
            if let Output::NewModelState(p) = &forward[i].0 {
                let (p, t) = (p.clone(), forward.swap_remove(i).1);
                kept.retain(|(k, _)| *k != p);
                kept.push((p, t));
            } else {
                i += 1;
            }
        }
        // The sync point: every gradient, by parameter.
        let grads: HashMap<&str, &Tensor> = forward
            .iter()
            .filter_map(|(o, t)| match o {
                Output::Gradient(p) => Some((p.as_str(), t)),
                _ => None,
            })
            .collect();
        // The update takes the parameters and optimiser state over.
        let count = params.len();
        let owned: Vec<(Input, Tensor)> = params
            .drain()
            .map(|(p, t)| (Input::Param(p), t))
            .chain(
                states
                    .drain()
                    .filter_map(|(key, t)| Some((state_input(&key)?, t))),
            )
            .collect();
        let updated = update
            .run_owning(
                batch.len,
                &|input| match input {
                    Input::Gradient(p) => grads.get(p.as_str()).copied(),
                    other => hyper(other),
                },
                owned,
            )
            .map_err(|e| failed_at(at, e))?;
        drop(grads);
        let metrics = means(&forward, batch.len);
        // The gradients' buffers hold the next step's.
        gradients.recycle(forward.into_iter().map(|(_, t)| t));
        for (output, t) in updated {
            match output {
                Output::NewParam(p) => {
                    params.insert(p, t);
                }
                Output::NewOptimizerState { slot, param } => {
                    states.insert(state_key(&slot, &param), t);
                }
                Output::LossSum
                | Output::MetricSum(_)
                | Output::Gradient(_)
                | Output::NewModelState(_)
                | Output::Prediction(_) => {}
            }
        }
        if params.len() != count {
            return Err(TrainError::Run(format!(
                "internal error: the update gave {} of the {count} parameters",
                params.len()
            )));
        }
        params.extend(kept);
        Ok(Some(Done {
            at,
            in_epoch,
            out: Stepped {
                loss: metrics.first().map_or(f64::NAN, |m| m.1),
                metrics,
            },
        }))
    }
}
