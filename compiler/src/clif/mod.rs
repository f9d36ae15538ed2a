//! Cranelift code generation for the CPU back end: for an elementwise
//! kernel or a reduction (and the epilogues of other kernels), one
//! function per kernel and batch size, a loop nest over the kernel's
//! domain that loads what the kernel reads, computes its nodes in registers
//! and stores its result. Pure: [`function`] builds the function as CLIF;
//! the runtime links and runs it.
//!
//! A kernel function is `fn(reads: *const *const u8, out: *mut u8, start,
//! end)`: `reads[k]` points at the k-th value the kernel reads, and it
//! computes the elements of its result whose outermost index is in
//! `start..end` (all of them for a one-element result). Every size is a
//! constant (a kernel is compiled for one batch size), one-element values
//! are computed once before the loops, and each op is the instruction, or
//! the call ([`helpers`]), that computes the interpreter's bits.

pub mod helpers;
pub mod index;
mod ops;
mod vector;

use crate::ir::{DType, Dist, Graph, NodeId, Op, RandomKey, ReduceOp};
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{
    types, AbiParam, ExtFuncData, ExternalName, FuncRef, Function, InstBuilder, MemFlagsData,
    Signature, Type, UserExternalName, UserFuncName, Value,
};
use cranelift_codegen::isa::TargetFrontendConfig;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use index::Map;
use std::collections::HashMap;

/// A kernel function's signature on `target`: two pointers and two
/// integers in, nothing out.
pub fn kernel_signature(target: TargetFrontendConfig) -> Signature {
    let mut sig = Signature::new(target.default_call_conv);
    sig.params.push(AbiParam::new(target.pointer_type()));
    sig.params.push(AbiParam::new(target.pointer_type()));
    sig.params.push(AbiParam::new(types::I64));
    sig.params.push(AbiParam::new(types::I64));
    sig
}

/// Why a kernel is not compiled (it then runs on the interpreter's ops).
#[derive(Debug)]
pub struct Unsupported(pub String);

/// Nodes computed over one domain (a loop nest): in graph order, the last
/// one the phase's result; how each node and read is indexed.
pub struct Phase<'a> {
    pub nodes: &'a [NodeId],
    pub maps: &'a HashMap<NodeId, Map>,
}

/// What a kernel computes.
pub enum Body<'a> {
    /// One value per element of the result.
    Elementwise(Phase<'a>),
    /// A reduction of `operand` (computed by `prologue` for each of its
    /// elements) over `axes`, accumulated in f64 in row-major order as the
    /// interpreter does; `epilogue` computes the result from it.
    Reduce {
        op: ReduceOp,
        axes: &'a [usize],
        anchor: NodeId,
        operand: NodeId,
        prologue: Phase<'a>,
        epilogue: Phase<'a>,
    },
}

/// What to compile: the values read, every shape, the batch size, and what
/// the kernel computes.
pub struct KernelCode<'a> {
    pub graph: &'a Graph,
    pub reads: &'a [NodeId],
    pub shapes: &'a HashMap<NodeId, Vec<usize>>,
    pub batch: usize,
    pub root: NodeId,
    /// Other results of an elementwise body, of the root's shape, each
    /// stored with the root through the pointers after the reads'
    /// (`reads[reads.len() + i]` for `also[i]`): several kernels over one
    /// domain computed in one pass.
    pub also: &'a [NodeId],
    pub body: Body<'a>,
}

/// The function computing `kernel`, as CLIF, or why it cannot be
/// compiled (its name is the linker's business: `u0:0` here). Helpers it calls are
/// the user-named functions `(0, i)`, `i` their index in
/// [`helpers::HELPERS`].
pub fn function(
    kernel: &KernelCode,
    target: TargetFrontendConfig,
) -> Result<Function, Unsupported> {
    let mut func =
        Function::with_name_signature(UserFuncName::user(0, 0), kernel_signature(target));
    let mut fctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut fctx);
    let mut calls = Helpers {
        target,
        refs: HashMap::new(),
    };
    Emitter::emit(&mut b, kernel, target.pointer_type(), &mut calls)?;
    b.seal_all_blocks();
    b.finalize(target);
    Ok(func)
}

fn helper_type(t: helpers::Ty) -> Type {
    match t {
        helpers::Ty::F32 => types::F32,
        helpers::Ty::F64 => types::F64,
        helpers::Ty::I32 => types::I32,
    }
}

