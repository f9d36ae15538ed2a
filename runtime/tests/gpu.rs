//! The GPU back end against the reference interpreter: every step of every
//! example (and of the benchmark models), on random inputs, at a batch
//! size the programs never name, gives the interpreter's outputs within a
//! tolerance, on whatever wgpu adapter the machine has (lavapipe in CI).
//!
//! The tolerance: the GPU computes in f32 throughout (the interpreter sums
//! products and reductions in f64, and keeps f64 values f64), and its
//! `exp`, `log`, `tanh`, `erf` are the driver's; a relative error of 1e-3
//! (1e-4 absolute near zero) bounds f32 sums of the lengths in these
//! programs with room to spare.
//!
//! Without an adapter these tests print why and pass, unless
//! `DLP_REQUIRE_GPU` is set (CI sets it): then no adapter is a failure.

mod common;

use common::{compiled, inputs, programs, Gen, BATCH};
use dlp_compiler::ir::{
    verify, BinaryOp, Builder, DType, Input, NodeId, Op, Output, ReduceOp, Size,
};
use dlp_compiler::ir::{TensorTy, UnaryOp, Verified};
use dlp_runtime::gpu::{self, GpuStep};
use dlp_runtime::interp::Interpreter;
use dlp_runtime::Tensor;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-4 + 1e-3 * a.abs().max(b.abs()) || (a.is_nan() && b.is_nan())
}

/// Whether a GPU adapter is here (else why not, printed; a failure under
/// `DLP_REQUIRE_GPU`).
fn have_gpu() -> bool {
    match gpu::gpu() {
        Ok(g) => {
            println!(
                "GPU: {} ({}, {})",
                g.adapter.name, g.adapter.backend, g.adapter.kind
            );
            true
        }
        Err(e) if std::env::var_os("DLP_REQUIRE_GPU").is_some() => {
            panic!("DLP_REQUIRE_GPU is set but {e}")
        }
        Err(e) => {
            println!("skipped: {e}");
            false
        }
    }
}

#[test]
fn every_step_on_the_gpu_gives_what_the_interpreter_gives() {
    if !have_gpu() {
        return;
    }
    let worst = every_step_agrees(None);
    println!("largest relative error: {:.2e} ({})", worst.0, worst.1);
}

/// Values larger than the adapter binds at once are bound in chunks: the
/// same steps, with the binding limit lowered to a third of each step's
/// largest value (so that its larger values are bound in two or three
/// chunks), still agree.
#[test]
fn values_larger_than_a_binding_are_bound_in_chunks() {
    if !have_gpu() {
        return;
    }
    every_step_agrees(Some(3));
}

/// Every step of every program on random inputs, on the GPU (its binding
/// limit lowered to the step's largest value over `split`, if given)
/// against the interpreter; the largest relative error and where.
fn every_step_agrees(split: Option<u64>) -> (f64, String) {
    let mut gen = Gen(5);
    let mut worst = (0.0f64, String::new());
    for path in programs() {
        let program = compiled(&path);
        for (title, step) in program.steps() {
            let values = inputs(step.graph(), &program, &mut gen);
            let lookup = |i: &Input| values.get(i);
            let want = Interpreter::new(step)
                .run(BATCH, &lookup)
                .expect("the interpreter");
            let mut gpu = GpuStep::named(step, "test").expect("a GPU step");
            if let Some(parts) = split {
                let graph = step.graph();
                let largest = graph
                    .ids()
                    .filter_map(|id| graph.ty(id).at(BATCH))
                    .map(|shape| shape.iter().product::<usize>() as u64 * 4)
                    .max()
                    .unwrap_or(0);
                gpu.lower_binding_limit((largest / parts).max(256));
            }
            let got = gpu
                .run(BATCH, &lookup)
                .unwrap_or_else(|e| panic!("{}, {title}: {e}", path.display()));
            assert_eq!(want.len(), got.len());
            for ((o, w), (p, g)) in want.iter().zip(&got) {
                assert_eq!(o, p);
                assert_eq!(w.shape, g.shape, "{}, {title}, {o}", path.display());
                assert_eq!(w.dtype(), g.dtype(), "{}, {title}, {o}", path.display());
                for (i, (x, y)) in w.to_f64().iter().zip(g.to_f64()).enumerate() {
                    assert!(
                        close(*x, y),
                        "{}, {title}, {o}[{i}]: interpreter {x}, gpu {y}",
                        path.display()
                    );
                    let err = (x - y).abs() / x.abs().max(1e-3);
                    if err > worst.0 {
                        worst = (err, format!("{}, {title}, {o}", path.display()));
                    }
                }
            }
        }
    }
    worst
}

