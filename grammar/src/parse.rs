//! Text to [`Ast`], reporting every broken item.
//!
//! pest stops at the first error, so the source is first cut into top-level
//! items by [`split_items`] (a small scan that knows strings, comments and
//! braces) and pest parses each piece on its own. A mistake in one item costs
//! that item only: the others still reach the checker and the editor. pest stays
//! private to this module; callers see [`parse`] and [`ParseError`].

use crate::ast::*;
use crate::build;
use crate::split::split_items;
use pest::error::{ErrorVariant, InputLocation};
use pest::Parser as _;
use std::fmt;

#[derive(pest_derive::Parser)]
#[grammar = "dlp.pest"]
pub(crate) struct DlpParser;

/// A syntax error: where it is and what the parser would have accepted there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub span: Span,
    /// What could have come here, described for people (`` `)` ``, "an expression").
    pub expected: Vec<String>,
    /// What is there instead (`` `x` ``, "end of file").
    pub found: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "expected {}, found {}",
            one_of(&self.expected),
            self.found
        )
    }
}

fn one_of(options: &[String]) -> String {
    match options {
        [] => "something else".to_string(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {}", init.join(", "), last),
    }
}

/// Parse a whole file, recovering at each top-level item.
///
/// Returns the items that parsed (in source order) and one error per item
/// that did not.
pub fn parse(source: &str) -> (Ast, Vec<ParseError>) {
    let source = &*crate::lines::lf_line_endings(source);
    pest::set_error_detail(true);
    let mut ast = Ast::default();
    let mut errors = Vec::new();
    for piece in split_items(source) {
        let text = &source[piece.clone()];
        let nesting = Nesting::of(text);
        if let Some(at) = nesting.too_deep {
            errors.push(ParseError {
                span: Span::new(piece.start + at, piece.start + at + 1),
                expected: vec![format!("at most {MAX_NESTING} nested brackets")],
                found: "deeper nesting".to_string(),
            });
            ast.broken.extend(declared_names(text, piece.start));
            continue;
        }
        match DlpParser::parse(Rule::item_only, text) {
            Ok(mut pairs) => {
                let item_only = pairs.next().expect("item_only always yields its pair");
                let item = item_only
                    .into_inner()
                    .next()
                    .expect("item_only holds one item");
                match build::item(item, text, piece.start) {
                    Ok(item) => ast.items.push(item),
                    Err(e) => {
                        errors.push(e);
                        ast.broken.extend(declared_names(text, piece.start));
                    }
                }
            }
            Err(e) => {
                let mut error = convert_error(&e, text, piece.start);
                if let Some(&open) = nesting.unclosed.last() {
                    unclosed_at_end(&mut error, source, piece.clone(), open);
                }
                errors.push(error);
                ast.broken.extend(declared_names(text, piece.start));
            }
        }
    }
    (ast, errors)
}

/// The names an item that does not parse would declare, read from its
/// head: `model Mlp(...` declares `Mlp`, `use std.nn.{linear, relu as r}`
/// imports `linear` and `r`, `use std.nn` binds `nn`.
fn declared_names(text: &str, offset: usize) -> Vec<Ident> {
    // The last word of `text[range]`: a name, or the alias after its `as`.
    let last_word = |range: std::ops::Range<usize>| {
        let (at, w) = Words::new(&text[range.clone()]).last()?;
        let start = offset + range.start + at;
        Some(Ident {
            name: w.to_string(),
            span: Span::new(start, start + w.len()),
        })
    };
    let mut words = Words::new(text);
    let keyword = words.next().map(|(_, w)| w);
    // The word right after the keyword (`fn (x)` names nothing).
    let next_name = |words: &mut Words| {
        let before = words.at;
        let (at, _) = words.next()?;
        text[before..at]
            .trim()
            .is_empty()
            .then(|| last_word(at..words.at))?
    };
    match keyword {
        Some("dataset" | "fn" | "model" | "train") => next_name(&mut words).into_iter().collect(),
        Some("extern") if words.next().is_some_and(|(_, w)| w == "fn") => {
            next_name(&mut words).into_iter().collect()
        }
        Some("use") => match text.find('{') {
            // `use a.b.{c, d as e}`: each entry's last word.
            Some(open) => {
                let close = text[open..].find('}').map_or(text.len(), |c| open + c);
                let mut names = Vec::new();
                let mut start = open + 1;
                for entry in text[start..close].split(',') {
                    names.extend(last_word(start..start + entry.len()));
                    start += entry.len() + 1;
                }
                names
            }
            // `use a.b.c` or `use a.b as c`: the line's last word.
            None => last_word(0..text.find('\n').unwrap_or(text.len()))
                .into_iter()
                .collect(),
        },
        _ => Vec::new(),
    }
}

/// The identifiers of a text, with their offsets, outside comments and
/// strings.
struct Words<'t> {
    text: &'t str,
    at: usize,
}

