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
use dlp_compiler::ir::Input;
use dlp_runtime::gpu::{self, GpuStep};
use dlp_runtime::interp::Interpreter;

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
    println!("largest relative error: {:.2e} ({})", worst.0, worst.1);
}
