//! Indexing and slicing: `x[1:3, i, ...]`.
//!
//! Items name axes from the front; after a `...` they name them from the
//! back, so `x[..., 0]` works on `f32[..N, C]`. A position removes its
//! axis, a slice keeps it with its new length. Positions, bounds and steps
//! are sizes known when the program is compiled (ints, or size names such
//! as `T - 1`); picking positions computed from data is `take`'s job.

use super::expr::{self, Env};
use super::{CheckError, Checker};
use crate::diagnostic::Loc;
use crate::types::index::{self, Picked};
use crate::types::{Dim, Shape, ShapeItem, TensorType, Type};
use dlp_grammar::ast::{Expr, IndexItem};
use dlp_grammar::format;

pub fn check(cx: &mut Checker, env: &mut Env, base: &Expr, items: &[IndexItem]) -> Type {
    let base_ty = expr::check(cx, env, base);
    let base_loc = expr::loc(cx, env, base);
    // Every bound is checked (and so hovered and referenced) whatever the base.
    let mut bounds = Vec::with_capacity(items.len());
    for item in items {
        let parts: Vec<_> = item
            .exprs()
            .map(|e| (expr::check(cx, env, e), expr::loc(cx, env, e)))
            .collect();
        bounds.push(parts);
    }
    let x = match base_ty {
        Type::Tensor(t) => t,
        other => return expr::wrong_kind(cx, "the value before `[`", "a tensor", &other, base_loc),
    };
    let file = cx.file(env.module);
    let at = |item: &IndexItem| Loc::new(file, item.span());
    let ellipses: Vec<_> = items
        .iter()
        .filter(|i| matches!(i, IndexItem::Ellipsis(_)))
        .collect();
    if let Some(second) = ellipses.get(1) {
        return cx.error(CheckError::Index {
            detail: "an index can have only one `...`".to_string(),
            loc: at(second),
            help: None,
        });
    }
    let named = items.len() - ellipses.len();
    if let Some(rank) = x.shape.rank() {
        if named > rank {
            return cx.error(CheckError::Index {
                detail: format!("{named} axes are indexed, but {x} has {rank}"),
                loc: at(&items[rank.min(items.len() - 1)]),
                help: None,
            });
        }
    }
    // Which axis of `x` each item names.
    let split = items
        .iter()
        .position(|i| matches!(i, IndexItem::Ellipsis(_)))
        .unwrap_or(items.len());
    let mut picks: Vec<(usize, Option<Dim>)> = Vec::new();
    for (k, (item, parts)) in items.iter().zip(&bounds).enumerate() {
        if matches!(item, IndexItem::Ellipsis(_)) {
            continue;
        }
        let axis = if k < split {
            k as i64
        } else {
            k as i64 - items.len() as i64
        };
        let i = match x.shape.axis(axis) {
            Ok(i) => i,
            Err(_) => {
                return cx.error(CheckError::Index {
                    detail: format!("this item names an axis inside the `..` group of {x}"),
                    loc: at(item),
                    help: Some(
                        "name the axes after the group from the end, behind `...`: `x[..., 0]`"
                            .to_string(),
                    ),
                })
            }
        };
        let ShapeItem::Dim(n) = &x.shape.0[i] else {
            unreachable!("Shape::axis names plain dims only")
        };
        let size = match pick(cx, item, parts, n, at(item)) {
            Ok(size) => size,
            Err(ty) => return ty,
        };
        picks.push((i, size));
    }
    let mut out = x.shape.0.clone();
    // Back to front, so removing an axis keeps the others' indices.
    picks.sort_by_key(|(i, _)| std::cmp::Reverse(*i));
    for (i, size) in picks {
        match size {
            Some(len) => out[i] = ShapeItem::Dim(len),
            None => {
                out.remove(i);
            }
        }
    }
    Type::Tensor(TensorType::new(x.dtype, Shape(out)))
}

