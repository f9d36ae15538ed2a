//! Lowering of the built-in functions: each row of the checker's table
//! (`check::builtins`) says how its calls lower ([`Lower`]) — an
//! elementwise op of the IR, or one of the functions here (tensor
//! built-ins) and in [`super::settings`] (initialisers, data sources).

use super::eval::{Arg, Lowerer, R};
use super::ops::broadcast_shapes;
use super::types::shape_text;
use super::value::Value;
use super::LowerError;
use crate::diagnostic::Loc;
use crate::ir::{BinaryOp, DType, Dist, Hyper, Input, NodeId, Op, RandomKey, ReduceOp};
use crate::ir::{Size, TensorTy, UnaryOp};

/// How calls of a built-in lower.
#[derive(Clone, Copy)]
pub(crate) enum Lower {
    /// The IR's elementwise op on a float (host numbers fold by its
    /// scalar rule).
    Unary(UnaryOp),
    /// The IR's elementwise op on two operands, broadcast (host numbers
    /// fold by its scalar rule).
    Pairwise(BinaryOp),
    /// Anything else.
    With(fn(&mut Lowerer, &Args, Loc) -> R<Value>),
}

/// The arguments of a built-in call, by the built-in's parameter names.
pub(crate) struct Args {
    names: &'static [(&'static str, bool)],
    values: Vec<Option<(Value, Loc)>>,
    call: Loc,
}

impl Args {
    pub fn get(&self, name: &str) -> Option<&Value> {
        let i = self.names.iter().position(|(n, _)| *n == name)?;
        self.values[i].as_ref().map(|(v, _)| v)
    }

    pub fn loc(&self, name: &str) -> Loc {
        self.names
            .iter()
            .position(|(n, _)| *n == name)
            .and_then(|i| self.values[i].as_ref().map(|(_, l)| *l))
            .unwrap_or(self.call)
    }

    pub fn required(&self, name: &str) -> R<Value> {
        self.get(name)
            .cloned()
            .ok_or_else(|| LowerError::new(format!("missing argument `{name}`"), Some(self.call)))
    }

    pub fn float(&self, name: &str, default: f64) -> R<f64> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v.as_f64().ok_or_else(|| {
                LowerError::new(format!("`{name}` must be a number"), Some(self.loc(name)))
            }),
        }
    }

    pub fn int(&self, name: &str, default: Option<i64>) -> R<i64> {
        match (self.get(name), default) {
            (Some(Value::Int(v)), _) => Ok(*v),
            (None, Some(d)) => Ok(d),
            _ => Err(LowerError::new(
                format!("`{name}` must be a whole number"),
                Some(self.loc(name)),
            )),
        }
    }

    pub fn size(&self, name: &str, default: Option<usize>) -> R<usize> {
        let v = self.int(name, default.map(|d| d as i64))?;
        usize::try_from(v).map_err(|_| {
            LowerError::new(format!("`{name}` cannot be negative"), Some(self.loc(name)))
        })
    }
}

fn bind(b: &crate::check::builtins::Builtin, args: Vec<Arg>, call: Loc) -> R<Args> {
    let mut values: Vec<Option<(Value, Loc)>> = vec![None; b.params.len()];
    let mut next = 0;
    for a in args {
        let i = match &a.name {
            Some(n) => b.params.iter().position(|(p, _)| p == n),
            None => {
                next += 1;
                (next <= b.params.len()).then_some(next - 1)
            }
        };
        let Some(i) = i else {
            return Err(LowerError::new("unexpected argument", Some(a.loc)));
        };
        values[i] = Some((a.value, a.loc));
    }
    Ok(Args {
        names: b.params,
        values,
        call,
    })
}

/// A call of the built-in `name`.
pub(super) fn call(lw: &mut Lowerer, name: &'static str, args: Vec<Arg>, loc: Loc) -> R<Value> {
    let Some(b) = crate::check::builtins::find(name) else {
        return Err(LowerError::new(
            format!("unknown built-in `{name}`"),
            Some(loc),
        ));
    };
    let a = bind(b, args, loc)?;
    match b.lower {
        Lower::Unary(u) => unary(lw, u, &a),
        Lower::Pairwise(op) => pairwise(lw, op, &a, loc),
        Lower::With(f) => f(lw, &a, loc),
    }
}

pub(super) fn tensor(lw: &mut Lowerer, a: &Args, key: &str) -> R<NodeId> {
    lw.node(a.required(key)?, a.loc(key))
}

