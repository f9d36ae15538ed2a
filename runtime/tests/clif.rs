//! Snapshots of the Cranelift IR the CPU back end generates (what
//! `dlpc emit --clif` prints) for a few kernels of the iris example's
//! evaluation step at batch 16: an elementwise kernel (the dataset's
//! scaling), a matrix product's epilogue (bias and ReLU) and a reduction
//! with its prologue and epilogue (the loss). A change to code generation
//! shows here as a diff to review.

mod common;

use common::compiled;
use dlp_compiler::fuse::{self, KernelKind};
use dlp_runtime::cpu::CpuStep;
use std::path::Path;

#[test]
fn generated_code_of_the_iris_evaluation_step() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let program = compiled(&root.join("examples/iris.dlp"));
    let step = &program.eval[0].step;
    let kernels = fuse::fuse(step);
    let mut cpu = CpuStep::new(step).expect("a CPU step");
    let clif = cpu.clif(16);
    let first = |kind: KernelKind| {
        let i = kernels
            .kernels
            .iter()
            .position(|k| k.kind == kind)
            .expect("a kernel of that kind");
        clif[i].clone().expect("native code")
    };
    insta::assert_snapshot!("elementwise", first(KernelKind::Elementwise));
    insta::assert_snapshot!("contraction_epilogue", first(KernelKind::Contraction));
    insta::assert_snapshot!("reduction", first(KernelKind::Reduce));
}
