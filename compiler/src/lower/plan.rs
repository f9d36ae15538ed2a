//! The host-side half of a `train` block: what the runtime needs besides
//! the step graph (data, parameters to create, schedule, settings).

use super::value::{Init, Read, Source};
use crate::ir::DType;
use crate::optim::{Optimizer, Schedule};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainPlan {
    pub name: String,
    /// The model and its arguments, as written (`Mlp(hidden = 256)`).
    pub model: String,
    pub data: DataRef,
    pub validate: Option<DataRef>,
    /// The dataset this graph was lowered for, with the raw reads it feeds on.
    pub dataset: DatasetSpec,
    pub batch: usize,
    pub epochs: Option<u64>,
    pub steps: Option<u64>,
    pub optimizer: Optimizer,
    pub schedule: Schedule,
    /// Metric names, in the order written (`accuracy`).
    pub metrics: Vec<String>,
    pub validate_every: u64,
    pub checkpoint_every: Option<u64>,
    pub keep_best: bool,
    pub patience: Option<u64>,
    pub clip_grad_norm: Option<f64>,
    pub seed: u64,
    pub device: String,
    /// Every trained parameter, in creation order.
    pub params: Vec<ParamSpec>,
}

/// A dataset, or one of its splits.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DataRef {
    pub dataset: String,
    pub split: Option<String>,
}

impl std::fmt::Display for DataRef {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match &self.split {
            Some(s) => write!(f, "{}.{s}", self.dataset),
            None => f.write_str(&self.dataset),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DatasetSpec {
    pub name: String,
    pub source: SourceSpec,
    /// Fractions by split name, when one source is split (`split = {...}`).
    pub splits: Vec<(String, f64)>,
    /// The seed that shuffles the records before splitting.
    pub shuffle: Option<u64>,
    /// The raw reads the graphs take as inputs.
    pub feeds: Vec<Feed>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum SourceSpec {
    /// No `source`: every field reads its own file (IDX).
    None,
    One(Source),
    /// `source = { train: csv(..), test: csv(..) }`.
    PerSplit(Vec<(String, Source)>),
}

/// Raw per-sample values read from a dataset and fed to the graph as the
/// input of the same name, with a batch axis in front of `shape`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Feed {
    pub name: String,
    /// The dataset field (`x`) it is read for: data errors name it.
    pub field: String,
    pub read: Read,
    pub dtype: DType,
    /// Per-sample shape.
    pub shape: Vec<usize>,
    /// `class(n)`: values must lie in `0..n`.
    pub classes: Option<usize>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ParamSpec {
    pub path: String,
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub init: Init,
}
