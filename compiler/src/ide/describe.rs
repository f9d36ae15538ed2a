//! How a symbol is shown to a person: a line of dlp (its signature or
//! `name: type`), where it belongs, and its `///` documentation. Hover,
//! completion details and signature help all read it from here, so they
//! always agree.

use super::index::{Block, Def, DefKind, Symbol};
use super::Analysis;
use crate::check::{builtins, TRAIN_SETTINGS};
use crate::diagnostic::Loc;
use crate::types::Type;
use dlp_grammar::ast::{FnDecl, Item, ModelDecl, Param, StmtKind};
use dlp_grammar::format;

/// The settings of a `dataset` block, with what each holds.
pub const DATASET_SETTINGS: &[(&str, &str)] = &[
    (
        "source",
        "where samples come from: `csv(\"file.csv\")`, `idx(...)`, or one source per split",
    ),
    (
        "split",
        "named fractions of the data: `{ train: 0.8, test: 0.2 }`",
    ),
    (
        "shuffle",
        "shuffle the samples: `seed(7)`, `true` or `false`",
    ),
];

#[derive(Clone, Debug, PartialEq)]
pub struct Description {
    /// dlp text: a signature or `name: type`, maybe several lines.
    pub code: String,
    /// Short plain lines: what it belongs to, what it is.
    pub note: Option<String>,
    pub doc: Option<String>,
}

impl Description {
    pub fn markdown(&self) -> String {
        let mut out = format!("```dlp\n{}\n```", self.code);
        for part in [&self.note, &self.doc].into_iter().flatten() {
            out.push_str("\n\n");
            out.push_str(part);
        }
        out
    }
}

