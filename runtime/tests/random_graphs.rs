//! Random graphs, CPU back end against the interpreter: chains of
//! elementwise ops with broadcasting (scalars, rows, columns), comparisons
//! and selects, reductions over random axes broadcast back, matrix
//! products, and convolutions with pooling at random sizes, strides and
//! paddings — each with its gradients (autodiff), on random shapes from
//! one element to sizes that split across threads and run four lanes at a
//! time. Every kernel must compile (none may run on the interpreter's
//! ops). Graphs without a matrix product or convolution must give the
//! interpreter's bits; the others agree within 1e-4 relative (plus 1e-5
//! absolute), as `gemm` sums in f32 in its own order. A seeded generator
//! makes every run test the same graphs; a failure names the graph's seed.

use dlp_compiler::autodiff::backward;
use dlp_compiler::ir::{
    verify, BinaryOp, Builder, DType, Input, NodeId, Op, Output, PoolKind, ReduceOp, Size,
    TensorTy, UnaryOp, Verified,
};
use dlp_runtime::cpu::CpuStep;
use dlp_runtime::interp::Interpreter;
use dlp_runtime::Tensor;
use std::collections::HashMap;

mod common;
use common::Gen;

/// A broadcast read through a reshape (its rows repeated, then
/// flattened): the view is followed in generated code, and the values are
/// the interpreter's.
#[test]
fn a_broadcast_read_through_a_reshape_compiles() {
    let mut c = Case::new();
    let x = c.param(&[3, 1, 5]);
    let y = c.param(&[60]);
    let wide =
        c.b.broadcast_to(x, &[Size::fixed(3), Size::fixed(4), Size::fixed(5)]);
    let flat = c.b.reshape(wide, &[Size::fixed(60)]);
    let sum = c.b.binary(BinaryOp::Add, flat, y);
    let (step, inputs) = c.finish(sum);
    compare(0, &step, &inputs, false);
}

/// Random graphs of each family.
const GRAPHS: u64 = 150;

/// A graph under construction: its inputs (name, type) and builder.
struct Case {
    b: Builder,
    inputs: Vec<(Input, TensorTy)>,
}

impl Case {
    fn new() -> Case {
        Case {
            b: Builder::new(),
            inputs: Vec::new(),
        }
    }

    /// A new parameter input of `shape` (gradients are taken for them).
    fn param(&mut self, shape: &[usize]) -> NodeId {
        let input = Input::param(&format!("p{}", self.inputs.len()));
        let ty = TensorTy::fixed(DType::F32, shape);
        self.inputs.push((input.clone(), ty.clone()));
        self.b.input(input, ty)
    }

    fn shape(&self, n: NodeId) -> Vec<usize> {
        self.b.ty(n).at(1).expect("fixed sizes")
    }

    /// The loss (a sum of squares of `value`), the gradients of every
    /// parameter, and `value` itself as outputs; the verified step.
    fn finish(mut self, value: NodeId) -> (Verified, Vec<(Input, TensorTy)>) {
        let rank = self.b.ty(value).rank();
        let sq = self.b.binary(BinaryOp::Mul, value, value);
        let loss = self.b.reduce(ReduceOp::Sum, sq, (0..rank).collect());
        let params: Vec<NodeId> = self
            .inputs
            .iter()
            .map(|(i, ty)| self.b.input(i.clone(), ty.clone()))
            .collect();
        let grads = backward(&mut self.b, loss, &params).expect("gradients");
        self.b.set_output(Output::LossSum, loss);
        self.b.set_output(Output::MetricSum("value".into()), value);
        for ((input, _), g) in self.inputs.iter().zip(grads) {
            self.b.set_output(Output::Gradient(input.to_string()), g);
        }
        let step = verify(self.b.finish()).expect("a valid random graph");
        (step, self.inputs)
    }
}

/// A random shape: rank 1 to 4, mostly small sizes, sometimes one large
/// enough to split across threads.
fn random_shape(rng: &mut Gen) -> Vec<usize> {
    let rank = 1 + rng.below(4);
    let mut shape: Vec<usize> = (0..rank)
        .map(|_| rng.pick(&[1, 2, 3, 4, 5, 7, 8, 9]))
        .collect();
    if rng.below(4) == 0 {
        let axis = rng.below(rank);
        shape[axis] = rng.pick(&[64, 130, 300]);
    }
    shape
}

/// `shape` with some axes set to 1 (and maybe fewer leading axes): what
/// broadcasts to it.
fn broadcastable(rng: &mut Gen, shape: &[usize]) -> Vec<usize> {
    let drop = rng.below(shape.len() + 1);
    shape[drop..]
        .iter()
        .map(|&d| if rng.below(2) == 0 { 1 } else { d })
        .collect()
}

