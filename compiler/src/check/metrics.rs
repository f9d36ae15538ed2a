//! The metrics of a whole evaluation pass (`precision`, `recall`, `f1`,
//! `confusion_matrix`, `perplexity`): scores `f32[.., C]` against labels
//! `class(C)[..]`, as `accuracy` and `cross_entropy` take them.

use super::builtins::{loc_of, tensor};
use super::call::Bound;
use super::expr::Env;
use super::{CheckError, Checker};
use crate::diagnostic::Loc;
use crate::types::{DType, Dim, Shape, TensorType, Type};

/// `precision`, `recall`, `f1`, `perplexity`: one number for the pass.
pub(super) fn score(cx: &mut Checker, _: &Env, args: &[Bound], call: Loc) -> Type {
    match classes(cx, args, call) {
        Some(_) => Type::tensor(DType::F32, Shape::scalar()),
        None => Type::Error,
    }
}

/// `confusion_matrix`: counts `[C, C]`, row the labelled class, column the
/// predicted one.
pub(super) fn matrix(cx: &mut Checker, _: &Env, args: &[Bound], call: Loc) -> Type {
    match classes(cx, args, call) {
        Some(c) => Type::tensor(DType::F32, Shape::dims([c.clone(), c])),
        None => Type::Error,
    }
}

/// The class count `C` of scores `[.., C]` and labels `[..]` that agree.
fn classes(cx: &mut Checker, args: &[Bound], call: Loc) -> Option<Dim> {
    let scores = tensor(cx, "metric", "logits", &args[0])?;
    let labels = tensor(cx, "metric", "labels", &args[1])?;
    let wrong = |cx: &mut Checker, what: &str, expected: String, found: &TensorType, at: Loc| {
        cx.error(CheckError::WrongKind {
            what: what.to_string(),
            expected,
            found: found.to_string(),
            loc: at,
            note: None,
        });
    };
    let (scores_at, labels_at) = (loc_of(&args[0], call), loc_of(&args[1], call));
    let dims = scores.shape.fixed().filter(|d| !d.is_empty());
    let Some(dims) = dims.filter(|_| scores.dtype.is_float()) else {
        wrong(
            cx,
            "the scores",
            "floats with the classes last, `f32[.., C]`".into(),
            &scores,
            scores_at,
        );
        return None;
    };
    let (c, lead) = dims.split_last()?;
    let label_dims = labels.shape.fixed();
    let class_ok = match &labels.dtype {
        DType::Class(n) => n == c,
        d => d.is_integer(),
    };
    if label_dims.as_deref() != Some(lead) || !class_ok {
        let lead: Vec<String> = lead.iter().map(Dim::to_string).collect();
        wrong(
            cx,
            "the labels",
            format!(
                "`class({c})[{}]`: a label for each row of scores",
                lead.join(", ")
            ),
            &labels,
            labels_at,
        );
        return None;
    }
    Some(c.clone())
}
