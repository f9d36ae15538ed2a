//! The CPU back end against the reference interpreter: every step of every
//! example (and of the W1 benchmark MLP), on random inputs, at a batch
//! size the programs never name, gives the interpreter's outputs within a
//! tolerance. Native elementwise code computes the interpreter's bits (it
//! calls the same scalar rules); only matrix products differ, as `gemm`
//! sums in f32 in its own order where the interpreter sums in f64: hence a
//! relative tolerance of 1e-4 (and 1e-5 absolute, for values near zero).

mod common;

use common::{compiled, inputs, programs, Gen, BATCH};
use dlp_compiler::ir::Input;
use dlp_runtime::cpu::CpuStep;
use dlp_runtime::interp::Interpreter;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-5 + 1e-4 * a.abs().max(b.abs()) || (a.is_nan() && b.is_nan())
}

#[test]
fn every_step_on_the_cpu_gives_what_the_interpreter_gives() {
    let mut gen = Gen(5);
    let mut native = 0;
    let mut kernels = 0;
    let mut reasons: std::collections::BTreeMap<String, usize> = Default::default();
    for path in programs() {
        let program = compiled(&path);
        for (title, step) in program.steps() {
            let values = inputs(step.graph(), &program, &mut gen);
            let lookup = |i: &Input| values.get(i);
            let want = Interpreter::new(step)
                .run(BATCH, &lookup)
                .expect("the interpreter");
            let mut cpu = CpuStep::new(step).expect("a CPU step");
            let got = cpu
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
                        "{}, {title}, {o}[{i}]: interpreter {x}, cpu {y}",
                        path.display()
                    );
                }
            }
            let fallbacks = cpu.fallbacks(BATCH);
            kernels += fallbacks.len();
            native += fallbacks.iter().filter(|f| f.is_none()).count();
            for why in fallbacks.into_iter().flatten() {
                *reasons.entry(why).or_default() += 1;
            }
        }
    }
    println!("{native} of {kernels} kernels ran as native code; the others:");
    for (why, n) in &reasons {
        println!("{n:5}  {why}");
    }
    assert!(
        native * 2 > kernels,
        "most kernels compile: {native} of {kernels}"
    );
}

/// The optimiser update of every example is elementwise only (no matrix
/// product), so the CPU back end — vectorised loops, their scalar tails,
/// rows split across threads — must give the interpreter's bits exactly.
#[test]
fn every_update_step_gives_the_interpreters_bits() {
    let mut gen = Gen(11);
    let mut compared = 0;
    for path in programs() {
        let program = compiled(&path);
        for (title, step) in program.steps() {
            if !title.ends_with("clipping and update") {
                continue;
            }
            let values = inputs(step.graph(), &program, &mut gen);
            let lookup = |i: &Input| values.get(i);
            let want = Interpreter::new(step)
                .run(BATCH, &lookup)
                .expect("the interpreter");
            let got = CpuStep::new(step)
                .expect("a CPU step")
                .run(BATCH, &lookup)
                .unwrap_or_else(|e| panic!("{}, {title}: {e}", path.display()));
            for ((o, w), (_, g)) in want.iter().zip(&got) {
                let (w, g) = (w.to_f64(), g.to_f64());
                let same = w
                    .iter()
                    .zip(&g)
                    .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()));
                assert!(same, "{}, {title}, {o}: not the same bits", path.display());
                compared += w.len();
            }
        }
    }
    assert!(compared > 10_000, "compared {compared} values");
}

/// Matrix products read a transposed operand (either side, batched or
/// not) in place: the transposes are folded into the product's kernel, and
/// the results are the interpreter's.
#[test]
fn matmuls_read_transposed_operands_in_place() {
    let text = "
%0 = input feed.a : f32[B, 3, 5]
%1 = input feed.b : f32[B, 4, 5]
%2 = permute perm=[0,2,1] %1 : f32[B, 5, 4]
%3 = matmul %0, %2 : f32[B, 3, 4]
%4 = permute perm=[0,2,1] %0 : f32[B, 5, 3]
%5 = input feed.c : f32[B, 3, 4]
%6 = matmul %4, %5 : f32[B, 5, 4]
%7 = input feed.d : f32[6, 4]
%8 = permute perm=[1,0] %7 : f32[4, 6]
%9 = reshape %3 : f32[B*3, 4]
%10 = matmul %9, %8 : f32[B*3, 6]
output metric_sum.x = %3
output metric_sum.y = %6
output metric_sum.z = %10
";
    let graph = dlp_compiler::ir::parse(text).expect("IR text");
    let step = dlp_compiler::ir::verify(graph).expect("a valid step");
    let mut gen = Gen(3);
    let values: std::collections::HashMap<Input, dlp_runtime::Tensor> = step
        .graph()
        .inputs()
        .map(|(input, id)| {
            let shape = step.graph().ty(id).at(BATCH).expect("small");
            let n = shape.iter().product();
            let v = (0..n).map(|_| gen.next() as f32 - 0.5).collect();
            (input.clone(), dlp_runtime::Tensor::f32(shape, v))
        })
        .collect();
    let lookup = |i: &Input| values.get(i);
    let want = Interpreter::new(&step).run(BATCH, &lookup).expect("runs");
    let mut cpu = CpuStep::new(&step).expect("a CPU step");
    let got = cpu.run(BATCH, &lookup).expect("runs");
    assert_eq!(cpu.fallbacks(BATCH), vec![None; 3], "three native products");
    for ((o, w), (_, g)) in want.iter().zip(&got) {
        for (x, y) in w.to_f64().iter().zip(g.to_f64()) {
            assert!(close(*x, y), "{o}: interpreter {x}, cpu {y}");
        }
    }
}

