//! The memory plan of a step: where each kernel result lives.
//!
//! Step inputs live where the runtime put them and step outputs in memory
//! of their own (they leave the step). Every other kernel result is a
//! temporary, and temporaries share **slots**: a slot is reused by a later
//! result once every kernel that reads its current one has run (liveness
//! over the kernel schedule); the largest results are placed first, so
//! that small ones fill the gaps. Sizes may depend on the batch, so a
//! slot's size is `k·B + n` bytes, large enough for each of its results at
//! every batch size. [`MemoryPlan::check`] verifies the plan: no two results
//! whose lifetimes overlap share a slot, and every slot holds each of its
//! results.
//!
//! A parameter's update may also be written over the parameter itself
//! (`new_param` over `param`, `new_opt` over `opt`, as the compiled
//! program allows) when no kernel reads the old value after the kernel
//! that computes the new one: [`MemoryPlan::in_place`] lists those pairs.

use crate::fuse::{KernelKind, Kernels};
use crate::ir::{DType, Graph, Input, NodeId, Op, Output, Size, Verified};
use std::fmt::Write;

/// Where a node's value lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// Where the runtime put the step's input.
    Input,
    /// The step's output, in memory of its own.
    Output,
    /// A shared slot of temporaries.
    Slot(usize),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slot {
    /// Bytes, as a size in the batch.
    pub bytes: Size,
    /// The results it holds, in schedule order.
    pub results: Vec<NodeId>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MemoryPlan {
    /// Each node's place, for the nodes whose values are in memory.
    pub places: Vec<Option<Place>>,
    pub slots: Vec<Slot>,
    /// (output, input) pairs a back end may compute in place.
    pub in_place: Vec<(NodeId, NodeId)>,
    /// For each materialised node: the kernel that writes it (`None` for
    /// inputs) and the last kernel that reads it (`usize::MAX` for outputs).
    pub lifetimes: Vec<Option<(Option<usize>, usize)>>,
}

/// A tensor's bytes, as a size in the batch.
pub fn bytes(graph: &Graph, id: NodeId) -> Size {
    let ty = graph.ty(id);
    let per = Size::fixed(dtype_bytes(ty.dtype));
    ty.numel()
        .and_then(|n| n.checked_mul(per))
        .unwrap_or(Size::fixed(usize::MAX))
}

/// A size in bytes for messages: `512 B`, `4.4 TB`, `512.0 MB`.
pub fn bytes_text(bytes: f64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut v = bytes;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < units.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{v} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

fn dtype_bytes(d: DType) -> usize {
    match d {
        DType::F32 | DType::I32 => 4,
        DType::F64 => 8,
        DType::Bool => 1,
    }
}

/// The smallest size at least as large as both, for every batch size.
fn max_size(a: Size, b: Size) -> Size {
    Size {
        batch: a.batch.max(b.batch),
        fixed: a.fixed.max(b.fixed),
    }
}

/// Plans the memory of `step` cut into `kernels`.
pub fn plan(step: &Verified, kernels: &Kernels) -> MemoryPlan {
    let graph = step.graph();
    let lifetimes = lifetimes(graph, kernels);
    let mut places: Vec<Option<Place>> = vec![None; graph.len()];
    let is_output = |id: NodeId| graph.outputs.iter().any(|(_, o)| *o == id);
    // The temporaries, largest first (at a large batch, where the batch
    // term dominates): each goes into the first slot none of whose results
    // is alive at the same time, else a new slot. Placing the large ones
    // first keeps small results from growing slots they only borrow (the
    // greedy-by-size rule of interval packing).
    let mut temporaries: Vec<(NodeId, Size, usize, usize)> = Vec::new();
    for (i, kernel) in kernels.kernels.iter().enumerate() {
        let root = kernel.root();
        if is_output(root) {
            places[root.index()] = Some(Place::Output);
            continue;
        }
        let last = lifetimes[root.index()].map_or(i, |(_, last)| last);
        temporaries.push((root, bytes(graph, root), i, last));
    }
    temporaries.sort_by_key(|&(id, need, _, _)| (std::cmp::Reverse((need.batch, need.fixed)), id));
    let mut slots: Vec<Slot> = Vec::new();
    // The lifetimes (written, last read) of each slot's results.
    let mut spans: Vec<Vec<(usize, usize)>> = Vec::new();
    for (root, need, def, last) in temporaries {
        let apart = |s: &usize| spans[*s].iter().all(|&(d, l)| l < def || last < d);
        let s = match (0..slots.len()).find(apart) {
            Some(s) => s,
            None => {
                slots.push(Slot {
                    bytes: need,
                    results: Vec::new(),
                });
                spans.push(Vec::new());
                slots.len() - 1
            }
        };
        slots[s].bytes = max_size(slots[s].bytes, need);
        slots[s].results.push(root);
        spans[s].push((def, last));
        places[root.index()] = Some(Place::Slot(s));
    }
    // Each slot's results in schedule order.
    for slot in &mut slots {
        slot.results
            .sort_by_key(|r| lifetimes[r.index()].and_then(|(def, _)| def));
    }
    for (id, lifetime) in lifetimes.iter().enumerate() {
        if lifetime.is_some() && places[id].is_none() {
            places[id] = Some(if is_output(NodeId(id as u32)) {
                Place::Output
            } else {
                Place::Input
            });
        }
    }
    MemoryPlan {
        in_place: in_place(graph, kernels, &lifetimes),
        places,
        slots,
        lifetimes,
    }
}

/// For each materialised node: the kernel that writes it and the last
/// kernel that reads it.
fn lifetimes(graph: &Graph, kernels: &Kernels) -> Vec<Option<(Option<usize>, usize)>> {
    let mut out: Vec<Option<(Option<usize>, usize)>> = vec![None; graph.len()];
    for (i, k) in kernels.kernels.iter().enumerate() {
        let root = k.root().index();
        out[root] = Some((Some(i), out[root].map_or(i, |(_, last)| last.max(i))));
        for r in &k.reads {
            let (def, last) = out[r.index()].unwrap_or((None, i));
            out[r.index()] = Some((def, last.max(i)));
        }
    }
    for (_, id) in &graph.outputs {
        if let Some((def, _)) = out[id.index()] {
            out[id.index()] = Some((def, usize::MAX));
        }
    }
    out
}

/// The updates that may overwrite what they update: `new_param.p` over
/// `param.p` (and `new_opt` over `opt`) when the kernel writing the new
/// value is elementwise (element `i` of the old value is read only to
/// compute element `i` of the new) and the last to read the old one.
fn in_place(
    graph: &Graph,
    kernels: &Kernels,
    lifetimes: &[Option<(Option<usize>, usize)>],
) -> Vec<(NodeId, NodeId)> {
    let mut pairs = Vec::new();
    for (output, id) in &graph.outputs {
        let input = match output {
            Output::NewParam(p) => Input::Param(p.clone()),
            Output::NewOptimizerState { slot, param } => Input::OptimizerState {
                slot: slot.clone(),
                param: param.clone(),
            },
            Output::NewModelState(p) => Input::ModelState(p.clone()),
            Output::LossSum
            | Output::MetricSum(_)
            | Output::Gradient(_)
            | Output::Prediction(_) => continue,
        };
        let Some(old) = graph.input(&input) else {
            continue;
        };
        let (Some((Some(writer), _)), Some((_, last_read))) =
            (lifetimes[id.index()], lifetimes[old.index()])
        else {
            continue;
        };
        let elementwise = kernels.kernels[writer].kind == KernelKind::Elementwise;
        if elementwise && last_read == writer && graph.ty(old) == graph.ty(*id) {
            pairs.push((*id, old));
        }
    }
    pairs
}

impl MemoryPlan {
    /// Bytes of all slots at batch size `b`: the peak memory of the step's
    /// temporaries.
    pub fn temporary_bytes(&self, b: usize) -> usize {
        self.slots
            .iter()
            .map(|s| s.bytes.at(b).unwrap_or(usize::MAX))
            .fold(0usize, usize::saturating_add)
    }

    /// Every broken rule of the plan (none for a sound plan): results that
    /// share a slot while both are alive, slots too small for a result,
    /// in-place pairs whose input is read after the update.
    pub fn check(&self, graph: &Graph) -> Vec<String> {
        let mut errors = Vec::new();
        for (s, slot) in self.slots.iter().enumerate() {
            for (i, &a) in slot.results.iter().enumerate() {
                let need = bytes(graph, a);
                if need.batch > slot.bytes.batch || need.fixed > slot.bytes.fixed {
                    errors.push(format!("slot {s} is smaller than {a}"));
                }
                let Some((Some(a_def), a_last)) = self.lifetimes[a.index()] else {
                    errors.push(format!("{a} in slot {s} is written by no kernel"));
                    continue;
                };
                for &b in &slot.results[i + 1..] {
                    let Some((Some(b_def), b_last)) = self.lifetimes[b.index()] else {
                        continue;
                    };
                    // Lifetimes are [written, last read]; a slot is free from
                    // the kernel after the last read.
                    if a_def <= b_last && b_def <= a_last {
                        errors.push(format!("{a} and {b} share slot {s} while both are alive"));
                    }
                }
            }
        }
        for &(new, old) in &self.in_place {
            let (Some((Some(w), _)), Some((_, r))) =
                (self.lifetimes[new.index()], self.lifetimes[old.index()])
            else {
                errors.push(format!(
                    "{new} over {old}: not a kernel result over an input"
                ));
                continue;
            };
            if r > w {
                errors.push(format!("{new} overwrites {old}, which is read later"));
            }
        }
        errors
    }
}

/// The plan as text: slots with their results, sizes at batch `b`.
pub fn text(step: &Verified, plan: &MemoryPlan, b: usize) -> String {
    let graph = step.graph();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "; memory plan: {} slots for temporaries, {} bytes at batch {b}",
        plan.slots.len(),
        plan.temporary_bytes(b)
    );
    for (s, slot) in plan.slots.iter().enumerate() {
        let results: Vec<String> = slot.results.iter().map(|r| r.to_string()).collect();
        let _ = writeln!(
            out,
            "slot{s} ({} bytes = {} at batch {b}): {}",
            slot.bytes,
            slot.bytes.at(b).unwrap_or(usize::MAX),
            results.join(", ")
        );
    }
    for (new, old) in &plan.in_place {
        let name = |id: &NodeId| match &graph.node(*id).op {
            Op::Input(i) => i.to_string(),
            _ => graph
                .outputs
                .iter()
                .find(|(_, o)| o == id)
                .map_or(id.to_string(), |(o, _)| o.to_string()),
        };
        let _ = writeln!(out, "in place: {} over {}", name(new), name(old));
    }
    out
}
