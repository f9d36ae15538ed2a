//! WGSL code generation: one compute shader per fused kernel, specialised
//! to a batch size (every size a constant), validated by naga.
//!
//! Each invocation computes one element of the kernel's result: it turns
//! its flat position into an index and asks the [`emit::Emitter`] for the
//! root's value there. Reductions, products, convolutions and windows loop
//! over what they sum inside the invocation; elementwise prologues and
//! epilogues are computed where they are used, so a kernel reads only
//! materialised values and writes only its result.
//!
//! Text rather than a `naga::Module` built by hand: the text is what
//! `dlpc emit --wgsl` prints and what a reader checks, and naga parses it
//! into the module it validates and hands to wgpu, so nothing else
//! reaches the driver.

mod emit;
mod helpers;
mod indexed;
mod sums;
mod tiled;
mod windows;

pub use emit::{storage_type, strides};

use crate::fuse::Kernel;
use crate::ir::{NodeId, Op, Verified};
use std::collections::HashMap;
use std::fmt::Write;

/// Invocations per workgroup.
pub const WORKGROUP: u32 = 256;
/// The most workgroups along one dispatch axis (WebGPU's minimum limit).
pub const MAX_GROUPS: u32 = 65_535;

/// What a GPU binds at most, which decides how values are bound.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The largest storage buffer binding, in bytes.
    pub max_binding_bytes: u64,
    /// Binding offsets are multiples of this many bytes.
    pub offset_alignment: u64,
}

impl Limits {
    /// WebGPU's guaranteed minimums (128 MiB bindings at 256-byte
    /// offsets): what `dlpc emit --wgsl` generates for.
    pub const WEBGPU: Limits = Limits {
        max_binding_bytes: 128 << 20,
        offset_alignment: 256,
    };

    /// Elements (4 bytes each) per binding of a value bound in chunks: as
    /// many as fit, a multiple of the offset alignment.
    pub fn chunk_elements(&self) -> usize {
        let align = (self.offset_alignment / 4).max(1);
        ((self.max_binding_bytes / 4 / align).max(1) * align) as usize
    }
}

/// A binding: elements `elements` of `node`'s buffer.
#[derive(Clone, Debug)]
pub struct Binding {
    pub node: NodeId,
    pub elements: std::ops::Range<usize>,
}

/// One kernel's compute shader at one batch size.
#[derive(Clone, Debug)]
pub struct Shader {
    pub text: String,
    /// What it reads, binding 0 on (a value larger than one binding takes
    /// several); its result follows them, then the fault buffer if
    /// `faults`.
    pub reads: Vec<Binding>,
    /// The result's bindings (one, or chunks).
    pub results: Vec<Binding>,
    /// Workgroups along x, y and z.
    pub groups: (u32, u32, u32),
    /// Whether it checks indices (gather, scatter) into the fault buffer.
    pub faults: bool,
}

/// How a kernel's invocations share its work.
enum Layout {
    /// One invocation per element of the result.
    PerElement,
    /// One workgroup per element: a reduction over a long run.
    Together(NodeId),
    /// A 64x64 tile of a product per workgroup.
    Tiled(tiled::Product),
}

