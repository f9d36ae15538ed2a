//! The type each op produces: a function of its attributes and its
//! operands' types. The builder types new nodes with it, and the verifier
//! checks every node against it again after each stage.

use super::io::{Hyper, Input};
use super::op::{Arity, Op, RandomKey};
use super::UnaryOp;
use super::{DType, Size, TensorTy};
use std::fmt;

/// Why an op cannot take these operands.
#[derive(Clone, Debug, PartialEq)]
pub struct TypeError(pub String);

impl fmt::Display for TypeError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn fail<T>(msg: impl Into<String>) -> Result<T, TypeError> {
    Err(TypeError(msg.into()))
}

/// Output size of a window of `k` with `stride` over `n` padded by `pad`.
pub fn window_out(n: usize, k: usize, stride: usize, pad: usize) -> Option<usize> {
    let padded = n.checked_add(pad.checked_mul(2)?)?;
    (stride > 0 && k > 0 && padded >= k).then(|| (padded - k) / stride + 1)
}

/// The dtype an input must have, when the kind fixes it.
pub fn input_dtype(input: &Input) -> Option<DType> {
    match input {
        Input::Hyper(Hyper::Lr) => Some(DType::F32),
        Input::Hyper(Hyper::Step | Hyper::Epoch) | Input::Seed | Input::SampleIndex => {
            Some(DType::I32)
        }
        Input::Feed(_)
        | Input::Param(_)
        | Input::OptimizerState { .. }
        | Input::ModelState(_)
        | Input::Gradient(_) => None,
    }
}

fn same_shape(a: &TensorTy, b: &TensorTy) -> Result<(), TypeError> {
    if a.shape != b.shape {
        return fail(format!("operand shapes differ: {a} and {b}"));
    }
    Ok(())
}

fn ty(dtype: DType, shape: Vec<Size>) -> Result<TensorTy, TypeError> {
    Ok(TensorTy { dtype, shape })
}

