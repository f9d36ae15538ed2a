//! The primitive operations of the IR and the type each one produces.
//!
//! Every op's result type is a function of its attributes and its operands'
//! types ([`infer`]); the builder uses it to type new nodes and the verifier
//! uses it again to check a graph after each pass.

use super::{DType, TensorTy};
use std::fmt;

#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    // ---- sources: no operands ------------------------------------------
    /// A value fed in for each step: a batch of a dataset field, the
    /// learning rate, the step counter.
    Input(String),
    /// A trained parameter, by its stable path (`h.w`).
    Param(String),
    /// Optimiser state carried between steps (`adam.m.h.w`).
    State(String),
    /// A scalar constant of the node's dtype.
    Constant(f64),
    /// Each element's index along `axis`.
    Iota(usize),
    // ---- elementwise: operands have the node's shape --------------------
    Unary(UnaryOp),
    Binary(BinaryOp),
    /// `cond ? a : b`.
    Select,
    /// Conversion to the node's dtype (float to integer truncates).
    Cast,
    /// Counter-based random numbers: operands are the run's seed and the
    /// step counter (i32 scalars); `stream` tells calls apart.
    Random {
        dist: Dist,
        stream: u32,
    },
    // ---- reductions -----------------------------------------------------
    /// Removes `axes` (sorted, distinct).
    Reduce {
        op: ReduceOp,
        axes: Vec<usize>,
    },
    /// Index of the largest element along `axis` (removed), as i32.
    ArgMax(usize),
    // ---- movement -------------------------------------------------------
    /// Same rank; each operand axis is 1 or the result's size.
    Broadcast,
    /// Same number of elements, row-major order kept.
    Reshape,
    /// Result axis `i` is operand axis `perm[i]`.
    Permute(Vec<usize>),
    Concat(usize),
    /// `start..end` along `axis`.
    Slice {
        axis: usize,
        start: usize,
        end: usize,
    },
    // ---- contraction ----------------------------------------------------
    /// `[.., M, K] @ [.., K, N]`, equal leading (batch) axes.
    MatMul,
    /// `x[B, C, H, W]` with `w[O, C, KH, KW]`.
    Conv {
        stride: usize,
        pad: usize,
    },
    /// The gradient of `Conv` with respect to `x`: operands `g`, `w`;
    /// the node's type is `x`'s.
    ConvInputGrad {
        stride: usize,
        pad: usize,
    },
    /// The gradient of `Conv` with respect to `w`: operands `x`, `g`.
    ConvWeightGrad {
        stride: usize,
        pad: usize,
    },
    /// Max or mean over `k x k` windows of `x[B, C, H, W]`.
    Pool {
        kind: PoolKind,
        k: usize,
        stride: usize,
    },
    /// The gradient of `Pool`: operands `x`, `g`; the node's type is `x`'s.
    PoolGrad {
        kind: PoolKind,
        k: usize,
        stride: usize,
    },
    // ---- gather / scatter -----------------------------------------------
    /// Rows of `table[V, D]` picked by `ids[..N]`: `[..N, D]`.
    Gather,
    /// Adds the rows of `g[..N, D]` into a zero `[V, D]` at `ids[..N]`:
    /// operands `ids`, `g`.
    ScatterAdd,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    Neg,
    Exp,
    Log,
    Sqrt,
    Abs,
    Tanh,
    Sin,
    Cos,
    Erf,
    /// -1, 0 or 1.
    Sign,
    Not,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Pow,
    Max,
    Min,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
}

