//! Evaluation: loss and metrics over every sample of a dataset or split,
//! with dropout off and the parameters unchanged.

use super::step::{means, sample_index};
use super::{add_into, Metrics, TrainError, EVAL_BATCH};
use crate::backend::{Backend, Runner};
use crate::data::{Loaded, Samples};
use crate::tensor::Tensor;
use dlp_compiler::ir::{Hyper, Input, Output};
use dlp_compiler::program::{DataRef, EvalStep, Finish, PassMetric};
use std::collections::HashMap;

/// The program's evaluation steps, prepared once.
pub(super) struct Evaluator<'p> {
    steps: HashMap<&'p str, Runner<'p>>,
    /// The metrics finished once a pass is over.
    pass: &'p [PassMetric],
    /// The confusion matrices of the last pass over each data set.
    matrices: HashMap<String, Vec<(String, Matrix)>>,
}

/// Counts of (labelled, predicted) class pairs: `counts[labelled][predicted]`.
pub type Matrix = Vec<Vec<u64>>;

impl<'p> Evaluator<'p> {
    pub fn new(
        eval: impl IntoIterator<Item = &'p EvalStep>,
        pass: &'p [PassMetric],
        backend: Backend,
    ) -> Result<Evaluator<'p>, TrainError> {
        let mut steps = HashMap::new();
        for e in eval {
            steps.insert(e.dataset.as_str(), Runner::new(backend, &e.step, "eval")?);
        }
        Ok(Evaluator {
            steps,
            pass,
            matrices: HashMap::new(),
        })
    }

    /// The confusion matrices (`confusion_matrix` metrics) of the last
    /// evaluation of `r`.
    pub fn matrices(&self, r: &DataRef) -> &[(String, Matrix)] {
        self.matrices.get(&r.to_string()).map_or(&[], Vec::as_slice)
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
        let finish_of = |name: &str| self.pass.iter().find(|p| p.name == name).map(|p| p.finish);
        let mut sums: Metrics = Vec::new();
        // Confusion matrices, summed: name, classes, counts.
        let mut counted: Vec<(String, usize, Vec<f64>)> = Vec::new();
        let mut order: Vec<String> = Vec::new();
        over_batches(step, samples, params, seed, |outputs| {
            if order.is_empty() {
                order = outputs
                    .iter()
                    .filter_map(|(o, _)| match o {
                        Output::LossSum => Some("loss".to_string()),
                        Output::MetricSum(name) => Some(name.clone()),
                        _ => None,
                    })
                    .collect();
            }
            let (counts, rest): (Vec<_>, Vec<_>) = outputs.into_iter().partition(|(o, _)| {
                matches!(o, Output::MetricSum(n) if finish_of(n).is_some_and(|f| f != Finish::Exp))
            });
            add_into(&mut sums, &means(&rest, 1), 1.0);
            for (output, t) in counts {
                let Output::MetricSum(name) = output else {
                    continue;
                };
                let values = t.to_f64();
                match counted.iter_mut().find(|(n, ..)| *n == name) {
                    Some((_, _, total)) => total.iter_mut().zip(values).for_each(|(a, b)| *a += b),
                    None => counted.push((name, t.shape.first().copied().unwrap_or(0), values)),
                }
            }
        })?;
        let mut metrics: Metrics = sums
            .into_iter()
            .map(|(n, v)| {
                let mean = v / samples.len.max(1) as f64;
                let value = match finish_of(&n) {
                    Some(Finish::Exp) => mean.exp(),
                    _ => mean,
                };
                (n, value)
            })
            .collect();
        let mut matrices = Vec::new();
        for (name, classes, counts) in counted {
            let matrix: Matrix = counts
                .chunks(classes.max(1))
                .map(|row| row.iter().map(|&c| c.round() as u64).collect())
                .collect();
            match finish_of(&name) {
                Some(Finish::Matrix) => matrices.push((name, matrix)),
                Some(finish) => metrics.push((name, class_average(&matrix, finish))),
                None => {}
            }
        }
        // In the order the step gives them: the loss, then the metrics as written.
        metrics.sort_by_key(|(name, _)| order.iter().position(|o| o == name));
        self.matrices.insert(r.to_string(), matrices);
        Ok(metrics)
    }
}

/// Precision, recall or F1 of each class from a confusion matrix, averaged
/// over the classes that are labelled or predicted at least once (as
/// scikit-learn's macro average); a ratio with nothing to divide by is 0.
pub fn class_average(matrix: &Matrix, finish: Finish) -> f64 {
    let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let mut total = 0.0;
    let mut classes = 0;
    for (c, row) in matrix.iter().enumerate() {
        let hits = row[c];
        let labelled: u64 = row.iter().sum();
        let predicted: u64 = matrix.iter().map(|r| r[c]).sum();
        if labelled == 0 && predicted == 0 {
            continue;
        }
        classes += 1;
        total += match finish {
            Finish::Precision => ratio(hits, predicted),
            Finish::Recall => ratio(hits, labelled),
            _ => ratio(2 * hits, labelled + predicted),
        };
    }
    if classes == 0 {
        0.0
    } else {
        total / classes as f64
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_averages_follow_scikit_learn() {
        // Labelled [0, 0, 1, 1, 2], predicted [0, 1, 1, 1, 0]; class 3
        // never occurs and is left out.
        let m: Matrix = vec![
            vec![1, 1, 0, 0],
            vec![0, 2, 0, 0],
            vec![1, 0, 0, 0],
            vec![0, 0, 0, 0],
        ];
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        // precision: 1/2, 2/3, 0; recall: 1/2, 1, 0; f1: 1/2, 4/5, 0.
        assert!(close(
            class_average(&m, Finish::Precision),
            (0.5 + 2.0 / 3.0) / 3.0
        ));
        assert!(close(class_average(&m, Finish::Recall), 1.5 / 3.0));
        assert!(close(class_average(&m, Finish::F1), 1.3 / 3.0));
    }
}