/// The result type of `op` on `args`. Sources, casts and the ops whose
/// result is not implied by their operands (`Reshape`, `Broadcast`,
/// `Random`, the gradients of windows) take it as `given` and check it.
pub fn infer(op: &Op, args: &[&TensorTy], given: &TensorTy) -> Result<TensorTy, TypeError> {
    match op.arity() {
        Arity::Exactly(n) if args.len() != n => {
            return fail(format!("takes {n} operands, has {}", args.len()))
        }
        Arity::AtLeastOne if args.is_empty() => return fail("takes at least one operand"),
        Arity::Exactly(_) | Arity::AtLeastOne => {}
    }
    if given.numel().is_none() {
        return fail(format!("{given} has B*B elements"));
    }
    match op {
        Op::Input(input) => {
            let want_scalar = !matches!(
                input,
                Input::Feed(_)
                    | Input::Param(_)
                    | Input::OptimizerState { .. }
                    | Input::ModelState(_)
                    | Input::Gradient(_)
                    | Input::SampleIndex
            );
            if want_scalar && given.rank() != 0 {
                return fail(format!("input {input} is a scalar"));
            }
            if *input == Input::SampleIndex && given.shape != [Size::BATCH] {
                return fail("sample_index is i32[B]");
            }
            if let Some(d) = input_dtype(input) {
                if given.dtype != d {
                    return fail(format!("input {input} is {d}"));
                }
            }
            Ok(given.clone())
        }
        Op::Iota(a) => {
            if *a >= given.rank() || given.dtype == DType::Bool {
                return fail("iota needs an axis of the result and a number type");
            }
            Ok(given.clone())
        }
        Op::Constant(_) | Op::SizeOf(_) => {
            if given.rank() != 0 {
                return fail("a constant is a scalar");
            }
            Ok(given.clone())
        }
        Op::Unary(u) => unary(*u, args[0]),
        Op::Binary(b) => {
            let (x, y) = (args[0], args[1]);
            same_shape(x, y)?;
            if x.dtype != y.dtype {
                return fail(format!(
                    "operand dtypes differ: {} and {}",
                    x.dtype, y.dtype
                ));
            }
            let supported = match x.dtype {
                DType::Bool => b.logic(true, false).is_some(),
                DType::F32 | DType::F64 | DType::I32 => {
                    b.compare(1, 2).is_some() || b.arith(1, 2).is_some()
                }
            };
            if !supported {
                return fail(format!("`{}` does not take {}", b.name(), x.dtype));
            }
            ty(
                if b.is_comparison() {
                    DType::Bool
                } else {
                    x.dtype
                },
                x.shape.clone(),
            )
        }
        Op::Select => {
            let (c, a, b) = (args[0], args[1], args[2]);
            same_shape(c, a)?;
            same_shape(a, b)?;
            if c.dtype != DType::Bool || a.dtype != b.dtype {
                return fail("select takes bool, T, T");
            }
            Ok(a.clone())
        }
        Op::Cast => {
            same_shape(args[0], given)?;
            Ok(given.clone())
        }
        Op::Random { key, .. } => {
            let scalars = match key {
                RandomKey::Sample => &args[..2],
                RandomKey::Step => args,
            };
            if scalars
                .iter()
                .any(|a| a.dtype != DType::I32 || a.rank() != 0)
            {
                return fail("random takes i32 scalars (seed and epoch or step)");
            }
            if *key == RandomKey::Sample {
                if args[2].dtype != DType::I32 || args[2].shape != [Size::BATCH] {
                    return fail("random keyed by sample takes the sample indices (i32[B])");
                }
                // Each run of `n` positions along the axis is one sample.
                let axis = given.batch_axis().map(|a| given.shape[a]);
                if axis.is_none_or(|s| s.fixed != 0) {
                    return fail("random keyed by sample needs a batch axis of B*n positions");
                }
            }
            if !given.dtype.is_float() {
                return fail("random numbers are floats");
            }
            Ok(given.clone())
        }
        Op::Reduce { axes, .. } => {
            let a = args[0];
            if axes.windows(2).any(|w| w[0] >= w[1]) || axes.iter().any(|&x| x >= a.rank()) {
                return fail(format!("bad reduction axes {axes:?} for rank {}", a.rank()));
            }
            if a.dtype == DType::Bool {
                return fail("reductions take numbers");
            }
            let shape = (0..a.rank())
                .filter(|i| !axes.contains(i))
                .map(|i| a.shape[i])
                .collect();
            ty(a.dtype, shape)
        }
        Op::ArgMax(axis) => {
            let a = args[0];
            if *axis >= a.rank() || a.shape[*axis] == Size::fixed(0) || a.dtype == DType::Bool {
                return fail("bad argmax axis");
            }
            let mut shape = a.shape.clone();
            shape.remove(*axis);
            ty(DType::I32, shape)
        }
        Op::Broadcast => {
            let a = args[0];
            let ok = a.dtype == given.dtype
                && a.rank() == given.rank()
                && a.shape
                    .iter()
                    .zip(&given.shape)
                    .all(|(&x, &y)| x == y || x == Size::ONE);
            if !ok {
                return fail(format!("cannot broadcast {a} to {given}"));
            }
            Ok(given.clone())
        }
        Op::Reshape => {
            let a = args[0];
            if a.numel() != given.numel() || a.dtype != given.dtype {
                return fail(format!("cannot reshape {a} to {given}"));
            }
            Ok(given.clone())
        }
        Op::Permute(perm) => {
            let a = args[0];
            let mut seen = perm.clone();
            seen.sort_unstable();
            if seen != (0..a.rank()).collect::<Vec<_>>() {
                return fail(format!("bad permutation {perm:?}"));
            }
            ty(a.dtype, perm.iter().map(|&p| a.shape[p]).collect())
        }
        Op::Concat(axis) => concat(*axis, args),
        Op::Slice { axis, start, end } => {
            let a = args[0];
            let Some(len) = end.checked_sub(*start) else {
                return fail(format!(
                    "slice {start}..{end} is not a size for every batch size"
                ));
            };
            if *axis >= a.rank() || !end.always_le(a.shape[*axis]) {
                return fail("slice out of range");
            }
            let mut shape = a.shape.clone();
            shape[*axis] = len;
            ty(a.dtype, shape)
        }
        Op::MatMul => {
            let (a, b) = (args[0], args[1]);
            let (ra, rb) = (a.rank(), b.rank());
            let ok = ra >= 2
                && ra == rb
                && a.shape[..ra - 2] == b.shape[..rb - 2]
                && a.shape[ra - 1] == b.shape[rb - 2]
                && a.dtype == b.dtype
                && a.dtype.is_float();
            if !ok {
                return fail(format!("matmul of {a} and {b}"));
            }
            let mut shape = a.shape.clone();
            shape[ra - 1] = b.shape[rb - 1];
            ty(a.dtype, shape)
        }
        Op::Conv { stride, pad } => conv_out(args[0], args[1], *stride, *pad),
        Op::ConvInputGrad { stride, pad } => {
            let (g, w) = (args[0], args[1]);
            same_shape(&conv_out(given, w, *stride, *pad)?, g)?;
            Ok(given.clone())
        }
        Op::ConvWeightGrad { stride, pad } => {
            let (x, g) = (args[0], args[1]);
            same_shape(&conv_out(x, given, *stride, *pad)?, g)?;
            Ok(given.clone())
        }
        Op::Pool { k, stride, .. } => pool_out(args[0], *k, *stride),
        Op::PoolGrad { k, stride, .. } => {
            let (x, g) = (args[0], args[1]);
            same_shape(&pool_out(x, *k, *stride)?, g)?;
            Ok(x.clone())
        }
        Op::Gather => {
            let (table, ids) = (args[0], args[1]);
            if table.rank() != 2 || ids.dtype != DType::I32 {
                return fail("gather takes table[V, D] and i32 ids");
            }
            let mut shape = ids.shape.clone();
            shape.push(table.shape[1]);
            ty(table.dtype, shape)
        }
        Op::ScatterAdd => {
            let (ids, g) = (args[0], args[1]);
            let mut expect = ids.shape.clone();
            expect.push(given.shape.get(1).copied().unwrap_or(Size::fixed(0)));
            if ids.dtype != DType::I32 || given.rank() != 2 || g.shape != expect {
                return fail("scatter_add takes i32 ids[..N] and g[..N, D] into [V, D]");
            }
            if g.dtype != given.dtype || g.dtype == DType::Bool {
                return fail("scatter_add keeps g's dtype, a number");
            }
            Ok(given.clone())
        }
    }
}

