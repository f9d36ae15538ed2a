//! The canonical layout behind `dlpc fmt`.
//!
//! The layout is the one DESIGN.md's programs are written in: four-space
//! indents, `use` lines together, one blank line between declarations, the
//! `=` of a `dataset`/`train` block aligned, spaces around binary operators,
//! short `fn` bodies on one line. Blank lines the user put between statements
//! are kept (at most one). Comments are kept: a comment on its own line is
//! printed before the node that follows it, a trailing comment stays at the
//! end of its line.
//!
//! A file that does not parse is not formatted: printing only the items that
//! parsed would drop the user's text. The file's line endings (`\n` or
//! `\r\n`, after its first line) and byte-order mark are kept.

use crate::ast::*;
use crate::comments::{comments, Comment};
use crate::lines::Convention;
use crate::parse::{parse, ParseError};

const WIDTH: usize = 100;
const INDENT: &str = "    ";

/// Formats a whole file, or returns its syntax errors (with spans into
/// `source`). The file's line endings (`\n` or `\r\n`) and byte-order mark,
/// if any, are kept.
pub fn format(source: &str) -> Result<String, Vec<ParseError>> {
    let (_, errors) = parse(source);
    if !errors.is_empty() {
        return Err(errors);
    }
    let plain = crate::lines::plain(source);
    let (ast, _) = parse(&plain);
    let mut p = Printer {
        source: &plain,
        comments: comments(&plain),
        next_comment: 0,
        out: String::new(),
    };
    p.file(&ast);
    Ok(Convention::of(source).apply(&p.out))
}

struct Printer<'s> {
    source: &'s str,
    comments: Vec<Comment>,
    next_comment: usize,
    out: String,
}

