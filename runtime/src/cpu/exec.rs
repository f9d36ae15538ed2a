//! Running a fused step on the CPU, on a thread of the back end's pool:
//! each kernel in schedule order, the way it is compiled for the batch size
//! at hand —
//!
//! - an elementwise kernel or a reduction as native code (`super::jit`),
//!   large ones split by rows across the threads;
//! - a matrix product or convolution through `gemm` (`super::contract`),
//!   pooling or argmax as loops (`super::window`), then the epilogue (bias,
//!   activation) as native code over the result;
//! - gather and scatter (embeddings) as loops (`super::indexed`);
//! - a transpose as a strided copy;
//! - `slice` and `concat` (copies), and a kernel the code generator does
//!   not take, node by node with the reference interpreter's ops.
//!
//! Each value is dropped after the last kernel that reads it, its buffer
//! kept for a later result of the same size; the caller gives back the
//! buffers of outputs it is done with ([`CpuStep::recycle`]), so that a step
//! in steady state allocates no tensor-sized buffer.

use super::jit::{Jit, KernelFn};
use super::prepare::{self, Compiled, Exec};
use super::real::take_buffer;
use super::{contract, indexed, window};
use crate::interp::{Inputs, Interpreter, RunError};
use crate::profile::{kernel_kind, Profile};
use crate::tensor::{Data, HostTy, Tensor};
use dlp_compiler::clif::index;
use dlp_compiler::fuse::{self, Kernel, Kernels};
use dlp_compiler::ir::{Input, NodeId, Op, Output, Verified};
use dlp_compiler::plan::{self, MemoryPlan, Place};
use std::collections::HashMap;
use std::time::Instant;

/// A step prepared for the CPU: fused, planned, compiled per batch size.
pub struct CpuStep<'p> {
    label: String,
    step: &'p Verified,
    interp: Interpreter<'p>,
    kernels: Kernels,
    plan: MemoryPlan,
    jit: Jit,
    compiled: HashMap<usize, Compiled>,
    /// The Cranelift IR of each kernel's native code, per batch size.
    clif: HashMap<usize, Vec<Option<String>>>,
    /// Buffers of values no longer needed, reused for kernel results (a
    /// steady-state step then allocates little).
    spare: Vec<Data>,
    /// Time per kernel, when profiling (`dlpc run --profile`).
    profile: Option<Profile>,
    /// The most bytes of temporaries (kernel results that are neither
    /// inputs nor outputs) alive at once in the last run.
    peak_temporaries: usize,
}

