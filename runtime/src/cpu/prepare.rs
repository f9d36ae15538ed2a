//! Preparing a fused step for the CPU at one batch size: how each kernel
//! runs (native code compiled by `super::jit`, an anchor computed by
//! `gemm` or a loop with a native epilogue, a strided copy, or the
//! interpreter's ops, and why), where an anchor's operands are in memory,
//! and which results may be written over an input handed over.

use super::contract::Layout;
use super::jit::{Jit, KernelFn};
use dlp_compiler::clif::index::{self, Map};
use dlp_compiler::clif::{Body, KernelCode, Phase};
use dlp_compiler::fuse::{Kernel, KernelKind};
use dlp_compiler::ir::{DType, NodeId, Op, Size, Verified};
use dlp_compiler::plan::{MemoryPlan, Place};
use std::collections::HashMap;

/// How one kernel runs at one batch size.
pub enum Exec {
    /// Native code over the kernel's domain; the values it reads, in order.
    /// `work`: the elements it visits (a reduction's operand's, or its
    /// result's), which decides whether it is worth splitting. `also`: the
    /// results of earlier kernels (their indices and roots) it stores too,
    /// when it is a pass computing several consecutive elementwise kernels
    /// over one domain (so that what they share is read from memory once:
    /// an optimiser's moments and its update); empty otherwise.
    Native {
        code: KernelFn,
        reads: Vec<NodeId>,
        also: Vec<(usize, NodeId)>,
        work: usize,
    },
    /// The anchor computed natively (a contraction through `gemm`, an
    /// argmax), then (if any) the epilogue as native code.
    Anchored {
        anchor: NodeId,
        operands: Vec<Operand>,
        epilogue: Option<(KernelFn, Vec<NodeId>)>,
    },
    /// Computed in the pass of a later kernel (an [`Exec::Native`] with
    /// `also`).
    InGroup,
    /// A permutation of axes, as a strided copy.
    Permute { perm: Vec<usize> },
    /// The kernel's nodes one by one, with the interpreter's ops (and why).
    Nodes(String),
}

/// Where an anchor's operand is in memory: the value it views, and how a
/// matrix product reads it (see [`Layout`]).
#[derive(Clone, Copy)]
pub struct Operand {
    pub source: NodeId,
    pub layout: Layout,
}

/// A step compiled for one batch size.
pub struct Compiled {
    /// How each kernel runs.
    pub execs: Vec<Exec>,
    /// For each kernel: the input it may write its result over, when the
    /// caller hands that input over (the memory plan's in-place pairs, for
    /// native kernels that read the input element for element).
    pub over: Vec<Option<NodeId>>,
}

/// How to run kernel `k` at batch `b`, its native code compiled.
pub fn kernel(
    jit: &mut Jit,
    step: &Verified,
    k: &Kernel,
    shapes: &HashMap<NodeId, Vec<usize>>,
    b: usize,
) -> Exec {
    let graph = step.graph();
    match k.anchor.map(|a| &graph.node(a).op) {
        None => match compile(jit, step, &k.nodes, &k.reads, shapes, b) {
            Ok((code, reads)) => Exec::Native {
                code,
                reads,
                also: Vec::new(),
                work: shapes[&k.root()].iter().product(),
            },
            Err(why) => Exec::Nodes(why),
        },
        Some(op) if k.anchor.is_some_and(|a| computed_natively(step, op, a)) => {
            let anchor = k.anchor.expect("an anchor");
            let Some(operands) = operands(step, k, anchor) else {
                return Exec::Nodes("an anchor reading broadcast operands".into());
            };
            if k.root() == anchor {
                return Exec::Anchored {
                    anchor,
                    operands,
                    epilogue: None,
                };
            }
            // The epilogue: the kernel without the product and the views of
            // its operands; the product is read.
            let feeding = operand_views(step, k, anchor);
            let nodes: Vec<NodeId> = k
                .nodes
                .iter()
                .copied()
                .filter(|n| *n != anchor && !feeding.contains(n))
                .collect();
            let mut reads: Vec<NodeId> = k
                .reads
                .iter()
                .copied()
                .filter(|r| nodes.iter().any(|&n| graph.args(n).contains(r)))
                .collect();
            reads.push(anchor);
            match compile(jit, step, &nodes, &reads, shapes, b) {
                Ok((code, reads)) => Exec::Anchored {
                    anchor,
                    operands,
                    epilogue: Some((code, reads)),
                },
                Err(why) => Exec::Nodes(why),
            }
        }
        Some(Op::Reduce { .. }) => match compile_reduce(jit, step, k, shapes, b) {
            Ok((code, reads)) => Exec::Native {
                code,
                reads,
                also: Vec::new(),
                work: shapes[&graph.args(k.anchor.expect("a reduction"))[0]]
                    .iter()
                    .product(),
            },
            Err(why) => Exec::Nodes(why),
        },
        Some(Op::Permute(perm)) if k.nodes.len() == 1 && k.reads == graph.args(k.root()) => {
            Exec::Permute { perm: perm.clone() }
        }
        Some(op) => Exec::Nodes(format!("{} is not compiled yet", op.text())),
    }
}

