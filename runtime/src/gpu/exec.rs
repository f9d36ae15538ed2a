//! Running a fused step on the GPU: at each batch size the step's shaders
//! are generated, validated and compiled once, with buffers laid out by the
//! memory plan (temporaries share the plan's slots) and a bind group per
//! kernel. A run uploads the inputs, records every kernel's dispatch and
//! the copies of the outputs into **one** command submission, then reads
//! the outputs back.

use super::device::{gpu, Gpu};
use super::timer::Timer;
use crate::interp::{Inputs, RunError};
use crate::profile::{kernel_kind, Profile};
use crate::tensor::{Data, HostTy, Tensor};
use dlp_compiler::fuse::{self, Kernels};
use dlp_compiler::ir::{DType, Input, NodeId, Op, Output, Verified};
use dlp_compiler::plan::{self, MemoryPlan, Place};
use dlp_compiler::wgsl;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

/// A step prepared for the GPU: fused, planned, compiled per batch size.
pub struct GpuStep<'p> {
    label: String,
    step: &'p Verified,
    kernels: Kernels,
    plan: MemoryPlan,
    gpu: &'static Gpu,
    prepared: HashMap<usize, Prepared>,
    /// Inputs read from, and outputs written to, buffers that outlive the
    /// step (parameters, optimiser state and gradients, resident for a
    /// whole run): never uploaded, never read back.
    bound_inputs: HashMap<Input, Arc<wgpu::Buffer>>,
    bound_outputs: HashMap<Output, Arc<wgpu::Buffer>>,
    /// The largest binding, in bytes: the adapter's, unless lowered.
    binding_limit: u64,
    /// Time per kernel, when profiling.
    profile: Option<Profile>,
}

/// One kernel, ready to dispatch.
struct Launch {
    /// Its index among the step's kernels.
    kernel: usize,
    pipeline: wgpu::ComputePipeline,
    bindings: wgpu::BindGroup,
    groups: (u32, u32, u32),
}

impl Launch {
    fn dispatch(&self, pass: &mut wgpu::ComputePass) {
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &self.bindings, &[]);
        pass.dispatch_workgroups(self.groups.0, self.groups.1, self.groups.2);
    }
}

/// A step compiled for one batch size.
struct Prepared {
    launches: Vec<Launch>,
    /// The buffer of each value in memory (inputs, slots, outputs).
    buffers: HashMap<NodeId, Arc<wgpu::Buffer>>,
    /// For each output computed by a kernel: the buffer it is copied into
    /// to be read, and its bytes.
    readback: Vec<Option<(wgpu::Buffer, u64)>>,
    /// Where gather and scatter report an index out of range.
    fault: wgpu::Buffer,
    fault_read: wgpu::Buffer,
    /// Kernel timestamps, when profiling.
    timer: Option<Timer>,
}

/// Bytes of `ty`'s elements on the GPU (4 each: f64 is legalised to f32,
/// bool to u32).
fn gpu_bytes(numel: usize) -> u64 {
    (numel.max(1) * 4) as u64
}

