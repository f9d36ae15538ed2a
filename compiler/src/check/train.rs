//! `train` blocks: the model bound to the data, the objective, the settings.
//!
//! Model inputs bind to dataset fields of the same name: a field of
//! per-sample type `f32[64]` batches to `f32[B, 64]`, where `B` is the first
//! dim the model's input declares. The loss and metrics then see the model's
//! outputs and the batched fields.

use super::call::{self, Bound};
use super::dataset::{entries_by_key, info_of};
use super::expr::{self, arg_types, batched, describe, Context, Env};
use super::{CheckError, Checker, ModelSig};
use crate::diagnostic::{did_you_mean, Loc};
use crate::resolve::{Binding, DefId};
use crate::types::{match_tensor, ShapeItem, Subst, Type};
use dlp_grammar::ast::{EntriesDecl, Entry, Expr, ExprKind, Item};

/// Every setting: name, and what it holds (for messages and the book).
pub const SETTINGS: &[(&str, &str)] = &[
    ("model", "the model to train: `Mlp(hidden = 256)`"),
    ("data", "the training data: a dataset or one of its splits"),
    ("batch", "samples per step (default 32)"),
    ("epochs", "passes over the data"),
    ("steps", "optimiser steps, instead of epochs"),
    (
        "loss",
        "a scalar f32 expression of the model's outputs and the data's fields",
    ),
    ("optimizer", "`adam(lr = 1e-3)` and friends, from std.optim"),
    ("schedule", "a learning-rate schedule from std.optim"),
    (
        "metrics",
        "a list of scalar f32 expressions, reported per epoch and validation",
    ),
    ("validate", "a dataset or split to validate on"),
    ("validate_every", "validate every N epochs (default 1)"),
    ("checkpoint_every", "write a checkpoint every N epochs"),
    (
        "keep_best",
        "keep the checkpoint with the best validation loss",
    ),
    ("patience", "stop after N validations without improvement"),
    (
        "clip_grad_norm",
        "clip the gradients' global norm to this value",
    ),
    ("seed", "the run's random seed (default 0)"),
    (
        "device",
        "\"cpu\", \"gpu\" or \"auto\" (default: a hardware GPU if there is one, else the CPU)",
    ),
];

pub fn all(cx: &mut Checker) {
    for (m, module) in cx.program.modules.iter().enumerate() {
        for (i, item) in module.ast.items.iter().enumerate() {
            if let Item::Train(t) = item {
                check_train(cx, DefId { module: m, item: i }, t);
            }
        }
    }
}

