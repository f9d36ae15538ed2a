//! Where each value of an elementwise kernel is, for each element of the
//! kernel's domain (the shape of its result).
//!
//! Inside a kernel, views cost nothing: `reshape` keeps every element's
//! offset in row-major memory, and `broadcast` repeats elements, so a value
//! read through views is one load at an offset computed from the domain
//! index. [`maps`] derives, from the result down to what the kernel reads,
//! how each node is indexed; a kernel whose views it cannot follow is run
//! another way (the CPU back end runs it on the interpreter's ops).

use crate::fuse::Kernel;
use crate::ir::{Graph, NodeId, Op};
use std::collections::HashMap;

/// How a node's element is found from the domain index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Map {
    /// The node has the domain's shape: the same multi-index.
    Identity,
    /// The same row-major offset (the node is a reshape of the domain).
    Flat,
    /// Offset `Σ index[axis] · stride[axis]` over the domain's axes.
    Strided(Vec<usize>),
    /// One value for every element (a one-element tensor).
    Zero,
    /// The domain's row-major offset read as an index of `shape` (a view's
    /// shape: a broadcast read through a reshape), then offset
    /// `Σ index[axis] · strides[axis]`.
    Unflat {
        shape: Vec<usize>,
        strides: Vec<usize>,
    },
}

/// Row-major strides of `shape`.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// The map of every node of `kernel` and of every node it reads, given
/// each node's concrete shape; `None` when a view cannot be followed (a
/// broadcast read through a broadcast or a transposing view, an iota off
/// the domain, a node reached with two different maps).
pub fn maps(
    graph: &Graph,
    kernel: &Kernel,
    shapes: &HashMap<NodeId, Vec<usize>>,
) -> Option<HashMap<NodeId, Map>> {
    maps_of(graph, &kernel.nodes, &[kernel.root()], shapes)
}

/// [`maps`] for `nodes` (in graph order) computing several results over
/// one domain: `roots`, all of the domain's shape.
pub fn maps_of(
    graph: &Graph,
    nodes: &[NodeId],
    roots: &[NodeId],
    shapes: &HashMap<NodeId, Vec<usize>>,
) -> Option<HashMap<NodeId, Map>> {
    let domain = &shapes[roots.last()?];
    let mut out: HashMap<NodeId, Map> = HashMap::new();
    for r in roots {
        if &shapes[r] != domain {
            return None;
        }
        out.insert(*r, Map::Identity);
    }
    // Nodes come in graph order, so every user of a node is visited first.
    for &n in nodes.iter().rev() {
        let map = out.get(&n)?.clone();
        let node = graph.node(n);
        let operand_map = |a: NodeId| -> Option<Map> {
            let shape = &shapes[&a];
            // A random op reads its seed and counter as scalars and its
            // sample indices row by row (the code generator's business).
            if shape.iter().product::<usize>() == 1 || matches!(node.op, Op::Random { .. }) {
                return Some(Map::Zero);
            }
            match (&node.op, &map) {
                (Op::Reshape, Map::Identity | Map::Flat) => Some(if shape == domain {
                    Map::Identity
                } else {
                    Map::Flat
                }),
                (Op::Reshape, m) => Some(m.clone()),
                (Op::Broadcast, Map::Identity | Map::Flat) => {
                    let st = strides(shape);
                    let repeated: Vec<usize> = shape
                        .iter()
                        .zip(&st)
                        .map(|(&d, &s)| if d == 1 { 0 } else { s })
                        .collect();
                    Some(if map == Map::Identity {
                        Map::Strided(repeated)
                    } else {
                        Map::Unflat {
                            shape: shapes[&n].clone(),
                            strides: repeated,
                        }
                    })
                }
                (Op::Broadcast, _) => None,
                (_, m) => Some(m.clone()),
            }
        };
        if let Op::Iota(_) = node.op {
            if map != Map::Identity {
                return None;
            }
        }
        for &a in &node.args {
            let m = operand_map(a)?;
            match out.get(&a) {
                Some(existing) if *existing != m => return None,
                _ => {
                    out.insert(a, m);
                }
            }
        }
    }
    Some(out)
}
