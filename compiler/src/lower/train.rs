//! Lowering a `train` block: its settings become the [`TrainPlan`], its
//! data, model, loss and metrics the step graph (with the backward pass
//! and the optimiser update in [`Mode::Train`]).

use super::eval::{Arg, Env, Lowerer, Row, R};
use super::value::Value;
use super::{LowerError, Mode, Predict};
use crate::diagnostic::Loc;
use crate::ir::{BinaryOp, DType, Graph, Input, NodeId, Output, Size};
use crate::optim::{Optimizer, Schedule};
use crate::program::{DataRef, DatasetSpec, Finish, OutputSpec, PassMetric, TrainPlan};
use crate::resolve::DefId;
use crate::Compilation;
use dlp_grammar::ast::{Expr, ExprKind, Item};
use std::collections::HashMap;

/// A step of the `train` block `name` (the first when `None`) in `mode`,
/// over batches of `data` (the block's `data` when `None`), with the
/// block's plan and the dataset's spec. The train step's graph has the
/// forward and the backward pass: outputs `loss_sum`, `metric_sum.*` and
/// `grad.<path>` for every parameter.
pub(super) fn lower_train(
    comp: &Compilation,
    name: Option<&str>,
    mode: Mode,
    data_override: Option<&DataRef>,
) -> R<(Graph, TrainPlan, DatasetSpec)> {
    lower_recording(
        comp,
        name,
        mode,
        data_override,
        false,
        super::eval::MAX_NODES,
    )
    .map(|(g, p, d, _)| (g, p, d))
}