/// Whether every value of `phase` is read at the element's own row-major
/// offset or is one element (no broadcast along an axis, no op that needs
/// the element's multi-index).
fn by_offset(graph: &Graph, phase: &Phase) -> bool {
    let index_free = phase
        .nodes
        .iter()
        .all(|&n| !matches!(graph.node(n).op, Op::Iota(_) | Op::Random { .. }));
    let offsets = phase
        .maps
        .values()
        .all(|m| matches!(m, Map::Identity | Map::Flat | Map::Zero));
    index_free && offsets
}

fn clif_type(d: DType) -> Type {
    match d {
        DType::F32 => types::F32,
        DType::F64 => types::F64,
        DType::I32 => types::I32,
        DType::Bool => types::I8,
    }
}

/// How a kernel touches memory: within bounds always; a vector of four
/// lanes need not be aligned to its size, a scalar is aligned to its own.
fn memory(lanes: usize) -> MemFlagsData {
    if lanes > 1 {
        MemFlagsData::new().with_notrap()
    } else {
        MemFlagsData::trusted()
    }
}

fn elem_bytes(d: DType) -> i64 {
    match d {
        DType::F32 | DType::I32 => 4,
        DType::F64 => 8,
        DType::Bool => 1,
    }
}

/// The helper functions a kernel calls, declared in it when first used
/// (so that its text lists only those).
struct Helpers {
    target: TargetFrontendConfig,
    refs: HashMap<&'static str, FuncRef>,
}

impl Helpers {
    /// Helper `name` in `func`, declared there on first use.
    fn reference(
        &mut self,
        name: &'static str,
        func: &mut Function,
    ) -> Result<FuncRef, Unsupported> {
        if let Some(&f) = self.refs.get(name) {
            return Ok(f);
        }
        let i = helpers::index(name).ok_or_else(|| Unsupported(format!("no helper {name}")))?;
        let helper = &helpers::HELPERS[i];
        let mut sig = Signature::new(self.target.default_call_conv);
        for &t in helper.params {
            sig.params.push(AbiParam::new(helper_type(t)));
        }
        sig.returns.push(AbiParam::new(helper_type(helper.result)));
        let signature = func.import_signature(sig);
        let name = func.declare_imported_user_function(UserExternalName::new(0, i as u32));
        let f = func.import_function(ExtFuncData {
            name: ExternalName::user(name),
            signature,
            colocated: false,
            patchable: false,
        });
        self.refs.insert(helpers::HELPERS[i].name, f);
        Ok(f)
    }
}

/// Writes one kernel function.
struct Emitter<'k, 'b, 'f> {
    b: &'b mut FunctionBuilder<'f>,
    k: &'k KernelCode<'k>,
    calls: &'k mut Helpers,
    /// Each read's base address.
    bases: HashMap<NodeId, Value>,
    /// The other results stored with the root, and where.
    also: Vec<(NodeId, Value)>,
    /// The current phase: its domain's loop counters, their row-major
    /// strides, a running row-major index when there is one, its maps and
    /// the values computed for the current element.
    axes: Vec<Variable>,
    strides: Vec<usize>,
    linear: Option<Variable>,
    maps: &'k HashMap<NodeId, Map>,
    values: HashMap<NodeId, Value>,
    /// The range of the result's outermost index this call computes.
    range: (Value, Value),
    /// Elements computed at once: 1, or [`vector::LANES`] in the vector
    /// loop of a vectorised kernel.
    lanes: usize,
    /// Scalars already splatted into vectors.
    splats: HashMap<Value, Value>,
}

/// Loops opened by [`Emitter::open_loops`]: counters, headers and exits.
struct Loops {
    vars: Vec<Variable>,
    ends: Vec<(cranelift_codegen::ir::Block, cranelift_codegen::ir::Block)>,
}

