//! The reference interpreter: executes an IR graph node by node on host
//! tensors. It is the oracle that later backends are tested against.
//!
//! Only the nodes that some output needs are computed, and each value is
//! dropped after its last use.

mod ops;

pub use ops::gemm_into;

use crate::tensor::Tensor;
use dlp_compiler::ir::{Graph, NodeId, Op};
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

/// A failure while running a graph (a missing or mistyped source value, an
/// index out of range).
#[derive(Clone, Debug, PartialEq)]
pub struct RunError(pub String);

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RunError {}

/// The values of a graph's sources, by name. Optimiser state that is
/// missing starts at zero.
#[derive(Default)]
pub struct Bindings<'a> {
    pub inputs: HashMap<&'a str, &'a Tensor>,
    pub params: Option<&'a HashMap<String, Tensor>>,
    pub states: Option<&'a HashMap<String, Tensor>>,
}

/// A graph prepared for repeated runs.
pub struct Interpreter<'g> {
    graph: &'g Graph,
    /// The nodes outputs depend on, in topological order.
    order: Vec<NodeId>,
    /// How many needed nodes (and outputs) read each node.
    uses: Vec<usize>,
    /// Each needed node's operands.
    operands: Vec<Vec<NodeId>>,
}

impl<'g> Interpreter<'g> {
    pub fn new(graph: &'g Graph) -> Interpreter<'g> {
        let n = graph.g.node_count();
        let mut needed = vec![false; n];
        for (_, id) in &graph.outputs {
            needed[id.index()] = true;
        }
        for id in graph.topo_order().into_iter().rev() {
            if needed[id.index()] {
                for a in graph.operands(id) {
                    needed[a.index()] = true;
                }
            }
        }
        let order: Vec<NodeId> = graph
            .topo_order()
            .into_iter()
            .filter(|id| needed[id.index()])
            .collect();
        let mut uses = vec![0; n];
        let mut operands = vec![Vec::new(); n];
        for &id in &order {
            operands[id.index()] = graph.operands(id);
            for a in &operands[id.index()] {
                uses[a.index()] += 1;
            }
        }
        for (_, id) in &graph.outputs {
            uses[id.index()] += 1;
        }
        Interpreter {
            graph,
            order,
            uses,
            operands,
        }
    }

    /// Runs the graph; returns the outputs in the graph's output order.
    pub fn run(&self, b: &Bindings) -> Result<Vec<(String, Tensor)>, RunError> {
        let mut values: Vec<Option<Cow<Tensor>>> = vec![None; self.graph.g.node_count()];
        let mut left = self.uses.clone();
        for &id in &self.order {
            let node = self.graph.node(id);
            let args = &self.operands[id.index()];
            let value = {
                let arg_values: Vec<&Tensor> = args
                    .iter()
                    .map(|a| values[a.index()].as_deref().expect("operands come first"))
                    .collect();
                self.eval(id, &arg_values, b)?
            };
            // Compared in place: `ty()` would copy the shape for every node of every step.
            if value.dtype() != node.ty.dtype || value.shape != node.ty.shape {
                return Err(RunError(format!(
                    "{} is {} but the graph expects {}",
                    describe(&node.op),
                    value.ty(),
                    node.ty
                )));
            }
            values[id.index()] = Some(value);
            for a in args {
                left[a.index()] -= 1;
                if left[a.index()] == 0 {
                    values[a.index()] = None;
                }
            }
        }
        Ok(self
            .graph
            .outputs
            .iter()
            .map(|(name, id)| {
                let v = values[id.index()].as_deref().expect("outputs are computed");
                (name.clone(), v.clone())
            })
            .collect())
    }

    fn eval<'b>(
        &self,
        id: NodeId,
        args: &[&Tensor],
        b: &Bindings<'b>,
    ) -> Result<Cow<'b, Tensor>, RunError> {
        let node = self.graph.node(id);
        let ty = &node.ty;
        let owned = |t: Tensor| Ok(Cow::Owned(t));
        match &node.op {
            Op::Input(name) => b
                .inputs
                .get(name.as_str())
                .map(|t| Cow::Borrowed(*t))
                .ok_or_else(|| RunError(format!("no value for input `{name}`"))),
            Op::Param(path) => b
                .params
                .and_then(|p| p.get(path))
                .map(Cow::Borrowed)
                .ok_or_else(|| RunError(format!("no value for parameter `{path}`"))),
            Op::State(name) => Ok(match b.states.and_then(|s| s.get(name)) {
                Some(t) => Cow::Borrowed(t),
                None => Cow::Owned(Tensor::zeros(ty)),
            }),
            Op::Constant(v) => owned(Tensor::from_f64(ty, vec![*v])),
            Op::Iota(axis) => owned(ops::iota(*axis, ty)),
            Op::Unary(u) => owned(ops::unary(*u, args[0])),
            Op::Binary(op) => owned(ops::binary(*op, args[0], args[1])),
            Op::Select => owned(ops::select(args[0], args[1], args[2])),
            Op::Cast => owned(ops::cast(args[0], ty.dtype)),
            Op::Random { dist, stream } => {
                let seed = args[0].item() as i32;
                let counter = args[1].item() as i32;
                owned(ops::random(*dist, *stream, seed, counter, ty))
            }
            Op::Reduce { op, axes } => owned(ops::reduce(*op, args[0], axes, ty)),
            Op::ArgMax(axis) => owned(ops::argmax(args[0], *axis, ty)),
            Op::Broadcast => owned(ops::broadcast(args[0], ty)),
            Op::Reshape => owned(Tensor::new(ty.shape.clone(), args[0].data.clone())),
            Op::Permute(perm) => owned(ops::permute(args[0], perm, ty)),
            Op::Concat(axis) => owned(ops::concat(args, *axis, ty)),
            Op::Slice { axis, start, .. } => owned(ops::slice(args[0], *axis, *start, ty)),
            Op::MatMul => owned(ops::matmul(args[0], args[1], ty)),
            Op::Conv { stride, pad } => owned(ops::conv(args[0], args[1], *stride, *pad, ty)),
            Op::ConvInputGrad { stride, pad } => {
                owned(ops::conv_input_grad(args[0], args[1], *stride, *pad, ty))
            }
            Op::ConvWeightGrad { stride, pad } => {
                owned(ops::conv_weight_grad(args[0], args[1], *stride, *pad, ty))
            }
            Op::Pool { kind, k, stride } => owned(ops::pool(*kind, args[0], *k, *stride, ty)),
            Op::PoolGrad { kind, k, stride } => {
                owned(ops::pool_grad(*kind, args[0], args[1], *k, *stride))
            }
            Op::Gather => ops::gather(args[0], args[1], ty).map(Cow::Owned),
            Op::ScatterAdd => ops::scatter_add(args[0], args[1], ty).map(Cow::Owned),
        }
    }
}

fn describe(op: &Op) -> String {
    match op {
        Op::Input(n) => format!("input `{n}`"),
        Op::Param(n) => format!("parameter `{n}`"),
        Op::State(n) => format!("state `{n}`"),
        other => other.name(),
    }
}
