//! Completion: what may be typed at the cursor.
//!
//! The context is read from the text before the cursor, since the item being
//! typed rarely parses: a `use` line offers modules and their items; after
//! `name.` the dataset's fields and splits or the module's items; at the
//! start of a line in a `train`/`dataset` block the settings not yet set;
//! inside a call the parameters not yet named, then everything in scope.
//! "In scope" is the body's locals (read from the text), the file's
//! declarations and imports, the built-ins, and the stdlib functions not yet
//! imported (choosing one adds its `use`).

use super::describe::{builtin_signature, describe, fn_signature, DATASET_SETTINGS};
use super::index::Symbol;
use super::signature::{callee, enclosing_item_start};
use super::text::{self, is_ident_char};
use super::Analysis;
use crate::check::{builtins, TRAIN_SETTINGS};
use crate::diagnostic::Loc;
use crate::resolve::Binding;
use crate::stdlib;
use dlp_grammar::ast::Item;
use dlp_grammar::Span;
use std::collections::HashSet;

#[derive(Clone, Debug, PartialEq)]
pub struct Completion {
    pub label: String,
    pub kind: CompletionKind,
    /// A short line shown beside the label: a signature or a type.
    pub detail: Option<String>,
    pub documentation: Option<String>,
    /// What to insert instead of the label (`epochs = `, `p = `).
    pub insert_text: Option<String>,
    /// Another edit made with it, in the root file: the `use` a stdlib name needs.
    pub additional_edit: Option<(Span, String)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompletionKind {
    Function,
    Model,
    Dataset,
    Train,
    Variable,
    Field,
    Split,
    Module,
    Keyword,
    Argument,
    Setting,
}

impl Completion {
    fn new(label: impl Into<String>, kind: CompletionKind) -> Completion {
        Completion {
            label: label.into(),
            kind,
            detail: None,
            documentation: None,
            insert_text: None,
            additional_edit: None,
        }
    }

    fn detail(mut self, detail: impl Into<String>) -> Completion {
        self.detail = Some(detail.into());
        self
    }

    fn doc(mut self, doc: Option<String>) -> Completion {
        self.documentation = doc;
        self
    }

    fn insert(mut self, text: impl Into<String>) -> Completion {
        self.insert_text = Some(text.into());
        self
    }
}

const ITEM_KEYWORDS: [&str; 6] = ["use", "dataset", "fn", "extern", "model", "train"];
const STMT_KEYWORDS: [&str; 6] = ["input", "output", "param", "repeat", "state", "update"];

pub fn completions(a: &Analysis, offset: usize) -> Vec<Completion> {
    let text = a.root_text();
    let start = text::word_start(text, offset);
    let line = text::line_before(text, start);
    let item_start = enclosing_item_start(text, offset);
    let item_keyword = item_keyword(&text[item_start..offset]);
    let mut out = if line.trim_start().starts_with("use ") || line.trim_start() == "use" {
        use_completions(a, line.trim_start().trim_start_matches("use").trim())
    } else if text[..start].ends_with('.') {
        member_completions(a, text, start - 1)
    } else if line.trim().is_empty() && inside_braces(text, item_start, start) {
        // At a line's start inside a body, at any column (an editor's
        // fresh line may not be indented yet).
        block_start_completions(a, text, item_start, offset, item_keyword)
    } else if line.is_empty() {
        ITEM_KEYWORDS
            .iter()
            .map(|k| Completion::new(*k, CompletionKind::Keyword))
            .collect()
    } else {
        let mut out = argument_completions(a, text, item_start, start);
        out.extend(scope_completions(a, text, item_start, start, item_keyword));
        out
    };
    let mut seen = HashSet::new();
    out.retain(|c| seen.insert(c.label.clone()));
    out
}

/// The keyword the item starts with (`train`, `fn`, ...), after its doc lines.
fn item_keyword(item_text: &str) -> &str {
    item_text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("//"))
        .and_then(|l| l.split(|c: char| !is_ident_char(c)).next())
        .unwrap_or("")
}

fn inside_braces(text: &str, from: usize, offset: usize) -> bool {
    let code = text::mask_strings_and_comments(&text[from..offset]);
    code.matches('{').count() > code.matches('}').count()
}

