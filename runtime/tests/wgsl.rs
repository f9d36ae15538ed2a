//! Snapshots of the WGSL the GPU back end generates (what `dlpc emit
//! --wgsl` prints) for a few kernels, each also validated by naga here:
//! from the iris example's evaluation step at batch 16, an elementwise
//! kernel (the dataset's scaling), a tiled matrix product with its
//! epilogue (bias and ReLU) and a reduction with its prologue and epilogue
//! (the loss); from the digits CNN's training step, a convolution and the
//! max-pooling gradient. No GPU needed. A change to code generation shows
//! here as a diff to review.

mod common;

use common::compiled;
use dlp_compiler::fuse::{self, KernelKind};
use dlp_compiler::ir::Op;
use dlp_compiler::wgsl;
use std::path::Path;

fn root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The shader of the first kernel of `step` that `pick` accepts, checked
/// to be valid WGSL.
fn shader(
    step: &dlp_compiler::ir::Verified,
    b: usize,
    pick: impl Fn(&fuse::Kernel) -> bool,
) -> String {
    let kernels = fuse::fuse(step);
    let shaders = wgsl::step_shaders(step, b, &wgsl::Limits::WEBGPU).expect("valid shaders");
    let i = kernels
        .kernels
        .iter()
        .position(pick)
        .expect("such a kernel");
    let text = shaders[i].clone().expect("a shader");
    wgsl::validate(&text).unwrap_or_else(|e| panic!("{e}"));
    text
}

#[test]
fn generated_shaders_of_the_iris_evaluation_step() {
    let program = compiled(&root().join("examples/iris.dlp"));
    let step = &program.eval[0].step;
    let kind = |kind: KernelKind| move |k: &fuse::Kernel| k.kind == kind;
    insta::assert_snapshot!(
        "elementwise",
        shader(step, 16, kind(KernelKind::Elementwise))
    );
    insta::assert_snapshot!(
        "tiled_matmul",
        shader(step, 16, kind(KernelKind::Contraction))
    );
    insta::assert_snapshot!("reduction", shader(step, 16, kind(KernelKind::Reduce)));
}

#[test]
fn generated_shaders_of_a_convolution_and_a_pooling_gradient() {
    let program = compiled(&root().join("examples/digits_cnn.dlp"));
    let step = &program.train.gradients;
    let graph = step.graph();
    let anchored = |want: fn(&Op) -> bool| {
        move |k: &fuse::Kernel| k.anchor.is_some_and(|a| want(&graph.node(a).op))
    };
    insta::assert_snapshot!(
        "convolution",
        shader(step, 4, anchored(|op| matches!(op, Op::Conv { .. })))
    );
    insta::assert_snapshot!(
        "max_pool_grad",
        shader(step, 4, anchored(|op| matches!(op, Op::PoolGrad { .. })))
    );
}

/// Every kernel of every step of every example generates valid WGSL at a
/// batch size the programs never name.
#[test]
fn every_kernel_of_every_example_is_valid_wgsl() {
    let mut count = 0;
    for path in common::programs() {
        let program = compiled(&path);
        for (title, step) in program.steps() {
            let shaders = wgsl::step_shaders(step, common::BATCH, &wgsl::Limits::WEBGPU)
                .unwrap_or_else(|e| panic!("{}, {title}: {e}", path.display()));
            count += shaders.iter().flatten().count();
        }
    }
    assert!(count > 100, "{count} shaders");
}
