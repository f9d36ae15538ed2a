//! Warnings: programs that check but are very likely not what their author
//! meant. Each has a code (`W0xxx`, listed in the book's diagnostics
//! chapter); `dlpc check --deny warnings` (and `run`) turns them into a
//! failure. Only the user's own modules are linted, never the stdlib.
//!
//! - W0001: a local value (`h = ...`) that nothing uses.
//! - W0002: a field of a dataset that trains or validates, which neither
//!   the model, the loss, the metrics nor another field reads.
//! - W0003: a model output named like a field of its training data: the
//!   loss and metrics see the output, and the field is never read.
//! - W0004: `softmax` (or `sigmoid`) applied before a loss that applies
//!   it itself.
//! - W0005: a model of a file with train blocks that none of them trains.

use crate::check::Checked;
use crate::diagnostic::{Diagnostic, FileId, Loc};
use crate::load::Program;
use crate::resolve::{Binding, DefId, Scopes};
use crate::types::Type;
use dlp_grammar::ast::{Block, EntriesDecl, Expr, ExprKind, Item, ModelDecl, StmtKind};
use std::collections::HashSet;

pub fn lint(program: &Program, scopes: &Scopes, checked: &Checked) -> Vec<Diagnostic> {
    let used: HashSet<Loc> = checked.references.iter().map(|(_, def)| *def).collect();
    let tensors: HashSet<Loc> = checked
        .types
        .iter()
        .filter(|(_, t)| matches!(t, Type::Tensor(_)))
        .map(|(l, _)| *l)
        .collect();
    let mut warnings = Vec::new();
    for (m, module) in program.modules.iter().enumerate() {
        if module.path.starts_with("std.") || module.path == "std" {
            continue;
        }
        let cx = Lint {
            program,
            scopes,
            module: m,
            file: module.file,
            used: &used,
            tensors: &tensors,
        };
        for item in &module.ast.items {
            match item {
                Item::Model(model) => cx.unused_locals(&model.body, &HashSet::new(), &mut warnings),
                Item::Fn(f) => {
                    if let Some(body) = &f.body {
                        cx.unused_locals(body, &HashSet::new(), &mut warnings);
                    }
                }
                Item::Train(train) => cx.train(train, &mut warnings),
                Item::Use(_) | Item::Dataset(_) => {}
            }
        }
        cx.unused_fields(&mut warnings);
        if m == 0 {
            cx.untrained_models(&mut warnings);
        }
    }
    warnings
}

struct Lint<'a> {
    program: &'a Program,
    scopes: &'a Scopes,
    module: usize,
    file: FileId,
    /// The definitions some use refers to.
    used: &'a HashSet<Loc>,
    /// The places whose checked type is a tensor.
    tensors: &'a HashSet<Loc>,
}

/// What a loss applies to its first argument itself, and the functions
/// that would apply it twice.
const LOSSES: &[(&str, &str, &[&str])] = &[
    // (`log_softmax` of a `log_softmax` is itself: harmless, not warned.)
    ("cross_entropy", "a log-softmax", &["softmax"]),
    ("soft_cross_entropy", "a log-softmax", &["softmax"]),
    ("binary_cross_entropy", "a sigmoid", &["sigmoid"]),
];

