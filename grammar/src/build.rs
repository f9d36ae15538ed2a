//! pest pairs to AST nodes.
//!
//! The grammar guarantees each pair's shape, so the only failures here are
//! values pest cannot judge (an integer literal that overflows `i64`). Every
//! span is shifted by `offset`, the byte where this item's piece of the file
//! begins.

use crate::ast::*;
use crate::comments::comments;
use crate::parse::{ParseError, Rule};
use pest::iterators::{Pair, Pairs};
use pest::pratt_parser::{Assoc, Op, PrattParser};
use std::collections::HashMap;
use std::sync::OnceLock;

type Result<T> = std::result::Result<T, ParseError>;

/// How deep one expression tree may grow (operators chained plus nesting
/// along any path): later stages recurse on the tree.
const MAX_EXPR_DEPTH: usize = 256;

struct Ctx<'i> {
    /// Depth budget used by the expressions enclosing the one being built.
    depth: std::cell::Cell<usize>,
    /// The item's piece of the file, and where it starts in the file.
    text: &'i str,
    offset: usize,
    /// Start of each comment, by the byte where it ends (piece-relative).
    comment_starts: HashMap<usize, usize>,
}

pub(crate) fn item(pair: Pair<Rule>, text: &str, offset: usize) -> Result<Item> {
    let comment_starts = comments(text)
        .into_iter()
        .map(|c| (c.span.end as usize, c.span.start as usize))
        .collect();
    let cx = Ctx {
        depth: std::cell::Cell::new(0),
        text,
        offset,
        comment_starts,
    };
    match pair.as_rule() {
        Rule::use_decl => cx.use_decl(pair).map(Item::Use),
        Rule::dataset_decl => cx.entries_decl(pair).map(Item::Dataset),
        Rule::train_decl => cx.entries_decl(pair).map(Item::Train),
        Rule::fn_decl | Rule::extern_fn => cx.fn_decl(pair).map(Item::Fn),
        Rule::model_decl => cx.model_decl(pair).map(Item::Model),
        r => unreachable!("item rule {r:?}"),
    }
}

/// The children that carry meaning (keywords are matched, then dropped).
fn inner(pair: Pair<Rule>) -> impl Iterator<Item = Pair<Rule>> {
    pair.into_inner().filter(|p| {
        !matches!(
            p.as_rule(),
            Rule::kw_use
                | Rule::kw_dataset
                | Rule::kw_extern
                | Rule::kw_fn
                | Rule::kw_model
                | Rule::kw_train
                | Rule::kw_param
                | Rule::kw_input
                | Rule::kw_output
                | Rule::kw_repeat
                | Rule::kw_as
                | Rule::kw_class
                | Rule::kw_where
                | Rule::kw_state
                | Rule::kw_update
        )
    })
}

