//! The IR as text (`%3 = matmul %1, %2 : f32[B, 128]`) and as Graphviz
//! DOT. The text form is what [`super::parse`] reads back.

use super::Graph;
use std::fmt::Write;

/// One line per node in topological order, then the outputs.
pub fn text(graph: &Graph) -> String {
    let mut out = String::new();
    for id in graph.ids() {
        let node = graph.node(id);
        let args: Vec<String> = node.args.iter().map(|a| a.to_string()).collect();
        let sep = if args.is_empty() { "" } else { " " };
        let _ = writeln!(
            out,
            "{id} = {}{sep}{} : {}",
            node.op.text(),
            args.join(", "),
            node.ty
        );
    }
    for (output, id) in &graph.outputs {
        let _ = writeln!(out, "output {output} = {id}");
    }
    out
}

/// Graphviz DOT: sources as boxes, outputs as double octagons.
pub fn dot(graph: &Graph) -> String {
    let mut out = String::from(
        "digraph step {\n  rankdir=TB;\n  node [fontname=\"monospace\", fontsize=10];\n",
    );
    for id in graph.ids() {
        let node = graph.node(id);
        let shape = if node.args.is_empty() {
            "box"
        } else {
            "ellipse"
        };
        let label = format!("{id} {}\\n{}", node.op.text(), node.ty).replace('"', "\\\"");
        let _ = writeln!(out, "  n{} [label=\"{label}\", shape={shape}];", id.0);
        for a in &node.args {
            let _ = writeln!(out, "  n{} -> n{};", a.0, id.0);
        }
    }
    for (i, (output, id)) in graph.outputs.iter().enumerate() {
        let name = output.to_string().replace('"', "\\\"");
        let _ = writeln!(out, "  out{i} [label=\"{name}\", shape=doubleoctagon];");
        let _ = writeln!(out, "  n{} -> out{i};", id.0);
    }
    out.push_str("}\n");
    out
}
