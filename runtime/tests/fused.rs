//! Fused and planned against plain: every step of every example (and of
//! the W1 benchmark MLP), cut into kernels and given a memory plan, run
//! kernel by kernel with each result kept only in its planned place
//! (`Interpreter::run_planned`), gives bit for bit what the plain
//! interpreter gives, on random inputs at a batch size the program never
//! names. A kernel missing a node, a schedule out of order or a slot
//! reused too early shows as an error or a different number.

mod common;

use common::{compiled, inputs, programs, Gen, BATCH};
use dlp_compiler::fuse;
use dlp_compiler::ir::{Input, Op};
use dlp_compiler::plan;
use dlp_runtime::interp::Interpreter;

#[test]
fn every_planned_step_gives_what_the_plain_interpreter_gives() {
    let files = programs();
    let mut gen = Gen(11);
    let mut steps = 0;
    for path in &files {
        let program = compiled(path);
        for (title, step) in program.steps() {
            let values = inputs(step.graph(), &program, &mut gen);
            let lookup = |i: &Input| values.get(i);
            let interp = Interpreter::new(step);
            let plain = interp.run(BATCH, &lookup).expect("the plain run");
            let kernels = fuse::fuse(step);
            let plan = plan::plan(step, &kernels);
            let planned = interp
                .run_planned(&kernels, &plan, BATCH, &lookup)
                .unwrap_or_else(|e| panic!("{}, {title}: {e}", path.display()));
            assert_eq!(plain, planned, "{}, {title}", path.display());
            assert!(
                step.graph()
                    .nodes
                    .iter()
                    .any(|n| matches!(n.op, Op::Input(_))),
                "a step reads something"
            );
            steps += 1;
        }
    }
    assert!(steps >= 20, "only {steps} steps checked");
}
