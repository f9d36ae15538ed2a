//! Lowering of `x[1:3, i, ...]` to the IR's movement ops.
//!
//! Every size is a number here, so each item is resolved by
//! [`crate::types::index`] (the checker's rules, now exact) and becomes a
//! `slice`; a position is a slice of one whose axis a final `reshape`
//! drops; a step `s` is a slice of `len * s` (zero-padded at the end when
//! the axis is short of it) folded into `[len, s]` with the first column
//! kept; a negative step reverses the axis first. Each of these ops has its
//! derivative, so indexing needs none of its own.

use super::builtins::reversed;
use super::eval::{Env, Lowerer, R};
use super::value::Value;
use super::LowerError;
use crate::diagnostic::Loc;
use crate::ir::{NodeId, Op, Size};
use crate::types::index::{self, Picked};
use dlp_grammar::ast::{Expr, IndexItem};
use dlp_grammar::format;

pub(super) fn lower(
    lw: &mut Lowerer,
    env: &mut Env,
    base: &Expr,
    items: &[IndexItem],
    loc: Loc,
) -> R<Value> {
    let base = lw.expr(env, base)?;
    let mut x = lw.node(base, loc)?;
    let classes = lw.classes.get(&x).copied();
    let rank = lw.b.ty(x).rank();
    let visible = rank - lw.lead.min(rank);
    let named = items
        .iter()
        .filter(|i| !matches!(i, IndexItem::Ellipsis(_)))
        .count();
    if named > visible {
        return Err(LowerError::new(
            format!("{named} axes are indexed, but the tensor has {visible}"),
            Some(loc),
        ));
    }
    let split = items
        .iter()
        .position(|i| matches!(i, IndexItem::Ellipsis(_)))
        .unwrap_or(items.len());
    let mut dropped = Vec::new();
    for (k, item) in items.iter().enumerate() {
        if matches!(item, IndexItem::Ellipsis(_)) {
            continue;
        }
        let axis = if k < split {
            lw.lead + k
        } else {
            rank + k - items.len()
        };
        let at = lw.loc(env.module, item.span());
        let mut bounds = Vec::new();
        for e in item.exprs() {
            bounds.push(bound(lw, env, e)?);
        }
        let whole = matches!(item, IndexItem::Slice { .. }) && bounds.is_empty();
        if whole {
            continue;
        }
        let Some(n) = lw.b.ty(x).shape[axis].as_fixed() else {
            return Err(LowerError::new(
                "the batch axis cannot be indexed: every sample of a batch goes through the step",
                Some(at),
            ));
        };
        let n = n as i64;
        let picked = match item {
            IndexItem::At(_) => {
                let start =
                    index::position(bounds[0], n).map_err(|e| LowerError::new(e, Some(at)))?;
                dropped.push(axis);
                Picked {
                    start,
                    len: 1,
                    step: 1,
                }
            }
            IndexItem::Slice {
                start, end, step, ..
            } => {
                let mut next = bounds.into_iter();
                let start = start.as_ref().and_then(|_| next.next());
                let end = end.as_ref().and_then(|_| next.next());
                let step = step.as_ref().and_then(|_| next.next()).unwrap_or(1);
                index::slice(start, end, step, n, &format::index_item(item))
                    .map_err(|e| LowerError::new(e, Some(at)))?
            }
            IndexItem::Ellipsis(_) => unreachable!("skipped above"),
        };
        x = strided(lw, x, axis, picked, at)?;
    }
    if !dropped.is_empty() {
        let shape: Vec<Size> =
            lw.b.ty(x)
                .shape
                .iter()
                .enumerate()
                .filter(|(i, _)| !dropped.contains(i))
                .map(|(_, s)| *s)
                .collect();
        x = lw.b.reshape(x, &shape);
    }
    if let Some(c) = classes {
        lw.classes.insert(x, c);
    }
    Ok(Value::Tensor(x))
}

/// A position or bound as a number.
fn bound(lw: &mut Lowerer, env: &mut Env, e: &Expr) -> R<i64> {
    let at = lw.loc(env.module, e.span);
    match lw.expr(env, e)? {
        Value::Int(v) => Ok(v),
        Value::Size(_) => Err(LowerError::new(
            "a position or slice bound cannot depend on the batch size",
            Some(at),
        )),
        other => Err(LowerError::new(
            format!(
                "a position or slice bound must be an int, not {}",
                other.kind()
            ),
            Some(at),
        )),
    }
}

/// The positions `picked` names along `axis` of `x`.
fn strided(lw: &mut Lowerer, x: NodeId, axis: usize, picked: Picked, at: Loc) -> R<NodeId> {
    let ty = lw.b.ty(x).clone();
    let n = ty.shape[axis]
        .as_fixed()
        .expect("the batch axis is refused before");
    let (mut x, mut start, step) = (x, picked.start as usize, picked.step);
    if step < 0 {
        x = reversed(lw, x, axis, at)?;
        start = n - 1 - start;
    }
    let (len, step) = (picked.len as usize, step.unsigned_abs() as usize);
    let slice = |lw: &mut Lowerer, x: NodeId, axis: usize, start: usize, end: usize| {
        if start == 0 && end == lw.b.ty(x).shape[axis].fixed {
            return x;
        }
        lw.b.op(
            Op::Slice {
                axis,
                start: Size::fixed(start),
                end: Size::fixed(end),
            },
            &[x],
        )
    };
    if step == 1 {
        return Ok(slice(lw, x, axis, start, start + len));
    }
    let want = len * step;
    let end = (start + want).min(n);
    x = slice(lw, x, axis, start, end);
    if end - start < want {
        let mut shape = lw.b.ty(x).shape.clone();
        shape[axis] = Size::fixed(want - (end - start));
        let dtype = lw.b.ty(x).dtype;
        let zero = lw.b.constant(0.0, dtype);
        let zeros = lw.b.broadcast_to(zero, &shape);
        x = lw.b.op(Op::Concat(axis), &[x, zeros]);
    }
    let mut folded = lw.b.ty(x).shape.clone();
    folded.splice(axis..=axis, [Size::fixed(len), Size::fixed(step)]);
    x = lw.b.reshape(x, &folded);
    x = slice(lw, x, axis + 1, 0, 1);
    let mut kept = folded;
    kept.remove(axis + 1);
    Ok(lw.b.reshape(x, &kept))
}