/// The shader of kernel `k` at batch `b`, or `None` when its result has no
/// elements (nothing to run); an error when its sizes are beyond what a
/// shader indexes.
pub fn kernel(
    step: &Verified,
    k: &Kernel,
    shapes: &HashMap<NodeId, Vec<usize>>,
    b: usize,
    limits: &Limits,
) -> Result<Option<Shader>, String> {
    let graph = step.graph();
    let root = k.root();
    let shape = &shapes[&root];
    let elements: usize = shape.iter().product();
    if elements == 0 {
        return Ok(None);
    }
    // Indices are i32: every value the kernel computes or reads, and every
    // run it loops over, must number fewer elements than i32 holds.
    let largest = k
        .nodes
        .iter()
        .chain(&k.reads)
        .flat_map(|n| std::iter::once(*n).chain(graph.args(*n).iter().copied()))
        .map(|n| shapes[&n].iter().product::<usize>())
        .max()
        .unwrap_or(0);
    if largest > i32::MAX as usize {
        return Err(format!(
            "kernel {} works on a value of {largest} elements, more than the GPU's 32-bit indices reach: lower `batch`",
            k.id
        ));
    }
    let layout = match (together(step, k, shapes), tiled::applies(step, k, shapes)) {
        (_, Some(product)) => Layout::Tiled(product),
        (Some(anchor), None) => Layout::Together(anchor),
        (None, None) => Layout::PerElement,
    };
    let chunk = limits.chunk_elements();
    let mut e = emit::Emitter::new(graph, shapes, b, k.nodes.iter().copied(), chunk);
    let groups = match layout {
        Layout::Tiled(product) => tiled::emit(&mut e, product, root),
        Layout::Together(anchor) => {
            let groups = spread(elements);
            e.line(&format!("let e = i32(wid.y * {}u + wid.x);", groups.0));
            e.line(&format!("if (e >= {elements}i) {{ return; }}"));
            let idx = e.unflatten("e", shape);
            e.together(anchor, &idx, "lid");
            let value = e.at(root, &idx);
            let store = e.store_at(root, "e", value);
            e.line(&format!("if (lid == 0u) {{ {store} }}"));
            groups
        }
        Layout::PerElement => {
            let groups = spread(elements.div_ceil(WORKGROUP as usize));
            e.line(&format!(
                "let e = i32((wid.y * {}u + wid.x) * {WORKGROUP}u + lid);",
                groups.0
            ));
            e.line(&format!("if (e >= {elements}i) {{ return; }}"));
            let idx = e.unflatten("e", shape);
            let value = e.at(root, &idx);
            let store = e.store_at(root, "e", value);
            e.line(&store);
            groups
        }
    };

    let mut text = String::new();
    let _ = writeln!(
        text,
        "// {} kernel {}: {} at batch {b}",
        k.kind.name(),
        k.id,
        graph.node(root).op.text()
    );
    let helpers = helpers::text(&e.helpers);
    if !helpers.is_empty() {
        text.push('\n');
        text.push_str(&helpers);
    }
    text.push('\n');
    // Bindings: each value read (in chunks where it is larger than one
    // binding), the result, the fault buffer.
    let mut bindings: Vec<Binding> = Vec::new();
    let mut functions = String::new();
    let numel = |id: NodeId| shapes[&id].iter().product::<usize>();
    for (k, &r) in e.reads.iter().enumerate() {
        let ty = storage_type(graph.ty(r).dtype);
        let parts = chunks(numel(r), chunk);
        if parts.len() == 1 {
            let _ = writeln!(
                text,
                "@group(0) @binding({}) var<storage, read> b{k}: array<{ty}>; // {r}",
                bindings.len()
            );
        } else {
            for (c, _) in parts.iter().enumerate() {
                let _ = writeln!(
                    text,
                    "@group(0) @binding({}) var<storage, read> b{k}_{c}: array<{ty}>; // {r}, part {c}",
                    bindings.len() + c
                );
            }
            functions.push_str(&chunked(
                &format!("fn read_b{k}(i: i32) -> {ty}"),
                &parts,
                chunk,
                |c| format!("return b{k}_{c}[r];"),
            ));
        }
        bindings.extend(
            parts
                .into_iter()
                .map(|elements| Binding { node: r, elements }),
        );
    }
    let out_ty = storage_type(graph.ty(root).dtype);
    let parts = chunks(elements, chunk);
    let outputs = parts.len();
    if outputs == 1 {
        let _ = writeln!(
            text,
            "@group(0) @binding({}) var<storage, read_write> out: array<{out_ty}>; // {root}",
            bindings.len()
        );
    } else {
        for (c, _) in parts.iter().enumerate() {
            let _ = writeln!(
                text,
                "@group(0) @binding({}) var<storage, read_write> out_{c}: array<{out_ty}>; // {root}, part {c}",
                bindings.len() + c
            );
        }
        functions.push_str(&chunked(
            &format!("fn write_out(i: i32, v: {out_ty})"),
            &parts,
            chunk,
            |c| format!("out_{c}[r] = v;"),
        ));
    }
    bindings.extend(parts.into_iter().map(|elements| Binding {
        node: root,
        elements,
    }));
    if e.faults {
        let _ = writeln!(
            text,
            "@group(0) @binding({}) var<storage, read_write> fault: array<atomic<u32>, 4>;",
            bindings.len()
        );
    }
    for shared in &e.shared {
        let _ = writeln!(text, "{shared}");
    }
    if !functions.is_empty() {
        text.push('\n');
        text.push_str(&functions);
    }
    let _ = write!(
        text,
        "\n@compute @workgroup_size({WORKGROUP})\n\
         fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {{\n{}}}\n",
        e.body
    );
    let results = bindings.split_off(bindings.len() - outputs);
    Ok(Some(Shader {
        text,
        reads: bindings,
        results,
        groups,
        faults: e.faults,
    }))
}