impl<'t> Words<'t> {
    fn new(text: &'t str) -> Words<'t> {
        Words { text, at: 0 }
    }
}

impl<'t> Iterator for Words<'t> {
    type Item = (usize, &'t str);

    fn next(&mut self) -> Option<(usize, &'t str)> {
        let bytes = self.text.as_bytes();
        while self.at < bytes.len() {
            let rest = &self.text[self.at..];
            let c = rest.chars().next()?;
            if rest.starts_with("//") {
                self.at += rest.find('\n').unwrap_or(rest.len());
            } else if c == '"' {
                self.at += 1 + rest[1..].find('"').map_or(rest.len() - 1, |e| e + 1);
            } else if c.is_alphabetic() || c == '_' {
                let len = rest
                    .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                let start = self.at;
                self.at += len;
                return Some((start, &rest[..len]));
            } else {
                self.at += c.len_utf8();
            }
        }
        None
    }
}

/// Brackets nested deeper than this are refused before pest sees them: the
/// parser and every later stage recurse on nesting, and no real program
/// comes near it.
pub const MAX_NESTING: usize = 64;

/// The brackets of an item's text, outside strings and comments.
struct Nesting {
    /// Byte offset of the first bracket nested deeper than [`MAX_NESTING`].
    too_deep: Option<usize>,
    /// Byte offsets of the brackets left open at the end, outermost first.
    unclosed: Vec<usize>,
}

impl Nesting {
    fn of(text: &str) -> Nesting {
        let mut open = Vec::new();
        let mut too_deep = None;
        let mut in_string = false;
        let mut in_comment = false;
        let mut escaped = false;
        for (i, b) in text.bytes().enumerate() {
            match b {
                b'\n' => {
                    in_comment = false;
                    in_string = false;
                }
                _ if in_comment => {}
                _ if in_string => {
                    in_string = escaped || b != b'"';
                    escaped = !escaped && b == b'\\';
                    continue;
                }
                b'/' if text.as_bytes().get(i + 1) == Some(&b'/') => in_comment = true,
                b'"' => in_string = true,
                b'(' | b'[' | b'{' => {
                    open.push(i);
                    if open.len() > MAX_NESTING && too_deep.is_none() {
                        too_deep = Some(i);
                    }
                }
                b')' | b']' | b'}' => {
                    open.pop();
                }
                _ => {}
            }
            escaped = false;
        }
        Nesting {
            too_deep,
            unclosed: open,
        }
    }
}

/// An item whose bracket at `open` is never closed fails where its text
/// ends, which is where the next declaration starts: say which bracket to
/// close, after the item's last word rather than on the next item's line.
fn unclosed_at_end(
    error: &mut ParseError,
    source: &str,
    piece: std::ops::Range<usize>,
    open: usize,
) {
    let text = &source[piece.clone()];
    // The end of the item's last line that is not blank or a comment (the
    // comments before the next item belong to this one).
    let mut end = text.trim_end().len();
    while let Some(line_start) = text[..end].rfind('\n').map(|i| i + 1) {
        let line = text[line_start..end].trim();
        if !(line.is_empty() || line.starts_with("//")) {
            break;
        }
        end = text[..line_start].trim_end().len();
    }
    if (error.span.start as usize) < piece.start + end {
        return;
    }
    let bracket = text.as_bytes()[open];
    let close = match bracket {
        b'(' => ')',
        b'[' => ']',
        _ => '}',
    };
    // Only where the closing bracket is what the parser wanted: a missing
    // value (`epochs =` at the end) keeps the parser's own message.
    if !error.expected.iter().any(|e| *e == format!("`{close}`")) {
        return;
    }
    let line = source[..piece.start + open].matches('\n').count() + 1;
    error.span = Span::new(piece.start + end, piece.start + end);
    error.expected = vec![format!(
        "`{close}` to close the `{}` on line {line}",
        bracket as char
    )];
    error.found = match Words::new(&source[piece.end..]).next() {
        Some((_, word)) => format!("`{word}`, the next declaration"),
        None => "end of file".to_string(),
    };
}

fn convert_error(e: &pest::error::Error<Rule>, text: &str, offset: usize) -> ParseError {
    let pos = match e.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let mut expected: Vec<String> = Vec::new();
    let mut push = |s: String| {
        if !expected.contains(&s) {
            expected.push(s);
        }
    };
    if let ErrorVariant::ParsingError { positives, .. } = &e.variant {
        for rule in positives {
            if let Some(d) = describe(*rule) {
                push(d.to_string());
            }
        }
    }
    if let Some(attempts) = e.parse_attempts() {
        for token in attempts.expected_tokens() {
            if let Some(d) = describe_token(&token.to_string()) {
                push(d);
            }
        }
    }
    // Tokens that only start something already listed are noise.
    let has = |what: &str| expected.iter().any(|s| s == what);
    let (expression, declaration) = (has("an expression"), has(DECLARATION));
    expected.retain(|s| {
        let starts_expr = ["`(`", "`[`", "`{`", "`-`", "`true`", "`false`"].contains(&s.as_str());
        let starts_decl = [
            "`use`",
            "`dataset`",
            "`fn`",
            "`extern`",
            "`model`",
            "`train`",
        ]
        .contains(&s.as_str());
        !((expression && starts_expr) || (declaration && starts_decl))
    });
    expected.sort_by_key(|s| (!s.starts_with('`'), s.clone()));
    let (found, len) = found_at(text, pos);
    ParseError {
        span: Span::new(offset + pos, offset + pos + len),
        expected,
        found,
    }
}

/// The token at `pos`, described, and its length in bytes.
fn found_at(text: &str, pos: usize) -> (String, usize) {
    let rest = &text[pos..];
    let Some(c) = rest.chars().next() else {
        return ("end of file".to_string(), 0);
    };
    if c.is_alphanumeric() || c == '_' {
        let len = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(rest.len());
        let word = rest[..len].trim_end_matches('.');
        return (format!("`{word}`"), word.len());
    }
    if rest.starts_with("///") {
        return (
            "a doc comment".to_string(),
            rest.find('\n').unwrap_or(rest.len()),
        );
    }
    if c == '"' {
        return ("a string".to_string(), 1);
    }
    if c == '\n' || c == '\r' {
        return ("the end of the line".to_string(), 0);
    }
    if c.is_whitespace() {
        return ("a space".to_string(), c.len_utf8());
    }
    ((format!("`{c}`")), c.len_utf8())
}

const DECLARATION: &str = "a declaration (`use`, `dataset`, `fn`, `model`, `train`)";

/// Rules the user can recognise; `None` hides a rule from messages.
fn describe(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::item_only
        | Rule::file
        | Rule::use_decl
        | Rule::dataset_decl
        | Rule::train_decl
        | Rule::fn_decl
        | Rule::extern_fn
        | Rule::model_decl => DECLARATION,
        Rule::ident | Rule::name | Rule::path | Rule::use_name => "a name",
        Rule::expr | Rule::unary | Rule::postfix | Rule::paren | Rule::list | Rule::record => {
            "an expression"
        }
        Rule::float | Rule::int => "a number",
        Rule::string => "a string",
        Rule::type_expr | Rule::class_dtype => "a type",
        Rule::dim | Rule::dim_paren => "a dimension",
        Rule::variadic => "`..`",
        Rule::entry => "an entry (`name = value`)",
        Rule::param => "a parameter (`name: type`)",
        Rule::arg => "an argument",
        Rule::record_field => "a record field (`name: value`)",
        Rule::param_stmt
        | Rule::state_stmt
        | Rule::update_stmt
        | Rule::input_stmt
        | Rule::output_stmt
        | Rule::repeat_stmt
        | Rule::let_stmt
        | Rule::expr_stmt => "a statement",
        Rule::call_args => "`(`",
        Rule::field => "`.`",
        Rule::index => "`[`",
        Rule::slice | Rule::index_at => "an index or a slice (`i`, `a:b`)",
        Rule::slice_start | Rule::slice_end | Rule::slice_step => "an expression",
        Rule::ellipsis => "`...`",
        Rule::cast => "`as`",
        Rule::ret_type => "`->`",
        Rule::where_clause | Rule::kw_where => "`where`",
        Rule::divides => "a fact `N % k == 0`",
        Rule::block | Rule::entries => "`{`",
        Rule::range_op
        | Rule::eq
        | Rule::ne
        | Rule::le
        | Rule::ge
        | Rule::lt
        | Rule::gt
        | Rule::add
        | Rule::sub
        | Rule::mul
        | Rule::div
        | Rule::rem
        | Rule::matmul => "an operator",
        Rule::EOI => "end of file",
        _ => return None,
    })
}

