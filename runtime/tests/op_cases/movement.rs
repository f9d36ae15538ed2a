//! Reductions and movement ops. A movement op's reference says, for each
//! output coordinate, which operand element it copies; a reduction's folds
//! the elements that share the kept coordinates.

use super::harness::{
    apply, apply_op, assert_matches, check, coords, flat, run, sz, tensor, Case, Gen, Gradient,
};
use dlp_compiler::ir::{DType, Input, Op, ReduceOp, Size, TensorTy};
use dlp_runtime::Tensor;

/// `(operand, coordinate)` an output coordinate copies.
type Source<'a> = &'a dyn Fn(&[usize]) -> (usize, Vec<usize>);

/// `op` on `args` (each with its type) at `batch`, typed `given`: every
/// output element is the operand element `source` names, exactly.
fn assert_moves(
    op: &Op,
    batch: usize,
    args: &[(TensorTy, Tensor)],
    given: TensorTy,
    source: Source,
) -> usize {
    let inputs: Vec<_> = args
        .iter()
        .enumerate()
        .map(|(i, (ty, t))| (Input::Feed(format!("x{i}")), ty.clone(), t))
        .collect();
    let got = run(batch, &inputs, |b, x| b.add(op.clone(), x, given.clone())).unwrap();
    let shape = given.at(batch).unwrap();
    let values: Vec<Vec<f64>> = args.iter().map(|(_, t)| t.to_f64()).collect();
    let want = coords(&shape)
        .iter()
        .map(|c| {
            let (k, at) = source(c);
            values[k][flat(&args[k].1.shape, &at)]
        })
        .collect();
    assert_eq!(got, tensor(given.dtype, &shape, want), "{}", op.text());
    got.len()
}

/// A fixed-size operand of values 0, 1, 2.. as `dtype` (distinct but
/// for bools).
fn distinct(dtype: DType, shape: &[usize]) -> (TensorTy, Tensor) {
    let n = shape.iter().product::<usize>();
    let t = tensor(dtype, shape, (0..n).map(|i| i as f64).collect());
    (TensorTy::fixed(dtype, shape), t)
}

/// A shape (or a coordinate) without `axes`.
fn kept(shape: &[usize], axes: &[usize]) -> Vec<usize> {
    let keep = (0..shape.len()).filter(|a| !axes.contains(a));
    keep.map(|a| shape[a]).collect()
}

fn reduce_reference(op: ReduceOp, x: &Tensor, axes: &[usize]) -> Tensor {
    let out_shape = kept(&x.shape, axes);
    let mut acc: Vec<Option<f64>> = vec![None; out_shape.iter().product()];
    for (c, v) in coords(&x.shape).iter().zip(x.to_f64()) {
        let slot = &mut acc[flat(&out_shape, &kept(c, axes))];
        *slot = Some(match (op, *slot) {
            (_, None) => v,
            (ReduceOp::Sum, Some(a)) => a + v,
            (ReduceOp::Max, Some(a)) => a.max(v),
            (ReduceOp::Min, Some(a)) => a.min(v),
        });
    }
    let values = acc.into_iter().map(Option::unwrap).collect();
    tensor(x.dtype(), &out_shape, values)
}

/// Every non-empty axis set of a rank-3 tensor.
fn axis_sets() -> Vec<Vec<usize>> {
    (1..8u32)
        .map(|m| (0..3).filter(|a| m & (1 << a) != 0).collect())
        .collect()
}

/// Every axis set in f64, and `axes` in every number type.
fn reduce_against_reference(op: ReduceOp, axes: &[usize], gen: &mut Gen) -> usize {
    let rank = axes.iter().max().map_or(3, |&a| (a + 1).max(3));
    let shape: Vec<usize> = (0..rank).map(|i| 2 + i % 3).collect();
    let mut cases: Vec<(Vec<usize>, Tensor)> = axis_sets()
        .into_iter()
        .map(|axes| (axes, gen.tensor(&[2, 3, 4], -3.0, 3.0)))
        .collect();
    for dtype in [DType::F32, DType::I32] {
        let n = shape.iter().product();
        let values = gen.values(n, -5.0, 5.0).iter().map(|v| v.round()).collect();
        cases.push((axes.to_vec(), tensor(dtype, &shape, values)));
    }
    let mut compared = 0;
    for (axes, x) in cases {
        let got = apply(std::slice::from_ref(&x), |b, p| {
            b.reduce(op, p[0], axes.clone())
        });
        let what = format!(
            "reduce_{} {axes:?} of {:?} {}",
            op.name(),
            x.shape,
            x.dtype()
        );
        compared += assert_matches(&what, &got, &reduce_reference(op, &x, &axes));
    }
    compared
}

