//! A tiny in-process LSP client for the tests: the server runs on a thread,
//! connected by `Connection::memory()`. Fixtures mark the cursor with `$0`.

use dlpc::lsp::{serve, Options};
use lsp_server::{Connection, Message, Notification, Request, RequestId, Response, ResponseError};
use lsp_types::notification::Notification as _;
use lsp_types::{Position, Uri};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

pub struct Client {
    connection: Connection,
    server: Option<JoinHandle<Result<(), String>>>,
    next_id: i32,
    /// Notifications received while waiting for responses, oldest first.
    pub notifications: Vec<Notification>,
    pub std_dir: PathBuf,
}

/// Text without its `$0` marker, and the marker's LSP position.
pub fn fixture(marked: &str) -> (String, Position) {
    let at = marked.find("$0").expect("the fixture has a $0 cursor");
    let text = marked.replacen("$0", "", 1);
    let before = &text[..at];
    let line = before.matches('\n').count() as u32;
    let line_start = before.rfind('\n').map_or(0, |n| n + 1);
    let character = before[line_start..].encode_utf16().count() as u32;
    (text, Position { line, character })
}

pub fn uri(name: &str) -> Uri {
    Uri::from_str(&format!("file:///dlp-lsp-tests/{name}")).expect("a valid uri")
}

impl Client {
    pub fn start() -> Client {
        let (server_side, client_side) = Connection::memory();
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let std_dir = std::env::temp_dir().join(format!(
            "dlp-lsp-test-std-{}-{}",
            std::process::id(),
            STARTED.fetch_add(1, Ordering::Relaxed)
        ));
        let options = Options {
            std_dir: std_dir.clone(),
            test_hooks: true,
        };
        let server = std::thread::spawn(move || serve(&server_side, options));
        let mut client = Client {
            connection: client_side,
            server: Some(server),
            next_id: 0,
            notifications: Vec::new(),
            std_dir,
        };
        let init = serde_json::json!({ "capabilities": {}, "processId": null, "rootUri": null });
        let caps = client
            .raw_request("initialize", init)
            .expect("initialize succeeds");
        assert!(caps["capabilities"]["hoverProvider"] == true);
        client.notify("initialized", serde_json::json!({}));
        client
    }

    pub fn notify(&self, method: &str, params: serde_json::Value) {
        let n = Notification::new(method.to_string(), params);
        self.connection
            .sender
            .send(n.into())
            .expect("the server is listening");
    }

    pub fn raw_request(
        &mut self,
        method: &str,
        params: serde_json::Value,
    ) -> Result<serde_json::Value, ResponseError> {
        self.next_id += 1;
        let id = RequestId::from(self.next_id);
        let request = Request::new(id.clone(), method.to_string(), params);
        self.connection
            .sender
            .send(request.into())
            .expect("the server is listening");
        let response = self.wait_for_response(&id);
        match (response.result, response.error) {
            (_, Some(error)) => Err(error),
            (result, None) => Ok(result.unwrap_or(serde_json::Value::Null)),
        }
    }

    pub fn request<R: lsp_types::request::Request>(
        &mut self,
        params: R::Params,
    ) -> Result<R::Result, ResponseError> {
        let value = self.raw_request(R::METHOD, serde_json::to_value(params).expect("params"))?;
        Ok(serde_json::from_value(value).expect("the server answers in the request's type"))
    }

    fn receive(&self) -> Message {
        self.connection
            .receiver
            .recv_timeout(Duration::from_secs(60))
            .expect("the server answers within a minute")
    }

    fn wait_for_response(&mut self, id: &RequestId) -> Response {
        loop {
            match self.receive() {
                Message::Response(r) if &r.id == id => return r,
                Message::Notification(n) => self.notifications.push(n),
                _ => {}
            }
        }
    }

    pub fn open(&mut self, name: &str, text: &str) -> Uri {
        let uri = uri(name);
        self.notify(
            "textDocument/didOpen",
            serde_json::json!({
                "textDocument": { "uri": uri.as_str(), "languageId": "dlp", "version": 1, "text": text }
            }),
        );
        uri
    }

    /// The diagnostics published for `uri` at document version `version`.
    pub fn diagnostics(&mut self, uri: &Uri, version: i32) -> Vec<lsp_types::Diagnostic> {
        loop {
            let found = self.notifications.iter().rev().find_map(|n| {
                if n.method != lsp_types::notification::PublishDiagnostics::METHOD {
                    return None;
                }
                let p: lsp_types::PublishDiagnosticsParams =
                    serde_json::from_value(n.params.clone()).ok()?;
                (&p.uri == uri && p.version == Some(version)).then_some(p.diagnostics)
            });
            if let Some(d) = found {
                return d;
            }
            match self.receive() {
                Message::Notification(n) => self.notifications.push(n),
                other => panic!("unexpected message while waiting for diagnostics: {other:?}"),
            }
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let _ = self.raw_request("shutdown", serde_json::Value::Null);
        self.notify("exit", serde_json::Value::Null);
        if let Some(server) = self.server.take() {
            let served = server.join().expect("the server thread ends");
            assert_eq!(served, Ok(()));
        }
        // Read-only files in a writable folder can still be removed.
        let _ = std::fs::remove_dir_all(&self.std_dir);
    }
}
