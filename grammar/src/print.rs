//! An S-expression view of the tree, for snapshot tests.
//!
//! Purpose-built rather than `{:#?}`: one line per statement or entry,
//! operators written as they are in source, spans left out (they are tested
//! separately), so a snapshot diff shows exactly what changed in the tree.

use crate::ast::*;
use std::fmt::Write;

pub fn sexpr(ast: &Ast) -> String {
    let mut out = String::new();
    for item in &ast.items {
        item_sexpr(&mut out, item);
        out.push('\n');
    }
    out
}

fn item_sexpr(out: &mut String, item: &Item) {
    match item {
        Item::Use(u) => {
            let path = u
                .path
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(".");
            write!(out, "(use {path}").unwrap();
            if let Some(group) = &u.group {
                out.push_str(" {");
                for (i, n) in group.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(&n.name.name);
                    if let Some(a) = &n.alias {
                        write!(out, " as {}", a.name).unwrap();
                    }
                }
                out.push('}');
            }
            if let Some(a) = &u.alias {
                write!(out, " as {}", a.name).unwrap();
            }
            out.push(')');
        }
        Item::Dataset(d) | Item::Train(d) => {
            let kw = if matches!(item, Item::Dataset(_)) {
                "dataset"
            } else {
                "train"
            };
            doc_sexpr(out, &d.doc, 0);
            write!(out, "({kw} {}", d.name.name).unwrap();
            for e in &d.entries {
                doc_sexpr(out, &e.doc, 1);
                write!(out, "\n  ({} {})", e.key.name, expr(&e.value)).unwrap();
            }
            out.push(')');
        }
        Item::Fn(f) => {
            doc_sexpr(out, &f.doc, 0);
            let kw = if f.body.is_some() { "fn" } else { "extern-fn" };
            write!(out, "({kw} {} ({})", f.name.name, params(&f.params)).unwrap();
            if let Some(ret) = &f.ret {
                write!(out, " -> {}", ty(ret)).unwrap();
            }
            for fact in &f.facts {
                let op = fact.relation.symbol();
                write!(
                    out,
                    " (where ({op} {} {}))",
                    dim(&fact.left),
                    dim(&fact.right)
                )
                .unwrap();
            }
            if let Some(body) = &f.body {
                block_sexpr(out, body, 1);
            }
            out.push(')');
        }
        Item::Model(m) => {
            doc_sexpr(out, &m.doc, 0);
            write!(out, "(model {} ({})", m.name.name, params(&m.params)).unwrap();
            block_sexpr(out, &m.body, 1);
            out.push(')');
        }
    }
}

fn doc_sexpr(out: &mut String, doc: &Option<Doc>, depth: usize) {
    if let Some(doc) = doc {
        if depth > 0 {
            out.push('\n');
        }
        write!(out, "{}(doc {:?})", "  ".repeat(depth), doc.text()).unwrap();
        if depth == 0 {
            out.push('\n');
        }
    }
}

