//! Which engine runs the steps of a compiled program: the CPU back end
//! (native code and `gemm`, the default), the GPU back end (WGSL through
//! wgpu, `--device gpu`) or the reference interpreter (`--backend interp`:
//! the oracle, slow and simple).

use crate::cpu::CpuStep;
use crate::gpu::GpuStep;
use crate::interp::{Inputs, Interpreter, RunError};
use crate::tensor::Tensor;
use dlp_compiler::ir::{Input, Output, Verified};
use std::collections::HashMap;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// Fused kernels, native code from Cranelift, `gemm`.
    #[default]
    Cpu,
    /// The reference interpreter, node by node.
    Interp,
    /// Fused kernels as WGSL compute shaders, on a wgpu adapter.
    Gpu,
}

impl Backend {
    pub const ALL: [Backend; 3] = [Backend::Cpu, Backend::Interp, Backend::Gpu];

    pub fn name(self) -> &'static str {
        match self {
            Backend::Cpu => "cpu",
            Backend::Interp => "interp",
            Backend::Gpu => "gpu",
        }
    }

    pub fn from_name(name: &str) -> Option<Backend> {
        Backend::ALL.into_iter().find(|b| b.name() == name)
    }

    /// The CPU threads it computes on (the interpreter uses one; the GPU
    /// back end's host work, batches and read-backs, uses one).
    pub fn threads(self) -> usize {
        match self {
            Backend::Cpu => crate::cpu::threads(),
            Backend::Interp | Backend::Gpu => 1,
        }
    }
}

/// One step, prepared to run on a back end.
pub enum Runner<'p> {
    Cpu(Box<CpuStep<'p>>),
    Interp(Interpreter<'p>),
    Gpu(Box<GpuStep<'p>>),
}

impl<'p> Runner<'p> {
    /// The step prepared for `backend`; `label` names its generated code
    /// (`gradients`, `update`, `eval`).
    pub fn new(backend: Backend, step: &'p Verified, label: &str) -> Result<Runner<'p>, RunError> {
        Ok(match backend {
            Backend::Cpu => Runner::Cpu(Box::new(CpuStep::named(step, label)?)),
            Backend::Interp => Runner::Interp(Interpreter::new(step)),
            Backend::Gpu => Runner::Gpu(Box::new(GpuStep::named(step, label)?)),
        })
    }

    /// Runs the step for a batch of `batch` samples.
    pub fn run<'a>(
        &mut self,
        batch: usize,
        inputs: &Inputs<'a>,
    ) -> Result<Vec<(Output, Tensor)>, RunError> {
        match self {
            Runner::Cpu(step) => step.run(batch, inputs),
            Runner::Interp(interp) => interp.run(batch, inputs),
            Runner::Gpu(step) => step.run(batch, inputs),
        }
    }

    /// [`Runner::run`], with some inputs handed over: the CPU back end may
    /// write an update over the value it replaces.
    pub fn run_owning<'a>(
        &mut self,
        batch: usize,
        inputs: &Inputs<'a>,
        owned: Vec<(Input, Tensor)>,
    ) -> Result<Vec<(Output, Tensor)>, RunError> {
        match self {
            Runner::Cpu(step) => step.run_owning(batch, inputs, owned),
            Runner::Gpu(step) => step.run_owning(batch, inputs, owned),
            Runner::Interp(interp) => {
                let owned: HashMap<Input, Tensor> = owned.into_iter().collect();
                interp.run(batch, &|i| owned.get(i).or_else(|| inputs(i)))
            }
        }
    }

    /// Times every kernel of every run from now on (see
    /// [`crate::profile`]); whether this back end can (the interpreter has
    /// no kernels; a GPU adapter needs timestamp queries).
    pub fn start_profiling(&mut self) -> bool {
        match self {
            Runner::Cpu(step) => {
                step.start_profiling();
                true
            }
            Runner::Gpu(step) => step.start_profiling(),
            Runner::Interp(_) => false,
        }
    }

    /// The time spent per kernel so far, when profiling.
    pub fn profile(&self) -> Option<&crate::profile::Profile> {
        match self {
            Runner::Cpu(step) => step.profile(),
            Runner::Gpu(step) => step.profile(),
            Runner::Interp(_) => None,
        }
    }

    /// Gives back tensors no longer needed, whose buffers the next run may
    /// reuse (the interpreter allocates as it goes, and drops them).
    pub fn recycle(&mut self, tensors: impl IntoIterator<Item = Tensor>) {
        if let Runner::Cpu(step) = self {
            step.recycle(tensors);
        }
    }
}
