//! A byte-level LSP client for the tests: it writes raw bytes (framed or
//! not, JSON or not) to a server and reads the framed JSON it answers. The
//! server is either `dlpc lsp` itself (a child process on stdin/stdout) or
//! `dlpc::lsp::serve_stream` on a thread, over pipes.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

enum Server {
    Thread(JoinHandle<Result<(), String>>),
    Process(Child),
}

/// How the server ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// `serve_stream`'s result.
    Served(Result<(), String>),
    /// The process's exit code.
    Exited(Option<i32>),
}

pub struct Wire {
    input: Option<Box<dyn Write + Send>>,
    messages: mpsc::Receiver<Value>,
    /// What came while waiting for something else, oldest first.
    pub received: Vec<Value>,
    server: Option<Server>,
    next_id: i64,
    pub scratch: PathBuf,
}

fn scratch_dir() -> PathBuf {
    static STARTED: AtomicUsize = AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "dlp-lsp-wire-{}-{}",
        std::process::id(),
        STARTED.fetch_add(1, Ordering::Relaxed)
    ))
}

impl Wire {
    /// `serve_stream` on a thread, over pipes, with the test hooks on.
    pub fn in_process() -> Wire {
        let (server_in, to_server) = std::io::pipe().expect("a pipe");
        let (from_server, server_out) = std::io::pipe().expect("a pipe");
        let scratch = scratch_dir();
        let options = dlpc::lsp::Options {
            std_dir: scratch.join("std"),
            test_hooks: true,
        };
        let server =
            std::thread::spawn(move || dlpc::lsp::serve_stream(server_in, server_out, options));
        Wire::new(
            Box::new(to_server),
            from_server,
            Server::Thread(server),
            scratch,
        )
    }

    /// The `dlpc lsp` binary, on its stdin and stdout.
    pub fn process() -> Wire {
        let scratch = scratch_dir();
        let mut child = Command::new(env!("CARGO_BIN_EXE_dlpc"))
            .arg("lsp")
            .env("XDG_CACHE_HOME", scratch.join("cache"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("dlpc lsp starts");
        let input = child.stdin.take().expect("stdin");
        let output = child.stdout.take().expect("stdout");
        Wire::new(Box::new(input), output, Server::Process(child), scratch)
    }

    fn new(
        input: Box<dyn Write + Send>,
        output: impl Read + Send + 'static,
        server: Server,
        scratch: PathBuf,
    ) -> Wire {
        let (sender, messages) = mpsc::channel();
        std::thread::spawn(move || {
            let mut output = BufReader::new(output);
            while let Some(message) = read_message(&mut output) {
                if sender.send(message).is_err() {
                    return;
                }
            }
        });
        Wire {
            input: Some(input),
            messages,
            received: Vec::new(),
            server: Some(server),
            next_id: 0,
            scratch,
        }
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        let input = self.input.as_mut().expect("the input is open");
        input.write_all(bytes).expect("the server reads");
        input.flush().expect("the server reads");
    }

    /// `body` with its `Content-Length` header.
    pub fn send_body(&mut self, body: &[u8]) {
        self.send_raw(&frame(body));
    }

    pub fn notify(&mut self, method: &str, params: Value) {
        let message = json!({ "jsonrpc": "2.0", "method": method, "params": params });
        self.send_body(message.to_string().as_bytes());
    }

    /// Sends a request and waits for its response (result or error).
    pub fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = json!(self.next_id);
        let message = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        self.send_body(message.to_string().as_bytes());
        self.wait_for(&format!("the response to {method}"), |m| {
            m["id"] == id && m.get("method").is_none()
        })
    }

    pub fn initialize(&mut self) {
        let answer = self.request("initialize", json!({ "capabilities": {} }));
        assert_eq!(answer["result"]["capabilities"]["hoverProvider"], true);
        self.notify("initialized", json!({}));
    }

    /// The first message `wanted` accepts, received already or to come; it is
    /// taken out of `received`.
    pub fn wait_for(&mut self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.received.iter().position(&wanted) {
            return self.received.remove(i);
        }
        loop {
            let message = self
                .messages
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|e| {
                    panic!("waited for {what}: {e}; received {:#?}", self.received)
                });
            if wanted(&message) {
                return message;
            }
            self.received.push(message);
        }
    }

    /// The `window/logMessage` texts received so far, taken out of `received`.
    pub fn take_logs(&mut self) -> Vec<String> {
        let (logs, others) = std::mem::take(&mut self.received)
            .into_iter()
            .partition(|m| m["method"] == "window/logMessage");
        self.received = others;
        logs.iter()
            .map(|m| m["params"]["message"].as_str().unwrap_or("").to_string())
            .collect()
    }

    /// Closes the server's input and waits for it to end.
    pub fn hang_up(mut self) -> Ended {
        self.input = None;
        let ended = match self.server.take().expect("a server") {
            Server::Thread(thread) => Ended::Served(thread.join().expect("no panic")),
            Server::Process(mut child) => Ended::Exited(child.wait().expect("it ends").code()),
        };
        let _ = std::fs::remove_dir_all(&self.scratch);
        ended
    }

    /// `shutdown` (unless `polite` is false), `exit`, then waits for the end.
    pub fn exit(mut self, polite: bool) -> Ended {
        if polite {
            let answer = self.request("shutdown", Value::Null);
            assert_eq!(answer["result"], Value::Null, "{answer}");
        }
        self.notify("exit", Value::Null);
        self.hang_up()
    }
}

impl Drop for Wire {
    fn drop(&mut self) {
        self.input = None;
        if let Some(Server::Process(child)) = &mut self.server {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    out.extend_from_slice(body);
    out
}

/// One framed JSON message; `None` when the stream ends.
fn read_message(input: &mut impl BufRead) -> Option<Value> {
    let mut length = None;
    loop {
        let mut line = String::new();
        if input.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(value) = line.strip_prefix("Content-Length: ") {
            length = value.parse::<usize>().ok();
        }
    }
    let mut body = vec![0; length.expect("the server frames its messages")];
    input.read_exact(&mut body).ok()?;
    Some(serde_json::from_slice(&body).expect("the server writes JSON"))
}