/// [`lower_train`], and with `record` each statement of the model's body
/// as a [`Row`] (for `dlpc summary`).
pub(super) fn lower_recording(
    comp: &Compilation,
    name: Option<&str>,
    mode: Mode,
    data_override: Option<&DataRef>,
    record: bool,
    max_nodes: usize,
) -> R<(Graph, TrainPlan, DatasetSpec, Vec<Row>)> {
    let module = &comp.program.modules[0];
    let found = module.ast.items.iter().find_map(|i| match i {
        Item::Train(t) if name.is_none_or(|n| n == t.name.name) => Some(t),
        _ => None,
    });
    let Some(decl) = found else {
        return Err(LowerError::new(
            match name {
                Some(n) => {
                    let blocks = super::train_blocks(comp);
                    let names: Vec<String> = blocks.iter().map(|b| format!("`{b}`")).collect();
                    let hint =
                        crate::diagnostic::did_you_mean(n, blocks.iter().map(String::as_str))
                            .map(|h| format!(" ({h})"))
                            .unwrap_or_default();
                    format!(
                        "there is no train block named `{n}`{hint}; the program has {}",
                        names.join(", ")
                    )
                }
                None => "the program has no `train` block".to_string(),
            },
            None,
        ));
    };
    let mut lw = Lowerer::new(comp, mode);
    lw.max_nodes = max_nodes;
    let mut env = Env::new(0);
    let mut settings: HashMap<&str, (Value, Loc)> = HashMap::new();
    let deferred = ["loss", "metrics"];
    for e in &decl.entries {
        if deferred.contains(&e.key.name.as_str()) {
            continue;
        }
        let v = lw.expr(&mut env, &e.value)?;
        settings.insert(e.key.name.as_str(), (v, lw.loc(0, e.value.span)));
    }
    let block_loc = lw.loc(0, decl.name.span);
    let int = |key: &str| -> R<Option<u64>> {
        match settings.get(key) {
            None => Ok(None),
            Some((Value::Int(v), _)) if *v >= 0 => Ok(Some(*v as u64)),
            Some((v, loc)) => Err(LowerError::new(
                format!(
                    "`{key}` must be a whole number of 0 or more, found {}",
                    v.kind()
                ),
                Some(*loc),
            )),
        }
    };
    let batch = int("batch")?.unwrap_or(32) as usize;
    if batch == 0 {
        return Err(LowerError::new(
            "`batch` must be at least 1",
            settings.get("batch").map(|s| s.1),
        ));
    }
    if mode == Mode::Train {
        // Every training batch has `batch` samples (a last, smaller one is
        // left out), so facts about the batch size are checked against it.
        lw.training_batch = Some(batch);
    }
    let data_ref = |v: Option<&(Value, Loc)>| -> R<Option<DataRef>> {
        Ok(match v {
            None => None,
            Some((Value::Dataset(def), _)) => Some(DataRef {
                dataset: dataset_name(comp, *def),
                split: None,
            }),
            Some((Value::Split(def, s), _)) => Some(DataRef {
                dataset: dataset_name(comp, *def),
                split: Some(s.clone()),
            }),
            Some((v, loc)) => {
                return Err(LowerError::new(
                    format!("expected a dataset or split, found {}", v.kind()),
                    Some(*loc),
                ))
            }
        })
    };
    let Some(data) = data_ref(settings.get("data"))? else {
        return Err(LowerError::new(
            "the train block has no `data`",
            Some(block_loc),
        ));
    };
    let validate = data_ref(settings.get("validate"))?;
    let optimizer = match settings.get("optimizer") {
        Some((Value::Optimizer(o), _)) => o.clone(),
        None => Optimizer::Adam {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: false,
        },
        Some((v, loc)) => {
            return Err(LowerError::new(
                format!("expected an optimizer, found {}", v.kind()),
                Some(*loc),
            ))
        }
    };
    let schedule = match settings.get("schedule") {
        Some((Value::Schedule(s), _)) => s.clone(),
        None => Schedule::Constant,
        Some((v, loc)) => {
            return Err(LowerError::new(
                format!("expected a schedule, found {}", v.kind()),
                Some(*loc),
            ))
        }
    };
    let (model_def, model_args) = match settings.get("model") {
        Some((Value::Model(def, args), _)) => (*def, args.clone()),
        Some((Value::Def(def), _)) if matches!(lw.item(*def), Item::Model(_)) => (*def, Vec::new()),
        Some((v, loc)) => {
            return Err(LowerError::new(
                format!("expected a model, found {}", v.kind()),
                Some(*loc),
            ))
        }
        None => {
            return Err(LowerError::new(
                "the train block has no `model`",
                Some(block_loc),
            ))
        }
    };
    let model_text = decl
        .entries
        .iter()
        .find(|e| e.key.name == "model")
        .map(|e| dlp_grammar::format::expr(&e.value))
        .unwrap_or_default();
    let clip_grad_norm = match settings.get("clip_grad_norm") {
        None => None,
        Some((v, loc)) => match v.as_f64() {
            Some(c) if c > 0.0 => Some(c),
            _ => {
                return Err(LowerError::new(
                    "`clip_grad_norm` must be a positive number",
                    Some(*loc),
                ))
            }
        },
    };
    let keep_best = matches!(settings.get("keep_best"), Some((Value::Bool(true), _)));
    let device = match settings.get("device") {
        Some((Value::Str(s), _)) => s.clone(),
        _ => "auto".to_string(),
    };

    // The data, per sample, with a batch axis in front.
    let which = data_override.cloned().unwrap_or_else(|| data.clone());
    let Some((ds_def, _)) = crate::resolve::dataset_named(&comp.program, &which.dataset) else {
        return Err(LowerError::new(
            format!("no dataset `{}`", which.dataset),
            Some(block_loc),
        ));
    };
    lw.lead = 1;
    let (dataset, fields) = lw.dataset(ds_def)?;
    lw.lead = 0;

    let fields = if mode == Mode::Predict(Predict::Model) {
        model_alone(&mut lw, fields, block_loc)?
    } else {
        fields
    };

    // The model, its inputs bound to the fields of the same name.
    lw.model_inputs = fields.iter().cloned().collect();
    let Item::Model(model) = lw.item(model_def) else {
        return Err(LowerError::new(
            "`model` must name a model",
            Some(block_loc),
        ));
    };
    let mut model_env = Env::new(model_def.module);
    let args = model_args
        .into_iter()
        .map(|(name, value, loc)| Arg {
            name,
            value,
            loc,
            written: Some(loc),
        })
        .collect();
    lw.bind_args(&model.params, args, &mut model_env, block_loc)?;
    lw.recording = record;
    lw.block(&mut model_env, &model.body)?;
    lw.recording = false;
    if matches!(
        mode,
        Mode::Predict(Predict::Inputs | Predict::TrainingInputs)
    ) {
        lw.model_outputs = std::mem::take(&mut lw.inputs_read);
    }
    let mut outputs = model_outputs(&mut lw, block_loc)?;
    if matches!(mode, Mode::Predict(_)) {
        lw.b.loc = None;
        for (spec, (name, v)) in outputs.iter().zip(std::mem::take(&mut lw.model_outputs)) {
            let node = lw.node(v, block_loc)?;
            if spec.shape.is_empty() && lw.b.ty(node).rank() == 0 {
                return Err(LowerError::new(
                    format!(
                        "output `{name}` has no batch axis: there is nothing to predict per sample"
                    ),
                    Some(block_loc),
                ));
            }
            lw.b.set_output(Output::Prediction(name), node);
        }
    }
    let field_classes: HashMap<String, usize> = fields
        .iter()
        .filter_map(|(name, v)| match v {
            Value::Tensor(n) => Some((name.clone(), *lw.classes.get(n)?)),
            _ => None,
        })
        .collect();

    // Loss and metrics see the fields and the model's outputs.
    env.vars.extend(fields);
    env.vars.extend(std::mem::take(&mut lw.model_outputs));
    let mut metrics = Vec::new();
    let mut metric_nodes = Vec::new();
    let mut pass_metrics = Vec::new();
    let mut loss = None;
    // Predictions need neither (nor the labels they read).
    let judged = if matches!(mode, Mode::Predict(_) | Mode::Statistics) {
        &[][..]
    } else {
        &decl.entries[..]
    };
    for e in judged {
        if matches!(e.key.name.as_str(), "loss" | "metrics") {
            mark_class_outputs(&e.value, &mut outputs, &field_classes);
        }
        match e.key.name.as_str() {
            "loss" => {
                let loc = lw.loc(0, e.value.span);
                let v = lw.expr(&mut env, &e.value)?;
                if let Some(&(_, _, at)) = lw.pass_metrics.first() {
                    return Err(LowerError::new(
                        "this metric is measured over a whole evaluation pass, so the loss cannot use it: make it an item of `metrics`",
                        Some(at),
                    ));
                }
                let n = scalar_f32(&mut lw, v, "the loss", loc)?;
                loss = Some(n);
            }
            "metrics" => {
                let items: Vec<&Expr> = match &e.value.kind {
                    ExprKind::List(items) => items.iter().collect(),
                    _ => vec![&e.value],
                };
                for item in items {
                    let loc = lw.loc(0, item.span);
                    let v = lw.expr(&mut env, item)?;
                    let pass = pass_metric(&mut lw, &v)?;
                    let n = match pass {
                        Some(_) => lw.node(v, loc)?,
                        None => scalar_f32(&mut lw, v, "a metric", loc)?,
                    };
                    let base = metric_name(item);
                    let mut name = base.clone();
                    let mut k = 1;
                    while metrics.contains(&name) || RESERVED.contains(&name.as_str()) {
                        k += 1;
                        name = format!("{base}_{k}");
                    }
                    if let Some(finish) = pass {
                        pass_metrics.push(PassMetric {
                            name: name.clone(),
                            finish,
                        });
                    }
                    metric_nodes.push((n, pass));
                    metrics.push(name);
                }
            }
            _ => {}
        }
    }
    let loss = match (loss, mode) {
        (Some(loss), _) => Some(loss),
        (None, Mode::Predict(_) | Mode::Statistics) => None,
        (None, _) => {
            return Err(LowerError::new(
                "the train block has no `loss`",
                Some(block_loc),
            ))
        }
    };
    if mode == Mode::Statistics {
        lw.b.loc = None;
        for s in &lw.standardized {
            lw.b.set_output(Output::Prediction(s.statistic.path.clone()), s.measured);
        }
    }
    // Each state's new value leaves the training step beside the loss.
    for (path, node) in std::mem::take(&mut lw.state_updates) {
        lw.b.set_output(Output::NewModelState(path), node);
    }
    // Loss and metrics leave the step as sums over the batch's samples.
    lw.b.loc = None;
    if let Some(loss) = loss {
        let count = lw.b.size_of(Size::BATCH, DType::F32);
        let loss_sum = lw.b.binary(BinaryOp::Mul, loss, count);
        lw.b.set_output(Output::LossSum, loss_sum);
        for (name, &(n, pass)) in metrics.iter().zip(&metric_nodes) {
            let sum = match pass {
                // A training step reports on its batch alone: a pass's
                // metrics are left to evaluation.
                Some(_) if mode == Mode::Train => continue,
                // Counts are sums already.
                Some(Finish::Precision | Finish::Recall | Finish::F1 | Finish::Matrix) => n,
                Some(Finish::Exp) | None => lw.b.binary(BinaryOp::Mul, n, count),
            };
            lw.b.set_output(Output::MetricSum(name.clone()), sum);
        }
    }
    if let (Mode::Train, Some(loss)) = (mode, loss) {
        super::check_stage(lw.b.graph(), "lowering")?;
        let params: Vec<(String, NodeId)> =
            lw.b.graph()
                .inputs()
                .filter_map(|(i, id)| match i {
                    Input::Param(p) => Some((p.clone(), id)),
                    _ => None,
                })
                .collect();
        let nodes: Vec<NodeId> = params.iter().map(|(_, n)| *n).collect();
        let grads = crate::autodiff::backward(&mut lw.b, loss, &nodes)
            .map_err(|e| LowerError::new(format!("internal error: {e}"), Some(block_loc)))?;
        for ((path, _), g) in params.iter().zip(grads) {
            lw.b.set_output(Output::Gradient(path.clone()), g);
        }
    }
    let final_sets = final_sets(&data, validate.as_ref(), &dataset);
    let plan = TrainPlan {
        name: decl.name.name.clone(),
        model: model_text,
        data,
        validate,
        final_sets,
        batch,
        epochs: int("epochs")?,
        steps: int("steps")?,
        optimizer,
        schedule,
        metrics,
        pass_metrics,
        validate_every: int("validate_every")?.unwrap_or(1).max(1),
        checkpoint_every: int("checkpoint_every")?,
        keep_best,
        patience: int("patience")?,
        clip_grad_norm,
        seed: int("seed")?.unwrap_or(0),
        device,
        params: lw.params,
        outputs,
        statistics: lw
            .standardized
            .iter()
            .map(|s| s.statistic.clone())
            .collect(),
    };
    let rows = std::mem::take(&mut lw.rows);
    Ok((lw.b.finish(), plan, dataset, rows))
}

