//! Every primitive op's gradient (the VJP rules in `autodiff`) against
//! central finite differences, in f64, on random shapes and values,
//! broadcasting included.
//!
//! For an op `f`, the checked scalar is `sum(f(p...) * w)` with a fixed
//! random `w`, so every output element's gradient matters.

use dlp_compiler::autodiff::backward;
use dlp_compiler::ir::{verify, BinaryOp, Builder, DType, Input, NodeId, Op, Output, PoolKind};
use dlp_compiler::ir::{ReduceOp, Size, TensorTy, UnaryOp};
use dlp_runtime::interp::Interpreter;
use dlp_runtime::Tensor;
use std::collections::HashMap;

/// A small deterministic generator (the tests must not depend on a seed
/// that changes between runs).
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    fn size(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() * (hi - lo + 1) as f64) as usize % (hi - lo + 1)
    }

    fn tensor(&mut self, shape: &[usize], lo: f64, hi: f64) -> Tensor {
        let n = shape.iter().product();
        Tensor::f64(
            shape.to_vec(),
            (0..n).map(|_| lo + (hi - lo) * self.next()).collect(),
        )
    }
}

fn f64_ty(shape: &[usize]) -> TensorTy {
    TensorTy::fixed(DType::F64, shape)
}

/// Fixed sizes.
fn sz(shape: &[usize]) -> Vec<Size> {
    shape.iter().map(|&d| Size::fixed(d)).collect()
}

/// The fixed numbers of a type's shape.
fn dims(ty: &TensorTy) -> Vec<usize> {
    ty.at(1).expect("fixed sizes")
}

/// Checks d/dp sum(build(p) * w) for every parameter `p` against central
/// differences.
fn check(
    name: &str,
    gen: &mut Gen,
    params: Vec<Tensor>,
    build: impl Fn(&mut Builder, &[NodeId]) -> NodeId,
) {
    let mut g = Builder::new();
    let nodes: Vec<NodeId> = params
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let ty = TensorTy::fixed(t.dtype(), &t.shape);
            g.input(Input::Param(format!("p{i}")), ty)
        })
        .collect();
    let out = build(&mut g, &nodes);
    let out_shape = dims(g.ty(out));
    let w_node = g.input(Input::Feed("w".into()), f64_ty(&out_shape));
    let prod = g.binary(BinaryOp::Mul, out, w_node);
    let axes = (0..out_shape.len()).collect();
    let loss = g.reduce(ReduceOp::Sum, prod, axes);
    let grads = backward(&mut g, loss, &nodes).unwrap();
    g.set_output(Output::LossSum, loss);
    for (i, gr) in grads.iter().enumerate() {
        g.set_output(Output::Gradient(format!("p{i}")), *gr);
    }
    let g = verify(g.finish()).unwrap_or_else(|e| panic!("{name}: {e:?}"));
    let w = gen.tensor(&out_shape, -1.0, 1.0);
    let run = |values: &[Tensor]| -> Vec<(Output, Tensor)> {
        let params: HashMap<String, Tensor> = values
            .iter()
            .enumerate()
            .map(|(i, t)| (format!("p{i}"), t.clone()))
            .collect();
        Interpreter::new(&g)
            .run(1, &|i| match i {
                Input::Param(p) => params.get(p),
                Input::Feed(_) => Some(&w),
                _ => None,
            })
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let outputs = run(&params);
    let loss_of = |values: &[Tensor]| run(values)[0].1.item();
    let h = 1e-6;
    for (i, p) in params.iter().enumerate() {
        let analytic = outputs[i + 1].1.to_f64();
        let base = p.to_f64();
        for j in 0..base.len() {
            let mut plus = params.clone();
            let mut minus = params.clone();
            let mut up = base.clone();
            up[j] += h;
            plus[i] = Tensor::f64(p.shape.clone(), up);
            let mut down = base.clone();
            down[j] -= h;
            minus[i] = Tensor::f64(p.shape.clone(), down);
            let numeric = (loss_of(&plus) - loss_of(&minus)) / (2.0 * h);
            let err = (analytic[j] - numeric).abs();
            assert!(
                err <= 1e-6 + 1e-5 * numeric.abs(),
                "{name}: d/dp{i}[{j}] is {} by autodiff, {numeric} by finite differences (shape {:?})",
                analytic[j],
                p.shape
            );
        }
    }
}

fn random_shape(gen: &mut Gen, rank: usize) -> Vec<usize> {
    (0..rank).map(|_| gen.size(1, 4)).collect()
}

