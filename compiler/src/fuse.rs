//! Fusion: a step's graph cut into kernels, the units a back end compiles
//! and launches. Back-end-neutral: the CPU and GPU code generators take the
//! same kernels.
//!
//! A node's value is **materialised** (written to a buffer) when a kernel
//! boundary needs it: it is a step output, an operand of a contraction,
//! window, gather/scatter or movement op (those read memory), or an
//! elementwise value used by more than one kernel or broadcast (computing it
//! again for every use would repeat work). Everything else is computed
//! inside the kernel that uses it:
//!
//! - **elementwise chains** become one kernel over the shape of their last
//!   node (sources like constants, sizes and iotas, and the views
//!   `reshape`/`broadcast` of materialised values, are folded in as index
//!   arithmetic, in every kernel that reads them);
//! - a **reduction** takes the elementwise chain that feeds it as its
//!   prologue, and the elementwise chain on its result as its epilogue
//!   (`sum(exp(x - m))`, then `/ count`);
//! - a **contraction** (matmul, conv and its gradients), a **window** op
//!   (pooling), **gather/scatter** and **argmax** take the elementwise chain
//!   on their result as an epilogue (bias and ReLU after a matmul, applied
//!   while the product is in cache);
//! - **movement** ops that reorder memory (`permute`, `slice`, `concat`)
//!   are kernels of their own, except a `permute` that only swaps a matmul
//!   operand's last two axes, which the matmul reads as a transposed view.
//!
//! The kernels come out in an order where every kernel runs after the
//! kernels whose results it reads (a schedule); [`crate::plan`] assigns
//! their buffers to memory.

use crate::ir::{Graph, NodeId, Op, OpKind, Size, Verified};
use std::fmt;

/// A kernel of one step; prints as `k3`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KernelId(pub u32);

impl fmt::Display for KernelId {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "k{}", self.0)
    }
}

/// What a kernel is built around.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelKind {
    /// Elementwise nodes only, over the root's shape.
    Elementwise,
    /// A reduction with its prologue and epilogue.
    Reduce,
    /// A contraction (`matmul`, `conv`, its gradients) and its epilogue.
    Contraction,
    /// Pooling or its gradient, and its epilogue.
    Window,
    /// `gather`, `scatter_add` or `argmax`, and its epilogue.
    Indexed,
    /// `permute`, `slice` or `concat`: a copy into a new layout.
    Movement,
}