impl<'k, 'b, 'f> Emitter<'k, 'b, 'f> {
    fn emit(
        b: &'b mut FunctionBuilder<'f>,
        k: &'k KernelCode<'k>,
        ptr: Type,
        calls: &'k mut Helpers,
    ) -> Result<(), Unsupported> {
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        let params = b.block_params(entry).to_vec();
        let (reads_ptr, out) = (params[0], params[1]);
        let range = (params[2], params[3]);
        let mut bases = HashMap::new();
        for (i, &r) in k.reads.iter().enumerate() {
            let at = b
                .ins()
                .load(ptr, MemFlagsData::trusted(), reads_ptr, (i * 8) as i32);
            bases.insert(r, at);
        }
        let mut also = Vec::new();
        for (i, &r) in k.also.iter().enumerate() {
            let at = (k.reads.len() + i) * 8;
            let base = b
                .ins()
                .load(ptr, MemFlagsData::trusted(), reads_ptr, at as i32);
            also.push((r, base));
        }
        let maps = match &k.body {
            Body::Elementwise(phase) => phase.maps,
            Body::Reduce { epilogue, .. } => epilogue.maps,
        };
        let mut e = Emitter {
            b,
            k,
            calls,
            bases,
            also,
            axes: Vec::new(),
            strides: Vec::new(),
            linear: None,
            maps,
            values: HashMap::new(),
            range,
            lanes: 1,
            splats: HashMap::new(),
        };
        match &k.body {
            Body::Elementwise(phase) => e.elementwise(phase, out)?,
            Body::Reduce {
                op,
                axes,
                anchor,
                operand,
                prologue,
                epilogue,
            } => e.reduce(*op, axes, *anchor, *operand, prologue, epilogue, out)?,
        }
        e.b.ins().return_(&[]);
        Ok(())
    }

    /// Opens a loop nest over `sizes` (outermost first); with `ranged`,
    /// the outermost loop runs over the call's range only.
    fn open_loops(&mut self, sizes: &[usize], ranged: bool) -> Loops {
        let mut loops = Loops {
            vars: Vec::new(),
            ends: Vec::new(),
        };
        for (a, &size) in sizes.iter().enumerate() {
            let var = self.b.declare_var(types::I64);
            let header = self.b.create_block();
            let body = self.b.create_block();
            let exit = self.b.create_block();
            let (first, end) = if ranged && a == 0 {
                self.range
            } else {
                let zero = self.b.ins().iconst(types::I64, 0);
                let end = self.b.ins().iconst(types::I64, size as i64);
                (zero, end)
            };
            self.b.def_var(var, first);
            self.b.ins().jump(header, &[]);
            self.b.switch_to_block(header);
            let i = self.b.use_var(var);
            let more = self.b.ins().icmp(IntCC::SignedLessThan, i, end);
            self.b.ins().brif(more, body, &[], exit, &[]);
            self.b.switch_to_block(body);
            loops.vars.push(var);
            loops.ends.push((header, exit));
        }
        loops
    }

    /// Closes a loop nest: counters step, innermost first.
    fn close_loops(&mut self, loops: Loops) {
        for (var, (header, exit)) in loops.vars.into_iter().zip(loops.ends).rev() {
            let i = self.b.use_var(var);
            let i = self.b.ins().iadd_imm_s(i, 1);
            self.b.def_var(var, i);
            self.b.ins().jump(header, &[]);
            self.b.switch_to_block(exit);
        }
    }

    /// Makes `domain` the current phase, indexed by `axes`.
    fn enter(&mut self, axes: Vec<Variable>, domain: &[usize], maps: &'k HashMap<NodeId, Map>) {
        self.axes = axes;
        self.strides = index::strides(domain);
        self.maps = maps;
        self.values.clear();
    }