/// Convolutions and both their gradients at every stride and padding the
/// kernel allows on an odd-sized input: the CPU back end (unfolded windows
/// and `gemm`) against the interpreter.
#[test]
fn convolutions_match_at_every_stride_and_padding() {
    use dlp_compiler::autodiff::backward;
    use dlp_compiler::ir::{verify, BinaryOp, Builder, DType, Op, Output, ReduceOp, TensorTy};
    let mut gen = Gen(9);
    // One sample (its products split across threads) and three (the
    // samples split across threads).
    for (samples, stride, pad) in [1, 3]
        .into_iter()
        .flat_map(|n| (1..=3).flat_map(move |s| (0..=2).map(move |p| (n, s, p))))
    {
        let mut b = Builder::new();
        let x = b.input(
            Input::Param("x".into()),
            TensorTy::fixed(DType::F32, &[samples, 2, 7, 6]),
        );
        let w = b.input(
            Input::param("w"),
            TensorTy::fixed(DType::F32, &[4, 2, 3, 2]),
        );
        let y = b.op(Op::Conv { stride, pad }, &[x, w]);
        let sq = b.binary(BinaryOp::Mul, y, y);
        let loss = b.reduce(ReduceOp::Sum, sq, vec![0, 1, 2, 3]);
        let grads = backward(&mut b, loss, &[x, w]).unwrap();
        b.set_output(Output::LossSum, loss);
        b.set_output(Output::Gradient("x".into()), grads[0]);
        b.set_output(Output::Gradient("w".into()), grads[1]);
        let step = verify(b.finish()).unwrap();
        let mut values = std::collections::HashMap::new();
        for (input, id) in step.inputs() {
            let shape = step.ty(id).at(1).unwrap();
            let n = shape.iter().product();
            let v = (0..n).map(|_| gen.next() as f32 * 2.0 - 1.0).collect();
            values.insert(input.clone(), dlp_runtime::Tensor::f32(shape, v));
        }
        let lookup = |i: &Input| values.get(i);
        let want = Interpreter::new(&step).run(1, &lookup).unwrap();
        let mut cpu = CpuStep::new(&step).unwrap();
        let got = cpu.run(1, &lookup).unwrap();
        let compiled = cpu.fallbacks(1).iter().filter(|f| f.is_none()).count();
        assert!(
            compiled >= 3,
            "stride {stride} pad {pad}: the convolutions compile"
        );
        for ((o, w), (_, g)) in want.iter().zip(&got) {
            for (x, y) in w.to_f64().iter().zip(g.to_f64()) {
                assert!(close(*x, y), "stride {stride} pad {pad}, {o}: {x} vs {y}");
            }
        }
    }
}

