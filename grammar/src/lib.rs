//! The dlp grammar: text to syntax tree, and syntax tree back to text.
//!
//! Stages in this crate:
//! - [`parse`](parse::parse): the pest grammar (`dlp.pest`) behind a parser
//!   that recovers at each top-level item ([`split`] cuts the file first);
//! - [`lines`]: lone `\r` line endings read as `\n`, at the same offsets;
//! - [`ast`]: the tree, every node with its byte span;
//! - [`print`](print::sexpr): an S-expression printer used by snapshot tests;
//! - [`format`](format::format): the canonical layout behind `dlpc fmt`, which
//!   keeps comments ([`comments`] finds them).
//!
//! Nothing here knows about names, types or files on disk: that is the
//! compiler's job.

pub mod ast;
mod build;
pub mod comments;
pub mod format;
pub mod lines;
pub mod parse;
pub mod print;
pub mod split;

pub use ast::Span;
pub use parse::{parse, ParseError};