impl Printer<'_> {
    // ---- layout primitives ----------------------------------------------

    fn line(&mut self, depth: usize, text: &str) {
        for _ in 0..depth {
            self.out.push_str(INDENT);
        }
        self.out.push_str(text);
        self.out.push('\n');
    }

    fn blank_line(&mut self) {
        if !self.out.is_empty() && !self.out.ends_with("\n\n") {
            self.out.push('\n');
        }
    }

    /// Prints the comments that start before `pos`. Own-line ones go on
    /// their own lines at `depth`; a trailing one joins the last line.
    fn comments_before(&mut self, pos: u32, depth: usize) {
        while let Some(c) = self.comments.get(self.next_comment) {
            if c.span.start >= pos {
                break;
            }
            let c = c.clone();
            self.next_comment += 1;
            if !c.own_line && self.out.ends_with('\n') && !self.out.ends_with("\n\n") {
                self.out.pop();
                self.out.push(' ');
                self.out.push_str(&c.text);
                self.out.push('\n');
            } else {
                if self.had_blank_line_before(c.span.start) {
                    self.blank_line();
                }
                self.line(depth, &c.text);
            }
        }
    }

    /// The trailing comment that sits on the same line as the text ending at
    /// `end`, if any, is printed now.
    fn trailing_comment(&mut self, end: u32) {
        if let Some(c) = self.comments.get(self.next_comment) {
            // A comment that starts before `end` sits inside the node (in a
            // multi-line expression); it is printed before the next one.
            let Some(between) = self.source.get(end as usize..c.span.start as usize) else {
                return;
            };
            if !c.own_line && !between.contains('\n') {
                let text = c.text.clone();
                self.next_comment += 1;
                self.out.pop();
                self.out.push(' ');
                self.out.push_str(&text);
                self.out.push('\n');
            }
        }
    }

    /// Whether the source has an empty line right before `pos`.
    fn had_blank_line_before(&self, pos: u32) -> bool {
        let before = &self.source[..pos as usize];
        let Some(line_start) = before.rfind('\n') else {
            return false;
        };
        if !before[line_start..].trim().is_empty() {
            return false;
        }
        let prev = before[..line_start].trim_end_matches([' ', '\t', '\r']);
        prev.ends_with('\n')
    }

    /// Leading comments and doc comment of a node, keeping one blank line
    /// wherever the user had one (but not at the top of a block).
    fn node_start(&mut self, span: Span, doc: &Option<Doc>, depth: usize, first: bool) {
        let start = doc.as_ref().map_or(span.start, |d| d.span.start);
        let mut first = first;
        while let Some(c) = self.comments.get(self.next_comment) {
            if c.span.start >= start {
                break;
            }
            if !c.own_line {
                self.comments_before(c.span.end, depth);
                continue;
            }
            let c = c.clone();
            self.next_comment += 1;
            if !first && self.had_blank_line_before(c.span.start) {
                self.blank_line();
            }
            self.line(depth, &c.text);
            first = false;
        }
        if !first && self.had_blank_line_before(start) {
            self.blank_line();
        }
        if let Some(doc) = doc {
            for line in &doc.lines {
                if line.is_empty() {
                    self.line(depth, "///");
                } else {
                    self.line(depth, &format!("/// {line}"));
                }
            }
        }
    }

    // ---- items -----------------------------------------------------------

    fn file(&mut self, ast: &Ast) {
        let mut prev_was_use = false;
        for (i, item) in ast.items.iter().enumerate() {
            let is_use = matches!(item, Item::Use(_));
            if i > 0 && !(is_use && prev_was_use) {
                self.blank_line();
            }
            self.node_start(item.span(), &item.doc().cloned(), 0, i == 0);
            match item {
                Item::Use(u) => self.line(0, &use_line(u)),
                Item::Dataset(d) => self.entries("dataset", d),
                Item::Train(d) => self.entries("train", d),
                Item::Fn(f) => self.fn_decl(f),
                Item::Model(m) => self.model(m),
            }
            self.trailing_comment(item.span().end);
            prev_was_use = is_use;
        }
        self.comments_before(u32::MAX, 0);
    }

    fn entries(&mut self, kw: &str, d: &EntriesDecl) {
        self.line(0, &format!("{kw} {} {{", d.name.name));
        let width = d
            .entries
            .iter()
            .map(|e| e.key.name.len())
            .max()
            .unwrap_or(0);
        for (i, e) in d.entries.iter().enumerate() {
            self.node_start(e.span, &e.doc, 1, i == 0);
            let head = format!("{:width$} = ", e.key.name);
            let text = expr_fitted(&e.value, INDENT.len() + head.len(), 1);
            self.line(1, &format!("{head}{text}"));
            self.trailing_comment(e.span.end);
        }
        self.comments_before(d.span.end, 1);
        self.line(0, "}");
    }

    fn fn_decl(&mut self, f: &FnDecl) {
        let kw = if f.body.is_some() { "fn" } else { "extern fn" };
        let ret = f
            .ret
            .as_ref()
            .map(|t| format!(" -> {}", ty(t)))
            .unwrap_or_default();
        let params = params_text(&f.params);
        let facts: Vec<_> = f.facts.iter().map(fact).collect();
        let facts = if facts.is_empty() {
            String::new()
        } else {
            format!(" where {}", facts.join(", "))
        };
        let head = format!("{kw} {}{params}{ret}{facts}", f.name.name);
        let Some(body) = &f.body else {
            self.line(0, &head);
            return;
        };
        if let [only] = body.stmts.as_slice() {
            if let (StmtKind::Expr(e), None) = (&only.kind, &only.doc) {
                let one_line = format!("{head} {{ {} }}", expr(e));
                let has_comments = self.comment_within(body.span);
                if one_line.len() <= WIDTH && !one_line.contains('\n') && !has_comments {
                    self.line(0, &one_line);
                    return;
                }
            }
        }
        self.line(0, &format!("{head} {{"));
        self.block_body(body, 1);
        self.line(0, "}");
    }

    fn comment_within(&self, span: Span) -> bool {
        self.comments[self.next_comment..]
            .iter()
            .any(|c| span.start <= c.span.start && c.span.start < span.end)
    }

    fn model(&mut self, m: &ModelDecl) {
        let params = if m.params.is_empty() {
            String::new()
        } else {
            params_text(&m.params)
        };
        self.line(0, &format!("model {}{params} {{", m.name.name));
        self.block_body(&m.body, 1);
        self.line(0, "}");
    }

    fn block_body(&mut self, block: &Block, depth: usize) {
        for (i, s) in block.stmts.iter().enumerate() {
            self.node_start(s.span, &s.doc, depth, i == 0);
            self.stmt(s, depth);
            self.trailing_comment(s.span.end);
        }
        self.comments_before(block.span.end, depth);
    }

    fn stmt(&mut self, s: &Stmt, depth: usize) {
        let at = depth * INDENT.len();
        let text = match &s.kind {
            StmtKind::Param {
                name,
                ty: t,
                init,
                state,
            } => {
                let kw = if *state { "state" } else { "param" };
                let head = format!("{kw} {}: {}", name.name, ty(t));
                match init {
                    Some(init) => {
                        let head = format!("{head} = ");
                        format!("{head}{}", expr_fitted(init, at + head.len(), depth))
                    }
                    None => head,
                }
            }
            StmtKind::Input { name, ty: t } => format!("input {}: {}", name.name, ty(t)),
            StmtKind::Output { name, ty: t, value } => {
                let annot = t
                    .as_ref()
                    .map(|t| format!(": {}", ty(t)))
                    .unwrap_or_default();
                let head = format!("output {}{annot} = ", name.name);
                format!("{head}{}", expr_fitted(value, at + head.len(), depth))
            }
            StmtKind::Let { name, value } => {
                let head = format!("{} = ", name.name);
                format!("{head}{}", expr_fitted(value, at + head.len(), depth))
            }
            StmtKind::Update { name, value } => {
                let head = format!("update {} = ", name.name);
                format!("{head}{}", expr_fitted(value, at + head.len(), depth))
            }
            StmtKind::Expr(e) => expr_fitted(e, at, depth),
            StmtKind::Repeat { count, body } => {
                self.line(depth, &format!("repeat {} {{", expr(count)));
                self.block_body(body, depth + 1);
                self.line(depth, "}");
                return;
            }
        };
        self.line(depth, &text);
    }
}

