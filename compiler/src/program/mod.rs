//! The compiled program: the one value the compiler hands the runtime.
//!
//! Made before any data is read, from one `train` block:
//! - the [`TrainStep`], in two groups with the gradients between them —
//!   [`TrainStep::gradients`] (forward and backward: feeds and parameters
//!   in, `loss_sum`, `metric_sum.*` and `grad.<path>` for every parameter
//!   out) and [`TrainStep::update`] (clipping and the optimiser: parameters,
//!   gradients and optimiser state in, `new_param.*` and `new_opt.*` out).
//!   Between the two, a data-parallel runtime all-reduces the gradients;
//!   a single process is the case of one shard.
//! - one [`EvalStep`] per dataset the run evaluates on (dropout off);
//! - the [`TrainPlan`]: the data, the parameters to create, the schedule
//!   and everything else the runtime does around the steps.
//!
//! Every step is a [`Verified`] graph whose inputs and outputs are typed
//! ([`crate::ir::Input`], [`crate::ir::Output`]) and whose sizes may be
//! multiples of the batch `B`: one step serves every batch size, the
//! partial last batch of an evaluation and each shard of a data-parallel
//! batch alike. What a back end may assume is listed in the book's
//! architecture chapter ("The compiled program").

mod data;
mod plan;

pub use data::{Column, DataRef, DatasetSpec, Feed, Read, Source, SourceSpec, Tokens};
pub use plan::{Finish, Init, OutputSpec, ParamSpec, PassMetric, Statistic, TrainPlan};

use crate::ir::{print, Verified};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompiledProgram {
    pub plan: TrainPlan,
    /// Every dataset the run reads, the training data's first.
    pub datasets: Vec<DatasetSpec>,
    pub train: TrainStep,
    /// One per dataset of `datasets`, in the same order.
    pub eval: Vec<EvalStep>,
    /// The values whose statistics `standardize` needs, from a batch of the
    /// training data: output `Prediction(path)` for each of the plan's
    /// `statistics`. `None` when the program standardizes nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statistics: Option<Verified>,
}

/// One optimiser step, as two groups with the gradients between them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainStep {
    /// Forward and backward.
    pub gradients: Verified,
    /// Clipping and the optimiser update.
    pub update: Verified,
}

/// The model's outputs for a batch of one dataset (`dlpc predict`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PredictStep {
    /// The dataset, with the feeds the outputs need and no others.
    pub data: DatasetSpec,
    /// Outputs `Output::Prediction(name)`, batch axis first.
    pub step: Verified,
    pub outputs: Vec<OutputSpec>,
}

/// Loss and metrics of a batch of one dataset, parameters unchanged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalStep {
    pub dataset: String,
    pub step: Verified,
}

impl CompiledProgram {
    pub fn dataset(&self, name: &str) -> Option<&DatasetSpec> {
        self.datasets.iter().find(|d| d.name == name)
    }

    pub fn eval_step(&self, dataset: &str) -> Option<&EvalStep> {
        self.eval.iter().find(|e| e.dataset == dataset)
    }

    /// Every step with a title: the train step's two groups, then each
    /// evaluation step.
    pub fn steps(&self) -> Vec<(String, &Verified)> {
        let mut steps = vec![
            (
                format!("train `{}`: forward and backward", self.plan.name),
                &self.train.gradients,
            ),
            (
                format!("train `{}`: clipping and update", self.plan.name),
                &self.train.update,
            ),
        ];
        for e in &self.eval {
            steps.push((format!("evaluation on `{}`", e.dataset), &e.step));
        }
        steps
    }

    /// Every step as textual IR: the train step's two groups, then each
    /// evaluation step, under `;` headers.
    pub fn text(&self) -> String {
        let mut out = format!(
            "; train `{}`: forward and backward (group 1 of 2)\n{}",
            self.plan.name,
            print::text(&self.train.gradients)
        );
        out.push_str(&format!(
            "\n; ---- sync point: the gradients above are all-reduced here ----\n\n; train `{}`: clipping and update (group 2 of 2)\n{}",
            self.plan.name,
            print::text(&self.train.update)
        ));
        for e in &self.eval {
            out.push_str(&format!(
                "\n; evaluation on `{}`\n{}",
                e.dataset,
                print::text(&e.step)
            ));
        }
        out
    }
}