const UNARY: &[UnaryOp] = &[
    UnaryOp::Neg,
    UnaryOp::Exp,
    UnaryOp::Log,
    UnaryOp::Sqrt,
    UnaryOp::Abs,
    UnaryOp::Tanh,
    UnaryOp::Sin,
    UnaryOp::Cos,
    UnaryOp::Erf,
    UnaryOp::Sign,
];

const BINARY: &[BinaryOp] = &[
    BinaryOp::Add,
    BinaryOp::Sub,
    BinaryOp::Mul,
    BinaryOp::Div,
    BinaryOp::Max,
    BinaryOp::Min,
    BinaryOp::Pow,
];

/// After a matrix product, whose last bits differ between the back ends,
/// only ops that do not magnify a small difference much (no division,
/// power, exponential or logarithm, no comparison that could flip).
const STABLE_UNARY: &[UnaryOp] = &[
    UnaryOp::Neg,
    UnaryOp::Abs,
    UnaryOp::Tanh,
    UnaryOp::Sin,
    UnaryOp::Cos,
    UnaryOp::Erf,
];

const STABLE_BINARY: &[BinaryOp] = &[
    BinaryOp::Add,
    BinaryOp::Sub,
    BinaryOp::Mul,
    BinaryOp::Max,
    BinaryOp::Min,
];

const COMPARE: &[BinaryOp] = &[
    BinaryOp::Lt,
    BinaryOp::Le,
    BinaryOp::Gt,
    BinaryOp::Ge,
    BinaryOp::Eq,
];

/// An elementwise chain over a random shape: unary and binary ops (the
/// second operand broadcast from a smaller shape, or a scalar), selects
/// on comparisons, reductions broadcast back, and sometimes a matrix
/// product that starts a new shape.
fn elementwise_graph(rng: &mut Gen) -> (Verified, Vec<(Input, TensorTy)>, bool) {
    let mut c = Case::new();
    let mut shape = random_shape(rng);
    let mut x = c.param(&shape);
    // A graph with a matrix product uses only the stable ops: its last
    // bits differ between back ends, and the gradients carry the
    // difference back through every op.
    let contracted = rng.below(3) == 0;
    let steps = 3 + rng.below(8);
    let product_at = if contracted { rng.below(steps) } else { steps };
    for step in 0..steps {
        let full: Vec<Size> = shape.iter().map(|&d| Size::fixed(d)).collect();
        // A second operand: broadcast from a smaller shape, or a constant.
        let other = |c: &mut Case, rng: &mut Gen| -> NodeId {
            if rng.below(4) == 0 {
                let k = c.b.constant(rng.next() * 4.0 - 2.0, DType::F32);
                c.b.broadcast_to(k, &full)
            } else {
                let y = c.param(&broadcastable(rng, &shape));
                c.b.broadcast_to(y, &full)
            }
        };
        let (unary, binary) = if contracted {
            (STABLE_UNARY, STABLE_BINARY)
        } else {
            (UNARY, BINARY)
        };
        let choice = if step == product_at { 5 } else { rng.below(5) };
        x = match choice {
            0 | 1 => c.b.unary(rng.pick(unary), x),
            2 => {
                let y = other(&mut c, rng);
                c.b.binary(rng.pick(binary), x, y)
            }
            3 if !contracted => {
                let y = other(&mut c, rng);
                let z = other(&mut c, rng);
                let cond = c.b.binary(rng.pick(COMPARE), x, y);
                c.b.select(cond, x, z)
            }
            3 | 4 => {
                // A reduction over some axes, broadcast back.
                let axes: Vec<usize> = (0..shape.len()).filter(|_| rng.below(2) == 0).collect();
                let op = rng.pick(&[ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min]);
                let r = c.b.reduce(op, x, axes.clone());
                let kept: Vec<Size> = full
                    .iter()
                    .enumerate()
                    .map(|(i, &d)| if axes.contains(&i) { Size::ONE } else { d })
                    .collect();
                let r = c.b.reshape(r, &kept);
                let r = c.b.broadcast_to(r, &full);
                c.b.binary(BinaryOp::Sub, x, r)
            }
            _ => {
                // A matrix product over the last axis, to a new width.
                let k = *shape.last().expect("rank 1 at least");
                let n = rng.pick(&[1, 3, 8, 33]);
                let w = c.param(&[k, n]);
                let x2 = if shape.len() == 1 {
                    c.b.reshape(x, &[Size::ONE, Size::fixed(k)])
                } else {
                    x
                };
                let mut out: Vec<usize> = c.shape(x2);
                *out.last_mut().expect("rank 2") = n;
                let w = if out.len() > 2 {
                    let mut wide: Vec<Size> = out[..out.len() - 2]
                        .iter()
                        .map(|&d| Size::fixed(d))
                        .collect();
                    wide.extend([Size::fixed(k), Size::fixed(n)]);
                    c.b.broadcast_to(w, &wide)
                } else {
                    w
                };
                shape = out.clone();
                c.b.add(Op::MatMul, &[x2, w], TensorTy::fixed(DType::F32, &out))
            }
        };
    }
    let (step, inputs) = c.finish(x);
    (step, inputs, contracted)
}