/// `try_add` with the error at the call.
pub(super) fn node(
    lw: &mut Lowerer,
    op: Op,
    args: &[NodeId],
    given: TensorTy,
    loc: Loc,
) -> R<Value> {
    lw.b.try_add(op, args, given)
        .map(Value::Tensor)
        .map_err(|e| LowerError::new(e.0, Some(loc)))
}

fn unary(lw: &mut Lowerer, u: UnaryOp, a: &Args) -> R<Value> {
    let x = a.required("x")?;
    if let Some(v) = x.as_f64() {
        // Folded by the IR's own scalar rule, as it would run.
        return Ok(Value::Float(u.float(v).unwrap_or(f64::NAN)));
    }
    let mut n = lw.node(x, a.loc("x"))?;
    if !lw.b.ty(n).dtype.is_float() {
        n = lw.b.cast(n, DType::F32);
    }
    Ok(Value::Tensor(lw.b.unary(u, n)))
}

fn pairwise(lw: &mut Lowerer, op: BinaryOp, a: &Args, loc: Loc) -> R<Value> {
    let (x, y) = (a.required("a")?, a.required("b")?);
    match (&x, &y) {
        (Value::Int(p), Value::Int(q)) if op != BinaryOp::Pow => {
            return Ok(Value::Int(op.arith(*p, *q).unwrap_or(0)))
        }
        (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
            let (p, q) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            return Ok(Value::Float(op.arith(p, q).unwrap_or(f64::NAN)));
        }
        _ => {}
    }
    lw.elementwise(op, &[x, y], loc).map(Value::Tensor)
}

pub(crate) fn select(lw: &mut Lowerer, a: &Args, loc: Loc) -> R<Value> {
    let (c, x, y) = (a.required("cond")?, a.required("a")?, a.required("b")?);
    if let Value::Bool(b) = c {
        return Ok(if b { x } else { y });
    }
    let branches = lw.operands(&[x, y], loc)?;
    let c = lw.node(c, a.loc("cond"))?;
    let shape = broadcast_shapes(&lw.b.ty(c).shape, &lw.b.ty(branches[0]).shape)
        .ok_or_else(|| LowerError::new("the condition does not broadcast", Some(loc)))?;
    let c = lw.b.broadcast_to(c, &shape);
    let x = lw.b.broadcast_to(branches[0], &shape);
    let y = lw.b.broadcast_to(branches[1], &shape);
    node(
        lw,
        Op::Select,
        &[c, x, y],
        TensorTy::scalar(DType::F32),
        loc,
    )
}

pub(crate) fn sum(lw: &mut Lowerer, a: &Args, loc: Loc) -> R<Value> {
    reduction(lw, a, loc, ReduceOp::Sum, false)
}

pub(crate) fn mean(lw: &mut Lowerer, a: &Args, loc: Loc) -> R<Value> {
    reduction(lw, a, loc, ReduceOp::Sum, true)
}

pub(crate) fn reduce_max(lw: &mut Lowerer, a: &Args, loc: Loc) -> R<Value> {
    reduction(lw, a, loc, ReduceOp::Max, false)
}

pub(crate) fn reduce_min(lw: &mut Lowerer, a: &Args, loc: Loc) -> R<Value> {
    reduction(lw, a, loc, ReduceOp::Min, false)
}

/// `op` over `axis` (every per-sample axis when omitted), divided by the
/// count for a mean.
fn reduction(lw: &mut Lowerer, a: &Args, loc: Loc, op: ReduceOp, mean: bool) -> R<Value> {
    let x = tensor(lw, a, "x")?;
    let shape = lw.b.ty(x).shape.clone();
    let keep = matches!(a.get("keepdims"), Some(Value::Bool(true)));
    let axes: Vec<usize> = match a.get("axis") {
        None => (lw.lead.min(shape.len())..shape.len()).collect(),
        Some(_) => vec![axis(lw, a, "axis", shape.len())?],
    };
    let mut x = x;
    let dtype = lw.b.ty(x).dtype;
    if mean && !dtype.is_float() {
        x = lw.b.cast(x, DType::F32);
    } else if dtype == DType::Bool {
        x = lw.b.cast(x, DType::I32);
    }
    let mut r = lw.b.reduce(op, x, axes.clone());
    if mean {
        let reduced: Vec<Size> = axes.iter().map(|&i| shape[i]).collect();
        let count = Size::product(&reduced)
            .ok_or_else(|| LowerError::new("the mean is over B*B elements", Some(loc)))?;
        let count = if count == Size::fixed(0) {
            Size::ONE
        } else {
            count
        };
        let dtype = lw.b.ty(r).dtype;
        let c = lw.b.size_of(count, dtype);
        let rshape = lw.b.ty(r).shape.clone();
        let c = lw.b.broadcast_to(c, &rshape);
        r = lw.b.binary(BinaryOp::Div, r, c);
    }
    if keep {
        let kept: Vec<Size> = shape
            .iter()
            .enumerate()
            .map(|(i, &d)| if axes.contains(&i) { Size::ONE } else { d })
            .collect();
        r = lw.b.reshape(r, &kept);
    }
    Ok(Value::Tensor(r))
}

