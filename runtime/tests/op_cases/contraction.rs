//! Contractions, windows, gather and scatter, against naive loops written
//! here. The gradient ops are checked as what they are: the transposed
//! Jacobian of their forward op's reference (by basis vectors), applied
//! to `g`.

use super::harness::{
    apply_op, assert_matches, assert_refused, check, coords, flat, tensor, try_apply, Case, Gen,
    Gradient,
};
use dlp_compiler::ir::{BinaryOp, DType, Op, PoolKind, TensorTy};
use dlp_runtime::Tensor;

fn ty_of(t: &Tensor) -> TensorTy {
    TensorTy::fixed(t.dtype(), &t.shape)
}

/// `[.., M, K] @ [.., K, N]`.
fn matmul_reference(a: &Tensor, b: &Tensor) -> Tensor {
    let r = a.shape.len();
    let (m, k, n) = (a.shape[r - 2], a.shape[r - 1], b.shape[r - 1]);
    let mut shape = a.shape.clone();
    shape[r - 1] = n;
    let (av, bv) = (a.to_f64(), b.to_f64());
    let values = coords(&shape)
        .iter()
        .map(|c| {
            let batch = flat(&a.shape[..r - 2], &c[..r - 2]);
            let (i, j) = (c[r - 2], c[r - 1]);
            (0..k)
                .map(|p| av[(batch * m + i) * k + p] * bv[(batch * k + p) * n + j])
                .sum()
        })
        .collect();
    tensor(a.dtype(), &shape, values)
}

fn matmul_against_reference(gen: &mut Gen) -> usize {
    let mut pairs: Vec<(Vec<usize>, Vec<usize>)> = (0..3)
        .map(|_| {
            let (m, k, n) = (gen.size(1, 5), gen.size(1, 5), gen.size(1, 5));
            (vec![m, k], vec![k, n])
        })
        .collect();
    // Batched; rows past a multiple of 4 (the interpreter takes rows four
    // at a time); an empty contraction (zeros) and an empty result.
    let fixed: [(&[usize], &[usize]); 6] = [
        (&[2, 3, 4], &[2, 4, 2]),
        (&[2, 1, 3, 2], &[2, 1, 2, 3]),
        (&[9, 3], &[3, 5]),
        (&[2, 5, 3], &[2, 3, 4]),
        (&[3, 0], &[0, 2]),
        (&[2, 3], &[3, 0]),
    ];
    pairs.extend(fixed.iter().map(|(a, b)| (a.to_vec(), b.to_vec())));
    let mut compared = 0;
    for (sa, sb) in pairs {
        for dtype in [DType::F64, DType::F32] {
            let a = tensor(dtype, &sa, gen.values(sa.iter().product(), -1.0, 1.0));
            let b = tensor(dtype, &sb, gen.values(sb.iter().product(), -1.0, 1.0));
            let want = matmul_reference(&a, &b);
            let got = apply_op(&Op::MatMul, &[a, b], ty_of(&want));
            compared += assert_matches(&format!("matmul {sa:?} {sb:?}"), &got, &want);
        }
    }
    compared
}

fn matmul_gradient(gen: &mut Gen) -> usize {
    let mut compared = 0;
    for _ in 0..3 {
        let (m, k, n) = (gen.size(1, 5), gen.size(1, 5), gen.size(1, 5));
        let args = vec![
            gen.tensor(&[m, k], -1.0, 1.0),
            gen.tensor(&[k, n], -1.0, 1.0),
        ];
        let name = format!("matmul {m}x{k}x{n}");
        compared += check(&name, gen, args, |g, p| g.op(Op::MatMul, p));
    }
    let args = vec![
        gen.tensor(&[2, 3, 4], -1.0, 1.0),
        gen.tensor(&[2, 4, 2], -1.0, 1.0),
    ];
    compared + check("batched matmul", gen, args, |g, p| g.op(Op::MatMul, p))
}

pub fn matmul() -> Case {
    Case::new(matmul_against_reference, Gradient::fd(matmul_gradient))
}

