//! Training on the GPU: the train step's two groups (forward and backward,
//! then clipping and the update) recorded into **one** command submission
//! per step, with parameters, optimiser state and gradients resident in GPU
//! buffers for the whole run. Only the batch (and the step's scalars) go up
//! and only the loss and metric sums come back; the parameters come back
//! when the trainer asks ([`GpuTraining::download`]: once an epoch, for
//! validation and checkpoints).
//!
//! The loss and metrics of a step are read back while the next step runs:
//! each step copies them into one of two mappable buffers, and
//! [`GpuTraining::step`] returns those of the step before, whose
//! submission has finished or is about to. The GPU is never left idle
//! waiting for the host to read a result and record the next step, and a
//! batch's upload overlaps the step before.

use super::device::gpu;
use super::exec::GpuStep;
use crate::interp::{Inputs, RunError};
use crate::tensor::{HostTy, Tensor};
use dlp_compiler::ir::{Graph, Input, Output};
use dlp_compiler::program::TrainStep;
use std::collections::HashMap;
use std::sync::Arc;

/// Which step a failure on the GPU belongs to: the one being submitted, or
/// the one before it, whose results (and index faults) come in while this
/// one is submitted.
pub enum StepFailure {
    This(RunError),
    Previous(RunError),
}

pub struct GpuTraining<'p> {
    gradients: GpuStep<'p>,
    update: GpuStep<'p>,
    /// Parameters and optimiser state, by the input that reads them, with
    /// their types.
    resident: Vec<(Input, HostTy, Arc<wgpu::Buffer>)>,
    /// The update's outputs, and the resident input each replaces.
    replaces: Vec<(Output, Input)>,
    /// The forward group's new model states, and the resident state each
    /// replaces.
    state_replaces: Vec<(Output, Input)>,
    /// Whether `resident` holds the current values (uploaded once, then
    /// kept up to date by every step).
    loaded: bool,
    /// The forward group's outputs read back each step (loss and metric
    /// sums), with their types.
    reported: Vec<(Output, HostTy)>,
    /// Two sets of mappable buffers the steps take turns with.
    ring: [Readback; 2],
    /// The ring slot the next step writes.
    next: usize,
}

/// One step's read-back: a buffer per reported output, then the two
/// groups' fault buffers; the step's submission while it is in flight.
struct Readback {
    buffers: Vec<wgpu::Buffer>,
    pending: Option<(wgpu::SubmissionIndex, usize)>,
}

fn mappable(label: &str, bytes: u64) -> Result<wgpu::Buffer, RunError> {
    let gpu = gpu().map_err(RunError)?;
    Ok(gpu.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: bytes.max(4),
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    }))
}

fn storage(label: &str, bytes: u64) -> Result<Arc<wgpu::Buffer>, RunError> {
    let gpu = gpu().map_err(RunError)?;
    Ok(Arc::new(gpu.device.create_buffer(
        &wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes.max(4),
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        },
    )))
}

/// The type of `input` in `graph` (parameters and state do not depend on
/// the batch).
fn input_ty(graph: &Graph, input: &Input) -> Option<HostTy> {
    let ty = graph.ty(graph.input(input)?);
    Some(HostTy::new(ty.dtype, ty.at(1)?))
}

