//! `dataset` blocks: a source, per-sample fields, splits and shuffling.
//!
//! Fields have no batch axis; the `train` block adds it. Nothing is read
//! here: a CSV's columns are checked against the casts the program writes,
//! and the data itself is checked when it is loaded.

use super::expr::{self, Context, Env};
use super::{CheckError, Checker, DatasetInfo};
use crate::diagnostic::{did_you_mean, Loc};
use crate::resolve::DefId;
use crate::types::{SourceKind, Type};
use dlp_grammar::ast::{EntriesDecl, Entry, ExprKind, Item};
use std::collections::HashMap;

const SETTINGS: [&str; 3] = ["source", "split", "shuffle"];

pub fn all(cx: &mut Checker) {
    for (m, module) in cx.program.modules.iter().enumerate() {
        for (i, item) in module.ast.items.iter().enumerate() {
            if let Item::Dataset(d) = item {
                let def = DefId { module: m, item: i };
                let info = check_dataset(cx, def, d);
                cx.out.datasets.insert(def, info);
            }
        }
    }
}

/// Reports a key set twice; returns the entries by key (first wins).
pub fn entries_by_key<'a>(
    cx: &mut Checker,
    file: crate::diagnostic::FileId,
    d: &'a EntriesDecl,
) -> HashMap<&'a str, &'a Entry> {
    let mut by_key: HashMap<&str, &Entry> = HashMap::new();
    for e in &d.entries {
        if let Some(first) = by_key.get(e.key.name.as_str()) {
            cx.error(CheckError::DuplicateKey {
                key: e.key.name.clone(),
                loc: Loc::new(file, e.key.span),
                first: Loc::new(file, first.key.span),
            });
        } else {
            by_key.insert(&e.key.name, e);
        }
    }
    by_key
}