/// `out[b, o, i, j] = sum over c, ki, kj of x[b, c, i*s+ki-p, j*s+kj-p] *
/// w[o, c, ki, kj]`, with zeros outside `x`.
fn conv_reference(x: &Tensor, w: &Tensor, stride: usize, pad: usize) -> Tensor {
    let (xs, ws) = (&x.shape, &w.shape);
    let shape = conv_out(xs, ws, stride, pad);
    let (xv, wv) = (x.to_f64(), w.to_f64());
    let at = |i: usize, k: usize, n: usize| (i * stride + k).checked_sub(pad).filter(|&v| v < n);
    let values = coords(&shape)
        .iter()
        .map(|o| {
            let mut sum = 0.0;
            for k in coords(&ws[1..]) {
                let (c, ki, kj) = (k[0], k[1], k[2]);
                if let (Some(y), Some(z)) = (at(o[2], ki, xs[2]), at(o[3], kj, xs[3])) {
                    sum += xv[flat(xs, &[o[0], c, y, z])] * wv[flat(ws, &[o[1], c, ki, kj])];
                }
            }
            sum
        })
        .collect();
    tensor(x.dtype(), &shape, values)
}

/// The conv settings a case checks: its own, and others that pad, stride
/// and leave rows of the input unread (6 by 6 with stride 2, pad 0).
fn conv_settings(stride: usize, pad: usize) -> Vec<(usize, usize, [usize; 4], [usize; 4])> {
    let small = ([2, 2, 5, 5], [3, 2, 3, 3]);
    let wide = ([1, 3, 6, 6], [2, 3, 3, 3]);
    vec![
        (stride, pad, small.0, small.1),
        (1, 0, small.0, small.1),
        (2, 1, small.0, small.1),
        (2, 0, wide.0, wide.1),
    ]
}

fn conv_against_reference(stride: usize, pad: usize, gen: &mut Gen) -> usize {
    // By hand: 1..9 in 3x3 with the kernel [[1, 0], [0, 1]].
    let x = Tensor::f64(vec![1, 1, 3, 3], (1..=9).map(f64::from).collect());
    let w = Tensor::f64(vec![1, 1, 2, 2], vec![1.0, 0.0, 0.0, 1.0]);
    let want = Tensor::f64(vec![1, 1, 2, 2], vec![6.0, 8.0, 12.0, 14.0]);
    let op = Op::Conv { stride: 1, pad: 0 };
    assert_eq!(apply_op(&op, &[x.clone(), w.clone()], ty_of(&x)), want);
    assert_eq!(conv_reference(&x, &w, 1, 0), want, "the reference itself");
    let mut compared = 4;
    for (stride, pad, xs, ws) in conv_settings(stride, pad) {
        let x = gen.tensor(&xs, -1.0, 1.0);
        let w = gen.tensor(&ws, -1.0, 1.0);
        let want = conv_reference(&x, &w, stride, pad);
        let got = apply_op(&Op::Conv { stride, pad }, &[x, w], ty_of(&want));
        compared += assert_matches(&format!("conv stride={stride} pad={pad}"), &got, &want);
    }
    compared
}

fn conv_gradient(stride: usize, pad: usize, gen: &mut Gen) -> usize {
    let mut compared = 0;
    for (stride, pad) in [(1, 0), (2, 1), (stride, pad)] {
        let args = vec![
            gen.tensor(&[2, 2, 5, 5], -1.0, 1.0),
            gen.tensor(&[3, 2, 3, 3], -1.0, 1.0),
        ];
        let name = format!("conv stride={stride} pad={pad}");
        compared += check(&name, gen, args, |g, p| {
            let x_ty = g.ty(p[0]).clone();
            g.add(Op::Conv { stride, pad }, p, x_ty)
        });
    }
    compared
}

pub fn conv(stride: usize, pad: usize) -> Case {
    Case::new(
        move |gen| conv_against_reference(stride, pad, gen),
        Gradient::fd(move |gen| conv_gradient(stride, pad, gen)),
    )
}

/// The unit tensor `e_i` of `shape`.
fn unit(shape: &[usize], i: usize) -> Tensor {
    let n = shape.iter().product();
    Tensor::f64(
        shape.to_vec(),
        (0..n).map(|j| f64::from(u8::from(i == j))).collect(),
    )
}

fn dot(a: &Tensor, b: &Tensor) -> f64 {
    a.to_f64().iter().zip(b.to_f64()).map(|(x, y)| x * y).sum()
}

