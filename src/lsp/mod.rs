//! `dlpc lsp`: the language server, over stdio.
//!
//! Built on `lsp-server`'s `Connection` (synchronous: one loop reads a
//! message, answers it, reads the next) and `lsp-types`. The features
//! themselves live in [`dlp_compiler::ide`], which works in byte offsets and
//! knows nothing of LSP; this module only keeps the open documents, converts
//! positions (UTF-16 columns, see [`position`]) and types.
//!
//! The server never dies of a message, since an editor that loses its
//! server loses everything the user had on screen:
//! - [`transport`] reads the byte stream itself (`lsp-server`'s stdio
//!   reader stops at the first message it cannot parse) and answers or logs
//!   what is not a message; [`decode`] repairs lone UTF-16 surrogates;
//! - [`server`] keeps the lifecycle and guards each request and
//!   notification: a panic inside one becomes an error response or a log
//!   message, and the server keeps serving.
//!
//! Document sync is incremental. Diagnostics are published after every
//! change of a document, for that document.

mod decode;
mod documents;
mod files;
mod handlers;
mod position;
mod server;
mod transport;

use lsp_server::Connection;
use lsp_types::{
    CompletionOptions, HoverProviderCapability, OneOf, RenameOptions, ServerCapabilities,
    SignatureHelpOptions, TextDocumentSyncCapability, TextDocumentSyncKind,
    WorkDoneProgressOptions,
};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// How a server is set up.
pub struct Options {
    /// Where the stdlib's files are written for go-to-definition.
    pub std_dir: PathBuf,
    /// Panic on a `dlp/panic` request or notification: lets tests check
    /// that a panic in a handler is survived. Off in `dlpc lsp`.
    pub test_hooks: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            std_dir: files::default_std_dir(),
            test_hooks: false,
        }
    }
}

/// `dlpc lsp`: serves the editor on stdin/stdout until it says `exit`.
/// Exits with 0 if `shutdown` came before `exit`, else 1, as LSP asks.
pub fn run() -> ExitCode {
    match serve_stream(std::io::stdin(), std::io::stdout(), Options::default()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dlpc lsp: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Serves the `Content-Length` framed messages of `input`, answering on
/// `output`: what `dlpc lsp` does on stdin/stdout. `Ok` if the client sent
/// `shutdown` before `exit` (or before hanging up).
pub fn serve_stream(
    input: impl Read + Send + 'static,
    output: impl Write + Send + 'static,
    options: Options,
) -> Result<(), String> {
    let (connection, transport) = transport::start(input, output);
    let served = serve(&connection, options);
    drop(connection);
    transport.finish();
    served
}

/// Answers `initialize`, then every request and notification until `exit`
/// (or until the client goes away). `Ok` if `shutdown` came first.
pub fn serve(connection: &Connection, options: Options) -> Result<(), String> {
    server::serve(connection, options)
}

fn capabilities() -> ServerCapabilities {
    ServerCapabilities {
        text_document_sync: Some(TextDocumentSyncCapability::Kind(
            TextDocumentSyncKind::INCREMENTAL,
        )),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        definition_provider: Some(OneOf::Left(true)),
        references_provider: Some(OneOf::Left(true)),
        rename_provider: Some(OneOf::Right(RenameOptions {
            prepare_provider: Some(true),
            work_done_progress_options: WorkDoneProgressOptions::default(),
        })),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(vec![".".to_string(), "(".to_string()]),
            ..CompletionOptions::default()
        }),
        signature_help_provider: Some(SignatureHelpOptions {
            trigger_characters: Some(vec!["(".to_string(), ",".to_string()]),
            retrigger_characters: None,
            work_done_progress_options: WorkDoneProgressOptions::default(),
        }),
        document_symbol_provider: Some(OneOf::Left(true)),
        document_formatting_provider: Some(OneOf::Left(true)),
        ..ServerCapabilities::default()
    }
}