/// `symbol`, as seen from the occurrence at `at` (whose type, if the checker
/// recorded one, is the most precise: a dataset field is batched in `train`).
pub fn describe(a: &Analysis, symbol: &Symbol, at: Option<Loc>) -> Option<Description> {
    match symbol {
        Symbol::Def(loc) => describe_def(a, *loc, at),
        Symbol::Module(m) => Some(Description {
            code: format!("module {}", a.compilation.program.modules.get(*m)?.path),
            note: None,
            doc: None,
        }),
        Symbol::Builtin(name) => {
            let b = builtins::find(name)?;
            Some(Description {
                code: builtin_signature(b),
                note: Some("built-in".to_string()),
                doc: Some(b.doc.to_string()),
            })
        }
        Symbol::Setting(block, key) => {
            let (table, what) = match block {
                Block::Train => (TRAIN_SETTINGS, "train"),
                Block::Dataset => (DATASET_SETTINGS, "dataset"),
            };
            let (_, doc) = table.iter().find(|(k, _)| k == key)?;
            Some(Description {
                code: format!("{key} = ..."),
                note: Some(format!("`{what}` setting")),
                doc: Some(capitalise(doc)),
            })
        }
        Symbol::Size(_, name) => Some(Description {
            code: format!("size {name}"),
            note: Some(
                "a size: bound by the arguments at each call, the same everywhere it appears"
                    .to_string(),
            ),
            doc: None,
        }),
    }
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn describe_def(a: &Analysis, loc: Loc, at: Option<Loc>) -> Option<Description> {
    let def = a.index.defs.get(&loc)?;
    let module = a.compilation.program.modules.get(def.owner.module)?;
    let item = module.ast.items.get(def.owner.item)?;
    let ty_at = |l: Option<Loc>| l.and_then(|l| a.types.get(&l)).filter(|t| !t.is_error());
    let ty = ty_at(at).or_else(|| ty_at(Some(loc)));
    let owner_name = item.name().map_or("", |n| n.name.as_str());
    let (code, note) = match (def.kind, item) {
        (DefKind::Fn, Item::Fn(f)) => (fn_signature(f), module_note(a, def)),
        (DefKind::Model, Item::Model(m)) => (
            model_summary(a, def, m),
            join_notes(module_note(a, def), trained_as(a, &m.name.name)),
        ),
        (DefKind::Dataset, _) => (dataset_summary(a, def), None),
        (DefKind::Train, _) => (format!("train {}", def.name), None),
        (DefKind::Param, Item::Fn(_) | Item::Model(_)) => {
            let p = params_of(item).iter().find(|p| p.name.span == loc.span)?;
            let kind = if matches!(item, Item::Fn(_)) {
                "fn"
            } else {
                "model"
            };
            (
                param_text(p),
                Some(format!("parameter of {kind} `{owner_name}`")),
            )
        }
        (DefKind::Weight, _) => {
            let written = weight_type(item, loc)?;
            (
                format!("param {}: {written}", def.name),
                Some(format!("learned weight of `{owner_name}`")),
            )
        }
        (DefKind::Input, _) => (
            format!("input {}: {}", def.name, show(ty)),
            Some(format!("input of model `{owner_name}`")),
        ),
        (DefKind::Output, _) => (
            format!("output {}: {}", def.name, show(ty)),
            Some(format!("output of model `{owner_name}`")),
        ),
        (DefKind::Local, _) => (format!("{}: {}", def.name, show(ty)), None),
        (DefKind::Field, _) => {
            let per_sample = at.is_none_or(|at| at.file == loc.file && is_inside_item(a, at, def));
            let note = if per_sample {
                format!("field of dataset `{owner_name}`, per sample")
            } else {
                format!("field of dataset `{owner_name}`, batched")
            };
            (format!("{}: {}", def.name, show(ty)), Some(note))
        }
        (DefKind::Split, _) => (
            format!("split {owner_name}.{}", def.name),
            Some(format!("a part of dataset `{owner_name}`")),
        ),
        _ => return None,
    };
    Some(Description {
        code,
        note,
        doc: def.doc.clone(),
    })
}

fn show(ty: Option<&Type>) -> String {
    ty.map_or_else(|| "?".to_string(), Type::to_string)
}

fn is_inside_item(a: &Analysis, at: Loc, def: &Def) -> bool {
    let module = &a.compilation.program.modules[def.owner.module];
    module.file == at.file
        && module
            .ast
            .items
            .get(def.owner.item)
            .is_some_and(|i| i.span().contains(at.span.start as usize))
}

/// "from std.nn" for what the stdlib declares.
/// What `dlpc summary` says of each train block that trains model `name`:
/// parameters, FLOPs and planned memory (when the program checks).
fn trained_as(a: &Analysis, name: &str) -> Option<String> {
    if a.compilation.has_errors() {
        return None;
    }
    let lines: Vec<String> = a.compilation.program.modules[0]
        .ast
        .items
        .iter()
        .filter_map(|item| match item {
            Item::Train(t) if trains(t, name) => Some(t),
            _ => None,
        })
        .filter_map(|t| {
            let s = crate::summary::summarize(&a.compilation, Some(&t.name.name), None).ok()?;
            Some(format!(
                "in train `{}` ({}, batch {}): {} parameters, {} FLOPs per sample forward; memory {} training, {} inference",
                s.train,
                s.model,
                s.batch,
                crate::summary::grouped(s.parameters),
                crate::summary::grouped(s.forward_flops_per_sample),
                crate::plan::bytes_text(s.training_memory.total() as f64),
                crate::plan::bytes_text(s.inference_memory.total() as f64),
            ))
        })
        .collect();
    (!lines.is_empty()).then(|| lines.join("\n\n"))
}

/// Whether train block `t` trains model `name` (`model = Mlp(...)`).
fn trains(t: &dlp_grammar::ast::EntriesDecl, name: &str) -> bool {
    use dlp_grammar::ast::ExprKind;
    t.entries.iter().any(|e| {
        e.key.name == "model"
            && match &e.value.kind {
                ExprKind::Call(callee, _) => {
                    matches!(&callee.kind, ExprKind::Name(id) if id.name == name)
                }
                ExprKind::Name(id) => id.name == name,
                _ => false,
            }
    })
}

fn join_notes(a: Option<String>, b: Option<String>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => Some(format!("{a}\n\n{b}")),
        (a, b) => a.or(b),
    }
}