/// After `use `: `std`, the stdlib's modules, or a module's items.
fn use_completions(a: &Analysis, path: &str) -> Vec<Completion> {
    let module_path = path
        .split('{')
        .next()
        .unwrap_or("")
        .trim()
        .trim_end_matches('.');
    let in_group = path.contains('{');
    if !in_group && !path.contains('.') {
        return vec![Completion::new("std", CompletionKind::Module).detail("the standard library")];
    }
    if !in_group && module_path == "std" {
        return stdlib::MODULES
            .iter()
            .map(|(m, _)| {
                Completion::new(*m, CompletionKind::Module).detail(format!("module std.{m}"))
            })
            .collect();
    }
    module_items(a, module_path)
}

/// The declarations of a module: loaded, or (for the stdlib) parsed here.
fn module_items(a: &Analysis, module_path: &str) -> Vec<Completion> {
    let program = &a.compilation.program;
    if let Some(m) = program.module_index(module_path) {
        return program.modules[m]
            .ast
            .items
            .iter()
            .enumerate()
            .filter_map(|(item, _)| {
                let def = crate::resolve::DefId { module: m, item };
                item_completion(
                    a,
                    Symbol::Def(a.def_loc(def)),
                    &program.modules[m].ast.items[item],
                )
            })
            .collect();
    }
    let Some(source) = module_path.strip_prefix("std.").and_then(stdlib::module) else {
        return Vec::new();
    };
    let (ast, _) = dlp_grammar::parse(source);
    ast.items
        .iter()
        .filter_map(|item| match item {
            Item::Fn(f) => Some(
                Completion::new(&f.name.name, CompletionKind::Function)
                    .detail(fn_signature(f))
                    .doc(f.doc.as_ref().map(|d| d.text())),
            ),
            _ => None,
        })
        .collect()
}

fn item_completion(a: &Analysis, symbol: Symbol, item: &Item) -> Option<Completion> {
    let (name, kind) = match item {
        Item::Use(_) => return None,
        Item::Fn(f) => (&f.name.name, CompletionKind::Function),
        Item::Model(m) => (&m.name.name, CompletionKind::Model),
        Item::Dataset(d) => (&d.name.name, CompletionKind::Dataset),
        Item::Train(t) => (&t.name.name, CompletionKind::Train),
    };
    let mut c = Completion::new(name, kind);
    if let Some(d) = describe(a, &symbol, None) {
        c = c.detail(d.code.lines().next().unwrap_or("")).doc(d.doc);
    }
    Some(c)
}

/// After `base.`: a dataset's fields and splits, or a module's items.
fn member_completions(a: &Analysis, text: &str, dot: usize) -> Vec<Completion> {
    let Some(base) = text::dotted_name_before(text, dot) else {
        return Vec::new();
    };
    let Some(scope) = a.scopes().modules.first() else {
        return Vec::new();
    };
    match scope.names.get(base) {
        Some((Binding::Module(m), _)) => {
            let path = a.compilation.program.modules[*m].path.clone();
            module_items(a, &path)
        }
        Some((Binding::Item(def), _)) => {
            let Some(info) = a.compilation.checked.datasets.get(def) else {
                return Vec::new();
            };
            let splits = info.splits.iter().map(|(s, _)| {
                Completion::new(s, CompletionKind::Split).detail(format!("split {}.{s}", info.name))
            });
            let fields = info.fields.iter().map(|(f, t, _)| {
                Completion::new(f, CompletionKind::Field).detail(format!("{f}: {t}"))
            });
            splits.chain(fields).collect()
        }
        None => Vec::new(),
    }
}