/// Joins runs of consecutive elementwise kernels into one pass (see
/// [`Exec::Native`]'s `also`) where that is sound: every kernel of the run has the
/// shape of the last, which reads each earlier one's result element for
/// element; no kernel of the run reads a value another writes over (an
/// in-place update, `over`); no two values the run holds share a slot of
/// the memory plan (`places`). `clif` gets the joint code's text; `label`
/// names it (`update_k0_to_k2_b128`).
#[allow(clippy::too_many_arguments)]
pub fn group(
    jit: &mut Jit,
    label: &str,
    step: &Verified,
    kernels: &[Kernel],
    execs: &mut [Exec],
    over: &[Option<NodeId>],
    places: &[Option<Place>],
    shapes: &HashMap<NodeId, Vec<usize>>,
    b: usize,
    clif: &mut [Option<String>],
) {
    let native = |e: &Exec| matches!(e, Exec::Native { also, .. } if also.is_empty());
    // A pass holds everything its kernels read and write at once; the
    // memory plan gave a slot to values whose lifetimes do not meet when
    // the kernels run one by one, so two of them in one slot rule the
    // pass out (it would hold more than the plan).
    let shares_a_slot = |run: &[Kernel]| {
        let mut held: Vec<NodeId> = run.iter().flat_map(|k| k.reads.iter().copied()).collect();
        held.extend(run.iter().map(|k| k.root()));
        held.sort();
        held.dedup();
        let mut slots = std::collections::HashSet::new();
        held.iter()
            .filter_map(|n| match places[n.index()] {
                Some(Place::Slot(s)) => Some(s),
                _ => None,
            })
            .any(|s| !slots.insert(s))
    };
    for last in 0..kernels.len() {
        let k = &kernels[last];
        if k.kind != KernelKind::Elementwise || !native(&execs[last]) {
            continue;
        }
        let mut first = last;
        while let Some(i) = first.checked_sub(1) {
            let earlier = &kernels[i];
            let joins = earlier.kind == KernelKind::Elementwise
                && native(&execs[i])
                && shapes[&earlier.root()] == shapes[&k.root()]
                && k.reads.contains(&earlier.root());
            if !joins {
                break;
            }
            first = i;
        }
        while first < last && shares_a_slot(&kernels[first..=last]) {
            first += 1;
        }
        let run = &kernels[first..=last];
        let overwritten: Vec<NodeId> = over[first..=last].iter().flatten().copied().collect();
        let reads_overwritten = run.iter().zip(&over[first..=last]).any(|(k, own)| {
            k.reads
                .iter()
                .any(|r| overwritten.contains(r) && Some(*r) != *own)
        });
        if run.len() < 2 || reads_overwritten {
            continue;
        }
        let roots: Vec<NodeId> = run.iter().map(|k| k.root()).collect();
        let mut nodes: Vec<NodeId> = run.iter().flat_map(|k| k.nodes.iter().copied()).collect();
        nodes.sort();
        nodes.dedup();
        let mut reads: Vec<NodeId> = run
            .iter()
            .flat_map(|k| k.reads.iter().copied())
            .filter(|r| !roots.contains(r))
            .collect();
        reads.sort();
        reads.dedup();
        let Some(maps) = index::maps_of(step.graph(), &nodes, &roots, shapes) else {
            continue;
        };
        jit.last_clif.clear();
        jit.next_name = format!("{label}_k{first}_to_k{last}_b{b}");
        let code = KernelCode {
            graph: step.graph(),
            reads: &reads,
            shapes,
            batch: b,
            root: k.root(),
            also: &roots[..roots.len() - 1],
            body: Body::Elementwise(Phase {
                nodes: &nodes,
                maps: &maps,
            }),
        };
        let Ok(code) = jit.compile(&code) else {
            continue;
        };
        execs[last] = Exec::Native {
            code,
            reads,
            also: (first..last).zip(roots).collect(),
            work: shapes[&k.root()].iter().product(),
        };
        clif[last] = Some(std::mem::take(&mut jit.last_clif));
        for i in first..last {
            execs[i] = Exec::InGroup;
            clif[i] = Some(format!("; computed in the pass of k{last}\n"));
        }
    }
}