fn reduce_gradient(op: ReduceOp, gen: &mut Gen) -> usize {
    let mut compared = 0;
    for axes in axis_sets() {
        let shape = gen.shape(3);
        let x = gen.tensor(&shape, -3.0, 3.0);
        let name = format!("reduce_{} {axes:?} {shape:?}", op.name());
        compared += check(&name, gen, vec![x], |g, p| g.reduce(op, p[0], axes.clone()));
    }
    compared
}

pub fn reduce(op: ReduceOp, axes: Vec<usize>) -> Case {
    Case::new(
        move |gen| reduce_against_reference(op, &axes, gen),
        Gradient::fd(move |gen| reduce_gradient(op, gen)),
    )
}

/// The first index of the largest element along each axis, on values
/// with many ties, in every number type.
fn argmax_against_reference(axis: usize, gen: &mut Gen) -> usize {
    let rank = (axis + 1).max(3);
    let shape: Vec<usize> = (0..rank).map(|i| 3 + i).collect();
    let mut compared = 0;
    for dtype in [DType::F64, DType::F32, DType::I32] {
        let n = shape.iter().product();
        let values: Vec<f64> = gen.values(n, 0.0, 3.0).iter().map(|v| v.floor()).collect();
        let x = tensor(dtype, &shape, values.clone());
        for a in 0..rank {
            let out_shape = kept(&shape, &[a]);
            let mut best: Vec<Option<(f64, usize)>> = vec![None; out_shape.iter().product()];
            for (c, &v) in coords(&shape).iter().zip(&values) {
                let slot = &mut best[flat(&out_shape, &kept(c, &[a]))];
                if slot.is_none_or(|(m, _)| v > m) {
                    *slot = Some((v, c[a]));
                }
            }
            let want = best.iter().map(|b| b.unwrap().1 as f64).collect();
            let ty = TensorTy::fixed(DType::I32, &out_shape);
            let got = apply_op(&Op::ArgMax(a), std::slice::from_ref(&x), ty);
            assert_eq!(
                got,
                tensor(DType::I32, &out_shape, want),
                "argmax axis={a} {dtype}"
            );
            compared += got.len();
        }
    }
    compared
}

pub fn argmax(axis: usize) -> Case {
    Case::new(
        move |gen| argmax_against_reference(axis, gen),
        Gradient::None("not differentiable: integer result"),
    )
}

/// Size-1 axes repeated, in every dtype, and to a batched size.
fn broadcast_against_reference() -> usize {
    let pairs: [(&[usize], &[usize]); 4] = [
        (&[1, 3, 1], &[2, 3, 5]),
        (&[2, 1], &[2, 4]),
        (&[1, 1], &[3, 2]),
        (&[3], &[3]),
    ];
    let mut compared = 0;
    for dtype in DType::ALL {
        for (from, to) in pairs {
            let source = |c: &[usize]| {
                let at = c
                    .iter()
                    .zip(from)
                    .map(|(&i, &d)| if d == 1 { 0 } else { i });
                (0, at.collect())
            };
            let given = TensorTy::fixed(dtype, to);
            compared += assert_moves(&Op::Broadcast, 1, &[distinct(dtype, from)], given, &source);
        }
    }
    let given = TensorTy::new(DType::F64, vec![Size::BATCH, Size::fixed(3)]);
    let x = distinct(DType::F64, &[1, 3]);
    compared + assert_moves(&Op::Broadcast, 4, &[x], given, &|c| (0, vec![0, c[1]]))
}