fn graph(
    inputs: &[(Input, TensorTy)],
    build: impl FnOnce(&mut Builder, &[NodeId]) -> NodeId,
) -> Verified {
    let mut b = Builder::new();
    let nodes: Vec<NodeId> = inputs
        .iter()
        .map(|(i, ty)| b.input(i.clone(), ty.clone()))
        .collect();
    let out = build(&mut b, &nodes);
    b.set_output(Output::MetricSum("out".into()), out);
    verify(b.finish()).unwrap_or_else(|e| panic!("{e:?}"))
}

#[test]
fn an_index_out_of_range_is_an_error_naming_it() {
    if !have_gpu() {
        return;
    }
    let (table, ids) = (Input::Feed("table".into()), Input::Feed("ids".into()));
    let step = graph(
        &[
            (table.clone(), TensorTy::fixed(DType::F32, &[3, 2])),
            (ids.clone(), TensorTy::fixed(DType::I32, &[2])),
        ],
        |b, x| {
            b.add(
                Op::Gather,
                &[x[0], x[1]],
                TensorTy::fixed(DType::F32, &[2, 2]),
            )
        },
    );
    let values = [
        (table, Tensor::f32(vec![3, 2], vec![1., 2., 3., 4., 5., 6.])),
        (ids, Tensor::i32(vec![2], vec![2, 7])),
    ];
    let lookup = |i: &Input| values.iter().find(|(k, _)| k == i).map(|(_, t)| t);
    let mut gpu = GpuStep::named(&step, "test").expect("a GPU step");
    let err = gpu.run(1, &lookup).expect_err("row 7 of 3");
    assert_eq!(err.0, "index 7 is out of range for a table of 3 rows");
    // The same step with good indices runs (the fault is cleared).
    let good = [
        (values[0].0.clone(), values[0].1.clone()),
        (values[1].0.clone(), Tensor::i32(vec![2], vec![2, 0])),
    ];
    let lookup = |i: &Input| good.iter().find(|(k, _)| k == i).map(|(_, t)| t);
    let out = gpu.run(1, &lookup).expect("rows 2 and 0");
    assert_eq!(out[0].1.to_f64(), vec![5., 6., 1., 2.]);
}

#[test]
fn a_batch_too_large_for_the_adapter_is_refused_before_it_runs() {
    if !have_gpu() {
        return;
    }
    let max_buffer = gpu::gpu().expect("a GPU").limits.max_buffer_size;
    let x = Input::Feed("x".into());
    let row = 1024usize;
    let ty = TensorTy::new(DType::F32, vec![Size::BATCH, Size::fixed(row)]);
    let step = graph(&[(x, ty.clone())], |b, x| {
        b.add(Op::Unary(UnaryOp::Neg), &[x[0]], ty)
    });
    // Larger than a buffer, or than 32-bit indices reach.
    let batch = (2 * max_buffer as usize / (row * 4)).min(i32::MAX as usize / row + 1);
    let mut gpu = GpuStep::named(&step, "test").expect("a GPU step");
    let err = gpu.run(batch, &|_| None).expect_err("too large");
    let buffer =
        format!("at a batch of {batch}, input feed.x in the test step is f32[{batch}, 1024]");
    assert!(
        (err.0.starts_with(&buffer) || err.0.contains("more than the GPU's 32-bit indices reach"))
            && err.0.ends_with("lower `batch`"),
        "{}",
        err.0
    );
    println!("{}", err.0);
}