fn describe_token(token: &str) -> Option<String> {
    match token {
        // Operators are summarised as "an operator" by `describe`.
        "+" | "-" | "*" | "/" | "%" | "@" | "==" | "!=" | "<=" | ">=" | "<" | ">" | ".." => None,
        "//" | "///" | "\"" | "\\" | "e" | "E" | "_" => None,
        "n" | "t" | "r" | "BUILTIN_RULE" | " " | "\t" | "\n" | "\r" => None,
        t if t.len() > 2 && t.contains("..") => None, // a character range
        t => Some(format!("`{t}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(src: &str) -> Vec<String> {
        parse(src)
            .1
            .iter()
            .map(|e| format!("{}..{}: {e}", e.span.start, e.span.end))
            .collect()
    }

    #[test]
    fn recovers_at_each_item() {
        let src = "fn a( -> f32 { 1 }\nmodel M { input x: f32[B] output y = x }\nfn b(x: f32) -> { x }\ntrain t { a = }\n";
        let (ast, errs) = parse(src);
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert_eq!(ast.items.len(), 1);
        assert_eq!(ast.items[0].name().unwrap().name, "M");
    }

    #[test]
    fn an_item_that_does_not_parse_still_names_what_it_declares() {
        let src = "/// Doc.\nmodel Mlp(h: int { }\nuse std.nn.{linear, relu as r\n\
                   use lib.tools as t x\nextern fn f(\nfn (x) {}\n";
        let (ast, errs) = parse(src);
        assert_eq!(errs.len(), 5, "{errs:?}");
        let names: Vec<(&str, &str)> = ast
            .broken
            .iter()
            .map(|n| (n.name.as_str(), &src[n.span.range()]))
            .collect();
        assert_eq!(
            names,
            [
                ("Mlp", "Mlp"),
                ("linear", "linear"),
                ("r", "r"),
                ("x", "x"),
                ("f", "f")
            ]
        );
    }

    #[test]
    fn error_points_at_the_mistake() {
        let e = errors("fn f(x: f32) -> f32 { x + }");
        assert_eq!(
            e,
            vec!["26..27: expected an expression, found `}`".to_string()]
        );
    }

    #[test]
    fn a_doc_comment_after_an_expression_documents_the_next_entry() {
        // `/` then `// ...` must not read as a division by the next line.
        let src =
            "dataset d {\n    a = f(1)\n    /// the features\n    x = 2 / // half\n        4\n}";
        let (ast, errs) = parse(src);
        assert!(errs.is_empty(), "{errs:?}");
        let Item::Dataset(d) = &ast.items[0] else {
            panic!()
        };
        assert_eq!(d.entries.len(), 2);
        assert_eq!(
            d.entries[1].doc.as_ref().map(|doc| doc.text()),
            Some("the features".into())
        );
    }

    #[test]
    fn keywords_need_a_boundary() {
        let (ast, errs) = parse("model M { input x: f32[B]\n output_x = x\n output y = output_x }");
        assert!(errs.is_empty(), "{errs:?}");
        let Item::Model(m) = &ast.items[0] else {
            panic!()
        };
        assert!(matches!(m.body.stmts[1].kind, StmtKind::Let { .. }));
    }
}