impl BinaryOp {
    pub fn is_comparison(self) -> bool {
        use BinaryOp::*;
        matches!(self, Eq | Ne | Lt | Le | Gt | Ge)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReduceOp {
    Sum,
    Max,
    Min,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dist {
    Uniform,
    Normal,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PoolKind {
    Max,
    Avg,
}

impl Op {
    /// How many operands the op takes.
    pub fn arity(&self) -> usize {
        match self {
            Op::Input(_) | Op::Param(_) | Op::State(_) | Op::Constant(_) | Op::Iota(_) => 0,
            Op::Unary(_)
            | Op::Cast
            | Op::Reduce { .. }
            | Op::ArgMax(_)
            | Op::Broadcast
            | Op::Reshape
            | Op::Permute(_)
            | Op::Slice { .. }
            | Op::Pool { .. } => 1,
            Op::Concat(_) => usize::MAX,
            Op::Select => 3,
            _ => 2,
        }
    }

    /// The op's name in the textual IR.
    pub fn name(&self) -> String {
        match self {
            Op::Input(n) => format!("input {n:?}"),
            Op::Param(n) => format!("param {n:?}"),
            Op::State(n) => format!("state {n:?}"),
            Op::Constant(v) => format!("const {v}"),
            Op::Iota(a) => format!("iota axis={a}"),
            Op::Unary(u) => format!("{u:?}").to_lowercase(),
            Op::Binary(b) => format!("{b:?}").to_lowercase(),
            Op::Select => "select".into(),
            Op::Cast => "cast".into(),
            Op::Random { dist, stream } => {
                format!(
                    "random_{} stream={stream}",
                    format!("{dist:?}").to_lowercase()
                )
            }
            Op::Reduce { op, axes } => {
                format!("reduce_{} axes={axes:?}", format!("{op:?}").to_lowercase())
            }
            Op::ArgMax(a) => format!("argmax axis={a}"),
            Op::Broadcast => "broadcast".into(),
            Op::Reshape => "reshape".into(),
            Op::Permute(p) => format!("permute {p:?}"),
            Op::Concat(a) => format!("concat axis={a}"),
            Op::Slice { axis, start, end } => format!("slice axis={axis} {start}..{end}"),
            Op::MatMul => "matmul".into(),
            Op::Conv { stride, pad } => format!("conv stride={stride} pad={pad}"),
            Op::ConvInputGrad { stride, pad } => {
                format!("conv_input_grad stride={stride} pad={pad}")
            }
            Op::ConvWeightGrad { stride, pad } => {
                format!("conv_weight_grad stride={stride} pad={pad}")
            }
            Op::Pool { kind, k, stride } => {
                format!(
                    "{}_pool k={k} stride={stride}",
                    format!("{kind:?}").to_lowercase()
                )
            }
            Op::PoolGrad { kind, k, stride } => format!(
                "{}_pool_grad k={k} stride={stride}",
                format!("{kind:?}").to_lowercase()
            ),
            Op::Gather => "gather".into(),
            Op::ScatterAdd => "scatter_add".into(),
        }
    }
}

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
    let padded = n + 2 * pad;
    (stride > 0 && padded >= k).then(|| (padded - k) / stride + 1)
}

/// The result type of `op` on `args`. Sources, casts and the ops whose
/// result is given by the caller (`Reshape`, `Broadcast`, the gradients of
/// windows) take it as `given` and only check it.
pub fn infer(op: &Op, args: &[&TensorTy], given: &TensorTy) -> Result<TensorTy, TypeError> {
    let arity = op.arity();
    if arity != usize::MAX && args.len() != arity {
        return fail(format!("takes {arity} operands, has {}", args.len()));
    }
    let same_shape = |a: &TensorTy, b: &TensorTy| {
        if a.shape != b.shape {
            fail(format!(
                "operand shapes differ: {:?} and {:?}",
                a.shape, b.shape
            ))
        } else {
            Ok(())
        }
    };
    let ty = |dtype, shape: Vec<usize>| Ok(TensorTy { dtype, shape });
    match op {
        Op::Input(_) | Op::Param(_) | Op::State(_) | Op::Iota(_) => {
            if let Op::Iota(a) = op {
                if *a >= given.shape.len() {
                    return fail("iota axis out of range");
                }
            }
            Ok(given.clone())
        }
        Op::Constant(_) => {
            if !given.shape.is_empty() {
                return fail("a constant is a scalar");
            }
            Ok(given.clone())
        }
        Op::Unary(u) => {
            let a = args[0];
            match u {
                UnaryOp::Not if a.dtype != DType::Bool => fail("`not` takes bool"),
                UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Sign if a.dtype == DType::Bool => {
                    fail("needs a number")
                }
                UnaryOp::Not | UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Sign => Ok(a.clone()),
                _ if !a.dtype.is_float() => fail(format!("{u:?} takes a float")),
                _ => Ok(a.clone()),
            }
        }
        Op::Binary(b) => {
            let (x, y) = (args[0], args[1]);
            same_shape(x, y)?;
            if x.dtype != y.dtype {
                return fail(format!(
                    "operand dtypes differ: {} and {}",
                    x.dtype, y.dtype
                ));
            }
            if *b == BinaryOp::And {
                return if x.dtype == DType::Bool {
                    ty(DType::Bool, x.shape.clone())
                } else {
                    fail("`and` takes bool")
                };
            }
            if b.is_comparison() {
                ty(DType::Bool, x.shape.clone())
            } else if x.dtype == DType::Bool {
                fail("arithmetic on bool")
            } else {
                Ok(x.clone())
            }
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
        Op::Random { .. } => {
            for a in args {
                if a.dtype != DType::I32 || !a.shape.is_empty() {
                    return fail("random takes i32 scalars (seed, step)");
                }
            }
            if !given.dtype.is_float() {
                return fail("random numbers are floats");
            }
            Ok(given.clone())
        }
        Op::Reduce { axes, .. } => {
            let a = args[0];
            if axes.windows(2).any(|w| w[0] >= w[1]) || axes.iter().any(|&x| x >= a.shape.len()) {
                return fail(format!(
                    "bad reduction axes {axes:?} for rank {}",
                    a.shape.len()
                ));
            }
            let shape = (0..a.shape.len())
                .filter(|i| !axes.contains(i))
                .map(|i| a.shape[i])
                .collect();
            ty(a.dtype, shape)
        }
        Op::ArgMax(axis) => {
            let a = args[0];
            if *axis >= a.shape.len() || a.shape[*axis] == 0 {
                return fail("bad argmax axis");
            }
            let mut shape = a.shape.clone();
            shape.remove(*axis);
            ty(DType::I32, shape)
        }
        Op::Broadcast => {
            let a = args[0];
            let ok = a.dtype == given.dtype
                && a.shape.len() == given.shape.len()
                && a.shape
                    .iter()
                    .zip(&given.shape)
                    .all(|(&x, &y)| x == y || x == 1);
            if !ok {
                return fail(format!(
                    "cannot broadcast {:?} to {:?}",
                    a.shape, given.shape
                ));
            }
            Ok(given.clone())
        }
        Op::Reshape => {
            let a = args[0];
            if a.numel() != given.numel() || a.dtype != given.dtype {
                return fail(format!("cannot reshape {:?} to {:?}", a.shape, given.shape));
            }
            Ok(given.clone())
        }
        Op::Permute(perm) => {
            let a = args[0];
            let mut seen = perm.clone();
            seen.sort_unstable();
            if seen != (0..a.shape.len()).collect::<Vec<_>>() {
                return fail(format!("bad permutation {perm:?}"));
            }
            ty(a.dtype, perm.iter().map(|&p| a.shape[p]).collect())
        }
        Op::Concat(axis) => {
            let Some(first) = args.first() else {
                return fail("concat of nothing");
            };
            if *axis >= first.shape.len() {
                return fail("concat axis out of range");
            }
            let mut shape = first.shape.clone();
            shape[*axis] = 0;
            for a in args {
                let mut other = a.shape.clone();
                if other.len() != shape.len() || a.dtype != first.dtype {
                    return fail("concat operands differ in rank or dtype");
                }
                shape[*axis] += other[*axis];
                other[*axis] = shape[*axis];
                if other != shape {
                    return fail("concat operands differ off the axis");
                }
            }
            ty(first.dtype, shape)
        }
        Op::Slice { axis, start, end } => {
            let a = args[0];
            if *axis >= a.shape.len() || start > end || *end > a.shape[*axis] {
                return fail("slice out of range");
            }
            let mut shape = a.shape.clone();
            shape[*axis] = end - start;
            ty(a.dtype, shape)
        }
        Op::MatMul => {
            let (a, b) = (args[0], args[1]);
            let (ra, rb) = (a.shape.len(), b.shape.len());
            if ra < 2 || ra != rb || a.shape[..ra - 2] != b.shape[..rb - 2] {
                return fail(format!("matmul of {:?} and {:?}", a.shape, b.shape));
            }
            if a.shape[ra - 1] != b.shape[rb - 2] || a.dtype != b.dtype || !a.dtype.is_float() {
                return fail(format!("matmul of {:?} and {:?}", a.shape, b.shape));
            }
            let mut shape = a.shape.clone();
            shape[ra - 1] = b.shape[rb - 1];
            ty(a.dtype, shape)
        }
        Op::Conv { stride, pad } => {
            let (x, w) = (args[0], args[1]);
            conv_out(x, w, *stride, *pad)
        }
        Op::ConvInputGrad { stride, pad } => {
            let (g, w) = (args[0], args[1]);
            let out = conv_out(given, w, *stride, *pad)?;
            same_shape(&out, g)?;
            Ok(given.clone())
        }
        Op::ConvWeightGrad { stride, pad } => {
            let (x, g) = (args[0], args[1]);
            let out = conv_out(x, given, *stride, *pad)?;
            same_shape(&out, g)?;
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
            if table.shape.len() != 2 || ids.dtype != DType::I32 {
                return fail("gather takes table[V, D] and i32 ids");
            }
            let mut shape = ids.shape.clone();
            shape.push(table.shape[1]);
            ty(table.dtype, shape)
        }
        Op::ScatterAdd => {
            let (ids, g) = (args[0], args[1]);
            let mut expect = ids.shape.clone();
            expect.push(given.shape.get(1).copied().unwrap_or(0));
            if ids.dtype != DType::I32 || given.shape.len() != 2 || g.shape != expect {
                return fail("scatter_add takes i32 ids[..N] and g[..N, D] into [V, D]");
            }
            Ok(given.clone())
        }
    }
}

fn conv_out(x: &TensorTy, w: &TensorTy, stride: usize, pad: usize) -> Result<TensorTy, TypeError> {
    if x.shape.len() != 4 || w.shape.len() != 4 || x.shape[1] != w.shape[1] || x.dtype != w.dtype {
        return fail(format!("conv of {:?} with {:?}", x.shape, w.shape));
    }
    let (Some(h), Some(wd)) = (
        window_out(x.shape[2], w.shape[2], stride, pad),
        window_out(x.shape[3], w.shape[3], stride, pad),
    ) else {
        return fail("conv window does not fit");
    };
    Ok(TensorTy {
        dtype: x.dtype,
        shape: vec![x.shape[0], w.shape[0], h, wd],
    })
}

fn pool_out(x: &TensorTy, k: usize, stride: usize) -> Result<TensorTy, TypeError> {
    if x.shape.len() != 4 {
        return fail("pooling takes x[B, C, H, W]");
    }
    let (Some(h), Some(w)) = (
        window_out(x.shape[2], k, stride, 0),
        window_out(x.shape[3], k, stride, 0),
    ) else {
        return fail("pool window does not fit");
    };
    Ok(TensorTy {
        dtype: x.dtype,
        shape: vec![x.shape[0], x.shape[1], h, w],
    })
}