fn check_train(cx: &mut Checker, def: DefId, t: &EntriesDecl) {
    let file = cx.file(def.module);
    let by_key = entries_by_key(cx, file, t);
    let mut env = Env::new(def.module, Context::Train);
    let mut unknown = Vec::new();
    for e in &t.entries {
        if !SETTINGS.iter().any(|(k, _)| *k == e.key.name) {
            unknown.push(e.key.name.as_str());
            cx.error(CheckError::UnknownKey {
                block: "train".to_string(),
                key: e.key.name.clone(),
                loc: Loc::new(file, e.key.span),
                hint: did_you_mean(&e.key.name, SETTINGS.iter().map(|(k, _)| *k)),
            });
        }
    }
    let block_loc = Loc::new(file, t.name.span);
    let missing = |cx: &mut Checker, key: &str, help: &str| {
        // A misspelt key (`epoch`) is reported once, as unknown, with
        // the spelling it was meant to have.
        if unknown.iter().any(|u| did_you_mean(u, [key]).is_some()) {
            return;
        }
        cx.error(CheckError::MissingKey {
            block: format!("train `{}`", t.name.name),
            key: key.to_string(),
            loc: block_loc,
            help: help.to_string(),
        });
    };
    let model = match by_key.get("model") {
        Some(e) => instance(cx, &mut env, e),
        None => {
            missing(cx, "model", "say which model to train: `model = Mlp()`");
            None
        }
    };
    let data = by_key.get("data").map(|e| {
        (
            expr::check(cx, &mut env, &e.value),
            expr::loc(cx, &env, &e.value),
        )
    });
    if data.is_none() {
        missing(cx, "data", "say what to train on: `data = digits.train`");
    }
    let mut subst = model.as_ref().map(|(_, s)| s.clone()).unwrap_or_default();
    if let (Some((sig, _)), Some((data_ty, data_loc))) = (&model, &data) {
        bind_inputs(cx, sig, data_ty, *data_loc, &mut subst, &mut env);
        if let Some(v) = by_key.get("validate") {
            let vt = expr::check(cx, &mut env, &v.value);
            let vloc = expr::loc(cx, &env, &v.value);
            let mut vsubst = model.as_ref().map(|(_, s)| s.clone()).unwrap_or_default();
            let mut scratch = Env::new(def.module, Context::Train);
            bind_inputs(cx, sig, &vt, vloc, &mut vsubst, &mut scratch);
            same_fields(cx, sig, data_ty, &vt, vloc);
        }
    }
    if let Some((sig, _)) = &model {
        for (name, ty, at) in &sig.outputs {
            let ty = subst.ty(ty).unwrap_or(Type::Error);
            env.define(name, ty, *at);
        }
    }
    // Without a model bound to data, the loss's names would all be unknown:
    // that was reported once already.
    let bound = model.is_some() && data.as_ref().is_some_and(|(t, _)| info_of(cx, t).is_some());
    match by_key.get("loss") {
        Some(_) if !bound => {}
        Some(e) => scalar(cx, &mut env, "the loss", &e.value),
        None => missing(
            cx,
            "loss",
            "say what to minimise: `loss = cross_entropy(logits, y)`",
        ),
    }
    if let (Some(e), true) = (by_key.get("metrics"), bound) {
        match &e.value.kind {
            ExprKind::List(items) => items.iter().for_each(|m| metric(cx, &mut env, m)),
            _ => metric(cx, &mut env, &e.value),
        }
    }
    match by_key.get("optimizer") {
        Some(e) => expect(
            cx,
            &mut env,
            e,
            "an optimizer such as `adam(lr = 1e-3)`",
            |t| matches!(t, Type::Optimizer),
        ),
        None => missing(
            cx,
            "optimizer",
            "say how to update the weights: `optimizer = adam(lr = 1e-3)`",
        ),
    }
    if let Some(e) = by_key.get("schedule") {
        expect(cx, &mut env, e, "a schedule such as `cosine()`", |t| {
            matches!(t, Type::Schedule)
        });
    }
    match (by_key.get("epochs"), by_key.get("steps")) {
        (Some(a), Some(b)) => {
            cx.error(CheckError::Conflict {
                detail: "set either `epochs` or `steps`, not both".to_string(),
                loc: Loc::new(file, b.key.span),
                other: Loc::new(file, a.key.span),
            });
        }
        // `step = 100` is a misspelt `steps`, reported as unknown.
        (None, None) if unknown.iter().any(|u| did_you_mean(u, ["steps"]).is_some()) => {}
        (None, None) => missing(
            cx,
            "epochs",
            "say how long to train: `epochs = 10` (or `steps = 1000`)",
        ),
        _ => {}
    }
    if !by_key.contains_key("validate") {
        let why = [
            ("patience", "early stopping watches the validation loss"),
            (
                "keep_best",
                "the best parameters are those with the lowest validation loss",
            ),
            ("validate_every", "there is nothing to validate on"),
        ];
        for (key, reason) in why {
            let Some(e) = by_key.get(key) else { continue };
            if key == "keep_best" && matches!(e.value.kind, dlp_grammar::ast::ExprKind::Bool(false))
            {
                continue;
            }
            cx.error(CheckError::Requires {
                detail: format!("`{key}` needs `validate`: {reason}"),
                loc: Loc::new(file, e.key.span),
                help: "add `validate = <dataset>.<split>`, e.g. `validate = digits.test`"
                    .to_string(),
            });
        }
    }
    for key in [
        "batch",
        "epochs",
        "steps",
        "validate_every",
        "checkpoint_every",
        "patience",
    ] {
        if let Some(e) = by_key.get(key) {
            int_at_least(cx, &mut env, e, 1);
        }
    }
    if let Some(e) = by_key.get("seed") {
        int_at_least(cx, &mut env, e, 0);
    }
    if let Some(e) = by_key.get("keep_best") {
        expect(cx, &mut env, e, "true or false", |t| {
            matches!(t, Type::Bool(_))
        });
    }
    if let Some(e) = by_key.get("clip_grad_norm") {
        positive_float(cx, &mut env, e);
    }
    if let Some(e) = by_key.get("device") {
        device(cx, &mut env, e);
    }
}

