//! The intermediate representation: a graph of primitive ops.
//!
//! A [`Graph`] is a petgraph DAG whose nodes are [`Node`]s (an [`Op`], the
//! concrete type it produces, and the source place it came from) and whose
//! edges carry the operand position. Every size is a number: a graph is
//! built for one batch size. Named outputs say what a step produces (the
//! loss, each metric, the new value of each parameter).
//!
//! Stages that touch a graph: [`crate::lower`] builds it, [`crate::autodiff`]
//! adds the backward pass, [`crate::optim`] the update; [`verify`] checks
//! its invariants between them; [`print`] shows it as text or Graphviz DOT.

mod op;
pub mod print;
pub mod verify;

pub use op::{infer, window_out, BinaryOp, Dist, Op, PoolKind, ReduceOp, TypeError, UnaryOp};

use crate::diagnostic::Loc;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use petgraph::Direction;
use std::fmt;

pub type NodeId = NodeIndex<u32>;

/// The element types the IR computes with. Source dtypes map onto these:
/// `u8`, `i64` and `class(n)` data are carried as `I32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum DType {
    F32,
    F64,
    I32,
    Bool,
}

impl DType {
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64)
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::I32 => "i32",
            DType::Bool => "bool",
        })
    }
}

/// A concrete tensor type: `f32[64, 256]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct TensorTy {
    pub dtype: DType,
    pub shape: Vec<usize>,
}

impl TensorTy {
    pub fn new(dtype: DType, shape: Vec<usize>) -> TensorTy {
        TensorTy { dtype, shape }
    }

    pub fn scalar(dtype: DType) -> TensorTy {
        TensorTy::new(dtype, Vec::new())
    }

    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

impl fmt::Display for TensorTy {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let dims: Vec<String> = self.shape.iter().map(|d| d.to_string()).collect();
        write!(f, "{}[{}]", self.dtype, dims.join(", "))
    }
}

#[derive(Clone, Debug)]
pub struct Node {
    pub op: Op,
    pub ty: TensorTy,
    /// The source expression this node computes (part of), if any.
    pub loc: Option<Loc>,
}

/// A graph of primitive ops with named outputs.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    pub g: DiGraph<Node, u32>,
    pub outputs: Vec<(String, NodeId)>,
    /// Where new nodes say they come from.
    pub loc: Option<Loc>,
}

impl Graph {
    pub fn new() -> Graph {
        Graph::default()
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.g[id]
    }

    pub fn ty(&self, id: NodeId) -> &TensorTy {
        &self.g[id].ty
    }

    /// A node's operands, in order.
    pub fn operands(&self, id: NodeId) -> Vec<NodeId> {
        let mut edges: Vec<(u32, NodeId)> = self
            .g
            .edges_directed(id, Direction::Incoming)
            .map(|e| (*e.weight(), e.source()))
            .collect();
        edges.sort_unstable();
        edges.into_iter().map(|(_, n)| n).collect()
    }

