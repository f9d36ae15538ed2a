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
//! Sizes stay symbolic in the batch: a model input `x: f32[B, 64]` binds
//! `B` to the batch size `B` of the IR, not to a number, so one step
//! serves every batch size.
//!
//! [`compile`] lowers the program in both modes — [`Mode::Train`] (forward
//! and backward, dropout active) and [`Mode::Eval`] (forward, loss and
//! metrics) — adds the optimiser update ([`crate::optim`]) and returns the
//! [`CompiledProgram`]. The host-side rest of the `train` block — data
//! sources, splits, schedule, epochs — is its [`crate::program::TrainPlan`].

pub(crate) mod builtins;
mod dataset;
mod eval;
mod index;
pub(crate) mod metrics;
pub(crate) mod movement;
mod ops;
pub(crate) mod settings;
pub(crate) mod statistics;
mod train;
mod types;
mod value;
pub(crate) mod window;

pub use eval::Row;

use crate::diagnostic::{Diagnostic, Loc};
use crate::ir::{self, Graph, Verified};
use crate::program::{
    CompiledProgram, DataRef, DatasetSpec, EvalStep, PredictStep, TrainPlan, TrainStep,
};
use crate::Compilation;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// One optimiser step: forward, loss, backward, update.
    Train,
    /// Loss and metrics of a batch, parameters unchanged.
    Eval,
    /// What [`Predict`] says, for a batch: no loss, no metrics, so the
    /// data needs only the model's inputs.
    Predict(Predict),
    /// The values the training data's `standardize` calls are given, to
    /// measure their statistics (see [`statistics`]).
    Statistics,
}

/// What a prediction step computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Predict {
    /// The model's outputs, from the data as stored (`dlpc predict`).
    Outputs,
    /// The model alone: from its inputs, of their declared types, to its
    /// outputs; the fields' own expressions (`/ 16.0`) are not in it
    /// (`dlpc export`). Its feeds are not the data's: it is not run.
    Model,
    /// The values the model's inputs take, from the data as stored: what
    /// [`Predict::Model`] is given.
    Inputs,
    /// The values the model's inputs take while training: as
    /// [`Predict::Inputs`], with `training()` true, so augmentations draw
    /// as in the train step of the first epoch.
    TrainingInputs,
}

/// A problem that only shows when sizes are known (the checker has passed).
#[derive(Clone, Debug, PartialEq)]
pub struct LowerError {
    pub message: String,
    pub loc: Option<Loc>,
    /// Stable code: E0400 unless the problem is one the checker names
    /// (an out-of-range value is E0305 wherever it is found).
    pub code: &'static str,
    /// What the primary label says.
    pub here: String,
    /// Other places involved: where a value written in the train block is
    /// used inside the model.
    pub labels: Vec<(Loc, String)>,
}

impl LowerError {
    pub fn new(message: impl Into<String>, loc: Option<Loc>) -> LowerError {
        LowerError {
            message: message.into(),
            loc,
            code: "E0400",
            here: "here".to_string(),
            labels: Vec::new(),
        }
    }

    pub fn code(mut self, code: &'static str) -> LowerError {
        self.code = code;
        self
    }

    pub fn here(mut self, message: impl Into<String>) -> LowerError {
        self.here = message.into();
        self
    }

    pub fn label(mut self, loc: Loc, message: impl Into<String>) -> LowerError {
        self.labels.push((loc, message.into()));
        self
    }