    fn elementwise(&mut self, phase: &'k Phase<'k>, out: Value) -> Result<(), Unsupported> {
        let domain = self.k.shapes[&self.k.root].clone();
        self.maps = phase.maps;
        // The row-major index starts where the range does.
        let linear = self.b.declare_var(types::I64);
        let inner: usize = domain.iter().skip(1).product();
        let start = if domain.is_empty() {
            self.b.ins().iconst(types::I64, 0)
        } else {
            self.b.ins().imul_imm_s(self.range.0, inner as i64)
        };
        self.b.def_var(linear, start);
        // One-element values: once, before the loops.
        for &n in phase.nodes {
            if phase.maps.get(&n) == Some(&Map::Zero) {
                self.node(n)?;
            }
        }
        // A kernel that reads every value at the element's own row-major
        // offset (or a one-element value) is one flat loop over its
        // elements: a short innermost axis (a 3×3 convolution kernel's)
        // then does not keep it from running four elements at a time.
        let domain = if domain.len() > 1 && by_offset(self.k.graph, phase) {
            let end = self.b.ins().imul_imm_s(self.range.1, inner as i64);
            self.range = (start, end);
            vec![domain.iter().product()]
        } else {
            domain
        };
        self.strides = index::strides(&domain);
        self.linear = Some(linear);
        let f32_results = self
            .also
            .iter()
            .all(|&(n, _)| self.k.graph.ty(n).dtype == DType::F32);
        if !f32_results || !vector::vectorizable(self.k.graph, phase, self.k.root, &domain) {
            let loops = self.open_loops(&domain, true);
            self.axes = loops.vars.clone();
            self.element_body(phase, out, linear)?;
            self.close_loops(loops);
            return Ok(());
        }
        self.hoist_scalars(phase)?;
        let scalars = self.values.clone();
        // Every axis but the innermost as before; the innermost in steps
        // of four, then one by one.
        let rank = domain.len();
        let outer = self.open_loops(&domain[..rank - 1], true);
        let (first, end) = if rank == 1 {
            self.range
        } else {
            let zero = self.b.ins().iconst(types::I64, 0);
            let end = self.b.ins().iconst(types::I64, domain[rank - 1] as i64);
            (zero, end)
        };
        let i = self.b.declare_var(types::I64);
        self.b.def_var(i, first);
        self.axes = outer.vars.iter().copied().chain([i]).collect();
        let last_vector = self.b.ins().iadd_imm_s(end, 1 - vector::LANES as i64);
        for (lanes, bound) in [(vector::LANES, last_vector), (1, end)] {
            self.lanes = lanes;
            self.values = scalars.clone();
            let header = self.b.create_block();
            let body = self.b.create_block();
            let exit = self.b.create_block();
            self.b.ins().jump(header, &[]);
            self.b.switch_to_block(header);
            let at = self.b.use_var(i);
            let more = self.b.ins().icmp(IntCC::SignedLessThan, at, bound);
            self.b.ins().brif(more, body, &[], exit, &[]);
            self.b.switch_to_block(body);
            self.element_body(phase, out, linear)?;
            let at = self.b.use_var(i);
            let next = self.b.ins().iadd_imm_s(at, lanes as i64);
            self.b.def_var(i, next);
            self.b.ins().jump(header, &[]);
            self.b.switch_to_block(exit);
        }
        self.lanes = 1;
        self.close_loops(outer);
        Ok(())
    }

    /// The nodes of `phase` for the current element (or `self.lanes` of
    /// them), the store of the result, and the step of the row-major index.
    fn element_body(
        &mut self,
        phase: &'k Phase<'k>,
        out: Value,
        linear: Variable,
    ) -> Result<(), Unsupported> {
        for &n in phase.nodes {
            if phase.maps.get(&n) != Some(&Map::Zero) {
                self.node(n)?;
            }
        }
        self.store(out)?;
        let next = self.b.use_var(linear);
        let next = self.b.ins().iadd_imm_s(next, self.lanes as i64);
        self.b.def_var(linear, next);
        Ok(())
    }

