//! Lowering `standardize(x)`: `(x - mean) / std`, where `mean` and `std`
//! are model state (`stats.<field>.mean`, `.std`) that the runtime measures
//! on the training data before the first step and that checkpoints keep,
//! so validation, test and later predictions use the training statistics.
//!
//! The measuring is a step of its own ([`Mode::Statistics`]): the training
//! data's fields with `standardize` left out, whose outputs are the values
//! each `standardize` is given.

use super::builtins::{tensor, Args};
use super::eval::{Lowerer, R};
use super::value::Value;
use super::{LowerError, Mode};
use crate::diagnostic::Loc;
use crate::ir::{BinaryOp, DType, Input, NodeId, TensorTy};
use crate::program::{Init, ParamSpec, Statistic};
use std::collections::HashSet;

/// A `standardize` call as lowered.
#[derive(Clone, Debug)]
pub(crate) struct Standardized {
    pub statistic: Statistic,
    /// What it was given: the values the statistics are of.
    pub measured: NodeId,
    /// What it made.
    pub result: NodeId,
}

pub(crate) fn standardize(lw: &mut Lowerer, a: &Args, loc: Loc) -> R<Value> {
    let x = tensor(lw, a, "x")?;
    // (The measuring step leaves values as they are, so there a value and
    // its standardization are one node: the other modes check this.)
    let nested = match lw.mode {
        Mode::Statistics => None,
        _ => standardized_ancestor(lw, x),
    };
    if let Some(other) = nested {
        return Err(LowerError::new(
            format!(
                "this reads a value already standardized (`{other}`): its statistics would be measured before that standardization; standardize once"
            ),
            Some(loc),
        ));
    }
    let per_channel = matches!(a.get("per_channel"), Some(Value::Bool(true)));
    let sample = sample_shape(lw, x, loc)?;
    let shape: Vec<usize> = match (per_channel, sample.first()) {
        (true, Some(&channels)) => {
            let mut s = vec![1; sample.len()];
            s[0] = channels;
            s
        }
        (true, None) => {
            return Err(LowerError::new(
                "`per_channel` needs a sample with a channel axis first, and this is a scalar",
                Some(loc),
            ))
        }
        (false, _) => sample,
    };
    let statistic = Statistic {
        path: free_path(lw),
        per_channel,
        shape,
    };
    let result = if lw.mode == Mode::Statistics {
        x
    } else {
        let mean = state(lw, statistic.mean(), &statistic.shape, Init::Zeros);
        let std = state(lw, statistic.std(), &statistic.shape, Init::Ones);
        let centred =
            lw.elementwise(BinaryOp::Sub, &[Value::Tensor(x), Value::Tensor(mean)], loc)?;
        lw.elementwise(
            BinaryOp::Div,
            &[Value::Tensor(centred), Value::Tensor(std)],
            loc,
        )?
    };
    lw.standardized.push(Standardized {
        statistic,
        measured: x,
        result,
    });
    Ok(Value::Tensor(result))
}

/// The per-sample shape of a field's value (fixed: the batch is in front).
fn sample_shape(lw: &Lowerer, x: NodeId, loc: Loc) -> R<Vec<usize>> {
    let shape = &lw.b.ty(x).shape;
    shape[lw.lead.min(shape.len())..]
        .iter()
        .map(|d| d.as_fixed())
        .collect::<Option<Vec<usize>>>()
        .ok_or_else(|| {
            LowerError::new(
                "`standardize` needs a value whose sample shape does not depend on the batch size",
                Some(loc),
            )
        })
}

/// `stats.<field>`, or `stats.<field>.2` for the field's second call.
fn free_path(lw: &Lowerer) -> String {
    let base = Statistic::path_for(&lw.current_field);
    let taken: HashSet<&str> = lw
        .standardized
        .iter()
        .map(|s| s.statistic.path.as_str())
        .collect();
    (1..)
        .map(|k| {
            if k == 1 {
                base.clone()
            } else {
                format!("{base}.{k}")
            }
        })
        .find(|p| !taken.contains(p.as_str()))
        .expect("some name is free")
}

fn state(lw: &mut Lowerer, path: String, shape: &[usize], init: Init) -> NodeId {
    if !lw.params.iter().any(|p| p.path == path) {
        lw.params.push(ParamSpec {
            path: path.clone(),
            dtype: DType::F32,
            shape: shape.to_vec(),
            init,
            state: true,
        });
    }
    lw.b.input(Input::ModelState(path), TensorTy::fixed(DType::F32, shape))
}

/// The field of an earlier `standardize` whose result `x` is computed from.
fn standardized_ancestor(lw: &Lowerer, x: NodeId) -> Option<String> {
    if lw.standardized.is_empty() {
        return None;
    }
    let graph = lw.b.graph();
    let mut seen = HashSet::new();
    let mut stack = vec![x];
    while let Some(n) = stack.pop() {
        if !seen.insert(n) {
            continue;
        }
        if let Some(s) = lw.standardized.iter().find(|s| s.result == n) {
            return Some(s.statistic.field().to_string());
        }
        stack.extend(graph.args(n).iter().copied());
    }
    None
}
