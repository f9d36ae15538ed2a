//! The syntax tree of one `.dlp` file.
//!
//! Every node carries the byte [`Span`] of the text it came from, so any later
//! stage can point back at the user's source. The tree keeps what the user
//! wrote, not what it means: parentheses stay (`Paren`), number literals keep
//! their spelling, and names are plain strings. Meaning comes from
//! `dlp-compiler`'s resolver and checker.

use std::fmt;
use std::ops::Range;

/// A half-open byte range into one source text.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span {
            start: start as u32,
            end: end as u32,
        }
    }

    /// The smallest span that covers both.
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    pub fn range(self) -> Range<usize> {
        self.start as usize..self.end as usize
    }

    pub fn contains(self, offset: usize) -> bool {
        (self.start as usize) <= offset && offset <= (self.end as usize)
    }

    pub fn shifted(self, by: usize) -> Span {
        Span::new(self.start as usize + by, self.end as usize + by)
    }
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

/// A parsed file: its top-level items in source order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ast {
    pub items: Vec<Item>,
    /// The names that items which did not parse declare or import (their
    /// syntax errors are reported): later stages know these names but not
    /// what they are, so one syntax error stays one error.
    pub broken: Vec<Ident>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// The text of consecutive `///` lines, without the slashes.
#[derive(Clone, Debug, PartialEq)]
pub struct Doc {
    pub lines: Vec<String>,
    pub span: Span,
}

impl Doc {
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Use(UseDecl),
    Dataset(EntriesDecl),
    Fn(FnDecl),
    Model(ModelDecl),
    Train(EntriesDecl),
}

impl Item {
    pub fn span(&self) -> Span {
        match self {
            Item::Use(u) => u.span,
            Item::Dataset(d) | Item::Train(d) => d.span,
            Item::Fn(f) => f.span,
            Item::Model(m) => m.span,
        }
    }

    /// The name the item declares (`None` for `use`).
    pub fn name(&self) -> Option<&Ident> {
        match self {
            Item::Use(_) => None,
            Item::Dataset(d) | Item::Train(d) => Some(&d.name),
            Item::Fn(f) => Some(&f.name),
            Item::Model(m) => Some(&m.name),
        }
    }

    pub fn doc(&self) -> Option<&Doc> {
        match self {
            Item::Use(u) => u.doc.as_ref(),
            Item::Dataset(d) | Item::Train(d) => d.doc.as_ref(),
            Item::Fn(f) => f.doc.as_ref(),
            Item::Model(m) => m.doc.as_ref(),
        }
    }
}

/// `use std.nn.{linear, relu}`, `use std.loss.cross_entropy`, `use mylayers`.
#[derive(Clone, Debug, PartialEq)]
pub struct UseDecl {
    pub doc: Option<Doc>,
    /// The dotted path after `use`, up to (not including) a brace group.
    pub path: Vec<Ident>,
    pub group: Option<Vec<UseName>>,
    /// `use a.b as c`.
    pub alias: Option<Ident>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct UseName {
    pub name: Ident,
    pub alias: Option<Ident>,
    pub span: Span,
}

/// A `dataset` or `train` block: a list of `key = value` entries.
#[derive(Clone, Debug, PartialEq)]
pub struct EntriesDecl {
    pub doc: Option<Doc>,
    pub name: Ident,
    pub entries: Vec<Entry>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub doc: Option<Doc>,
    pub key: Ident,
    pub value: Expr,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FnDecl {
    pub doc: Option<Doc>,
    pub name: Ident,
    pub params: Vec<Param>,
    pub ret: Option<TypeExpr>,
    /// `where D % heads == 0, B >= 2, ...`
    pub facts: Vec<Fact>,
    /// `None` for `extern fn`, whose meaning the compiler provides.
    pub body: Option<Block>,
    pub span: Span,
}

/// A fact about sizes in a `where` clause: `left % right == 0` (`right`
/// divides `left`), or a comparison such as `left >= right`.
#[derive(Clone, Debug, PartialEq)]
pub struct Fact {
    pub left: DimExpr,
    pub relation: Relation,
    pub right: DimExpr,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relation {
    /// `left % right == 0`
    Divides,
    /// `>=`
    AtLeast,
    /// `>`
    Above,
    /// `<=`
    AtMost,
    /// `<`
    Below,
}

impl Relation {
    /// Whether `left relation right` holds for these numbers.
    pub fn holds(self, left: i64, right: i64) -> bool {
        match self {
            Relation::Divides => right >= 1 && left % right == 0,
            Relation::AtLeast => left >= right,
            Relation::Above => left > right,
            Relation::AtMost => left <= right,
            Relation::Below => left < right,
        }
    }