/// At the start of a line inside a block: settings, statement keywords.
fn block_start_completions(
    a: &Analysis,
    text: &str,
    item_start: usize,
    offset: usize,
    keyword: &str,
) -> Vec<Completion> {
    let settings = match keyword {
        "train" => TRAIN_SETTINGS,
        "dataset" => DATASET_SETTINGS,
        _ => {
            let mut out: Vec<Completion> = STMT_KEYWORDS
                .iter()
                .map(|k| Completion::new(*k, CompletionKind::Keyword))
                .collect();
            out.extend(scope_completions(a, text, item_start, offset, keyword));
            return out;
        }
    };
    let set: HashSet<&str> = text[item_start..]
        .lines()
        .filter_map(|l| l.trim().split_once('=').map(|(k, _)| k.trim()))
        .collect();
    settings
        .iter()
        .filter(|(k, _)| !set.contains(k))
        .map(|(k, doc)| {
            Completion::new(*k, CompletionKind::Setting)
                .detail(format!("{keyword} setting"))
                .doc(Some(doc.to_string()))
                .insert(format!("{k} = "))
        })
        .collect()
}

/// Inside `f(...)`: the parameters of `f` not named yet.
fn argument_completions(
    a: &Analysis,
    text: &str,
    item_start: usize,
    offset: usize,
) -> Vec<Completion> {
    let Some(open) = text::open_paren(text, item_start, offset) else {
        return Vec::new();
    };
    let Some(callee) = text::dotted_name_before(text, open).and_then(|n| callee(a, n)) else {
        return Vec::new();
    };
    let args = text::mask_strings_and_comments(&text[open + 1..offset]);
    callee
        .params
        .iter()
        .filter(|(name, _)| !names_argument(&args, name))
        .map(|(name, shown)| {
            Completion::new(name, CompletionKind::Argument)
                .detail(shown.clone())
                .insert(format!("{name} = "))
        })
        .collect()
}

fn names_argument(args: &str, name: &str) -> bool {
    args.split(',').any(|arg| {
        let arg = arg.trim_start();
        arg.strip_prefix(name).is_some_and(|rest| {
            rest.trim_start().starts_with('=') && !rest.trim_start().starts_with("==")
        })
    })
}

/// Locals, the file's names, built-ins, and stdlib functions to import.
fn scope_completions(
    a: &Analysis,
    text: &str,
    item_start: usize,
    offset: usize,
    keyword: &str,
) -> Vec<Completion> {
    let mut out = match keyword {
        "train" => train_names(a),
        "dataset" => locals(a, text, item_start, offset)
            .into_iter()
            .filter(|c| !DATASET_SETTINGS.iter().any(|(k, _)| *k == c.label))
            .collect(),
        _ => locals(a, text, item_start, offset),
    };
    let program = &a.compilation.program;
    let mut in_scope: Vec<(&String, &(Binding, Loc))> = a
        .scopes()
        .modules
        .first()
        .map(|s| s.names.iter().collect())
        .unwrap_or_default();
    in_scope.sort_by_key(|(name, _)| name.as_str());
    for (name, (binding, _)) in &in_scope {
        match binding {
            Binding::Module(m) => out.push(
                Completion::new(*name, CompletionKind::Module)
                    .detail(format!("module {}", program.modules[*m].path)),
            ),
            Binding::Item(def) => {
                let item = &program.modules[def.module].ast.items[def.item];
                if let Some(mut c) = item_completion(a, Symbol::Def(a.def_loc(*def)), item) {
                    c.label = name.to_string();
                    out.push(c);
                }
            }
        }
    }
    for b in builtins::BUILTINS {
        out.push(
            Completion::new(b.name, CompletionKind::Function)
                .detail(builtin_signature(b))
                .doc(Some(b.doc.to_string())),
        );
    }
    let scope_names: HashSet<&str> = in_scope.iter().map(|(n, _)| n.as_str()).collect();
    out.extend(stdlib_imports(a, &scope_names));
    out
}

