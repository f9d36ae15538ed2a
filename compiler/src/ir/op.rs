//! The primitive operations of the IR.
//!
//! Ops are plain data (`Eq + Hash`, constants stored as bits) so that two
//! nodes computing the same thing can be recognised. Every match over
//! [`Op`] in the compiler is exhaustive: a new op is a compile error
//! wherever it must be handled. Its type rule lives in [`super::infer()`],
//! its derivative in [`crate::autodiff`]; the elementwise ops' scalar
//! rules and derivatives live together in [`super::elementwise`].

use super::io::Input;
use super::{BinaryOp, Size, UnaryOp};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    // ---- sources: no operands ------------------------------------------
    /// A value the step reads from outside (a feed, a parameter, the
    /// learning rate...); see [`Input`].
    Input(Input),
    /// A scalar constant of the node's dtype, as the bits of an f64.
    Constant(u64),
    /// The value of a size (`B`, `B*49`) as a scalar of the node's dtype.
    SizeOf(Size),
    /// Each element's index along `axis`.
    Iota(usize),
    // ---- elementwise: operands have the node's shape --------------------
    Unary(UnaryOp),
    Binary(BinaryOp),
    /// `cond ? a : b`.
    Select,
    /// Conversion to the node's dtype (float to integer truncates).
    Cast,
    /// Counter-based random numbers; `stream` tells call sites apart.
    /// Keyed by sample: operands `seed`, `epoch` (i32 scalars) and the
    /// batch's global sample indices (i32[B]); each sample draws the same
    /// numbers whatever batch or process it is in. Keyed by step:
    /// operands `seed` and `step`.
    Random {
        dist: Dist,
        stream: u32,
        key: RandomKey,
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
        start: Size,
        end: Size,
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
    // ---- windows ----------------------------------------------------------
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

/// What fusion and scheduling key on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpKind {
    Source,
    Elementwise,
    Random,
    Reduce,
    Movement,
    Contraction,
    Window,
    GatherScatter,
}

/// Draws keyed by sample (the default for tensors with a batch axis) or by
/// optimiser step (tensors without one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RandomKey {
    Sample,
    Step,
}

named_enum!(ReduceOp {
    Sum => "sum",
    Max => "max",
    Min => "min",
});

named_enum!(Dist {
    Uniform => "uniform",
    Normal => "normal",
});

named_enum!(PoolKind {
    Max => "max",
    Avg => "avg",
});

/// How many operands an op takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arity {
    Exactly(usize),
    /// One or more (`concat`).
    AtLeastOne,
}

impl Op {
    pub fn constant(value: f64) -> Op {
        Op::Constant(value.to_bits())
    }

    pub fn kind(&self) -> OpKind {
        match self {
            Op::Input(_) | Op::Constant(_) | Op::SizeOf(_) | Op::Iota(_) => OpKind::Source,
            Op::Unary(_) | Op::Binary(_) | Op::Select | Op::Cast => OpKind::Elementwise,
            Op::Random { .. } => OpKind::Random,
            Op::Reduce { .. } | Op::ArgMax(_) => OpKind::Reduce,
            Op::Broadcast | Op::Reshape | Op::Permute(_) | Op::Concat(_) | Op::Slice { .. } => {
                OpKind::Movement
            }
            Op::MatMul | Op::Conv { .. } | Op::ConvInputGrad { .. } | Op::ConvWeightGrad { .. } => {
                OpKind::Contraction
            }
            Op::Pool { .. } | Op::PoolGrad { .. } => OpKind::Window,
            Op::Gather | Op::ScatterAdd => OpKind::GatherScatter,
        }
    }

    pub fn arity(&self) -> Arity {
        Arity::Exactly(match self {
            Op::Input(_) | Op::Constant(_) | Op::SizeOf(_) | Op::Iota(_) => 0,
            Op::Unary(_)
            | Op::Cast
            | Op::Reduce { .. }
            | Op::ArgMax(_)
            | Op::Broadcast
            | Op::Reshape
            | Op::Permute(_)
            | Op::Slice { .. }
            | Op::Pool { .. } => 1,
            Op::Binary(_)
            | Op::MatMul
            | Op::Conv { .. }
            | Op::ConvInputGrad { .. }
            | Op::ConvWeightGrad { .. }
            | Op::PoolGrad { .. }
            | Op::Gather
            | Op::ScatterAdd => 2,
            Op::Random { key, .. } => match key {
                RandomKey::Sample => 3,
                RandomKey::Step => 2,
            },
            Op::Select => 3,
            Op::Concat(_) => return Arity::AtLeastOne,
        })
    }

