//! The byte stream transport: LSP's `Content-Length` framing over any
//! reader and writer (stdin and stdout for `dlpc lsp`, pipes in tests).
//!
//! `lsp-server` 0.7's stdio transport ends its reader thread at the first
//! message it cannot parse (bad JSON, a lone surrogate, a header without
//! `Content-Length`), which closes the connection and ends the server. This
//! one never gives up on the stream: it only ends when the input does (or
//! after `exit`). Each message is framed and decoded alone ([`decode`]):
//!
//! - a good one goes to the server over the same channels as
//!   `Connection::memory()`, so the server does not know which transport it
//!   runs on;
//! - a bad one is answered here (a ParseError or InvalidRequest response,
//!   when it can be answered) and logged to the client with
//!   `window/logMessage`, and reading goes on with the next message.
//!
//! After a framing error (no `Content-Length`, a length that is no number)
//! the reader looks for the next `Content-Length` header, even in the middle
//! of a line, to find its footing again.

use super::decode::{self, Rejection};
use lsp_server::{Connection, Message, Notification};
use lsp_types::notification::{LogMessage, Notification as _};
use lsp_types::{LogMessageParams, MessageType};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Header lines are short; longer ones are read in pieces of this size.
const MAX_HEADER_LINE: u64 = 8 * 1024;
/// A message longer than this is refused without reading its body: its
/// length is more likely garbage than a program.
const MAX_BODY: usize = 256 * 1024 * 1024;

/// The writer thread; the reader thread is left to end with its input.
pub struct Transport {
    writer: JoinHandle<()>,
}

impl Transport {
    /// Waits until every message the server sent is written: call after
    /// dropping the server's `Connection`.
    pub fn finish(self) {
        let _ = self.writer.join();
    }
}

/// Starts reading framed messages from `input` and writing the server's to
/// `output`. The server gets the returned `Connection`.
pub fn start(
    input: impl Read + Send + 'static,
    output: impl Write + Send + 'static,
) -> (Connection, Transport) {
    let (server_side, transport_side) = Connection::memory();
    let output = Output(Arc::new(Mutex::new(Box::new(output))));
    let Connection {
        sender: to_server,
        receiver: from_server,
    } = transport_side;
    let reader_output = output.clone();
    std::thread::spawn(move || {
        let send = |message| to_server.send(message).is_ok();
        read_messages(BufReader::new(input), send, &reader_output);
    });
    let writer = std::thread::spawn(move || {
        for message in from_server {
            // A client that stopped reading: drain, so the server never blocks.
            let _ = output.message(&message);
        }
    });
    (server_side, Transport { writer })
}

/// Reads until the input ends, the server is gone (`send` is false), or
/// `exit` was passed on.
fn read_messages(mut input: impl BufRead, send: impl Fn(Message) -> bool, output: &Output) {
    loop {
        let body = match read_frame(&mut input) {
            Ok(Frame::Body(body)) => body,
            Ok(Frame::Malformed(why)) => {
                output.reject(&Rejection::parse_error(why), "");
                continue;
            }
            Ok(Frame::End) | Err(_) => return,
        };
        match deliver(body, output) {
            Some(message) => {
                let exit = matches!(&message, Message::Notification(n) if n.method == "exit");
                if !send(message) || exit {
                    return;
                }
            }
            None => continue,
        }
    }
}

/// The message in `body`, or `None` after answering and logging why not.
fn deliver(mut body: Vec<u8>, output: &Output) -> Option<Message> {
    let replaced = decode::replace_lone_surrogates(&mut body);
    match decode::decode(&body) {
        Ok(message) => {
            if replaced > 0 {
                output.log(
                    MessageType::WARNING,
                    &format!(
                        "{replaced} lone UTF-16 surrogate(s) in `{}` replaced with U+FFFD",
                        method(&message)
                    ),
                );
            }
            Some(message)
        }
        Err(rejection) => {
            output.reject(&rejection, &String::from_utf8_lossy(&body));
            None
        }
    }
}

fn method(message: &Message) -> &str {
    match message {
        Message::Request(r) => &r.method,
        Message::Notification(n) => &n.method,
        Message::Response(_) => "a response",
    }
}

enum Frame {
    Body(Vec<u8>),
    /// A header block that does not frame a message, and why.
    Malformed(String),
    End,
}

enum Header {
    Length(Result<usize, String>),
    /// The empty line that ends the header block.
    End,
    Other,
}

