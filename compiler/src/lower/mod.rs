//! Lowering: a checked `train` block to a graph of primitive ops.
//!
//! Lowering runs the declarations with every size known — the batch size
//! from the `train` block, `hidden = 256` from the model's arguments — and
//! records each tensor operation as a node ([`crate::ir`]). Layers are not
//! special: `linear`, `relu`, `cross_entropy` are `fn`s in the stdlib, and
//! lowering their bodies is what turns them into `matmul`, `max`, `exp`.
//! Each function call that declares parameters is an *instance* with a
//! stable path (`h.w`, `logits.b`: the name the call's result is bound to,
//! then the parameter's name), which checkpoints use as keys.
//!
//! The same program gives two graphs: [`Mode::Train`] (forward, loss,
//! backward and optimiser update, dropout active) and [`Mode::Eval`]
//! (forward, loss and metrics only). The host-side rest of the `train`
//! block — data sources, splits, schedule, epochs — is the [`TrainPlan`].

mod builtins;
mod dataset;
mod eval;
mod ops;
mod plan;
mod train;
mod types;
pub mod value;

pub use plan::{DataRef, DatasetSpec, Feed, ParamSpec, SourceSpec, TrainPlan};

use crate::diagnostic::{Diagnostic, Loc};
use crate::ir::{self, Graph};
use crate::Compilation;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// One optimiser step: forward, loss, backward, update.
    Train,
    /// Loss and metrics of a batch, parameters unchanged.
    Eval,
}

/// Names of a step graph's outputs besides parameter and state updates.
pub const LOSS_OUTPUT: &str = "loss";
pub const METRIC_PREFIX: &str = "metric.";
pub const PARAM_PREFIX: &str = "param.";
pub const STATE_PREFIX: &str = "state.";
/// The i32 scalar inputs that random ops read.
pub const SEED_INPUT: &str = "seed";
pub const COUNTER_INPUT: &str = "counter";

/// A problem that only shows when sizes are known (the checker has passed).
#[derive(Clone, Debug, PartialEq)]
pub struct LowerError {
    pub message: String,
    pub loc: Option<Loc>,
}

impl LowerError {
    pub fn new(message: impl Into<String>, loc: Option<Loc>) -> LowerError {
        LowerError {
            message: message.into(),
            loc,
        }
    }

    pub fn diagnostic(&self, fallback: Loc) -> Diagnostic {
        Diagnostic::error("E0400", self.loc.unwrap_or(fallback), self.message.clone()).here("here")
    }
}

/// A step graph and the plan it belongs to.
pub struct Lowered {
    pub graph: Graph,
    pub plan: TrainPlan,
}

/// The names of the program's `train` blocks, in source order.
pub fn train_blocks(comp: &Compilation) -> Vec<String> {
    comp.program.modules[0]
        .ast
        .items
        .iter()
        .filter_map(|i| match i {
            dlp_grammar::ast::Item::Train(t) => Some(t.name.name.clone()),
            _ => None,
        })
        .collect()
}

/// Lowers the `train` block `name` (the first when `None`) of a program
/// without errors into the step graph for `mode` over batches of `batch`
/// samples of `data` (the block's `data` when `None`).
pub fn lower(
    comp: &Compilation,
    name: Option<&str>,
    mode: Mode,
    batch: Option<usize>,
    data: Option<&DataRef>,
) -> Result<Lowered, LowerError> {
    let (graph, plan) = train::lower_train(comp, name, mode, batch, data)?;
    verified(
        &graph,
        if mode == Mode::Train {
            "the optimiser update"
        } else {
            "lowering"
        },
    )?;
    Ok(Lowered {
        graph: graph.pruned(),
        plan,
    })
}

/// The verifier between stages: a failure is a compiler bug, reported as
/// such rather than run.
fn verified(graph: &Graph, stage: &str) -> Result<(), LowerError> {
    ir::verify::verify(graph).map_err(|e| {
        LowerError::new(
            format!("internal error: the graph is ill-formed after {stage}: {e}"),
            None,
        )
    })
}