pub(crate) fn argmax(lw: &mut Lowerer, a: &Args, loc: Loc) -> R<Value> {
    let x = tensor(lw, a, "x")?;
    let rank = lw.b.ty(x).rank();
    let ax = if a.get("axis").is_some() {
        axis(lw, a, "axis", rank)?
    } else if rank == 0 {
        return Err(LowerError::new("argmax of a scalar", Some(loc)));
    } else {
        rank - 1
    };
    node(lw, Op::ArgMax(ax), &[x], TensorTy::scalar(DType::I32), loc)
}

pub(crate) fn reshape(lw: &mut Lowerer, a: &Args, loc: Loc) -> R<Value> {
    let x = tensor(lw, a, "x")?;
    let have = lw.b.ty(x).shape.clone();
    let Value::List(items) = a.required("shape")? else {
        return Err(LowerError::new(
            "`shape` must be a list of sizes",
            Some(a.loc("shape")),
        ));
    };
    let mut shape = have[..lw.lead.min(have.len())].to_vec();
    for i in items {
        match i {
            Value::Int(v) if v >= 0 => shape.push(Size::fixed(v as usize)),
            Value::Size(s) => shape.push(s),
            Value::Group(dims) => shape.extend(dims),
            _ => {
                return Err(LowerError::new(
                    "sizes must be whole numbers",
                    Some(a.loc("shape")),
                ))
            }
        }
    }
    if Size::product(&shape).is_none() || Size::product(&shape) != Size::product(&have) {
        return Err(LowerError::new(
            format!(
                "cannot reshape {} to {}: the element counts differ",
                shape_text(&have),
                shape_text(&shape)
            ),
            Some(loc),
        ));
    }
    Ok(Value::Tensor(lw.b.reshape(x, &shape)))
}

pub(crate) fn concat(lw: &mut Lowerer, a: &Args, loc: Loc) -> R<Value> {
    let Value::List(items) = a.required("xs")? else {
        return Err(LowerError::new(
            "`xs` must be a list of tensors",
            Some(a.loc("xs")),
        ));
    };
    let mut nodes = Vec::new();
    for i in items {
        nodes.push(lw.node(i, a.loc("xs"))?);
    }
    let Some(&first) = nodes.first() else {
        return Err(LowerError::new("concat of an empty list", Some(loc)));
    };
    let rank = lw.b.ty(first).rank();
    let ax = if a.get("axis").is_some() {
        axis(lw, a, "axis", rank)?
    } else {
        lw.lead.min(rank)
    };
    node(
        lw,
        Op::Concat(ax),
        &nodes,
        TensorTy::scalar(DType::F32),
        loc,
    )
}

pub(crate) fn one_hot(lw: &mut Lowerer, a: &Args, _: Loc) -> R<Value> {
    let labels = tensor(lw, a, "labels")?;
    let n = match a.get("n") {
        Some(_) => a.size("n", None)?,
        None => *lw.classes.get(&labels).ok_or_else(|| {
            LowerError::new(
                "the number of classes is not known here: pass `n`",
                Some(a.loc("labels")),
            )
        })?,
    };
    Ok(Value::Tensor(one_hot_node(lw, labels, n)))
}