impl<'p> CpuStep<'p> {
    pub fn new(step: &'p Verified) -> Result<CpuStep<'p>, RunError> {
        CpuStep::named(step, "step")
    }

    /// A step whose kernels' native code is named after `label`
    /// (`update_k2_b128`), so that a profiler tells them apart.
    pub fn named(step: &'p Verified, label: &str) -> Result<CpuStep<'p>, RunError> {
        let kernels = fuse::fuse(step);
        let plan = plan::plan(step, &kernels);
        Ok(CpuStep {
            label: label.to_string(),
            step,
            interp: Interpreter::new(step),
            kernels,
            plan,
            jit: Jit::new().map_err(RunError)?,
            compiled: HashMap::new(),
            clif: HashMap::new(),
            spare: Vec::new(),
            profile: None,
            peak_temporaries: 0,
        })
    }

    /// Bytes the memory plan gives the temporaries at batch `b`: the most
    /// that can be alive at once (its slots).
    pub fn planned_temporaries(&self, b: usize) -> usize {
        self.plan.temporary_bytes(b)
    }

    /// The most bytes of temporaries alive at once in the last run (the
    /// values the plan puts in slots; scratch inside a kernel, such as
    /// unfolded windows, is not one).
    pub fn peak_temporaries(&self) -> usize {
        self.peak_temporaries
    }

    /// Times every kernel of every run from now on.
    pub fn start_profiling(&mut self) {
        self.profile = Some(Profile::default());
    }

    /// The time spent per kernel so far, when profiling.
    pub fn profile(&self) -> Option<&Profile> {
        self.profile.as_ref()
    }

    /// For each kernel at batch `b` (compiled if needed): the Cranelift IR
    /// of its generated code, if it has some.
    pub fn clif(&mut self, b: usize) -> Vec<Option<String>> {
        self.prepare(b);
        self.clif[&b].clone()
    }

    /// How many passes a run at batch `b` makes (compiled if needed): one
    /// per kernel, except kernels computed in a later one's pass.
    pub fn passes(&mut self, b: usize) -> usize {
        self.prepare(b);
        let execs = &self.compiled[&b].execs;
        execs.iter().filter(|e| !matches!(e, Exec::InGroup)).count()
    }

    /// For each kernel at batch `b` (compiled if needed): `None` when it
    /// runs as native code, else why it runs on the interpreter's ops.
    pub fn fallbacks(&mut self, b: usize) -> Vec<Option<String>> {
        self.prepare(b);
        self.compiled[&b]
            .execs
            .iter()
            .map(|e| match e {
                Exec::Nodes(why) => Some(why.clone()),
                Exec::Native { .. }
                | Exec::InGroup
                | Exec::Anchored { .. }
                | Exec::Permute { .. } => None,
            })
            .collect()
    }

    fn prepare(&mut self, b: usize) {
        if self.compiled.contains_key(&b) {
            return;
        }
        let graph = self.step.graph();
        let shapes: HashMap<NodeId, Vec<usize>> = graph
            .ids()
            .filter_map(|id| graph.ty(id).at(b).map(|s| (id, s)))
            .collect();
        let mut execs = Vec::new();
        let mut clif = Vec::new();
        for k in &self.kernels.kernels {
            self.jit.last_clif.clear();
            self.jit.next_name = format!("{}_{}_b{b}", self.label, k.id);
            execs.push(prepare::kernel(&mut self.jit, self.step, k, &shapes, b));
            let text = std::mem::take(&mut self.jit.last_clif);
            clif.push((!text.is_empty()).then_some(text));
        }
        let over: Vec<Option<NodeId>> = self
            .kernels
            .kernels
            .iter()
            .zip(&execs)
            .map(|(k, e)| prepare::writes_over(self.step, &self.plan, k, e, &shapes))
            .collect();
        prepare::group(
            &mut self.jit,
            &self.label,
            self.step,
            &self.kernels.kernels,
            &mut execs,
            &over,
            &self.plan.places,
            &shapes,
            b,
            &mut clif,
        );
        self.compiled.insert(b, Compiled { execs, over });
        self.clif.insert(b, clif);
    }

    /// Runs the step for a batch of `batch` samples, on the back end's
    /// threads.
    pub fn run<'a>(
        &mut self,
        batch: usize,
        inputs: &Inputs<'a>,
    ) -> Result<Vec<(Output, Tensor)>, RunError> {
        self.run_owning(batch, inputs, Vec::new())
    }

    /// [`CpuStep::run`], with some inputs handed over (`owned`, read in
    /// place of `inputs`' values): an update may then be written over the
    /// value it replaces (`new_param` over `param`, as the memory plan
    /// allows), so that the optimiser's state goes through memory once.
    pub fn run_owning<'a>(
        &mut self,
        batch: usize,
        inputs: &Inputs<'a>,
        owned: Vec<(Input, Tensor)>,
    ) -> Result<Vec<(Output, Tensor)>, RunError> {
        self.prepare(batch);
        let mut spare = std::mem::take(&mut self.spare);
        let run = Execution {
            step: self.step,
            interp: &self.interp,
            kernels: &self.kernels,
            plan: &self.plan,
            compiled: &self.compiled[&batch],
            spare_limit: self.spare_limit(),
        };
        let mut times = self.profile.is_some().then(Vec::new);
        let started = Instant::now();
        let mut peak = 0;
        let outputs = super::threads::pool()
            .install(|| run.run(batch, inputs, owned, &mut spare, times.as_mut(), &mut peak));
        self.peak_temporaries = peak;
        if let (Some(profile), Some(times)) = (&mut self.profile, times) {
            let graph = self.step.graph();
            let mut in_kernels = 0.0;
            let execs = &self.compiled[&batch].execs;
            for ((k, exec), ns) in self.kernels.kernels.iter().zip(execs).zip(times) {
                in_kernels += ns;
                // A pass is named after the kernels it computes (`update
                // k0-k2`); the kernels computed in a later pass take no time.
                let (label, what) = match exec {
                    Exec::InGroup => continue,
                    Exec::Native { also, .. } if !also.is_empty() => {
                        let first = also[0].0;
                        (format!("{} k{first}-{}", self.label, k.id), "pass".into())
                    }
                    _ => (format!("{} {}", self.label, k.id), kernel_kind(graph, k)),
                };
                profile.add(label, what, ns);
            }
            // Looking values up, taking and giving back buffers.
            let all = started.elapsed().as_nanos() as f64;
            let label = format!("{} (between kernels)", self.label);
            profile.add(label, "between kernels".into(), (all - in_kernels).max(0.0));
        }
        self.spare = spare;
        outputs
    }

