//! Evaluation: loss and metrics over every sample of a dataset or split,
//! with dropout off and the parameters unchanged.

use super::{add_into, lower_for, Job, Metrics, TrainError, EVAL_BATCH};
use crate::data::{Loaded, Samples};
use crate::interp::{Bindings, Interpreter};
use crate::tensor::Tensor;
use dlp_compiler::lower::{self, DataRef, Lowered, Mode, TrainPlan, LOSS_OUTPUT, METRIC_PREFIX};
use std::collections::HashMap;

/// Evaluation graphs, lowered once per (data, batch size).
pub(super) struct Evaluator<'j, 'a> {
    job: &'j Job<'a>,
    graphs: HashMap<(DataRef, usize), Lowered>,
}

impl<'j, 'a> Evaluator<'j, 'a> {
    pub fn new(job: &'j Job<'a>) -> Evaluator<'j, 'a> {
        Evaluator {
            job,
            graphs: HashMap::new(),
        }
    }

    /// Loss and metrics over every sample of `r`, in batches of up to
    /// [`EVAL_BATCH`], averaged with each batch weighted by its size.
    pub fn evaluate(
        &mut self,
        datasets: &HashMap<String, Loaded>,
        r: &DataRef,
        params: &HashMap<String, Tensor>,
        seed: u64,
    ) -> Result<Metrics, TrainError> {
        let samples = part(datasets, r)?;
        let seed_input = Tensor::scalar_i32(seed as u32 as i32);
        let counter = Tensor::scalar_i32(0);
        let mut sums: Metrics = Vec::new();
        let rows: Vec<usize> = (0..samples.len).collect();
        for chunk in rows.chunks(EVAL_BATCH) {
            let key = (r.clone(), chunk.len());
            if !self.graphs.contains_key(&key) {
                let lowered = lower_for(self.job, Mode::Eval, Some(chunk.len()), Some(r))?;
                self.graphs.insert(key.clone(), lowered);
            }
            let batch = samples.rows(chunk);
            let mut b = Bindings {
                params: Some(params),
                ..Bindings::default()
            };
            for (name, tensor) in &batch.feeds {
                b.inputs.insert(name, tensor);
            }
            b.inputs.insert(lower::SEED_INPUT, &seed_input);
            b.inputs.insert(lower::COUNTER_INPUT, &counter);
            let outputs = Interpreter::new(&self.graphs[&key].graph).run(&b)?;
            let values: Metrics = outputs
                .into_iter()
                .filter_map(|(name, t)| {
                    if name == LOSS_OUTPUT {
                        Some(("loss".to_string(), t.item()))
                    } else {
                        name.strip_prefix(METRIC_PREFIX)
                            .map(|m| (m.to_string(), t.item()))
                    }
                })
                .collect();
            add_into(&mut sums, &values, chunk.len() as f64);
        }
        Ok(sums
            .into_iter()
            .map(|(n, v)| (n, v / samples.len.max(1) as f64))
            .collect())
    }
}

/// The splits to report at the end: the validation data, and every other
/// split of the training dataset.
pub(super) fn evaluation_sets(plan: &TrainPlan, train: &Loaded) -> Vec<DataRef> {
    let mut refs: Vec<DataRef> = train
        .parts
        .iter()
        .filter(|(s, _)| s.is_some() && *s != plan.data.split)
        .map(|(s, _)| DataRef {
            dataset: train.name.clone(),
            split: s.clone(),
        })
        .collect();
    if let Some(v) = &plan.validate {
        if !refs.contains(v) {
            refs.push(v.clone());
        }
    }
    refs
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