/// `Mlp(hidden = 256)` or `Mlp`: the model's signature and its static arguments.
fn instance(cx: &mut Checker, env: &mut Env, e: &Entry) -> Option<(ModelSig, Subst)> {
    let (callee, args) = match &e.value.kind {
        ExprKind::Call(callee, args) => (callee.as_ref(), args.as_slice()),
        _ => (&e.value, &[][..]),
    };
    let at = expr::loc(cx, env, callee);
    let def = model_def(cx, env, callee);
    let Some(sig) = def.and_then(|d| cx.out.models.get(&d)).cloned() else {
        let t = expr::check(cx, env, callee);
        expr::wrong_kind(cx, "`model`", "a model", &t, at);
        return None;
    };
    cx.out.types.push((at, Type::Model(sig.name.clone())));
    env.trained = def;
    let names: Vec<&str> = sig.params.iter().map(|p| p.name.as_str()).collect();
    let required: Vec<bool> = sig.params.iter().map(|p| p.default.is_none()).collect();
    let args = arg_types(cx, env, args);
    let call_loc = expr::loc(cx, env, &e.value);
    let bound = call::bind(
        cx,
        &sig.name,
        &names,
        &required,
        args,
        Some(sig.loc),
        call_loc,
    )?;
    let mut subst = Subst::default();
    for (i, p) in sig.params.iter().enumerate() {
        let given: Bound = bound[i]
            .clone()
            .or_else(|| p.default.clone().map(|t| (t, call_loc)));
        match (&p.ty, given) {
            (Type::Int(_), Some((Type::Int(Some(v)), _))) => subst.bind_dim(&p.name, v, i),
            (Type::Float(_), Some((Type::Float(_) | Type::Int(_), _)))
            | (_, Some((Type::Error, _)))
            | (_, None) => {}
            (expected, Some((found, at)))
                if std::mem::discriminant(expected) != std::mem::discriminant(&found) =>
            {
                cx.error(CheckError::ArgMismatch {
                    callee: sig.name.clone(),
                    param: p.name.clone(),
                    expected: expected.kind().to_string(),
                    found: describe(&found),
                    arg: at,
                    param_loc: Some(p.loc),
                    notes: Vec::new(),
                });
            }
            _ => {}
        }
    }
    Some((sig, subst))
}

fn model_def(cx: &mut Checker, env: &Env, callee: &Expr) -> Option<DefId> {
    let ExprKind::Name(n) = &callee.kind else {
        return None;
    };
    match cx.lookup(env.module, &n.name)? {
        (Binding::Item(def), def_loc) if matches!(cx.item(def), Item::Model(_)) => {
            cx.out
                .references
                .push((expr::loc(cx, env, callee), def_loc));
            Some(def)
        }
        _ => None,
    }
}

