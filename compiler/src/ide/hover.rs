//! Hover: what the name or expression under the cursor is, and its type.
//!
//! On a name, the description of what it names (see [`describe`]); on the
//! callee of a call, also the type this call gives back. Anywhere else, the
//! type of the smallest checked expression around the cursor.

use super::describe::{describe, Description};
use super::index::Role;
use super::Analysis;
use crate::diagnostic::Loc;
use crate::types::Type;
use dlp_grammar::Span;

#[derive(Clone, Debug, PartialEq)]
pub struct Hover {
    /// What the hover is about, in the root file.
    pub span: Span,
    pub markdown: String,
}

pub fn hover(a: &Analysis, offset: usize) -> Option<Hover> {
    name_hover(a, offset).or_else(|| expression_hover(a, offset))
}

fn name_hover(a: &Analysis, offset: usize) -> Option<Hover> {
    let (occurrence, symbol) = a.symbol_at(offset)?;
    let at = Loc::new(a.root(), occurrence.span);
    let mut description = describe(a, &symbol, Some(at))?;
    if let Role::Use { call: Some(call) } = occurrence.role {
        if let Some(t) = a
            .types
            .get(&Loc::new(a.root(), call))
            .filter(|t| !t.is_error())
        {
            let here = format!("this call gives `{t}`");
            description.note = Some(match description.note {
                Some(note) => format!("{note}; {here}"),
                None => here,
            });
        }
    }
    Some(Hover {
        span: occurrence.span,
        markdown: description.markdown(),
    })
}

fn expression_hover(a: &Analysis, offset: usize) -> Option<Hover> {
    let root = a.root();
    let (loc, ty): (&Loc, &Type) = a
        .types
        .iter()
        .filter(|(loc, t)| loc.file == root && loc.span.contains(offset) && !t.is_error())
        .min_by_key(|(loc, _)| (loc.span.end - loc.span.start, loc.span.start))?;
    let description = Description {
        code: ty.to_string(),
        note: None,
        doc: None,
    };
    Some(Hover {
        span: loc.span,
        markdown: description.markdown(),
    })
}
