//! The step run kernel by kernel, as a back end would: each kernel's nodes
//! computed by the oracle's ops, and each kernel's result kept only in the
//! place the memory plan gives it. A result read after its slot was given
//! to another is an error, so running a fused, planned step this way and
//! comparing with [`Interpreter::run`] checks the fusion (nothing missing,
//! nothing out of order) and the plan (nothing overwritten too early).

use super::{Inputs, Interpreter, RunError};
use crate::tensor::Tensor;
use dlp_compiler::fuse::Kernels;
use dlp_compiler::ir::{NodeId, Op, Output};
use dlp_compiler::plan::{MemoryPlan, Place};
use std::borrow::Cow;
use std::collections::HashMap;

impl Interpreter<'_> {
    /// Runs the step as `kernels` in order, storing results as `plan` says.
    pub fn run_planned<'a>(
        &self,
        kernels: &Kernels,
        plan: &MemoryPlan,
        batch: usize,
        inputs: &Inputs<'a>,
    ) -> Result<Vec<(Output, Tensor)>, RunError> {
        // What each slot holds now: the node and its value.
        let mut slots: Vec<Option<(NodeId, Tensor)>> = vec![None; plan.slots.len()];
        let mut outputs: HashMap<NodeId, Tensor> = HashMap::new();
        for kernel in &kernels.kernels {
            let mut local: HashMap<NodeId, Cow<Tensor>> = HashMap::new();
            for &r in &kernel.reads {
                let value = match plan.places[r.index()] {
                    Some(Place::Slot(s)) => match &slots[s] {
                        Some((holder, v)) if *holder == r => Cow::Owned(v.clone()),
                        _ => {
                            return Err(RunError(format!(
                                "{}: {r} was overwritten in slot {s} before it was read",
                                kernel.id
                            )))
                        }
                    },
                    Some(Place::Output) => match outputs.get(&r) {
                        Some(v) => Cow::Owned(v.clone()),
                        None => {
                            return Err(RunError(format!("{}: {r} is not computed yet", kernel.id)))
                        }
                    },
                    Some(Place::Input) => self.input_value(r, batch, inputs)?,
                    None => return Err(RunError(format!("{}: {r} has no place", kernel.id))),
                };
                local.insert(r, value);
            }
            for &n in &kernel.nodes {
                let node = self.graph.node(n);
                let value = {
                    let mut args = Vec::with_capacity(node.args.len());
                    for a in &node.args {
                        match local.get(a) {
                            Some(v) => args.push(v.as_ref()),
                            None => {
                                return Err(RunError(format!(
                                "{}: {n} needs {a}, which the kernel neither reads nor computes",
                                kernel.id
                            )))
                            }
                        }
                    }
                    self.compute(n, &args, batch, inputs)?.into_owned()
                };
                local.insert(n, Cow::Owned(value));
            }
            let root = kernel.root();
            let value = local
                .remove(&root)
                .expect("the root is computed")
                .into_owned();
            match plan.places[root.index()] {
                Some(Place::Slot(s)) => slots[s] = Some((root, value)),
                Some(Place::Output) => {
                    outputs.insert(root, value);
                }
                Some(Place::Input) | None => {
                    return Err(RunError(format!(
                        "{}: {root} has no place to go",
                        kernel.id
                    )))
                }
            }
        }
        self.graph
            .outputs
            .iter()
            .map(|(output, id)| {
                let value = match outputs.get(id) {
                    Some(v) => v.clone(),
                    None => self.input_value(*id, batch, inputs)?.into_owned(),
                };
                Ok((output.clone(), value))
            })
            .collect()
    }

    /// The value of an input node.
    fn input_value<'a>(
        &self,
        id: NodeId,
        batch: usize,
        inputs: &Inputs<'a>,
    ) -> Result<Cow<'a, Tensor>, RunError> {
        if let Op::Input(_) = self.graph.node(id).op {
            self.compute(id, &[], batch, inputs)
        } else {
            Err(RunError(format!(
                "{id} is read before any kernel computes it"
            )))
        }
    }
}
