//! The sources: inputs, constants, sizes and `iota`.

use super::harness::{check, coords, run, tensor, Case, Gradient};
use dlp_compiler::ir::{input_dtype, DType, Input, Op, Size, TensorTy};
use dlp_runtime::Tensor;

const SOURCE: &str = "a source: no operands to differentiate";

/// A type `input` may have: its dtype if its kind fixes one (else f64), a
/// scalar, the batch's `[B]` or a `[2, 3]` tensor.
fn input_ty(input: &Input) -> TensorTy {
    let dtype = input_dtype(input).unwrap_or(DType::F64);
    let shape = match input {
        Input::Hyper(_) | Input::Seed => vec![],
        Input::SampleIndex => vec![Size::BATCH],
        Input::Feed(_)
        | Input::Param(_)
        | Input::OptimizerState { .. }
        | Input::ModelState(_)
        | Input::Gradient(_) => vec![Size::fixed(2), Size::fixed(3)],
    };
    TensorTy::new(dtype, shape)
}

/// An input reads its value unchanged; state without a value reads zeros,
/// and any other input without one is an error.
fn input_reference(input: &Input) -> usize {
    let ty = input_ty(input);
    let shape = ty.at(3).unwrap();
    let n = shape.iter().product::<usize>();
    let value = tensor(ty.dtype, &shape, (0..n).map(|i| i as f64 - 2.5).collect());
    let got = run(3, &[(input.clone(), ty.clone(), &value)], |_, x| x[0]).unwrap();
    assert_eq!(got, value, "input {input}");
    // Inputs the graph reads but `run` has no value for.
    let ty = TensorTy::fixed(DType::F32, &[2, 2]);
    let state = run(1, &[], |b, _| {
        b.input(Input::ModelState("s".into()), ty.clone())
    });
    assert_eq!(
        state,
        Ok(Tensor::f32(vec![2, 2], vec![0.0; 4])),
        "state starts at zero"
    );
    let param = run(1, &[], |b, _| b.input(Input::param("q"), ty.clone()));
    assert!(param.is_err(), "a parameter without a value");
    n + 4
}

pub fn input(input: &Input) -> Case {
    let input = input.clone();
    Case::new(
        move |_| input_reference(&input),
        Gradient::fd(|gen| {
            let x = gen.tensor(&[2, 3], -1.0, 1.0);
            check("a parameter", gen, vec![x], |_, p| p[0])
        }),
    )
}

/// The value in f32 and f64 (the bits of the f64 exactly); integral
/// constants in i32 and bool.
fn constant_reference(value: f64) -> usize {
    let scalar = |op: Op, dtype| run(1, &[], |b, _| b.add(op, &[], TensorTy::scalar(dtype)));
    let cases = [
        (value, Tensor::f64(vec![], vec![value])),
        (value, Tensor::f32(vec![], vec![value as f32])),
        (-3.0, Tensor::i32(vec![], vec![-3])),
        (2.0, tensor(DType::Bool, &[], vec![1.0])),
        (0.0, tensor(DType::Bool, &[], vec![0.0])),
    ];
    for (v, want) in &cases {
        let got = scalar(Op::constant(*v), want.dtype()).unwrap();
        assert_eq!(got.data, want.data, "constant {v} as {}", want.dtype());
        if want.dtype() == DType::F64 {
            assert_eq!(got.item().to_bits(), v.to_bits(), "constant {v}: its bits");
        }
    }
    cases.len()
}

pub fn constant(value: f64) -> Case {
    Case::new(move |_| constant_reference(value), Gradient::None(SOURCE))
}

/// `batch * B + fixed` for several batch sizes, in every number type.
fn size_reference(size: Size) -> usize {
    let sizes = [
        size,
        Size::fixed(7),
        Size {
            batch: 49,
            fixed: 1,
        },
    ];
    let mut compared = 0;
    for s in sizes {
        for batch in [1, 3, 8] {
            let want = (s.batch * batch + s.fixed) as f64;
            for dtype in [DType::I32, DType::F32, DType::F64] {
                let ty = TensorTy::scalar(dtype);
                let got = run(batch, &[], |b, _| b.add(Op::SizeOf(s), &[], ty)).unwrap();
                assert_eq!(
                    got,
                    tensor(dtype, &[], vec![want]),
                    "size {s} at B = {batch}"
                );
                compared += 1;
            }
        }
    }
    compared
}

pub fn size_of(size: Size) -> Case {
    Case::new(move |_| size_reference(size), Gradient::None(SOURCE))
}

/// Each element's coordinate along the axis: `op`'s axis of a tensor of
/// one more axis, every axis of a rank-3 tensor in every number type, and
/// both axes of a batched tensor.
fn iota_reference(axis: usize) -> usize {
    let own: Vec<usize> = (0..axis + 2).map(|i| i + 2).collect();
    let mut cases = vec![(axis, TensorTy::fixed(DType::I32, &own))];
    for dtype in [DType::I32, DType::F32, DType::F64] {
        cases.extend((0..3).map(|a| (a, TensorTy::fixed(dtype, &[2, 3, 4]))));
    }
    let batched = TensorTy::new(DType::F64, vec![Size::BATCH, Size::fixed(3)]);
    cases.extend([(0, batched.clone()), (1, batched)]);
    let mut compared = 0;
    for (a, ty) in cases {
        let shape = ty.at(2).unwrap();
        let want = coords(&shape).iter().map(|c| c[a] as f64).collect();
        let got = run(2, &[], |b, _| b.add(Op::Iota(a), &[], ty.clone())).unwrap();
        assert_eq!(got, tensor(ty.dtype, &shape, want), "iota axis={a} of {ty}");
        compared += got.len();
    }
    compared
}

pub fn iota(axis: usize) -> Case {
    Case::new(move |_| iota_reference(axis), Gradient::None(SOURCE))
}