/// `labels[..]` as `f32[.., n]`: 1 at each label's class, 0 elsewhere.
pub(super) fn one_hot_node(lw: &mut Lowerer, labels: NodeId, n: usize) -> NodeId {
    let labels = lw.b.cast(labels, DType::I32);
    let mut shape = lw.b.ty(labels).shape.clone();
    let mut col = shape.clone();
    col.push(Size::ONE);
    shape.push(Size::fixed(n));
    let l = lw.b.reshape(labels, &col);
    let l = lw.b.broadcast_to(l, &shape);
    let iota = lw.b.add(
        Op::Iota(shape.len() - 1),
        &[],
        TensorTy::new(DType::I32, shape),
    );
    let hit = lw.b.binary(BinaryOp::Eq, l, iota);
    lw.b.cast(hit, DType::F32)
}

pub(crate) fn take(lw: &mut Lowerer, a: &Args, loc: Loc) -> R<Value> {
    let (table, ids) = (tensor(lw, a, "table")?, tensor(lw, a, "ids")?);
    let ids = lw.b.cast(ids, DType::I32);
    node(
        lw,
        Op::Gather,
        &[table, ids],
        TensorTy::scalar(DType::F32),
        loc,
    )
}

pub(crate) fn random_uniform(lw: &mut Lowerer, a: &Args, _: Loc) -> R<Value> {
    random(lw, a, Dist::Uniform)
}

pub(crate) fn random_normal(lw: &mut Lowerer, a: &Args, _: Loc) -> R<Value> {
    random(lw, a, Dist::Normal)
}

pub(crate) fn flip(lw: &mut Lowerer, a: &Args, loc: Loc) -> R<Value> {
    let x = tensor(lw, a, "x")?;
    let ax = flip_axis(lw, a, x)?;
    reversed(lw, x, ax, loc).map(Value::Tensor)
}

pub(crate) fn random_flip(lw: &mut Lowerer, a: &Args, loc: Loc) -> R<Value> {
    let x = tensor(lw, a, "x")?;
    if !lw.training() {
        return Ok(Value::Tensor(x));
    }
    let ax = flip_axis(lw, a, x)?;
    let p = a.float("p", 0.5)?;
    let flipped = reversed(lw, x, ax, loc)?;
    // One draw per sample: the whole sample flips or not.
    let u = per_sample_draw(lw, x);
    let shape = lw.b.ty(u).shape.clone();
    let p = lw.b.constant(p, DType::F32);
    let p = lw.b.broadcast_to(p, &shape);
    let hit = lw.b.binary(BinaryOp::Lt, u, p);
    let shape = lw.b.ty(x).shape.clone();
    let hit = lw.b.broadcast_to(hit, &shape);
    Ok(Value::Tensor(lw.b.select(hit, flipped, x)))
}

fn flip_axis(lw: &Lowerer, a: &Args, x: NodeId) -> R<usize> {
    let rank = lw.b.ty(x).rank();
    match a.get("axis") {
        Some(_) => axis(lw, a, "axis", rank),
        None => Ok(rank - 1),
    }
}

/// `x` in reverse order along `axis`: that axis brought to the front and
/// the others folded into one, the rows gathered last to first, and the
/// result unfolded and put back.
pub(super) fn reversed(lw: &mut Lowerer, x: NodeId, axis: usize, loc: Loc) -> R<NodeId> {
    let ty = lw.b.ty(x).clone();
    let rank = ty.rank();
    let mut perm = vec![axis];
    perm.extend((0..rank).filter(|&i| i != axis));
    let front = if axis == 0 {
        x
    } else {
        lw.b.op(Op::Permute(perm.clone()), &[x])
    };
    let front_shape = lw.b.ty(front).shape.clone();
    let n = ty.shape[axis];
    let width = Size::product(&front_shape[1..])
        .ok_or_else(|| LowerError::new("cannot flip: the other axes' sizes overflow", Some(loc)))?;
    let table = lw.b.reshape(front, &[n, width]);
    let iota =
        lw.b.add(Op::Iota(0), &[], TensorTy::new(DType::I32, vec![n]));
    let count = lw.b.size_of(n, DType::I32);
    let one = lw.b.constant(1.0, DType::I32);
    let last = lw.b.binary(BinaryOp::Sub, count, one);
    let last = lw.b.broadcast_to(last, &[n]);
    let ids = lw.b.binary(BinaryOp::Sub, last, iota);
    let rows =
        lw.b.add(Op::Gather, &[table, ids], TensorTy::scalar(DType::F32));
    let unfolded = lw.b.reshape(rows, &front_shape);
    if axis == 0 {
        return Ok(unfolded);
    }
    let mut back = vec![0; rank];
    for (i, &p) in perm.iter().enumerate() {
        back[p] = i;
    }
    Ok(lw.b.op(Op::Permute(back), &[unfolded]))
}