fn params(ps: &[Param]) -> String {
    ps.iter()
        .map(|p| match &p.default {
            Some(d) => format!("({} {} {})", p.name.name, ty(&p.ty), expr(d)),
            None => format!("({} {})", p.name.name, ty(&p.ty)),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn block_sexpr(out: &mut String, block: &Block, depth: usize) {
    let pad = "  ".repeat(depth);
    for s in &block.stmts {
        doc_sexpr(out, &s.doc, depth);
        out.push('\n');
        out.push_str(&pad);
        match &s.kind {
            StmtKind::Param {
                name,
                ty: t,
                init,
                state,
            } => {
                let kw = if *state { "state" } else { "param" };
                write!(out, "({kw} {} {}", name.name, ty(t)).unwrap();
                if let Some(init) = init {
                    write!(out, " {}", expr(init)).unwrap();
                }
                out.push(')');
            }
            StmtKind::Input { name, ty: t } => {
                write!(out, "(input {} {})", name.name, ty(t)).unwrap()
            }
            StmtKind::Output { name, ty: t, value } => {
                write!(out, "(output {}", name.name).unwrap();
                if let Some(t) = t {
                    write!(out, " {}", ty(t)).unwrap();
                }
                write!(out, " {})", expr(value)).unwrap();
            }
            StmtKind::Let { name, value } => {
                write!(out, "(= {} {})", name.name, expr(value)).unwrap()
            }
            StmtKind::Update { name, value } => {
                write!(out, "(update {} {})", name.name, expr(value)).unwrap()
            }
            StmtKind::Repeat { count, body } => {
                write!(out, "(repeat {}", expr(count)).unwrap();
                block_sexpr(out, body, depth + 1);
                out.push(')');
            }
            StmtKind::Expr(e) => out.push_str(&expr(e)),
        }
    }
}

pub fn expr(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Int(_, text) | ExprKind::Float(_, text) => text.clone(),
        ExprKind::Str(s) => format!("{s:?}"),
        ExprKind::Bool(b) => b.to_string(),
        ExprKind::Name(n) => n.name.clone(),
        ExprKind::Field(base, f) => format!("(. {} {})", expr(base), f.name),
        ExprKind::Call(callee, args) => {
            let mut s = format!("(call {}", expr(callee));
            for a in args {
                match &a.name {
                    Some(n) => write!(s, " ({}= {})", n.name, expr(&a.value)).unwrap(),
                    None => write!(s, " {}", expr(&a.value)).unwrap(),
                }
            }
            s + ")"
        }
        ExprKind::Index(base, items) => {
            let mut s = format!("(index {}", expr(base));
            for item in items {
                let part = |e: &Option<Expr>| e.as_ref().map_or("_".to_string(), expr);
                match item {
                    IndexItem::At(e) => write!(s, " {}", expr(e)).unwrap(),
                    IndexItem::Slice {
                        start, end, step, ..
                    } => write!(s, " (: {} {} {})", part(start), part(end), part(step)).unwrap(),
                    IndexItem::Ellipsis(_) => s.push_str(" ..."),
                }
            }
            s + ")"
        }
        ExprKind::Neg(x) => format!("(neg {})", expr(x)),
        ExprKind::Binary(op, l, r) => format!("({} {} {})", op.symbol(), expr(l), expr(r)),
        ExprKind::Range(l, r) => format!("(.. {} {})", expr(l), expr(r)),
        ExprKind::List(xs) => {
            let items: Vec<_> = xs.iter().map(expr).collect();
            format!("(list {})", items.join(" ")).replace("(list )", "(list)")
        }
        ExprKind::Record(fields) => {
            let items: Vec<_> = fields
                .iter()
                .map(|f| format!("({} {})", f.name.name, expr(&f.value)))
                .collect();
            format!("(record {})", items.join(" ")).replace("(record )", "(record)")
        }
        ExprKind::Cast(x, t) => format!("(as {} {})", expr(x), ty(t)),
        ExprKind::Paren(x) => format!("(paren {})", expr(x)),
    }
}

pub fn ty(t: &TypeExpr) -> String {
    let dtype = match &t.dtype {
        DTypeExpr::Named(n) => n.name.clone(),
        DTypeExpr::Class(d, _) => format!("(class {})", dim(d)),
    };
    match &t.shape {
        None => dtype,
        Some(items) => {
            let items: Vec<_> = items
                .iter()
                .map(|i| match i {
                    DimItem::Dim(d) => dim(d),
                    DimItem::Variadic(n) => format!("..{}", n.name),
                })
                .collect();
            format!("{dtype}[{}]", items.join(" "))
        }
    }
}

fn dim(d: &DimExpr) -> String {
    match &d.kind {
        DimExprKind::Int(i) => i.to_string(),
        DimExprKind::Name(n) => n.name.clone(),
        DimExprKind::Binary(op, l, r) => format!("({} {} {})", op.symbol(), dim(l), dim(r)),
        DimExprKind::Paren(x) => dim(x),
    }
}
