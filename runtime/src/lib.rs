//! The dlp runtime: executes what the compiler produced.
//!
//! - [`interp`]: the reference interpreter (the oracle for every backend);
//! - [`data`]: data sources (CSV, IDX), shuffling, splits and batches;
//! - [`init`]: parameter initialisers; [`rng`]: counter-based randomness;
//! - [`train`]: the training loop (validation, early stopping, keep-best),
//!   and evaluation and prediction with trained parameters ([`train::infer`]);
//! - [`checkpoint`]: parameters and optimiser state in safetensors files;
//! - [`record`]: run records under `runs/`; [`atomic`]: crash-safe writes;
//! - [`export`]: run records for trackers (MLflow, TensorBoard).

pub mod atomic;
pub mod backend;
pub mod checkpoint;
pub mod cpu;
pub mod data;
pub mod export;
pub mod gpu;
pub mod init;
pub mod interp;
pub mod profile;
pub mod record;
pub mod rng;
pub mod tensor;
pub mod train;

pub use tensor::{Data, Tensor};
