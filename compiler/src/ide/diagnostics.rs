//! The compiler's diagnostics, flattened for an editor: one message per
//! problem (notes and help folded in), the other places involved as related
//! locations.

use super::{Analysis, FileRange};
use crate::diagnostic::Severity;
use dlp_grammar::Span;

#[derive(Clone, Debug, PartialEq)]
pub struct IdeDiagnostic {
    /// In the root file.
    pub span: Span,
    pub severity: Severity,
    /// Stable code, `E0001`.
    pub code: &'static str,
    pub message: String,
    pub related: Vec<Related>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Related {
    pub at: FileRange,
    pub message: String,
}

/// The diagnostics whose main place is in the root file. A problem inside an
/// imported module is shown on the `use` that brings the module in.
pub fn of_root(a: &Analysis) -> Vec<IdeDiagnostic> {
    let root = a.root();
    a.compilation
        .diagnostics
        .iter()
        .filter_map(|d| {
            let span = if d.primary.loc.file == root {
                d.primary.loc.span
            } else {
                import_of(a, d.primary.loc.file)?
            };
            let mut message = d.message.clone();
            if d.primary.loc.file != root {
                let name = &a.file(d.primary.loc.file).name;
                let (line, col) = a
                    .file(d.primary.loc.file)
                    .line_col(d.primary.loc.span.start as usize);
                message = format!("in {name}:{line}:{col}: {message}");
            } else if !d.primary.message.is_empty() {
                message.push_str(&format!(": {}", d.primary.message));
            }
            for note in &d.notes {
                message.push_str(&format!("\nnote: {note}"));
            }
            if let Some(help) = &d.help {
                message.push_str(&format!("\nhelp: {help}"));
            }
            let related = d
                .labels
                .iter()
                .map(|l| Related {
                    at: l.loc.into(),
                    message: if l.message.is_empty() {
                        "here".to_string()
                    } else {
                        l.message.clone()
                    },
                })
                .collect();
            Some(IdeDiagnostic {
                span,
                severity: d.severity,
                code: d.code,
                message,
                related,
            })
        })
        .collect()
}

/// The span of the root file's `use` that (directly) imports the module of `file`.
fn import_of(a: &Analysis, file: crate::FileId) -> Option<Span> {
    let program = &a.compilation.program;
    let module = program.modules.iter().position(|m| m.file == file)?;
    program.modules[0]
        .ast
        .items
        .iter()
        .find_map(|item| match item {
            dlp_grammar::ast::Item::Use(u) => {
                let path: Vec<String> = u.path.iter().map(|s| s.name.clone()).collect();
                let target = crate::load::resolve_use(program, &path)?;
                (target.module == module).then_some(u.span)
            }
            _ => None,
        })
}
