//! Evaluation: loss and metrics over every sample of a dataset or split,
//! with dropout off and the parameters unchanged.

use super::step::{means, sample_index};
use super::{add_into, Metrics, TrainError, EVAL_BATCH};
use crate::backend::{Backend, Runner};
use crate::data::{Loaded, Samples};
use crate::tensor::Tensor;
use dlp_compiler::ir::{Hyper, Input, Output};
use dlp_compiler::program::{DataRef, EvalStep};
use std::collections::HashMap;

/// The program's evaluation steps, prepared once.
pub(super) struct Evaluator<'p> {
    steps: HashMap<&'p str, Runner<'p>>,
}

impl<'p> Evaluator<'p> {
    pub fn new(
        eval: impl IntoIterator<Item = &'p EvalStep>,
        backend: Backend,
    ) -> Result<Evaluator<'p>, TrainError> {
        let mut steps = HashMap::new();
        for e in eval {
            steps.insert(e.dataset.as_str(), Runner::new(backend, &e.step, "eval")?);
        }
        Ok(Evaluator { steps })
    }

    /// Loss and metrics over every sample of `r`, in batches of up to
    /// [`EVAL_BATCH`]: the sums of all batches over the number of samples.
    pub fn evaluate(
        &mut self,
        datasets: &HashMap<String, Loaded>,
        r: &DataRef,
        params: &HashMap<String, Tensor>,
        seed: u64,
    ) -> Result<Metrics, TrainError> {
        let samples = part(datasets, r)?;
        let Some(step) = self.steps.get_mut(r.dataset.as_str()) else {
            return Err(TrainError::Run(format!(
                "internal error: the program has no evaluation step for `{}`",
                r.dataset
            )));
        };
        let mut sums: Metrics = Vec::new();
        over_batches(step, samples, params, seed, |outputs| {
            add_into(&mut sums, &means(&outputs, 1), 1.0);
        })?;
        Ok(sums
            .into_iter()
            .map(|(n, v)| (n, v / samples.len.max(1) as f64))
            .collect())
    }
}

/// Runs `step` (an evaluation or prediction step: no optimiser, dropout
/// off) over every sample of `samples` in order, in batches of up to
/// [`EVAL_BATCH`], handing each batch's outputs to `each`.
pub(super) fn over_batches(
    step: &mut Runner,
    samples: &Samples,
    params: &HashMap<String, Tensor>,
    seed: u64,
    mut each: impl FnMut(Vec<(Output, Tensor)>),
) -> Result<(), TrainError> {
    let seed = Tensor::scalar_i32(seed as u32 as i32);
    let zero = Tensor::scalar_i32(0);
    let rows: Vec<usize> = (0..samples.len).collect();
    for chunk in rows.chunks(EVAL_BATCH) {
        let batch = samples.batch(chunk);
        let index = sample_index(chunk);
        let feeds: HashMap<&str, &Tensor> =
            batch.feeds.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let outputs = step.run(batch.len, &|input| match input {
            Input::Feed(name) => feeds.get(name.as_str()).copied(),
            Input::Param(p) | Input::ModelState(p) => params.get(p),
            Input::Seed => Some(&seed),
            Input::SampleIndex => Some(&index),
            Input::Hyper(Hyper::Step | Hyper::Epoch) => Some(&zero),
            Input::Hyper(Hyper::Lr) | Input::OptimizerState { .. } | Input::Gradient(_) => None,
        })?;
        each(outputs);
    }
    Ok(())
}

/// The samples of a dataset or split.
pub(super) fn part<'d>(
    datasets: &'d HashMap<String, Loaded>,
    r: &DataRef,
) -> Result<&'d Samples, TrainError> {
    datasets
        .get(&r.dataset)
        .and_then(|d| d.part(r.split.as_deref()))
        .ok_or_else(|| {
            let splits: Vec<String> = datasets
                .get(&r.dataset)
                .map(|d| {
                    d.parts
                        .iter()
                        .filter_map(|(s, _)| s.as_ref().map(|s| format!("`{}.{s}`", r.dataset)))
                        .collect()
                })
                .unwrap_or_default();
            TrainError::Run(format!(
                "`{r}` has no data of its own: its data comes in splits, use one of {}",
                splits.join(", ")
            ))
        })
}
