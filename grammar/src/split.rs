//! Cutting a file into top-level items before pest sees it.
//!
//! An item starts at a declaration keyword (`use`, `dataset`, `fn`, `extern`,
//! `model`, `train`) that stands at brace depth 0, or at the start of a line
//! even when the braces before it are unbalanced: a forgotten `}` then costs
//! one item, not the rest of the file. `///` lines directly above a keyword
//! belong to its item. The scan skips strings and comments, so braces and
//! keywords inside them do not count.

use std::ops::Range;

const ITEM_KEYWORDS: [&str; 6] = ["use", "dataset", "fn", "extern", "model", "train"];

/// Byte ranges that together cover `source`, one per item (plus any leading
/// text that is not an item, which then fails to parse on its own).
pub fn split_items(source: &str) -> Vec<Range<usize>> {
    let mut bounds = item_starts(source);
    let first = bounds.first().copied().unwrap_or(source.len());
    if !is_trivia(&source[..first]) {
        bounds.insert(0, 0);
    }
    // Each item runs up to the next start.
    let ends = bounds.iter().skip(1).copied().chain([source.len()]);
    bounds
        .iter()
        .zip(ends)
        .map(|(&start, end)| start..end)
        .collect()
}

/// Only whitespace and ordinary comments.
fn is_trivia(text: &str) -> bool {
    text.lines().all(|line| {
        let t = line.trim();
        t.is_empty() || (t.starts_with("//") && !is_doc_line(t))
    })
}

fn is_doc_line(trimmed: &str) -> bool {
    trimmed.starts_with("///") && !trimmed.starts_with("////")
}

fn item_starts(source: &str) -> Vec<usize> {
    let bytes = source.as_bytes();
    let mut starts = Vec::new();
    let mut depth: i64 = 0;
    let mut i = 0;
    let mut line_start = true;
    // Where a run of `///` lines began, if the current line continues one.
    let mut doc_start: Option<usize> = None;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'\n' => {
                line_start = true;
                i += 1;
                continue;
            }
            b' ' | b'\t' | b'\r' => {
                i += 1;
                continue;
            }
            _ => {}
        }
        let at_line_start = line_start;
        line_start = false;
        if source[i..].starts_with("//") {
            let end = source[i..].find('\n').map_or(bytes.len(), |n| i + n);
            if is_doc_line(&source[i..end]) {
                doc_start.get_or_insert(i);
            } else {
                doc_start = None;
            }
            i = end;
            continue;
        }
        if b == b'"' {
            i = skip_string(bytes, i);
            doc_start = None;
            continue;
        }
        if b.is_ascii_alphabetic() || b == b'_' {
            let end = i + source[i..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(source.len() - i);
            let word = &source[i..end];
            // `extern fn` is one item: its `fn` starts nothing.
            let after_extern = source[..i].trim_end().ends_with("extern");
            let starts_item = ITEM_KEYWORDS.contains(&word)
                && !(word == "fn" && after_extern)
                && (depth == 0 || (at_line_start && followed_by_name(source, end)))
                && !after_dot(source, i);
            if starts_item {
                if at_line_start && depth != 0 {
                    depth = 0;
                }
                starts.push(doc_start.unwrap_or(i));
            }
            doc_start = None;
            i = end;
            continue;
        }
        match b {
            b'{' => depth += 1,
            b'}' => depth = (depth - 1).max(0),
            _ => {}
        }
        doc_start = None;
        i += source[i..].chars().next().map_or(1, char::len_utf8);
    }
    starts
}

/// `model Mlp`, not `model = Mlp()` (a train entry that lost its indentation).
fn followed_by_name(source: &str, mut i: usize) -> bool {
    let bytes = source.as_bytes();
    while i < bytes.len() && (bytes[i] == b' ' || bytes[i] == b'\t') {
        i += 1;
    }
    i < bytes.len() && (bytes[i].is_ascii_alphabetic() || bytes[i] == b'_')
}

/// `std.train` is a path, not a declaration (only the same line counts, so
/// a comment ending in a full stop does not).
fn after_dot(source: &str, i: usize) -> bool {
    let line_start = source[..i].rfind('\n').map_or(0, |n| n + 1);
    source[line_start..i].trim_end().ends_with('.')
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

    fn pieces(src: &str) -> Vec<&str> {
        split_items(src)
            .into_iter()
            .map(|r| src[r].trim())
            .collect()
    }

    #[test]
    fn splits_at_top_level_keywords() {
        let src = "use a.b\n/// doc\nfn f() -> f32 { \"fn }\" }\n// note\nmodel M { x = 1 }";
        assert_eq!(
            pieces(src),
            vec![
                "use a.b",
                "/// doc\nfn f() -> f32 { \"fn }\" }\n// note",
                "model M { x = 1 }"
            ]
        );
    }

    #[test]
    fn resyncs_after_a_missing_brace() {
        let src = "fn f() -> f32 {\n  1\n\nmodel M {\n  model = 3\n}\n";
        assert_eq!(pieces(src).len(), 2);
    }

    #[test]
    fn leading_junk_is_its_own_piece() {
        assert_eq!(
            pieces("oops\nfn f() -> f32 { 1 }"),
            vec!["oops", "fn f() -> f32 { 1 }"]
        );
    }
}