    pub fn output(&self, name: &str) -> Option<NodeId> {
        self.outputs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, id)| *id)
    }

    pub fn set_output(&mut self, name: impl Into<String>, id: NodeId) {
        let name = name.into();
        match self.outputs.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = id,
            None => self.outputs.push((name, id)),
        }
    }

    /// Every node of one of the source kinds, by name, in creation order.
    pub fn sources(&self, pick: impl Fn(&Op) -> Option<&str>) -> Vec<(String, NodeId)> {
        self.g
            .node_indices()
            .filter_map(|id| pick(&self.g[id].op).map(|n| (n.to_string(), id)))
            .collect()
    }

    pub fn inputs(&self) -> Vec<(String, NodeId)> {
        self.sources(|op| match op {
            Op::Input(n) => Some(n),
            _ => None,
        })
    }

    pub fn params(&self) -> Vec<(String, NodeId)> {
        self.sources(|op| match op {
            Op::Param(n) => Some(n),
            _ => None,
        })
    }

    pub fn states(&self) -> Vec<(String, NodeId)> {
        self.sources(|op| match op {
            Op::State(n) => Some(n),
            _ => None,
        })
    }

    /// Adds a node after checking its operands; `given` is the result type
    /// for ops whose result is not implied by the operands (see [`infer`]).
    pub fn try_add(
        &mut self,
        op: Op,
        args: &[NodeId],
        given: TensorTy,
    ) -> Result<NodeId, TypeError> {
        let tys: Vec<&TensorTy> = args.iter().map(|&a| self.ty(a)).collect();
        let ty = infer(&op, &tys, &given)?;
        let id = self.g.add_node(Node {
            op,
            ty,
            loc: self.loc,
        });
        for (i, &a) in args.iter().enumerate() {
            self.g.add_edge(a, id, i as u32);
        }
        Ok(id)
    }

    /// [`Graph::try_add`] for the compiler's own rewrites, whose operand
    /// types are right by construction: a failure is a compiler bug.
    pub fn add(&mut self, op: Op, args: &[NodeId], given: TensorTy) -> NodeId {
        match self.try_add(op.clone(), args, given) {
            Ok(id) => id,
            Err(e) => panic!("internal error: ill-typed {}: {e}", op.name()),
        }
    }

    /// [`Graph::add`] for ops whose type follows from the operands.
    pub fn op(&mut self, op: Op, args: &[NodeId]) -> NodeId {
        let given = self.ty(args[0]).clone();
        self.add(op, args, given)
    }

    pub fn constant(&mut self, value: f64, dtype: DType) -> NodeId {
        self.add(Op::Constant(value), &[], TensorTy::scalar(dtype))
    }

    /// A constant of `like`'s type everywhere.
    pub fn full_like(&mut self, value: f64, like: NodeId) -> NodeId {
        let ty = self.ty(like).clone();
        let c = self.constant(value, ty.dtype);
        self.broadcast_to(c, &ty.shape)
    }

    pub fn unary(&mut self, u: UnaryOp, a: NodeId) -> NodeId {
        self.op(Op::Unary(u), &[a])
    }

    pub fn binary(&mut self, b: BinaryOp, x: NodeId, y: NodeId) -> NodeId {
        self.op(Op::Binary(b), &[x, y])
    }

    pub fn cast(&mut self, a: NodeId, dtype: DType) -> NodeId {
        if self.ty(a).dtype == dtype {
            return a;
        }
        let shape = self.ty(a).shape.clone();
        self.add(Op::Cast, &[a], TensorTy::new(dtype, shape))
    }

    pub fn reshape(&mut self, a: NodeId, shape: &[usize]) -> NodeId {
        if self.ty(a).shape == shape {
            return a;
        }
        let dtype = self.ty(a).dtype;
        self.add(Op::Reshape, &[a], TensorTy::new(dtype, shape.to_vec()))
    }

    /// NumPy broadcasting of `a` to `shape`: leading axes added, size-1
    /// axes repeated.
    pub fn broadcast_to(&mut self, a: NodeId, shape: &[usize]) -> NodeId {
        let ty = self.ty(a).clone();
        if ty.shape == shape {
            return a;
        }
        let mut padded = vec![1; shape.len().saturating_sub(ty.shape.len())];
        padded.extend(&ty.shape);
        let a = self.reshape(a, &padded);
        self.add(Op::Broadcast, &[a], TensorTy::new(ty.dtype, shape.to_vec()))
    }

    /// Sums `a` down to `shape` (the reverse of [`Graph::broadcast_to`]).
    pub fn sum_to(&mut self, a: NodeId, shape: &[usize]) -> NodeId {
        let from = self.ty(a).shape.clone();
        if from == shape {
            return a;
        }
        let lead = from.len() - shape.len();
        let axes: Vec<usize> = (0..from.len())
            .filter(|&i| i < lead || (shape[i - lead] == 1 && from[i] != 1))
            .collect();
        let summed = self.op(
            Op::Reduce {
                op: ReduceOp::Sum,
                axes,
            },
            &[a],
        );
        self.reshape(summed, shape)
    }

    pub fn reduce(&mut self, op: ReduceOp, a: NodeId, axes: Vec<usize>) -> NodeId {
        if axes.is_empty() {
            return a;
        }
        self.op(Op::Reduce { op, axes }, &[a])
    }

    /// The graph without the nodes no output depends on (e.g. the dropout
    /// mask of an evaluation graph, whose `where(training(), ..)` chose the
    /// other branch), in the same order.
    pub fn pruned(&self) -> Graph {
        let mut live = vec![false; self.g.node_count()];
        for (_, id) in &self.outputs {
            live[id.index()] = true;
        }
        for id in self.topo_order().into_iter().rev() {
            if live[id.index()] {
                for a in self.operands(id) {
                    live[a.index()] = true;
                }
            }
        }
        let mut out = Graph::new();
        let mut new_id = vec![None; self.g.node_count()];
        for id in self.topo_order() {
            if !live[id.index()] {
                continue;
            }
            let n = out.g.add_node(self.g[id].clone());
            for (i, a) in self.operands(id).into_iter().enumerate() {
                let from = new_id[a.index()].expect("operands come first");
                out.g.add_edge(from, n, i as u32);
            }
            new_id[id.index()] = Some(n);
        }
        out.outputs = self
            .outputs
            .iter()
            .map(|(name, id)| (name.clone(), new_id[id.index()].expect("outputs are live")))
            .collect();
        out
    }

    /// Nodes in an order where operands come first.
    pub fn topo_order(&self) -> Vec<NodeId> {
        // Node indices only ever grow and edges only point forward, so
        // creation order is a topological order; the verifier checks it.
        self.g.node_indices().collect()
    }
}