impl<'p> GpuStep<'p> {
    /// A step whose shaders are labelled after `label` (`gradients`,
    /// `update`, `eval`), on the process's GPU.
    pub fn named(step: &'p Verified, label: &str) -> Result<GpuStep<'p>, RunError> {
        let gpu = gpu().map_err(RunError)?;
        let kernels = fuse::fuse(step);
        let plan = plan::plan(step, &kernels);
        Ok(GpuStep {
            label: label.to_string(),
            step,
            kernels,
            plan,
            gpu,
            prepared: HashMap::new(),
            bound_inputs: HashMap::new(),
            bound_outputs: HashMap::new(),
            binding_limit: gpu.limits.max_storage_buffer_binding_size,
            profile: None,
        })
    }

    /// Times every kernel of every run from now on (see
    /// [`crate::profile`]), where the adapter can; whether it can. Before
    /// the first run.
    pub fn start_profiling(&mut self) -> bool {
        if self.gpu.timestamps {
            self.profile = Some(Profile::default());
        }
        self.gpu.timestamps
    }

    /// The time spent per kernel so far, when profiling.
    pub fn profile(&self) -> Option<&Profile> {
        self.profile.as_ref()
    }

    /// After a run's submission: adds its kernels' times to the profile.
    pub fn take_times(&mut self, batch: usize) {
        let (Some(profile), Some(p)) = (&mut self.profile, self.prepared.get(&batch)) else {
            return;
        };
        let Some(timer) = &p.timer else {
            return;
        };
        let times = timer.read(self.gpu);
        for (launch, ns) in p.launches.iter().zip(times) {
            let k = &self.kernels.kernels[launch.kernel];
            let what = kernel_kind(self.step.graph(), k);
            profile.add(format!("{} {}", self.label, k.id), what, ns);
        }
    }

    /// Binds no more than `bytes` at once, below the adapter's limit, so
    /// that values are bound in chunks on any adapter (for tests). Before
    /// the first run.
    pub fn lower_binding_limit(&mut self, bytes: u64) {
        debug_assert!(self.prepared.is_empty(), "lowered before preparing");
        self.binding_limit = self.binding_limit.min(bytes);
    }

    /// Reads `input` from `buffer` (kept up to date by the caller) instead
    /// of uploading it each run. Before the first run.
    pub fn bind_input(&mut self, input: Input, buffer: Arc<wgpu::Buffer>) {
        debug_assert!(self.prepared.is_empty(), "bound before preparing");
        self.bound_inputs.insert(input, buffer);
    }

    /// Writes `output` into `buffer` instead of reading it back. Before the
    /// first run.
    pub fn bind_output(&mut self, output: Output, buffer: Arc<wgpu::Buffer>) {
        debug_assert!(self.prepared.is_empty(), "bound before preparing");
        self.bound_outputs.insert(output, buffer);
    }

    /// Where the step's kernels report an index out of range, at batch
    /// `batch` (prepared): 16 bytes, cleared by each run.
    pub fn fault_buffer(&self, batch: usize) -> Option<&wgpu::Buffer> {
        Some(&self.prepared.get(&batch)?.fault)
    }

    /// The buffer `output` is computed into at batch `batch` (prepared).
    pub fn output_buffer(&self, batch: usize, output: &Output) -> Option<&Arc<wgpu::Buffer>> {
        let id = self.step.graph().output(output)?;
        self.prepared.get(&batch)?.buffers.get(&id)
    }

    fn prepare(&mut self, b: usize) -> Result<(), RunError> {
        if self.prepared.contains_key(&b) {
            return Ok(());
        }
        let graph = self.step.graph();
        let shapes = wgsl::shapes(self.step, b).map_err(RunError)?;
        let numel = |id: NodeId| shapes[&id].iter().product::<usize>();
        let device = &self.gpu.device;
        let limits = wgsl::Limits {
            max_binding_bytes: self.binding_limit,
            offset_alignment: self.gpu.limits.min_storage_buffer_offset_alignment as u64,
        };
        let storage = wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST;
        // Every value must fit one buffer (values larger than a binding
        // are bound in chunks).
        let max_buffer = self.gpu.limits.max_buffer_size;
        for id in graph.ids() {
            let bytes = gpu_bytes(numel(id));
            if self.plan.places[id.index()].is_some() && bytes > max_buffer {
                let what = match &graph.node(id).op {
                    Op::Input(input) => format!("input {input}"),
                    op => format!("the result of `{}` ({id})", op.text()),
                };
                return Err(RunError(format!(
                    "at a batch of {b}, {what} in the {} step is {} and needs {}, but this GPU's buffers hold at most {}: lower `batch`",
                    self.label,
                    crate::tensor::HostTy::new(graph.ty(id).dtype, shapes[&id].clone()),
                    plan::bytes_text(bytes as f64),
                    plan::bytes_text(max_buffer as f64)
                )));
            }
        }
        let new_buffer = |label: String, bytes: u64| -> Result<Arc<wgpu::Buffer>, RunError> {
            Ok(Arc::new(device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(&label),
                size: bytes,
                usage: storage,
                mapped_at_creation: false,
            })))
        };
        let scope = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);

        // Buffers: the memory plan's places, with 4-byte elements.
        let mut buffers: HashMap<NodeId, Arc<wgpu::Buffer>> = HashMap::new();
        let mut slots: Vec<Option<Arc<wgpu::Buffer>>> = vec![None; self.plan.slots.len()];
        for (s, slot) in self.plan.slots.iter().enumerate() {
            let bytes = slot.results.iter().map(|&r| gpu_bytes(numel(r))).max();
            if let Some(bytes) = bytes {
                slots[s] = Some(new_buffer(format!("{} slot {s}", self.label), bytes)?);
            }
        }
        let bound_outputs: HashMap<NodeId, Arc<wgpu::Buffer>> = graph
            .outputs
            .iter()
            .filter(|(_, id)| !matches!(graph.node(*id).op, Op::Input(_)))
            .filter_map(|(o, id)| Some((*id, self.bound_outputs.get(o)?.clone())))
            .collect();
        for id in graph.ids() {
            let bound = match &graph.node(id).op {
                Op::Input(input) => self.bound_inputs.get(input),
                _ => bound_outputs.get(&id),
            };
            let buffer = match (bound, self.plan.places[id.index()]) {
                (_, None) => continue,
                (Some(b), _) => b.clone(),
                (None, Some(Place::Slot(s))) => slots[s].clone().expect("a slot holds its results"),
                (None, Some(Place::Input | Place::Output)) => {
                    new_buffer(format!("{} {id}", self.label), gpu_bytes(numel(id)))?
                }
            };
            buffers.insert(id, buffer);
        }
        let fault = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("fault"),
            size: 16,
            usage: storage,
            mapped_at_creation: false,
        });
        let readable = |label: &str, size: u64| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        };
        let fault_read = readable("fault read", 16);
        let readback = graph
            .outputs
            .iter()
            .map(|(o, id)| {
                let computed = !matches!(graph.node(*id).op, Op::Input(_));
                (computed && !self.bound_outputs.contains_key(o)).then(|| {
                    let bytes = gpu_bytes(numel(*id));
                    (readable("output read", bytes), bytes)
                })
            })
            .collect();

        // Shaders, validated, then pipelines and their bindings.
        let mut launches = Vec::new();
        let max_bindings = self.gpu.limits.max_storage_buffers_per_shader_stage as usize;
        for (index, k) in self.kernels.kernels.iter().enumerate() {
            let Some(shader) = wgsl::kernel(self.step, k, &shapes, b, &limits).map_err(RunError)?
            else {
                continue;
            };
            let bindings = shader.reads.len() + shader.results.len() + usize::from(shader.faults);
            if bindings > max_bindings {
                return Err(RunError(format!(
                    "kernel {} needs {bindings} buffer bindings but this GPU binds at most {max_bindings} per kernel",
                    k.id,
                )));
            }
            let module = wgsl::validate(&shader.text)
                .map_err(|e| RunError(wgsl::invalid(k, &e, &shader.text)))?;
            let name = format!("{}_{}_b{b}", self.label, k.id);
            let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(&name),
                source: wgpu::ShaderSource::Naga(std::borrow::Cow::Owned(module)),
            });
            let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(&name),
                layout: None,
                module: &module,
                entry_point: Some("main"),
                compilation_options: Default::default(),
                cache: None,
            });
            let mut entries: Vec<wgpu::BindGroupEntry> = shader
                .reads
                .iter()
                .chain(&shader.results)
                .enumerate()
                .map(|(i, binding)| wgpu::BindGroupEntry {
                    binding: i as u32,
                    resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: &buffers[&binding.node],
                        offset: binding.elements.start as u64 * 4,
                        size: std::num::NonZeroU64::new(binding.elements.len().max(1) as u64 * 4),
                    }),
                })
                .collect();
            if shader.faults {
                entries.push(wgpu::BindGroupEntry {
                    binding: entries.len() as u32,
                    resource: fault.as_entire_binding(),
                });
            }
            let bindings = device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(&name),
                layout: &pipeline.get_bind_group_layout(0),
                entries: &entries,
            });
            launches.push(Launch {
                kernel: index,
                pipeline,
                bindings,
                groups: shader.groups,
            });
        }
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(RunError(format!(
                "out of GPU memory preparing a batch of {b}: {e}; lower `batch`"
            )));
        }
        if let Some(e) = self.gpu.take_error() {
            return Err(RunError(format!("the GPU refused the step: {e}")));
        }
        let timer = self
            .profile
            .is_some()
            .then(|| Timer::new(self.gpu, launches.len()));
        self.prepared.insert(
            b,
            Prepared {
                timer,
                launches,
                buffers,
                readback,
                fault,
                fault_read,
            },
        );
        Ok(())
    }

    /// Runs the step for a batch of `batch` samples.
    pub fn run<'a>(
        &mut self,
        batch: usize,
        inputs: &Inputs<'a>,
    ) -> Result<Vec<(Output, Tensor)>, RunError> {
        self.run_owning(batch, inputs, Vec::new())
    }

    /// [`GpuStep::run`], with some inputs given by value.
    pub fn run_owning<'a>(
        &mut self,
        batch: usize,
        inputs: &Inputs<'a>,
        owned: Vec<(Input, Tensor)>,
    ) -> Result<Vec<(Output, Tensor)>, RunError> {
        let owned: HashMap<Input, Tensor> = owned.into_iter().collect();
        let value = |input: &Input| owned.get(input).or_else(|| inputs(input));
        self.upload(batch, &value)?;
        let mut encoder = self.encoder();
        self.record(batch, &mut encoder);
        self.record_readback(batch, &mut encoder);
        self.gpu.queue.submit([encoder.finish()]);
        let outputs = self.read_back(batch, &value);
        self.take_times(batch);
        outputs
    }

    pub fn encoder(&self) -> wgpu::CommandEncoder {
        self.gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some(&self.label),
            })
    }

    /// Prepares the step at `batch` and writes every input it reads that
    /// is not bound to a buffer of the caller's (the writes land before the
    /// next submission's commands).
    pub fn upload<'a>(
        &mut self,
        batch: usize,
        value: &dyn Fn(&Input) -> Option<&'a Tensor>,
    ) -> Result<(), RunError> {
        self.prepare(batch)?;
        let graph = self.step.graph();
        let p = &self.prepared[&batch];
        for (input, id) in graph.inputs() {
            if self.bound_inputs.contains_key(input) {
                continue;
            }
            let Some(buffer) = p.buffers.get(&id) else {
                continue;
            };
            let ty = HostTy::new(
                graph.ty(id).dtype,
                graph.ty(id).at(batch).unwrap_or_default(),
            );
            let t = input_value(input, value, &ty)?;
            if t.shape != ty.shape || t.dtype() != ty.dtype {
                return Err(RunError(format!(
                    "input {input} is {} but the step expects {ty}",
                    t.ty()
                )));
            }
            if !t.is_empty() {
                self.gpu.queue.write_buffer(buffer, 0, &to_bytes(&t.data));
            }
        }
        Ok(())
    }

    /// Records the step's kernels at `batch` (prepared) into `encoder`, in
    /// one compute pass, then the copies into bound outputs that no kernel
    /// writes (an input passed through).
    pub fn record(&self, batch: usize, encoder: &mut wgpu::CommandEncoder) {
        let graph = self.step.graph();
        let p = &self.prepared[&batch];
        encoder.clear_buffer(&p.fault, 0, None);
        match &p.timer {
            None => {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some(&self.label),
                    timestamp_writes: None,
                });
                for launch in &p.launches {
                    launch.dispatch(&mut pass);
                }
            }
            // A pass per kernel, timed.
            Some(timer) => {
                for (i, launch) in p.launches.iter().enumerate() {
                    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: Some(&self.label),
                        timestamp_writes: Some(timer.writes(i)),
                    });
                    launch.dispatch(&mut pass);
                }
                timer.resolve(encoder);
            }
        }
        for (output, id) in &graph.outputs {
            if let (Some(to), Some(from)) = (self.bound_outputs.get(output), p.buffers.get(id)) {
                if !Arc::ptr_eq(to, from) {
                    encoder.copy_buffer_to_buffer(from, 0, to, 0, from.size().min(to.size()));
                }
            }
        }
    }

    /// Records the copies of the outputs to be read (those not bound) and
    /// of the fault buffer into their mappable buffers.
    pub fn record_readback(&self, batch: usize, encoder: &mut wgpu::CommandEncoder) {
        let graph = self.step.graph();
        let p = &self.prepared[&batch];
        for ((_, id), read) in graph.outputs.iter().zip(&p.readback) {
            if let Some((buffer, bytes)) = read {
                encoder.copy_buffer_to_buffer(&p.buffers[id], 0, buffer, 0, *bytes);
            }
        }
        encoder.copy_buffer_to_buffer(&p.fault, 0, &p.fault_read, 0, 16);
    }

    /// Waits for the submission that holds [`GpuStep::record_readback`]'s
    /// copies; the outputs read back (all but the bound ones), or the
    /// error the device or a kernel ran into.
    pub fn read_back<'a>(
        &self,
        batch: usize,
        value: &dyn Fn(&Input) -> Option<&'a Tensor>,
    ) -> Result<Vec<(Output, Tensor)>, RunError> {
        let p = &self.prepared[&batch];
        let mut reads: Vec<&wgpu::Buffer> = p.readback.iter().flatten().map(|(b, _)| b).collect();
        reads.push(&p.fault_read);
        for buffer in &reads {
            buffer.map_async(wgpu::MapMode::Read, .., |_| {});
        }
        let polled = self.gpu.device.poll(wgpu::PollType::wait_indefinitely());
        let error = self
            .gpu
            .take_error()
            .or(polled.err().map(|e| e.to_string()));
        let result = match error {
            Some(e) => Err(RunError(format!("the GPU failed running the step: {e}"))),
            None => self.collect(batch, p, value),
        };
        for buffer in reads {
            buffer.unmap();
        }
        result
    }

    /// The outputs, from the mapped read-back buffers; an index out of
    /// range in a gather or scatter is an error.
    fn collect<'a>(
        &self,
        batch: usize,
        p: &Prepared,
        value: &dyn Fn(&Input) -> Option<&'a Tensor>,
    ) -> Result<Vec<(Output, Tensor)>, RunError> {
        let graph = self.step.graph();
        check_fault(&mapped_words(&p.fault_read)?)?;
        let mut outputs = Vec::with_capacity(graph.outputs.len());
        for ((output, id), read) in graph.outputs.iter().zip(&p.readback) {
            if self.bound_outputs.contains_key(output) {
                continue;
            }
            let ty = graph.ty(*id);
            let shape = ty.at(batch).unwrap_or_default();
            let n: usize = shape.iter().product();
            let tensor = match (read, &graph.node(*id).op) {
                (Some((buffer, _)), _) => {
                    let words = mapped_words(buffer)?;
                    Tensor::new(shape, from_words(ty.dtype, &words[..n]))
                }
                (None, Op::Input(input)) => {
                    let ty = HostTy::new(ty.dtype, shape);
                    input_value(input, value, &ty)?.into_owned()
                }
                (None, _) => unreachable!("outputs not read back are inputs"),
            };
            outputs.push((output.clone(), tensor));
        }
        Ok(outputs)
    }
}