/// The scalar rules WGSL does not give for free, on the values where they
/// are easy to get wrong (infinities, NaN, signed zeros), against the
/// interpreter: special values exactly (a zero's sign too), others within
/// a few ulps.
#[test]
fn special_values_follow_the_interpreters_rules() {
    if !have_gpu() {
        return;
    }
    let special = [
        f32::NEG_INFINITY,
        -3.0,
        -2.0,
        -1.0,
        -0.5,
        -0.0,
        0.0,
        0.5,
        1.0,
        2.0,
        3.0,
        f32::INFINITY,
        f32::NAN,
    ];
    let n = special.len() * special.len();
    let xs: Vec<f32> = special.iter().flat_map(|&x| special.map(|_| x)).collect();
    let ys: Vec<f32> = special.iter().flat_map(|_| special).collect();
    let (x, y) = (Input::Feed("x".into()), Input::Feed("y".into()));
    let ty = TensorTy::fixed(DType::F32, &[n]);
    let values = [
        (x.clone(), Tensor::f32(vec![n], xs)),
        (y.clone(), Tensor::f32(vec![n], ys)),
    ];
    let lookup = |i: &Input| values.iter().find(|(k, _)| k == i).map(|(_, t)| t);
    let inputs = [(x, ty.clone()), (y, ty.clone())];
    let cases: Vec<(&str, Verified)> = vec![
        (
            "pow",
            graph(&inputs, |b, v| {
                b.add(Op::Binary(BinaryOp::Pow), &[v[0], v[1]], ty.clone())
            }),
        ),
        (
            "max",
            graph(&inputs, |b, v| {
                b.add(Op::Binary(BinaryOp::Max), &[v[0], v[1]], ty.clone())
            }),
        ),
        (
            "min",
            graph(&inputs, |b, v| {
                b.add(Op::Binary(BinaryOp::Min), &[v[0], v[1]], ty.clone())
            }),
        ),
        (
            "rem",
            graph(&inputs, |b, v| {
                b.add(Op::Binary(BinaryOp::Rem), &[v[0], v[1]], ty.clone())
            }),
        ),
        (
            "cast",
            graph(&inputs, |b, v| {
                b.add(Op::Cast, &[v[0]], TensorTy::fixed(DType::I32, &[n]))
            }),
        ),
        (
            "reduce_max",
            graph(&inputs, |b, v| {
                let r = TensorTy::fixed(DType::F32, &[special.len()]);
                let m = b.add(
                    Op::Reshape,
                    &[v[1]],
                    TensorTy::fixed(DType::F32, &[special.len(), special.len()]),
                );
                b.add(
                    Op::Reduce {
                        op: ReduceOp::Max,
                        axes: vec![1],
                    },
                    &[m],
                    r,
                )
            }),
        ),
    ];
    for (name, step) in cases {
        let want = Interpreter::new(&step)
            .run(1, &lookup)
            .expect("the interpreter");
        let got = GpuStep::named(&step, "test")
            .expect("a GPU step")
            .run(1, &lookup)
            .expect("the GPU");
        for (i, (w, g)) in want[0].1.to_f64().iter().zip(got[0].1.to_f64()).enumerate() {
            let (w, g) = (*w as f32, g as f32);
            let same = if w.is_nan() {
                g.is_nan()
            } else if w == 0.0 || w.is_infinite() {
                w.to_bits() == g.to_bits()
            } else {
                (w - g).abs() <= 1e-5 * w.abs()
            };
            let (a, b) = (i / special.len(), i % special.len());
            assert!(
                same,
                "{name}({}, {}): interpreter {w}, GPU {g}",
                special[a], special[b]
            );
        }
    }
}