/// For the model alone: a fresh graph in which each field is a feed of
/// its own type (`x` is the `f32[B, 64]` that `/ 16.0` made, not the CSV's
/// values), so that the fields' expressions are left out.
fn model_alone(
    lw: &mut Lowerer,
    fields: Vec<(String, Value)>,
    loc: Loc,
) -> R<Vec<(String, Value)>> {
    let mut typed = Vec::new();
    for (name, v) in fields {
        let node = lw.node(v, loc)?;
        typed.push((name, lw.b.ty(node).clone(), lw.classes.get(&node).copied()));
    }
    lw.b = crate::ir::Builder::new();
    lw.classes.clear();
    let mut feeds = Vec::new();
    for (name, ty, classes) in typed {
        let node = lw.b.input(Input::Feed(name.clone()), ty);
        if let Some(n) = classes {
            lw.classes.insert(node, n);
        }
        feeds.push((name, Value::Tensor(node)));
    }
    Ok(feeds)
}

/// The model's outputs (bound in `lw.model_outputs`), each with its
/// per-sample shape: the shape after the leading batch axis (empty for an
/// output without one).
fn model_outputs(lw: &mut Lowerer, loc: Loc) -> R<Vec<OutputSpec>> {
    let mut specs = Vec::new();
    for (name, v) in lw.model_outputs.clone() {
        let node = lw.node(v, loc)?;
        let shape = &lw.b.ty(node).shape;
        let per_sample = match shape.first() {
            Some(&first) if first == Size::BATCH => shape[1..]
                .iter()
                .map(|d| d.as_fixed().unwrap_or(0))
                .collect(),
            _ => Vec::new(),
        };
        specs.push(OutputSpec {
            name,
            shape: per_sample,
            classes: None,
        });
    }
    Ok(specs)
}