    /// Takes back tensors the caller no longer needs (last step's outputs,
    /// the parameters they replaced): their buffers hold the next run's
    /// results, so that a step in steady state allocates no large buffer.
    pub fn recycle(&mut self, tensors: impl IntoIterator<Item = Tensor>) {
        let room = self.spare_limit().saturating_sub(self.spare.len());
        self.spare
            .extend(tensors.into_iter().map(|t| t.data).take(room));
    }

    /// Buffers kept for reuse: one per kernel result and step output.
    fn spare_limit(&self) -> usize {
        self.kernels.kernels.len() + self.step.graph().outputs.len()
    }
}

/// A step compiled for one batch size, ready to run.
struct Execution<'s, 'p> {
    step: &'p Verified,
    interp: &'s Interpreter<'p>,
    kernels: &'s Kernels,
    plan: &'s MemoryPlan,
    compiled: &'s Compiled,
    spare_limit: usize,
}

impl Execution<'_, '_> {
    /// Runs every kernel in order; `pool` holds buffers of values no longer
    /// needed, taken for results and given back.
    fn run<'a>(
        &self,
        batch: usize,
        inputs: &Inputs<'a>,
        owned: Vec<(Input, Tensor)>,
        pool: &mut Vec<Data>,
        mut times: Option<&mut Vec<f64>>,
        peak: &mut usize,
    ) -> Result<Vec<(Output, Tensor)>, RunError> {
        let graph = self.step.graph();
        let execs = &self.compiled.execs;
        let spare = pool;
        let mut values: HashMap<NodeId, Tensor> = HashMap::new();
        for (input, t) in owned {
            if let Some(id) = graph.input(&input) {
                values.insert(id, t);
            }
        }
        // Inputs without a value: state that starts at zero (the
        // interpreter's rule), or an error.
        for (input, id) in graph.inputs() {
            if !values.contains_key(&id) && inputs(input).is_none() {
                let v = self.interp.compute(id, &[], batch, inputs)?.into_owned();
                values.insert(id, v);
            }
        }
        // Bytes of temporaries alive (see `CpuStep::peak_temporaries`).
        let temporary = |n: NodeId| matches!(self.plan.places[n.index()], Some(Place::Slot(_)));
        let temporary_bytes = |n: NodeId| plan::bytes(graph, n).at(batch).unwrap_or(0);
        let mut live = 0;
        for (i, (kernel, exec)) in self.kernels.kernels.iter().zip(execs).enumerate() {
            if let Exec::InGroup = exec {
                // Its pass comes later; so do the drops of what it reads.
                if let Some(times) = times.as_deref_mut() {
                    times.push(0.0);
                }
                continue;
            }
            let started = times.is_some().then(Instant::now);
            // Results of earlier kernels computed in this kernel's pass.
            let mut also_computed: Vec<(NodeId, Tensor)> = Vec::new();
            let value = {
                let read =
                    |n: NodeId| -> Result<&Tensor, RunError> { lookup(graph, &values, n, inputs) };
                match exec {
                    Exec::Native {
                        code,
                        reads,
                        also,
                        work,
                    } => {
                        let mut pointers = reads
                            .iter()
                            .map(|&r| read(r).map(|t| data_ptr(&t.data)))
                            .collect::<Result<Vec<_>, _>>()?;
                        // Each result over an input handed over, or in a
                        // buffer of its own.
                        let mut dst_of =
                            |k: usize, root: NodeId| -> Result<(HostTy, Data), RunError> {
                                let ty = host_ty(self.step, root, batch)?;
                                let dst = match self.compiled.over[k]
                                    .and_then(|old| values.remove(&old))
                                {
                                    Some(old) => old.data,
                                    None => take_buffer(spare, ty.dtype, ty.numel()),
                                };
                                Ok((ty, dst))
                            };
                        for &(k, root) in also {
                            let (ty, mut dst) = dst_of(k, root)?;
                            pointers.push(data_mut_ptr(&mut dst) as *const u8);
                            also_computed.push((root, Tensor::new(ty.shape, dst)));
                        }
                        let (ty, dst) = dst_of(i, kernel.root())?;
                        run_native(*code, &pointers, ty, dst, *work)
                    }
                    Exec::InGroup => unreachable!("skipped above"),
                    Exec::Anchored {
                        anchor,
                        operands,
                        epilogue,
                    } => {
                        let args = graph.args(*anchor);
                        let layouts: Vec<contract::Layout> =
                            operands.iter().map(|o| o.layout).collect();
                        let operands: Vec<&Tensor> = operands
                            .iter()
                            .map(|o| read(o.source))
                            .collect::<Result<_, _>>()?;
                        let shapes: Vec<Vec<usize>> = args
                            .iter()
                            .map(|&a| graph.ty(a).at(batch).unwrap_or_default())
                            .collect();
                        let op = &graph.node(*anchor).op;
                        let ty = host_ty(self.step, *anchor, batch)?;
                        let dst = take_buffer(spare, ty.dtype, ty.numel());
                        match epilogue {
                            None => {
                                let args = (&operands[..], &layouts[..], &shapes[..]);
                                native_anchor(op, args, &ty, dst, spare, &|_, _| {})?
                            }
                            Some((code, reads)) => {
                                // The epilogue reads the product where the
                                // anchor writes it, row range by row range as
                                // the anchor finishes them.
                                let mut pointers = Vec::with_capacity(reads.len());
                                for &r in reads {
                                    pointers.push(if r == *anchor {
                                        data_ptr(&dst)
                                    } else {
                                        data_ptr(&read(r)?.data)
                                    });
                                }
                                let out_ty = host_ty(self.step, kernel.root(), batch)?;
                                let mut result = take_buffer(spare, out_ty.dtype, out_ty.numel());
                                let call = Call {
                                    reads: pointers.as_ptr(),
                                    out: data_mut_ptr(&mut result),
                                };
                                let per_row = out_ty.numel()
                                    / out_ty.shape.first().copied().unwrap_or(1).max(1);
                                let code = *code;
                                let after = move |start: usize, end: usize| {
                                    run_rows(code, call, start, end, (end - start) * per_row)
                                };
                                let args = (&operands[..], &layouts[..], &shapes[..]);
                                let product = native_anchor(op, args, &ty, dst, spare, &after)?;
                                if spare.len() < self.spare_limit {
                                    spare.push(product.data);
                                }
                                Tensor::new(out_ty.shape, result)
                            }
                        }
                    }
                    Exec::Permute { perm } => {
                        let x = read(graph.args(kernel.root())[0])?;
                        permute(x, perm)
                    }
                    Exec::Nodes(_) => self.run_nodes(kernel, &values, batch, inputs)?,
                }
            };
            if let (Some(times), Some(started)) = (times.as_deref_mut(), started) {
                times.push(started.elapsed().as_nanos() as f64);
            }
            // The kernels whose reads may end here: this one, and those
            // computed in its pass.
            let first = match exec {
                Exec::Native { also, .. } => also.first().map_or(i, |&(k, _)| k),
                _ => i,
            };
            also_computed.push((kernel.root(), value));
            for (root, value) in also_computed {
                if temporary(root) {
                    live += temporary_bytes(root);
                    *peak = (*peak).max(live);
                }
                values.insert(root, value);
            }
            // Drop what no later kernel reads.
            let ended = self.kernels.kernels[first..=i]
                .iter()
                .flat_map(|k| &k.reads);
            for &r in ended {
                let last = self.plan.lifetimes[r.index()].map_or(usize::MAX, |(_, l)| l);
                if (first..=i).contains(&last) && !graph.outputs.iter().any(|(_, o)| *o == r) {
                    if let Some(t) = values.remove(&r) {
                        if temporary(r) {
                            live -= temporary_bytes(r);
                        }
                        // Kept only up to one buffer per kernel: results of
                        // contractions are allocated by `gemm`'s caller.
                        if spare.len() < self.spare_limit {
                            spare.push(t.data);
                        }
                    }
                }
            }
        }
        let mut outputs = Vec::with_capacity(graph.outputs.len());
        for (i, (output, id)) in graph.outputs.iter().enumerate() {
            let used_again = graph.outputs[i + 1..].iter().any(|(_, o)| o == id);
            let v = match values.get(id) {
                Some(_) if !used_again => values.remove(id).expect("present"),
                Some(v) => v.clone(),
                None => self.interp.compute(*id, &[], batch, inputs)?.into_owned(),
            };
            outputs.push((output.clone(), v));
        }
        // What is left (inputs set to zero) is spare for the next run.
        let room = self.spare_limit.saturating_sub(spare.len());
        spare.extend(values.into_values().map(|t| t.data).take(room));
        Ok(outputs)
    }

    /// A kernel node by node, with the interpreter's ops.
    fn run_nodes<'a>(
        &self,
        kernel: &Kernel,
        values: &HashMap<NodeId, Tensor>,
        batch: usize,
        inputs: &Inputs<'a>,
    ) -> Result<Tensor, RunError> {
        let graph = self.step.graph();
        let mut local: HashMap<NodeId, Tensor> = HashMap::new();
        for &n in &kernel.nodes {
            let node = graph.node(n);
            let mut args = Vec::with_capacity(node.args.len());
            for a in &node.args {
                args.push(match local.get(a) {
                    Some(v) => v,
                    None => lookup(graph, values, *a, inputs)?,
                });
            }
            let v = self.interp.compute(n, &args, batch, inputs)?.into_owned();
            local.insert(n, v);
        }
        local
            .remove(&kernel.root())
            .ok_or_else(|| RunError(format!("{} computed nothing", kernel.id)))
    }
}

