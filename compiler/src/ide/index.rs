//! Every identifier of every module, and what it is.
//!
//! The checker records types and use → definition pairs; what it does not
//! record is where the identifiers are and which role each plays (a
//! definition, a use, a named argument, a setting key, a name in a `use`).
//! This walk over the syntax trees adds that, so a cursor offset can be
//! turned into a [`Symbol`] and a symbol into all of its occurrences.

use crate::diagnostic::{FileId, Loc};
use crate::load::Program;
use crate::resolve::DefId;
use dlp_grammar::ast::*;
use dlp_grammar::Span;
use std::collections::HashMap;

/// What a name refers to, once resolved; two occurrences of the same symbol
/// compare equal.
#[derive(Clone, Debug, PartialEq)]
pub enum Symbol {
    /// Something declared in a program file, by the place of its (first) definition.
    Def(Loc),
    /// A module (`std.nn`, `mylayers`), by its index in the program.
    Module(usize),
    /// A built-in function.
    Builtin(&'static str),
    /// A setting of a `train` or `dataset` block (`epochs`, `source`).
    Setting(Block, String),
    /// A size name in the written types of one fn or model that no parameter
    /// defines (`B`, `N` of `..N`).
    Size(DefId, String),
}

/// The kind of block a setting belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Block {
    Dataset,
    Train,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Role {
    Def,
    /// A name used as a value; `call` is the span of the call when it is the callee.
    Use {
        call: Option<Span>,
    },
    /// `name = value` in a call; `callee` is the span of the callee's last identifier.
    NamedArg {
        callee: Span,
    },
    Setting(Block),
    /// A name in a `use`: the dotted path up to and including it.
    Import {
        path: Vec<String>,
    },
    /// A size name in a written type, inside `owner`'s signature or body.
    Size {
        owner: DefId,
    },
}

#[derive(Clone, Debug)]
pub struct Occurrence {
    pub span: Span,
    pub role: Role,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefKind {
    Fn,
    Model,
    Dataset,
    Train,
    /// A parameter of a `fn` or `model` signature.
    Param,
    /// `param w: ...` in a body: a learned weight.
    Weight,
    Input,
    Output,
    Local,
    /// A per-sample field of a dataset.
    Field,
    Split,
}

/// A definition site.
#[derive(Clone, Debug)]
pub struct Def {
    pub kind: DefKind,
    pub name: String,
    pub doc: Option<String>,
    /// The item it is declared in (itself, for an item).
    pub owner: DefId,
    /// The first definition of the same local name in the same body: a local
    /// assigned twice (`h = ...; h = ...`) is one symbol.
    pub first: Loc,
}

#[derive(Default)]
pub struct Index {
    pub defs: HashMap<Loc, Def>,
    /// Per file, sorted by start.
    pub occurrences: HashMap<FileId, Vec<Occurrence>>,
}

impl Index {
    pub fn build(program: &Program) -> Index {
        let mut index = Index::default();
        for (m, module) in program.modules.iter().enumerate() {
            let mut walker = Walker {
                file: module.file,
                owner: DefId { module: m, item: 0 },
                occurrences: Vec::new(),
                defs: &mut index.defs,
                firsts: HashMap::new(),
            };
            for (i, item) in module.ast.items.iter().enumerate() {
                walker.owner = DefId { module: m, item: i };
                walker.item(item);
            }
            let mut occurrences = walker.occurrences;
            occurrences.sort_by_key(|o| (o.span.start, o.span.end));
            index.occurrences.insert(module.file, occurrences);
        }
        index
    }

    /// The innermost identifier of `file` that touches `offset` (a cursor
    /// just after a name is still on it).
    pub fn at(&self, file: FileId, offset: usize) -> Option<&Occurrence> {
        let occurrences = self.occurrences.get(&file)?;
        let end = occurrences.partition_point(|o| o.span.start as usize <= offset);
        occurrences[..end]
            .iter()
            .rev()
            .take(8)
            .filter(|o| o.span.contains(offset))
            .min_by_key(|o| (o.span.end - o.span.start, std::cmp::Reverse(o.span.start)))
    }
}

struct Walker<'i> {
    file: FileId,
    owner: DefId,
    occurrences: Vec<Occurrence>,
    defs: &'i mut HashMap<Loc, Def>,
    /// (owner, name) → first definition, for locals.
    firsts: HashMap<(DefId, String), Loc>,
}

impl Walker<'_> {
    fn occur(&mut self, span: Span, role: Role) {
        self.occurrences.push(Occurrence { span, role });
    }

    fn define(&mut self, name: &Ident, kind: DefKind, doc: Option<&Doc>) {
        let loc = Loc::new(self.file, name.span);
        let first = if matches!(
            kind,
            DefKind::Param | DefKind::Weight | DefKind::Input | DefKind::Output | DefKind::Local
        ) {
            *self
                .firsts
                .entry((self.owner, name.name.clone()))
                .or_insert(loc)
        } else {
            loc
        };
        self.defs.insert(
            loc,
            Def {
                kind,
                name: name.name.clone(),
                doc: doc.map(Doc::text),
                owner: self.owner,
                first,
            },
        );
        self.occur(name.span, Role::Def);
    }

    fn item(&mut self, item: &Item) {
        match item {
            Item::Use(u) => self.use_decl(u),
            Item::Dataset(d) => self.entries(d, DefKind::Dataset, Block::Dataset),
            Item::Train(t) => self.entries(t, DefKind::Train, Block::Train),
            Item::Fn(f) => {
                self.define(&f.name, DefKind::Fn, f.doc.as_ref());
                self.params(&f.params);
                if let Some(ret) = &f.ret {
                    self.ty(ret);
                }
                if let Some(body) = &f.body {
                    self.block(body);
                }
            }
            Item::Model(m) => {
                self.define(&m.name, DefKind::Model, m.doc.as_ref());
                self.params(&m.params);
                self.block(&m.body);
            }
        }
    }