#[test]
fn unary_ops() {
    let mut gen = Gen(1);
    let cases: [(UnaryOp, f64, f64); 9] = [
        (UnaryOp::Neg, -2.0, 2.0),
        (UnaryOp::Exp, -2.0, 2.0),
        (UnaryOp::Log, 0.2, 3.0),
        (UnaryOp::Sqrt, 0.2, 3.0),
        (UnaryOp::Abs, 0.1, 2.0),
        (UnaryOp::Tanh, -2.0, 2.0),
        (UnaryOp::Sin, -3.0, 3.0),
        (UnaryOp::Cos, -3.0, 3.0),
        (UnaryOp::Erf, -2.0, 2.0),
    ];
    for (u, lo, hi) in cases {
        for rank in 0..=3 {
            let shape = random_shape(&mut gen, rank);
            let mut x = gen.tensor(&shape, lo, hi);
            if u == UnaryOp::Abs {
                // Both signs, away from the kink at 0.
                let v: Vec<f64> = x
                    .to_f64()
                    .iter()
                    .enumerate()
                    .map(|(i, v)| if i % 2 == 0 { *v } else { -v })
                    .collect();
                x = Tensor::f64(shape.clone(), v);
            }
            check(&format!("{u:?} {shape:?}"), &mut gen, vec![x], |g, p| {
                g.unary(u, p[0])
            });
        }
    }
}

#[test]
fn binary_ops_with_broadcasting() {
    let mut gen = Gen(2);
    let ops = [
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Pow,
        BinaryOp::Max,
        BinaryOp::Min,
    ];
    // (shape of a, shape of b): equal shapes, then broadcasting both ways.
    let pairs: [(&[usize], &[usize]); 6] = [
        (&[3, 4], &[3, 4]),
        (&[3, 4], &[4]),
        (&[3, 1], &[1, 4]),
        (&[2, 3, 4], &[3, 1]),
        (&[], &[2, 3]),
        (&[5], &[]),
    ];
    for b in ops {
        for (sa, sb) in pairs {
            let (lo, hi) = if b == BinaryOp::Pow {
                (0.5, 2.0)
            } else {
                (-2.0, 2.0)
            };
            let x = gen.tensor(sa, lo, hi);
            let y = gen.tensor(sb, if b == BinaryOp::Div { 0.5 } else { lo }, hi);
            check(
                &format!("{b:?} {sa:?} {sb:?}"),
                &mut gen,
                vec![x, y],
                |g, p| {
                    let shape = sz(&broadcast(&dims(g.ty(p[0])), &dims(g.ty(p[1]))));
                    let a = g.broadcast_to(p[0], &shape);
                    let c = g.broadcast_to(p[1], &shape);
                    g.binary(b, a, c)
                },
            );
        }
    }
}

fn broadcast(a: &[usize], b: &[usize]) -> Vec<usize> {
    let rank = a.len().max(b.len());
    let at = |s: &[usize], i: usize| {
        if i < rank - s.len() {
            1
        } else {
            s[i - (rank - s.len())]
        }
    };
    (0..rank).map(|i| at(a, i).max(at(b, i))).collect()
}

#[test]
fn select() {
    let mut gen = Gen(3);
    let shape = [3, 4];
    let c = gen.tensor(&shape, -1.0, 1.0);
    check(
        "select",
        &mut gen,
        vec![c, gen_tensor(&shape, 4), gen_tensor(&shape, 5)],
        |g, p| {
            let zero = g.full_like(0.0, p[0]);
            let cond = g.binary(BinaryOp::Gt, p[0], zero);
            g.op(Op::Select, &[cond, p[1], p[2]])
        },
    );
}

/// Cast's rule passes the gradient through, converted back: checked
/// exactly, since finite differences through f32 rounding mean nothing.
#[test]
fn cast_passes_the_gradient_through() {
    let mut g = Builder::new();
    let p = g.input(Input::param("p"), TensorTy::fixed(DType::F32, &[3]));
    let wide = g.cast(p, DType::F64);
    let w = g.input(Input::Feed("w".into()), f64_ty(&[3]));
    let prod = g.binary(BinaryOp::Mul, wide, w);
    let loss = g.reduce(ReduceOp::Sum, prod, vec![0]);
    let grads = backward(&mut g, loss, &[p]).unwrap();
    g.set_output(Output::Gradient("p".into()), grads[0]);
    let g = verify(g.finish()).unwrap();
    let p_value = Tensor::f32(vec![3], vec![1.0, 2.0, 3.0]);
    let w_value = Tensor::f64(vec![3], vec![0.5, -1.25, 4.0]);
    let out = Interpreter::new(&g)
        .run(1, &|i| match i {
            Input::Param(_) => Some(&p_value),
            _ => Some(&w_value),
        })
        .unwrap();
    assert_eq!(out[0].1, Tensor::f32(vec![3], vec![0.5, -1.25, 4.0]));
}

