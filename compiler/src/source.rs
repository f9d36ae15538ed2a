//! Source files: the program's own, the modules it imports, the stdlib.
//!
//! The compiler never touches the file system. The driver (the CLI, the
//! language server, a test) implements [`Loader`] to find user modules;
//! the standard library is embedded (see [`stdlib`](crate::stdlib)).

use crate::diagnostic::FileId;
use dlp_grammar::Span;

#[derive(Clone, Debug)]
pub struct SourceFile {
    /// What diagnostics call the file: a path for user files, `<std>/nn.dlp` for the stdlib.
    pub name: String,
    pub text: String,
    pub is_stdlib: bool,
    /// Byte offset of each line start, for line:column conversion.
    line_starts: Vec<usize>,
}

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<String>, is_stdlib: bool) -> SourceFile {
        // Lines end at `\n` for the parser and for `line_col` alike.
        let text: String = text.into();
        let text = match dlp_grammar::lines::lf_line_endings(&text) {
            std::borrow::Cow::Borrowed(_) => text,
            std::borrow::Cow::Owned(lf) => lf,
        };
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        SourceFile {
            name: name.into(),
            text,
            is_stdlib,
            line_starts,
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let start = self.line_starts[line];
        let col = self
            .text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count());
        (line + 1, col + 1)
    }

    pub fn slice(&self, span: Span) -> &str {
        self.text.get(span.range()).unwrap_or("")
    }
}

/// Every file of one compilation, addressed by [`FileId`].
#[derive(Clone, Debug, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn add(&mut self, file: SourceFile) -> FileId {
        self.files.push(file);
        FileId(self.files.len() as u32 - 1)
    }

    pub fn get(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    pub fn iter(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files
            .iter()
            .enumerate()
            .map(|(i, f)| (FileId(i as u32), f))
    }
}

/// Finds user modules. `use mylayers.{block}` written in `dir/main.dlp`
/// asks for `["mylayers"]` relative to `dir/main.dlp`.
pub trait Loader {
    /// The module's display name (its path) and text, or `None` if it does
    /// not exist. `from` is the name of the importing file.
    fn load(&mut self, from: &str, module: &[String]) -> Option<(String, String)>;
}

/// A loader that finds nothing: single-file programs, tests, fuzzing.
pub struct NoModules;

impl Loader for NoModules {
    fn load(&mut self, _from: &str, _module: &[String]) -> Option<(String, String)> {
        None
    }
}