fn check_dataset(cx: &mut Checker, def: DefId, d: &EntriesDecl) -> DatasetInfo {
    let file = cx.file(def.module);
    let by_key = entries_by_key(cx, file, d);
    let mut env = Env::new(def.module, Context::Dataset(None));
    let mut info = DatasetInfo {
        name: d.name.name.clone(),
        fields: Vec::new(),
        broken_fields: Vec::new(),
        splits: Vec::new(),
        loc: Loc::new(file, d.name.span),
    };
    let mut kind = None;
    let mut split_sources = false;
    if let Some(source) = by_key.get("source") {
        match expr::check(cx, &mut env, &source.value) {
            Type::Source(k) => kind = Some(k),
            Type::Record(fields)
                if fields
                    .iter()
                    .all(|(_, t)| matches!(t, Type::Source(_) | Type::Error)) =>
            {
                // Separate sources per split: `{ train: csv(..), test: csv(..) }`.
                let kinds: Vec<_> = fields
                    .iter()
                    .filter_map(|(_, t)| {
                        if let Type::Source(k) = t {
                            Some(*k)
                        } else {
                            None
                        }
                    })
                    .collect();
                kind = Some(kinds.first().copied().unwrap_or(SourceKind::Broken));
                if let ExprKind::Record(rf) = &source.value.kind {
                    info.splits = rf
                        .iter()
                        .map(|f| (f.name.name.clone(), Loc::new(file, f.name.span)))
                        .collect();
                    same_source_kinds(cx, file, rf, &fields);
                }
                split_sources = true;
            }
            Type::Error => kind = Some(SourceKind::Broken),
            other => {
                kind = Some(SourceKind::Broken);
                expr::wrong_kind(
                    cx,
                    "`source`",
                    "a data source such as `csv(\"file.csv\")`",
                    &other,
                    expr::loc(cx, &env, &source.value),
                );
            }
        }
    }
    if let Some(split) = by_key.get("split") {
        if split_sources {
            let other = by_key
                .get("source")
                .map_or(info.loc, |s| Loc::new(file, s.key.span));
            cx.error(CheckError::Conflict {
                detail: "the splits are given twice: by `source` and by `split`".to_string(),
                loc: Loc::new(file, split.key.span),
                other,
            });
        } else {
            info.splits = check_split(cx, &mut env, split);
        }
    }
    if let Some(shuffle) = by_key.get("shuffle") {
        let t = expr::check(cx, &mut env, &shuffle.value);
        if !matches!(t, Type::Seed | Type::Bool(_) | Type::Error) {
            expr::wrong_kind(
                cx,
                "`shuffle`",
                "`seed(n)`, true or false",
                &t,
                expr::loc(cx, &env, &shuffle.value),
            );
        }
    }
    // Without any source, reading columns is one mistake, said once for
    // the dataset rather than at every `column(...)`.
    if kind.is_none() && !by_key.contains_key("source") && uses_csv(d) {
        cx.error(CheckError::DatasetSource {
            detail: format!(
                "dataset `{}` reads CSV columns but has no source",
                d.name.name
            ),
            loc: info.loc,
            help: Some("add `source = csv(\"file.csv\")`".to_string()),
        });
        kind = Some(SourceKind::Broken);
    }
    env.context = Context::Dataset(kind);
    for e in d
        .entries
        .iter()
        .filter(|e| !SETTINGS.contains(&e.key.name.as_str()))
    {
        if by_key
            .get(e.key.name.as_str())
            .is_some_and(|first| !std::ptr::eq(*first, e))
        {
            continue;
        }
        let t = expr::check(cx, &mut env, &e.value);
        let at = Loc::new(file, e.key.span);
        let field = match t {
            Type::Tensor(t) if !t.shape.has_group() => Some(t),
            Type::Error => None,
            Type::Raw => {
                cx.error(CheckError::Cast {
                    from: "raw data".to_string(),
                    to: "a tensor".to_string(),
                    loc: expr::loc(cx, &env, &e.value),
                    target: at,
                    detail: "give the records a type with `as`, e.g. `idx(\"...\") as u8[28, 28]`"
                        .to_string(),
                });
                None
            }
            other => {
                expr::wrong_kind(
                    cx,
                    &format!("field `{}`", e.key.name),
                    "a tensor with known dims",
                    &other,
                    expr::loc(cx, &env, &e.value),
                );
                None
            }
        };
        match field {
            Some(t) => {
                cx.out.types.push((at, Type::Tensor(t.clone())));
                env.define(&e.key.name, Type::Tensor(t.clone()), at);
                info.fields.push((e.key.name.clone(), t, at));
            }
            None => {
                env.define(&e.key.name, Type::Error, at);
                info.broken_fields.push((e.key.name.clone(), at));
            }
        }
    }
    info
}

/// The sources of the splits give the same fields, so they must be of one
/// kind (and image folders of one size and colour).
fn same_source_kinds(
    cx: &mut Checker,
    file: crate::diagnostic::FileId,
    written: &[dlp_grammar::ast::RecordField],
    types: &[(String, Type)],
) {
    let mut first: Option<(&Type, Loc)> = None;
    for (f, (_, t)) in written.iter().zip(types) {
        let at = Loc::new(file, f.value.span);
        if !matches!(t, Type::Source(_)) {
            continue;
        }
        match first {
            None => first = Some((t, at)),
            Some((kind, other)) if kind != t => {
                cx.error(CheckError::Conflict {
                    detail: format!(
                        "the splits' sources differ: {} here, {} for the first split (every split is read with the same fields)",
                        source_text(t),
                        source_text(kind)
                    ),
                    loc: at,
                    other,
                });
            }
            Some(_) => {}
        }
    }
}

fn source_text(t: &Type) -> String {
    match t {
        Type::Source(SourceKind::Images {
            channels,
            height,
            width,
        }) => format!("an image folder of {channels} x {height} x {width} images"),
        other => format!("a {other}"),
    }
}

fn uses_csv(d: &EntriesDecl) -> bool {
    d.entries.iter().any(|e| {
        let text = dlp_grammar::format::expr(&e.value);
        text.contains("column(") || text.contains("columns(")
    })
}

