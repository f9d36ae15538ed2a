//! The host-side half of a `train` block: what the runtime does around the
//! steps (data, parameters to create, schedule, epochs, validation).

use super::data::DataRef;
use crate::ir::DType;
use crate::optim::{Optimizer, Schedule};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainPlan {
    pub name: String,
    /// The model and its arguments, as written (`Mlp(hidden = 256)`).
    pub model: String,
    pub data: DataRef,
    pub validate: Option<DataRef>,
    /// What the run reports on at the end: every other split of the
    /// training dataset, then the validation data.
    pub final_sets: Vec<DataRef>,
    pub batch: usize,
    pub epochs: Option<u64>,
    pub steps: Option<u64>,
    pub optimizer: Optimizer,
    pub schedule: Schedule,
    /// Metric names, in the order written (`accuracy`).
    pub metrics: Vec<String>,
    /// The metrics measured over a whole evaluation pass (`f1`,
    /// `perplexity`): what the pass sums, and how the sum becomes the
    /// figure. Training steps do not compute them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pass_metrics: Vec<PassMetric>,
    pub validate_every: u64,
    pub checkpoint_every: Option<u64>,
    pub keep_best: bool,
    pub patience: Option<u64>,
    pub clip_grad_norm: Option<f64>,
    pub seed: u64,
    pub device: String,
    /// Every trained parameter, in creation order.
    pub params: Vec<ParamSpec>,
    /// The model's outputs, in the order declared.
    #[serde(default)]
    pub outputs: Vec<OutputSpec>,
    /// What `standardize` calls measure on the training data.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub statistics: Vec<Statistic>,
}

/// A metric of a whole evaluation pass: the step's `metric_sum.<name>`
/// is summed over the pass's batches, then finished.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PassMetric {
    pub name: String,
    pub finish: Finish,
}

/// How a pass's sum becomes a metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Finish {
    /// The sum is the mean per sample times the samples (as for every
    /// metric); the figure is `e^mean` (perplexity from cross entropy).
    Exp,
    /// The sum is the confusion matrix `[C, C]` (row: the labelled class,
    /// column: the predicted one); the figure is the mean over classes of
    /// precision, recall or F1 (a class never predicted nor labelled
    /// counts as 0).
    Precision,
    Recall,
    F1,
    /// The confusion matrix itself, kept in the run record.
    Matrix,
}

/// The statistics of one `standardize` call, which the runtime measures
/// on the training data before the first step: the model states
/// `<path>.mean` and `<path>.std`, of `shape`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Statistic {
    /// `stats.<field>`.
    pub path: String,
    /// One mean and deviation per entry of the sample's first axis
    /// (`shape` is `[C, 1, ..]`), rather than per value (`shape` is the
    /// sample's).
    pub per_channel: bool,
    pub shape: Vec<usize>,
}

impl Statistic {
    /// The statistics of `standardize` calls in field `field` (`x`, or
    /// `x.2` for its second call).
    pub fn path_for(field: &str) -> String {
        format!("stats.{field}")
    }

    /// The field (and call) measured, from the path or a state's path
    /// (`stats.x.mean` → `x`).
    pub fn field_of(path: &str) -> &str {
        let field = path.strip_prefix("stats.").unwrap_or(path);
        field
            .strip_suffix(".mean")
            .or_else(|| field.strip_suffix(".std"))
            .unwrap_or(field)
    }

    pub fn field(&self) -> &str {
        Statistic::field_of(&self.path)
    }

    /// The model state holding the means.
    pub fn mean(&self) -> String {
        format!("{}.mean", self.path)
    }

    /// The model state holding the standard deviations.
    pub fn std(&self) -> String {
        format!("{}.std", self.path)
    }
}

/// A model output, as `dlpc predict` writes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutputSpec {
    pub name: String,
    /// Per-sample shape.
    pub shape: Vec<usize>,
    /// `Some(n)` when the loss or a metric compares the output with a
    /// `class(n)` field and its last axis has `n` entries (scores per
    /// class, such as logits): predictions then add the arg-max class.
    pub classes: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParamSpec {
    pub path: String,
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub init: Init,
    /// A `state` (batch norm's running mean): kept and checkpointed like a
    /// parameter, changed only by the model's `update`s, never trained.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub state: bool,
}

/// How a parameter starts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Init {
    Zeros,
    Ones,
    Constant { value: f64 },
    Normal { mean: f64, std: f64 },
    Uniform { low: f64, high: f64 },
    GlorotUniform,
    GlorotNormal,
    HeUniform,
    HeNormal,
}
