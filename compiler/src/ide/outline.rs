//! The outline: each declaration of the root file and its named parts.

use super::describe::{fn_signature, param_text};
use super::Analysis;
use crate::diagnostic::Loc;
use dlp_grammar::ast::{Block, EntriesDecl, ExprKind, Item, Param, StmtKind};
use dlp_grammar::format;
use dlp_grammar::Span;

#[derive(Clone, Debug, PartialEq)]
pub struct DocumentSymbol {
    pub name: String,
    pub detail: Option<String>,
    pub kind: SymbolKind,
    /// The whole declaration.
    pub span: Span,
    /// Its name.
    pub selection: Span,
    pub children: Vec<DocumentSymbol>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SymbolKind {
    Function,
    Model,
    Dataset,
    Train,
    Parameter,
    Weight,
    Input,
    Output,
    Field,
    Split,
    Setting,
}

fn symbol(name: &str, kind: SymbolKind, span: Span, selection: Span) -> DocumentSymbol {
    DocumentSymbol {
        name: name.to_string(),
        detail: None,
        kind,
        span,
        selection,
        children: Vec::new(),
    }
}

pub fn document_symbols(a: &Analysis) -> Vec<DocumentSymbol> {
    let module = &a.compilation.program.modules[0];
    module
        .ast
        .items
        .iter()
        .filter_map(|item| match item {
            Item::Use(_) => None,
            Item::Fn(f) => {
                let mut s = symbol(&f.name.name, SymbolKind::Function, f.span, f.name.span);
                s.detail = Some(fn_signature(f));
                s.children = parameters(&f.params);
                if let Some(body) = &f.body {
                    s.children.extend(statements(a, body));
                }
                Some(s)
            }
            Item::Model(m) => {
                let mut s = symbol(&m.name.name, SymbolKind::Model, m.span, m.name.span);
                s.children = parameters(&m.params);
                s.children.extend(statements(a, &m.body));
                Some(s)
            }
            Item::Dataset(d) => Some(entries(a, d, SymbolKind::Dataset)),
            Item::Train(t) => Some(entries(a, t, SymbolKind::Train)),
        })
        .collect()
}

/// A signature's parameters, with their types and defaults.
fn parameters(params: &[Param]) -> Vec<DocumentSymbol> {
    params
        .iter()
        .map(|p| {
            let mut c = symbol(&p.name.name, SymbolKind::Parameter, p.span, p.name.span);
            c.detail = Some(param_text(p));
            c
        })
        .collect()
}

/// Weights, inputs and outputs (plain locals would crowd the outline).
fn statements(a: &Analysis, body: &Block) -> Vec<DocumentSymbol> {
    let mut out = Vec::new();
    for s in &body.stmts {
        let (name, kind, detail) = match &s.kind {
            StmtKind::Param {
                name, ty, state, ..
            } => (
                name,
                SymbolKind::Weight,
                format!(
                    "{} {}: {}",
                    if *state { "state" } else { "param" },
                    name.name,
                    format::ty(ty)
                ),
            ),
            StmtKind::Input { name, ty } => (
                name,
                SymbolKind::Input,
                format!("input {}: {}", name.name, format::ty(ty)),
            ),
            StmtKind::Output { name, .. } => {
                let ty = a
                    .types
                    .get(&Loc::new(a.root(), name.span))
                    .map_or("?".to_string(), |t| t.to_string());
                (
                    name,
                    SymbolKind::Output,
                    format!("output {}: {ty}", name.name),
                )
            }
            StmtKind::Repeat { body, .. } => {
                out.extend(statements(a, body));
                continue;
            }
            StmtKind::Let { .. } | StmtKind::Update { .. } | StmtKind::Expr(_) => continue,
        };
        let mut c = symbol(&name.name, kind, s.span, name.span);
        c.detail = Some(detail);
        out.push(c);
    }
    out
}

fn entries(a: &Analysis, d: &EntriesDecl, kind: SymbolKind) -> DocumentSymbol {
    let mut s = symbol(&d.name.name, kind, d.span, d.name.span);
    for e in &d.entries {
        let is_field = kind == SymbolKind::Dataset
            && !["source", "split", "shuffle"].contains(&e.key.name.as_str());
        let child_kind = if is_field {
            SymbolKind::Field
        } else {
            SymbolKind::Setting
        };
        let mut c = symbol(&e.key.name, child_kind, e.span, e.key.span);
        c.detail = Some(if is_field {
            a.types
                .get(&Loc::new(a.root(), e.key.span))
                .map_or_else(|| format::expr(&e.value), |t| t.to_string())
        } else {
            format::expr(&e.value)
        });
        if let (ExprKind::Record(fields), "split" | "source", SymbolKind::Dataset) =
            (&e.value.kind, e.key.name.as_str(), kind)
        {
            c.children = fields
                .iter()
                .map(|f| {
                    symbol(
                        &f.name.name,
                        SymbolKind::Split,
                        f.name.span.to(f.value.span),
                        f.name.span,
                    )
                })
                .collect();
        }
        s.children.push(c);
    }
    s
}