/// The ranges of elements a value of `n` is bound in: one, or chunks of
/// `chunk`.
fn chunks(n: usize, chunk: usize) -> Vec<std::ops::Range<usize>> {
    (0..n.max(1).div_ceil(chunk))
        .map(|c| c * chunk..((c + 1) * chunk).min(n.max(1)))
        .collect()
}

/// A function over element `i` of a value bound in `parts` of `chunk`:
/// `body(c)` for the part `c` that holds it, with `r` the element there.
fn chunked(
    signature: &str,
    parts: &[std::ops::Range<usize>],
    chunk: usize,
    body: impl Fn(usize) -> String,
) -> String {
    let mut f = format!(
        "{signature} {{\n    let c = i / {chunk}i;\n    let r = i - c * {chunk}i;\n    switch (c) {{\n"
    );
    for c in 0..parts.len() {
        let case = if c + 1 == parts.len() {
            "default".to_string()
        } else {
            format!("case {c}i")
        };
        let _ = writeln!(f, "        {case}: {{ {} }}", body(c));
    }
    f.push_str("    }\n}\n");
    f
}

/// `n` workgroups as a dispatch: along x, then also along y beyond the
/// 65,535 one axis allows.
fn spread(n: usize) -> (u32, u32, u32) {
    let n = n as u32;
    if n <= MAX_GROUPS {
        (n, 1, 1)
    } else {
        (MAX_GROUPS, n.div_ceil(MAX_GROUPS), 1)
    }
}

/// `text` parsed and validated by naga: the module wgpu gets, or why it is
/// not valid WGSL (a compiler bug, reported with the shader).
pub fn validate(text: &str) -> Result<naga::Module, String> {
    let module = naga::front::wgsl::parse_str(text).map_err(|e| e.emit_to_string(text))?;
    let mut validator = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::empty(),
    );
    validator
        .validate(&module)
        .map_err(|e| e.emit_to_string(text))?;
    Ok(module)
}

/// The kernel `k` computes a workgroup per element of: its anchor, a
/// reduction or a convolution's weight gradient, when the kernel's result
/// has the anchor's shape (an elementwise epilogue) and each element sums
/// a run long enough to share.
fn together(step: &Verified, k: &Kernel, shapes: &HashMap<NodeId, Vec<usize>>) -> Option<NodeId> {
    let graph = step.graph();
    let anchor = k.anchor?;
    let run: usize = match &graph.node(anchor).op {
        Op::Reduce { axes, .. } => {
            let from = &shapes[&graph.args(anchor)[0]];
            axes.iter().map(|&a| from[a]).product()
        }
        Op::ConvWeightGrad { .. } if graph.ty(anchor).dtype.is_float() => {
            let g = &shapes[&graph.args(anchor)[1]];
            g[0] * g[2] * g[3]
        }
        _ => return None,
    };
    (shapes[&anchor] == shapes[&k.root()] && run >= 64).then_some(anchor)
}

/// Every node's shape at batch `b`, or why one has none.
pub fn shapes(step: &Verified, b: usize) -> Result<HashMap<NodeId, Vec<usize>>, String> {
    let graph = step.graph();
    graph
        .ids()
        .map(|id| {
            let ty = graph.ty(id);
            ty.at(b)
                .map(|s| (id, s))
                .ok_or_else(|| format!("{ty} is too large for a batch of {b}"))
        })
        .collect()
}

/// Every kernel's shader for `step` at batch `b`, each validated by naga
/// (no GPU needed): what `dlpc emit --wgsl` prints. `None` for kernels
/// with nothing to compute at that size.
pub fn step_shaders(
    step: &Verified,
    b: usize,
    limits: &Limits,
) -> Result<Vec<Option<String>>, String> {
    let shapes = shapes(step, b)?;
    let kernels = crate::fuse::fuse(step);
    kernels
        .kernels
        .iter()
        .map(|k| {
            let Some(shader) = kernel(step, k, &shapes, b, limits)? else {
                return Ok(None);
            };
            validate(&shader.text).map_err(|e| invalid(k, &e, &shader.text))?;
            Ok(Some(shader.text))
        })
        .collect()
}

/// The message for a shader naga refuses: a compiler bug, with the kernel
/// and the text, so that it can be reported.
pub fn invalid(k: &Kernel, error: &str, text: &str) -> String {
    format!(
        "compiler bug: the WGSL generated for kernel {} is not valid (please report it with this message):\n{error}\n{text}",
        k.id
    )
}