    /// The op and its attributes as the textual IR writes them.
    pub fn text(&self) -> String {
        match self {
            Op::Input(i) => format!("input {i}"),
            Op::Constant(bits) => format!("const {:?}", f64::from_bits(*bits)),
            Op::SizeOf(s) => format!("size {s}"),
            Op::Iota(a) => format!("iota axis={a}"),
            Op::Unary(u) => u.name().to_string(),
            Op::Binary(b) => b.name().to_string(),
            Op::Select => "select".into(),
            Op::Cast => "cast".into(),
            Op::Random { dist, stream, key } => {
                let key = match key {
                    RandomKey::Sample => "sample",
                    RandomKey::Step => "step",
                };
                format!("random_{} stream={stream} key={key}", dist.name())
            }
            Op::Reduce { op, axes } => format!("reduce_{} axes={}", op.name(), list(axes)),
            Op::ArgMax(a) => format!("argmax axis={a}"),
            Op::Broadcast => "broadcast".into(),
            Op::Reshape => "reshape".into(),
            Op::Permute(p) => format!("permute perm={}", list(p)),
            Op::Concat(a) => format!("concat axis={a}"),
            Op::Slice { axis, start, end } => format!("slice axis={axis} start={start} end={end}"),
            Op::MatMul => "matmul".into(),
            Op::Conv { stride, pad } => format!("conv stride={stride} pad={pad}"),
            Op::ConvInputGrad { stride, pad } => {
                format!("conv_input_grad stride={stride} pad={pad}")
            }
            Op::ConvWeightGrad { stride, pad } => {
                format!("conv_weight_grad stride={stride} pad={pad}")
            }
            Op::Pool { kind, k, stride } => format!("{}_pool k={k} stride={stride}", kind.name()),
            Op::PoolGrad { kind, k, stride } => {
                format!("{}_pool_grad k={k} stride={stride}", kind.name())
            }
            Op::Gather => "gather".into(),
            Op::ScatterAdd => "scatter_add".into(),
        }
    }
}

impl Op {
    /// One op of every variant — every unary, binary and reduce op, both
    /// kinds of pooling and of random keys — with small attributes: what
    /// tests that must cover every op walk over (the interpreter and
    /// gradient suite now, the back ends' conformance suites later).
    pub fn catalogue() -> Vec<Op> {
        let mut ops = vec![
            Op::Input(Input::param("p")),
            Op::constant(1.5),
            Op::SizeOf(Size::BATCH),
            Op::Iota(0),
            Op::Select,
            Op::Cast,
            Op::ArgMax(0),
            Op::Broadcast,
            Op::Reshape,
            Op::Permute(vec![1, 0]),
            Op::Concat(0),
            Op::Slice {
                axis: 0,
                start: Size::fixed(1),
                end: Size::fixed(2),
            },
            Op::MatMul,
            Op::Conv { stride: 1, pad: 1 },
            Op::ConvInputGrad { stride: 1, pad: 1 },
            Op::ConvWeightGrad { stride: 1, pad: 1 },
            Op::Gather,
            Op::ScatterAdd,
        ];
        ops.extend(UnaryOp::ALL.iter().map(|&u| Op::Unary(u)));
        ops.extend(BinaryOp::ALL.iter().map(|&b| Op::Binary(b)));
        ops.extend(
            ReduceOp::ALL
                .iter()
                .map(|&op| Op::Reduce { op, axes: vec![0] }),
        );
        for &dist in Dist::ALL {
            for key in [RandomKey::Sample, RandomKey::Step] {
                ops.push(Op::Random {
                    dist,
                    stream: 0,
                    key,
                });
            }
        }
        for &kind in PoolKind::ALL {
            ops.push(Op::Pool {
                kind,
                k: 2,
                stride: 2,
            });
            ops.push(Op::PoolGrad {
                kind,
                k: 2,
                stride: 2,
            });
        }
        ops
    }
}

/// `[0,2,1]`: a list without spaces, one token for the parser.
fn list(items: &[usize]) -> String {
    let parts: Vec<String> = items.iter().map(usize::to_string).collect();
    format!("[{}]", parts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The variants, numbered: adding one is a compile error here, and then
    /// a failure of the test below until [`Op::catalogue`] lists it.
    fn variant(op: &Op) -> usize {
        match op {
            Op::Input(_) => 0,
            Op::Constant(_) => 1,
            Op::SizeOf(_) => 2,
            Op::Iota(_) => 3,
            Op::Unary(_) => 4,
            Op::Binary(_) => 5,
            Op::Select => 6,
            Op::Cast => 7,
            Op::Random { .. } => 8,
            Op::Reduce { .. } => 9,
            Op::ArgMax(_) => 10,
            Op::Broadcast => 11,
            Op::Reshape => 12,
            Op::Permute(_) => 13,
            Op::Concat(_) => 14,
            Op::Slice { .. } => 15,
            Op::MatMul => 16,
            Op::Conv { .. } => 17,
            Op::ConvInputGrad { .. } => 18,
            Op::ConvWeightGrad { .. } => 19,
            Op::Pool { .. } => 20,
            Op::PoolGrad { .. } => 21,
            Op::Gather => 22,
            Op::ScatterAdd => 23,
        }
    }

    const VARIANTS: usize = 24;

    #[test]
    fn the_catalogue_has_every_variant_and_every_sub_op() {
        let ops = Op::catalogue();
        let mut seen = [false; VARIANTS];
        for op in &ops {
            seen[variant(op)] = true;
        }
        let missing: Vec<usize> = (0..VARIANTS).filter(|&v| !seen[v]).collect();
        assert!(
            missing.is_empty(),
            "variants missing from the catalogue: {missing:?}"
        );
        for &u in UnaryOp::ALL {
            assert!(ops.contains(&Op::Unary(u)), "{u:?}");
        }
        for &b in BinaryOp::ALL {
            assert!(ops.contains(&Op::Binary(b)), "{b:?}");
        }
    }

    #[test]
    fn op_text_names_parse_back() {
        for op in Op::catalogue() {
            let text = op.text();
            let line = format!("%0 = {text} : f32[]");
            let parsed = crate::ir::parse(&line).map(|g| g.nodes[0].op.clone());
            assert_eq!(parsed, Ok(op), "{text}");
        }
    }
}
