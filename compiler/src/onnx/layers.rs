//! Recognising layers in the primitive graph, so that the ONNX model shows
//! `Softmax`, `LayerNormalization`, `Gemm` or `Relu` where the stdlib's
//! functions wrote them out in primitives, and leaving out the broadcasts
//! that ONNX's own (NumPy-style) broadcasting makes unnecessary.
//!
//! Each rule matches the exact primitives a stdlib function lowers to and
//! names the operands the ONNX operator takes; intermediate nodes are then
//! emitted only if something else uses them.

use crate::ir::{BinaryOp, Graph, NodeId, Op, ReduceOp, UnaryOp};

/// How one node of the graph becomes ONNX.
#[derive(Clone, Debug, PartialEq)]
pub enum Layer {
    /// The node's own op, on these operands (its arguments, less the
    /// broadcasts ONNX does itself).
    Plain(Vec<NodeId>),
    Relu(NodeId),
    Sigmoid(NodeId),
    /// Over the last axis.
    Softmax(NodeId),
    LogSoftmax(NodeId),
    /// `x @ w + b` with rank-2 `x` and `w` and a bias over the columns.
    Gemm {
        x: NodeId,
        w: NodeId,
        b: NodeId,
    },
    /// A convolution with a bias per output channel.
    ConvBias {
        x: NodeId,
        w: NodeId,
        b: NodeId,
        stride: usize,
        pad: usize,
    },
    /// The mean of `x` over `axes`.
    Mean {
        x: NodeId,
        axes: Vec<usize>,
    },
    /// Layer normalisation over the last axis, then `* scale + bias`.
    Norm {
        x: NodeId,
        scale: NodeId,
        bias: NodeId,
        epsilon: f64,
    },
}

impl Layer {
    /// The values it reads.
    pub fn operands(&self) -> Vec<NodeId> {
        match self {
            Layer::Plain(args) => args.clone(),
            Layer::Relu(x) | Layer::Sigmoid(x) | Layer::Softmax(x) | Layer::LogSoftmax(x) => {
                vec![*x]
            }
            Layer::Mean { x, .. } => vec![*x],
            Layer::Gemm { x, w, b } | Layer::ConvBias { x, w, b, .. } => vec![*x, *w, *b],
            Layer::Norm { x, scale, bias, .. } => vec![*x, *scale, *bias],
        }
    }
}

/// How node `id` of `g` is best written in ONNX.
pub fn layer(g: &Graph, id: NodeId) -> Layer {
    let m = Matcher { g };
    m.relu(id)
        .or_else(|| m.sigmoid(id))
        .or_else(|| m.softmax(id))
        .or_else(|| m.log_softmax(id))
        .or_else(|| m.layer_norm(id))
        .or_else(|| m.gemm(id))
        .or_else(|| m.conv_bias(id))
        .or_else(|| m.mean(id).map(|(x, axes)| Layer::Mean { x, axes }))
        .unwrap_or_else(|| Layer::Plain(m.operands(id)))
}

struct Matcher<'g> {
    g: &'g Graph,
}

