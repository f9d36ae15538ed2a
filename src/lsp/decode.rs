//! One message's bytes to a JSON-RPC [`Message`], or the reason it is none.
//!
//! `lsp-server` reads a message with one `serde_json::from_str` into its
//! `Message` and gives up on the whole connection when that fails. Editors
//! do send what it refuses: a lone UTF-16 surrogate (`"\ud800"`, half of an
//! emoji cut by an edit) is valid for JavaScript's `JSON.stringify` but not
//! for `serde_json`. Here each message stands alone:
//!
//! - lone surrogate escapes become `\ufffd` (U+FFFD, the replacement
//!   character) before parsing, so the edit is kept with one character
//!   replaced ([`replace_lone_surrogates`]);
//! - bytes that are not UTF-8 become U+FFFD the same way;
//! - what still does not parse, or parses to something that is not a
//!   request, a notification or a response, is a [`Rejection`]: the error to
//!   answer (when an answer is possible) and to log.

use lsp_server::{ErrorCode, Message, Notification, Request, RequestId, Response};
use serde_json::{Map, Value};

/// Why a message was not delivered, and how to answer it.
#[derive(Debug)]
pub struct Rejection {
    pub code: ErrorCode,
    pub message: String,
    /// The id to answer with (`null` when it could not be read), or `None`
    /// when the message must not be answered: it was a notification or a
    /// response.
    pub reply_to: Option<Value>,
}

impl Rejection {
    pub fn parse_error(message: String) -> Rejection {
        Rejection {
            code: ErrorCode::ParseError,
            message,
            reply_to: Some(Value::Null),
        }
    }

    fn invalid(message: impl Into<String>, reply_to: Option<Value>) -> Rejection {
        Rejection {
            code: ErrorCode::InvalidRequest,
            message: message.into(),
            reply_to,
        }
    }
}

/// A message's body (its JSON) to a message. Lone surrogates must have been
/// replaced already.
pub fn decode(body: &[u8]) -> Result<Message, Rejection> {
    let text = String::from_utf8_lossy(body);
    let value: Value = serde_json::from_str(&text)
        .map_err(|e| Rejection::parse_error(format!("the message is not JSON: {e}")))?;
    match value {
        Value::Object(fields) => classify(fields),
        other => Err(Rejection::invalid(
            format!("a JSON-RPC message is an object, not {}", kind(&other)),
            Some(Value::Null),
        )),
    }
}

/// A request has a `method` and an `id`, a notification a `method` only,
/// a response an `id` and a `result` or an `error`.
fn classify(mut fields: Map<String, Value>) -> Result<Message, Rejection> {
    let id = fields.remove("id");
    let params = fields.remove("params").unwrap_or(Value::Null);
    match (fields.remove("method"), id) {
        (Some(Value::String(method)), None) => Ok(Notification { method, params }.into()),
        (Some(Value::String(method)), Some(id)) => {
            let id = request_id(&id).ok_or_else(|| {
                Rejection::invalid(
                    "a request's id is an integer or a string",
                    Some(echo_id(id)),
                )
            })?;
            Ok(Request { id, method, params }.into())
        }
        (Some(method), id) => Err(Rejection::invalid(
            format!("`method` must be a string, not {}", kind(&method)),
            id.map(echo_id),
        )),
        (None, Some(id)) if fields.contains_key("result") || fields.contains_key("error") => {
            response(id, fields)
        }
        (None, id) => Err(Rejection::invalid(
            "the message has no `method`: it is neither a request nor a notification",
            Some(id.map_or(Value::Null, echo_id)),
        )),
    }
}

/// The client answering a request of the server's. Never answered back.
fn response(id: Value, mut fields: Map<String, Value>) -> Result<Message, Rejection> {
    fields.insert("id".to_string(), id);
    serde_json::from_value::<Response>(Value::Object(fields))
        .map(Message::from)
        .map_err(|e| Rejection::invalid(format!("unreadable response: {e}"), None))
}

/// `lsp-server` keeps ids as `i32` or strings; other ids are refused (and
/// echoed as sent in the refusal).
fn request_id(id: &Value) -> Option<RequestId> {
    match id {
        Value::Number(n) => Some(RequestId::from(i32::try_from(n.as_i64()?).ok()?)),
        Value::String(s) => Some(RequestId::from(s.clone())),
        _ => None,
    }
}

/// The id to answer a refused request with: its own if it is a number or a
/// string, else `null`, as JSON-RPC asks.
fn echo_id(id: Value) -> Value {
    match id {
        Value::Number(_) | Value::String(_) => id,
        _ => Value::Null,
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array (LSP has no batches)",
        Value::Object(_) => "an object",
    }
}