/// Pooling and its gradients, with overlapping windows and ties: the CPU
/// back end against the interpreter, exactly (both pick the first largest
/// element and sum means in f64).
#[test]
fn pooling_matches_with_overlapping_windows_and_ties() {
    use dlp_compiler::autodiff::backward;
    use dlp_compiler::ir::{
        verify, BinaryOp, Builder, DType, Op, Output, PoolKind, ReduceOp, TensorTy,
    };
    // A small image (one task) and a large one (split across threads).
    let cases = [
        (PoolKind::Max, 3, 2),
        (PoolKind::Max, 2, 2),
        (PoolKind::Max, 2, 1),
        (PoolKind::Avg, 2, 1),
        (PoolKind::Avg, 3, 3),
    ];
    let shapes: [[usize; 4]; 2] = [[2, 3, 7, 7], [4, 16, 30, 30]];
    for ((kind, k, stride), shape) in cases.into_iter().flat_map(|c| shapes.map(move |s| (c, s))) {
        let mut b = Builder::new();
        let x = b.input(Input::param("x"), TensorTy::fixed(DType::F32, &shape));
        let y = b.add(
            Op::Pool { kind, k, stride },
            &[x],
            TensorTy::scalar(DType::F32),
        );
        let sq = b.binary(BinaryOp::Mul, y, y);
        let loss = b.reduce(ReduceOp::Sum, sq, vec![0, 1, 2, 3]);
        let grads = backward(&mut b, loss, &[x]).unwrap();
        b.set_output(Output::LossSum, loss);
        b.set_output(Output::Gradient("x".into()), grads[0]);
        let step = verify(b.finish()).unwrap();
        // Values from a small set, so that windows hold ties.
        let values: Vec<f32> = (0..shape.iter().product::<usize>())
            .map(|i| ((i * 7 % 5) as f32) - 2.0)
            .collect();
        let x_value = dlp_runtime::Tensor::f32(shape.to_vec(), values);
        let lookup = |_: &Input| Some(&x_value);
        let want = Interpreter::new(&step).run(1, &lookup).unwrap();
        let mut cpu = CpuStep::new(&step).unwrap();
        let got = cpu.run(1, &lookup).unwrap();
        assert!(
            cpu.fallbacks(1).iter().all(|f| f.is_none()),
            "{kind:?} {k} {stride}: compiled"
        );
        assert_eq!(
            want, got,
            "{kind:?} pooling, k {k}, stride {stride}, {shape:?}"
        );
    }
}

/// An embedding and its gradient (`gather`, `scatter_add` with repeated
/// ids and rows nobody picks) run natively, with an epilogue, and give the
/// interpreter's bits (both sum each row's gradients in f64 in id order);
/// an id out of range is the interpreter's error.
#[test]
fn embeddings_run_natively_with_the_interpreters_bits() {
    use dlp_compiler::autodiff::backward;
    use dlp_compiler::ir::{verify, BinaryOp, Builder, DType, Op, Output, ReduceOp, TensorTy};
    // A small table (one task) and a large one (split across threads).
    for (rows, dim, picks) in [(5, 3, 4), (300, 64, 2000)] {
        let mut b = Builder::new();
        let table = b.input(
            Input::param("table"),
            TensorTy::fixed(DType::F32, &[rows, dim]),
        );
        let ids = b.input(
            Input::Feed("ids".into()),
            TensorTy::fixed(DType::I32, &[picks]),
        );
        let e = b.add(
            Op::Gather,
            &[table, ids],
            TensorTy::fixed(DType::F32, &[picks, dim]),
        );
        // An epilogue on the gathered rows: e·e.
        let sq = b.binary(BinaryOp::Mul, e, e);
        let loss = b.reduce(ReduceOp::Sum, sq, vec![0, 1]);
        let grads = backward(&mut b, loss, &[table]).unwrap();
        b.set_output(Output::LossSum, loss);
        b.set_output(Output::Gradient("table".into()), grads[0]);
        let step = verify(b.finish()).unwrap();
        let mut gen = Gen(3);
        let t = dlp_runtime::Tensor::f32(
            vec![rows, dim],
            (0..rows * dim).map(|_| gen.next() as f32 - 0.5).collect(),
        );
        // Ids from the first half of the rows only, with repeats.
        let picked: Vec<i32> = (0..picks)
            .map(|i| ((i * 7) % rows.div_ceil(2)) as i32)
            .collect();
        let good = dlp_runtime::Tensor::i32(vec![picks], picked.clone());
        let lookup = |i: &Input| match i {
            Input::Feed(_) => Some(&good),
            _ => Some(&t),
        };
        let want = Interpreter::new(&step).run(1, &lookup).unwrap();
        let mut cpu = CpuStep::new(&step).unwrap();
        let got = cpu.run(1, &lookup).unwrap();
        assert!(
            cpu.fallbacks(1).iter().all(|f| f.is_none()),
            "{:?}",
            cpu.fallbacks(1)
        );
        assert_eq!(want, got, "table {rows}x{dim}, {picks} ids");
        // One id out of range.
        let mut bad_ids = picked;
        bad_ids[picks - 1] = rows as i32;
        let bad = dlp_runtime::Tensor::i32(vec![picks], bad_ids);
        let lookup = |i: &Input| match i {
            Input::Feed(_) => Some(&bad),
            _ => Some(&t),
        };
        let want = Interpreter::new(&step).run(1, &lookup).unwrap_err();
        let got = cpu.run(1, &lookup).unwrap_err();
        assert_eq!(want.0, got.0);
        assert_eq!(
            got.0,
            format!("index {rows} is out of range for a table of {rows} rows")
        );
    }
}
