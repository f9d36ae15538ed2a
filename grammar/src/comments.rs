//! Ordinary `//` comments, found by a scan that skips strings.
//!
//! The grammar drops these comments, so the formatter re-attaches them by
//! position: each comment is printed before the first node that starts after
//! it, or at the end of the line it trailed.

use crate::ast::Span;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comment {
    pub span: Span,
    /// The comment's text including the leading `//`, without the newline.
    pub text: String,
    /// Nothing but whitespace before it on its line.
    pub own_line: bool,
}

/// Every `//` comment that is not a `///` doc comment, in source order.
pub fn comments(source: &str) -> Vec<Comment> {
    let bytes = source.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => i = skip_string(bytes, i),
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                let end = source[i..].find('\n').map_or(bytes.len(), |n| i + n);
                let text = source[i..end].trim_end();
                let is_doc = text.starts_with("///") && !text.starts_with("////");
                if !is_doc {
                    let line_start = source[..i].rfind('\n').map_or(0, |n| n + 1);
                    found.push(Comment {
                        span: Span::new(i, i + text.len()),
                        text: text.to_string(),
                        own_line: source[line_start..i].trim().is_empty(),
                    });
                }
                i = end;
            }
            _ => i += 1,
        }
    }
    found
}

fn skip_string(bytes: &[u8], mut i: usize) -> usize {
    i += 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            b'\n' => return i,
            _ => i += 1,
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_comments_but_not_docs_or_strings() {
        let src = "/// doc\nx = \"a // b\" // trailing\n  // own\n//// four";
        let found: Vec<_> = comments(src)
            .into_iter()
            .map(|c| (c.text, c.own_line))
            .collect();
        assert_eq!(
            found,
            vec![
                ("// trailing".to_string(), false),
                ("// own".to_string(), true),
                ("//// four".to_string(), true)
            ]
        );
    }
}