/// A value a kernel reads: an earlier kernel's result or a step input.
fn lookup<'v, 'a: 'v>(
    graph: &dlp_compiler::ir::Graph,
    values: &'v HashMap<NodeId, Tensor>,
    n: NodeId,
    inputs: &Inputs<'a>,
) -> Result<&'v Tensor, RunError> {
    if let Some(v) = values.get(&n) {
        return Ok(v);
    }
    if let Op::Input(input) = &graph.node(n).op {
        return inputs(input).ok_or_else(|| RunError(format!("no value for input {input}")));
    }
    Err(RunError(format!("{n} is read before it is computed")))
}

fn host_ty(step: &Verified, n: NodeId, batch: usize) -> Result<HostTy, RunError> {
    let ty = step.ty(n);
    ty.at(batch)
        .map(|shape| HostTy::new(ty.dtype, shape))
        .ok_or_else(|| RunError(format!("{ty} is too large for a batch of {batch}")))
}

/// Runs native code reading the values at `pointers` (in order) into
/// `result`, a buffer of `out`'s type and size (possibly one of the values
/// read, which the kernel reads element for element before writing).
fn run_native(
    code: KernelFn,
    pointers: &[*const u8],
    out: HostTy,
    mut result: Data,
    work: usize,
) -> Tensor {
    let out_ptr = data_mut_ptr(&mut result);
    run_split(code, pointers, out_ptr, &out.shape, work);
    Tensor::new(out.shape, result)
}