/// `J^T g` for the Jacobian `J` of `f` (linear in its operand) at `shape`:
/// element `i` is `f(e_i) . g`.
fn transposed(shape: &[usize], g: &Tensor, f: impl Fn(&Tensor) -> Tensor) -> Tensor {
    let n = shape.iter().product();
    Tensor::f64(
        shape.to_vec(),
        (0..n).map(|i| dot(&f(&unit(shape, i)), g)).collect(),
    )
}

/// `x`'s gradient (`wrt_x`) or `w`'s, by the conv reference's transpose.
fn conv_grad_against_reference(wrt_x: bool, stride: usize, pad: usize, gen: &mut Gen) -> usize {
    let mut compared = 0;
    for (stride, pad, xs, ws) in conv_settings(stride, pad) {
        let x = gen.tensor(&xs, -1.0, 1.0);
        let w = gen.tensor(&ws, -1.0, 1.0);
        let g_shape = conv_reference(&x, &w, stride, pad).shape;
        let g = gen.tensor(&g_shape, -1.0, 1.0);
        let (want, op, args) = if wrt_x {
            let want = transposed(&xs, &g, |e| conv_reference(e, &w, stride, pad));
            (want, Op::ConvInputGrad { stride, pad }, [g, w])
        } else {
            let want = transposed(&ws, &g, |e| conv_reference(&x, e, stride, pad));
            (want, Op::ConvWeightGrad { stride, pad }, [x, g])
        };
        let got = apply_op(&op, &args, ty_of(&want));
        compared += assert_matches(&op.text(), &got, &want);
    }
    compared
}

/// `[B, O, OH, OW]` of a conv of `x[B, C, H, W]` with `w[O, C, KH, KW]`.
fn conv_out(xs: &[usize], ws: &[usize], stride: usize, pad: usize) -> Vec<usize> {
    let out = |n: usize, k: usize| (n + 2 * pad - k) / stride + 1;
    vec![xs[0], ws[0], out(xs[2], ws[2]), out(xs[3], ws[3])]
}

pub fn conv_input_grad(stride: usize, pad: usize) -> Case {
    let (xs, ws) = ([1, 2, 5, 5], [3, 2, 3, 3]);
    Case::new(
        move |gen| conv_grad_against_reference(true, stride, pad, gen),
        Gradient::Refused(Box::new(move |gen| {
            let g = gen.tensor(&conv_out(&xs, &ws, stride, pad), -1.0, 1.0);
            let args = vec![g, gen.tensor(&ws, -1.0, 1.0)];
            assert_refused("conv_input_grad", args, |b, p| {
                let x_ty = TensorTy::fixed(DType::F64, &xs);
                b.add(Op::ConvInputGrad { stride, pad }, p, x_ty)
            })
        })),
    )
}

pub fn conv_weight_grad(stride: usize, pad: usize) -> Case {
    let (xs, ws) = ([1, 2, 5, 5], [3, 2, 3, 3]);
    Case::new(
        move |gen| conv_grad_against_reference(false, stride, pad, gen),
        Gradient::Refused(Box::new(move |gen| {
            let g = gen.tensor(&conv_out(&xs, &ws, stride, pad), -1.0, 1.0);
            let args = vec![gen.tensor(&xs, -1.0, 1.0), g];
            assert_refused("conv_weight_grad", args, |b, p| {
                let w_ty = TensorTy::fixed(DType::F64, &ws);
                b.add(Op::ConvWeightGrad { stride, pad }, p, w_ty)
            })
        })),
    )
}

/// The input elements an output of a pooling reads, with their weights.
type Window = Vec<(usize, f64)>;

/// The shape of a `k` by `k` pooling of `x` with `stride`, and each
/// output's window: weights of `1/k^2` for the mean, 1 on the first
/// largest element for the max. Pooling is `sum(weight * x)` per window,
/// and its gradient sends `weight * g` back.
fn pool_windows(kind: PoolKind, x: &Tensor, k: usize, stride: usize) -> (Vec<usize>, Vec<Window>) {
    let xs = &x.shape;
    let out = |n: usize| (n - k) / stride + 1;
    let shape = vec![xs[0], xs[1], out(xs[2]), out(xs[3])];
    let xv = x.to_f64();
    let weights = coords(&shape)
        .iter()
        .map(|o| {
            let window: Vec<usize> = coords(&[k, k])
                .iter()
                .map(|d| {
                    flat(
                        xs,
                        &[o[0], o[1], o[2] * stride + d[0], o[3] * stride + d[1]],
                    )
                })
                .collect();
            match kind {
                PoolKind::Avg => window.iter().map(|&i| (i, 1.0 / (k * k) as f64)).collect(),
                PoolKind::Max => {
                    let first = window
                        .iter()
                        .copied()
                        .reduce(|a, b| if xv[b] > xv[a] { b } else { a });
                    vec![(first.unwrap(), 1.0)]
                }
            }
        })
        .collect();
    (shape, weights)
}

