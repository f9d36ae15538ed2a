//! The IR's invariants, checked between stages. Only a [`Verified`] graph
//! reaches the compiled program, and so a back end.
//!
//! A graph is well formed when:
//! 1. every operand is an earlier node (so the arena order is a
//!    topological order; an operand that is not is reported, and so is a
//!    cycle, found with petgraph);
//! 2. each node has as many operands as its op takes;
//! 3. each node's type is what [`infer`] gives for its op and operand types
//!    (the same rule the builder used), and no size is a multiple of `B*B`;
//! 4. every output names a node, and no output appears twice;
//! 5. no input appears twice.
//!
//! [`check`] reports every broken invariant, not only the first.

use super::{infer, Arity, Graph, NodeId, Op};
use std::collections::HashSet;
use std::fmt;

/// One broken invariant, at a node when it is about one.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifyError {
    pub node: Option<NodeId>,
    pub message: String,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.node {
            Some(n) => write!(f, "{n}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// A graph that passed [`verify`]; the stages after verification take
/// this, not a [`Graph`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "Graph", into = "Graph")]
pub struct Verified(Graph);

impl Verified {
    pub fn graph(&self) -> &Graph {
        &self.0
    }

    pub fn into_graph(self) -> Graph {
        self.0
    }
}

impl std::ops::Deref for Verified {
    type Target = Graph;
    fn deref(&self) -> &Graph {
        &self.0
    }
}

impl From<Verified> for Graph {
    fn from(v: Verified) -> Graph {
        v.0
    }
}

/// A graph read back (from JSON) is verified again.
impl TryFrom<Graph> for Verified {
    type Error = String;
    fn try_from(g: Graph) -> Result<Verified, String> {
        verify(g).map_err(|errors| render(&errors))
    }
}

/// The errors one per line.
pub fn render(errors: &[VerifyError]) -> String {
    let lines: Vec<String> = errors.iter().map(VerifyError::to_string).collect();
    lines.join("\n")
}

pub fn verify(graph: Graph) -> Result<Verified, Vec<VerifyError>> {
    let errors = check(&graph);
    if errors.is_empty() {
        Ok(Verified(graph))
    } else {
        Err(errors)
    }
}

/// Every broken invariant of `graph`.
pub fn check(graph: &Graph) -> Vec<VerifyError> {
    let mut errors = Vec::new();
    let mut at = |node: Option<NodeId>, message: String| errors.push(VerifyError { node, message });
    let mut forward = false;
    for id in graph.ids() {
        let node = graph.node(id);
        let mut usable = true;
        for a in &node.args {
            if a.index() >= graph.len() {
                at(Some(id), format!("uses {a}, which does not exist"));
                usable = false;
            } else if *a >= id {
                at(Some(id), format!("uses {a}, which comes after it"));
                forward = true;
                usable = false;
            }
        }
        let arity_ok = match node.op.arity() {
            Arity::Exactly(n) => node.args.len() == n,
            Arity::AtLeastOne => !node.args.is_empty(),
        };
        if !arity_ok {
            at(
                Some(id),
                format!("{} has {} operands", node.op.text(), node.args.len()),
            );
            usable = false;
        }
        if !usable {
            continue;
        }
        let tys: Vec<_> = node.args.iter().map(|&a| graph.ty(a)).collect();
        match infer(&node.op, &tys, &node.ty) {
            Ok(ty) if ty == node.ty => {}
            Ok(ty) => at(
                Some(id),
                format!("{} is typed {} but computes {ty}", node.op.text(), node.ty),
            ),
            Err(e) => at(Some(id), format!("{}: {e}", node.op.text())),
        }
    }
    if forward && petgraph::algo::is_cyclic_directed(&graph.to_petgraph()) {
        at(None, "the graph has a cycle".into());
    }
    let mut outputs = HashSet::new();
    for (output, id) in &graph.outputs {
        if id.index() >= graph.len() {
            at(
                None,
                format!("output {output} names {id}, which does not exist"),
            );
        }
        if !outputs.insert(output) {
            at(None, format!("output {output} appears twice"));
        }
    }
    let mut inputs = HashSet::new();
    for id in graph.ids() {
        if let Op::Input(input) = &graph.node(id).op {
            if !inputs.insert(input) {
                at(Some(id), format!("input {input} appears twice"));
            }
        }
    }
    errors
}