fn use_line(u: &UseDecl) -> String {
    let path: Vec<_> = u.path.iter().map(|p| p.name.as_str()).collect();
    let mut text = format!("use {}", path.join("."));
    if let Some(group) = &u.group {
        let names: Vec<_> = group
            .iter()
            .map(|n| match &n.alias {
                Some(a) => format!("{} as {}", n.name.name, a.name),
                None => n.name.name.clone(),
            })
            .collect();
        text.push_str(&format!(".{{{}}}", names.join(", ")));
    }
    if let Some(a) = &u.alias {
        text.push_str(&format!(" as {}", a.name));
    }
    text
}

fn params_text(params: &[Param]) -> String {
    let one: Vec<_> = params.iter().map(param_text).collect();
    let flat = format!("({})", one.join(", "));
    let documented = params.iter().any(|p| p.doc.is_some());
    if flat.len() <= WIDTH / 2 && !documented {
        return flat;
    }
    let mut s = String::from("(\n");
    for (p, text) in params.iter().zip(one) {
        for line in p.doc.iter().flat_map(|d| &d.lines) {
            s.push_str(&format!(
                "{INDENT}///{}{line}\n",
                if line.is_empty() { "" } else { " " }
            ));
        }
        s.push_str(&format!("{INDENT}{text},\n"));
    }
    s.push(')');
    s
}

fn param_text(p: &Param) -> String {
    match &p.default {
        Some(d) => format!("{}: {} = {}", p.name.name, ty(&p.ty), expr(d)),
        None => format!("{}: {}", p.name.name, ty(&p.ty)),
    }
}