fn pool_reference(kind: PoolKind, x: &Tensor, k: usize, stride: usize) -> Tensor {
    let (shape, weights) = pool_windows(kind, x, k, stride);
    let xv = x.to_f64();
    let values = weights
        .iter()
        .map(|w| w.iter().map(|&(i, c)| c * xv[i]).sum())
        .collect();
    tensor(x.dtype(), &shape, values)
}

fn pool_grad_reference(kind: PoolKind, x: &Tensor, g: &Tensor, k: usize, stride: usize) -> Tensor {
    let (_, weights) = pool_windows(kind, x, k, stride);
    let mut acc = vec![0.0; x.len()];
    for (w, gv) in weights.iter().zip(g.to_f64()) {
        for &(i, c) in w {
            acc[i] += c * gv;
        }
    }
    tensor(x.dtype(), &x.shape, acc)
}

/// `(k, stride, x's shape)`: the case's own, overlapping windows, and a
/// size the windows do not divide.
fn pool_settings(k: usize, stride: usize) -> [(usize, usize, [usize; 4]); 4] {
    [
        (k, stride, [2, 2, 4, 4]),
        (3, 1, [1, 2, 5, 5]),
        (2, 1, [1, 2, 4, 4]),
        (2, 2, [2, 1, 5, 5]),
    ]
}

/// Random values, and small integers with ties (the first largest wins).
fn pool_inputs(gen: &mut Gen, shape: &[usize]) -> [Tensor; 2] {
    let n = shape.iter().product();
    let ties = gen.values(n, 0.0, 3.0).iter().map(|v| v.floor()).collect();
    [
        gen.tensor(shape, -1.0, 1.0),
        Tensor::f64(shape.to_vec(), ties),
    ]
}

fn pool_against_reference(kind: PoolKind, k: usize, stride: usize, gen: &mut Gen) -> usize {
    let mut compared = 0;
    for (k, stride, xs) in pool_settings(k, stride) {
        for x in pool_inputs(gen, &xs) {
            let want = pool_reference(kind, &x, k, stride);
            let op = Op::Pool { kind, k, stride };
            let got = apply_op(&op, std::slice::from_ref(&x), ty_of(&x));
            compared += assert_matches(&op.text(), &got, &want);
        }
    }
    compared
}

fn pool_grad_against_reference(kind: PoolKind, k: usize, stride: usize, gen: &mut Gen) -> usize {
    let mut compared = 0;
    for (k, stride, xs) in pool_settings(k, stride) {
        for x in pool_inputs(gen, &xs) {
            let g_shape = pool_reference(kind, &x, k, stride).shape;
            let g = gen.tensor(&g_shape, -1.0, 1.0);
            let want = pool_grad_reference(kind, &x, &g, k, stride);
            let op = Op::PoolGrad { kind, k, stride };
            let got = apply_op(&op, &[x, g], ty_of(&want));
            compared += assert_matches(&op.text(), &got, &want);
        }
    }
    compared
}

fn pool_gradient(kind: PoolKind, k: usize, stride: usize, gen: &mut Gen) -> usize {
    let mut compared = 0;
    for (k, stride, xs) in pool_settings(k, stride).into_iter().take(2) {
        let x = gen.tensor(&xs, -1.0, 1.0);
        let op = Op::Pool { kind, k, stride };
        compared += check(&op.text(), gen, vec![x], |g, p| {
            let ty = g.ty(p[0]).clone();
            g.add(op.clone(), p, ty)
        });
    }
    compared
}

pub fn pool(kind: PoolKind, k: usize, stride: usize) -> Case {
    Case::new(
        move |gen| pool_against_reference(kind, k, stride, gen),
        Gradient::fd(move |gen| pool_gradient(kind, k, stride, gen)),
    )
}

