//! Lowering of sliding windows: `conv` and pooling.
//!
//! The IR's `conv` has a stride and padding only. Dilation and groups are
//! rewrites of the kernel, so every back end, the derivatives and the ONNX
//! export have them with no op of their own: a dilated kernel is the kernel
//! with `dilation - 1` zeros between its taps, and a grouped one is the
//! block-diagonal kernel over all channels whose off-diagonal blocks are
//! zero. Both cost the work of the larger kernel (a grouped convolution
//! does `groups` times the multiplications it needs), which is the price
//! of having them everywhere at once.

use super::builtins::{node, tensor, Args};
use super::eval::{Lowerer, R};
use super::value::Value;
use super::LowerError;
use crate::diagnostic::Loc;
use crate::ir::{BinaryOp, DType, NodeId, Op, PoolKind, Size, TensorTy};

pub(crate) fn conv(lw: &mut Lowerer, a: &Args, loc: Loc) -> R<Value> {
    let (x, w) = (tensor(lw, a, "x")?, tensor(lw, a, "w")?);
    let stride = a.size("stride", Some(1))?;
    let pad = a.size("pad", Some(0))?;
    let dilation = at_least_one(a, "dilation")?;
    let groups = at_least_one(a, "groups")?;
    let mut w = w;
    if groups > 1 {
        w = block_diagonal(lw, w, groups, a.loc("groups"))?;
    }
    if dilation > 1 {
        w = dilated(lw, w, dilation, 2, loc)?;
        w = dilated(lw, w, dilation, 3, loc)?;
    }
    let op = Op::Conv { stride, pad };
    node(lw, op, &[x, w], TensorTy::scalar(DType::F32), loc)
}

fn at_least_one(a: &Args, name: &str) -> R<usize> {
    match a.size(name, Some(1))? {
        0 => Err(LowerError::new(
            format!("`{name}` must be 1 or more"),
            Some(a.loc(name)),
        )),
        v => Ok(v),
    }
}

/// The kernel's fixed dims `[O, I, KH, KW]`.
fn kernel_dims(lw: &Lowerer, w: NodeId, loc: Loc) -> R<[usize; 4]> {
    let dims: Option<Vec<usize>> = lw.b.ty(w).shape.iter().map(|d| d.as_fixed()).collect();
    match dims.as_deref() {
        Some(&[o, i, kh, kw]) => Ok([o, i, kh, kw]),
        _ => Err(LowerError::new(
            "a dilated or grouped convolution needs a kernel of fixed size [O, I, KH, KW]",
            Some(loc),
        )),
    }
}

/// `w[O, I, KH, KW]` with `dilation - 1` zeros between the taps along
/// `axis` (2 or 3): `[.., (K - 1) * dilation + 1, ..]`.
fn dilated(lw: &mut Lowerer, w: NodeId, dilation: usize, axis: usize, loc: Loc) -> R<NodeId> {
    let dims = kernel_dims(lw, w, loc)?;
    let k = dims[axis];
    // [.., K, ..] -> [.., K, 1, ..], then zeros beside each tap: [.., K, dilation, ..].
    let fixed = |d: &[usize]| d.iter().map(|&n| Size::fixed(n)).collect::<Vec<_>>();
    let mut split = dims.to_vec();
    split.insert(axis + 1, 1);
    let taps = lw.b.reshape(w, &fixed(&split));
    let mut gap = split.clone();
    gap[axis + 1] = dilation - 1;
    let zero = lw.b.constant(0.0, DType::F32);
    let zeros = lw.b.broadcast_to(zero, &fixed(&gap));
    let spaced = add(lw, Op::Concat(axis + 1), &[taps, zeros], loc)?;
    let mut long = dims.to_vec();
    long[axis] = k * dilation;
    let long = lw.b.reshape(spaced, &fixed(&long));
    // The zeros after the last tap are not part of the kernel.
    let op = Op::Slice {
        axis,
        start: Size::fixed(0),
        end: Size::fixed((k - 1) * dilation + 1),
    };
    add(lw, op, &[long], loc)
}

/// `w[O, I, KH, KW]` (`I` channels per group) as the kernel over all
/// `groups * I` channels, `[O, groups * I, KH, KW]`, zero where an output
/// channel's group is not the input channel's.
fn block_diagonal(lw: &mut Lowerer, w: NodeId, groups: usize, loc: Loc) -> R<NodeId> {
    let [o, i, kh, kw] = kernel_dims(lw, w, loc)?;
    if o % groups != 0 {
        return Err(LowerError::new(
            format!("{o} output channels cannot be split into {groups} groups: `groups` must divide dim 0 of w"),
            Some(loc),
        ));
    }
    let fixed = |d: &[usize]| d.iter().map(|&n| Size::fixed(n)).collect::<Vec<_>>();
    let full = fixed(&[groups, o / groups, groups, i, kh, kw]);
    let w = lw.b.reshape(w, &fixed(&[groups, o / groups, 1, i, kh, kw]));
    let w = lw.b.broadcast_to(w, &full);
    // Output group (axis 0) equals input group (axis 2).
    let index = |lw: &mut Lowerer, axis: usize| {
        lw.b.add(Op::Iota(axis), &[], TensorTy::new(DType::I32, full.clone()))
    };
    let (out_group, in_group) = (index(lw, 0), index(lw, 2));
    let same = lw.b.binary(BinaryOp::Eq, out_group, in_group);
    let mask = lw.b.cast(same, DType::F32);
    let masked = lw.b.binary(BinaryOp::Mul, w, mask);
    Ok(lw.b.reshape(masked, &fixed(&[o, groups * i, kh, kw])))
}

/// An f32 node whose shape the IR infers.
fn add(lw: &mut Lowerer, op: Op, args: &[NodeId], loc: Loc) -> R<NodeId> {
    lw.b.try_add(op, args, TensorTy::scalar(DType::F32))
        .map_err(|e| LowerError::new(e.0, Some(loc)))
}

pub(crate) fn max_pool(lw: &mut Lowerer, a: &Args, loc: Loc) -> R<Value> {
    pool(lw, a, loc, PoolKind::Max)
}

pub(crate) fn avg_pool(lw: &mut Lowerer, a: &Args, loc: Loc) -> R<Value> {
    pool(lw, a, loc, PoolKind::Avg)
}

fn pool(lw: &mut Lowerer, a: &Args, loc: Loc, kind: PoolKind) -> R<Value> {
    let x = tensor(lw, a, "x")?;
    let k = a.size("k", None)?;
    let stride = a.size("stride", Some(k))?;
    let op = Op::Pool { kind, k, stride };
    node(lw, op, &[x], TensorTy::scalar(DType::F32), loc)
}
