//! Using a trained model: its loss and metrics on any dataset of the
//! program (`dlpc eval`), or its outputs for every sample (`dlpc predict`),
//! with parameters from a checkpoint and dropout off.

pub use super::evaluate::Matrix;
use super::evaluate::{over_batches, part, Evaluator};
use super::{Metrics, TrainError};
use crate::backend::{Backend, Runner};
use crate::data::{self, Vocabulary};
use crate::tensor::Tensor;
use dlp_compiler::ir::{DType, Output};
use dlp_compiler::program::{DataRef, DatasetSpec, EvalStep, OutputSpec, PassMetric, PredictStep};
use std::collections::HashMap;
use std::path::Path;

/// Trained parameters, the run's seed (which nothing random uses with
/// dropout off, but a step reads) and the vocabulary their characters were
/// numbered by (if they read character-level text).
pub struct Trained<'a> {
    pub params: &'a HashMap<String, Tensor>,
    pub seed: u64,
    pub vocabulary: Option<&'a Vocabulary>,
}

/// The figures of one data set: loss and metrics, and the confusion
/// matrices of its `confusion_matrix` metrics.
pub struct Evaluation {
    pub data: String,
    pub metrics: Metrics,
    pub matrices: Vec<(String, Matrix)>,
}

/// Loss and metrics of `model` on each of `sets`, each evaluated by the
/// step of its dataset among `steps` (`pass`: the metrics finished after a
/// whole pass); data paths are relative to `base`.
pub fn evaluate(
    steps: &[(EvalStep, DatasetSpec)],
    pass: &[PassMetric],
    sets: &[DataRef],
    base: &Path,
    model: &Trained,
    backend: Backend,
) -> Result<Vec<Evaluation>, TrainError> {
    let mut datasets = HashMap::new();
    for (_, spec) in steps {
        if sets.iter().any(|r| r.dataset == spec.name) {
            datasets.insert(spec.name.clone(), data::load(spec, base, model.vocabulary)?);
        }
    }
    let mut evaluator = Evaluator::new(steps.iter().map(|(s, _)| s), pass, backend)?;
    sets.iter()
        .map(|r| {
            let metrics = evaluator.evaluate(&datasets, r, model.params, model.seed)?;
            Ok(Evaluation {
                data: r.to_string(),
                metrics,
                matrices: evaluator.matrices(r).to_vec(),
            })
        })
        .collect()
}

/// Every output of the model for every sample of a dataset or split, in
/// the data's order.
pub struct Predictions {
    pub samples: usize,
    /// Each output, its dtype and its values (`samples × shape` of them,
    /// row-major; exact in f64 for every dtype a step produces).
    pub outputs: Vec<(OutputSpec, DType, Vec<f64>)>,
}

/// The model's outputs on `split` of the step's dataset (`None`: all of it).
pub fn predict(
    step: &PredictStep,
    split: Option<&str>,
    base: &Path,
    model: &Trained,
    backend: Backend,
) -> Result<Predictions, TrainError> {
    let loaded = data::load(&step.data, base, model.vocabulary)?;
    let datasets = HashMap::from([(step.data.name.clone(), loaded)]);
    let r = DataRef {
        dataset: step.data.name.clone(),
        split: split.map(str::to_string),
    };
    let samples = part(&datasets, &r)?;
    let mut runner = Runner::new(backend, &step.step, "predict")?;
    let mut outputs: Vec<(OutputSpec, DType, Vec<f64>)> = step
        .outputs
        .iter()
        .map(|o| (o.clone(), DType::F32, Vec::new()))
        .collect();
    over_batches(&mut runner, samples, model.params, model.seed, |results| {
        for (output, t) in results {
            let Output::Prediction(name) = output else {
                continue;
            };
            if let Some((_, dtype, values)) = outputs.iter_mut().find(|(o, ..)| o.name == name) {
                *dtype = t.dtype();
                values.extend(t.to_f64());
            }
        }
    })?;
    Ok(Predictions {
        samples: samples.len,
        outputs,
    })
}

/// The raw inputs (the step's feeds, as the dataset reads them, with the
/// vocabulary the model was trained with) of the first `n` samples of
/// `split` of the step's dataset, and how many there were.
pub fn first_samples(
    step: &PredictStep,
    split: Option<&str>,
    base: &Path,
    vocabulary: Option<&Vocabulary>,
    n: usize,
) -> Result<(Vec<(String, Tensor)>, usize), TrainError> {
    let loaded = data::load(&step.data, base, vocabulary)?;
    let datasets = HashMap::from([(step.data.name.clone(), loaded)]);
    let r = DataRef {
        dataset: step.data.name.clone(),
        split: split.map(str::to_string),
    };
    let samples = part(&datasets, &r)?;
    let rows: Vec<usize> = (0..samples.len.min(n)).collect();
    Ok((samples.batch(&rows).feeds, rows.len()))
}