/// One uniform draw per sample of `x`, shaped to broadcast against it
/// (`[B, 1, 1]` for `x[B, H, W]`); one per step when it has no batch axis.
fn per_sample_draw(lw: &mut Lowerer, x: NodeId) -> NodeId {
    let ty = lw.b.ty(x).clone();
    match ty.shape.iter().position(|&s| s == Size::BATCH) {
        Some(b) => {
            let u = draw(
                lw,
                TensorTy::new(DType::F32, vec![Size::BATCH]),
                Dist::Uniform,
            );
            let mut shape = vec![Size::ONE; ty.rank()];
            shape[b] = Size::BATCH;
            lw.b.reshape(u, &shape)
        }
        None => {
            let u = draw(lw, TensorTy::scalar(DType::F32), Dist::Uniform);
            lw.b.reshape(u, &vec![Size::ONE; ty.rank()])
        }
    }
}

pub(crate) fn random_crop(lw: &mut Lowerer, a: &Args, loc: Loc) -> R<Value> {
    let x = tensor(lw, a, "x")?;
    let size = a.size("size", None)?;
    let pad = a.size("pad", Some(0))?;
    let ty = lw.b.ty(x).clone();
    let rank = ty.rank();
    let (h, w) = image_sides(lw, x, "random_crop", loc)?;
    let (hp, wp) = (h + 2 * pad, w + 2 * pad);
    if size == 0 || size > hp || size > wp {
        return Err(LowerError::new(
            format!("a {size} x {size} window does not fit a {h} x {w} image padded by {pad}"),
            Some(a.loc("size")),
        ));
    }
    let padded = zero_padded(lw, x, pad);
    let (top, left) = if lw.training() {
        (
            random_start(lw, x, hp - size + 1),
            random_start(lw, x, wp - size + 1),
        )
    } else {
        let mut centre = |n: usize| lw.b.constant(((n - size) / 2) as f64, DType::I32);
        let (t, l) = (centre(hp), centre(wp));
        let ones = vec![Size::ONE; rank];
        (lw.b.reshape(t, &ones), lw.b.reshape(l, &ones))
    };
    let rows = window(lw, padded, top, size, loc)?;
    let turned = lw.b.transpose_last(rows);
    let both = window(lw, turned, left, size, loc)?;
    Ok(Value::Tensor(lw.b.transpose_last(both)))
}

pub(crate) fn crop(lw: &mut Lowerer, a: &Args, loc: Loc) -> R<Value> {
    let x = tensor(lw, a, "x")?;
    let size = a.size("size", None)?;
    let ty = lw.b.ty(x).clone();
    let rank = ty.rank();
    let (h, w) = image_sides(lw, x, "crop", loc)?;
    if size == 0 || size > h || size > w {
        return Err(LowerError::new(
            format!("a {size} x {size} window does not fit a {h} x {w} image"),
            Some(a.loc("size")),
        ));
    }
    let top = offset(lw, a, "top", rank, h - size)?;
    let left = offset(lw, a, "left", rank, w - size)?;
    let rows = window(lw, x, top, size, loc)?;
    let turned = lw.b.transpose_last(rows);
    let both = window(lw, turned, left, size, loc)?;
    Ok(Value::Tensor(lw.b.transpose_last(both)))
}

/// A `crop` offset as `window` takes it: i32, within `0..=last`, shaped
/// `[B, 1, .., 1]` (one per sample) or all ones (one for every sample).
fn offset(lw: &mut Lowerer, a: &Args, key: &str, rank: usize, last: usize) -> R<NodeId> {
    let at = a.loc(key);
    let start = match a.required(key)? {
        Value::Int(v) => lw.b.constant(v.clamp(0, last as i64) as f64, DType::I32),
        Value::Tensor(t) => {
            let t = lw.b.cast(t, DType::I32);
            let shape = lw.b.ty(t).shape.clone();
            let low = lw.b.constant(0.0, DType::I32);
            let high = lw.b.constant(last as f64, DType::I32);
            let (low, high) = (
                lw.b.broadcast_to(low, &shape),
                lw.b.broadcast_to(high, &shape),
            );
            let t = lw.b.binary(BinaryOp::Min, t, high);
            lw.b.binary(BinaryOp::Max, t, low)
        }
        other => {
            return Err(LowerError::new(
                format!(
                    "`{key}` must be an int or an integer tensor, not {}",
                    other.kind()
                ),
                Some(at),
            ))
        }
    };
    let mut shape = lw.b.ty(start).shape.clone();
    if shape.len() > 1 {
        return Err(LowerError::new(
            format!("`{key}` must hold one value per sample"),
            Some(at),
        ));
    }
    shape.resize(rank, Size::ONE);
    Ok(lw.b.reshape(start, &shape))
}