    pub fn diagnostic(&self, fallback: Loc) -> Diagnostic {
        let mut d = Diagnostic::error(
            self.code,
            self.loc.unwrap_or(fallback),
            self.message.clone(),
        )
        .here(self.here.clone());
        for (loc, message) in &self.labels {
            d = d.label(*loc, message.clone());
        }
        d
    }
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

/// What `dlpc check` adds to the front end's checks: every `train` block's
/// model lowered to its forward graph, so that a program that checks also
/// fits the limits a run meets (operations per step, `repeat` depth,
/// parameter count, each refused with its estimate) and lowers at all.
pub fn check(comp: &Compilation) -> Vec<LowerError> {
    check_quick(comp, eval::MAX_NODES)
}

/// [`check`] for an editor, which must answer within moments: a model
/// whose step grows past `max_nodes` operations is left unchecked (`dlpc
/// check` checks it; lowering a million operations takes seconds).
pub fn check_quick(comp: &Compilation, max_nodes: usize) -> Vec<LowerError> {
    train_blocks(comp)
        .iter()
        .filter_map(|name| {
            train::lower_recording(comp, Some(name), Mode::Train, None, false, max_nodes).err()
        })
        .filter(|e| e.code != eval::OVER_BUDGET)
        .collect()
}

/// Compiles the `train` block `name` (the first when `None`) of a program
/// without errors: its train step, an evaluation step for every dataset
/// the run evaluates on, and its plan.
pub fn compile(comp: &Compilation, name: Option<&str>) -> Result<CompiledProgram, LowerError> {
    let (forward, mut plan, train_data) = train::lower_train(comp, name, Mode::Train, None)?;
    let gradients = verified(forward.pruned(), "autodiff")?;
    let params: Vec<(String, ir::TensorTy)> = plan
        .params
        .iter()
        .filter(|p| !p.state)
        .map(|p| (p.path.clone(), ir::TensorTy::fixed(p.dtype, &p.shape)))
        .collect();
    let update = crate::optim::update_step(&params, &plan.optimizer, plan.clip_grad_norm);
    let update = verified(update.pruned(), "the optimiser update")?;
    let block_name = plan.name.clone();
    let block = Some(block_name.as_str());
    let mut datasets = vec![train_data];
    let mut eval = Vec::new();
    let refs = std::iter::once(&plan.data).chain(&plan.final_sets);
    for r in refs {
        if eval.iter().any(|e: &EvalStep| e.dataset == r.dataset) {
            continue;
        }
        let (step, spec) = eval_step(comp, block, &r.dataset)?;
        eval.push(step);
        if !datasets.iter().any(|d| d.name == spec.name) {
            datasets.push(spec);
        }
    }
    for step in &eval {
        unmeasured(&step.step, &plan, &step.dataset)?;
    }
    // A field that nothing reads is pruned from every step: the
    // statistics of its `standardize` are neither measured nor kept.
    let read: std::collections::HashSet<&str> = std::iter::once(gradients.graph())
        .chain(eval.iter().map(|e| e.step.graph()))
        .flat_map(|g| g.inputs())
        .filter_map(|(input, _)| match input {
            ir::Input::ModelState(p) => Some(p.as_str()),
            _ => None,
        })
        .collect();
    let unread: Vec<String> = plan
        .statistics
        .iter()
        .filter(|s| !read.contains(s.mean().as_str()))
        .flat_map(|s| [s.mean(), s.std()])
        .collect();
    plan.statistics.retain(|s| !unread.contains(&s.mean()));
    plan.params.retain(|p| !unread.contains(&p.path));
    let statistics = if plan.statistics.is_empty() {
        None
    } else {
        let (graph, _, _) = train::lower_train(comp, block, Mode::Statistics, None)?;
        Some(verified(graph.pruned(), "lowering")?)
    };
    Ok(CompiledProgram {
        plan,
        datasets,
        train: TrainStep { gradients, update },
        eval,
        statistics,
    })
}

/// Refuses a step that standardizes a field the training data does not:
/// its statistics come from the training data, which has none for it.
pub fn unmeasured(step: &Verified, plan: &TrainPlan, dataset: &str) -> Result<(), LowerError> {
    for (input, id) in step.graph().inputs() {
        let ir::Input::ModelState(path) = input else {
            continue;
        };
        if !plan.params.iter().any(|p| &p.path == path) {
            let field = crate::program::Statistic::field_of(path);
            return Err(LowerError::new(
                format!(
                    "dataset `{dataset}` standardizes field `{field}`, but the training data `{}` does not: the statistics are measured on the training data, so standardize the field there too",
                    plan.data
                ),
                step.graph().node(id).loc,
            ));
        }
    }
    Ok(())
}

/// The evaluation step of train block `block` (the first when `None`) on
/// `dataset` (any dataset of the program whose fields the model and the
/// loss need), and the dataset's spec.
pub fn eval_step(
    comp: &Compilation,
    block: Option<&str>,
    dataset: &str,
) -> Result<(EvalStep, DatasetSpec), LowerError> {
    let data = DataRef {
        dataset: dataset.to_string(),
        split: None,
    };
    let (graph, _, spec) = train::lower_train(comp, block, Mode::Eval, Some(&data))?;
    let step = EvalStep {
        dataset: dataset.to_string(),
        step: verified(graph.pruned(), "lowering")?,
    };
    Ok((step, spec))
}

/// The prediction step of train block `block` on `dataset`: the model's
/// outputs for each sample, with the model's inputs as the only fields read
/// (a dataset without labels will do).
pub fn predict_step(
    comp: &Compilation,
    block: Option<&str>,
    dataset: &str,
) -> Result<PredictStep, LowerError> {
    prediction(comp, block, dataset, Predict::Outputs)
}

/// A prediction step of train block `block` on `dataset` computing `what`.
pub fn prediction(
    comp: &Compilation,
    block: Option<&str>,
    dataset: &str,
    what: Predict,
) -> Result<PredictStep, LowerError> {
    let data = DataRef {
        dataset: dataset.to_string(),
        split: None,
    };
    let mode = Mode::Predict(what);
    let (graph, plan, mut spec) = train::lower_train(comp, block, mode, Some(&data))?;
    let step = verified(graph.pruned(), "lowering")?;
    // Only the feeds the outputs depend on are read.
    spec.feeds
        .retain(|f| step.input(&ir::Input::Feed(f.name.clone())).is_some());
    // Which outputs are class scores shows in the loss and metrics, on
    // the block's own data (`data` may have no labels).
    let judged = match train::lower_train(comp, block, Mode::Eval, None) {
        Ok((_, judged, _)) if !matches!(what, Predict::Inputs | Predict::TrainingInputs) => {
            judged.outputs
        }
        _ => plan.outputs,
    };
    Ok(PredictStep {
        data: spec,
        step,
        outputs: judged,
    })
}

/// The forward graph of train block `block` in evaluation mode (model,
/// loss and metrics on the block's data), its plan, and a [`Row`] for each
/// statement of the model's body: what `dlpc summary` tabulates.
pub fn model_rows(
    comp: &Compilation,
    block: Option<&str>,
) -> Result<(Graph, crate::program::TrainPlan, Vec<Row>), LowerError> {
    let (graph, plan, _, rows) =
        train::lower_recording(comp, block, Mode::Eval, None, true, eval::MAX_NODES)?;
    Ok((graph, plan, rows))
}

/// The verifier between stages: a failure is a compiler bug, reported as
/// such rather than run.
fn verified(graph: Graph, stage: &str) -> Result<Verified, LowerError> {
    ir::verify(graph).map_err(|errors| ill_formed(&errors, stage))
}

/// [`verified`] for a graph still being built.
fn check_stage(graph: &Graph, stage: &str) -> Result<(), LowerError> {
    let errors = ir::verify::check(graph);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ill_formed(&errors, stage))
    }
}

fn ill_formed(errors: &[ir::VerifyError], stage: &str) -> LowerError {
    LowerError::new(
        format!(
            "internal error: the graph is ill-formed after {stage}:\n{}",
            ir::verify::render(errors)
        ),
        None,
    )
}