// ---- expressions ----------------------------------------------------------

/// `e` on one line if it fits after `column` characters, otherwise with the
/// arguments of its outermost call, list or record one per line.
fn expr_fitted(e: &Expr, column: usize, depth: usize) -> String {
    let flat = expr(e);
    if column + flat.len() <= WIDTH {
        return flat;
    }
    let inner = INDENT.repeat(depth + 1);
    let close = INDENT.repeat(depth);
    let items = |open: &str, parts: Vec<String>, shut: &str| {
        let mut s = format!("{open}\n");
        for part in parts {
            s.push_str(&format!("{inner}{part},\n"));
        }
        format!("{s}{close}{shut}")
    };
    match &e.kind {
        ExprKind::Call(callee, args) if !args.is_empty() => {
            let parts = args.iter().map(|a| arg(a, depth + 1)).collect();
            items(&format!("{}(", expr(callee)), parts, ")")
        }
        ExprKind::List(xs) if !xs.is_empty() => {
            let w = (depth + 1) * INDENT.len();
            items(
                "[",
                xs.iter().map(|x| expr_fitted(x, w, depth + 1)).collect(),
                "]",
            )
        }
        ExprKind::Record(fields) if !fields.is_empty() => {
            let parts = fields
                .iter()
                .map(|f| {
                    let head = format!("{}: ", f.name.name);
                    let w = (depth + 1) * INDENT.len() + head.len();
                    format!("{head}{}", expr_fitted(&f.value, w, depth + 1))
                })
                .collect();
            items("{", parts, "}")
        }
        _ => flat,
    }
}

fn arg(a: &Arg, depth: usize) -> String {
    let w = depth * INDENT.len();
    match &a.name {
        Some(n) => {
            let head = format!("{} = ", n.name);
            format!("{head}{}", expr_fitted(&a.value, w + head.len(), depth))
        }
        None => expr_fitted(&a.value, w, depth),
    }
}

/// `e` on one line. Parentheses are the user's own (`Paren` nodes); the tree
/// already encodes precedence, so none need adding.
pub fn expr(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Int(_, text) | ExprKind::Float(_, text) => text.clone(),
        ExprKind::Str(s) => quote(s),
        ExprKind::Bool(b) => b.to_string(),
        ExprKind::Name(n) => n.name.clone(),
        ExprKind::Field(base, f) => format!("{}.{}", expr(base), f.name),
        ExprKind::Call(callee, args) => {
            let args: Vec<_> = args
                .iter()
                .map(|a| match &a.name {
                    Some(n) => format!("{} = {}", n.name, expr(&a.value)),
                    None => expr(&a.value),
                })
                .collect();
            format!("{}({})", expr(callee), args.join(", "))
        }
        ExprKind::Index(base, items) => {
            let items: Vec<_> = items.iter().map(index_item).collect();
            format!("{}[{}]", expr(base), items.join(", "))
        }
        ExprKind::Neg(x) => format!("-{}", expr(x)),
        ExprKind::Binary(op, l, r) => format!("{} {} {}", expr(l), op.symbol(), expr(r)),
        ExprKind::Range(l, r) => format!("{}..{}", expr(l), expr(r)),
        ExprKind::List(xs) => format!("[{}]", xs.iter().map(expr).collect::<Vec<_>>().join(", ")),
        ExprKind::Record(fields) if fields.is_empty() => "{}".to_string(),
        ExprKind::Record(fields) => {
            let fields: Vec<_> = fields
                .iter()
                .map(|f| format!("{}: {}", f.name.name, expr(&f.value)))
                .collect();
            format!("{{ {} }}", fields.join(", "))
        }
        ExprKind::Cast(x, t) => format!("{} as {}", expr(x), ty(t)),
        ExprKind::Paren(x) => format!("({})", expr(x)),
    }
}

