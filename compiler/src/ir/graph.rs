//! A graph: nodes in an arena, each holding its op, its operands in order,
//! its type and where in the source it came from.
//!
//! Nodes are only ever appended and an operand must exist before the node
//! that uses it, so the arena's order is a topological order and a graph
//! built through [`super::Builder`] cannot have a cycle. (A graph read
//! from text can; the verifier finds it with petgraph.) Passes that change
//! structure build a new graph rather than editing this one.

use super::io::{Input, Output};
use super::{Op, TensorTy};
use crate::diagnostic::Loc;
use std::fmt;

/// A node of one graph; prints as the textual IR does (`%12`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u32);

impl NodeId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "%{}", self.0)
    }
}

impl serde::Serialize for NodeId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.0)
    }
}

impl<'de> serde::Deserialize<'de> for NodeId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<NodeId, D::Error> {
        u32::deserialize(d).map(NodeId)
    }
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Node {
    pub op: Op,
    pub args: Vec<NodeId>,
    pub ty: TensorTy,
    /// The source expression this node computes (part of), if any. Not
    /// serialised: it indexes the compiling process's source map.
    #[serde(skip)]
    pub loc: Option<Loc>,
}

/// A graph of primitive ops with typed outputs.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub outputs: Vec<(Output, NodeId)>,
}

impl Graph {
    pub fn new() -> Graph {
        Graph::default()
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.index()]
    }

    pub fn ty(&self, id: NodeId) -> &TensorTy {
        &self.nodes[id.index()].ty
    }

    pub fn args(&self, id: NodeId) -> &[NodeId] {
        &self.nodes[id.index()].args
    }

    /// Every node id, in topological order (operands first).
    pub fn ids(&self) -> impl DoubleEndedIterator<Item = NodeId> + ExactSizeIterator {
        (0..self.nodes.len() as u32).map(NodeId)
    }

    pub fn output(&self, which: &Output) -> Option<NodeId> {
        self.outputs
            .iter()
            .find(|(o, _)| o == which)
            .map(|(_, id)| *id)
    }

    /// The input nodes, in order.
    pub fn inputs(&self) -> impl Iterator<Item = (&Input, NodeId)> {
        self.ids().filter_map(|id| {
            if let Op::Input(i) = &self.node(id).op {
                Some((i, id))
            } else {
                None
            }
        })
    }

    pub fn input(&self, which: &Input) -> Option<NodeId> {
        self.inputs().find(|(i, _)| *i == which).map(|(_, id)| id)
    }

    /// For each node, whether some output depends on it.
    pub fn live(&self) -> Vec<bool> {
        let mut live = vec![false; self.nodes.len()];
        for (_, id) in &self.outputs {
            live[id.index()] = true;
        }
        for id in self.ids().rev() {
            if live[id.index()] {
                for a in self.args(id) {
                    live[a.index()] = true;
                }
            }
        }
        live
    }

    /// The graph without the nodes no output depends on (e.g. the dropout
    /// mask of an evaluation step, whose `where(training(), ..)` chose the
    /// other branch), in the same order.
    pub fn pruned(&self) -> Graph {
        let live = self.live();
        let mut out = Graph::new();
        let mut new_id = vec![NodeId(u32::MAX); self.nodes.len()];
        for id in self.ids().filter(|id| live[id.index()]) {
            let node = self.node(id);
            new_id[id.index()] = NodeId(out.nodes.len() as u32);
            out.nodes.push(Node {
                args: node.args.iter().map(|a| new_id[a.index()]).collect(),
                ..node.clone()
            });
        }
        out.outputs = self
            .outputs
            .iter()
            .map(|(o, id)| (o.clone(), new_id[id.index()]))
            .collect();
        out
    }

    /// The graph as a petgraph graph (edges from operand to user), for the
    /// algorithms petgraph is good at: cycle detection, dominators.
    pub fn to_petgraph(&self) -> petgraph::graph::DiGraph<(), u32> {
        let mut g = petgraph::graph::DiGraph::with_capacity(self.nodes.len(), self.nodes.len());
        for _ in &self.nodes {
            g.add_node(());
        }
        for (i, node) in self.nodes.iter().enumerate() {
            for (k, a) in node.args.iter().enumerate() {
                if a.index() < self.nodes.len() {
                    g.add_edge(
                        petgraph::graph::NodeIndex::new(a.index()),
                        petgraph::graph::NodeIndex::new(i),
                        k as u32,
                    );
                }
            }
        }
        g
    }
}