/// Convolutions (tiled as implicit products), their input gradients (tiled
/// too) and weight gradients, at strides 1 to 3 and paddings 0 to 2, with
/// a non-square kernel, against the interpreter.
#[test]
fn convolutions_at_every_stride_and_padding() {
    if !have_gpu() {
        return;
    }
    let (b, c, h, w, o, kh, kw) = (2, 3, 9, 7, 5, 3, 2);
    let mut gen = Gen(17);
    let mut values = |n: usize| -> Vec<f32> { (0..n).map(|_| gen.next() as f32).collect() };
    let x = Tensor::f32(vec![b, c, h, w], values(b * c * h * w));
    let k = Tensor::f32(vec![o, c, kh, kw], values(o * c * kh * kw));
    for stride in 1..=3 {
        for pad in 0..=2 {
            let (oh, ow) = (
                (h + 2 * pad - kh) / stride + 1,
                (w + 2 * pad - kw) / stride + 1,
            );
            let g = Tensor::f32(vec![b, o, oh, ow], values(b * o * oh * ow));
            let t = |d: &[usize]| TensorTy::fixed(DType::F32, d);
            let cases = [
                (Op::Conv { stride, pad }, [&x, &k], t(&[b, o, oh, ow])),
                (
                    Op::ConvInputGrad { stride, pad },
                    [&g, &k],
                    t(&[b, c, h, w]),
                ),
                (
                    Op::ConvWeightGrad { stride, pad },
                    [&x, &g],
                    t(&[o, c, kh, kw]),
                ),
            ];
            for (op, [p, q], ty) in cases {
                let (f0, f1) = (Input::Feed("p".into()), Input::Feed("q".into()));
                let step = graph(
                    &[
                        (f0.clone(), TensorTy::fixed(DType::F32, &p.shape)),
                        (f1.clone(), TensorTy::fixed(DType::F32, &q.shape)),
                    ],
                    |bld, v| bld.add(op.clone(), &[v[0], v[1]], ty),
                );
                let lookup = |i: &Input| {
                    if *i == f0 {
                        Some(p)
                    } else if *i == f1 {
                        Some(q)
                    } else {
                        None
                    }
                };
                let want = Interpreter::new(&step)
                    .run(1, &lookup)
                    .expect("the interpreter");
                let got = GpuStep::named(&step, "test")
                    .expect("a GPU step")
                    .run(1, &lookup);
                let got = got.unwrap_or_else(|e| panic!("{}: {e}", op.text()));
                for (i, (x, y)) in want[0].1.to_f64().iter().zip(got[0].1.to_f64()).enumerate() {
                    assert!(close(*x, y), "{}[{i}]: interpreter {x}, gpu {y}", op.text());
                }
            }
        }
    }
}

/// Uniform draws (dropout masks compare them with `p`) are the CPU's bit
/// for bit, keyed by sample and by step, for many seeds, epochs and
/// samples.
#[test]
fn uniform_draws_are_the_interpreters_bits() {
    if !have_gpu() {
        return;
    }
    let (seed, counter, samples) = (
        Input::Seed,
        Input::Hyper(dlp_compiler::ir::Hyper::Epoch),
        Input::SampleIndex,
    );
    let scalar = TensorTy::fixed(DType::I32, &[]);
    let rows = TensorTy::new(DType::I32, vec![Size::BATCH]);
    let ty = TensorTy::new(DType::F32, vec![Size::BATCH, Size::fixed(256)]);
    let by_sample = graph(
        &[
            (seed.clone(), scalar.clone()),
            (counter.clone(), scalar.clone()),
            (samples.clone(), rows),
        ],
        |b, v| {
            let op = Op::Random {
                dist: dlp_compiler::ir::Dist::Uniform,
                stream: 7,
                key: dlp_compiler::ir::RandomKey::Sample,
            };
            b.add(op, &[v[0], v[1], v[2]], ty.clone())
        },
    );
    let batch = 64;
    let mut gpu = GpuStep::named(&by_sample, "test").expect("a GPU step");
    let interp = Interpreter::new(&by_sample);
    for s in [0, 1, 12345, -7] {
        for epoch in [1, 2, 30, 1000] {
            let ids = Tensor::i32(
                vec![batch],
                (0..batch as i32).map(|i| i * 23 + epoch).collect(),
            );
            let values = [
                (seed.clone(), Tensor::scalar_i32(s)),
                (counter.clone(), Tensor::scalar_i32(epoch)),
                (samples.clone(), ids),
            ];
            let lookup = |i: &Input| values.iter().find(|(k, _)| k == i).map(|(_, t)| t);
            let want = interp.run(batch, &lookup).expect("the interpreter");
            let got = gpu.run(batch, &lookup).expect("the GPU");
            assert_eq!(want[0].1, got[0].1, "seed {s}, epoch {epoch}");
        }
    }
}