fn unary(u: UnaryOp, a: &TensorTy) -> Result<TensorTy, TypeError> {
    let supported = match a.dtype {
        DType::Bool => u.logic(true).is_some(),
        DType::I32 => u.num(1).is_some(),
        DType::F32 | DType::F64 => u.float(1.0).is_some(),
    };
    if !supported {
        return fail(format!("`{}` does not take {}", u.name(), a.dtype));
    }
    Ok(a.clone())
}

fn concat(axis: usize, args: &[&TensorTy]) -> Result<TensorTy, TypeError> {
    let first = args[0];
    if axis >= first.rank() {
        return fail("concat axis out of range");
    }
    let mut total = Size::fixed(0);
    for a in args {
        let mut other = a.shape.clone();
        if other.len() != first.rank() || a.dtype != first.dtype {
            return fail("concat operands differ in rank or dtype");
        }
        let Some(t) = total.checked_add(other[axis]) else {
            return fail("concat is too large");
        };
        total = t;
        other[axis] = first.shape[axis];
        if other != first.shape {
            return fail("concat operands differ off the axis");
        }
    }
    let mut shape = first.shape.clone();
    shape[axis] = total;
    ty(first.dtype, shape)
}

/// The fixed sizes of `dims`, or an error naming `what`.
fn fixed_dims<const N: usize>(dims: &[Size], what: &str) -> Result<[usize; N], TypeError> {
    let mut out = [0; N];
    for (o, d) in out.iter_mut().zip(dims) {
        *o = d
            .as_fixed()
            .ok_or_else(|| TypeError(format!("{what} cannot depend on the batch size")))?;
    }
    Ok(out)
}

fn conv_out(x: &TensorTy, w: &TensorTy, stride: usize, pad: usize) -> Result<TensorTy, TypeError> {
    if x.rank() != 4 || w.rank() != 4 || x.shape[1] != w.shape[1] || x.dtype != w.dtype {
        return fail(format!("conv of {x} with {w}"));
    }
    if !x.dtype.is_float() {
        return fail(format!("conv takes floats, not {}", x.dtype.name()));
    }
    let [h, wd] = fixed_dims(&x.shape[2..], "the image size")?;
    let [kh, kw] = fixed_dims(&w.shape[2..], "the kernel size")?;
    let (Some(oh), Some(ow)) = (
        window_out(h, kh, stride, pad),
        window_out(wd, kw, stride, pad),
    ) else {
        return fail("conv window does not fit");
    };
    ty(
        x.dtype,
        vec![x.shape[0], w.shape[0], Size::fixed(oh), Size::fixed(ow)],
    )
}

fn pool_out(x: &TensorTy, k: usize, stride: usize) -> Result<TensorTy, TypeError> {
    if x.rank() != 4 || !x.dtype.is_float() {
        return fail("pooling takes float x[B, C, H, W]");
    }
    let [h, w] = fixed_dims(&x.shape[2..], "the image size")?;
    let (Some(oh), Some(ow)) = (window_out(h, k, stride, 0), window_out(w, k, stride, 0)) else {
        return fail("pool window does not fit");
    };
    ty(
        x.dtype,
        vec![x.shape[0], x.shape[1], Size::fixed(oh), Size::fixed(ow)],
    )
}
