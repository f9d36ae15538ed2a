//! Editor features over a checked program: hover, go-to-definition,
//! completion, references, rename, outline, signature help, formatting.
//!
//! This module knows nothing of the Language Server Protocol: positions are
//! byte offsets into the root file and results are plain values. The server
//! (`dlpc lsp`) translates them to LSP's UTF-16 line/column positions. Keeping
//! that split means every feature is tested here with plain strings, and
//! another front end (a web playground, a CLI query) could reuse it.
//!
//! An [`Analysis`] is one snapshot: the root file's text compiled with
//! [`compile`](crate::compile), plus an [`index`] of every identifier in every
//! module. Each query is a pure function of that snapshot; none of them
//! panics on any offset (offsets past the end or inside a multi-byte
//! character are clamped to a character boundary first).
//!
//! Half-typed files: the parser recovers per top-level item, so the items that
//! parse keep their types and references. Completion and signature help read
//! the text around the cursor instead of the tree, so they also work inside
//! the one item that does not parse.

mod completion;
mod describe;
mod diagnostics;
mod hover;
mod index;
mod navigate;
mod outline;
mod signature;
#[cfg(test)]
mod tests;
mod text;

pub use completion::{Completion, CompletionKind};
pub use diagnostics::{IdeDiagnostic, Related};
pub use hover::Hover;
pub use index::Symbol;
pub use navigate::RenameError;
pub use outline::{DocumentSymbol, SymbolKind};
pub use signature::SignatureHelp;

use crate::diagnostic::{FileId, Loc};
use crate::source::{Loader, SourceFile};
use crate::types::Type;
use crate::Compilation;
use dlp_grammar::Span;
use index::Index;
use std::collections::HashMap;

/// A place in one of the program's files: the root, a user module or the stdlib.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileRange {
    pub file: FileId,
    pub span: Span,
}

impl From<Loc> for FileRange {
    fn from(loc: Loc) -> FileRange {
        FileRange {
            file: loc.file,
            span: loc.span,
        }
    }
}

/// One text replacement: `span` of `file` becomes `new_text`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextEdit {
    pub file: FileId,
    pub span: Span,
    pub new_text: String,
}

/// One compiled snapshot of a root file and what it imports.
pub struct Analysis {
    compilation: Compilation,
    index: Index,
    /// The type the checker gave each place (the last one when recorded twice).
    types: HashMap<Loc, Type>,
    /// Use → definition, as the checker recorded it.
    references: HashMap<Loc, Loc>,
}

/// The most operations a model is lowered to while it is edited: the
/// examples' steps have up to about 2,000, and lowering 10,000 takes about
/// a tenth of a second.
const EDITOR_MAX_NODES: usize = 10_000;

impl Analysis {
    /// Compiles `text` (named `name`, which the loader resolves imports
    /// against) and indexes it. Never panics on any text.
    pub fn new(name: &str, text: &str, loader: &mut dyn Loader) -> Analysis {
        let mut compilation = crate::compile(name, text, loader);
        if !compilation.diagnostics.iter().any(|d| d.is_error()) {
            // What only lowering sees (`Mlp(hidden = 0)`), as `dlpc check`
            // shows it, within a budget that keeps typing responsive.
            let root = compilation.program.modules[0].file;
            let fallback = crate::Loc::new(root, Default::default());
            let lowered = crate::lower::check_quick(&compilation, EDITOR_MAX_NODES);
            compilation
                .diagnostics
                .extend(lowered.iter().map(|e| e.diagnostic(fallback)));
            compilation
                .diagnostics
                .sort_by_key(|d| (d.primary.loc.file, d.primary.loc.span.start));
        }
        let index = Index::build(&compilation.program);
        let types = compilation.checked.types.iter().cloned().collect();
        let references = compilation.checked.references.iter().copied().collect();
        Analysis {
            compilation,
            index,
            types,
            references,
        }
    }

    pub fn compilation(&self) -> &Compilation {
        &self.compilation
    }

    /// What each module's top-level names are bound to.
    fn scopes(&self) -> &crate::resolve::Scopes {
        &self.compilation.scopes
    }

    /// The root file's id (the file the analysis was made for).
    pub fn root(&self) -> FileId {
        self.compilation.program.modules[0].file
    }

    pub fn file(&self, id: FileId) -> &SourceFile {
        self.compilation.program.sources.get(id)
    }

    fn root_text(&self) -> &str {
        &self.file(self.root()).text
    }

    /// `offset` moved into the root text and back onto a character boundary.
    fn clamp(&self, offset: usize) -> usize {
        text::floor_boundary(self.root_text(), offset)
    }

    /// Every problem of the root file, as the editor shows them.
    pub fn diagnostics(&self) -> Vec<IdeDiagnostic> {
        diagnostics::of_root(self)
    }

    /// The type and documentation of what is under the cursor.
    pub fn hover(&self, offset: usize) -> Option<Hover> {
        hover::hover(self, self.clamp(offset))
    }

    /// Where the name under the cursor is defined.
    pub fn definition(&self, offset: usize) -> Option<FileRange> {
        navigate::definition(self, self.clamp(offset))
    }

    /// Every occurrence of the name under the cursor, in every file of the
    /// program, the definition included when `include_declaration`.
    pub fn references(&self, offset: usize, include_declaration: bool) -> Vec<FileRange> {
        navigate::references(self, self.clamp(offset), include_declaration)
    }

    /// The identifier under the cursor, if it names something that can be renamed.
    pub fn prepare_rename(&self, offset: usize) -> Result<Span, RenameError> {
        navigate::prepare_rename(self, self.clamp(offset))
    }

    /// The edits that rename the user-defined name under the cursor.
    pub fn rename(&self, offset: usize, new_name: &str) -> Result<Vec<TextEdit>, RenameError> {
        navigate::rename(self, self.clamp(offset), new_name)
    }

    /// What may be typed at the cursor.
    pub fn completions(&self, offset: usize) -> Vec<Completion> {
        completion::completions(self, self.clamp(offset))
    }

    /// The root file's declarations and their parts, for an outline.
    pub fn document_symbols(&self) -> Vec<DocumentSymbol> {
        outline::document_symbols(self)
    }

    /// The signature of the call the cursor is in, and which argument it is at.
    pub fn signature_help(&self, offset: usize) -> Option<SignatureHelp> {
        signature::signature_help(self, self.clamp(offset))
    }
}

/// The canonical layout of `text` (`dlpc fmt`), or `None` if it does not parse.
pub fn format(text: &str) -> Option<String> {
    dlp_grammar::format::format(text).ok()
}