/// Binds each model input to the dataset field of the same name; defines the
/// batched fields in `env`.
fn bind_inputs(
    cx: &mut Checker,
    sig: &ModelSig,
    data: &Type,
    data_loc: Loc,
    subst: &mut Subst,
    env: &mut Env,
) {
    if data.is_error() {
        return;
    }
    let Some(info) = info_of(cx, data).cloned() else {
        expr::wrong_kind(
            cx,
            "the data",
            "a dataset or a split of one",
            data,
            data_loc,
        );
        return;
    };
    let batch = sig
        .inputs
        .first()
        .and_then(|(_, t, _)| match t.shape.0.first() {
            Some(ShapeItem::Dim(d)) if d.as_sym().is_some() => Some(d.clone()),
            _ => None,
        });
    // Without the model's inputs, what reads the data cannot be checked:
    // the fields are there, of unknown type, and say nothing more.
    let unbound = |env: &mut Env| {
        let fields = info.fields.iter().map(|(n, _, at)| (n, at));
        for (name, at) in fields.chain(info.broken_fields.iter().map(|(n, at)| (n, at))) {
            env.define(name, Type::Error, *at);
        }
    };
    if sig.broken_input {
        return unbound(env);
    }
    let Some(batch) = batch else {
        unbound(env);
        if let Some((name, t, at)) = sig.inputs.first() {
            cx.error(CheckError::WrongKind {
                what: format!("the first dim of model input `{name}`"),
                expected: "a name for the batch size, like `B`".to_string(),
                found: t.to_string(),
                loc: *at,
                note: Some("datasets give one sample at a time; the train block stacks them along a first, batch axis".to_string()),
            });
        }
        return;
    };
    for (name, field, at) in &info.fields {
        env.define(name, Type::Tensor(batched(field, &batch)), *at);
    }
    for (name, at) in &info.broken_fields {
        env.define(name, Type::Error, *at);
    }
    for (name, pattern, at) in &sig.inputs {
        if info.broken_fields.iter().any(|(f, _)| f == name) {
            continue;
        }
        let Some((_, field, field_loc)) = info.fields.iter().find(|(f, _, _)| f == name) else {
            let fields: Vec<String> = info
                .fields
                .iter()
                .map(|(f, _, _)| format!("`{f}`"))
                .collect();
            cx.error(CheckError::MissingField {
                input: name.clone(),
                dataset: info.name.clone(),
                input_loc: *at,
                dataset_loc: info.loc,
                fields: if fields.is_empty() {
                    "none".to_string()
                } else {
                    fields.join(", ")
                },
            });
            continue;
        };
        let actual = batched(field, &batch);
        let mut deferred = Vec::new();
        let result = match_tensor(pattern, &actual, 0, subst, &mut deferred);
        let bad_deferred = deferred
            .iter()
            .any(|d| subst.dim(&d.pattern).ok().as_ref() != Some(&d.found));
        if result.is_err() || bad_deferred {
            let expected = subst
                .tensor(pattern)
                .map_or(pattern.to_string(), |t| t.to_string());
            cx.error(CheckError::FieldMismatch {
                input: name.clone(),
                expected,
                found: actual.to_string(),
                input_loc: *at,
                field_loc: *field_loc,
                detail: format!("field `{name}` of `{}` is {field} per sample", info.name),
            });
        }
    }
}

/// A metric is a number, or the matrix of `confusion_matrix(..)`.
fn metric(cx: &mut Checker, env: &mut Env, e: &Expr) {
    let matrix = matches!(&e.kind, ExprKind::Call(f, _)
        if matches!(&f.kind, ExprKind::Name(n) if n.name == "confusion_matrix"));
    if matrix {
        expr::check(cx, env, e);
    } else {
        scalar(cx, env, "a metric", e);
    }
}

fn scalar(cx: &mut Checker, env: &mut Env, what: &str, e: &Expr) {
    let t = expr::check(cx, env, e);
    match &t {
        Type::Tensor(t) if t.shape.is_scalar() && t.dtype.is_float() => {}
        Type::Error => {}
        other => {
            cx.error(CheckError::NotScalar {
                what: what.to_string(),
                found: describe(other),
                loc: expr::loc(cx, env, e),
            });
        }
    }
}