    /// Stores the kernel's results for the current element (or elements).
    fn store(&mut self, out: Value) -> Result<(), Unsupported> {
        let also = self.also.clone();
        for (n, base) in [(self.k.root, out)].into_iter().chain(also) {
            let mut value = self.value(n)?;
            if self.lanes > 1 {
                value = self.widen(value);
            }
            let dtype = self.k.graph.ty(n).dtype;
            let at = self.address(base, &Map::Identity, dtype);
            self.b.ins().store(memory(self.lanes), value, at, 0);
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn reduce(
        &mut self,
        op: ReduceOp,
        axes: &[usize],
        anchor: NodeId,
        operand: NodeId,
        prologue: &'k Phase<'k>,
        epilogue: &'k Phase<'k>,
        out: Value,
    ) -> Result<(), Unsupported> {
        let input = self.k.shapes[&operand].clone();
        let output = self.k.shapes[&anchor].clone();
        let kept: Vec<usize> = (0..input.len()).filter(|a| !axes.contains(a)).collect();
        let reduced: Vec<usize> = axes.iter().map(|&a| input[a]).collect();
        let acc = self.b.declare_var(types::F64);
        let outer = self.open_loops(&output, true);
        let start = match op {
            ReduceOp::Sum => 0.0,
            ReduceOp::Max => f64::NEG_INFINITY,
            ReduceOp::Min => f64::INFINITY,
        };
        let start = self.b.ins().f64const(start);
        self.b.def_var(acc, start);
        let inner = self.open_loops(&reduced, false);
        // The input index: kept axes from the outer loops, reduced ones
        // from the inner loops.
        let input_axes: Vec<Variable> = (0..input.len())
            .map(|a| match axes.iter().position(|&r| r == a) {
                Some(j) => inner.vars[j],
                None => outer.vars[kept.iter().position(|&k| k == a).unwrap_or(0)],
            })
            .collect();
        self.enter(input_axes, &input, prologue.maps);
        self.linear = None;
        for &n in prologue.nodes {
            self.node(n)?;
        }
        let v = self.value(operand)?;
        let v = self.cast(v, self.k.graph.ty(operand).dtype, DType::F64);
        let a = self.b.use_var(acc);
        let next = match op {
            ReduceOp::Sum => self.b.ins().fadd(a, v),
            // A NaN makes the extreme NaN, and sticks.
            ReduceOp::Max | ReduceOp::Min => {
                let cc = if op == ReduceOp::Max {
                    FloatCC::GreaterThan
                } else {
                    FloatCC::LessThan
                };
                let better = self.b.ins().fcmp(cc, v, a);
                let nan = self.b.ins().fcmp(FloatCC::Unordered, v, v);
                let take = self.b.ins().bor(better, nan);
                self.b.ins().select(take, v, a)
            }
        };
        self.b.def_var(acc, next);
        self.close_loops(inner);
        let total = self.b.use_var(acc);
        let result = self.cast(total, DType::F64, self.k.graph.ty(anchor).dtype);
        self.enter(outer.vars.clone(), &output, epilogue.maps);
        self.values.insert(anchor, result);
        for &n in epilogue.nodes {
            self.node(n)?;
        }
        self.store(out)?;
        self.close_loops(outer);
        Ok(())
    }

    /// The address of the current element of a value stored at `base`.
    fn address(&mut self, base: Value, map: &Map, dtype: DType) -> Value {
        let offset = self.element(map);
        let bytes = self.b.ins().imul_imm_s(offset, elem_bytes(dtype));
        self.b.ins().iadd(base, bytes)
    }

    /// The row-major offset (in elements) of the current element of a
    /// value indexed by `map`.
    fn element(&mut self, map: &Map) -> Value {
        match map {
            Map::Identity | Map::Flat => match self.linear {
                Some(linear) => self.b.use_var(linear),
                None => {
                    let strides = self.strides.clone();
                    self.offset(&strides)
                }
            },
            Map::Zero => self.b.ins().iconst(types::I64, 0),
            Map::Strided(strides) => self.offset(strides),
            Map::Unflat { shape, strides } => {
                let flat = self.element(&Map::Flat);
                let mut sum = self.b.ins().iconst(types::I64, 0);
                let inner = index::strides(shape);
                for ((&size, &within), &stride) in shape.iter().zip(&inner).zip(strides) {
                    if stride == 0 {
                        continue;
                    }
                    let i = self.b.ins().udiv_imm_u(flat, within.max(1) as i64);
                    let i = self.b.ins().urem_imm_u(i, size.max(1) as i64);
                    let term = self.b.ins().imul_imm_s(i, stride as i64);
                    sum = self.b.ins().iadd(sum, term);
                }
                sum
            }
        }
    }

    /// A random number for the current element of node `n`: the same
    /// helper calls, with the same keys, as the interpreter's random op.
    fn random(
        &mut self,
        n: NodeId,
        dist: Dist,
        stream: u32,
        key: RandomKey,
        dtype: DType,
    ) -> Result<Value, Unsupported> {
        let node = self.k.graph.node(n);
        let seed = self.value(node.args[0])?;
        let mut counter = self.value(node.args[1])?;
        let map = self.maps.get(&n).cloned().unwrap_or(Map::Identity);
        let index = match key {
            RandomKey::Step => self.element(&map),
            RandomKey::Sample => {
                if map != Map::Identity {
                    return Err(Unsupported(
                        "random numbers keyed by sample off the domain".into(),
                    ));
                }
                let axis = node
                    .ty
                    .batch_axis()
                    .ok_or(Unsupported("no batch axis".into()))?;
                let per = node.ty.shape[axis].batch as i64;
                let samples = *self
                    .bases
                    .get(&node.args[2])
                    .ok_or(Unsupported("sample indices not read".into()))?;
                let row = self.b.use_var(self.axes[axis]);
                let position = self.b.ins().udiv_imm_u(row, per);
                let within = self.b.ins().urem_imm_u(row, per);
                let at = self.b.ins().imul_imm_s(position, 4);
                let at = self.b.ins().iadd(samples, at);
                let sample = self
                    .b
                    .ins()
                    .load(types::I32, MemFlagsData::trusted(), at, 0);
                counter = self.call("dlp_sample_counter", &[counter, sample])?;
                // The element's place within its sample.
                let mut inner = self.k.shapes[&n].clone();
                inner[axis] = per as usize;
                let strides = index::strides(&inner);
                let mut sum = self.b.ins().iconst(types::I64, 0);
                for (a, &st) in strides.iter().enumerate() {
                    let i = if a == axis {
                        within
                    } else {
                        self.b.use_var(self.axes[a])
                    };
                    let term = self.b.ins().imul_imm_s(i, st as i64);
                    sum = self.b.ins().iadd(sum, term);
                }
                sum
            }
        };
        let index = self.b.ins().ireduce(types::I32, index);
        let stream = self.b.ins().iconst(types::I32, i64::from(stream as i32));
        let name = match dist {
            Dist::Uniform => "dlp_uniform",
            Dist::Normal => "dlp_normal",
        };
        let v = self.call(name, &[seed, stream, counter, index])?;
        Ok(self.cast(v, DType::F64, dtype))
    }

    /// `Σ index[axis] · strides[axis]` over the current domain.
    fn offset(&mut self, strides: &[usize]) -> Value {
        let mut sum = self.b.ins().iconst(types::I64, 0);
        for (a, &s) in strides.iter().enumerate() {
            if s != 0 {
                let i = self.b.use_var(self.axes[a]);
                let term = self.b.ins().imul_imm_s(i, s as i64);
                sum = self.b.ins().iadd(sum, term);
            }
        }
        sum
    }

    fn value(&mut self, n: NodeId) -> Result<Value, Unsupported> {
        if let Some(&v) = self.values.get(&n) {
            return Ok(v);
        }
        if let Some(&base) = self.bases.get(&n) {
            let dtype = self.k.graph.ty(n).dtype;
            let map = self.maps.get(&n).cloned().unwrap_or(Map::Identity);
            let at = self.address(base, &map, dtype);
            // In the vector loop, values contiguous along the innermost
            // axis load four lanes; the others one (splatted where used).
            let lanes = if vector::inner_stride(&map) == 1 {
                self.lanes
            } else {
                1
            };
            let ty = match (lanes > 1, dtype) {
                (true, DType::I32) => vector::I32X4,
                (true, _) => vector::F32X4,
                (false, _) => clif_type(dtype),
            };
            let v = self.b.ins().load(ty, memory(lanes), at, 0);
            return Ok(v);
        }
        Err(Unsupported(format!("{n} is neither read nor computed")))
    }

    /// Computes node `n` into `values`.
    fn node(&mut self, n: NodeId) -> Result<(), Unsupported> {
        let node = self.k.graph.node(n);
        let dtype = node.ty.dtype;
        let args: Vec<Value> = match node.op {
            // Views and reads are loaded where they are used.
            Op::Reshape | Op::Broadcast => {
                let v = self.value(node.args[0])?;
                self.values.insert(n, v);
                return Ok(());
            }
            _ => node
                .args
                .iter()
                .map(|&a| self.value(a))
                .collect::<Result<_, _>>()?,
        };
        if args.iter().any(|&a| self.is_vector(a)) {
            let v = self.vector_node(&node.op, &args, node.args.first().copied())?;
            self.values.insert(n, v);
            return Ok(());
        }
        let v = match &node.op {
            Op::Constant(bits) => self.constant(f64::from_bits(*bits), dtype),
            Op::SizeOf(size) => {
                let v = size.at(self.k.batch).unwrap_or(usize::MAX) as f64;
                self.constant(v, dtype)
            }
            Op::Iota(_) if self.maps.get(&n) == Some(&Map::Zero) => self.constant(0.0, dtype),
            Op::Iota(axis) => {
                let i = self.b.use_var(self.axes[*axis]);
                self.convert_index(i, dtype)
            }
            Op::Random { dist, stream, key } => self.random(n, *dist, *stream, *key, dtype)?,
            Op::Unary(u) => self.unary(*u, args[0], dtype)?,
            Op::Binary(op) => {
                let operand = self.k.graph.ty(node.args[0]).dtype;
                self.binary(*op, args[0], args[1], operand)?
            }
            Op::Select => self.pick(args[0], args[1], args[2]),
            Op::Cast => {
                let from = self.k.graph.ty(node.args[0]).dtype;
                self.cast(args[0], from, dtype)
            }
            other => {
                return Err(Unsupported(format!(
                    "{} in an elementwise kernel",
                    other.text()
                )))
            }
        };
        self.values.insert(n, v);
        Ok(())
    }
}
