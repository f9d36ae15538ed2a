//! The server's loop: the LSP lifecycle (`initialize`, `shutdown`, `exit`)
//! and, in between, each request and notification, guarded.
//!
//! The lifecycle is kept here rather than left to `lsp-server`'s
//! `initialize` and `handle_shutdown`, which end the server on any message
//! they do not expect (a request before `initialized`, one after
//! `shutdown`); the spec asks for an error response to those instead:
//!
//! - before `initialize`, requests get ServerNotInitialized (-32002) and
//!   notifications are dropped;
//! - after `shutdown`, requests get InvalidRequest (-32600);
//! - `exit` ends the loop: `Ok` if `shutdown` came first, else `Err` (the
//!   process exits with 0 or 1, as the spec asks). A client that hangs up
//!   counts as an `exit`.
//!
//! Nothing a message holds ends the server. A request that cannot be served
//! gets an error response: unknown method, unusable params, a panic in its
//! handler. A notification cannot be answered: when one cannot be used
//! (unusable params, a change to a document that is not open, a panic) the
//! client is told with `window/logMessage`.

use super::documents::Documents;
use super::files::{self, StdFiles};
use super::{capabilities, handlers, Options};
use lsp_server::{Connection, ErrorCode, Message, Notification, Request, RequestId, Response};
use lsp_types::notification::{self as note, Notification as _};
use lsp_types::request::{self as req, Request as _};
use lsp_types::MessageType;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Answers each message until `exit` or until the client hangs up.
pub fn serve(connection: &Connection, options: Options) -> Result<(), String> {
    let mut server = Server {
        connection,
        phase: Phase::Starting,
        documents: Documents::default(),
        std_files: StdFiles::new(options.std_dir),
        test_hooks: options.test_hooks,
    };
    for message in &connection.receiver {
        if let Some(ended) = server.guarded(message) {
            return ended;
        }
    }
    server.ended("the client hung up")
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Until `initialize`.
    Starting,
    Running,
    /// After `shutdown`, until `exit`.
    ShuttingDown,
}

pub struct Server<'c> {
    connection: &'c Connection,
    phase: Phase,
    pub documents: Documents,
    pub std_files: StdFiles,
    test_hooks: bool,
}

/// An error answered to a request.
pub struct RequestError {
    code: ErrorCode,
    message: String,
}

impl RequestError {
    pub fn invalid_params(message: impl Into<String>) -> RequestError {
        RequestError {
            code: ErrorCode::InvalidParams,
            message: message.into(),
        }
    }

    pub fn failed(message: impl Into<String>) -> RequestError {
        RequestError {
            code: ErrorCode::RequestFailed,
            message: message.into(),
        }
    }
}

type Handler<R> = fn(
    &mut Server<'_>,
    <R as req::Request>::Params,
) -> Result<<R as req::Request>::Result, RequestError>;