/// Whether the CPU back end computes `op` (the anchor `anchor`) with code of
/// its own: contractions, pooling and argmax of numbers, gather and
/// scatter.
fn computed_natively(step: &Verified, op: &Op, anchor: NodeId) -> bool {
    let graph = step.graph();
    match op {
        Op::MatMul
        | Op::Conv { .. }
        | Op::ConvInputGrad { .. }
        | Op::ConvWeightGrad { .. }
        | Op::Pool { .. }
        | Op::PoolGrad { .. }
        | Op::ArgMax(_) => graph.ty(graph.args(anchor)[0]).dtype != DType::Bool,
        Op::Gather | Op::ScatterAdd => true,
        _ => false,
    }
}

/// Native code for `nodes` (the last one the result) reading `reads`.
fn compile(
    jit: &mut Jit,
    step: &Verified,
    nodes: &[NodeId],
    reads: &[NodeId],
    shapes: &HashMap<NodeId, Vec<usize>>,
    b: usize,
) -> Result<(KernelFn, Vec<NodeId>), String> {
    let graph = step.graph();
    let root = *nodes.last().ok_or("an empty kernel")?;
    let maps = phase_maps(step, nodes, root, shapes)?;
    let code = KernelCode {
        graph,
        reads,
        shapes,
        batch: b,
        root,
        also: &[],
        body: Body::Elementwise(Phase { nodes, maps: &maps }),
    };
    jit.compile(&code)
        .map(|code| (code, reads.to_vec()))
        .map_err(|e| e.0)
}

/// How every node of a phase (the last one, `root`, its result) and what it
/// reads is indexed over the root's shape.
fn phase_maps(
    step: &Verified,
    nodes: &[NodeId],
    root: NodeId,
    shapes: &HashMap<NodeId, Vec<usize>>,
) -> Result<HashMap<NodeId, Map>, String> {
    if nodes.is_empty() {
        return Ok(HashMap::from([(root, Map::Identity)]));
    }
    let kernel = Kernel {
        id: dlp_compiler::fuse::KernelId(0),
        kind: dlp_compiler::fuse::KernelKind::Elementwise,
        anchor: None,
        nodes: nodes.to_vec(),
        reads: Vec::new(),
    };
    index::maps(step.graph(), &kernel, shapes)
        .ok_or_else(|| "views the code generator cannot follow".into())
}

/// Native code for a reduction kernel: its prologue, the reduction, its
/// epilogue.
fn compile_reduce(
    jit: &mut Jit,
    step: &Verified,
    k: &Kernel,
    shapes: &HashMap<NodeId, Vec<usize>>,
    b: usize,
) -> Result<(KernelFn, Vec<NodeId>), String> {
    let graph = step.graph();
    let anchor = k.anchor.ok_or("no anchor")?;
    let Op::Reduce { op, axes } = &graph.node(anchor).op else {
        return Err("not a reduction".into());
    };
    let operand = graph.args(anchor)[0];
    let inside = |n: NodeId| k.nodes.contains(&n);
    let prologue = ancestors(step, &[operand], &inside, None);
    let epilogue: Vec<NodeId> = ancestors(step, &[k.root()], &inside, Some(anchor))
        .into_iter()
        .filter(|&n| n != anchor)
        .collect();
    let prologue_maps = phase_maps(step, &prologue, operand, shapes)?;
    let epilogue_maps = phase_maps(step, &epilogue, k.root(), shapes)?;
    let code = KernelCode {
        graph,
        reads: &k.reads,
        shapes,
        batch: b,
        root: k.root(),
        also: &[],
        body: Body::Reduce {
            op: *op,
            axes,
            anchor,
            operand,
            prologue: Phase {
                nodes: &prologue,
                maps: &prologue_maps,
            },
            epilogue: Phase {
                nodes: &epilogue,
                maps: &epilogue_maps,
            },
        },
    };
    jit.compile(&code)
        .map(|code| (code, k.reads.clone()))
        .map_err(|e| e.0)
}