impl Lint<'_> {
    fn loc(&self, span: dlp_grammar::ast::Span) -> Loc {
        Loc::new(self.file, span)
    }

    /// W0001 in a body. `passes` holds the names a surrounding `repeat`
    /// reads: a value made in its body is read by its next pass.
    fn unused_locals(&self, body: &Block, passes: &HashSet<String>, out: &mut Vec<Diagnostic>) {
        for stmt in &body.stmts {
            match &stmt.kind {
                StmtKind::Let { name, .. } => {
                    let at = self.loc(name.span);
                    // Compile-time numbers are read by types too (`param w:
                    // f32[4, n]`), which the references do not record.
                    let tensor = self.tensors.contains(&at);
                    let unused = tensor && !self.used.contains(&at) && !passes.contains(&name.name);
                    if unused && !name.name.starts_with('_') {
                        out.push(
                            Diagnostic::warning(
                                "W0001",
                                at,
                                format!("`{}` is computed but never used", name.name),
                            )
                            .here("nothing reads this value")
                            .help(format!(
                                "use it, remove the line, or name it `_{}` to keep it unused",
                                name.name
                            )),
                        );
                    }
                }
                StmtKind::Repeat { body: inner, .. } => {
                    let mut read = passes.clone();
                    for stmt in &inner.stmts {
                        stmt_names(&stmt.kind, &mut read);
                    }
                    self.unused_locals(inner, &read, out);
                }
                _ => {}
            }
        }
    }

    /// The item a name (`Cnn`) or a module's name (`models.Cnn`) binds in
    /// this module's scope.
    fn item(&self, e: &Expr) -> Option<(DefId, &Item)> {
        let binding = match &e.kind {
            ExprKind::Name(n) => self.scopes.modules.get(self.module)?.names.get(&n.name)?,
            ExprKind::Field(base, n) => {
                let ExprKind::Name(module) = &base.kind else {
                    return None;
                };
                match self
                    .scopes
                    .modules
                    .get(self.module)?
                    .names
                    .get(&module.name)?
                {
                    (Binding::Module(m), _) => self.scopes.modules.get(*m)?.names.get(&n.name)?,
                    (Binding::Item(_), _) => return None,
                }
            }
            _ => return None,
        };
        match binding {
            (Binding::Item(def), _) => {
                let item = self.program.modules[def.module].ast.items.get(def.item)?;
                Some((*def, item))
            }
            (Binding::Module(_), _) => None,
        }
    }

    /// The dataset a `data` or `validate` entry names (`digits`,
    /// `digits.train`).
    fn dataset_of(&self, e: &Expr) -> Option<(DefId, &EntriesDecl)> {
        // The dataset itself, or one of its splits (`digits.train`).
        let whole = match &e.kind {
            ExprKind::Field(base, _) if self.item(e).is_none() => base,
            _ => e,
        };
        match self.item(whole)? {
            (def, Item::Dataset(d)) => Some((def, d)),
            _ => None,
        }
    }

    /// The model a `model` entry names (`Mlp`, `Mlp(hidden = 64)`,
    /// `models.Mlp()`).
    fn model_of(&self, e: &Expr) -> Option<(DefId, &ModelDecl)> {
        let named = match &e.kind {
            ExprKind::Call(callee, _) => callee,
            _ => e,
        };
        match self.item(named)? {
            (def, Item::Model(m)) => Some((def, m)),
            _ => None,
        }
    }

    fn train(&self, train: &EntriesDecl, out: &mut Vec<Diagnostic>) {
        let entry = |key: &str| train.entries.iter().find(|e| e.key.name == key);
        let Some((model_def, model)) = entry("model").and_then(|e| self.model_of(&e.value)) else {
            return;
        };
        let model_file = self.program.modules[model_def.module].file;
        let outputs: Vec<(&str, Loc, &Expr)> = model
            .body
            .stmts
            .iter()
            .filter_map(|s| match &s.kind {
                StmtKind::Output { name, value, .. } => {
                    Some((name.name.as_str(), Loc::new(model_file, name.span), value))
                }
                _ => None,
            })
            .collect();
        if let Some((data_def, data)) = entry("data").and_then(|e| self.dataset_of(&e.value)) {
            let data_file = self.program.modules[data_def.module].file;
            for (name, at, _) in &outputs {
                if let Some(field) = data.entries.iter().find(|f| f.key.name == *name) {
                    out.push(
                        Diagnostic::warning(
                            "W0003",
                            *at,
                            format!(
                                "output `{name}` of model `{}` has the name of field `{name}` of dataset `{}`: the loss and metrics of `{}` see the output, and the field is never read",
                                model.name.name, data.name.name, train.name.name
                            ),
                        )
                        .here("this output hides the field")
                        .label(Loc::new(data_file, field.key.span), "the field it hides")
                        .help(format!("rename the output (`output {name}_pred = ...`)")),
                    );
                }
            }
        }
        for key in ["loss", "metrics"] {
            if let Some(e) = entry(key) {
                self.double_activation(&e.value, &outputs, out);
            }
        }
    }

    /// W0004 in `e` (a loss, or a list of metrics).
    fn double_activation(
        &self,
        e: &Expr,
        outputs: &[(&str, Loc, &Expr)],
        out: &mut Vec<Diagnostic>,
    ) {
        let calls: Vec<&Expr> = match &e.kind {
            ExprKind::List(items) => items.iter().collect(),
            _ => vec![e],
        };
        for call in calls {
            let ExprKind::Call(callee, args) = &call.kind else {
                continue;
            };
            let Some(loss) = callee_name(callee) else {
                continue;
            };
            let Some((_, applies, twice)) = LOSSES.iter().find(|(l, ..)| *l == loss) else {
                continue;
            };
            let Some(first) = args.first() else {
                continue;
            };
            // The activation in the argument itself, or in the output it names.
            let (activation, at, output) = match &unparen(&first.value).kind {
                ExprKind::Name(n) => match outputs.iter().find(|(o, ..)| *o == n.name) {
                    Some((_, output_at, value)) => match outer_call(value) {
                        Some(f) => (f, self.loc(first.value.span), Some(*output_at)),
                        None => continue,
                    },
                    None => continue,
                },
                _ => match outer_call(&first.value) {
                    Some(f) => (f, self.loc(first.value.span), None),
                    None => continue,
                },
            };
            if !twice.contains(&activation) {
                continue;
            }
            let mut d = Diagnostic::warning(
                "W0004",
                at,
                format!("`{loss}` applies {applies} to its first argument itself, and this is already the result of `{activation}`"),
            )
            .here(format!("`{activation}` is applied twice"))
            .help(format!("give `{loss}` the scores before `{activation}` (the logits)"));
            if let Some(output_at) = output {
                d = d.label(output_at, format!("this output is a `{activation}`"));
            }
            out.push(d);
        }
    }

    /// W0005: in a file that trains, a model no train block names (a file
    /// without train blocks is a library of models, and is not warned).
    fn untrained_models(&self, out: &mut Vec<Diagnostic>) {
        let items = &self.program.modules[self.module].ast.items;
        if !items.iter().any(|i| matches!(i, Item::Train(_))) {
            return;
        }
        for item in items {
            let Item::Model(model) = item else { continue };
            let at = self.loc(model.name.span);
            if self.used.contains(&at) || model.name.name.starts_with('_') {
                continue;
            }
            out.push(
                Diagnostic::warning(
                    "W0005",
                    at,
                    format!("model `{}` is trained by no train block", model.name.name),
                )
                .here("never trained")
                .help(format!(
                    "train it (`model = {}()` in a train block), or remove it",
                    model.name.name
                )),
            );
        }
    }

    /// W0002: fields of the datasets that train or validate that nothing reads.
    fn unused_fields(&self, out: &mut Vec<Diagnostic>) {
        let module = &self.program.modules[self.module];
        let mut inputs_of: Vec<(DefId, HashSet<String>)> = Vec::new();
        let mut unknown: HashSet<DefId> = HashSet::new();
        for item in &module.ast.items {
            let Item::Train(train) = item else { continue };
            let entry = |key: &str| train.entries.iter().find(|e| e.key.name == key);
            let Some(model) = entry("model").and_then(|e| self.model_of(&e.value)) else {
                // Without the model, what its inputs read is unknown.
                for key in ["data", "validate"] {
                    if let Some((def, _)) = entry(key).and_then(|e| self.dataset_of(&e.value)) {
                        unknown.insert(def);
                    }
                }
                continue;
            };
            let mut reads: HashSet<String> = Some(model)
                .map(|(_, m)| {
                    m.body
                        .stmts
                        .iter()
                        .filter_map(|s| match &s.kind {
                            StmtKind::Input { name, .. } => Some(name.name.clone()),
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default();
            // The loss and metrics read the validation data's fields too,
            // by name (they are checked against the training data's).
            for key in ["loss", "metrics"] {
                if let Some(e) = entry(key) {
                    expr_names(&e.value, &mut reads);
                }
            }
            for key in ["data", "validate"] {
                if let Some((def, _)) = entry(key).and_then(|e| self.dataset_of(&e.value)) {
                    inputs_of.push((def, reads.clone()));
                }
            }
        }
        let mut seen = HashSet::new();
        for (def, _) in &inputs_of {
            if def.module != self.module || unknown.contains(def) || !seen.insert(*def) {
                continue;
            }
            let Item::Dataset(d) = &module.ast.items[def.item] else {
                continue;
            };
            for field in &d.entries {
                let name = &field.key.name;
                if matches!(name.as_str(), "source" | "split" | "shuffle") || name.starts_with('_')
                {
                    continue;
                }
                let at = self.loc(field.key.span);
                let read_by_model = inputs_of
                    .iter()
                    .any(|(other, inputs)| other == def && inputs.contains(name));
                if read_by_model || self.used.contains(&at) {
                    continue;
                }
                out.push(
                    Diagnostic::warning(
                        "W0002",
                        at,
                        format!(
                            "field `{name}` of dataset `{}` is read and checked, but nothing uses it",
                            d.name.name
                        ),
                    )
                    .here("no model input, loss, metric or other field reads this")
                    .help(format!(
                        "remove it, use it, or name it `_{name}` to keep it unused"
                    )),
                );
            }
        }
    }
}

fn unparen(e: &Expr) -> &Expr {
    match &e.kind {
        ExprKind::Paren(inner) => unparen(inner),
        _ => e,
    }
}

fn callee_name(callee: &Expr) -> Option<&str> {
    match &callee.kind {
        ExprKind::Name(n) => Some(&n.name),
        ExprKind::Field(_, n) => Some(&n.name),
        _ => None,
    }
}

/// The function `e` is a call of, outermost (through parentheses).
fn outer_call(e: &Expr) -> Option<&str> {
    match &unparen(e).kind {
        ExprKind::Call(callee, _) => callee_name(callee),
        _ => None,
    }
}

/// Every name read in a statement.
fn stmt_names(stmt: &StmtKind, out: &mut HashSet<String>) {
    match stmt {
        StmtKind::Let { value, .. }
        | StmtKind::Output { value, .. }
        | StmtKind::Update { value, .. }
        | StmtKind::Expr(value) => expr_names(value, out),
        StmtKind::Repeat { body, .. } => {
            for s in &body.stmts {
                stmt_names(&s.kind, out);
            }
        }
        StmtKind::Param { .. } | StmtKind::Input { .. } => {}
    }
}

/// Every name read in an expression.
fn expr_names(e: &Expr, out: &mut HashSet<String>) {
    match &e.kind {
        ExprKind::Name(n) => {
            out.insert(n.name.clone());
        }
        ExprKind::Field(base, _) => expr_names(base, out),
        ExprKind::Call(callee, args) => {
            expr_names(callee, out);
            for a in args {
                expr_names(&a.value, out);
            }
        }
        ExprKind::Index(base, items) => {
            expr_names(base, out);
            for item in items {
                match item {
                    dlp_grammar::ast::IndexItem::At(e) => expr_names(e, out),
                    dlp_grammar::ast::IndexItem::Slice {
                        start, end, step, ..
                    } => {
                        for e in [start, end, step].into_iter().flatten() {
                            expr_names(e, out);
                        }
                    }
                    dlp_grammar::ast::IndexItem::Ellipsis(_) => {}
                }
            }
        }
        ExprKind::Neg(x) | ExprKind::Paren(x) | ExprKind::Cast(x, _) => expr_names(x, out),
        ExprKind::Binary(_, a, b) | ExprKind::Range(a, b) => {
            expr_names(a, out);
            expr_names(b, out);
        }
        ExprKind::List(items) => {
            for x in items {
                expr_names(x, out);
            }
        }
        ExprKind::Record(fields) => {
            for f in fields {
                expr_names(&f.value, out);
            }
        }
        ExprKind::Int(..) | ExprKind::Float(..) | ExprKind::Str(_) | ExprKind::Bool(_) => {}
    }
}