/// The same elements in the same order, in a new shape; batched too.
fn reshape_against_reference() -> usize {
    let from = [2, 3, 4];
    let cases: [(DType, &[usize]); 4] = [
        (DType::F64, &[6, 4]),
        (DType::F64, &[24]),
        (DType::I32, &[4, 1, 6]),
        (DType::Bool, &[2, 12]),
    ];
    let mut compared = 0;
    for (dtype, to) in cases {
        let all = coords(&from);
        let source = |c: &[usize]| (0, all[flat(to, c)].clone());
        let given = TensorTy::fixed(dtype, to);
        compared += assert_moves(&Op::Reshape, 1, &[distinct(dtype, &from)], given, &source);
    }
    // f64[B, 6] as f64[B*2, 3], at B = 3.
    let x_ty = TensorTy::new(DType::F64, vec![Size::BATCH, Size::fixed(6)]);
    let x = distinct(DType::F64, &[3, 6]).1;
    let two_rows = Size { batch: 2, fixed: 0 };
    let given = TensorTy::new(DType::F64, vec![two_rows, Size::fixed(3)]);
    let source = |c: &[usize]| (0, vec![c[0] / 2, c[0] % 2 * 3 + c[1]]);
    compared + assert_moves(&Op::Reshape, 3, &[(x_ty, x)], given, &source)
}

fn reshape_gradient(gen: &mut Gen) -> usize {
    let x = gen.tensor(&[2, 3, 4], -1.0, 1.0);
    check("reshape", gen, vec![x], |g, p| {
        g.reshape(p[0], &sz(&[6, 4]))
    })
}

/// Every permutation of 3 axes, and `perm`.
fn permute_against_reference(perm: &[usize]) -> usize {
    let mut perms = vec![perm.to_vec()];
    for p in coords(&[3, 3, 3]) {
        if p[0] != p[1] && p[1] != p[2] && p[0] != p[2] {
            perms.push(p);
        }
    }
    let mut compared = 0;
    for perm in perms {
        let shape: Vec<usize> = (0..perm.len()).map(|i| i + 2).collect();
        let out: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
        let source = |c: &[usize]| {
            let mut at = vec![0; c.len()];
            for (i, &p) in perm.iter().enumerate() {
                at[p] = c[i];
            }
            (0, at)
        };
        let (op, given) = (Op::Permute(perm.clone()), TensorTy::fixed(DType::I32, &out));
        compared += assert_moves(&op, 1, &[distinct(DType::I32, &shape)], given, &source);
    }
    compared
}

fn permute_gradient(perm: &[usize], gen: &mut Gen) -> usize {
    let mut compared = 0;
    for perm in [perm.to_vec(), vec![2, 0, 1]] {
        let shape: Vec<usize> = (0..perm.len()).map(|i| i + 2).collect();
        let x = gen.tensor(&shape, -1.0, 1.0);
        let name = format!("permute {perm:?}");
        compared += check(&name, gen, vec![x], |g, p| {
            g.op(Op::Permute(perm.clone()), p)
        });
    }
    compared
}

/// Three operands of 1, 2 and 3 along each axis (`axis` among them), and
/// a concat of one operand.
fn concat_against_reference(axis: usize) -> usize {
    let rank = (axis + 1).max(3);
    let mut compared = 0;
    for a in 0..rank {
        let part =
            |n: usize| -> Vec<usize> { (0..rank).map(|i| if i == a { n } else { 2 }).collect() };
        let args: Vec<_> = (1..=3).map(|n| distinct(DType::F64, &part(n))).collect();
        let source = |c: &[usize]| {
            let (mut k, mut at) = (0, c.to_vec());
            while at[a] >= args[k].1.shape[a] {
                at[a] -= args[k].1.shape[a];
                k += 1;
            }
            (k, at)
        };
        let given = TensorTy::fixed(DType::F64, &part(6));
        compared += assert_moves(&Op::Concat(a), 1, &args, given, &source);
    }
    let one = distinct(DType::I32, &[2, 3]);
    let given = one.0.clone();
    compared + assert_moves(&Op::Concat(0), 1, &[one], given, &|c| (0, c.to_vec()))
}

