//! The IR's invariants, checked between stages.
//!
//! A graph is well formed when:
//! 1. every edge points from a lower node index to a higher one (so creation
//!    order is a topological order, and the graph is acyclic);
//! 2. each node's operands are numbered `0..n` with no gaps or repeats, and
//!    `n` is the op's arity;
//! 3. each node's type is what [`infer`] gives for its op and operand types
//!    (the same rules the builder used);
//! 4. every named output exists, and output names are distinct;
//! 5. source names (inputs, params, states) are distinct within their kind.

use super::{infer, Graph, Op};
use petgraph::visit::EdgeRef;
use petgraph::Direction;
use std::collections::HashSet;

/// The first broken invariant, in words.
pub fn verify(graph: &Graph) -> Result<(), String> {
    for id in graph.g.node_indices() {
        let node = &graph.g[id];
        let mut positions: Vec<u32> = Vec::new();
        for e in graph.g.edges_directed(id, Direction::Incoming) {
            if e.source().index() >= id.index() {
                return Err(format!(
                    "%{} uses the later node %{}",
                    id.index(),
                    e.source().index()
                ));
            }
            positions.push(*e.weight());
        }
        positions.sort_unstable();
        if positions.iter().enumerate().any(|(i, &p)| p as usize != i) {
            return Err(format!(
                "%{} has operand positions {positions:?}",
                id.index()
            ));
        }
        let args = graph.operands(id);
        let tys: Vec<_> = args.iter().map(|&a| graph.ty(a)).collect();
        match infer(&node.op, &tys, &node.ty) {
            Ok(ty) if ty == node.ty => {}
            Ok(ty) => {
                return Err(format!(
                    "%{} = {} is typed {} but computes {}",
                    id.index(),
                    node.op.name(),
                    node.ty,
                    ty
                ))
            }
            Err(e) => return Err(format!("%{} = {}: {e}", id.index(), node.op.name())),
        }
    }
    let mut names = HashSet::new();
    for (name, id) in &graph.outputs {
        if graph.g.node_weight(*id).is_none() {
            return Err(format!("output `{name}` names no node"));
        }
        if !names.insert(name) {
            return Err(format!("output `{name}` is named twice"));
        }
    }
    let mut sources = HashSet::new();
    for id in graph.g.node_indices() {
        let key = match &graph.g[id].op {
            Op::Input(n) => ("input", n),
            Op::Param(n) => ("param", n),
            Op::State(n) => ("state", n),
            _ => continue,
        };
        if !sources.insert(key) {
            return Err(format!("{} `{}` appears twice", key.0, key.1));
        }
    }
    Ok(())
}