fn gen_tensor(shape: &[usize], seed: u64) -> Tensor {
    Gen(seed).tensor(shape, -2.0, 2.0)
}

#[test]
fn reductions_over_every_axis_set() {
    let mut gen = Gen(4);
    for op in [ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min] {
        for axes in [vec![0], vec![1], vec![2], vec![0, 2], vec![0, 1, 2]] {
            let shape = random_shape(&mut gen, 3);
            let x = gen.tensor(&shape, -3.0, 3.0);
            check(
                &format!("{op:?} {axes:?} {shape:?}"),
                &mut gen,
                vec![x],
                |g, p| g.reduce(op, p[0], axes.clone()),
            );
        }
    }
}

#[test]
fn movement_ops() {
    let mut gen = Gen(5);
    let x = gen.tensor(&[2, 3, 4], -1.0, 1.0);
    check("reshape", &mut gen, vec![x.clone()], |g, p| {
        g.reshape(p[0], &sz(&[6, 4]))
    });
    check("permute", &mut gen, vec![x.clone()], |g, p| {
        g.op(Op::Permute(vec![2, 0, 1]), &[p[0]])
    });
    check(
        "broadcast",
        &mut gen,
        vec![gen_tensor(&[3, 1], 7)],
        |g, p| g.broadcast_to(p[0], &sz(&[2, 3, 5])),
    );
    check("slice", &mut gen, vec![x.clone()], |g, p| {
        g.op(
            Op::Slice {
                axis: 2,
                start: Size::fixed(1),
                end: Size::fixed(3),
            },
            &[p[0]],
        )
    });
    check(
        "concat",
        &mut gen,
        vec![x, gen_tensor(&[2, 1, 4], 8)],
        |g, p| g.op(Op::Concat(1), &[p[0], p[1]]),
    );
}

#[test]
fn contractions() {
    let mut gen = Gen(6);
    for _ in 0..3 {
        let (m, k, n) = (gen.size(1, 5), gen.size(1, 5), gen.size(1, 5));
        let a = gen.tensor(&[m, k], -1.0, 1.0);
        let b = gen.tensor(&[k, n], -1.0, 1.0);
        check(
            &format!("matmul {m}x{k}x{n}"),
            &mut gen,
            vec![a, b],
            |g, p| g.op(Op::MatMul, &[p[0], p[1]]),
        );
    }
    let a = gen.tensor(&[2, 3, 4], -1.0, 1.0);
    let b = gen.tensor(&[2, 4, 2], -1.0, 1.0);
    check("batched matmul", &mut gen, vec![a, b], |g, p| {
        g.op(Op::MatMul, &[p[0], p[1]])
    });
    for (stride, pad) in [(1, 0), (2, 1), (1, 1)] {
        let x = gen.tensor(&[2, 2, 5, 5], -1.0, 1.0);
        let w = gen.tensor(&[3, 2, 3, 3], -1.0, 1.0);
        check(
            &format!("conv stride {stride} pad {pad}"),
            &mut gen,
            vec![x, w],
            |g, p| {
                let x_ty = g.ty(p[0]).clone();
                g.add(Op::Conv { stride, pad }, &[p[0], p[1]], x_ty)
            },
        );
    }
}

#[test]
fn pooling_and_gather() {
    let mut gen = Gen(7);
    for kind in [PoolKind::Max, PoolKind::Avg] {
        let x = gen.tensor(&[2, 2, 4, 4], -1.0, 1.0);
        check(&format!("{kind:?} pool"), &mut gen, vec![x], |g, p| {
            let ty = g.ty(p[0]).clone();
            g.add(
                Op::Pool {
                    kind,
                    k: 2,
                    stride: 2,
                },
                &[p[0]],
                ty,
            )
        });
    }
    let table = gen.tensor(&[5, 3], -1.0, 1.0);
    check("gather", &mut gen, vec![table], |g, p| {
        let ids = g.add(Op::Iota(0), &[], TensorTy::fixed(DType::I32, &[4]));
        let three = g.full_like(3.0, ids);
        // Rows 0, 1, 2, 0: a repeated row sums its gradients.
        let ids = g.binary(BinaryOp::Rem, ids, three);
        g.op(Op::Gather, &[p[0], ids])
    });
}
