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