pub(crate) fn random_erasing(lw: &mut Lowerer, a: &Args, loc: Loc) -> R<Value> {
    let x = tensor(lw, a, "x")?;
    if !lw.training() {
        return Ok(Value::Tensor(x));
    }
    let size = a.size("size", None)?;
    let p = a.float("p", 0.5)?;
    let ty = lw.b.ty(x).clone();
    let rank = ty.rank();
    let (h, w) = image_sides(lw, x, "random_erasing", loc)?;
    if size == 0 || size > h || size > w {
        return Err(LowerError::new(
            format!("a {size} x {size} square does not fit a {h} x {w} image"),
            Some(a.loc("size")),
        ));
    }
    // Per sample: where the square goes, and whether there is one.
    let top = random_start(lw, x, h - size + 1);
    let left = random_start(lw, x, w - size + 1);
    let u = per_sample_draw(lw, x);
    let p = lw.b.constant(p, DType::F32);
    let p = lw.b.broadcast_to(p, &lw.b.ty(u).shape.clone());
    let mut erased = lw.b.binary(BinaryOp::Lt, u, p);
    let shape = ty.shape.clone();
    erased = lw.b.broadcast_to(erased, &shape);
    for (axis, start) in [(rank - 2, top), (rank - 1, left)] {
        let at = lw.b.add(
            Op::Iota(axis),
            &[],
            TensorTy::new(DType::I32, shape.clone()),
        );
        let n = lw.b.constant(size as f64, DType::I32);
        let n = lw.b.broadcast_to(n, &lw.b.ty(start).shape.clone());
        let end = lw.b.binary(BinaryOp::Add, start, n);
        let (start, end) = (
            lw.b.broadcast_to(start, &shape),
            lw.b.broadcast_to(end, &shape),
        );
        let after_start = lw.b.binary(BinaryOp::Ge, at, start);
        let before_end = lw.b.binary(BinaryOp::Lt, at, end);
        let inside = lw.b.binary(BinaryOp::And, after_start, before_end);
        erased = lw.b.binary(BinaryOp::And, erased, inside);
    }
    let zero = lw.b.constant(0.0, ty.dtype);
    let zero = lw.b.broadcast_to(zero, &shape);
    Ok(Value::Tensor(lw.b.select(erased, zero, x)))
}

/// The height and width of the image `x[.., H, W]` of `name`.
fn image_sides(lw: &Lowerer, x: NodeId, name: &str, loc: Loc) -> R<(usize, usize)> {
    let shape = &lw.b.ty(x).shape;
    let side = |from_end: usize| {
        shape
            .len()
            .checked_sub(from_end)
            .and_then(|i| shape[i].as_fixed())
    };
    match (side(2), side(1)) {
        (Some(h), Some(w)) => Ok((h, w)),
        _ => Err(LowerError::new(
            format!("{name} needs an image whose height and width do not depend on the batch"),
            Some(loc),
        )),
    }
}

/// `x` with `pad` zeros before and after its last two axes.
fn zero_padded(lw: &mut Lowerer, x: NodeId, pad: usize) -> NodeId {
    if pad == 0 {
        return x;
    }
    let mut x = x;
    for axis in [lw.b.ty(x).rank() - 2, lw.b.ty(x).rank() - 1] {
        let mut shape = lw.b.ty(x).shape.clone();
        shape[axis] = Size::fixed(pad);
        let zero = lw.b.constant(0.0, DType::F32);
        let zeros = lw.b.broadcast_to(zero, &shape);
        x = lw.b.op(Op::Concat(axis), &[zeros, x, zeros]);
    }
    x
}