/// The value of an anchor computed natively (a contraction, pooling,
/// gather or scatter, or an argmax) from its operands, their layouts and
/// logical shapes; `after` is called on every range of the
/// result's outermost rows once computed (see [`contract::After`]).
fn native_anchor(
    op: &Op,
    (operands, layouts, shapes): (&[&Tensor], &[contract::Layout], &[Vec<usize>]),
    out: &HostTy,
    dst: Data,
    spare: &mut Vec<Data>,
    after: &contract::After,
) -> Result<Tensor, RunError> {
    let computed = match op {
        Op::Gather => return indexed::gather(operands[0], operands[1], out, dst, after),
        Op::ScatterAdd => return indexed::scatter_add(operands[0], operands[1], out, dst, after),
        Op::ArgMax(axis) => argmax(operands[0], &shapes[0], *axis, out, dst).inspect(|_| {
            after(0, out.shape.first().copied().unwrap_or(1));
        }),
        Op::Pool { .. } | Op::PoolGrad { .. } => {
            window::window(op, operands, shapes, out, dst, after)
        }
        _ => contract::contraction(op, operands, layouts, shapes, out, dst, spare, after),
    };
    computed.ok_or_else(|| RunError(format!("{} cannot be computed here", op.text())))
}

/// The index of the first largest element along `axis` (of a tensor whose
/// logical shape is `shape`), as the interpreter's argmax.
fn argmax(x: &Tensor, shape: &[usize], axis: usize, out: &HostTy, dst: Data) -> Option<Tensor> {
    let Data::I32(mut d) = dst else {
        return None;
    };
    let n = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    macro_rules! scan {
        ($v:expr) => {{
            for (o, slot) in d.iter_mut().enumerate() {
                let base = (o / inner.max(1)) * n * inner + o % inner.max(1);
                let mut best = 0;
                for k in 1..n {
                    if $v[base + k * inner] > $v[base + best * inner] {
                        best = k;
                    }
                }
                *slot = best as i32;
            }
        }};
    }
    match &x.data {
        Data::F32(v) => scan!(v),
        Data::F64(v) => scan!(v),
        Data::I32(v) => scan!(v),
        Data::Bool(_) => return None,
    }
    Some(Tensor::new(out.shape.clone(), Data::I32(d)))
}