/// What one item leaves of an axis of size `n`: its new length (a slice)
/// or nothing (a position).
fn pick(
    cx: &mut Checker,
    item: &IndexItem,
    parts: &[(Type, Loc)],
    n: &Dim,
    at: Loc,
) -> Result<Option<Dim>, Type> {
    let mut sizes = Vec::with_capacity(parts.len());
    for (ty, loc) in parts {
        sizes.push(size(cx, ty, *loc)?);
    }
    match item {
        IndexItem::At(_) => {
            if let (Some(i), Some(n)) = (sizes[0].as_const(), n.as_const()) {
                index::position(i, n).map_err(|detail| out_of_range(cx, detail, at))?;
            }
            Ok(None)
        }
        IndexItem::Slice {
            start, end, step, ..
        } => {
            let mut next = sizes.into_iter();
            let start = start.as_ref().and_then(|_| next.next());
            let end = end.as_ref().and_then(|_| next.next());
            let step = match step.as_ref().and_then(|_| next.next()) {
                None => 1,
                Some(s) => match s.as_const() {
                    Some(s) => s,
                    None => {
                        return Err(cx.error(CheckError::NotStatic {
                            what: "a slice's step, as a number,".to_string(),
                            loc: parts.last().map_or(at, |(_, l)| *l),
                        }))
                    }
                },
            };
            let text = format::index_item(item);
            slice_len(n, start, end, step, &text)
                .map(Some)
                .map_err(|detail| out_of_range(cx, detail, at))
        }
        IndexItem::Ellipsis(_) => unreachable!("`...` names no axis"),
    }
}

/// A bound as a size; anything else is reported.
fn size(cx: &mut Checker, ty: &Type, loc: Loc) -> Result<Dim, Type> {
    match ty {
        Type::Int(Some(d)) => Ok(d.clone()),
        Type::Error => Err(Type::Error),
        Type::Int(None) => Err(cx.error(CheckError::NotStatic {
            what: "a position or slice bound".to_string(),
            loc,
        })),
        Type::Tensor(_) => Err(cx.error(CheckError::Index {
            detail: "a tensor cannot index: positions are known when the program is compiled"
                .to_string(),
            loc,
            help: Some("to pick positions computed from data, use `take(table, ids)`".to_string()),
        })),
        Type::Range(..) => Err(cx.error(CheckError::Index {
            detail: "a range cannot index a tensor".to_string(),
            loc,
            help: Some("slices are written with a colon: `x[0:4]`".to_string()),
        })),
        other => Err(expr::wrong_kind(
            cx,
            "a position or slice bound",
            "an int",
            other,
            loc,
        )),
    }
}

fn out_of_range(cx: &mut Checker, detail: String, loc: Loc) -> Type {
    cx.error(CheckError::Index {
        detail,
        loc,
        help: None,
    })
}

/// The length of `start:end:step` of an axis of size `n`: exact when all
/// are numbers, in symbols otherwise (checked again, as numbers, when the
/// program is lowered).
fn slice_len(
    n: &Dim,
    start: Option<Dim>,
    end: Option<Dim>,
    step: i64,
    text: &str,
) -> Result<Dim, String> {
    let number = |d: &Option<Dim>| match d {
        None => Some(None),
        Some(d) => d.as_const().map(Some),
    };
    if let (Some(n), Some(s), Some(e)) = (n.as_const(), number(&start), number(&end)) {
        let Picked { len, .. } = index::slice(s, e, step, n, text)?;
        return Ok(Dim::constant(len));
    }
    if step == 0 {
        return Err("a slice's step cannot be 0".to_string());
    }
    let overflow = |_| format!("the slice `{text}` has a size that overflows");
    // A negative number counts from the end.
    let norm = |d: Dim| match d.as_const() {
        Some(v) if v < 0 => n.add(&d).map_err(overflow),
        _ => Ok(d),
    };
    let (first, stop) = if step > 0 {
        (
            start.map_or(Ok(Dim::constant(0)), norm)?,
            end.map_or(Ok(n.clone()), norm)?,
        )
    } else {
        (
            start.map_or_else(|| n.sub(&Dim::constant(1)).map_err(overflow), norm)?,
            end.map_or(Ok(Dim::constant(-1)), norm)?,
        )
    };
    let span = if step > 0 {
        stop.sub(&first)
    } else {
        first.sub(&stop)
    }
    .map_err(overflow)?;
    let stride = Dim::constant(step.abs());
    let len = span
        .add(&stride)
        .and_then(|d| d.sub(&Dim::constant(1)))
        .and_then(|d| d.div(&stride))
        .map_err(overflow)?;
    if len.as_const().is_some_and(|l| l < 1) {
        return Err(format!(
            "the slice `{text}` of an axis of size {n} is empty"
        ));
    }
    Ok(len)
}
