//! The dlp runtime.
//!
//! This crate will hold everything that waits on the world: the backends
//! (the reference interpreter, Cranelift-JIT CPU kernels, WGSL through wgpu),
//! data sources and the loader, the training loop, checkpoints and run
//! records. The compiler (`dlp-compiler`) stays pure and hands the runtime one
//! serialisable value, the compiled step.
//!
//! It is empty until the IR and the training loop land (see the book's
//! `internals/architecture.md` for the planned shape).