pub fn pool_grad(kind: PoolKind, k: usize, stride: usize) -> Case {
    Case::new(
        move |gen| pool_grad_against_reference(kind, k, stride, gen),
        Gradient::Refused(Box::new(move |gen| {
            let x = gen.tensor(&[1, 1, 4, 4], -1.0, 1.0);
            let g = gen.tensor(&pool_reference(kind, &x, k, stride).shape, -1.0, 1.0);
            assert_refused("pool_grad", vec![x, g], |b, p| {
                let ty = b.ty(p[0]).clone();
                b.add(Op::PoolGrad { kind, k, stride }, p, ty)
            })
        })),
    )
}

/// Ids of rank 2, repeated and unused rows.
fn ids() -> Tensor {
    Tensor::i32(vec![2, 3], vec![0, 2, 4, 2, 2, 1])
}

fn gather_against_reference() -> usize {
    let mut compared = 0;
    for dtype in [DType::F64, DType::I32] {
        let table = tensor(dtype, &[5, 3], (0..15).map(f64::from).collect());
        let ids = ids();
        let want: Vec<f64> = coords(&[2, 3, 3])
            .iter()
            .map(|c| {
                let row = ids.to_f64()[flat(&[2, 3], &c[..2])] as usize;
                table.to_f64()[row * 3 + c[2]]
            })
            .collect();
        let out = TensorTy::fixed(dtype, &[2, 3, 3]);
        let got = apply_op(&Op::Gather, &[table.clone(), ids], out);
        assert_eq!(got, tensor(dtype, &[2, 3, 3], want), "gather {dtype}");
        compared += got.len();
        for bad in [5, -1] {
            let ids = Tensor::i32(vec![1], vec![bad]);
            let got = try_apply(&[table.clone(), ids], |b, p| b.op(Op::Gather, p));
            assert!(got.is_err(), "gather of row {bad} of 5");
        }
    }
    compared
}

fn gather_gradient(gen: &mut Gen) -> usize {
    let table = gen.tensor(&[5, 3], -1.0, 1.0);
    check("gather", gen, vec![table], |g, p| {
        let ids = g.add(Op::Iota(0), &[], TensorTy::fixed(DType::I32, &[4]));
        let three = g.full_like(3.0, ids);
        // Rows 0, 1, 2, 0: a repeated row sums its gradients.
        let ids = g.binary(BinaryOp::Rem, ids, three);
        g.op(Op::Gather, &[p[0], ids])
    })
}

pub fn gather() -> Case {
    Case::new(
        |_| gather_against_reference(),
        Gradient::fd(gather_gradient),
    )
}

fn scatter_add_against_reference(gen: &mut Gen) -> usize {
    let ids = ids();
    let g = gen.tensor(&[2, 3, 4], -1.0, 1.0);
    let mut want = vec![0.0; 5 * 4];
    for (c, v) in coords(&g.shape).iter().zip(g.to_f64()) {
        let row = ids.to_f64()[flat(&[2, 3], &c[..2])] as usize;
        want[row * 4 + c[2]] += v;
    }
    let out = TensorTy::fixed(DType::F64, &[5, 4]);
    let got = apply_op(&Op::ScatterAdd, &[ids, g.clone()], out.clone());
    let compared = assert_matches("scatter_add", &got, &Tensor::f64(vec![5, 4], want));
    let bad = [
        Tensor::i32(vec![1], vec![5]),
        gen.tensor(&[1, 4], -1.0, 1.0),
    ];
    let got = try_apply(&bad, |b, p| b.add(Op::ScatterAdd, p, out));
    assert!(got.is_err(), "scatter_add into row 5 of 5");
    compared
}

pub fn scatter_add() -> Case {
    Case::new(
        scatter_add_against_reference,
        Gradient::Refused(Box::new(|gen| {
            let g = gen.tensor(&[4, 3], -1.0, 1.0);
            assert_refused("scatter_add", vec![g], |b, p| {
                let ids = b.add(Op::Iota(0), &[], TensorTy::fixed(DType::I32, &[4]));
                b.add(
                    Op::ScatterAdd,
                    &[ids, p[0]],
                    TensorTy::fixed(DType::F64, &[5, 3]),
                )
            })
        })),
    )
}
