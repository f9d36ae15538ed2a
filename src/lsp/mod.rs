//! `dlpc lsp`: the language server, over stdio.
//!
//! Built on `lsp-server` (synchronous: one loop reads a message, answers it,
//! reads the next) and `lsp-types`. The features themselves live in
//! [`dlp_compiler::ide`], which works in byte offsets and knows nothing of
//! LSP; this module only keeps the open documents, converts positions
//! (UTF-16 columns, see [`position`]) and types, and guards each request: a
//! panic inside one becomes an error response and the server keeps serving.
//!
//! Document sync is incremental. Diagnostics are published after every
//! change of a document, for that document.

mod documents;
mod files;
mod handlers;
mod position;

use documents::Documents;
use files::StdFiles;
use lsp_server::{Connection, ErrorCode, Message, Notification, Request, RequestId, Response};
use lsp_types::notification::Notification as _;
use lsp_types::{
    CompletionOptions, HoverProviderCapability, OneOf, RenameOptions, ServerCapabilities,
    SignatureHelpOptions, TextDocumentSyncCapability, TextDocumentSyncKind,
    WorkDoneProgressOptions,
};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::process::ExitCode;

/// How a server is set up.
pub struct Options {
    /// Where the stdlib's files are written for go-to-definition.
    pub std_dir: PathBuf,
    /// Answer `dlp/panic` by panicking: lets tests check that a panic in a
    /// request is survived. Off in `dlpc lsp`.
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
pub fn run() -> ExitCode {
    let (connection, io_threads) = Connection::stdio();
    let served = serve(&connection, Options::default());
    drop(connection);
    let joined = io_threads.join();
    match (served, joined) {
        (Ok(()), Ok(())) => ExitCode::SUCCESS,
        (Err(e), _) => {
            eprintln!("dlpc lsp: {e}");
            ExitCode::FAILURE
        }
        (_, Err(e)) => {
            eprintln!("dlpc lsp: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Answers `initialize`, then every request and notification until
/// `shutdown` and `exit` (or until the client goes away).
pub fn serve(connection: &Connection, options: Options) -> Result<(), String> {
    let capabilities = serde_json::to_value(capabilities()).map_err(|e| e.to_string())?;
    connection
        .initialize(capabilities)
        .map_err(|e| e.to_string())?;
    let mut server = Server {
        connection,
        documents: Documents::default(),
        std_files: StdFiles::new(options.std_dir),
        test_hooks: options.test_hooks,
    };
    for message in &connection.receiver {
        match message {
            Message::Request(request) => {
                if connection
                    .handle_shutdown(&request)
                    .map_err(|e| e.to_string())?
                {
                    return Ok(());
                }
                server.request(request);
            }
            Message::Notification(notification) => server.notification(notification),
            Message::Response(_) => {}
        }
    }
    Ok(())
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

pub(crate) struct Server<'c> {
    connection: &'c Connection,
    documents: Documents,
    std_files: StdFiles,
    test_hooks: bool,
}

/// An error answered to a request.
pub(crate) struct RequestError {
    code: ErrorCode,
    message: String,
}

impl RequestError {
    fn invalid_params(message: impl Into<String>) -> RequestError {
        RequestError {
            code: ErrorCode::InvalidParams,
            message: message.into(),
        }
    }

    fn failed(message: impl Into<String>) -> RequestError {
        RequestError {
            code: ErrorCode::RequestFailed,
            message: message.into(),
        }
    }
}

type Handler<R> = fn(
    &mut Server<'_>,
    <R as lsp_types::request::Request>::Params,
) -> Result<<R as lsp_types::request::Request>::Result, RequestError>;

impl Server<'_> {
    fn send(&self, message: impl Into<Message>) {
        // The client hung up: the loop ends when the receiver does.
        let _ = self.connection.sender.send(message.into());
    }

    fn request(&mut self, request: Request) {
        let id = request.id.clone();
        let response = match catch_unwind(AssertUnwindSafe(|| self.dispatch(request))) {
            Ok(Ok(value)) => Response::new_ok(id, value),
            Ok(Err(e)) => Response::new_err(id, e.code as i32, e.message),
            Err(panic) => {
                // What was being computed may be half-built: start afresh.
                self.documents.invalidate_all();
                internal_error(id, panic.as_ref())
            }
        };
        self.send(response);
    }

    fn dispatch(&mut self, request: Request) -> Result<serde_json::Value, RequestError> {
        use lsp_types::request::*;
        let r = request;
        match r.method.as_str() {
            HoverRequest::METHOD => self.on::<HoverRequest>(r, handlers::hover),
            GotoDefinition::METHOD => self.on::<GotoDefinition>(r, handlers::definition),
            References::METHOD => self.on::<References>(r, handlers::references),
            PrepareRenameRequest::METHOD => {
                self.on::<PrepareRenameRequest>(r, handlers::prepare_rename)
            }
            Rename::METHOD => self.on::<Rename>(r, handlers::rename),
            Completion::METHOD => self.on::<Completion>(r, handlers::completion),
            SignatureHelpRequest::METHOD => {
                self.on::<SignatureHelpRequest>(r, handlers::signature_help)
            }
            DocumentSymbolRequest::METHOD => {
                self.on::<DocumentSymbolRequest>(r, handlers::document_symbols)
            }
            Formatting::METHOD => self.on::<Formatting>(r, handlers::formatting),
            "dlp/panic" if self.test_hooks => panic!("dlp/panic was asked for"),
            other => Err(RequestError {
                code: ErrorCode::MethodNotFound,
                message: format!("dlpc lsp does not handle `{other}`"),
            }),
        }
    }

    fn on<R: lsp_types::request::Request>(
        &mut self,
        request: Request,
        handler: Handler<R>,
    ) -> Result<serde_json::Value, RequestError> {
        let params: R::Params = serde_json::from_value(request.params)
            .map_err(|e| RequestError::invalid_params(e.to_string()))?;
        let result = handler(self, params)?;
        serde_json::to_value(result).map_err(|e| RequestError::failed(e.to_string()))
    }

    fn notification(&mut self, notification: Notification) {
        let method = notification.method.clone();
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| self.notify(notification))) {
            self.documents.invalidate_all();
            self.log(&format!(
                "internal error while handling `{method}`: {}",
                panic_message(panic.as_ref())
            ));
        }
    }

    fn notify(&mut self, n: Notification) {
        use lsp_types::notification::*;
        match n.method.as_str() {
            DidOpenTextDocument::METHOD => {
                if let Ok(p) =
                    n.extract::<lsp_types::DidOpenTextDocumentParams>(DidOpenTextDocument::METHOD)
                {
                    let uri = p.text_document.uri;
                    self.documents.invalidate_all();
                    self.documents
                        .open(uri.clone(), p.text_document.text, p.text_document.version);
                    self.publish_diagnostics(&uri);
                }
            }
            DidChangeTextDocument::METHOD => {
                if let Ok(p) = n.extract::<lsp_types::DidChangeTextDocumentParams>(
                    DidChangeTextDocument::METHOD,
                ) {
                    let uri = p.text_document.uri;
                    self.documents.invalidate_all();
                    self.documents
                        .change(&uri, p.text_document.version, p.content_changes);
                    self.publish_diagnostics(&uri);
                }
            }
            DidCloseTextDocument::METHOD => {
                if let Ok(p) =
                    n.extract::<lsp_types::DidCloseTextDocumentParams>(DidCloseTextDocument::METHOD)
                {
                    self.documents.close(&p.text_document.uri);
                    self.documents.invalidate_all();
                    self.send_diagnostics(p.text_document.uri, Vec::new(), None);
                }
            }
            _ => {}
        }
    }

    fn publish_diagnostics(&mut self, uri: &lsp_types::Uri) {
        let in_std = files::uri_to_path(uri.as_str()).is_some_and(|p| self.std_files.contains(&p));
        let version = self.documents.get(uri).map(|d| d.version);
        // The stdlib's own files are checked as the stdlib, not as user code.
        let diagnostics = if in_std {
            Vec::new()
        } else {
            handlers::diagnostics(self, uri)
        };
        self.send_diagnostics(uri.clone(), diagnostics, version);
    }

    fn send_diagnostics(
        &self,
        uri: lsp_types::Uri,
        diagnostics: Vec<lsp_types::Diagnostic>,
        version: Option<i32>,
    ) {
        let params = lsp_types::PublishDiagnosticsParams {
            uri,
            diagnostics,
            version,
        };
        self.send(Notification::new(
            lsp_types::notification::PublishDiagnostics::METHOD.to_string(),
            params,
        ));
    }

    fn log(&self, message: &str) {
        let params = lsp_types::LogMessageParams {
            typ: lsp_types::MessageType::ERROR,
            message: format!("dlpc lsp: {message}"),
        };
        self.send(Notification::new(
            lsp_types::notification::LogMessage::METHOD.to_string(),
            params,
        ));
    }
}

fn internal_error(id: RequestId, panic: &(dyn std::any::Any + Send)) -> Response {
    Response::new_err(
        id,
        ErrorCode::InternalError as i32,
        format!("dlpc lsp: internal error: {}", panic_message(panic)),
    )
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_string())
}