fn module_note(a: &Analysis, def: &Def) -> Option<String> {
    let module = &a.compilation.program.modules[def.owner.module];
    a.file(module.file)
        .is_stdlib
        .then(|| format!("from {}", module.path))
}

fn params_of(item: &Item) -> &[Param] {
    match item {
        Item::Fn(f) => &f.params,
        Item::Model(m) => &m.params,
        _ => &[],
    }
}

fn weight_type(item: &Item, loc: Loc) -> Option<String> {
    let body = match item {
        Item::Fn(f) => f.body.as_ref()?,
        Item::Model(m) => &m.body,
        _ => return None,
    };
    let mut stmts: Vec<&dlp_grammar::ast::Stmt> = body.stmts.iter().collect();
    while let Some(s) = stmts.pop() {
        match &s.kind {
            StmtKind::Param { name, ty, .. } if name.span == loc.span => {
                return Some(format::ty(ty))
            }
            StmtKind::Repeat { body, .. } => stmts.extend(body.stmts.iter()),
            _ => {}
        }
    }
    None
}

/// `out: int = 10`
pub fn param_text(p: &Param) -> String {
    match &p.default {
        Some(d) => format!(
            "{}: {} = {}",
            p.name.name,
            format::ty(&p.ty),
            format::expr(d)
        ),
        None => format!("{}: {}", p.name.name, format::ty(&p.ty)),
    }
}

/// `fn linear(x: f32[..N, I], out: int) -> f32[..N, out]`
pub fn fn_signature(f: &FnDecl) -> String {
    let params: Vec<String> = f.params.iter().map(param_text).collect();
    let ret = f
        .ret
        .as_ref()
        .map_or(String::new(), |r| format!(" -> {}", format::ty(r)));
    let prefix = if f.body.is_none() { "extern fn" } else { "fn" };
    format!("{prefix} {}({}){ret}", f.name.name, params.join(", "))
}

/// `model Mlp(hidden: int = 128)` and its inputs and outputs, one a line.
fn model_summary(a: &Analysis, def: &Def, m: &ModelDecl) -> String {
    let params: Vec<String> = m.params.iter().map(param_text).collect();
    let mut out = format!("model {}({})", m.name.name, params.join(", "));
    if let Some(sig) = a.compilation.checked.models.get(&def.owner) {
        for (name, t, _) in &sig.inputs {
            out.push_str(&format!("\n    input {name}: {t}"));
        }
        for (name, t, _) in &sig.outputs {
            out.push_str(&format!("\n    output {name}: {t}"));
        }
    }
    out
}

/// `dataset digits` with its per-sample fields and its splits.
fn dataset_summary(a: &Analysis, def: &Def) -> String {
    let mut out = format!("dataset {}", def.name);
    if let Some(info) = a.compilation.checked.datasets.get(&def.owner) {
        for (name, t, _) in &info.fields {
            out.push_str(&format!("\n    {name}: {t}"));
        }
        if !info.splits.is_empty() {
            let names: Vec<&str> = info.splits.iter().map(|(s, _)| s.as_str()).collect();
            out.push_str(&format!("\n    splits: {}", names.join(", ")));
        }
    }
    out
}

/// `fn sum(x, axis?, keepdims?)`: built-ins have names but no written types.
pub fn builtin_signature(b: &builtins::Builtin) -> String {
    let params: Vec<String> = b
        .params
        .iter()
        .map(|(name, required)| {
            if *required {
                name.to_string()
            } else {
                format!("{name}?")
            }
        })
        .collect();
    format!("fn {}({})", b.name, params.join(", "))
}
