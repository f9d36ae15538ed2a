//! Measuring what `standardize` needs: before the first step of a new
//! run, the values each `standardize` call is given are computed for every
//! sample of the training data (augmentation off, as in evaluation) and
//! their mean and standard deviation become the model states
//! `stats.<field>.mean` and `.std`. Checkpoints keep them, so validation,
//! test, `dlpc eval` and `dlpc predict` scale by the training statistics.

use super::evaluate::{over_batches, part};
use super::TrainError;
use crate::backend::{Backend, Runner};
use crate::data::Loaded;
use crate::tensor::Tensor;
use dlp_compiler::ir::Output;
use dlp_compiler::program::{CompiledProgram, Statistic};
use serde_json::{json, Value};
use std::collections::HashMap;

/// Statistics with more values than this are recorded in the checkpoints
/// only, not also in the run's `config.json`.
const RECORDED_VALUES: usize = 1024;

/// Measures the statistics of `program`'s `standardize` calls on its
/// training data and sets them in `params`; returns what the run record
/// keeps of them.
pub(super) fn measure(
    program: &CompiledProgram,
    datasets: &HashMap<String, Loaded>,
    params: &mut HashMap<String, Tensor>,
    seed: u64,
    backend: Backend,
) -> Result<Vec<Value>, TrainError> {
    let Some(step) = &program.statistics else {
        return Ok(Vec::new());
    };
    let plan = &program.plan;
    let samples = part(datasets, &plan.data)?;
    let mut moments: Vec<Moments> = plan.statistics.iter().map(Moments::new).collect();
    let mut runner = Runner::new(backend, step, "statistics")?;
    over_batches(&mut runner, samples, params, seed, |results| {
        for (output, values) in results {
            let Output::Prediction(path) = output else {
                continue;
            };
            if let Some(m) = moments.iter_mut().find(|m| m.statistic.path == path) {
                m.add(&values);
            }
        }
    })?;
    let mut recorded = Vec::new();
    for m in &moments {
        let (mean, std) = m.finish()?;
        let s = &m.statistic;
        let mut entry = json!({
            "field": s.field(),
            "data": plan.data.to_string(),
            "samples": samples.len,
            "per_channel": s.per_channel,
            "shape": s.shape,
        });
        if mean.len() <= RECORDED_VALUES {
            entry["mean"] = json!(mean);
            entry["std"] = json!(std);
        }
        recorded.push(entry);
        params.insert(s.mean(), Tensor::f32(s.shape.clone(), mean));
        params.insert(s.std(), Tensor::f32(s.shape.clone(), std));
    }
    Ok(recorded)
}

/// Sums of the values (and of their squares) that fall on each entry of
/// a statistic, shifted by the first values seen so that the variance
/// does not cancel out for data far from zero.
struct Moments<'s> {
    statistic: &'s Statistic,
    shift: Option<Vec<f64>>,
    sum: Vec<f64>,
    squares: Vec<f64>,
    count: f64,
}

impl<'s> Moments<'s> {
    fn new(statistic: &'s Statistic) -> Moments<'s> {
        let n = statistic.shape.iter().product();
        Moments {
            statistic,
            shift: None,
            sum: vec![0.0; n],
            squares: vec![0.0; n],
            count: 0.0,
        }
    }

    /// Adds a batch of values, `[samples, ..sample shape]`.
    fn add(&mut self, batch: &Tensor) {
        let values = batch.to_f64();
        let per_sample: usize = batch.shape[1..].iter().product();
        let entries = self.sum.len();
        // Consecutive values of one sample that share an entry: a channel's
        // plane, or each value on its own.
        let run = (per_sample / entries.max(1)).max(1);
        let shift = self.shift.get_or_insert_with(|| {
            (0..entries)
                .map(|e| values.get(e * run).copied().unwrap_or(0.0))
                .collect()
        });
        for (i, &v) in values.iter().enumerate() {
            let e = (i % per_sample.max(1)) / run;
            let d = v - shift[e];
            self.sum[e] += d;
            self.squares[e] += d * d;
        }
        self.count += (batch.shape[0] * run) as f64;
    }

    /// Mean and standard deviation per entry; a constant entry gets a
    /// deviation of 1, so that it standardizes to 0 rather than to NaN.
    fn finish(&self) -> Result<(Vec<f32>, Vec<f32>), TrainError> {
        let shift = self
            .shift
            .clone()
            .unwrap_or_else(|| vec![0.0; self.sum.len()]);
        let count = self.count.max(1.0);
        let mut means = Vec::with_capacity(self.sum.len());
        let mut stds = Vec::with_capacity(self.sum.len());
        for ((sum, squares), shift) in self.sum.iter().zip(&self.squares).zip(shift) {
            let centre = sum / count;
            let mean = shift + centre;
            let variance = (squares / count - centre * centre).max(0.0);
            let mut std = variance.sqrt();
            if !(mean.is_finite() && std.is_finite()) {
                return Err(TrainError::Run(format!(
                    "the values `standardize` is given in field `{}` are not all finite on the training data: its statistics cannot be measured",
                    self.statistic.field()
                )));
            }
            if std == 0.0 || std < 1e-7 * mean.abs() {
                std = 1.0;
            }
            means.push(mean as f32);
            stds.push(std as f32);
        }
        Ok((means, stds))
    }
}