/// Marks the outputs that `e` (the loss or a metric) passes to a function
/// together with a `class(n)` field, when their last axis has `n` entries:
/// `cross_entropy(logits, y)` makes `logits` scores over `y`'s classes.
fn mark_class_outputs(e: &Expr, outputs: &mut [OutputSpec], classes: &HashMap<String, usize>) {
    match &e.kind {
        ExprKind::Call(callee, args) => {
            let names: Vec<&str> = args
                .iter()
                .filter_map(|a| match &a.value.kind {
                    ExprKind::Name(id) => Some(id.name.as_str()),
                    _ => None,
                })
                .collect();
            let counts: Vec<usize> = names
                .iter()
                .filter_map(|n| classes.get(*n).copied())
                .collect();
            for o in outputs.iter_mut() {
                if names.contains(&o.name.as_str()) {
                    if let Some(&n) = counts.iter().find(|&&n| o.shape.last() == Some(&n)) {
                        o.classes = Some(n);
                    }
                }
            }
            mark_class_outputs(callee, outputs, classes);
            for a in args {
                mark_class_outputs(&a.value, outputs, classes);
            }
        }
        ExprKind::Neg(x) | ExprKind::Paren(x) | ExprKind::Cast(x, _) | ExprKind::Field(x, _) => {
            mark_class_outputs(x, outputs, classes)
        }
        ExprKind::Index(x, items) => {
            mark_class_outputs(x, outputs, classes);
            for e in items.iter().flat_map(|i| i.exprs()) {
                mark_class_outputs(e, outputs, classes);
            }
        }
        ExprKind::Binary(_, a, b) | ExprKind::Range(a, b) => {
            mark_class_outputs(a, outputs, classes);
            mark_class_outputs(b, outputs, classes);
        }
        ExprKind::List(items) => {
            for x in items {
                mark_class_outputs(x, outputs, classes);
            }
        }
        ExprKind::Record(fields) => {
            for f in fields {
                mark_class_outputs(&f.value, outputs, classes);
            }
        }
        ExprKind::Int(..)
        | ExprKind::Float(..)
        | ExprKind::Str(_)
        | ExprKind::Bool(_)
        | ExprKind::Name(_) => {}
    }
}

