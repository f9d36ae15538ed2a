//! Lowering of `transpose`, `permute`, `stack`, `pad` and `arange`: each
//! a few of the IR's movement ops (`permute`, `reshape`, `concat`,
//! `broadcast`) or `iota`, so each has its derivative already.
//!
//! In a dataset's fields the batch axis is not the program's to name: the
//! axes written there count from the first per-sample axis (`lw.lead`).

use super::builtins::{axis, node, tensor, Args};
use super::eval::{Lowerer, R};
use super::value::Value;
use super::LowerError;
use crate::diagnostic::Loc;
use crate::ir::{DType, Op, Size, TensorTy};

pub(crate) fn transpose(lw: &mut Lowerer, a: &Args, loc: Loc) -> R<Value> {
    let x = tensor(lw, a, "x")?;
    let rank = lw.b.ty(x).rank();
    if rank < lw.lead + 2 {
        return Err(LowerError::new(
            "transpose needs at least 2 axes",
            Some(loc),
        ));
    }
    let i = if a.get("a").is_some() {
        axis(lw, a, "a", rank)?
    } else {
        rank - 2
    };
    let j = if a.get("b").is_some() {
        axis(lw, a, "b", rank)?
    } else {
        rank - 1
    };
    if i == j {
        return Ok(Value::Tensor(x));
    }
    let mut perm: Vec<usize> = (0..rank).collect();
    perm.swap(i, j);
    Ok(Value::Tensor(lw.b.op(Op::Permute(perm), &[x])))
}

pub(crate) fn permute(lw: &mut Lowerer, a: &Args, loc: Loc) -> R<Value> {
    let x = tensor(lw, a, "x")?;
    let rank = lw.b.ty(x).rank();
    let lead = lw.lead.min(rank);
    let Some(Value::List(items)) = a.get("axes") else {
        return Err(LowerError::new(
            "`axes` must be a list of ints",
            Some(a.loc("axes")),
        ));
    };
    let visible = (rank - lead) as i64;
    let mut perm: Vec<usize> = (0..lead).collect();
    for item in items {
        let Value::Int(v) = item else {
            return Err(LowerError::new(
                "`axes` must be a list of ints",
                Some(a.loc("axes")),
            ));
        };
        let v = if *v < 0 { v + visible } else { *v };
        if !(0..visible).contains(&v) || perm.contains(&(v as usize + lead)) {
            return Err(LowerError::new(
                "`axes` must name each axis exactly once",
                Some(a.loc("axes")),
            ));
        }
        perm.push(v as usize + lead);
    }
    if perm.len() != rank {
        return Err(LowerError::new(
            format!("`axes` names {} axes of {visible}", perm.len() - lead),
            Some(loc),
        ));
    }
    if perm.iter().enumerate().all(|(i, &p)| i == p) {
        return Ok(Value::Tensor(x));
    }
    Ok(Value::Tensor(lw.b.op(Op::Permute(perm), &[x])))
}

pub(crate) fn stack(lw: &mut Lowerer, a: &Args, loc: Loc) -> R<Value> {
    let Some(Value::List(items)) = a.get("xs").cloned() else {
        return Err(LowerError::new(
            "`xs` must be a list of tensors",
            Some(a.loc("xs")),
        ));
    };
    let mut nodes = Vec::with_capacity(items.len());
    for item in items {
        nodes.push(lw.node(item, a.loc("xs"))?);
    }
    let Some(&first) = nodes.first() else {
        return Err(LowerError::new("stack of an empty list", Some(loc)));
    };
    let shape = lw.b.ty(first).shape.clone();
    let rank = shape.len();
    // Where the new axis goes: 0..=rank past the hidden batch axes.
    let v = a.int("axis", Some(0))?;
    let at = if v < 0 {
        rank as i64 + 1 + v
    } else {
        v + lw.lead as i64
    };
    if at < lw.lead as i64 || at > rank as i64 {
        return Err(LowerError::new(
            format!("a new axis cannot go at {v}"),
            Some(a.loc("axis")),
        ));
    }
    let mut one = shape.clone();
    one.insert(at as usize, Size::ONE);
    let mut parts = Vec::with_capacity(nodes.len());
    for n in nodes {
        if lw.b.ty(n).shape != shape {
            return Err(LowerError::new(
                "stacked tensors must have one shape",
                Some(loc),
            ));
        }
        parts.push(lw.b.reshape(n, &one));
    }
    if parts.len() == 1 {
        return Ok(Value::Tensor(parts[0]));
    }
    node(
        lw,
        Op::Concat(at as usize),
        &parts,
        TensorTy::scalar(DType::F32),
        loc,
    )
}

pub(crate) fn pad(lw: &mut Lowerer, a: &Args, loc: Loc) -> R<Value> {
    let x = tensor(lw, a, "x")?;
    let widths = match a.get("width") {
        Some(Value::Int(w)) => (*w, *w),
        Some(Value::List(items)) => match items.as_slice() {
            [Value::Int(b), Value::Int(e)] => (*b, *e),
            _ => {
                return Err(LowerError::new(
                    "`width` must be `[before, after]`",
                    Some(a.loc("width")),
                ))
            }
        },
        _ => {
            return Err(LowerError::new(
                "`width` must be an int",
                Some(a.loc("width")),
            ))
        }
    };
    let (Ok(before), Ok(after)) = (usize::try_from(widths.0), usize::try_from(widths.1)) else {
        return Err(LowerError::new(
            "a width of `pad` cannot be negative",
            Some(a.loc("width")),
        ));
    };
    let value = a.float("value", 0.0)?;
    let rank = lw.b.ty(x).rank();
    let ax = if a.get("axis").is_some() {
        axis(lw, a, "axis", rank)?
    } else {
        rank - 1
    };
    if rank == lw.lead {
        return Err(LowerError::new("pad of a scalar", Some(loc)));
    }
    let ty = lw.b.ty(x).clone();
    let mut parts = Vec::with_capacity(3);
    let fill = |lw: &mut Lowerer, width: usize| {
        let mut shape = ty.shape.clone();
        shape[ax] = Size::fixed(width);
        let c = lw.b.constant(value, ty.dtype);
        lw.b.broadcast_to(c, &shape)
    };
    if before > 0 {
        parts.push(fill(lw, before));
    }
    parts.push(x);
    if after > 0 {
        parts.push(fill(lw, after));
    }
    if parts.len() == 1 {
        return Ok(Value::Tensor(x));
    }
    node(lw, Op::Concat(ax), &parts, TensorTy::scalar(ty.dtype), loc)
}

pub(crate) fn arange(lw: &mut Lowerer, a: &Args, _: Loc) -> R<Value> {
    let n = a.size("n", None)?;
    if n == 0 {
        return Err(LowerError::new(
            "`arange` needs n of at least 1",
            Some(a.loc("n")),
        ));
    }
    let ty = TensorTy::new(DType::I32, vec![Size::fixed(n)]);
    Ok(Value::Tensor(lw.b.add(Op::Iota(0), &[], ty)))
}
