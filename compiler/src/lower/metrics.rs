//! Lowering of the metrics measured over a whole evaluation pass:
//! `precision`, `recall`, `f1`, `confusion_matrix` and `perplexity`.
//!
//! A mean of per-batch F1 scores is not the F1 of the pass, and a mean of
//! per-batch perplexities is not the perplexity of the pass. So each step
//! computes what sums over batches (the confusion matrix; the cross
//! entropy, as any metric's mean), and the runtime finishes the sum once
//! the pass is over ([`Finish`]). Each call is recorded in
//! `lw.pass_metrics`; only the train block's `metrics` list takes it from
//! there, so a call anywhere else is an error.

use super::builtins::{one_hot_node, tensor, Args};
use super::eval::{Lowerer, R};
use super::value::Value;
use super::LowerError;
use crate::diagnostic::Loc;
use crate::ir::{BinaryOp, DType, NodeId, Op, ReduceOp, Size, UnaryOp};
use crate::program::Finish;

pub(crate) fn precision(lw: &mut Lowerer, a: &Args, loc: Loc) -> R<Value> {
    confusion(lw, a, loc, Finish::Precision)
}

pub(crate) fn recall(lw: &mut Lowerer, a: &Args, loc: Loc) -> R<Value> {
    confusion(lw, a, loc, Finish::Recall)
}

pub(crate) fn f1(lw: &mut Lowerer, a: &Args, loc: Loc) -> R<Value> {
    confusion(lw, a, loc, Finish::F1)
}

pub(crate) fn confusion_matrix(lw: &mut Lowerer, a: &Args, loc: Loc) -> R<Value> {
    confusion(lw, a, loc, Finish::Matrix)
}

/// The batch's confusion matrix `[C, C]`: row the labelled class, column
/// the class of the highest score.
fn confusion(lw: &mut Lowerer, a: &Args, loc: Loc, finish: Finish) -> R<Value> {
    let (logits, labels, classes) = scores_and_labels(lw, a, loc)?;
    let last = lw.b.ty(logits).rank() - 1;
    let predicted = lw.b.op(Op::ArgMax(last), &[logits]);
    let (labelled, predicted) = (
        one_hot_node(lw, labels, classes),
        one_hot_node(lw, predicted, classes),
    );
    // [samples, C] each, then [C, samples] @ [samples, C].
    let rows = flat_rows(lw, labelled, classes, loc)?;
    let labelled = lw.b.reshape(labelled, &[rows, Size::fixed(classes)]);
    let predicted = lw.b.reshape(predicted, &[rows, Size::fixed(classes)]);
    let labelled = lw.b.op(Op::Permute(vec![1, 0]), &[labelled]);
    let counts = lw.b.op(Op::MatMul, &[labelled, predicted]);
    lw.pass_metrics.push((counts, finish, loc));
    Ok(Value::Tensor(counts))
}

/// The mean cross entropy of the batch's positions (finished as `e^mean`).
pub(crate) fn perplexity(lw: &mut Lowerer, a: &Args, loc: Loc) -> R<Value> {
    let (logits, labels, classes) = scores_and_labels(lw, a, loc)?;
    let shape = lw.b.ty(logits).shape.clone();
    let last = shape.len() - 1;
    let mut kept = shape.clone();
    kept[last] = Size::ONE;
    // log-softmax, shifted by the row's largest score so exp cannot overflow.
    let top = lw.b.reduce(ReduceOp::Max, logits, vec![last]);
    let top = lw.b.reshape(top, &kept);
    let top = lw.b.broadcast_to(top, &shape);
    let shifted = lw.b.binary(BinaryOp::Sub, logits, top);
    let exp = lw.b.unary(UnaryOp::Exp, shifted);
    let total = lw.b.reduce(ReduceOp::Sum, exp, vec![last]);
    let log_total = lw.b.unary(UnaryOp::Log, total);
    let hot = one_hot_node(lw, labels, classes);
    let picked = lw.b.binary(BinaryOp::Mul, shifted, hot);
    let picked = lw.b.reduce(ReduceOp::Sum, picked, vec![last]);
    let nll = lw.b.binary(BinaryOp::Sub, log_total, picked);
    let positions = flat_rows(lw, hot, classes, loc)?;
    let all: Vec<usize> = (0..last).collect();
    let sum = lw.b.reduce(ReduceOp::Sum, nll, all);
    let count = lw.b.size_of(positions, DType::F32);
    let mean = lw.b.binary(BinaryOp::Div, sum, count);
    lw.pass_metrics.push((mean, Finish::Exp, loc));
    Ok(Value::Tensor(mean))
}

/// The scores `[.., C]`, the labels `[..]` and `C`.
fn scores_and_labels(lw: &mut Lowerer, a: &Args, loc: Loc) -> R<(NodeId, NodeId, usize)> {
    let logits = tensor(lw, a, "logits")?;
    let labels = tensor(lw, a, "labels")?;
    let logits = lw.b.cast(logits, DType::F32);
    let classes =
        lw.b.ty(logits)
            .shape
            .last()
            .and_then(|c| c.as_fixed())
            .ok_or_else(|| LowerError::new("the number of classes must be fixed", Some(loc)))?;
    Ok((logits, labels, classes))
}

/// The number of rows of `x[.., C]` once its leading axes are one.
fn flat_rows(lw: &Lowerer, x: NodeId, classes: usize, loc: Loc) -> R<Size> {
    let shape = &lw.b.ty(x).shape;
    let lead = &shape[..shape.len() - 1];
    let fixed: usize = lead.iter().filter_map(|d| d.as_fixed()).product();
    let batched: Vec<&Size> = lead.iter().filter(|d| d.as_fixed().is_none()).collect();
    match batched.as_slice() {
        [] => Ok(Size::fixed(fixed)),
        [b] if **b == Size::BATCH => Ok(Size {
            batch: fixed,
            fixed: 0,
        }),
        _ => Err(LowerError::new(
            format!("cannot count the samples of scores shaped {shape:?} over {classes} classes"),
            Some(loc),
        )),
    }
}