fn expect(cx: &mut Checker, env: &mut Env, e: &Entry, expected: &str, ok: fn(&Type) -> bool) {
    let t = expr::check(cx, env, &e.value);
    if !ok(&t) && !t.is_error() {
        expr::wrong_kind(
            cx,
            &format!("`{}`", e.key.name),
            expected,
            &t,
            expr::loc(cx, env, &e.value),
        );
    }
}

fn int_at_least(cx: &mut Checker, env: &mut Env, e: &Entry, min: i64) {
    let at = expr::loc(cx, env, &e.value);
    match expr::check(cx, env, &e.value) {
        Type::Int(Some(d)) => match d.as_const() {
            Some(v) if v >= min => {}
            _ => {
                cx.error(CheckError::OutOfRange {
                    what: format!("`{}`", e.key.name),
                    value: d.to_string(),
                    range: format!("an integer of at least {min}"),
                    loc: at,
                });
            }
        },
        Type::Error => {}
        other => {
            expr::wrong_kind(cx, &format!("`{}`", e.key.name), "an int", &other, at);
        }
    }
}

fn positive_float(cx: &mut Checker, env: &mut Env, e: &Entry) {
    let at = expr::loc(cx, env, &e.value);
    let value = match expr::check(cx, env, &e.value) {
        Type::Float(Some(v)) => v,
        Type::Int(Some(d)) => d.as_const().unwrap_or(0) as f64,
        Type::Error => return,
        other => {
            expr::wrong_kind(cx, &format!("`{}`", e.key.name), "a number", &other, at);
            return;
        }
    };
    if value.is_nan() || value <= 0.0 {
        cx.error(CheckError::OutOfRange {
            what: format!("`{}`", e.key.name),
            value: value.to_string(),
            range: "greater than 0".to_string(),
            loc: at,
        });
    }
}

fn device(cx: &mut Checker, env: &mut Env, e: &Entry) {
    let at = expr::loc(cx, env, &e.value);
    match expr::check(cx, env, &e.value) {
        Type::Str(Some(s)) if ["cpu", "gpu", "auto"].contains(&s.as_str()) => {}
        Type::Str(Some(s)) => {
            cx.error(CheckError::OutOfRange {
                what: "`device`".to_string(),
                value: format!("{s:?}"),
                range: "\"cpu\", \"gpu\" or \"auto\"".to_string(),
                loc: at,
            });
        }
        Type::Error => {}
        other => {
            expr::wrong_kind(cx, "`device`", "a string", &other, at);
        }
    }
}

/// Validation data from another dataset must have the training data's
/// fields, with the same types: the loss and the metrics read them.
fn same_fields(cx: &mut Checker, sig: &ModelSig, data: &Type, validate: &Type, at: Loc) {
    let (Some(train), Some(valid)) = (info_of(cx, data).cloned(), info_of(cx, validate).cloned())
    else {
        return;
    };
    if train.name == valid.name {
        return;
    }
    for (name, ty, field_at) in &train.fields {
        // Model inputs were matched by `bind_inputs` already.
        if sig.inputs.iter().any(|(n, _, _)| n == name)
            || valid.broken_fields.iter().any(|(n, _)| n == name)
        {
            continue;
        }
        let detail = match valid.fields.iter().find(|(n, _, _)| n == name) {
            None => format!(
                "the validation data `{}` has no field `{name}`, which the training data `{}` has (the loss and metrics read the data's fields)",
                valid.name, train.name
            ),
            Some((_, vty, _)) if vty != ty => format!(
                "field `{name}` is {vty} in the validation data `{}` but {ty} in the training data `{}`",
                valid.name, train.name
            ),
            Some(_) => continue,
        };
        cx.error(CheckError::Conflict {
            detail,
            loc: at,
            other: *field_at,
        });
    }
}