/// The next message's body. Lines may end with `\r\n` (as LSP says) or `\n`.
fn read_frame(input: &mut impl BufRead) -> io::Result<Frame> {
    let mut length = None;
    let mut lines = 0;
    loop {
        let Some(line) = read_header_line(input)? else {
            return Ok(Frame::End);
        };
        match header(&line) {
            Header::Length(parsed) => length = Some(parsed),
            // Blank lines between messages are nothing.
            Header::End if lines == 0 => continue,
            Header::End => break,
            Header::Other => {}
        }
        lines += 1;
    }
    match length {
        None => Ok(Frame::Malformed(
            "a header without `Content-Length`".to_string(),
        )),
        Some(Err(why)) => Ok(Frame::Malformed(why)),
        Some(Ok(length)) => read_body(input, length),
    }
}

fn read_body(input: &mut impl BufRead, length: usize) -> io::Result<Frame> {
    if length > MAX_BODY {
        return Ok(Frame::Malformed(format!(
            "a `Content-Length` of {length} bytes: over the {MAX_BODY} this server reads"
        )));
    }
    let mut body = Vec::new();
    input.take(length as u64).read_to_end(&mut body)?;
    if body.len() < length {
        return Ok(Frame::End);
    }
    Ok(Frame::Body(body))
}

/// One header line without its line ending; `None` at the end of the input.
fn read_header_line(input: &mut impl BufRead) -> io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    if input
        .by_ref()
        .take(MAX_HEADER_LINE)
        .read_until(b'\n', &mut line)?
        == 0
    {
        return Ok(None);
    }
    while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        line.pop();
    }
    Ok(Some(line))
}

/// `Content-Length` is found anywhere in the line: after a body longer than
/// its length said, the next header follows the leftover on the same line.
fn header(line: &[u8]) -> Header {
    if line.is_empty() {
        return Header::End;
    }
    const NAME: &[u8] = b"content-length:";
    let found = line
        .windows(NAME.len())
        .position(|w| w.eq_ignore_ascii_case(NAME));
    let Some(at) = found else {
        return Header::Other;
    };
    let value = String::from_utf8_lossy(&line[at + NAME.len()..]);
    Header::Length(
        value
            .trim()
            .parse()
            .map_err(|_| format!("a `Content-Length` that is no length: {:?}", value.trim())),
    )
}

/// Where messages are written, shared by the writer thread (the server's
/// messages) and the reader thread (its answers to malformed ones). One
/// message is written at a time.
#[derive(Clone)]
struct Output(Arc<Mutex<Box<dyn Write + Send>>>);

impl Output {
    fn message(&self, message: &Message) -> io::Result<()> {
        let mut out = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        message.write(&mut *out)
    }

    /// Answers a rejected message (when it can be answered) and logs it.
    fn reject(&self, rejection: &Rejection, body: &str) {
        if let Some(id) = &rejection.reply_to {
            let error = serde_json::json!({
                "jsonrpc": "2.0",
                "id": id,
                "error": { "code": rejection.code as i32, "message": rejection.message },
            });
            let _ = self.raw(&error.to_string());
        }
        let shown: String = body.chars().take(200).collect();
        let cut = if shown.len() < body.len() { "..." } else { "" };
        self.log(
            MessageType::ERROR,
            &format!(
                "ignored a malformed message: {}: {shown:?}{cut}",
                rejection.message
            ),
        );
    }

    fn log(&self, typ: MessageType, message: &str) {
        let params = LogMessageParams {
            typ,
            message: format!("dlpc lsp: {message}"),
        };
        let _ = self.message(&Notification::new(LogMessage::METHOD.to_string(), params).into());
    }

    fn raw(&self, json: &str) -> io::Result<()> {
        let mut out = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        write!(out, "Content-Length: {}\r\n\r\n{json}", json.len())?;
        out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(input: &[u8]) -> Vec<String> {
        let mut input = input;
        let mut out = Vec::new();
        loop {
            match read_frame(&mut input).expect("reads") {
                Frame::Body(b) => out.push(String::from_utf8(b).expect("UTF-8")),
                Frame::Malformed(why) => out.push(format!("malformed: {why}")),
                Frame::End => return out,
            }
        }
    }

    #[test]
    fn framing_finds_its_footing_after_garbage() {
        let input = b"Content-Length: 2\r\n\r\n{}\
            \r\n\
            Content-Length: 2\n\n[]\
            garbage\r\n\r\n\
            Content-Length: x\r\n\r\n\
            Content-Length: 1\r\n\r\n{}Content-Length: 4\r\n\r\nnull\
            Content-Length: 99999999999\r\n\r\n\
            Content-Length: 10\r\n\r\ncut";
        assert_eq!(
            frames(input),
            [
                "{}",
                "[]",
                "malformed: a header without `Content-Length`",
                "malformed: a `Content-Length` that is no length: \"x\"",
                "{",
                "null",
                "malformed: a `Content-Length` of 99999999999 bytes: over the 268435456 this server reads",
            ]
        );
    }
}
