//! Building a graph: every new node is typed by [`infer`] from its
//! operands, and a node that computes what an existing one computes (same
//! op, same operands, same type) is that node.

use super::io::{Input, Output};
use super::{infer, DType, Graph, Node, NodeId, Op, ReduceOp, Size, TensorTy, TypeError};
use super::{BinaryOp, UnaryOp};
use crate::diagnostic::Loc;
use std::collections::HashMap;

/// A graph under construction.
#[derive(Default)]
pub struct Builder {
    graph: Graph,
    /// Where new nodes say they come from.
    pub loc: Option<Loc>,
    existing: HashMap<(Op, Vec<NodeId>, TensorTy), NodeId>,
}

impl Builder {
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Continues building on `graph` (whose nodes become shareable).
    pub fn on(graph: Graph) -> Builder {
        let existing = graph
            .ids()
            .map(|id| {
                let n = graph.node(id);
                ((n.op.clone(), n.args.clone(), n.ty.clone()), id)
            })
            .collect();
        Builder {
            graph,
            loc: None,
            existing,
        }
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    pub fn finish(self) -> Graph {
        self.graph
    }

    pub fn ty(&self, id: NodeId) -> &TensorTy {
        self.graph.ty(id)
    }

    pub fn set_output(&mut self, which: Output, id: NodeId) {
        match self.graph.outputs.iter_mut().find(|(o, _)| *o == which) {
            Some(slot) => slot.1 = id,
            None => self.graph.outputs.push((which, id)),
        }
    }

    /// Adds a node after checking its operands; `given` is the result type
    /// for ops whose result is not implied by the operands (see [`infer`]).
    pub fn try_add(
        &mut self,
        op: Op,
        args: &[NodeId],
        given: TensorTy,
    ) -> Result<NodeId, TypeError> {
        let tys: Vec<&TensorTy> = args.iter().map(|&a| self.graph.ty(a)).collect();
        let ty = infer(&op, &tys, &given)?;
        let key = (op, args.to_vec(), ty);
        if let Some(&id) = self.existing.get(&key) {
            return Ok(id);
        }
        let id = NodeId(self.graph.nodes.len() as u32);
        self.graph.nodes.push(Node {
            op: key.0.clone(),
            args: key.1.clone(),
            ty: key.2.clone(),
            loc: self.loc,
        });
        self.existing.insert(key, id);
        Ok(id)
    }

    /// [`Builder::try_add`] for the compiler's own rewrites, whose operand
    /// types are right by construction: a failure is a compiler bug.
    pub fn add(&mut self, op: Op, args: &[NodeId], given: TensorTy) -> NodeId {
        match self.try_add(op.clone(), args, given) {
            Ok(id) => id,
            Err(e) => panic!("internal error: ill-typed {}: {e}", op.text()),
        }
    }

    /// [`Builder::add`] for ops whose type follows from the operands.
    pub fn op(&mut self, op: Op, args: &[NodeId]) -> NodeId {
        let given = self.ty(args[0]).clone();
        self.add(op, args, given)
    }

    /// The node reading `input` (one per input: asking again gives the
    /// same node).
    pub fn input(&mut self, input: Input, ty: TensorTy) -> NodeId {
        self.add(Op::Input(input), &[], ty)
    }

    pub fn constant(&mut self, value: f64, dtype: DType) -> NodeId {
        self.add(Op::constant(value), &[], TensorTy::scalar(dtype))
    }

    /// A size's value as a scalar: a constant when it does not depend on
    /// the batch.
    pub fn size_of(&mut self, size: Size, dtype: DType) -> NodeId {
        match size.as_fixed() {
            Some(n) => self.constant(n as f64, dtype),
            None => self.add(Op::SizeOf(size), &[], TensorTy::scalar(dtype)),
        }
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

    pub fn select(&mut self, cond: NodeId, a: NodeId, b: NodeId) -> NodeId {
        let given = self.ty(a).clone();
        self.add(Op::Select, &[cond, a, b], given)
    }

    pub fn cast(&mut self, a: NodeId, dtype: DType) -> NodeId {
        if self.ty(a).dtype == dtype {
            return a;
        }
        let shape = self.ty(a).shape.clone();
        self.add(Op::Cast, &[a], TensorTy::new(dtype, shape))
    }

    pub fn reshape(&mut self, a: NodeId, shape: &[Size]) -> NodeId {
        // A reshape of a reshape is one reshape of the original.
        let node = self.graph.node(a);
        let a = if node.op == Op::Reshape {
            node.args[0]
        } else {
            a
        };
        if self.ty(a).shape == shape {
            return a;
        }
        let dtype = self.ty(a).dtype;
        self.add(Op::Reshape, &[a], TensorTy::new(dtype, shape.to_vec()))
    }

    /// NumPy broadcasting of `a` to `shape`: leading axes added, size-1
    /// axes repeated.
    pub fn broadcast_to(&mut self, a: NodeId, shape: &[Size]) -> NodeId {
        let ty = self.ty(a).clone();
        if ty.shape == shape {
            return a;
        }
        let mut padded = vec![Size::ONE; shape.len().saturating_sub(ty.rank())];
        padded.extend(&ty.shape);
        let a = self.reshape(a, &padded);
        self.add(Op::Broadcast, &[a], TensorTy::new(ty.dtype, shape.to_vec()))
    }

    /// Sums `a` down to `shape` (the reverse of [`Builder::broadcast_to`]).
    pub fn sum_to(&mut self, a: NodeId, shape: &[Size]) -> NodeId {
        let from = self.ty(a).shape.clone();
        if from == shape {
            return a;
        }
        let lead = from.len() - shape.len();
        let axes: Vec<usize> = (0..from.len())
            .filter(|&i| i < lead || (shape[i - lead] == Size::ONE && from[i] != Size::ONE))
            .collect();
        let summed = self.reduce(ReduceOp::Sum, a, axes);
        self.reshape(summed, shape)
    }

    pub fn reduce(&mut self, op: ReduceOp, a: NodeId, axes: Vec<usize>) -> NodeId {
        if axes.is_empty() {
            return a;
        }
        self.op(Op::Reduce { op, axes }, &[a])
    }

    /// Swaps the last two axes.
    pub fn transpose_last(&mut self, a: NodeId) -> NodeId {
        let rank = self.ty(a).rank();
        let mut perm: Vec<usize> = (0..rank).collect();
        perm.swap(rank - 2, rank - 1);
        self.op(Op::Permute(perm), &[a])
    }
}