    fn use_decl(&mut self, u: &UseDecl) {
        let mut path = Vec::new();
        for segment in &u.path {
            path.push(segment.name.clone());
            self.occur(segment.span, Role::Import { path: path.clone() });
        }
        if let Some(alias) = &u.alias {
            self.occur(alias.span, Role::Import { path: path.clone() });
        }
        for n in u.group.iter().flatten() {
            let mut full = path.clone();
            full.push(n.name.name.clone());
            self.occur(n.name.span, Role::Import { path: full.clone() });
            if let Some(alias) = &n.alias {
                self.occur(alias.span, Role::Import { path: full });
            }
        }
    }

    fn entries(&mut self, d: &EntriesDecl, kind: DefKind, block: Block) {
        self.define(&d.name, kind, d.doc.as_ref());
        for e in &d.entries {
            let is_setting = match block {
                Block::Train => true,
                Block::Dataset => ["source", "split", "shuffle"].contains(&e.key.name.as_str()),
            };
            if is_setting {
                self.occur(e.key.span, Role::Setting(block));
            } else {
                self.define(&e.key, DefKind::Field, e.doc.as_ref());
            }
            let names_splits =
                block == Block::Dataset && matches!(e.key.name.as_str(), "split" | "source");
            match (&e.value.kind, names_splits) {
                (ExprKind::Record(fields), true) => {
                    for f in fields {
                        self.define(&f.name, DefKind::Split, None);
                        self.expr(&f.value);
                    }
                }
                _ => self.expr(&e.value),
            }
        }
    }

    fn params(&mut self, params: &[Param]) {
        for p in params {
            self.define(&p.name, DefKind::Param, p.doc.as_ref());
            self.ty(&p.ty);
            if let Some(d) = &p.default {
                self.expr(d);
            }
        }
    }

    fn block(&mut self, b: &dlp_grammar::ast::Block) {
        for s in &b.stmts {
            let doc = s.doc.as_ref();
            match &s.kind {
                StmtKind::Param { name, ty, init, .. } => {
                    self.define(name, DefKind::Weight, doc);
                    self.ty(ty);
                    if let Some(init) = init {
                        self.expr(init);
                    }
                }
                StmtKind::Input { name, ty } => {
                    self.define(name, DefKind::Input, doc);
                    self.ty(ty);
                }
                StmtKind::Output { name, ty, value } => {
                    // The value is checked before the name is defined.
                    self.expr(value);
                    self.define(name, DefKind::Output, doc);
                    if let Some(ty) = ty {
                        self.ty(ty);
                    }
                }
                StmtKind::Let { name, value } => {
                    self.expr(value);
                    self.define(name, DefKind::Local, doc);
                }
                StmtKind::Update { name, value } => {
                    self.expr(value);
                    self.occur(name.span, Role::Use { call: None });
                }
                StmtKind::Repeat { count, body } => {
                    self.expr(count);
                    self.block(body);
                }
                StmtKind::Expr(e) => self.expr(e),
            }
        }
    }

    fn expr(&mut self, e: &Expr) {
        match &e.kind {
            ExprKind::Int(..) | ExprKind::Float(..) | ExprKind::Str(_) | ExprKind::Bool(_) => {}
            ExprKind::Name(n) => self.occur(n.span, Role::Use { call: None }),
            ExprKind::Field(base, name) => {
                self.expr(base);
                self.occur(name.span, Role::Use { call: None });
            }
            ExprKind::Call(callee, args) => {
                let callee_name = match &callee.kind {
                    ExprKind::Name(n) => Some(n.span),
                    ExprKind::Field(base, n) => {
                        self.expr(base);
                        Some(n.span)
                    }
                    _ => {
                        self.expr(callee);
                        None
                    }
                };
                if let Some(span) = callee_name {
                    self.occur(span, Role::Use { call: Some(e.span) });
                }
                for a in args {
                    if let (Some(n), Some(callee)) = (&a.name, callee_name) {
                        self.occur(n.span, Role::NamedArg { callee });
                    }
                    self.expr(&a.value);
                }
            }
            ExprKind::Neg(x) | ExprKind::Paren(x) => self.expr(x),
            ExprKind::Index(x, items) => {
                self.expr(x);
                items
                    .iter()
                    .flat_map(|i| i.exprs())
                    .for_each(|e| self.expr(e));
            }
            ExprKind::Binary(_, l, r) | ExprKind::Range(l, r) => {
                self.expr(l);
                self.expr(r);
            }
            ExprKind::List(items) => items.iter().for_each(|x| self.expr(x)),
            ExprKind::Record(fields) => fields.iter().for_each(|f| self.expr(&f.value)),
            ExprKind::Cast(x, t) => {
                self.expr(x);
                self.ty(t);
            }
        }
    }

    fn ty(&mut self, t: &TypeExpr) {
        if let DTypeExpr::Class(d, _) = &t.dtype {
            self.dim(d);
        }
        for item in t.shape.iter().flatten() {
            match item {
                DimItem::Dim(d) => self.dim(d),
                DimItem::Variadic(n) => self.occur(n.span, Role::Size { owner: self.owner }),
            }
        }
    }

    fn dim(&mut self, d: &DimExpr) {
        match &d.kind {
            DimExprKind::Int(_) => {}
            DimExprKind::Name(n) => self.occur(n.span, Role::Size { owner: self.owner }),
            DimExprKind::Binary(_, l, r) => {
                self.dim(l);
                self.dim(r);
            }
            DimExprKind::Paren(x) => self.dim(x),
        }
    }
}