/// The value of `input`: given, or zeros for state not given yet (the
/// interpreter's rule).
fn input_value<'t>(
    input: &Input,
    value: &dyn Fn(&Input) -> Option<&'t Tensor>,
    ty: &HostTy,
) -> Result<Cow<'t, Tensor>, RunError> {
    match (value(input), input) {
        (Some(t), _) => Ok(Cow::Borrowed(t)),
        (None, Input::OptimizerState { .. } | Input::ModelState(_)) => {
            Ok(Cow::Owned(Tensor::zeros(ty)))
        }
        (None, _) => Err(RunError(format!("no value for input {input}"))),
    }
}

/// The fault buffer's words as an error, if a kernel reported one.
pub(super) fn check_fault(words: &[u32]) -> Result<(), RunError> {
    if words[0] == 0 {
        return Ok(());
    }
    Err(RunError(format!(
        "index {} is out of range for a table of {} rows",
        words[1] as i32, words[2]
    )))
}

pub(super) fn mapped_words(buffer: &wgpu::Buffer) -> Result<Vec<u32>, RunError> {
    let view = buffer
        .get_mapped_range(..)
        .map_err(|e| RunError(format!("could not read a result back from the GPU: {e}")))?;
    Ok(view
        .chunks_exact(4)
        .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
        .collect())
}

/// A tensor's elements as the GPU stores them: f32 (f64 narrowed), i32,
/// u32 for bools; f32 and i32 as they are, without a copy.
pub(super) fn to_bytes(data: &Data) -> Cow<'_, [u8]> {
    match data {
        Data::F32(v) => Cow::Borrowed(bytemuck::cast_slice(v)),
        Data::I32(v) => Cow::Borrowed(bytemuck::cast_slice(v)),
        Data::F64(v) => Cow::Owned(v.iter().flat_map(|&x| (x as f32).to_le_bytes()).collect()),
        Data::Bool(v) => Cow::Owned(v.iter().flat_map(|&x| u32::from(x).to_le_bytes()).collect()),
    }
}

pub(super) fn from_words(dtype: DType, words: &[u32]) -> Data {
    match dtype {
        DType::F32 => Data::F32(words.iter().map(|&w| f32::from_bits(w)).collect()),
        DType::F64 => Data::F64(words.iter().map(|&w| f32::from_bits(w) as f64).collect()),
        DType::I32 => Data::I32(words.iter().map(|&w| w as i32).collect()),
        DType::Bool => Data::Bool(words.iter().map(|&w| w != 0).collect()),
    }
}
