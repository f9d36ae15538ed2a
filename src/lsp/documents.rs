//! The documents the editor has open: their text, kept in sync with the
//! editor's edits, and the analysis of each (recomputed after each change).
//!
//! The text is kept exactly as the editor has it, line endings and all, so
//! that the editor's positions keep meaning the same thing; the compiler
//! reads a lone `\r` as `\n` at the same offset (see [`position`]).

use super::files::{uri_to_path, EditorLoader};
use super::position;
use dlp_compiler::ide::Analysis;
use lsp_types::{TextDocumentContentChangeEvent, Uri};
use std::collections::HashMap;
use std::path::PathBuf;

pub struct Document {
    pub text: String,
    pub version: i32,
    /// The analysis of the current text; `None` until first asked for.
    analysis: Option<Analysis>,
}

/// Keyed by the URI's text (`Uri` itself caches parts of it in cells).
#[derive(Default)]
pub struct Documents {
    open: HashMap<String, Document>,
}

impl Documents {
    pub fn open(&mut self, uri: Uri, text: String, version: i32) {
        self.open.insert(
            uri.as_str().to_string(),
            Document {
                text,
                version,
                analysis: None,
            },
        );
    }

    pub fn close(&mut self, uri: &Uri) {
        self.open.remove(uri.as_str());
    }

    pub fn get(&self, uri: &Uri) -> Option<&Document> {
        self.open.get(uri.as_str())
    }

    /// Applies the editor's changes in order: a change with a range replaces
    /// that range (incremental sync), one without replaces the whole text.
    /// Ranges past the end are clamped (see [`position`]). `false` if the
    /// document is not open: there is no text to change.
    pub fn change(
        &mut self,
        uri: &Uri,
        version: i32,
        changes: Vec<TextDocumentContentChangeEvent>,
    ) -> bool {
        let Some(doc) = self.open.get_mut(uri.as_str()) else {
            return false;
        };
        for change in changes {
            match change.range {
                Some(range) => {
                    let (start, end) = position::byte_range(&doc.text, range);
                    doc.text.replace_range(start..end, &change.text);
                }
                None => doc.text = change.text,
            }
        }
        doc.version = version;
        doc.analysis = None;
        true
    }

    /// The analysis of an open document, computed if its text changed.
    pub fn analysis(&mut self, uri: &Uri) -> Option<&Analysis> {
        if self.open.get(uri.as_str())?.analysis.is_none() {
            let analysis = self.analyze(uri)?;
            self.open.get_mut(uri.as_str())?.analysis = Some(analysis);
        }
        self.open.get(uri.as_str())?.analysis.as_ref()
    }

    /// Every analysis is stale when any open text changes: one may import another.
    pub fn invalidate_all(&mut self) {
        for doc in self.open.values_mut() {
            doc.analysis = None;
        }
    }

    fn analyze(&self, uri: &Uri) -> Option<Analysis> {
        let doc = self.open.get(uri.as_str())?;
        let open: HashMap<PathBuf, &str> = self
            .open
            .iter()
            .filter_map(|(u, d)| Some((uri_to_path(u)?, d.text.as_str())))
            .collect();
        let name = uri_to_path(uri.as_str())
            .map_or_else(|| uri.as_str().to_string(), |p| p.display().to_string());
        Some(Analysis::new(
            &name,
            &doc.text,
            &mut EditorLoader { open: &open },
        ))
    }
}
