//! Memory, before any data is read: what a run holds at a batch size, by
//! what holds it. `dlpc run` refuses a run whose figure exceeds the memory
//! available (or `--max-memory`); `dlpc summary` prints it.
//!
//! The figure is a lower bound of what the run will hold: the parameters
//! and optimiser state twice (the step writes new ones before the old are
//! dropped), the gradients, the batch, and the largest memory plan of the
//! steps' temporaries at the batch size (`dlpc emit --kernels` prints each
//! plan). The data sets and the program come on top.

use crate::fuse;
use crate::ir::{Graph, Input, Verified};
use crate::plan;
use crate::program::CompiledProgram;
use serde::Serialize;

/// The planned bytes of a training run, by what holds them.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Estimate {
    pub parameters: u64,
    pub optimizer_state: u64,
    /// The update's new parameters and state, written before the old ones
    /// are dropped.
    pub updated_copies: u64,
    pub gradients: u64,
    /// The largest step's temporaries and batch, at the batch size.
    pub activations: u64,
    pub batch: usize,
}

impl Estimate {
    pub fn total(&self) -> u64 {
        [
            self.parameters,
            self.optimizer_state,
            self.updated_copies,
            self.gradients,
            self.activations,
        ]
        .into_iter()
        .fold(0, u64::saturating_add)
    }
}

/// The planned figure of training `program` at batch size `batch`.
pub fn training(program: &CompiledProgram, batch: usize) -> Estimate {
    let update = program.train.update.graph();
    let parameters = inputs_bytes(update, batch, |i| matches!(i, Input::Param(_)));
    let optimizer_state =
        inputs_bytes(update, batch, |i| matches!(i, Input::OptimizerState { .. }));
    let gradients = inputs_bytes(update, batch, |i| matches!(i, Input::Gradient(_)));
    let activations = program
        .steps()
        .into_iter()
        .map(|(_, step)| activations(step, batch))
        .max()
        .unwrap_or(0);
    Estimate {
        parameters,
        optimizer_state,
        updated_copies: parameters.saturating_add(optimizer_state),
        gradients,
        activations,
        batch,
    }
}

/// The planned bytes of inference (an evaluation step) at batch size
/// `batch`: the parameters, and the largest evaluation step's temporaries
/// and batch.
pub fn inference(program: &CompiledProgram, batch: usize) -> (u64, u64) {
    let parameters = inputs_bytes(program.train.update.graph(), batch, |i| {
        matches!(i, Input::Param(_))
    });
    let activations = program
        .eval
        .iter()
        .map(|e| activations(&e.step, batch))
        .max()
        .unwrap_or(0);
    (parameters, activations)
}

/// A step's planned temporaries and feeds at batch `batch`.
fn activations(step: &Verified, batch: usize) -> u64 {
    let kernels = fuse::fuse(step);
    let temporaries = plan::plan(step, &kernels).temporary_bytes(batch) as u64;
    let feeds = inputs_bytes(step.graph(), batch, |i| matches!(i, Input::Feed(_)));
    temporaries.saturating_add(feeds)
}

/// Bytes of the inputs of `graph` that `which` picks, at batch `batch`.
fn inputs_bytes(graph: &Graph, batch: usize, which: impl Fn(&Input) -> bool) -> u64 {
    graph
        .inputs()
        .filter(|(input, _)| which(input))
        .map(|(_, id)| {
            plan::bytes(graph, id)
                .at(batch)
                .map_or(u64::MAX, |b| b as u64)
        })
        .fold(0u64, u64::saturating_add)
}
