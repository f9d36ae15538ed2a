//! Floating-point operations of a graph's nodes, counted the usual way: a
//! multiply-add is two, an elementwise op one per element, a reduction one
//! per element reduced; data movement, gathers and constants none.

use crate::ir::{Graph, NodeId, Op};

/// The operations node `id` of `graph` performs at batch size `batch`.
pub fn of_node(graph: &Graph, id: NodeId, batch: usize) -> u64 {
    let node = graph.node(id);
    let elements = |n: NodeId| -> u64 {
        graph
            .ty(n)
            .at(batch)
            .map_or(0, |s| s.iter().product::<usize>() as u64)
    };
    let dims = |n: NodeId| graph.ty(n).at(batch).unwrap_or_default();
    let out = elements(id);
    match &node.op {
        Op::Input(_) | Op::Constant(_) | Op::SizeOf(_) | Op::Iota(_) => 0,
        Op::Broadcast | Op::Reshape | Op::Permute(_) | Op::Concat(_) | Op::Slice { .. } => 0,
        Op::Gather => 0,
        Op::Unary(_) | Op::Binary(_) | Op::Select | Op::Cast | Op::Random { .. } => out,
        Op::Reduce { .. } | Op::ArgMax(_) => node.args.first().map_or(0, |&a| elements(a)),
        // [.., M, K] @ [.., K, N]: K multiply-adds per result element.
        Op::MatMul => {
            let k = node
                .args
                .first()
                .and_then(|&a| dims(a).last().copied())
                .unwrap_or(0);
            2 * out * k as u64
        }
        // w[O, C, KH, KW]: C·KH·KW multiply-adds per output element (of
        // the convolution, or of the gradient it is the transpose of).
        Op::Conv { .. } | Op::ConvInputGrad { .. } => {
            let per = node.args.get(1).map_or(0, |&w| window(&dims(w)));
            let grad = match node.op {
                Op::Conv { .. } => out,
                _ => node.args.first().map_or(0, |&g| elements(g)),
            };
            2 * grad * per
        }
        // Operands x, g: each weight gathers over B·OH·OW positions, i.e.
        // g's elements times C·KH·KW over O.
        Op::ConvWeightGrad { .. } => {
            let w = dims(id);
            let g = node.args.get(1).map_or(0, |&g| elements(g));
            2 * g * window(&w)
        }
        Op::Pool { k, .. } => out * (*k * *k) as u64,
        Op::PoolGrad { k, .. } => node.args.get(1).map_or(0, |&g| elements(g)) * (*k * *k) as u64,
        Op::ScatterAdd => node.args.get(1).map_or(0, |&g| elements(g)),
    }
}

/// C·KH·KW of a weight `[O, C, KH, KW]`.
fn window(w: &[usize]) -> u64 {
    w.iter().skip(1).product::<usize>() as u64
}

/// The operations of every node of `graph` that its outputs need, at
/// batch size `batch`.
pub fn of_graph(graph: &Graph, batch: usize) -> u64 {
    needed(graph)
        .iter()
        .enumerate()
        .filter(|(_, &n)| n)
        .map(|(i, _)| of_node(graph, NodeId(i as u32), batch))
        .sum()
}

/// Which nodes the graph's outputs depend on (lowering may leave others).
pub fn needed(graph: &Graph) -> Vec<bool> {
    let mut needed = vec![false; graph.len()];
    let mut stack: Vec<NodeId> = graph.outputs.iter().map(|(_, id)| *id).collect();
    while let Some(id) = stack.pop() {
        if std::mem::replace(&mut needed[id.index()], true) {
            continue;
        }
        stack.extend(graph.node(id).args.iter().copied());
    }
    needed
}