    /// The operator as written (`%` for divisibility: `left % right == 0`).
    pub fn symbol(self) -> &'static str {
        match self {
            Relation::Divides => "%",
            Relation::AtLeast => ">=",
            Relation::Above => ">",
            Relation::AtMost => "<=",
            Relation::Below => "<",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ModelDecl {
    pub doc: Option<Doc>,
    pub name: Ident,
    pub params: Vec<Param>,
    pub body: Block,
    pub span: Span,
}

/// A parameter of a `fn` or `model` signature: `out: int = 10`.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub doc: Option<Doc>,
    pub name: Ident,
    pub ty: TypeExpr,
    pub default: Option<Expr>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub stmts: Vec<Stmt>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    pub doc: Option<Doc>,
    pub kind: StmtKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum StmtKind {
    /// `param w: f32[I, out] = glorot_uniform()`, or with `state`, a
    /// value the model keeps between steps that the optimiser never
    /// touches: `state mean: f32[C] = zeros()`.
    Param {
        name: Ident,
        ty: TypeExpr,
        init: Option<Expr>,
        state: bool,
    },
    /// `update mean = 0.9 * mean + 0.1 * mu`: the state's value after a
    /// training step (skipped outside training).
    Update { name: Ident, value: Expr },
    /// `input x: f32[B, 64]`
    Input { name: Ident, ty: TypeExpr },
    /// `output logits = linear(h, 10)`
    Output {
        name: Ident,
        ty: Option<TypeExpr>,
        value: Expr,
    },
    /// `h = relu(h)`
    Let { name: Ident, value: Expr },
    /// `repeat 4 { h = block(h) }`
    Repeat { count: Expr, body: Block },
    /// A bare expression; the last one of a `fn` body is its result.
    Expr(Expr),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// An integer literal and its spelling (`1_000`).
    Int(i64, String),
    /// A float literal and its spelling (`1e-3`).
    Float(f64, String),
    Str(String),
    Bool(bool),
    Name(Ident),
    /// `digits.train`, `nn.linear`
    Field(Box<Expr>, Ident),
    Call(Box<Expr>, Vec<Arg>),
    /// `x[1:3, i, ...]`
    Index(Box<Expr>, Vec<IndexItem>),
    Neg(Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `0..64`
    Range(Box<Expr>, Box<Expr>),
    List(Vec<Expr>),
    Record(Vec<RecordField>),
    /// `e as f32[64]`, `e as class(10)`
    Cast(Box<Expr>, TypeExpr),
    Paren(Box<Expr>),
}

/// One item between the brackets of an index.
#[derive(Clone, Debug, PartialEq)]
pub enum IndexItem {
    /// `i`: one position; the axis goes away.
    At(Expr),
    /// `start:end:step`, each part optional; the axis stays.
    Slice {
        start: Option<Expr>,
        end: Option<Expr>,
        step: Option<Expr>,
        span: Span,
    },
    /// `...`: every axis the other items do not name.
    Ellipsis(Span),
}

impl IndexItem {
    pub fn span(&self) -> Span {
        match self {
            IndexItem::At(e) => e.span,
            IndexItem::Slice { span, .. } | IndexItem::Ellipsis(span) => *span,
        }
    }

    /// The expressions inside, in source order.
    pub fn exprs(&self) -> impl Iterator<Item = &Expr> {
        let parts: [Option<&Expr>; 3] = match self {
            IndexItem::At(e) => [Some(e), None, None],
            IndexItem::Slice {
                start, end, step, ..
            } => [start.as_ref(), end.as_ref(), step.as_ref()],
            IndexItem::Ellipsis(_) => [None, None, None],
        };
        parts.into_iter().flatten()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Expr,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RecordField {
    pub name: Ident,
    pub value: Expr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    MatMul,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
            BinOp::MatMul => "@",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
        }
    }

    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge
        )
    }

    /// Binding strength; higher binds tighter. Ranges are below all of these.
    pub fn precedence(self) -> u8 {
        match self {
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => 1,
            BinOp::Add | BinOp::Sub => 2,
            BinOp::Mul | BinOp::Div | BinOp::Rem | BinOp::MatMul => 3,
        }
    }
}

/// A written type: `f32[B, 64]`, `int`, `class(10)`, `f32[..N, (H - k) / s + 1]`.
#[derive(Clone, Debug, PartialEq)]
pub struct TypeExpr {
    pub dtype: DTypeExpr,
    /// `None` when no brackets were written (`f32`, `int`).
    pub shape: Option<Vec<DimItem>>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum DTypeExpr {
    Named(Ident),
    /// `class(10)`: integer labels in `0..10`.
    Class(DimExpr, Span),
}

#[derive(Clone, Debug, PartialEq)]
pub enum DimItem {
    Dim(DimExpr),
    /// `..N`: a group of any number of dimensions.
    Variadic(Ident),
}

#[derive(Clone, Debug, PartialEq)]
pub struct DimExpr {
    pub kind: DimExprKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum DimExprKind {
    Int(i64),
    Name(Ident),
    Binary(BinOp, Box<DimExpr>, Box<DimExpr>),
    Paren(Box<DimExpr>),
}
