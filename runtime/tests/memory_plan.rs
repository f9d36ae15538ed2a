//! The memory plan's figure against what a step holds when it runs: for
//! every step of every example (and of the benchmark programs), the bytes
//! of temporaries the CPU back end holds at once never exceed the plan's
//! slots, and the plan wastes at most a stated margin over that peak (its
//! slots are sized for the largest result each ever holds).

mod common;

use common::{compiled, inputs_at, programs, Gen};
use dlp_compiler::ir::Input;
use dlp_runtime::cpu::CpuStep;

/// How far the plan may sit above the measured peak: 15 %, plus 256
/// bytes for small values (a slot sized for an 8-byte scalar that later
/// holds a 4-byte one).
const MARGIN: f64 = 0.15;
const SLACK: f64 = 256.0;

/// Steps whose plan is known to sit further above the measured peak, and
/// how far it may: the evaluation steps with multi-head attention, whose
/// plan keeps up to 7 attention-sized values where the CPU back end holds
/// at most 5 (the plan's lifetimes are longer than the back end's there; a
/// known gap to close, not a margin to grow). Their bound still catches a
/// regression.
const KNOWN_WASTE: &[(&str, &str, f64)] = &[
    ("digits_transformer.dlp", "evaluation", 0.45),
    ("char_transformer.dlp", "evaluation", 0.45),
    // The dilated and grouped kernels, rewritten each step (of a fixed
    // size, so they dominate at batch 1), are planned for longer than the
    // back end holds them: about 13 KB over at every batch size.
    ("conv_tour.dlp", "train", 0.60),
    ("conv_tour.dlp", "evaluation", 0.60),
    ("axes_tour.dlp", "evaluation", 0.90),
];

#[test]
fn the_plan_bounds_the_measured_peak_of_temporaries_within_the_margin() {
    let mut gen = Gen(17);
    let mut compared = 0;
    for path in programs() {
        let program = compiled(&path);
        for (title, step) in program.steps() {
            for batch in [1, 7, 32] {
                let values = inputs_at(step.graph(), &program, &mut gen, batch);
                let lookup = |i: &Input| values.get(i);
                let mut cpu = CpuStep::new(step).expect("a CPU step");
                cpu.run(batch, &lookup)
                    .unwrap_or_else(|e| panic!("{}, {title}: {e}", path.display()));
                let (planned, measured) = (cpu.planned_temporaries(batch), cpu.peak_temporaries());
                println!(
                    "{}, {title}, batch {batch}: planned {planned}, measured {measured}",
                    path.display()
                );
                assert!(
                    measured <= planned,
                    "{}, {title}, batch {batch}: {measured} bytes held, {planned} planned",
                    path.display()
                );
                let margin = KNOWN_WASTE
                    .iter()
                    .find(|(file, step, _)| path.ends_with(file) && title.starts_with(step))
                    .map_or(MARGIN, |&(_, _, m)| m);
                assert!(
                    planned as f64 <= measured as f64 * (1.0 + margin) + SLACK,
                    "{}, {title}, batch {batch}: {planned} bytes planned, {measured} held",
                    path.display()
                );
                compared += 1;
            }
        }
    }
    assert!(compared > 30, "{compared} steps compared");
}

/// Bytes of the tensors among `values` that `which` picks.
fn bytes_of(
    values: &std::collections::HashMap<Input, dlp_runtime::Tensor>,
    which: impl Fn(&Input) -> bool,
) -> u64 {
    values
        .iter()
        .filter(|(i, _)| which(i))
        .map(|(_, t)| {
            let size = match t.dtype() {
                dlp_compiler::ir::DType::F64 => 8,
                dlp_compiler::ir::DType::Bool => 1,
                _ => 4,
            };
            (t.len() * size) as u64
        })
        .sum()
}

#[test]
fn the_summarys_training_estimate_bounds_what_training_holds_within_the_margin() {
    let mut gen = Gen(29);
    for path in programs() {
        let program = compiled(&path);
        let batch = program.plan.batch;
        let estimate = dlp_compiler::summary::memory::training(&program, batch);
        // What the steps hold when they run: the update's parameters and
        // optimiser state (old and new), the gradients, and the larger of
        // the steps' measured temporaries with their batch.
        let update = program.train.update.graph();
        let update_values = inputs_at(update, &program, &mut gen, batch);
        let state = bytes_of(&update_values, |i| {
            matches!(i, Input::Param(_) | Input::OptimizerState { .. })
        });
        let gradients = bytes_of(&update_values, |i| matches!(i, Input::Gradient(_)));
        let mut activations = 0u64;
        for (title, step) in program.steps() {
            let values = inputs_at(step.graph(), &program, &mut gen, batch);
            let lookup = |i: &Input| values.get(i);
            let mut cpu = CpuStep::new(step).expect("a CPU step");
            cpu.run(batch, &lookup)
                .unwrap_or_else(|e| panic!("{}, {title}: {e}", path.display()));
            let feeds = bytes_of(&values, |i| matches!(i, Input::Feed(_)));
            activations = activations.max(cpu.peak_temporaries() as u64 + feeds);
        }
        let measured = 2 * state + gradients + activations;
        let planned = estimate.total();
        println!(
            "{}: estimated {planned} bytes, measured {measured}",
            path.display()
        );
        assert!(
            measured <= planned,
            "{}: {measured} bytes held, {planned} estimated",
            path.display()
        );
        assert!(
            planned as f64 <= measured as f64 * (1.0 + MARGIN) + SLACK,
            "{}: {planned} bytes estimated, {measured} held",
            path.display()
        );
    }
}