fn concat_gradient(axis: usize, gen: &mut Gen) -> usize {
    let mut compared = 0;
    for a in [1, axis] {
        let rank = (a + 1).max(3);
        let part =
            |n: usize| -> Vec<usize> { (0..rank).map(|i| if i == a { n } else { 2 }).collect() };
        let args = vec![
            gen.tensor(&part(3), -1.0, 1.0),
            gen.tensor(&part(1), -1.0, 1.0),
        ];
        let name = format!("concat axis={a}");
        compared += check(&name, gen, args, |g, p| g.op(Op::Concat(a), p));
    }
    compared
}

/// `op`'s own slice (of an operand one longer than its end), a slice of
/// the last axis, and one whose bounds depend on the batch.
fn slice_against_reference(axis: usize, start: Size, end: Size) -> usize {
    let three = Size::fixed(3);
    let own: Vec<Size> = (0..axis + 2)
        .map(|a| {
            if a == axis {
                end.checked_add(Size::ONE).unwrap()
            } else {
                three
            }
        })
        .collect();
    let rows = |batch| Size { batch, fixed: 0 };
    let cases = [
        (axis, start, end, TensorTy::new(DType::F64, own)),
        (
            2,
            Size::fixed(1),
            Size::fixed(3),
            TensorTy::fixed(DType::I32, &[2, 3, 4]),
        ),
        (
            0,
            rows(1),
            rows(2),
            TensorTy::new(DType::F64, vec![rows(3), Size::fixed(2)]),
        ),
    ];
    let batch = 2;
    let mut compared = 0;
    for (axis, start, end, x_ty) in cases {
        let x = distinct(x_ty.dtype, &x_ty.at(batch).unwrap()).1;
        let mut given = x_ty.clone();
        given.shape[axis] = end.checked_sub(start).unwrap();
        let first = start.at(batch).unwrap();
        let source = |c: &[usize]| {
            let mut at = c.to_vec();
            at[axis] += first;
            (0, at)
        };
        let op = Op::Slice { axis, start, end };
        compared += assert_moves(&op, batch, &[(x_ty, x)], given, &source);
    }
    compared
}

/// A slice of the last axis, and `op`'s own when its bounds are fixed.
fn slice_gradient(axis: usize, start: Size, end: Size, gen: &mut Gen) -> usize {
    let mut cases = vec![(2, 1, 3, vec![2, 3, 4])];
    if let (Some(s), Some(e)) = (start.as_fixed(), end.as_fixed()) {
        cases.push((
            axis,
            s,
            e,
            (0..axis + 2)
                .map(|a| if a == axis { e + 1 } else { 3 })
                .collect(),
        ));
    }
    let mut compared = 0;
    for (axis, start, end, shape) in cases {
        let x = gen.tensor(&shape, -1.0, 1.0);
        let (start, end) = (Size::fixed(start), Size::fixed(end));
        compared += check("slice", gen, vec![x], |g, p| {
            g.op(Op::Slice { axis, start, end }, p)
        });
    }
    compared
}

pub fn broadcast() -> Case {
    Case::new(
        |_| broadcast_against_reference(),
        Gradient::fd(|gen| {
            let x = gen.tensor(&[3, 1], -2.0, 2.0);
            check("broadcast", gen, vec![x], |g, p| {
                g.broadcast_to(p[0], &sz(&[2, 3, 5]))
            })
        }),
    )
}

pub fn reshape() -> Case {
    Case::new(
        |_| reshape_against_reference(),
        Gradient::fd(reshape_gradient),
    )
}

pub fn permute(perm: Vec<usize>) -> Case {
    let for_gradient = perm.clone();
    Case::new(
        move |_| permute_against_reference(&perm),
        Gradient::fd(move |gen| permute_gradient(&for_gradient, gen)),
    )
}

pub fn concat(axis: usize) -> Case {
    Case::new(
        move |_| concat_against_reference(axis),
        Gradient::fd(move |gen| concat_gradient(axis, gen)),
    )
}

pub fn slice(axis: usize, start: Size, end: Size) -> Case {
    Case::new(
        move |_| slice_against_reference(axis, start, end),
        Gradient::fd(move |gen| slice_gradient(axis, start, end, gen)),
    )
}