/// What a run reports on at the end: every other split of the training
/// dataset (when it is the one lowered), then the validation data.
fn final_sets(data: &DataRef, validate: Option<&DataRef>, dataset: &DatasetSpec) -> Vec<DataRef> {
    let mut refs = Vec::new();
    if dataset.name == data.dataset {
        for split in dataset.split_names() {
            if Some(&split) != data.split.as_ref() {
                refs.push(DataRef {
                    dataset: data.dataset.clone(),
                    split: Some(split),
                });
            }
        }
    }
    if let Some(v) = validate {
        if !refs.contains(v) {
            refs.push(v.clone());
        }
    }
    refs
}

/// Keys of `metrics.jsonl` lines that a metric must not shadow.
const RESERVED: [&str; 7] = ["loss", "kind", "epoch", "step", "steps", "data", "lr"];

fn scalar_f32(lw: &mut Lowerer, v: Value, what: &str, loc: Loc) -> R<NodeId> {
    let n = match v {
        Value::Int(_) | Value::Float(_) => lw.b.constant(v.as_f64().unwrap_or(0.0), DType::F32),
        other => lw.node(other, loc)?,
    };
    if lw.b.ty(n).rank() != 0 {
        return Err(LowerError::new(
            format!("{what} must be a scalar"),
            Some(loc),
        ));
    }
    Ok(lw.b.cast(n, DType::F32))
}

/// How `v`, an item of `metrics`, is finished when it is a metric of a
/// whole pass; an error when such a metric is only part of the item.
fn pass_metric(lw: &mut Lowerer, v: &Value) -> R<Option<Finish>> {
    let calls = std::mem::take(&mut lw.pass_metrics);
    match (calls.as_slice(), v) {
        ([], _) => Ok(None),
        ([(node, finish, _)], Value::Tensor(v)) if node == v => Ok(Some(*finish)),
        ([(_, _, at), ..], _) => Err(LowerError::new(
            "a metric of a whole evaluation pass must be an item of `metrics` by itself, not part of a larger expression",
            Some(*at),
        )),
    }
}

/// `accuracy(logits, y)` is reported as `accuracy`.
fn metric_name(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Call(callee, _) => match &callee.kind {
            ExprKind::Name(n) => n.name.clone(),
            ExprKind::Field(_, n) => n.name.clone(),
            _ => "metric".to_string(),
        },
        ExprKind::Name(n) => n.name.clone(),
        _ => "metric".to_string(),
    }
}

fn dataset_name(comp: &Compilation, def: DefId) -> String {
    comp.program.modules[def.module].ast.items[def.item]
        .name()
        .map(|n| n.name.clone())
        .unwrap_or_default()
}