/// Names a body defines before `offset`, read from the text: the header's
/// parameters and each `name =`, `input name`, `output name`, `param name`.
fn locals(a: &Analysis, text: &str, item_start: usize, offset: usize) -> Vec<Completion> {
    let code = text::mask_strings_and_comments(&text[item_start..offset]);
    let mut found: Vec<(String, usize)> = Vec::new();
    if let (Some(open), true) = (
        code.find('('),
        code.find('{').is_none_or(|b| code.find('(') < Some(b)),
    ) {
        let header_end = code[open..].find(')').map_or(code.len(), |c| open + c);
        let mut at = open + 1;
        for part in code[open + 1..header_end].split(',') {
            let name = part.trim_start();
            let lead = part.len() - name.len();
            let len = name.chars().take_while(|c| is_ident_char(*c)).count();
            if len > 0 && name[len..].trim_start().starts_with(':') {
                found.push((name[..len].to_string(), item_start + at + lead));
            }
            at += part.len() + 1;
        }
    }
    let body_start = code.find('{').map_or(code.len(), |b| b + 1);
    let mut at = body_start;
    for line in code[body_start..].split_inclusive('\n') {
        let trimmed = line.trim_start();
        let mut rest = trimmed;
        for kw in ["output ", "param ", "input "] {
            if let Some(r) = rest.strip_prefix(kw) {
                rest = r.trim_start();
            }
        }
        let len = rest.chars().take_while(|c| is_ident_char(*c)).count();
        let after = rest[len..].trim_start();
        let defines =
            after.starts_with(':') || (after.starts_with('=') && !after.starts_with("=="));
        if len > 0 && defines && line.ends_with('\n') {
            let pos = at + (line.len() - rest.len());
            found.push((rest[..len].to_string(), item_start + pos));
        }
        at += line.len();
    }
    found
        .into_iter()
        .rev()
        .filter(|(name, _)| !text::KEYWORDS.contains(&name.as_str()))
        .map(|(name, pos)| {
            let loc = Loc::new(a.root(), Span::new(pos, pos + name.len()));
            let c = Completion::new(&name, CompletionKind::Variable);
            match a.types.get(&loc).filter(|t| !t.is_error()) {
                Some(t) => c.detail(format!("{name}: {t}")),
                None => c,
            }
        })
        .collect()
}

/// What a train block's loss and metrics see: model outputs, dataset fields.
fn train_names(a: &Analysis) -> Vec<Completion> {
    let checked = &a.compilation.checked;
    let outputs = checked.models.values().flat_map(|m| {
        m.outputs.iter().map(move |(name, t, _)| {
            Completion::new(name, CompletionKind::Variable)
                .detail(format!("output {name}: {t}"))
                .doc(Some(format!("output of model `{}`", m.name)))
        })
    });
    let fields = checked.datasets.values().flat_map(|d| {
        d.fields.iter().map(move |(name, t, _)| {
            Completion::new(name, CompletionKind::Field)
                .detail(format!("{name}: {t}"))
                .doc(Some(format!("field of dataset `{}`, per sample", d.name)))
        })
    });
    let mut out: Vec<Completion> = outputs.chain(fields).collect();
    out.sort_by(|x, y| x.label.cmp(&y.label));
    out
}

/// Stdlib functions the file does not import yet; choosing one adds `use`.
fn stdlib_imports(a: &Analysis, in_scope: &HashSet<&str>) -> Vec<Completion> {
    let text = a.root_text();
    let insert_at = use_insertion_point(a);
    let mut out = Vec::new();
    for (module, source) in stdlib::MODULES {
        let (ast, _) = dlp_grammar::parse(source);
        for item in &ast.items {
            let Item::Fn(f) = item else { continue };
            if in_scope.contains(f.name.name.as_str()) {
                continue;
            }
            let line = format!("use std.{module}.{}\n", f.name.name);
            let mut c = Completion::new(&f.name.name, CompletionKind::Function)
                .detail(format!(
                    "{} (adds `use std.{module}.{}`)",
                    fn_signature(f),
                    f.name.name
                ))
                .doc(f.doc.as_ref().map(|d| d.text()));
            let prefix = if insert_at > 0 && !text[..insert_at].ends_with('\n') {
                "\n"
            } else {
                ""
            };
            c.additional_edit = Some((Span::new(insert_at, insert_at), format!("{prefix}{line}")));
            out.push(c);
        }
    }
    out
}

/// After the last `use` of the root file, or at its start.
fn use_insertion_point(a: &Analysis) -> usize {
    let text = a.root_text();
    let last_use = a.compilation.program.modules[0]
        .ast
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Use(u) => Some(u.span.end as usize),
            _ => None,
        })
        .max();
    match last_use {
        Some(end) => text[end..].find('\n').map_or(text.len(), |n| end + n + 1),
        None => 0,
    }
}