impl KernelKind {
    pub fn name(self) -> &'static str {
        match self {
            KernelKind::Elementwise => "elementwise",
            KernelKind::Reduce => "reduce",
            KernelKind::Contraction => "contraction",
            KernelKind::Window => "window",
            KernelKind::Indexed => "indexed",
            KernelKind::Movement => "movement",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Kernel {
    pub id: KernelId,
    pub kind: KernelKind,
    /// The op the kernel is built around (for all kinds but elementwise).
    pub anchor: Option<NodeId>,
    /// The nodes the kernel computes, in graph order; the last one is its
    /// result (the root).
    pub nodes: Vec<NodeId>,
    /// The materialised values and step inputs it reads.
    pub reads: Vec<NodeId>,
}

impl Kernel {
    /// The node whose value the kernel writes.
    pub fn root(&self) -> NodeId {
        *self.nodes.last().expect("a kernel computes a node")
    }
}

/// A step cut into kernels, in execution order.
#[derive(Clone, Debug, PartialEq)]
pub struct Kernels {
    pub kernels: Vec<Kernel>,
    /// For each node: whether its value lives in a buffer (step inputs
    /// and kernel results).
    pub materialised: Vec<bool>,
}

impl Kernels {
    /// The kernel that writes `node`, if one does.
    pub fn producer(&self, node: NodeId) -> Option<&Kernel> {
        self.kernels.iter().find(|k| k.root() == node)
    }
}

/// How an op takes part in fusion.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// A step input: always in a buffer.
    Input,
    /// Computed wherever it is read, at no cost worth a buffer: constants,
    /// sizes, iotas, and the views `reshape` and `broadcast`.
    Free,
    /// One value per element of its shape, from its operands' elements.
    Elementwise,
    /// Starts a kernel, reading its operands from memory.
    Anchor(KernelKind),
}

fn role_of(graph: &Graph, id: NodeId) -> Role {
    let node = graph.node(id);
    match role(&node.op) {
        // A one-element value costs nothing to compute again wherever it
        // is read (`1 / B`, a learning rate times a constant).
        Role::Elementwise if node.ty.numel() == Some(Size::ONE) => Role::Free,
        r => r,
    }
}

fn role(op: &Op) -> Role {
    match op.kind() {
        OpKind::Source => match op {
            Op::Input(_) => Role::Input,
            _ => Role::Free,
        },
        OpKind::Elementwise | OpKind::Random => Role::Elementwise,
        OpKind::Movement => match op {
            Op::Reshape | Op::Broadcast => Role::Free,
            _ => Role::Anchor(KernelKind::Movement),
        },
        OpKind::Reduce => match op {
            Op::ArgMax(_) => Role::Anchor(KernelKind::Indexed),
            _ => Role::Anchor(KernelKind::Reduce),
        },
        OpKind::Contraction => Role::Anchor(KernelKind::Contraction),
        OpKind::Window => Role::Anchor(KernelKind::Window),
        OpKind::GatherScatter => Role::Anchor(KernelKind::Indexed),
    }
}

/// Cuts `step` into kernels.
pub fn fuse(step: &Verified) -> Kernels {
    let graph = step.graph();
    let readers = readers(graph);
    let mut materialised = initially_materialised(graph, &readers);
    let live = graph.live();
    // Consumers first: a kernel decides whether the anchors it reads join
    // it as its own anchor (an epilogue) or are materialised, and so become
    // kernels of their own further down.
    let mut absorbed = vec![false; graph.len()];
    let mut kernels = Vec::new();
    for root in graph.ids().rev().filter(|id| live[id.index()]) {
        let is_root = match role_of(graph, root) {
            Role::Input => false,
            Role::Anchor(_) => !absorbed[root.index()],
            Role::Elementwise | Role::Free => materialised[root.index()],
        };
        if !is_root {
            continue;
        }
        materialised[root.index()] = true;
        let kernel = build(graph, &readers, &mut materialised, &mut absorbed, root);
        kernels.push(kernel);
    }
    kernels.reverse();
    for (i, k) in kernels.iter_mut().enumerate() {
        k.id = KernelId(i as u32);
    }
    Kernels {
        kernels,
        materialised,
    }
}

/// Each node's readers (each once), and whether a step output reads it.
struct Readers {
    users: Vec<Vec<NodeId>>,
    output: Vec<bool>,
}

fn readers(graph: &Graph) -> Readers {
    let mut users: Vec<Vec<NodeId>> = vec![Vec::new(); graph.len()];
    for id in graph.ids() {
        for &a in graph.args(id) {
            if !users[a.index()].contains(&id) {
                users[a.index()].push(id);
            }
        }
    }
    let mut output = vec![false; graph.len()];
    for (_, id) in &graph.outputs {
        output[id.index()] = true;
    }
    Readers { users, output }
}

/// What must be in a buffer whatever the kernels: step inputs and outputs,
/// and elementwise values read by more than one node, or through a
/// `broadcast` (which would compute each element many times), or by a node
/// that reads memory.
fn initially_materialised(graph: &Graph, readers: &Readers) -> Vec<bool> {
    let mut out = vec![false; graph.len()];
    for id in graph.ids() {
        out[id.index()] = readers.output[id.index()]
            || match role_of(graph, id) {
                Role::Input => true,
                Role::Free | Role::Anchor(_) => false,
                Role::Elementwise => {
                    let users = through_views(graph, readers, id);
                    users.len() != 1
                        || users
                            .iter()
                            .any(|&(user, same)| !same || !absorbs_operand(&graph.node(user).op))
                }
            };
    }
    out
}

/// The non-view readers of `id`, looking through `reshape` and `broadcast`,
/// and whether the path to each keeps every element once (no broadcast).
fn through_views(graph: &Graph, readers: &Readers, id: NodeId) -> Vec<(NodeId, bool)> {
    let mut found: Vec<(NodeId, bool)> = Vec::new();
    let mut stack = vec![(id, true)];
    while let Some((at, same)) = stack.pop() {
        if at != id && readers.output[at.index()] {
            found.push((at, false));
        }
        for &u in &readers.users[at.index()] {
            match graph.node(u).op {
                Op::Reshape => stack.push((u, same)),
                Op::Broadcast => stack.push((u, false)),
                _ => found.push((u, same)),
            }
        }
    }
    found
}

/// Whether a node computes its elements from an operand's elements in
/// the same kernel (elementwise ops; a reduction's prologue) rather than
/// reading the operand from memory.
fn absorbs_operand(op: &Op) -> bool {
    match role(op) {
        Role::Elementwise | Role::Anchor(KernelKind::Reduce) => true,
        Role::Anchor(_) | Role::Input | Role::Free => false,
    }
}

/// The kernel whose result is `root`: `root`, the unmaterialised nodes it
/// needs (walking back through operands), and at most one anchor.
fn build(
    graph: &Graph,
    readers: &Readers,
    materialised: &mut [bool],
    absorbed: &mut [bool],
    root: NodeId,
) -> Kernel {
    let mut inside = vec![root];
    let mut reads = Vec::new();
    let mut anchor = match role_of(graph, root) {
        Role::Anchor(kind) => Some((root, kind)),
        Role::Input | Role::Free | Role::Elementwise => None,
    };
    let mut stack = vec![root];
    while let Some(at) = stack.pop() {
        let reads_memory = !absorbs_operand(&graph.node(at).op)
            && matches!(role(&graph.node(at).op), Role::Anchor(_));
        for &a in graph.args(at) {
            if reads_memory {
                // An anchor reads its operand from memory, through any views
                // (and a matmul through a transpose).
                let mut a_view = a;
                if graph.node(at).op == Op::MatMul && is_transposed_operand(graph, readers, a) {
                    absorbed[a.index()] = true;
                    push_unique(&mut inside, a);
                    a_view = graph.args(a)[0];
                }
                let a = a_view;
                let source = view_source(graph, materialised, a);
                materialised[source.index()] = true;
                push_unique(&mut reads, source);
                let mut v = a;
                while v != source {
                    push_unique(&mut inside, v);
                    v = graph.args(v)[0];
                }
                continue;
            }
            if materialised[a.index()] {
                push_unique(&mut reads, a);
                continue;
            }
            if let Role::Anchor(kind) = role_of(graph, a) {
                // A one-element node may sit in several kernels: it must
                // not take an anchor with it.
                let epilogue = anchor.is_none()
                    && role_of(graph, at) != Role::Free
                    && readers.users[a.index()] == [at]
                    && graph.ty(a).shape == graph.ty(at).shape;
                if !epilogue {
                    materialised[a.index()] = true;
                    push_unique(&mut reads, a);
                    continue;
                }
                anchor = Some((a, kind));
                absorbed[a.index()] = true;
            }
            if !inside.contains(&a) {
                inside.push(a);
                stack.push(a);
            }
        }
    }
    inside.sort();
    reads.sort();
    Kernel {
        id: KernelId(0),
        kind: anchor.map_or(KernelKind::Elementwise, |(_, k)| k),
        anchor: anchor.map(|(n, _)| n),
        nodes: inside,
        reads,
    }
}

fn push_unique(v: &mut Vec<NodeId>, id: NodeId) {
    if !v.contains(&id) {
        v.push(id);
    }
}

/// Whether `perm` swaps the last two axes and keeps the others.
pub fn swaps_last_two(perm: &[usize]) -> bool {
    let r = perm.len();
    r >= 2
        && perm[..r - 2].iter().enumerate().all(|(i, &p)| i == p)
        && (perm[r - 2], perm[r - 1]) == (r - 1, r - 2)
}

/// Whether `id` is a transpose (last two axes swapped) read only by
/// matrix products, which read their operand transposed in place: no copy.
fn is_transposed_operand(graph: &Graph, readers_of: &Readers, id: NodeId) -> bool {
    matches!(&graph.node(id).op, Op::Permute(p) if swaps_last_two(p))
        && !readers_of.output[id.index()]
        && readers_of.users[id.index()]
            .iter()
            .all(|&u| graph.node(u).op == Op::MatMul)
}

/// Where an anchor's operand lives: the node itself, or, for views
/// (`reshape`, `broadcast`) of something, what they view.
fn view_source(graph: &Graph, materialised: &[bool], mut at: NodeId) -> NodeId {
    while !materialised[at.index()] {
        match graph.node(at).op {
            Op::Reshape | Op::Broadcast => at = graph.args(at)[0],
            _ => return at,
        }
    }
    at
}

/// The kernels as text: one line per kernel, its nodes and what it reads.
pub fn text(graph: &Graph, kernels: &Kernels) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    for k in &kernels.kernels {
        let nodes: Vec<String> = k
            .nodes
            .iter()
            .map(|&n| {
                let op = graph.node(n).op.text();
                let name = op.split(' ').next().unwrap_or("").to_string();
                format!("{n} {name}")
            })
            .collect();
        let reads: Vec<String> = k.reads.iter().map(|r| r.to_string()).collect();
        let _ = writeln!(
            out,
            "{} = {} {} -> {} : {}\n    reads {}\n    computes {}",
            k.id,
            k.kind.name(),
            k.anchor.map_or(String::new(), |a| format!("around {a}")),
            k.root(),
            graph.ty(k.root()),
            if reads.is_empty() {
                "nothing".into()
            } else {
                reads.join(", ")
            },
            nodes.join(", ")
        );
    }
    out
}
