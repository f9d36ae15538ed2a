//! The book's sources: every link between chapters leads somewhere, and
//! every ```` ```dlp ```` block is checked, as its info string says:
//!
//! - ```` ```dlp ````: a whole file; it checks without an error (warnings
//!   are allowed: a block may leave a value unused to show one thing);
//! - ```` ```dlp,fragment ````: a piece of a file (entries, statements,
//!   signatures); it parses on its own, as the body of a `model`, `fn`,
//!   `dataset` or `train` block, or as signatures given bodies, once lines
//!   that are only `...` (the book's "and so on") are left out;
//! - ```` ```dlp,error ````: a file that shows a mistake; it has at least
//!   one error.
//!
//! mdbook turns the commas into spaces, so `language-dlp` is still what the
//! highlighter sees. A block that is an mdbook `{{#include file}}` is
//! checked as the included file.

use dlp_compiler::{compile, NoModules};
use std::path::{Path, PathBuf};

struct Block {
    /// `chapter.md:line` of the opening fence.
    place: String,
    kind: String,
    text: String,
}

fn chapters(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("the book's folder")
        .map(|e| e.expect("an entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            chapters(&path, out);
        } else if path.extension().is_some_and(|e| e == "md") {
            out.push(path);
        }
    }
}

fn blocks() -> Vec<Block> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("book/src");
    let mut files = Vec::new();
    chapters(&root, &mut files);
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("a chapter");
        let name = file.strip_prefix(&root).unwrap().display().to_string();
        let mut lines = text.lines().enumerate();
        while let Some((i, line)) = lines.next() {
            let indent = line.len() - line.trim_start().len();
            let Some(info) = line.trim_start().strip_prefix("```dlp") else {
                continue;
            };
            let mut body = String::new();
            for (_, l) in lines.by_ref() {
                if l.trim_start().starts_with("```") {
                    break;
                }
                let l = l.get(indent..).unwrap_or(l.trim_start());
                match l
                    .strip_prefix("{{#include ")
                    .and_then(|l| l.strip_suffix("}}"))
                {
                    Some(included) => {
                        let path = file.parent().unwrap().join(included.trim());
                        body.push_str(&std::fs::read_to_string(&path).expect("an included file"));
                    }
                    None => {
                        body.push_str(l);
                        body.push('\n');
                    }
                }
            }
            out.push(Block {
                place: format!("{name}:{}", i + 1),
                kind: info.trim_start_matches(',').trim().to_string(),
                text: body,
            });
        }
    }
    out
}

fn errors(text: &str) -> Vec<String> {
    compile("block.dlp", text, &mut NoModules)
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| format!("{} {}", d.code, d.message))
        .collect()
}

fn parses(text: &str) -> bool {
    dlp_grammar::parse(text).1.is_empty()
}

/// A fragment parses alone or inside one of the blocks it can come from.
fn fragment_parses(text: &str) -> bool {
    let text: String = text
        .lines()
        .filter(|l| l.trim() != "...")
        .map(|l| format!("{l}\n"))
        .collect();
    parses(&text)
        || [
            "model M {\n",
            "fn f(x: f32[B]) -> f32[B] {\n",
            "dataset d {\n",
            "train t {\n",
        ]
        .iter()
        .any(|open| parses(&format!("{open}{text}}}\n")))
        || parses(&with_bodies(&text))
}

/// Signatures as declarations: each item of `text` given a body.
fn with_bodies(text: &str) -> String {
    dlp_grammar::split::split_items(text)
        .into_iter()
        .map(|item| format!("{} {{ 0 }}\n", text[item].trim_end()))
        .collect()
}

#[test]
fn every_dlp_block_of_the_book_is_what_its_fence_says() {
    let blocks = blocks();
    let mut failures = Vec::new();
    for b in &blocks {
        let problem = match b.kind.as_str() {
            "" => {
                let errors = errors(&b.text);
                (!errors.is_empty()).then(|| format!("does not check: {errors:?}"))
            }
            "fragment" => (!fragment_parses(&b.text)).then(|| "does not parse".to_string()),
            "error" => errors(&b.text)
                .is_empty()
                .then(|| "has no error, but its fence says `error`".to_string()),
            other => Some(format!(
                "unknown fence `dlp,{other}` (use `dlp`, `dlp,fragment` or `dlp,error`)"
            )),
        };
        if let Some(p) = problem {
            failures.push(format!("{}: {p}", b.place));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} blocks:\n{}",
        failures.len(),
        blocks.len(),
        failures.join("\n")
    );
    assert!(blocks.len() >= 50, "found only {} blocks", blocks.len());
}

/// The `(target)` of every Markdown link `[text](target)` in `text`.
fn links(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        if let Some(end) = rest.find(')') {
            out.push(&rest[..end]);
        }
    }
    out
}

/// The anchors mdbook gives a chapter's headings: lower case, spaces as
/// `-`, other punctuation left out.
fn anchors(text: &str) -> Vec<String> {
    let mut in_code = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        }
        let Some(heading) = line.strip_prefix('#').filter(|_| !in_code) else {
            continue;
        };
        let heading = heading.trim_start_matches('#').trim();
        out.push(
            heading
                .chars()
                .filter_map(|c| match c {
                    ' ' => Some('-'),
                    c if c.is_alphanumeric() || c == '-' || c == '_' => {
                        Some(c.to_ascii_lowercase())
                    }
                    _ => None,
                })
                .collect(),
        );
    }
    out
}

#[test]
fn every_link_between_chapters_leads_to_a_chapter_and_heading() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("book/src");
    let mut files = Vec::new();
    chapters(&root, &mut files);
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).expect("a chapter");
        for link in links(&text) {
            if link.contains("://") || link.starts_with("mailto:") || link.contains(' ') {
                continue;
            }
            let (path, anchor) = link.split_once('#').unwrap_or((link, ""));
            let target = if path.is_empty() {
                file.clone()
            } else {
                file.parent().unwrap().join(path)
            };
            checked += 1;
            let Ok(target_text) = std::fs::read_to_string(&target) else {
                broken.push(format!("{}: `{link}`: no such file", file.display()));
                continue;
            };
            let is_chapter = target.extension().is_some_and(|e| e == "md");
            if !anchor.is_empty()
                && is_chapter
                && !anchors(&target_text).iter().any(|a| a == anchor)
            {
                broken.push(format!("{}: `{link}`: no such heading", file.display()));
            }
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
    assert!(checked > 50, "found only {checked} links");
}