/// A random start in `0..count` per sample of `x` (i32, shaped to
/// broadcast against it).
fn random_start(lw: &mut Lowerer, x: NodeId, count: usize) -> NodeId {
    let u = per_sample_draw(lw, x);
    let shape = lw.b.ty(u).shape.clone();
    let n = lw.b.constant(count as f64, DType::F32);
    let n = lw.b.broadcast_to(n, &shape);
    let scaled = lw.b.binary(BinaryOp::Mul, u, n);
    let start = lw.b.cast(scaled, DType::I32);
    // u * count rounds up to count when u is within an ulp of 1.
    let last = lw.b.constant((count - 1) as f64, DType::I32);
    let last = lw.b.broadcast_to(last, &shape);
    lw.b.binary(BinaryOp::Min, start, last)
}

/// The `size` rows from `start` on along the second-to-last axis of
/// `x[L.., N, M]`, `start` per sample (shaped `[B, 1.., 1, 1]` like `x`):
/// `[L.., size, M]`, gathered from `x` folded into rows.
fn window(lw: &mut Lowerer, x: NodeId, start: NodeId, size: usize, loc: Loc) -> R<NodeId> {
    let ty = lw.b.ty(x).clone();
    let rank = ty.rank();
    let (lead, n, m) = (
        &ty.shape[..rank - 2],
        ty.shape[rank - 2],
        ty.shape[rank - 1],
    );
    let overflow = || LowerError::new("cannot crop: the image's sizes overflow", Some(loc));
    let rows = Size::product(lead)
        .and_then(|l| l.checked_mul(n))
        .ok_or_else(overflow)?;
    let table = lw.b.reshape(x, &[rows, m]);
    let mut shape = lead.to_vec();
    shape.push(Size::fixed(size));
    // Each leading position's row number, times `n`, plus start and offset.
    let mut ids = lw.b.add(
        Op::Iota(shape.len() - 1),
        &[],
        TensorTy::new(DType::I32, shape.clone()),
    );
    let mut stride = n;
    for k in (0..lead.len()).rev() {
        let Some(fixed) = stride.as_fixed() else {
            return Err(LowerError::new(
                "random_crop needs the batch axis first",
                Some(loc),
            ));
        };
        let iota =
            lw.b.add(Op::Iota(k), &[], TensorTy::new(DType::I32, shape.clone()));
        let s = lw.b.constant(fixed as f64, DType::I32);
        let s = lw.b.broadcast_to(s, &shape);
        let term = lw.b.binary(BinaryOp::Mul, iota, s);
        ids = lw.b.binary(BinaryOp::Add, ids, term);
        stride = stride.checked_mul(lead[k]).ok_or_else(overflow)?;
    }
    // `start` is shaped like `x` ([B, 1, 1, 1]); the ids have one axis less.
    let start_shape = lw.b.ty(start).shape.clone();
    let start = lw.b.reshape(start, &start_shape[..rank - 1]);
    let start = lw.b.broadcast_to(start, &shape);
    let ids = lw.b.binary(BinaryOp::Add, ids, start);
    Ok(lw
        .b
        .add(Op::Gather, &[table, ids], TensorTy::scalar(DType::F32)))
}

pub(crate) fn training(lw: &mut Lowerer, _: &Args, _: Loc) -> R<Value> {
    Ok(Value::Bool(lw.training()))
}

/// An `axis` argument as an index into a tensor of `rank` axes; negative
/// counts from the end, non-negative counts past the batch axis of
/// per-sample code.
pub(super) fn axis(lw: &Lowerer, a: &Args, key: &str, rank: usize) -> R<usize> {
    let v = a.int(key, None)?;
    let i = if v < 0 {
        rank as i64 + v
    } else {
        v + lw.lead as i64
    };
    if i < 0 || i >= rank as i64 {
        return Err(LowerError::new(
            format!(
                "axis {v} is out of range for a tensor of {} axes",
                rank - lw.lead.min(rank)
            ),
            Some(a.loc(key)),
        ));
    }
    Ok(i as usize)
}