/// The pointers a kernel call takes, movable to another thread.
#[derive(Clone, Copy)]
struct Call {
    reads: *const *const u8,
    out: *mut u8,
}

// SAFETY: the pointers stay valid for the whole (scoped) parallel call,
// each thread writes a disjoint range of the result's outermost axis, and
// reads are never written (an epilogue reads a product's rows only once
// the anchor has finished writing them).
unsafe impl Send for Call {}
unsafe impl Sync for Call {}

/// Results this large or more are computed by every core.
const PARALLEL_ELEMENTS: usize = 1 << 16;

/// Calls `code` over the whole result, split by its outermost axis across
/// the cores when the result is large.
fn run_split(code: KernelFn, reads: &[*const u8], out: *mut u8, shape: &[usize], work: usize) {
    let call = Call {
        reads: reads.as_ptr(),
        out,
    };
    let rows = shape.first().copied().unwrap_or(1);
    run_rows(code, call, 0, rows, work);
}

/// Calls `code` over rows `start..end` of the result's outermost axis,
/// split across the cores when `work` (the elements visited) is large.
fn run_rows(code: KernelFn, call: Call, start: usize, end: usize, work: usize) {
    let (start, end) = (start as i64, end as i64);
    let rows = end - start;
    let threads = super::threads::threads() as i64;
    // SAFETY (both calls): the kernel was compiled for these shapes: it
    // reads each argument at offsets within its element count and writes
    // the elements of the result in its range, which `out` holds; bools
    // are one byte of 0 or 1, which is what the kernel stores.
    if threads < 2 || rows < 2 || work < PARALLEL_ELEMENTS {
        unsafe { code(call.reads, call.out, start, end) };
        return;
    }
    let chunk = (rows + threads - 1) / threads;
    rayon::scope(|scope| {
        for t in 0..threads {
            let (from, to) = (start + t * chunk, (start + (t + 1) * chunk).min(end));
            if from < to {
                scope.spawn(move |_| {
                    let call = call;
                    unsafe { code(call.reads, call.out, from, to) }
                });
            }
        }
    });
}

fn data_mut_ptr(d: &mut Data) -> *mut u8 {
    match d {
        Data::F32(v) => v.as_mut_ptr() as *mut u8,
        Data::F64(v) => v.as_mut_ptr() as *mut u8,
        Data::I32(v) => v.as_mut_ptr() as *mut u8,
        Data::Bool(v) => v.as_mut_ptr() as *mut u8,
    }
}

fn data_ptr(d: &Data) -> *const u8 {
    match d {
        Data::F32(v) => v.as_ptr() as *const u8,
        Data::F64(v) => v.as_ptr() as *const u8,
        Data::I32(v) => v.as_ptr() as *const u8,
        Data::Bool(v) => v.as_ptr() as *const u8,
    }
}

/// `x` with its axes permuted (result axis `i` is axis `perm[i]`).
fn permute(x: &Tensor, perm: &[usize]) -> Tensor {
    let shape: Vec<usize> = perm.iter().map(|&p| x.shape[p]).collect();
    let st = index::strides(&x.shape);
    let from: Vec<usize> = perm.iter().map(|&p| st[p]).collect();
    let n: usize = shape.iter().product();
    // The source offset of every result element, walking the result in
    // row-major order.
    let mut offsets = Vec::with_capacity(n);
    let mut coord = vec![0usize; shape.len()];
    let mut at = 0usize;
    for _ in 0..n {
        offsets.push(at);
        for ax in (0..shape.len()).rev() {
            coord[ax] += 1;
            at += from[ax];
            if coord[ax] < shape[ax] {
                break;
            }
            at -= from[ax] * shape[ax];
            coord[ax] = 0;
        }
    }
    Tensor::new(shape, x.data.pick(offsets))
}
