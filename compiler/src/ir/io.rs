//! What a step reads and what it produces: typed, so that no back end
//! matches names by string.
//!
//! Each has one dotted name (`param.h.w`, `grad.h.w`, `opt.m.h.w`) that
//! the textual IR prints and parses back; paths and slots are dlp names,
//! so the first dot after the kind (and, for optimiser state, after the
//! slot) is never part of them.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A value a step reads.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Input {
    /// A batch of one dataset feed (`x`), batch axis first.
    Feed(String),
    /// A trained parameter, by its path (`h.w`).
    Param(String),
    /// Optimiser state of a parameter (`slot` is `m`, `v`, `momentum`,
    /// `square_avg`): zero before the first step.
    OptimizerState {
        slot: String,
        param: String,
    },
    /// Non-trained model state (running statistics), by path.
    ModelState(String),
    /// A parameter's gradient, as the update group reads it.
    Gradient(String),
    Hyper(Hyper),
    /// The run's seed (i32).
    Seed,
    /// The global index of each sample of the batch in its dataset (i32[B]).
    SampleIndex,
}

/// Per-step scalars the runtime supplies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hyper {
    /// The learning rate for this step (f32), from the schedule.
    Lr,
    /// Optimiser steps taken before this one (i32).
    Step,
    /// The epoch this step belongs to, from 1 (i32; 0 outside training).
    Epoch,
}

/// A value a step produces.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Output {
    /// The loss times the batch size (f32): sums over batches and shards
    /// divided by their sample counts give the mean loss exactly.
    LossSum,
    /// A metric times the batch size (f32), by its reported name.
    MetricSum(String),
    /// d loss / d parameter: the sync point of data-parallel training.
    Gradient(String),
    /// A parameter after the update; it may overwrite `Input::Param`.
    NewParam(String),
    NewOptimizerState {
        slot: String,
        param: String,
    },
    NewModelState(String),
    /// A model output, per sample, for `dlpc predict`.
    Prediction(String),
}

impl Input {
    pub fn param(path: &str) -> Input {
        Input::Param(path.to_string())
    }
}

impl fmt::Display for Input {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Input::Feed(n) => write!(f, "feed.{n}"),
            Input::Param(p) => write!(f, "param.{p}"),
            Input::OptimizerState { slot, param } => write!(f, "opt.{slot}.{param}"),
            Input::ModelState(p) => write!(f, "state.{p}"),
            Input::Gradient(p) => write!(f, "grad.{p}"),
            Input::Hyper(h) => write!(f, "hyper.{}", h.name()),
            Input::Seed => f.write_str("seed"),
            Input::SampleIndex => f.write_str("sample_index"),
        }
    }
}

impl Hyper {
    pub const ALL: [Hyper; 3] = [Hyper::Lr, Hyper::Step, Hyper::Epoch];

    pub fn name(self) -> &'static str {
        match self {
            Hyper::Lr => "lr",
            Hyper::Step => "step",
            Hyper::Epoch => "epoch",
        }
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Output::LossSum => f.write_str("loss_sum"),
            Output::MetricSum(m) => write!(f, "metric_sum.{m}"),
            Output::Gradient(p) => write!(f, "grad.{p}"),
            Output::NewParam(p) => write!(f, "new_param.{p}"),
            Output::NewOptimizerState { slot, param } => write!(f, "new_opt.{slot}.{param}"),
            Output::NewModelState(p) => write!(f, "new_state.{p}"),
            Output::Prediction(o) => write!(f, "prediction.{o}"),
        }
    }
}

/// Splits `kind.rest` (`None` without a dot or with an empty rest).
fn kind_and_rest(s: &str) -> Option<(&str, &str)> {
    s.split_once('.').filter(|(_, rest)| !rest.is_empty())
}

/// `slot.path` of optimiser state.
fn slot_and_param(rest: &str) -> Option<(String, String)> {
    let (slot, param) = kind_and_rest(rest)?;
    Some((slot.to_string(), param.to_string()))
}

impl std::str::FromStr for Input {
    type Err = String;

    fn from_str(s: &str) -> Result<Input, String> {
        let bad = || {
            format!("`{s}` is not an input (`feed.x`, `param.h.w`, `opt.m.h.w`, `state.p`, `grad.h.w`, `hyper.lr`, `seed`, `sample_index`)")
        };
        match s {
            "seed" => return Ok(Input::Seed),
            "sample_index" => return Ok(Input::SampleIndex),
            _ => {}
        }
        let (kind, rest) = kind_and_rest(s).ok_or_else(bad)?;
        let name = rest.to_string();
        Ok(match kind {
            "feed" => Input::Feed(name),
            "param" => Input::Param(name),
            "state" => Input::ModelState(name),
            "grad" => Input::Gradient(name),
            "opt" => {
                let (slot, param) = slot_and_param(rest).ok_or_else(bad)?;
                Input::OptimizerState { slot, param }
            }
            "hyper" => Input::Hyper(
                Hyper::ALL
                    .into_iter()
                    .find(|h| h.name() == rest)
                    .ok_or_else(bad)?,
            ),
            _ => return Err(bad()),
        })
    }
}

impl std::str::FromStr for Output {
    type Err = String;

    fn from_str(s: &str) -> Result<Output, String> {
        let bad = || {
            format!("`{s}` is not an output (`loss_sum`, `metric_sum.m`, `grad.p`, `new_param.p`, `new_opt.slot.p`, `new_state.p`, `prediction.o`)")
        };
        if s == "loss_sum" {
            return Ok(Output::LossSum);
        }
        let (kind, rest) = kind_and_rest(s).ok_or_else(bad)?;
        let name = rest.to_string();
        Ok(match kind {
            "metric_sum" => Output::MetricSum(name),
            "grad" => Output::Gradient(name),
            "new_param" => Output::NewParam(name),
            "new_state" => Output::NewModelState(name),
            "prediction" => Output::Prediction(name),
            "new_opt" => {
                let (slot, param) = slot_and_param(rest).ok_or_else(bad)?;
                Output::NewOptimizerState { slot, param }
            }
            _ => return Err(bad()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_print_and_parse_back() {
        let inputs = [
            Input::Feed("x.2".into()),
            Input::param("h.0.linear.w"),
            Input::OptimizerState {
                slot: "m".into(),
                param: "h.w".into(),
            },
            Input::ModelState("bn.mean".into()),
            Input::Gradient("h.w".into()),
            Input::Hyper(Hyper::Lr),
            Input::Hyper(Hyper::Epoch),
            Input::Seed,
            Input::SampleIndex,
        ];
        for i in inputs {
            assert_eq!(i.to_string().parse::<Input>(), Ok(i));
        }
        let outputs = [
            Output::LossSum,
            Output::MetricSum("accuracy_2".into()),
            Output::Gradient("h.w".into()),
            Output::NewParam("h.w".into()),
            Output::NewOptimizerState {
                slot: "square_avg".into(),
                param: "logits.b".into(),
            },
            Output::NewModelState("bn.var".into()),
            Output::Prediction("logits".into()),
        ];
        for o in outputs {
            assert_eq!(o.to_string().parse::<Output>(), Ok(o));
        }
        assert!("param.".parse::<Input>().is_err());
        assert!("opt.m".parse::<Input>().is_err());
        assert!("hyper.nope".parse::<Input>().is_err());
        assert!("loss".parse::<Output>().is_err());
    }
}
