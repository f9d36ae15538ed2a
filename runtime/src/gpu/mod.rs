//! The GPU back end: a step of the compiled program fused and
//! memory-planned by the same passes as the CPU's (`dlp_compiler::fuse`,
//! `dlp_compiler::plan`), each kernel generated as a WGSL compute shader
//! and validated by naga (`dlp_compiler::wgsl`), run through wgpu
//! ([`exec`], [`train`]) on the adapter [`device`] chose: Vulkan, Metal,
//! DX12 or GL.
//!
//! f64 values are computed in f32 and bools stored as u32 (WGSL has no f64
//! and no bool buffers); `tests/gpu.rs` holds every step of every example
//! to the interpreter's results within a stated tolerance.

pub mod device;
mod exec;
mod timer;
mod train;

pub use device::{adapters, gpu, hardware_available, AdapterSummary, NO_ADAPTER};
pub use exec::GpuStep;
pub use train::{GpuTraining, StepFailure};
