//! The CPU back end: a step of the compiled program fused
//! (`dlp_compiler::fuse`), memory-planned (`dlp_compiler::plan`), prepared
//! for a batch size ([`prepare`]) and run kernel by kernel ([`exec`]), with
//! native code for elementwise kernels, reductions and epilogues (written
//! as Cranelift IR by `dlp_compiler::clif`, compiled and linked by [`jit`]
//! with the helpers it calls, [`calls`]) and contractions — matrix
//! products, convolutions and their gradients — through `gemm` on every
//! thread ([`contract`]).
//!
//! Pooling and its gradient are loops over planes ([`window`]), gather and
//! scatter loops over rows ([`indexed`]); every step runs on one pool of
//! threads ([`threads`]). `tests/cpu.rs` holds every step of every example
//! to the interpreter's results.

mod calls;
mod contract;
mod exec;
mod indexed;
mod jit;
mod prepare;
mod real;
mod threads;
mod window;

pub use exec::CpuStep;
pub use threads::{cores, include_this_thread, pool, set_threads, threads};
