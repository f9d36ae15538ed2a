//! Diagnostics: what every phase reports, in one shape.
//!
//! Each phase keeps its own error enum (`ParseError`, [`ResolveError`],
//! [`CheckError`]) whose variants carry the places and names involved; each
//! turns itself into a [`Diagnostic`] here-shaped value, and [`render`]
//! prints them all the same way. Codes are stable: `E0001` means the same
//! thing in every release (the book's diagnostics chapter lists them).
//!
//! [`ResolveError`]: crate::resolve::ResolveError
//! [`CheckError`]: crate::check::CheckError
//! [`render`]: crate::render

use dlp_grammar::Span;
use serde::Serialize;

/// Index of a source file in a [`SourceMap`](crate::SourceMap).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct FileId(pub u32);

/// A place in a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Loc {
    pub file: FileId,
    pub span: Span,
}

impl Loc {
    pub fn new(file: FileId, span: Span) -> Loc {
        Loc { file, span }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Label {
    pub loc: Loc,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Stable code, `E0001`.
    pub code: &'static str,
    pub message: String,
    /// Where the mistake is; its message may be empty.
    pub primary: Label,
    /// Other places involved (the other side of a mismatch, an earlier definition).
    pub labels: Vec<Label>,
    pub notes: Vec<String>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(code: &'static str, loc: Loc, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            primary: Label {
                loc,
                message: String::new(),
            },
            labels: Vec::new(),
            notes: Vec::new(),
            help: None,
        }
    }

    /// A program that checks but is very likely wrong (see [`crate::lint`]).
    pub fn warning(code: &'static str, loc: Loc, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, loc, message)
        }
    }

    /// Text for the primary label.
    pub fn here(mut self, message: impl Into<String>) -> Diagnostic {
        self.primary.message = message.into();
        self
    }

    pub fn label(mut self, loc: Loc, message: impl Into<String>) -> Diagnostic {
        self.labels.push(Label {
            loc,
            message: message.into(),
        });
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// `" (did you mean `x`?)"`-style suffix from the closest candidates.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let mut scored: Vec<(f64, &str)> = candidates
        .into_iter()
        .filter(|c| *c != name)
        .map(|c| (strsim::jaro_winkler(name, c), c))
        .filter(|(score, c)| *score > 0.8 || (c.len() > 2 && strsim::levenshtein(name, c) <= 2))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    scored.dedup_by(|a, b| a.1 == b.1);
    match scored.as_slice() {
        [] => None,
        [(_, one)] => Some(format!("did you mean `{one}`?")),
        [(_, a), (_, b), ..] => Some(format!("did you mean `{a}` or `{b}`?")),
    }
}