impl Matcher<'_> {
    fn op(&self, id: NodeId) -> &Op {
        &self.g.node(id).op
    }

    fn args(&self, id: NodeId) -> &[NodeId] {
        &self.g.node(id).args
    }

    fn rank(&self, id: NodeId) -> usize {
        self.g.ty(id).rank()
    }

    /// `id` with broadcasts and reshapes that only add or drop size-1 axes
    /// looked through: where a value comes from, for matching.
    fn through(&self, mut id: NodeId) -> NodeId {
        loop {
            match self.op(id) {
                Op::Broadcast => id = self.args(id)[0],
                Op::Reshape if self.only_ones_differ(id) => id = self.args(id)[0],
                _ => return id,
            }
        }
    }

    /// Whether a reshape only adds or removes size-1 axes.
    fn only_ones_differ(&self, id: NodeId) -> bool {
        let from = &self.g.ty(self.args(id)[0]).shape;
        let to = &self.g.ty(id).shape;
        let big = |s: &[crate::ir::Size]| -> Vec<crate::ir::Size> {
            s.iter()
                .copied()
                .filter(|d| d.as_fixed() != Some(1))
                .collect()
        };
        big(from) == big(to)
    }

    /// `id` with what ONNX's NumPy-style broadcasting does itself looked
    /// through: broadcasts, and reshapes that only prepend size-1 axes.
    fn broadcast_source(&self, mut id: NodeId) -> NodeId {
        loop {
            match self.op(id) {
                Op::Broadcast => id = self.args(id)[0],
                Op::Reshape => {
                    let from = &self.g.ty(self.args(id)[0]).shape;
                    let to = &self.g.ty(id).shape;
                    let extra = to.len().saturating_sub(from.len());
                    let prepends = to.len() >= from.len()
                        && to[extra..] == from[..]
                        && to[..extra].iter().all(|d| d.as_fixed() == Some(1));
                    if !prepends {
                        return id;
                    }
                    id = self.args(id)[0];
                }
                _ => return id,
            }
        }
    }

    /// The operands of a plain node: for elementwise ops, without the
    /// broadcasts ONNX does itself, as long as one operand still has the
    /// result's shape (which ONNX's broadcasting then gives).
    fn operands(&self, id: NodeId) -> Vec<NodeId> {
        let args = self.args(id).to_vec();
        if !matches!(self.op(id), Op::Binary(_) | Op::Select) {
            return args;
        }
        let shape = &self.g.ty(id).shape;
        let peeled: Vec<NodeId> = args.iter().map(|&a| self.broadcast_source(a)).collect();
        if peeled.iter().any(|&a| &self.g.ty(a).shape == shape) {
            return peeled;
        }
        // Keep the first operand's broadcast to give the result its shape.
        let mut kept = peeled;
        kept[0] = args[0];
        kept
    }

    /// The value of a scalar constant, looked through broadcasts.
    fn constant(&self, id: NodeId) -> Option<f64> {
        match self.op(self.through(id)) {
            Op::Constant(bits) => Some(f64::from_bits(*bits)),
            _ => None,
        }
    }

    fn binary(&self, id: NodeId, op: BinaryOp) -> Option<(NodeId, NodeId)> {
        match self.op(id) {
            Op::Binary(b) if *b == op => Some((self.args(id)[0], self.args(id)[1])),
            _ => None,
        }
    }

    fn unary(&self, id: NodeId, op: UnaryOp) -> Option<NodeId> {
        match self.op(id) {
            Op::Unary(u) if *u == op => Some(self.args(id)[0]),
            _ => None,
        }
    }

    /// `x` when `id` reduces `x` with `op` over its last axis alone.
    fn reduce_last(&self, id: NodeId, op: ReduceOp) -> Option<NodeId> {
        match self.op(id) {
            Op::Reduce { op: o, axes } if *o == op => {
                let x = self.args(id)[0];
                (axes[..] == [self.rank(x) - 1]).then_some(x)
            }
            _ => None,
        }
    }

    fn is_float(&self, id: NodeId) -> bool {
        self.g.ty(id).dtype.is_float()
    }

    /// `max(x, 0)`.
    fn relu(&self, id: NodeId) -> Option<Layer> {
        let (a, b) = self.binary(id, BinaryOp::Max)?;
        if !self.is_float(id) {
            return None;
        }
        match (self.constant(a), self.constant(b)) {
            (_, Some(0.0)) => Some(Layer::Relu(a)),
            (Some(0.0), _) => Some(Layer::Relu(b)),
            _ => None,
        }
    }

    /// `1 / (1 + exp(-x))`.
    fn sigmoid(&self, id: NodeId) -> Option<Layer> {
        let (one, d) = self.binary(id, BinaryOp::Div)?;
        (self.constant(one)? == 1.0).then_some(())?;
        let (p, q) = self.binary(d, BinaryOp::Add)?;
        let e = match (self.constant(p), self.constant(q)) {
            (Some(1.0), _) => q,
            (_, Some(1.0)) => p,
            _ => return None,
        };
        let x = self.unary(self.unary(e, UnaryOp::Exp)?, UnaryOp::Neg)?;
        (self.g.ty(x) == self.g.ty(id)).then_some(Layer::Sigmoid(x))
    }

    /// `x - max(x)` over the last axis, broadcast: `x`.
    fn shifted(&self, id: NodeId) -> Option<NodeId> {
        let (x, m) = self.binary(id, BinaryOp::Sub)?;
        (self.reduce_last(self.through(m), ReduceOp::Max)? == x).then_some(x)
    }

    /// `e / sum(e)` over the last axis, with `e = exp(x - max(x))` (or
    /// `exp(x)`).
    fn softmax(&self, id: NodeId) -> Option<Layer> {
        let (e, s) = self.binary(id, BinaryOp::Div)?;
        let inner = self.unary(e, UnaryOp::Exp)?;
        (self.reduce_last(self.through(s), ReduceOp::Sum)? == e).then_some(())?;
        Some(Layer::Softmax(self.shifted(inner).unwrap_or(inner)))
    }

    /// `s - log(sum(exp(s)))` over the last axis, with `s = x - max(x)`.
    fn log_softmax(&self, id: NodeId) -> Option<Layer> {
        let (s, l) = self.binary(id, BinaryOp::Sub)?;
        let x = self.shifted(s)?;
        let z = self.unary(self.through(l), UnaryOp::Log)?;
        let e = self.reduce_last(self.through(z), ReduceOp::Sum)?;
        (self.unary(e, UnaryOp::Exp)? == s).then_some(Layer::LogSoftmax(x))
    }

    /// `sum(x, axes) / n`, `n` the number of elements summed: `x`, `axes`.
    fn mean(&self, id: NodeId) -> Option<(NodeId, Vec<usize>)> {
        let (s, n) = self.binary(id, BinaryOp::Div)?;
        let Op::Reduce {
            op: ReduceOp::Sum,
            axes,
        } = self.op(s)
        else {
            return None;
        };
        let x = self.args(s)[0];
        let shape = &self.g.ty(x).shape;
        let count: Option<usize> = axes.iter().map(|&a| shape[a].as_fixed()).product();
        (self.is_float(id) && count? as f64 == self.constant(n)?).then(|| (x, axes.clone()))
    }

    /// `x` when `id` is the mean of `x` over its last axis.
    fn mean_last(&self, id: NodeId) -> Option<NodeId> {
        let (x, axes) = self.mean(self.through(id))?;
        (axes[..] == [self.rank(x) - 1]).then_some(x)
    }

    /// `(x - mean(x)) / sqrt(var + eps) * scale + bias` over the last axis
    /// (std.nn.layer_norm), with `scale` and `bias` vectors.
    fn layer_norm(&self, id: NodeId) -> Option<Layer> {
        let (scaled, bias) = self.binary(id, BinaryOp::Add)?;
        let (normal, scale) = self.binary(scaled, BinaryOp::Mul)?;
        let (centred, sd) = self.binary(normal, BinaryOp::Div)?;
        let (var_eps, eps) =
            self.binary(self.unary(self.through(sd), UnaryOp::Sqrt)?, BinaryOp::Add)?;
        let epsilon = self.constant(eps)?;
        let squares = self.mean_last(var_eps)?;
        (self.binary(squares, BinaryOp::Mul)? == (centred, centred)).then_some(())?;
        let (x, mu) = self.binary(centred, BinaryOp::Sub)?;
        (self.mean_last(mu)? == x).then_some(())?;
        let (scale, bias) = (self.broadcast_source(scale), self.broadcast_source(bias));
        let last = *self.g.ty(x).shape.last()?;
        let vector = |v: NodeId| self.g.ty(v).shape[..] == [last];
        (vector(scale) && vector(bias)).then_some(Layer::Norm {
            x,
            scale,
            bias,
            epsilon,
        })
    }

    /// `x @ w + b` on matrices, `b` a vector over the columns.
    fn gemm(&self, id: NodeId) -> Option<Layer> {
        let (mm, b) = self.binary(id, BinaryOp::Add)?;
        let (Op::MatMul, [x, w]) = (self.op(mm), self.args(mm)) else {
            return None;
        };
        let b = self.broadcast_source(b);
        let columns = *self.g.ty(id).shape.last()?;
        let ok = self.rank(*x) == 2 && self.rank(*w) == 2 && self.g.ty(b).shape[..] == [columns];
        ok.then_some(Layer::Gemm { x: *x, w: *w, b })
    }

    /// `conv(x, w) + b`, `b` a vector over the output channels.
    fn conv_bias(&self, id: NodeId) -> Option<Layer> {
        let (conv, b) = self.binary(id, BinaryOp::Add)?;
        let (&Op::Conv { stride, pad }, &[x, w]) = (self.op(conv), self.args(conv)) else {
            return None;
        };
        let b = self.through(b);
        let channels = self.g.ty(id).shape[1];
        (self.g.ty(b).shape[..] == [channels]).then_some(Layer::ConvBias {
            x,
            w,
            b,
            stride,
            pad,
        })
    }
}