impl<'p> GpuTraining<'p> {
    pub fn new(step: &'p TrainStep) -> Result<GpuTraining<'p>, RunError> {
        let mut gradients = GpuStep::named(&step.gradients, "gradients")?;
        let mut update = GpuStep::named(&step.update, "update")?;
        let mut resident = Vec::new();
        let mut replaces = Vec::new();
        for (output, _) in &step.update.graph().outputs {
            let input = match output {
                Output::NewParam(p) => Input::Param(p.clone()),
                Output::NewOptimizerState { slot, param } => Input::OptimizerState {
                    slot: slot.clone(),
                    param: param.clone(),
                },
                _ => continue,
            };
            let ty = input_ty(step.update.graph(), &input)
                .or_else(|| input_ty(step.gradients.graph(), &input))
                .ok_or_else(|| RunError(format!("internal error: the update has no {input}")))?;
            let buffer = storage(&input.to_string(), (ty.numel() * 4) as u64)?;
            gradients.bind_input(input.clone(), buffer.clone());
            update.bind_input(input.clone(), buffer.clone());
            resident.push((input.clone(), ty, buffer));
            replaces.push((output.clone(), input));
        }
        // Model state is resident too: read by the forward group, which
        // gives its new value when training updates it.
        let mut state_replaces = Vec::new();
        for (input, _) in step.gradients.graph().inputs() {
            let Input::ModelState(p) = input else {
                continue;
            };
            let ty = input_ty(step.gradients.graph(), input)
                .ok_or_else(|| RunError(format!("internal error: {input} depends on the batch")))?;
            let buffer = storage(&input.to_string(), (ty.numel() * 4) as u64)?;
            gradients.bind_input(input.clone(), buffer.clone());
            resident.push((input.clone(), ty, buffer));
            let output = Output::NewModelState(p.clone());
            if step
                .gradients
                .graph()
                .outputs
                .iter()
                .any(|(o, _)| *o == output)
            {
                state_replaces.push((output, input.clone()));
            }
        }
        // Gradients go from the first group to the second on the GPU.
        for (output, id) in &step.gradients.graph().outputs {
            if let Output::Gradient(p) = output {
                let ty = step.gradients.graph().ty(*id);
                let numel = ty.at(1).map_or(0, |s| s.iter().product::<usize>());
                let buffer = storage(&format!("grad.{p}"), (numel * 4) as u64)?;
                gradients.bind_output(output.clone(), buffer.clone());
                update.bind_input(Input::Gradient(p.clone()), buffer);
            }
        }
        let mut reported = Vec::new();
        for (output, id) in &step.gradients.graph().outputs {
            if let Output::LossSum | Output::MetricSum(_) = output {
                let ty = step.gradients.graph().ty(*id);
                let shape = ty.at(1).ok_or_else(|| {
                    RunError(format!("internal error: {output} depends on the batch"))
                })?;
                reported.push((output.clone(), HostTy::new(ty.dtype, shape)));
            }
        }
        let readback = || -> Result<Readback, RunError> {
            let mut buffers = reported
                .iter()
                .map(|(o, ty)| mappable(&o.to_string(), (ty.numel() * 4) as u64))
                .collect::<Result<Vec<_>, _>>()?;
            buffers.push(mappable("fault", 16)?);
            buffers.push(mappable("fault", 16)?);
            Ok(Readback {
                buffers,
                pending: None,
            })
        };
        let ring = [readback()?, readback()?];
        Ok(GpuTraining {
            gradients,
            update,
            resident,
            replaces,
            state_replaces,
            loaded: false,
            reported,
            ring,
            next: 0,
        })
    }

    /// One optimiser step on a batch of `batch`: `inputs` gives the feeds,
    /// sample indices and the step's scalars (parameters and state are on
    /// the GPU, uploaded from `params` and `states` before the first step).
    /// Returns the loss and metric sums of the step before this one, if
    /// there was one ([`GpuTraining::finish`] gives the last step's).
    pub fn step<'a>(
        &mut self,
        batch: usize,
        inputs: &Inputs<'a>,
        params: &HashMap<String, Tensor>,
        states: &HashMap<Input, &Tensor>,
    ) -> Result<Option<Vec<(Output, Tensor)>>, StepFailure> {
        self.submit(batch, inputs, params, states)
            .map_err(StepFailure::This)?;
        self.collect(self.next).map_err(StepFailure::Previous)
    }