impl Server<'_> {
    /// Handles one message; `Some` when it ends the loop. The last guard: a
    /// panic outside a request's or a notification's own guard is logged too.
    fn guarded(&mut self, message: Message) -> Option<Result<(), String>> {
        match catch_unwind(AssertUnwindSafe(|| self.handle(message))) {
            Ok(ended) => ended,
            Err(panic) => {
                self.documents.invalidate_all();
                let why = panic_message(panic.as_ref());
                self.log(MessageType::ERROR, &format!("internal error: {why}"));
                None
            }
        }
    }

    fn handle(&mut self, message: Message) -> Option<Result<(), String>> {
        match message {
            Message::Request(request) => self.lifecycle_request(request),
            Message::Notification(n) if n.method == note::Exit::METHOD => {
                return Some(self.ended("`exit` was sent"));
            }
            Message::Notification(n) if self.phase == Phase::Running => self.notification(n),
            // Before `initialize` and after `shutdown`, notifications are dropped.
            Message::Notification(_) => {}
            // The server sends no requests: no response is awaited.
            Message::Response(_) => {}
        }
        None
    }

    /// How the loop ends: well after `shutdown`, in error otherwise.
    fn ended(&self, how: &str) -> Result<(), String> {
        match self.phase {
            Phase::ShuttingDown => Ok(()),
            _ => Err(format!("{how} before `shutdown`")),
        }
    }

    fn lifecycle_request(&mut self, request: Request) {
        let id = request.id.clone();
        match (self.phase, request.method.as_str()) {
            (Phase::Starting, req::Initialize::METHOD) => {
                self.phase = Phase::Running;
                self.send(Response::new_ok(id, initialize_result()));
            }
            (Phase::Starting, _) => self.refuse(
                id,
                ErrorCode::ServerNotInitialized,
                "the server is not initialized: send `initialize` first",
            ),
            (Phase::Running, req::Initialize::METHOD) => self.refuse(
                id,
                ErrorCode::InvalidRequest,
                "`initialize` was sent already",
            ),
            (Phase::Running, req::Shutdown::METHOD) => {
                self.phase = Phase::ShuttingDown;
                self.send(Response::new_ok(id, ()));
            }
            (Phase::Running, _) => self.request(request),
            (Phase::ShuttingDown, _) => self.refuse(
                id,
                ErrorCode::InvalidRequest,
                "the server is shutting down: only `exit` is expected",
            ),
        }
    }

    fn refuse(&self, id: RequestId, code: ErrorCode, message: &str) {
        self.send(Response::new_err(
            id,
            code as i32,
            format!("dlpc lsp: {message}"),
        ));
    }

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
                let why = panic_message(panic.as_ref());
                self.log(MessageType::ERROR, &format!("internal error: {why}"));
                Response::new_err(
                    id,
                    ErrorCode::InternalError as i32,
                    format!("dlpc lsp: internal error: {why}"),
                )
            }
        };
        self.send(response);
    }

    fn dispatch(&mut self, request: Request) -> Result<serde_json::Value, RequestError> {
        use req::*;
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

    fn on<R: req::Request>(
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
            self.log(
                MessageType::ERROR,
                &format!(
                    "internal error while handling `{method}`: {}",
                    panic_message(panic.as_ref())
                ),
            );
        }
    }

    fn notify(&mut self, n: Notification) {
        use note::*;
        match n.method.as_str() {
            DidOpenTextDocument::METHOD => self.on_note::<DidOpenTextDocument>(n, Self::did_open),
            DidChangeTextDocument::METHOD => {
                self.on_note::<DidChangeTextDocument>(n, Self::did_change)
            }
            DidCloseTextDocument::METHOD => {
                self.on_note::<DidCloseTextDocument>(n, Self::did_close)
            }
            "dlp/panic" if self.test_hooks => panic!("dlp/panic was notified"),
            // `initialized`, `$/cancelRequest`, `$/setTrace`, the rest: nothing to do.
            _ => {}
        }
    }

    /// Runs `handler` on the notification's params, or logs why they are unusable.
    fn on_note<N: note::Notification>(
        &mut self,
        notification: Notification,
        handler: fn(&mut Self, N::Params),
    ) {
        match serde_json::from_value::<N::Params>(notification.params) {
            Ok(params) => handler(self, params),
            Err(e) => self.log(
                MessageType::ERROR,
                &format!("ignored `{}`: its params are unusable: {e}", N::METHOD),
            ),
        }
    }

    fn did_open(&mut self, p: lsp_types::DidOpenTextDocumentParams) {
        let uri = p.text_document.uri;
        self.documents.invalidate_all();
        self.documents
            .open(uri.clone(), p.text_document.text, p.text_document.version);
        self.publish_diagnostics(&uri);
    }

    fn did_change(&mut self, p: lsp_types::DidChangeTextDocumentParams) {
        let uri = p.text_document.uri;
        self.documents.invalidate_all();
        let version = p.text_document.version;
        if !self.documents.change(&uri, version, p.content_changes) {
            let message = format!("ignored a change to {}: it is not open", uri.as_str());
            self.log(MessageType::WARNING, &message);
            return;
        }
        self.publish_diagnostics(&uri);
    }

    fn did_close(&mut self, p: lsp_types::DidCloseTextDocumentParams) {
        self.documents.close(&p.text_document.uri);
        self.documents.invalidate_all();
        self.send_diagnostics(p.text_document.uri, Vec::new(), None);
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
            note::PublishDiagnostics::METHOD.to_string(),
            params,
        ));
    }

    fn log(&self, typ: MessageType, message: &str) {
        let params = lsp_types::LogMessageParams {
            typ,
            message: format!("dlpc lsp: {message}"),
        };
        self.send(Notification::new(
            note::LogMessage::METHOD.to_string(),
            params,
        ));
    }
}

fn initialize_result() -> lsp_types::InitializeResult {
    lsp_types::InitializeResult {
        capabilities: capabilities(),
        server_info: Some(lsp_types::ServerInfo {
            name: "dlpc".to_string(),
            version: Some(env!("CARGO_PKG_VERSION").to_string()),
        }),
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_string())
}