/// `{ train: 0.8, test: 0.2 }`: fractions in (0, 1] that add up to 1.
fn check_split(cx: &mut Checker, env: &mut Env, split: &Entry) -> Vec<(String, Loc)> {
    let file = cx.file(env.module);
    let t = expr::check(cx, env, &split.value);
    let ExprKind::Record(fields) = &split.value.kind else {
        if !t.is_error() {
            expr::wrong_kind(
                cx,
                "`split`",
                "a record of fractions like `{ train: 0.8, test: 0.2 }`",
                &t,
                expr::loc(cx, env, &split.value),
            );
        }
        return Vec::new();
    };
    let mut total = 0.0;
    let mut names = Vec::new();
    let Type::Record(types) = t else {
        return Vec::new();
    };
    for (f, (_, ty)) in fields.iter().zip(&types) {
        let at = expr::loc(cx, env, &f.value);
        let value = match ty {
            Type::Float(Some(v)) => *v,
            Type::Int(Some(d)) => d.as_const().unwrap_or(0) as f64,
            Type::Error => return Vec::new(),
            other => {
                expr::wrong_kind(
                    cx,
                    &format!("split `{}`", f.name.name),
                    "a fraction",
                    other,
                    at,
                );
                return Vec::new();
            }
        };
        if !(value > 0.0 && value <= 1.0) {
            cx.error(CheckError::OutOfRange {
                what: format!("split `{}`", f.name.name),
                value: value.to_string(),
                range: "in (0, 1]".to_string(),
                loc: at,
            });
        }
        total += value;
        names.push((f.name.name.clone(), Loc::new(file, f.name.span)));
    }
    if (total - 1.0).abs() > 1e-9 {
        cx.error(CheckError::Split {
            detail: format!(
                "the split fractions add up to {}, not 1",
                (total * 1e9).round() / 1e9
            ),
            loc: expr::loc(cx, env, &split.value),
        });
    }
    names
}

/// `digits.train`: a split that the dataset declares.
pub fn split(cx: &mut Checker, _env: &Env, dataset: &str, name: &str, at: Loc) -> Type {
    let found = crate::resolve::dataset_named(cx.program, dataset);
    let Some((def, decl)) = found else {
        return Type::Error;
    };
    let splits: Vec<(String, dlp_grammar::Span)> = decl
        .entries
        .iter()
        .filter(|e| e.key.name == "split" || e.key.name == "source")
        .filter_map(|e| match &e.value.kind {
            ExprKind::Record(fields) => Some(
                fields
                    .iter()
                    .map(|f| (f.name.name.clone(), f.name.span))
                    .collect::<Vec<_>>(),
            ),
            _ => None,
        })
        .flatten()
        .collect();
    if let Some((_, span)) = splits.iter().find(|(s, _)| s == name) {
        cx.out
            .references
            .push((at, Loc::new(cx.file(def.module), *span)));
        return Type::Split(dataset.to_string(), name.to_string());
    }
    let hint = if splits.is_empty() {
        Some(format!("`{dataset}` has no splits: use `{dataset}` itself, or add `split = {{ train: 0.8, test: 0.2 }}`"))
    } else {
        did_you_mean(name, splits.iter().map(|(s, _)| s.as_str())).or_else(|| {
            Some(format!(
                "its splits are {}",
                splits
                    .iter()
                    .map(|(s, _)| format!("`{s}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
    };
    cx.error(CheckError::UnknownMember {
        owner: format!("dataset `{dataset}`"),
        name: name.to_string(),
        loc: at,
        hint,
        defined: Some(cx.def_loc(def)),
    })
}

/// The dataset named by a `data`/`validate` value.
pub fn info_of<'c>(cx: &'c Checker, t: &Type) -> Option<&'c DatasetInfo> {
    let name = match t {
        Type::Split(d, _) | Type::Dataset(d) => d,
        _ => return None,
    };
    cx.out.datasets.values().find(|i| &i.name == name)
}