/// `i`, `a:b`, `::2` or `...`; a slice whose bounds are more than a
/// number or a name gets spaces around its colons (`x[D / 2 : D]`).
pub fn index_item(item: &IndexItem) -> String {
    let part = |e: &Option<Expr>| e.as_ref().map(expr).unwrap_or_default();
    match item {
        IndexItem::At(e) => expr(e),
        IndexItem::Slice {
            start, end, step, ..
        } => {
            let simple = |e: &Option<Expr>| match e.as_ref().map(|e| &e.kind) {
                None | Some(ExprKind::Int(..) | ExprKind::Name(_)) => true,
                Some(ExprKind::Neg(x)) => matches!(x.kind, ExprKind::Int(..) | ExprKind::Name(_)),
                _ => false,
            };
            let colon = if [start, end, step].into_iter().all(simple) {
                ":"
            } else {
                " : "
            };
            let mut text = format!("{}{colon}{}", part(start), part(end));
            if step.is_some() {
                text.push_str(&format!("{colon}{}", part(step)));
            }
            text
        }
        IndexItem::Ellipsis(_) => "...".to_string(),
    }
}

fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub fn ty(t: &TypeExpr) -> String {
    let dtype = match &t.dtype {
        DTypeExpr::Named(n) => n.name.clone(),
        DTypeExpr::Class(d, _) => format!("class({})", dim(d)),
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
            format!("{dtype}[{}]", items.join(", "))
        }
    }
}

/// A `where` fact as written: `D % heads == 0`, `B >= 2`.
pub fn fact(f: &Fact) -> String {
    match f.relation {
        Relation::Divides => format!("{} % {} == 0", dim(&f.left), dim(&f.right)),
        r => format!("{} {} {}", dim(&f.left), r.symbol(), dim(&f.right)),
    }
}

pub fn dim(d: &DimExpr) -> String {
    match &d.kind {
        DimExprKind::Int(i) => i.to_string(),
        DimExprKind::Name(n) => n.name.clone(),
        DimExprKind::Binary(op, l, r) => format!("{} {} {}", dim(l), op.symbol(), dim(r)),
        DimExprKind::Paren(x) => format!("({})", dim(x)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(src: &str) -> String {
        format(src).expect("parses")
    }

    #[test]
    fn a_comment_inside_a_multi_line_statement_is_kept() {
        let src = "fn f(x: f32) -> f32 {\n    y = max(x, // inner\n        0.0)\n    y\n}\n";
        assert_eq!(
            fmt(src),
            "fn f(x: f32) -> f32 {\n    y = max(x, 0.0) // inner\n    y\n}\n"
        );
    }

    #[test]
    fn canonical_layout() {
        let src = "use std.nn.{linear,relu}\nuse std.optim.adam\nmodel M(h:int=3){input x:f32[B,4]\n\n\n output y=relu(linear(x,h))}\ntrain t{model=M(h=4)\n  batch=2 // small\n}";
        let expected = "use std.nn.{linear, relu}\nuse std.optim.adam\n\nmodel M(h: int = 3) {\n    input x: f32[B, 4]\n\n    output y = relu(linear(x, h))\n}\n\ntrain t {\n    model = M(h = 4)\n    batch = 2 // small\n}\n";
        assert_eq!(fmt(src), expected);
    }

    #[test]
    fn keeps_comments_and_is_idempotent() {
        let src = "// header\n\n/// Doc.\nfn f(x: f32[..S]) -> f32[..S] {\n    // why\n    max(x, 0.0)\n}\n// tail\n";
        let once = fmt(src);
        assert_eq!(once, src);
        assert_eq!(fmt(&once), once);
    }

    #[test]
    fn short_bodies_stay_on_one_line() {
        assert_eq!(
            fmt("fn r(x: f32[..S]) -> f32[..S] {\n max(x, 0.0)\n}"),
            "fn r(x: f32[..S]) -> f32[..S] { max(x, 0.0) }\n"
        );
    }

    #[test]
    fn refuses_broken_files() {
        assert!(format("fn f( {").is_err());
    }
}
