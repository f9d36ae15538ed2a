//! The IR as text (`%3 = matmul %1, %2 : f32[64, 128]`) and as Graphviz DOT.

use super::Graph;
use std::fmt::Write;

/// One line per node in topological order, then the outputs.
pub fn text(graph: &Graph) -> String {
    let mut out = String::new();
    for id in graph.topo_order() {
        let node = graph.node(id);
        let args: Vec<String> = graph
            .operands(id)
            .iter()
            .map(|a| format!("%{}", a.index()))
            .collect();
        let sep = if args.is_empty() { "" } else { " " };
        let _ = writeln!(
            out,
            "%{} = {}{sep}{} : {}",
            id.index(),
            node.op.name(),
            args.join(", "),
            node.ty
        );
    }
    for (name, id) in &graph.outputs {
        let _ = writeln!(out, "output {name:?} = %{}", id.index());
    }
    out
}

/// Graphviz DOT: sources as boxes, outputs as double octagons.
pub fn dot(graph: &Graph) -> String {
    let mut out = String::from(
        "digraph step {\n  rankdir=TB;\n  node [fontname=\"monospace\", fontsize=10];\n",
    );
    for id in graph.topo_order() {
        let node = graph.node(id);
        let shape = if node.op.arity() == 0 {
            "box"
        } else {
            "ellipse"
        };
        let label =
            format!("%{} {}\\n{}", id.index(), node.op.name(), node.ty).replace('"', "\\\"");
        let _ = writeln!(out, "  n{} [label=\"{label}\", shape={shape}];", id.index());
        for a in graph.operands(id) {
            let _ = writeln!(out, "  n{} -> n{};", a.index(), id.index());
        }
    }
    for (i, (name, id)) in graph.outputs.iter().enumerate() {
        let name = name.replace('"', "\\\"");
        let _ = writeln!(out, "  out{i} [label=\"{name}\", shape=doubleoctagon];");
        let _ = writeln!(out, "  n{} -> out{i};", id.index());
    }
    out.push_str("}\n");
    out
}
