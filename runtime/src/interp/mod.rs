//! The reference interpreter: executes a verified IR graph node by node on
//! host tensors. It is the oracle every back end is tested against, so it
//! shares no kernels with them: each op is a plain loop (`ops`), and each
//! elementwise op calls the IR's one scalar definition
//! (`dlp_compiler::ir::elementwise`).
//!
//! Only the nodes that some output needs are computed, and each value is
//! dropped after its last use. Sizes that depend on the batch are fixed by
//! the batch size of each run.

// A new op or dtype must be a compile error here, not a silent default.
#![deny(clippy::wildcard_enum_match_arm)]

mod ops;
mod planned;

pub(crate) use ops::row_ids;

use crate::tensor::{HostTy, Tensor};
use dlp_compiler::ir::{Graph, Input, NodeId, Op, Output, RandomKey, Verified};
use std::borrow::Cow;
use std::fmt;

/// A failure while running a graph (a missing or mistyped input value, an
/// index out of range).
#[derive(Clone, Debug, PartialEq)]
pub struct RunError(pub String);

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RunError {}

/// Where a run's inputs come from: `None` for an input that has no value
/// (optimiser and model state then start at zero).
pub type Inputs<'a> = dyn Fn(&Input) -> Option<&'a Tensor> + Sync + 'a;

/// A graph prepared for repeated runs.
pub struct Interpreter<'g> {
    graph: &'g Graph,
    /// The nodes outputs depend on, in topological order.
    order: Vec<NodeId>,
    /// How many needed nodes (and outputs) read each node.
    uses: Vec<usize>,
}

impl<'g> Interpreter<'g> {
    pub fn new(graph: &'g Verified) -> Interpreter<'g> {
        let graph = graph.graph();
        let live = graph.live();
        let order: Vec<NodeId> = graph.ids().filter(|id| live[id.index()]).collect();
        let mut uses = vec![0; graph.len()];
        for &id in &order {
            for a in graph.args(id) {
                uses[a.index()] += 1;
            }
        }
        for (_, id) in &graph.outputs {
            uses[id.index()] += 1;
        }
        Interpreter { graph, order, uses }
    }

    /// Runs the graph for a batch of `batch` samples; returns the outputs
    /// in the graph's output order.
    pub fn run<'a>(
        &self,
        batch: usize,
        inputs: &Inputs<'a>,
    ) -> Result<Vec<(Output, Tensor)>, RunError> {
        let mut values: Vec<Option<Cow<Tensor>>> = vec![None; self.graph.len()];
        let mut left = self.uses.clone();
        for &id in &self.order {
            let node = self.graph.node(id);
            let value = {
                let args: Vec<&Tensor> = node
                    .args
                    .iter()
                    .map(|a| values[a.index()].as_deref().expect("operands come first"))
                    .collect();
                self.compute(id, &args, batch, inputs)?
            };
            values[id.index()] = Some(value);
            for a in &node.args {
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
            .map(|(output, id)| {
                let v = values[id.index()].as_deref().expect("outputs are computed");
                (output.clone(), v.clone())
            })
            .collect())
    }

    /// The value of node `id` from its operands' values, checked against
    /// the node's type at batch size `batch`.
    pub(crate) fn compute<'a>(
        &self,
        id: NodeId,
        args: &[&Tensor],
        batch: usize,
        inputs: &Inputs<'a>,
    ) -> Result<Cow<'a, Tensor>, RunError> {
        let node = self.graph.node(id);
        let ty = node
            .ty
            .at(batch)
            .map(|shape| HostTy::new(node.ty.dtype, shape))
            .ok_or_else(|| RunError(format!("{} is too large for a batch of {batch}", node.ty)))?;
        let value = self.eval(id, args, &ty, batch, inputs)?;
        if value.dtype() != ty.dtype || value.shape != ty.shape {
            return Err(RunError(format!(
                "{} is {} but the step expects {ty}",
                describe(&node.op),
                value.ty()
            )));
        }
        Ok(value)
    }

    fn eval<'a>(
        &self,
        id: NodeId,
        args: &[&Tensor],
        ty: &HostTy,
        batch: usize,
        inputs: &Inputs<'a>,
    ) -> Result<Cow<'a, Tensor>, RunError> {
        let node = self.graph.node(id);
        let owned = |t: Tensor| Ok(Cow::Owned(t));
        match &node.op {
            Op::Input(input) => match inputs(input) {
                Some(t) => Ok(Cow::Borrowed(t)),
                None => match input {
                    Input::OptimizerState { .. } | Input::ModelState(_) => owned(Tensor::zeros(ty)),
                    Input::Feed(_)
                    | Input::Param(_)
                    | Input::Gradient(_)
                    | Input::Hyper(_)
                    | Input::Seed
                    | Input::SampleIndex => Err(RunError(format!("no value for input {input}"))),
                },
            },
            Op::Constant(bits) => owned(Tensor::from_f64(ty, vec![f64::from_bits(*bits)])),
            Op::SizeOf(size) => owned(Tensor::from_f64(
                ty,
                vec![size.at(batch).unwrap_or(usize::MAX) as f64],
            )),
            Op::Iota(axis) => owned(ops::iota(*axis, ty)),
            Op::Unary(u) => owned(ops::unary(*u, args[0])),
            Op::Binary(op) => owned(ops::binary(*op, args[0], args[1])),
            Op::Select => owned(ops::select(args[0], args[1], args[2])),
            Op::Cast => owned(ops::cast(args[0], ty.dtype)),
            Op::Random { dist, stream, key } => {
                let seed = args[0].item() as i32 as u32;
                let counter = args[1].item() as i32 as u32;
                let draw = ops::Draw {
                    dist: *dist,
                    seed,
                    stream: *stream,
                    counter,
                };
                match key {
                    RandomKey::Step => owned(ops::random(&draw, ty)),
                    RandomKey::Sample => {
                        let axis = node.ty.batch_axis().expect("verified: a batch axis");
                        let per_sample = node.ty.shape[axis].batch;
                        ops::random_by_sample(&draw, args[2], axis, per_sample, ty).map(Cow::Owned)
                    }
                }
            }
            Op::Reduce { op, axes } => owned(ops::reduce(*op, args[0], axes, ty)),
            Op::ArgMax(axis) => owned(ops::argmax(args[0], *axis, ty)),
            Op::Broadcast => owned(ops::broadcast(args[0], ty)),
            Op::Reshape => owned(Tensor::new(ty.shape.clone(), args[0].data.clone())),
            Op::Permute(perm) => owned(ops::permute(args[0], perm, ty)),
            Op::Concat(axis) => owned(ops::concat(args, *axis, ty)),
            Op::Slice { axis, start, .. } => {
                let start = start.at(batch).unwrap_or(usize::MAX);
                owned(ops::slice(args[0], *axis, start, ty))
            }
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
    if let Op::Input(i) = op {
        format!("input {i}")
    } else {
        op.text()
    }
}
