//! The per-op coverage suite of the IR, driven by one list:
//! [`Op::catalogue`], one op of every variant and of every unary, binary,
//! reduce, pool and random sub-op. For each op it guarantees:
//!
//! 1. **reference**: the interpreter agrees with a reference computed in
//!    the test itself (naive loops in f64, or values by hand), on several
//!    shapes and attributes and every dtype the op takes. Random ops have
//!    no reference value: their draws are checked for determinism, range
//!    and moments, and, keyed by sample, for depending on the sample
//!    index only, never on the batch;
//! 2. **gradient**: autodiff agrees with central finite differences in
//!    f64 (exactly, for casts), or the op states why it has no derivative
//!    (gradient ops: autodiff must refuse them);
//! 3. **fold = run**, for the elementwise ops: the scalar rule that
//!    constant folding uses gives, bit for bit, what the interpreter
//!    computes, in f32, f64, i32 (and bool) wherever the op takes that
//!    dtype, on operands with negatives, zeros and zero divisors; `%` is
//!    floored and erf is libm's (against tabulated values).
//!
//! [`case`] matches every `Op` variant with no wildcard, so a new op does
//! not compile here until it has its checks; nor does a new unary or
//! binary op (its reference and its domain are exhaustive matches too).
//! Tolerances are stated where they are used: `harness::tolerance` for
//! references, `harness::check` for finite differences.
//!
//! `cargo test --release -p dlp-runtime --test ops -- --nocapture` prints
//! one line per op: what was compared, and how its gradient was checked.

mod op_cases;

use dlp_compiler::ir::Op;
use op_cases::harness::{Case, Gen, Gradient};
use op_cases::{contraction, elementwise, movement, random, sources};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The checks of one op.
fn case(op: &Op) -> Case {
    match op {
        Op::Input(input) => sources::input(input),
        Op::Constant(bits) => sources::constant(f64::from_bits(*bits)),
        Op::SizeOf(size) => sources::size_of(*size),
        Op::Iota(axis) => sources::iota(*axis),
        Op::Unary(u) => elementwise::unary(*u),
        Op::Binary(b) => elementwise::binary(*b),
        Op::Select => elementwise::select(),
        Op::Cast => elementwise::cast(),
        Op::Random { .. } => random::random(op),
        Op::Reduce { op: reduce, axes } => movement::reduce(*reduce, axes.clone()),
        Op::ArgMax(axis) => movement::argmax(*axis),
        Op::Broadcast => movement::broadcast(),
        Op::Reshape => movement::reshape(),
        Op::Permute(perm) => movement::permute(perm.clone()),
        Op::Concat(axis) => movement::concat(*axis),
        Op::Slice { axis, start, end } => movement::slice(*axis, *start, *end),
        Op::MatMul => contraction::matmul(),
        Op::Conv { stride, pad } => contraction::conv(*stride, *pad),
        Op::ConvInputGrad { stride, pad } => contraction::conv_input_grad(*stride, *pad),
        Op::ConvWeightGrad { stride, pad } => contraction::conv_weight_grad(*stride, *pad),
        Op::Pool { kind, k, stride } => contraction::pool(*kind, *k, *stride),
        Op::PoolGrad { kind, k, stride } => contraction::pool_grad(*kind, *k, *stride),
        Op::Gather => contraction::gather(),
        Op::ScatterAdd => contraction::scatter_add(),
    }
}

/// Runs an op's checks; its summary line.
fn run_case(op: &Op) -> String {
    let name = op.text();
    let case = case(op);
    let mut gen = Gen::for_op(op);
    let values = (case.reference)(&mut gen);
    assert!(values > 0, "{name}: the reference check compared nothing");
    let gradient = match case.gradient {
        Gradient::FiniteDifferences(check) => {
            let n = check(&mut gen);
            assert!(n > 0, "{name}: the gradient check compared nothing");
            format!("{n} partial derivatives against finite differences")
        }
        Gradient::Exact(check) => format!("{} partial derivatives, exactly", check(&mut gen)),
        Gradient::Refused(check) => {
            check(&mut gen);
            "none, refused by autodiff: a gradient op (no second derivatives)".into()
        }
        Gradient::None(reason) => format!("none: {reason}"),
    };
    format!("{name:<34} reference: {values:>5} values; gradient: {gradient}")
}

#[test]
fn every_op_matches_its_reference_and_its_gradient() {
    let mut failed = Vec::new();
    for op in Op::catalogue() {
        // Every op runs, so that one failure does not hide another.
        match catch_unwind(AssertUnwindSafe(|| run_case(&op))) {
            Ok(line) => println!("{line}"),
            Err(_) => failed.push(op.text()),
        }
    }
    assert!(failed.is_empty(), "ops failing their checks: {failed:?}");
}

/// The GPU back end on every graph the reference checks build (every op,
/// shape, attribute and dtype above), against the interpreter. Skipped
/// with a printed reason where there is no adapter, unless
/// `DLP_REQUIRE_GPU` is set.
#[test]
fn every_op_on_the_gpu_gives_the_interpreters_results() {
    match dlp_runtime::gpu::gpu() {
        Ok(g) => println!("GPU: {} ({})", g.adapter.name, g.adapter.backend),
        Err(e) if std::env::var_os("DLP_REQUIRE_GPU").is_some() => {
            panic!("DLP_REQUIRE_GPU is set but {e}")
        }
        Err(e) => return println!("skipped: {e}"),
    }
    op_cases::harness::ON_GPU.with(|on| on.set(true));
    let mut failed = Vec::new();
    for op in Op::catalogue() {
        let case = case(&op);
        let mut gen = Gen::for_op(&op);
        match catch_unwind(AssertUnwindSafe(|| (case.reference)(&mut gen))) {
            Ok(n) => println!("{:<34} {n:>5} values on the GPU", op.text()),
            Err(_) => failed.push(op.text()),
        }
    }
    assert!(failed.is_empty(), "ops the GPU gets wrong: {failed:?}");
}