/// `a @ b` with NumPy's rules: vectors are promoted and the added axis
/// dropped again; leading axes broadcast.
pub(super) fn matmul(lw: &mut Lowerer, a: NodeId, b: NodeId, loc: Loc) -> R<NodeId> {
    let err = |msg: String| LowerError::new(msg, Some(loc));
    let text = shape_text;
    let (mut a, mut b) = (a, b);
    let (da, db) = (lw.b.ty(a).dtype, lw.b.ty(b).dtype);
    let dtype = if da == DType::F64 || db == DType::F64 {
        DType::F64
    } else {
        DType::F32
    };
    a = lw.b.cast(a, dtype);
    b = lw.b.cast(b, dtype);
    let sa = lw.b.ty(a).shape.clone();
    let sb = lw.b.ty(b).shape.clone();
    if sa.is_empty() || sb.is_empty() {
        return Err(err("`@` needs tensors with at least one axis".into()));
    }
    let a_vec = sa.len() == 1;
    let b_vec = sb.len() == 1;
    let sa2 = if a_vec {
        vec![Size::ONE, sa[0]]
    } else {
        sa.clone()
    };
    let sb2 = if b_vec {
        vec![sb[0], Size::ONE]
    } else {
        sb.clone()
    };
    a = lw.b.reshape(a, &sa2);
    b = lw.b.reshape(b, &sb2);
    let (k1, k2) = (sa2[sa2.len() - 1], sb2[sb2.len() - 2]);
    if k1 != k2 {
        return Err(err(format!(
            "`@` of {} and {}: inner sizes {k1} and {k2} differ",
            text(&sa),
            text(&sb)
        )));
    }
    let (m, n) = (sa2[sa2.len() - 2], sb2[sb2.len() - 1]);
    let out = if sb2.len() == 2 {
        // The common case, `x[..N, I] @ w[I, O]`: one 2-D product.
        let lead: Vec<Size> = sa2[..sa2.len() - 2].to_vec();
        let rows = Size::product(&lead)
            .and_then(|l| l.checked_mul(m))
            .ok_or_else(|| err("`@` of a tensor with B*B rows".into()))?;
        let flat = lw.b.reshape(a, &[rows, k1]);
        let prod = lw.b.op(Op::MatMul, &[flat, b]);
        let mut shape = lead;
        shape.extend([m, n]);
        lw.b.reshape(prod, &shape)
    } else {
        let batch =
            broadcast_shapes(&sa2[..sa2.len() - 2], &sb2[..sb2.len() - 2]).ok_or_else(|| {
                err(format!(
                    "the leading axes of {} and {} do not broadcast",
                    text(&sa),
                    text(&sb)
                ))
            })?;
        let mut ta = batch.clone();
        ta.extend([m, k1]);
        let mut tb = batch.clone();
        tb.extend([k1, n]);
        let a = lw.b.broadcast_to(a, &ta);
        let b = lw.b.broadcast_to(b, &tb);
        lw.b.op(Op::MatMul, &[a, b])
    };
    let mut shape = lw.b.ty(out).shape.clone();
    if b_vec {
        shape.pop();
    }
    if a_vec {
        let r = shape.len() - if b_vec { 1 } else { 2 };
        shape.remove(r);
    }
    Ok(lw.b.reshape(out, &shape))
}

/// Random numbers shaped like `x`: keyed by sample when it has a batch
/// axis (so each sample draws the same numbers in any batch or process),
/// by step otherwise.
fn random(lw: &mut Lowerer, a: &Args, dist: Dist) -> R<Value> {
    let x = tensor(lw, a, "x")?;
    let mut ty = lw.b.ty(x).clone();
    if !ty.dtype.is_float() {
        ty.dtype = DType::F32;
    }
    Ok(Value::Tensor(draw(lw, ty, dist)))
}

/// Random numbers of type `ty` from the run's seeded stream: keyed by
/// sample when `ty` has the batch axis, else by optimiser step.
fn draw(lw: &mut Lowerer, ty: TensorTy, dist: Dist) -> NodeId {
    let stream = lw.random_streams;
    lw.random_streams += 1;
    let saved = lw.b.loc.take();
    let scalar = TensorTy::scalar(DType::I32);
    let seed = lw.b.input(Input::Seed, scalar.clone());
    let per_sample = ty.batch_axis().is_some_and(|a| ty.shape[a].fixed == 0);
    let (key, args) = if per_sample {
        let epoch = lw.b.input(Input::Hyper(Hyper::Epoch), scalar);
        let samples = lw.b.input(
            Input::SampleIndex,
            TensorTy::new(DType::I32, vec![Size::BATCH]),
        );
        (RandomKey::Sample, vec![seed, epoch, samples])
    } else {
        let step = lw.b.input(Input::Hyper(Hyper::Step), scalar);
        (RandomKey::Step, vec![seed, step])
    };
    lw.b.loc = saved;
    lw.b.add(Op::Random { dist, stream, key }, &args, ty)
}