/// A convolution (random channels, size, kernel, stride, padding), a
/// nonlinearity, sometimes a pooling, at a random batch.
fn conv_graph(rng: &mut Gen) -> (Verified, Vec<(Input, TensorTy)>, bool) {
    let mut c = Case::new();
    let (n, ch, o) = (1 + rng.below(4), 1 + rng.below(4), 1 + rng.below(5));
    let k = rng.pick(&[1, 2, 3, 5]);
    let stride = 1 + rng.below(3);
    let pad = rng.below(3);
    let side = k + rng.below(12);
    let x = c.param(&[n, ch, side, side]);
    let w = c.param(&[o, ch, k, k]);
    let out = (side + 2 * pad - k) / stride + 1;
    let y = c.b.add(
        Op::Conv { stride, pad },
        &[x, w],
        TensorTy::fixed(DType::F32, &[n, o, out, out]),
    );
    let y =
        c.b.unary(rng.pick(&[UnaryOp::Tanh, UnaryOp::Abs, UnaryOp::Sin]), y);
    let y = if out >= 2 && rng.below(2) == 0 {
        let (pk, ps) = rng.pick(&[(2, 2), (2, 1), (3, 2)]);
        if out >= pk {
            let kind = rng.pick(&[PoolKind::Max, PoolKind::Avg]);
            c.b.add(
                Op::Pool {
                    kind,
                    k: pk,
                    stride: ps,
                },
                &[y],
                TensorTy::scalar(DType::F32),
            )
        } else {
            y
        }
    } else {
        y
    };
    let (step, inputs) = c.finish(y);
    (step, inputs, true)
}

/// Within 1e-4 relative, or 1e-5 of the tensor's largest element.
fn close(a: f64, b: f64, scale: f64) -> bool {
    a == b
        || (a.is_nan() && b.is_nan())
        || (a - b).abs() <= 1e-5 * (1.0 + scale) + 1e-4 * a.abs().max(b.abs())
}

fn same_bits(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// Runs `step` on both back ends on random values and compares them.
fn compare(seed: u64, step: &Verified, inputs: &[(Input, TensorTy)], contracted: bool) {
    let mut rng = Gen(seed ^ 0x9e37_79b9_7f4a_7c15);
    let values: HashMap<Input, Tensor> = inputs
        .iter()
        .map(|(input, ty)| {
            let shape = ty.at(1).expect("fixed");
            let n = shape.iter().product();
            let v = (0..n).map(|_| (rng.next() as f32) * 4.0 - 2.0).collect();
            (input.clone(), Tensor::f32(shape, v))
        })
        .collect();
    let lookup = |i: &Input| values.get(i);
    let want = Interpreter::new(step)
        .run(1, &lookup)
        .unwrap_or_else(|e| panic!("graph {seed}: the interpreter: {e}"));
    let mut cpu = CpuStep::new(step).expect("a CPU step");
    let got = cpu
        .run(1, &lookup)
        .unwrap_or_else(|e| panic!("graph {seed}: the CPU back end: {e}"));
    assert_eq!(want.len(), got.len());
    for ((o, w), (_, g)) in want.iter().zip(&got) {
        assert_eq!(w.shape, g.shape, "graph {seed}, {o}");
        let w = w.to_f64();
        // Products summed in another order differ by a part of the
        // magnitudes summed, which the largest result element stands for.
        let scale = w
            .iter()
            .filter(|v| v.is_finite())
            .fold(0.0f64, |m, v| m.max(v.abs()));
        for (i, (x, y)) in w.iter().zip(g.to_f64()).enumerate() {
            let ok = if contracted {
                close(*x, y, scale)
            } else {
                same_bits(*x, y)
            };
            assert!(
                ok,
                "graph {seed}, {o}[{i}]: interpreter {x}, cpu {y} (largest {scale})"
            );
        }
    }
    // Every kernel compiles (none runs on the interpreter's ops).
    let fallbacks: Vec<String> = cpu.fallbacks(1).into_iter().flatten().collect();
    assert!(fallbacks.is_empty(), "graph {seed}: {fallbacks:?}");
}

#[test]
fn random_elementwise_chains_reductions_and_products_agree() {
    for seed in 1..=GRAPHS {
        let mut rng = Gen(seed);
        let (step, inputs, contracted) = elementwise_graph(&mut rng);
        compare(seed, &step, &inputs, contracted);
    }
}

#[test]
fn random_convolutions_and_poolings_agree() {
    for seed in 1..=GRAPHS {
        let mut rng = Gen(seed * 7919);
        let (step, inputs, contracted) = conv_graph(&mut rng);
        compare(seed, &step, &inputs, contracted);
    }
}