    /// Uploads a step's inputs and submits its work.
    fn submit<'a>(
        &mut self,
        batch: usize,
        inputs: &Inputs<'a>,
        params: &HashMap<String, Tensor>,
        states: &HashMap<Input, &Tensor>,
    ) -> Result<(), RunError> {
        if !self.loaded {
            self.load(params, states)?;
        }
        self.gradients.upload(batch, inputs)?;
        self.update.upload(batch, inputs)?;
        let mut encoder = self.gradients.encoder();
        self.gradients.record(batch, &mut encoder);
        self.update.record(batch, &mut encoder);
        for (output, input) in &self.replaces {
            let to = self.resident_buffer(input);
            if let Some(from) = self.update.output_buffer(batch, output) {
                encoder.copy_buffer_to_buffer(from, 0, to, 0, to.size().min(from.size()));
            }
        }
        for (output, input) in &self.state_replaces {
            let to = self.resident_buffer(input);
            if let Some(from) = self.gradients.output_buffer(batch, output) {
                if !Arc::ptr_eq(from, to) {
                    encoder.copy_buffer_to_buffer(from, 0, to, 0, to.size().min(from.size()));
                }
            }
        }
        let slot = &mut self.ring[self.next];
        let sources = self
            .reported
            .iter()
            .map(|(o, _)| self.gradients.output_buffer(batch, o).map(|b| &**b))
            .chain([
                self.gradients.fault_buffer(batch),
                self.update.fault_buffer(batch),
            ]);
        for (from, to) in sources.zip(&slot.buffers) {
            if let Some(from) = from {
                encoder.copy_buffer_to_buffer(from, 0, to, 0, to.size().min(from.size()));
            }
        }
        let gpu = gpu().map_err(RunError)?;
        let submission = gpu.queue.submit([encoder.finish()]);
        for buffer in &slot.buffers {
            buffer.map_async(wgpu::MapMode::Read, .., |_| {});
        }
        slot.pending = Some((submission, batch));
        self.next = 1 - self.next;
        // Profiling reads each step's times as soon as it has run.
        self.gradients.take_times(batch);
        self.update.take_times(batch);
        Ok(())
    }

    /// Times every kernel from now on (see [`crate::profile`]); whether
    /// the adapter can.
    pub fn start_profiling(&mut self) -> bool {
        self.gradients.start_profiling() && self.update.start_profiling()
    }

    /// Where the GPU's time went, when profiling.
    pub fn profile_report(&self) -> Option<String> {
        let profiles: Vec<&crate::profile::Profile> =
            [self.gradients.profile(), self.update.profile()]
                .into_iter()
                .flatten()
                .collect();
        (!profiles.is_empty()).then(|| crate::profile::Profile::report("GPU", &profiles))
    }

    /// The loss and metric sums of the last step, not yet returned.
    pub fn finish(&mut self) -> Result<Option<Vec<(Output, Tensor)>>, RunError> {
        self.collect(1 - self.next)
    }

    /// Waits for the step in ring slot `slot`, if one is there; its loss
    /// and metric sums, or what went wrong on the device.
    fn collect(&mut self, slot: usize) -> Result<Option<Vec<(Output, Tensor)>>, RunError> {
        let gpu = gpu().map_err(RunError)?;
        let readback = &mut self.ring[slot];
        let Some((submission, _batch)) = readback.pending.take() else {
            return Ok(None);
        };
        let polled = gpu.device.poll(wgpu::PollType::Wait {
            submission_index: Some(submission),
            timeout: None,
        });
        let result = match gpu.take_error().or(polled.err().map(|e| e.to_string())) {
            Some(e) => Err(RunError(format!("the GPU failed running a step: {e}"))),
            None => read(&self.reported, &readback.buffers),
        };
        for buffer in &readback.buffers {
            buffer.unmap();
        }
        result.map(Some)
    }

    fn resident_buffer(&self, input: &Input) -> &Arc<wgpu::Buffer> {
        &self
            .resident
            .iter()
            .find(|(i, _, _)| i == input)
            .expect("a resident input")
            .2
    }

    /// Uploads parameters and state (state not given starts at zero).
    fn load(
        &mut self,
        params: &HashMap<String, Tensor>,
        states: &HashMap<Input, &Tensor>,
    ) -> Result<(), RunError> {
        let gpu = gpu().map_err(RunError)?;
        for (input, ty, buffer) in &self.resident {
            let given = match input {
                Input::Param(p) | Input::ModelState(p) => Some(
                    params
                        .get(p)
                        .ok_or_else(|| RunError(format!("no value for parameter `{p}`")))?,
                ),
                other => states.get(other).copied(),
            };
            let zeros;
            let t = match given {
                Some(t) => t,
                None => {
                    zeros = Tensor::zeros(ty);
                    &zeros
                }
            };
            if t.shape != ty.shape {
                return Err(RunError(format!(
                    "{input} is {} but the step expects {ty}",
                    t.ty()
                )));
            }
            if !t.is_empty() {
                gpu.queue
                    .write_buffer(buffer, 0, &super::exec::to_bytes(&t.data));
            }
        }
        self.loaded = true;
        Ok(())
    }

    /// The current parameters and optimiser state, read back from the GPU
    /// (they stay there).
    pub fn download(&self) -> Result<Vec<(Input, Tensor)>, RunError> {
        if !self.loaded {
            return Ok(Vec::new());
        }
        let gpu = gpu().map_err(RunError)?;
        let mut encoder = self.gradients.encoder();
        let reads: Vec<wgpu::Buffer> = self
            .resident
            .iter()
            .map(|(input, _, buffer)| {
                let read = gpu.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some(&input.to_string()),
                    size: buffer.size(),
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                encoder.copy_buffer_to_buffer(buffer, 0, &read, 0, buffer.size());
                read
            })
            .collect();
        gpu.queue.submit([encoder.finish()]);
        for read in &reads {
            read.map_async(wgpu::MapMode::Read, .., |_| {});
        }
        let polled = gpu.device.poll(wgpu::PollType::wait_indefinitely());
        if let Some(e) = gpu.take_error().or(polled.err().map(|e| e.to_string())) {
            return Err(RunError(format!(
                "the GPU failed reading the parameters back: {e}"
            )));
        }
        let mut out = Vec::with_capacity(reads.len());
        for ((input, ty, _), read) in self.resident.iter().zip(&reads) {
            let words = super::exec::mapped_words(read)?;
            let data = super::exec::from_words(ty.dtype, &words[..ty.numel()]);
            out.push((input.clone(), Tensor::new(ty.shape.clone(), data)));
            read.unmap();
        }
        Ok(out)
    }
}

/// The reported outputs from their mapped buffers, after the faults.
fn read(
    reported: &[(Output, HostTy)],
    buffers: &[wgpu::Buffer],
) -> Result<Vec<(Output, Tensor)>, RunError> {
    let n = reported.len();
    for fault in &buffers[n..] {
        super::exec::check_fault(&super::exec::mapped_words(fault)?)?;
    }
    reported
        .iter()
        .zip(buffers)
        .map(|((output, ty), buffer)| {
            let words = super::exec::mapped_words(buffer)?;
            let data = super::exec::from_words(ty.dtype, &words[..ty.numel()]);
            Ok((output.clone(), Tensor::new(ty.shape.clone(), data)))
        })
        .collect()
}