/// Rewrites each `\uXXXX` escape of a lone UTF-16 surrogate (one not part of
/// a high-low pair) to `\ufffd`, in place: same length, and only inside
/// escapes, whose bytes are ASCII and never part of a multi-byte UTF-8
/// character. Returns how many were replaced.
pub fn replace_lone_surrogates(body: &mut [u8]) -> usize {
    let mut replaced = 0;
    let mut i = 0;
    while i < body.len() {
        if body[i] != b'\\' {
            i += 1;
            continue;
        }
        let Some(unit) = escaped_unit(body, i) else {
            i += 2; // `\"`, `\\`, `\n`, ...: skip the escaped character.
            continue;
        };
        let paired = is_high(unit) && escaped_unit(body, i + 6).is_some_and(is_low);
        if paired {
            i += 12;
        } else if is_high(unit) || is_low(unit) {
            body[i + 2..i + 6].copy_from_slice(b"fffd");
            replaced += 1;
            i += 6;
        } else {
            i += 6;
        }
    }
    replaced
}

/// The code unit of a `\uXXXX` escape starting at `at`.
fn escaped_unit(body: &[u8], at: usize) -> Option<u16> {
    let escape = body.get(at..at + 6)?;
    if escape[0] != b'\\' || escape[1] != b'u' {
        return None;
    }
    let hex = std::str::from_utf8(&escape[2..]).ok()?;
    u16::from_str_radix(hex, 16).ok()
}

fn is_high(unit: u16) -> bool {
    (0xD800..0xDC00).contains(&unit)
}

fn is_low(unit: u16) -> bool {
    (0xDC00..0xE000).contains(&unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repaired(text: &str) -> (String, usize) {
        let mut bytes = text.as_bytes().to_vec();
        let n = replace_lone_surrogates(&mut bytes);
        (String::from_utf8(bytes).expect("still UTF-8"), n)
    }

    #[test]
    fn lone_surrogates_are_replaced_and_pairs_kept() {
        assert_eq!(repaired(r#""\ud800""#), (r#""\ufffd""#.to_string(), 1));
        assert_eq!(repaired(r#""a\uDC00b""#), (r#""a\ufffdb""#.to_string(), 1));
        assert_eq!(
            repaired(r#""\ud83d\ude00""#),
            (r#""\ud83d\ude00""#.to_string(), 0)
        );
        assert_eq!(
            repaired(r#""\ud800\ud83d\ude00\udc00""#),
            (r#""\ufffd\ud83d\ude00\ufffd""#.to_string(), 2)
        );
        // An escaped backslash followed by `ud800` is no escape.
        assert_eq!(
            repaired(r#""\\ud800 é""#),
            (r#""\\ud800 é""#.to_string(), 0)
        );
        // Cut short at the end: left for the parser to refuse.
        assert_eq!(repaired(r#""\ud8"#), (r#""\ud8"#.to_string(), 0));
        assert_eq!(repaired("\\"), ("\\".to_string(), 0));
    }

    #[test]
    fn each_kind_of_message_is_told_apart() {
        let decoded = |text: &str| decode(text.as_bytes());
        assert!(matches!(
            decoded(r#"{"jsonrpc":"2.0","id":1,"method":"m"}"#),
            Ok(Message::Request(_))
        ));
        assert!(matches!(
            decoded(r#"{"jsonrpc":"2.0","method":"m","params":{}}"#),
            Ok(Message::Notification(_))
        ));
        assert!(matches!(
            decoded(r#"{"jsonrpc":"2.0","id":"a","result":null}"#),
            Ok(Message::Response(_))
        ));
        let refused = |text: &str| decoded(text).expect_err(text);
        let e = refused(r#"{"jsonrpc":"#);
        assert_eq!((e.code as i32, e.reply_to), (-32700, Some(Value::Null)));
        let e = refused("[1, 2]");
        assert_eq!((e.code as i32, e.reply_to), (-32600, Some(Value::Null)));
        let e = refused(r#"{"id": 7}"#);
        assert_eq!(e.reply_to, Some(Value::from(7)));
        let e = refused(r#"{"id": 4294967296, "method": "m"}"#);
        assert_eq!(e.reply_to, Some(Value::from(4294967296u64)));
        let e = refused(r#"{"id": [1], "method": "m"}"#);
        assert_eq!(e.reply_to, Some(Value::Null));
        let e = refused(r#"{"method": 5}"#);
        assert_eq!((e.code as i32, e.reply_to), (-32600, None));
        assert_eq!(refused(r#"{"id": 3, "error": 5}"#).reply_to, None);
    }
}