/// The nodes of a kernel that `from` need (themselves included when they
/// are in the kernel), not going past `stop`, in graph order.
fn ancestors(
    step: &Verified,
    from: &[NodeId],
    inside: &dyn Fn(NodeId) -> bool,
    stop: Option<NodeId>,
) -> Vec<NodeId> {
    let graph = step.graph();
    let mut found: Vec<NodeId> = Vec::new();
    let mut stack: Vec<NodeId> = from.iter().copied().filter(|&n| inside(n)).collect();
    while let Some(n) = stack.pop() {
        if found.contains(&n) {
            continue;
        }
        found.push(n);
        if Some(n) == stop {
            continue;
        }
        for &a in graph.args(n) {
            if inside(a) {
                stack.push(a);
            }
        }
    }
    found.sort();
    found
}

/// The nodes between an anchor and what it reads: views of its operands
/// (reshapes, and the transposes and repeats the kernel folded in).
fn operand_views(step: &Verified, k: &Kernel, anchor: NodeId) -> Vec<NodeId> {
    let graph = step.graph();
    let mut out = Vec::new();
    for &a in graph.args(anchor) {
        let mut at = a;
        while k.nodes.contains(&at)
            && matches!(
                graph.node(at).op,
                Op::Reshape | Op::Permute(_) | Op::Broadcast
            )
        {
            out.push(at);
            at = graph.args(at)[0];
        }
    }
    out
}

/// Where each operand of `anchor` is in memory, or `None` when one is a
/// broadcast (`gemm` and the window loops read dense memory only), except
/// a matrix repeated for every batch of a matrix product.
fn operands(step: &Verified, k: &Kernel, anchor: NodeId) -> Option<Vec<Operand>> {
    let graph = step.graph();
    let matmul = graph.node(anchor).op == Op::MatMul;
    graph
        .args(anchor)
        .iter()
        .map(|&a| {
            let folded = |n: NodeId| k.nodes.contains(&n);
            let transposed = folded(a) && matches!(graph.node(a).op, Op::Permute(_));
            let mut at = if transposed { graph.args(a)[0] } else { a };
            let mut repeated = false;
            loop {
                match graph.node(at).op {
                    Op::Reshape => at = graph.args(at)[0],
                    Op::Broadcast if matmul && !repeated && repeats_one_matrix(step, at) => {
                        repeated = true;
                        at = graph.args(at)[0];
                    }
                    Op::Broadcast => return None,
                    _ => break,
                }
            }
            Some(Operand {
                source: at,
                layout: Layout {
                    transposed,
                    repeated,
                },
            })
        })
        .collect()
}

/// Whether broadcast `b` only repeats one matrix along new leading axes:
/// its operand's elements are those of the last two axes of its result.
fn repeats_one_matrix(step: &Verified, b: NodeId) -> bool {
    let graph = step.graph();
    let (to, from) = (&graph.ty(b).shape, &graph.ty(graph.args(b)[0]).shape);
    let r = to.len();
    r >= 2
        && from.len() == r
        && from[r - 2..] == to[r - 2..]
        && from[..r - 2].iter().all(|&d| d == Size::ONE)
}

/// The input kernel `k` may write its result over: an in-place pair of the
/// memory plan whose input the native code reads element for element.
pub fn writes_over(
    step: &Verified,
    plan: &MemoryPlan,
    k: &Kernel,
    exec: &Exec,
    shapes: &HashMap<NodeId, Vec<usize>>,
) -> Option<NodeId> {
    let Exec::Native { .. } = exec else {
        return None;
    };
    let &(_, old) = plan.in_place.iter().find(|(new, _)| *new == k.root())?;
    let maps = index::maps(step.graph(), k, shapes)?;
    matches!(maps.get(&old), Some(Map::Identity | Map::Flat)).then_some(old)
}