impl Ctx<'_> {
    /// The pair's span without the whitespace and comments pest skipped
    /// after its last token.
    fn span(&self, pair: &Pair<Rule>) -> Span {
        let s = pair.as_span();
        let mut end = s.end();
        while end > s.start() {
            if self.text.as_bytes()[end - 1].is_ascii_whitespace() {
                end -= 1;
            } else if let Some(&start) = self.comment_starts.get(&end) {
                end = start;
            } else {
                break;
            }
        }
        Span::new(s.start() + self.offset, end.max(s.start()) + self.offset)
    }

    fn ident(&self, pair: Pair<Rule>) -> Ident {
        debug_assert!(matches!(pair.as_rule(), Rule::ident | Rule::name));
        Ident {
            name: pair.as_str().to_string(),
            span: self.span(&pair),
        }
    }

    fn doc(&self, pair: Pair<Rule>) -> Doc {
        let span = self.span(&pair);
        let lines = pair
            .into_inner()
            .map(|line| {
                let text = &line.as_str()[3..];
                text.strip_prefix(' ')
                    .unwrap_or(text)
                    .trim_end()
                    .to_string()
            })
            .collect();
        Doc { lines, span }
    }

    /// Splits off a leading doc comment.
    fn doc_and_rest<'i>(&self, pair: Pair<'i, Rule>) -> (Option<Doc>, Vec<Pair<'i, Rule>>) {
        let mut children: Vec<_> = inner(pair).collect();
        let doc = if children.first().map(|p| p.as_rule()) == Some(Rule::doc) {
            Some(self.doc(children.remove(0)))
        } else {
            None
        };
        (doc, children)
    }

    fn use_decl(&self, pair: Pair<Rule>) -> Result<UseDecl> {
        let span = self.span(&pair);
        let (doc, children) = self.doc_and_rest(pair);
        let mut decl = UseDecl {
            doc,
            path: Vec::new(),
            group: None,
            alias: None,
            span,
        };
        for child in children {
            match child.as_rule() {
                Rule::path => decl.path = inner(child).map(|p| self.ident(p)).collect(),
                Rule::use_group => {
                    let names = inner(child)
                        .map(|name| {
                            let span = self.span(&name);
                            let mut parts = inner(name);
                            UseName {
                                name: self.ident(parts.next().expect("use_name has a name")),
                                alias: parts.next().map(|p| self.ident(p)),
                                span,
                            }
                        })
                        .collect();
                    decl.group = Some(names);
                }
                Rule::use_alias => {
                    decl.alias = inner(child).next().map(|p| self.ident(p));
                }
                r => unreachable!("use child {r:?}"),
            }
        }
        Ok(decl)
    }

    fn entries_decl(&self, pair: Pair<Rule>) -> Result<EntriesDecl> {
        let span = self.span(&pair);
        let (doc, children) = self.doc_and_rest(pair);
        let mut children = children.into_iter();
        let name = self.ident(children.next().expect("declaration name"));
        let entries = children.next().expect("entries");
        let entries = inner(entries)
            .map(|entry| {
                let span = self.span(&entry);
                let (doc, parts) = self.doc_and_rest(entry);
                let mut parts = parts.into_iter();
                let key = self.ident(parts.next().expect("entry key"));
                let value = self.expr(parts.next().expect("entry value"))?;
                Ok(Entry {
                    doc,
                    key,
                    value,
                    span,
                })
            })
            .collect::<Result<_>>()?;
        Ok(EntriesDecl {
            doc,
            name,
            entries,
            span,
        })
    }

    fn fn_decl(&self, pair: Pair<Rule>) -> Result<FnDecl> {
        let span = self.span(&pair);
        let (doc, children) = self.doc_and_rest(pair);
        let mut decl = FnDecl {
            doc,
            name: Ident {
                name: String::new(),
                span,
            },
            params: Vec::new(),
            ret: None,
            facts: Vec::new(),
            body: None,
            span,
        };
        for child in children {
            match child.as_rule() {
                Rule::ident => decl.name = self.ident(child),
                Rule::params => decl.params = self.params(child)?,
                Rule::ret_type => {
                    let ty = inner(child).next().expect("return type");
                    decl.ret = Some(self.type_expr(ty)?);
                }
                Rule::where_clause => {
                    for fact in inner(child) {
                        let span = self.span(&fact);
                        let rule = fact.as_rule();
                        let mut parts = inner(fact);
                        let left = self.dim(parts.next().expect("left side"))?;
                        let relation = match rule {
                            Rule::divides => Relation::Divides,
                            _ => match parts.next().expect("relation").as_str() {
                                ">=" => Relation::AtLeast,
                                ">" => Relation::Above,
                                "<=" => Relation::AtMost,
                                _ => Relation::Below,
                            },
                        };
                        let right = self.dim(parts.next().expect("right side"))?;
                        decl.facts.push(Fact {
                            left,
                            relation,
                            right,
                            span,
                        });
                    }
                }
                Rule::block => decl.body = Some(self.block(child)?),
                r => unreachable!("fn child {r:?}"),
            }
        }
        Ok(decl)
    }

    fn model_decl(&self, pair: Pair<Rule>) -> Result<ModelDecl> {
        let span = self.span(&pair);
        let (doc, children) = self.doc_and_rest(pair);
        let mut name = None;
        let mut params = Vec::new();
        let mut body = None;
        for child in children {
            match child.as_rule() {
                Rule::ident => name = Some(self.ident(child)),
                Rule::params => params = self.params(child)?,
                Rule::block => body = Some(self.block(child)?),
                r => unreachable!("model child {r:?}"),
            }
        }
        Ok(ModelDecl {
            doc,
            name: name.expect("model name"),
            params,
            body: body.expect("model body"),
            span,
        })
    }

    fn params(&self, pair: Pair<Rule>) -> Result<Vec<Param>> {
        inner(pair)
            .map(|param| {
                let span = self.span(&param);
                let (doc, parts) = self.doc_and_rest(param);
                let mut parts = parts.into_iter();
                let name = self.ident(parts.next().expect("param name"));
                let ty = self.type_expr(parts.next().expect("param type"))?;
                let default = parts.next().map(|p| self.expr(p)).transpose()?;
                Ok(Param {
                    doc,
                    name,
                    ty,
                    default,
                    span,
                })
            })
            .collect()
    }

    fn block(&self, pair: Pair<Rule>) -> Result<Block> {
        let span = self.span(&pair);
        let stmts = inner(pair).map(|s| self.stmt(s)).collect::<Result<_>>()?;
        Ok(Block { stmts, span })
    }

    fn stmt(&self, pair: Pair<Rule>) -> Result<Stmt> {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        let (doc, parts) = self.doc_and_rest(pair);
        let mut parts = parts.into_iter();
        let mut next = || parts.next().expect("statement part");
        let kind = match rule {
            Rule::param_stmt | Rule::state_stmt => {
                let name = self.ident(next());
                let ty = self.type_expr(next())?;
                let init = parts.next().map(|p| self.expr(p)).transpose()?;
                let state = rule == Rule::state_stmt;
                StmtKind::Param {
                    name,
                    ty,
                    init,
                    state,
                }
            }
            Rule::update_stmt => {
                let name = self.ident(next());
                let value = self.expr(next())?;
                StmtKind::Update { name, value }
            }
            Rule::input_stmt => {
                let name = self.ident(next());
                let ty = self.type_expr(next())?;
                StmtKind::Input { name, ty }
            }
            Rule::output_stmt => {
                let name = self.ident(next());
                let second = next();
                let (ty, value) = if second.as_rule() == Rule::type_expr {
                    let ty = self.type_expr(second)?;
                    (Some(ty), self.expr(parts.next().expect("output value"))?)
                } else {
                    (None, self.expr(second)?)
                };
                StmtKind::Output { name, ty, value }
            }
            Rule::repeat_stmt => {
                let count = self.expr(next())?;
                let body = self.block(next())?;
                StmtKind::Repeat { count, body }
            }
            Rule::let_stmt => {
                let name = self.ident(next());
                let value = self.expr(next())?;
                StmtKind::Let { name, value }
            }
            Rule::expr_stmt => StmtKind::Expr(self.expr(next())?),
            r => unreachable!("statement rule {r:?}"),
        };
        Ok(Stmt { doc, kind, span })
    }

    // ---- expressions ----------------------------------------------------

    fn expr(&self, pair: Pair<Rule>) -> Result<Expr> {
        debug_assert_eq!(pair.as_rule(), Rule::expr);
        // Each operator, unary minus, cast, call and field access deepens
        // the tree by one.
        let cost = 1
            + pair
                .clone()
                .into_inner()
                .filter(|p| p.as_rule() != Rule::unary)
                .count()
            + pair
                .clone()
                .into_inner()
                .map(|u| {
                    u.into_inner()
                        .map(|p| match p.as_rule() {
                            Rule::neg | Rule::cast => 1,
                            Rule::postfix => p.into_inner().count().saturating_sub(1),
                            _ => 0,
                        })
                        .sum::<usize>()
                })
                .sum::<usize>();
        let outer = self.depth.get();
        if outer + cost > MAX_EXPR_DEPTH {
            return Err(ParseError {
                span: self.span(&pair),
                expected: vec!["a simpler expression (name its parts with `h = ...`)".to_string()],
                found: "an expression nested or chained too deeply".to_string(),
            });
        }
        self.depth.set(outer + cost);
        let result = self.pratt(pair.into_inner());
        self.depth.set(outer);
        result
    }

    fn pratt(&self, pairs: Pairs<Rule>) -> Result<Expr> {
        expr_pratt()
            .map_primary(|p| self.unary(p))
            .map_infix(|lhs, op, rhs| {
                let (lhs, rhs) = (lhs?, rhs?);
                let span = lhs.span.to(rhs.span);
                let kind = match binop(op.as_rule()) {
                    Some(op) => ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)),
                    None => ExprKind::Range(Box::new(lhs), Box::new(rhs)),
                };
                Ok(Expr { kind, span })
            })
            .parse(pairs)
    }

    fn unary(&self, pair: Pair<Rule>) -> Result<Expr> {
        debug_assert_eq!(pair.as_rule(), Rule::unary);
        let mut negs = Vec::new();
        let mut base = None;
        let mut casts = Vec::new();
        for child in inner(pair) {
            match child.as_rule() {
                Rule::neg => negs.push(self.span(&child)),
                Rule::postfix => base = Some(self.postfix(child)?),
                Rule::cast => casts.push(child),
                r => unreachable!("unary child {r:?}"),
            }
        }
        let mut expr = base.expect("unary has an operand");
        for cast in casts {
            let span = expr.span.to(self.span(&cast));
            let ty = self.type_expr(inner(cast).next().expect("cast type"))?;
            expr = Expr {
                kind: ExprKind::Cast(Box::new(expr), ty),
                span,
            };
        }
        for neg in negs.into_iter().rev() {
            let span = neg.to(expr.span);
            expr = Expr {
                kind: ExprKind::Neg(Box::new(expr)),
                span,
            };
        }
        Ok(expr)
    }

    fn postfix(&self, pair: Pair<Rule>) -> Result<Expr> {
        let mut parts = inner(pair);
        let mut expr = self.primary(parts.next().expect("postfix has a primary"))?;
        for part in parts {
            let span = expr.span.to(self.span(&part));
            let kind = match part.as_rule() {
                Rule::field => {
                    let name = self.ident(inner(part).next().expect("field name"));
                    ExprKind::Field(Box::new(expr), name)
                }
                Rule::call_args => {
                    let args = inner(part).map(|a| self.arg(a)).collect::<Result<_>>()?;
                    ExprKind::Call(Box::new(expr), args)
                }
                Rule::index => {
                    let items = inner(part)
                        .map(|i| self.index_item(i))
                        .collect::<Result<_>>()?;
                    ExprKind::Index(Box::new(expr), items)
                }
                r => unreachable!("postfix part {r:?}"),
            };
            expr = Expr { kind, span };
        }
        Ok(expr)
    }

    fn index_item(&self, pair: Pair<Rule>) -> Result<IndexItem> {
        let span = self.span(&pair);
        Ok(match pair.as_rule() {
            Rule::ellipsis => IndexItem::Ellipsis(span),
            Rule::index_at => IndexItem::At(self.expr(inner(pair).next().expect("position"))?),
            Rule::slice => {
                let (mut start, mut end, mut step) = (None, None, None);
                for part in inner(pair) {
                    let slot = match part.as_rule() {
                        Rule::slice_start => &mut start,
                        Rule::slice_end => &mut end,
                        Rule::slice_step => &mut step,
                        r => unreachable!("slice part {r:?}"),
                    };
                    *slot = Some(self.expr(inner(part).next().expect("slice bound"))?);
                }
                IndexItem::Slice {
                    start,
                    end,
                    step,
                    span,
                }
            }
            r => unreachable!("index item {r:?}"),
        })
    }

    fn arg(&self, pair: Pair<Rule>) -> Result<Arg> {
        let span = self.span(&pair);
        let mut parts: Vec<_> = inner(pair).collect();
        let value = self.expr(parts.pop().expect("argument value"))?;
        let name = parts.pop().map(|p| self.ident(p));
        Ok(Arg { name, value, span })
    }

    fn primary(&self, pair: Pair<Rule>) -> Result<Expr> {
        let span = self.span(&pair);
        let text = pair.as_str();
        let kind = match pair.as_rule() {
            Rule::int => {
                let value = text
                    .replace('_', "")
                    .parse::<i64>()
                    .map_err(|_| ParseError {
                        span,
                        expected: vec!["an integer that fits in 64 bits".to_string()],
                        found: format!("`{text}`"),
                    })?;
                ExprKind::Int(value, text.to_string())
            }
            Rule::float => {
                // The grammar only admits digits, '.', '_', an exponent: always parses.
                let value = text
                    .replace('_', "")
                    .parse::<f64>()
                    .unwrap_or(f64::INFINITY);
                ExprKind::Float(value, text.to_string())
            }
            Rule::string => ExprKind::Str(unescape(&text[1..text.len() - 1])),
            Rule::bool_lit => ExprKind::Bool(text == "true"),
            Rule::ident => ExprKind::Name(self.ident(pair)),
            Rule::paren => {
                let e = self.expr(inner(pair).next().expect("paren holds an expression"))?;
                ExprKind::Paren(Box::new(e))
            }
            Rule::list => ExprKind::List(inner(pair).map(|e| self.expr(e)).collect::<Result<_>>()?),
            Rule::record => {
                let fields = inner(pair)
                    .map(|f| {
                        let mut parts = inner(f);
                        let name = self.ident(parts.next().expect("field name"));
                        let value = self.expr(parts.next().expect("field value"))?;
                        Ok(RecordField { name, value })
                    })
                    .collect::<Result<_>>()?;
                ExprKind::Record(fields)
            }
            r => unreachable!("primary {r:?}"),
        };
        Ok(Expr { kind, span })
    }

    // ---- types ----------------------------------------------------------

    fn type_expr(&self, pair: Pair<Rule>) -> Result<TypeExpr> {
        debug_assert_eq!(pair.as_rule(), Rule::type_expr);
        let span = self.span(&pair);
        let mut parts = inner(pair);
        let dtype = parts.next().expect("type has a dtype");
        let dtype = match dtype.as_rule() {
            Rule::ident => DTypeExpr::Named(self.ident(dtype)),
            Rule::class_dtype => {
                let class_span = self.span(&dtype);
                let dim = self.dim(inner(dtype).next().expect("class count"))?;
                DTypeExpr::Class(dim, class_span)
            }
            r => unreachable!("dtype {r:?}"),
        };
        let shape = parts
            .next()
            .map(|shape| {
                inner(shape)
                    .map(|item| match item.as_rule() {
                        Rule::variadic => Ok(DimItem::Variadic(
                            self.ident(inner(item).next().expect("group name")),
                        )),
                        _ => self.dim(item).map(DimItem::Dim),
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .transpose()?;
        Ok(TypeExpr { dtype, shape, span })
    }

    fn dim(&self, pair: Pair<Rule>) -> Result<DimExpr> {
        debug_assert_eq!(pair.as_rule(), Rule::dim);
        dim_pratt()
            .map_primary(|p| {
                let span = self.span(&p);
                let kind = match p.as_rule() {
                    Rule::int => {
                        let text = p.as_str();
                        DimExprKind::Int(text.replace('_', "").parse().map_err(|_| ParseError {
                            span,
                            expected: vec!["a dimension that fits in 64 bits".to_string()],
                            found: format!("`{text}`"),
                        })?)
                    }
                    Rule::ident => DimExprKind::Name(self.ident(p)),
                    Rule::dim_paren => DimExprKind::Paren(Box::new(
                        self.dim(inner(p).next().expect("parenthesised dim"))?,
                    )),
                    r => unreachable!("dim atom {r:?}"),
                };
                Ok(DimExpr { kind, span })
            })
            .map_infix(|lhs, op, rhs| {
                let (lhs, rhs) = (lhs?, rhs?);
                let span = lhs.span.to(rhs.span);
                let op = binop(op.as_rule()).expect("dim operators are arithmetic");
                Ok(DimExpr {
                    kind: DimExprKind::Binary(op, Box::new(lhs), Box::new(rhs)),
                    span,
                })
            })
            .parse(inner(pair))
    }
}

/// `None` for the range operator, which is not a [`BinOp`].
fn binop(rule: Rule) -> Option<BinOp> {
    Some(match rule {
        Rule::add => BinOp::Add,
        Rule::sub => BinOp::Sub,
        Rule::mul => BinOp::Mul,
        Rule::div => BinOp::Div,
        Rule::rem => BinOp::Rem,
        Rule::matmul => BinOp::MatMul,
        Rule::eq => BinOp::Eq,
        Rule::ne => BinOp::Ne,
        Rule::lt => BinOp::Lt,
        Rule::le => BinOp::Le,
        Rule::gt => BinOp::Gt,
        Rule::ge => BinOp::Ge,
        Rule::range_op => return None,
        r => unreachable!("operator {r:?}"),
    })
}

fn expr_pratt() -> &'static PrattParser<Rule> {
    static PRATT: OnceLock<PrattParser<Rule>> = OnceLock::new();
    PRATT.get_or_init(|| {
        PrattParser::new()
            .op(Op::infix(Rule::range_op, Assoc::Left))
            .op(Op::infix(Rule::eq, Assoc::Left)
                | Op::infix(Rule::ne, Assoc::Left)
                | Op::infix(Rule::lt, Assoc::Left)
                | Op::infix(Rule::le, Assoc::Left)
                | Op::infix(Rule::gt, Assoc::Left)
                | Op::infix(Rule::ge, Assoc::Left))
            .op(Op::infix(Rule::add, Assoc::Left) | Op::infix(Rule::sub, Assoc::Left))
            .op(Op::infix(Rule::mul, Assoc::Left)
                | Op::infix(Rule::div, Assoc::Left)
                | Op::infix(Rule::rem, Assoc::Left)
                | Op::infix(Rule::matmul, Assoc::Left))
    })
}

fn dim_pratt() -> &'static PrattParser<Rule> {
    static PRATT: OnceLock<PrattParser<Rule>> = OnceLock::new();
    PRATT.get_or_init(|| {
        PrattParser::new()
            .op(Op::infix(Rule::add, Assoc::Left) | Op::infix(Rule::sub, Assoc::Left))
            .op(Op::infix(Rule::mul, Assoc::Left) | Op::infix(Rule::div, Assoc::Left))
    })
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}
