//! `dlpc lsp` never dies of a message. A corpus of malformed and odd
//! messages (bad framing, bad JSON, JSON that is no JSON-RPC message, wrong
//! params, lone surrogates, positions past the end, documents that are not
//! open, `\r` line endings, panics) goes to the server as raw bytes, one at
//! a time; after each, the server must have answered or logged it as the
//! book says, and must still answer a hover correctly.
//!
//! The corpus runs twice: in-process (`serve_stream` over pipes, with the
//! test hooks that panic on demand), and against the `dlpc lsp` binary on
//! its stdin and stdout. The lifecycle's exit codes are checked on both.

#[path = "lsp/wire.rs"]
mod wire;

use serde_json::{json, Value};
use wire::{frame, Ended, Wire};

const DIGITS: &str = include_str!("lsp/digits.dlp");
const DIGITS_URI: &str = "file:///dlp-lsp-robust/digits.dlp";
const HOVER_AT: &str = "h = dropout(";
const HOVER_TEXT: &str = "```dlp\nh: f32[B, hidden]\n```";

/// What the server must do with a case's bytes.
enum Expect {
    /// An error response with this code, to this id.
    Error(i64, Value),
    /// A `window/logMessage` with this text in it.
    Log(&'static str),
    /// Diagnostics published for this version of `DIGITS_URI`.
    Published(i64),
    /// A response (not an error) to this id.
    Answer(i64),
    /// Nothing in particular.
    Nothing,
}

struct Case {
    name: &'static str,
    bytes: Vec<u8>,
    expect: Expect,
    /// Needs `Options::test_hooks`: in-process only.
    hooks: bool,
}

/// An error response with `code`, to `id`.
fn error(code: i64, id: impl Into<Value>) -> Expect {
    Expect::Error(code, id.into())
}

fn case(name: &'static str, body: impl AsRef<[u8]>, expect: Expect) -> Case {
    Case {
        name,
        bytes: frame(body.as_ref()),
        expect,
        hooks: false,
    }
}

fn unframed(name: &'static str, bytes: &[u8], expect: Expect) -> Case {
    Case {
        name,
        bytes: bytes.to_vec(),
        expect,
        hooks: false,
    }
}

fn hooked(mut case: Case) -> Case {
    case.hooks = true;
    case
}

fn digits_change(version: i64, changes: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","method":"textDocument/didChange","params":{{"textDocument":{{"uri":"{DIGITS_URI}","version":{version}}},"contentChanges":{changes}}}}}"#
    )
}

fn hover_request(id: Value, params: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"textDocument/hover","params":{params}}}"#)
}

const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;
const INTERNAL_ERROR: i64 = -32603;

/// Ids of the corpus' own requests start at 1000, away from the wire's.
fn corpus() -> Vec<Case> {
    let null = Value::Null;
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let cr_doc = json!({
        "jsonrpc": "2.0", "method": "textDocument/didOpen",
        "params": { "textDocument": {
            "uri": "file:///dlp-lsp-robust/cr.dlp", "languageId": "dlp", "version": 1,
            "text": DIGITS.replace('\n', "\r"),
        } }
    });
    vec![
        // Framing.
        unframed(
            "a header without Content-Length",
            b"Content-Type: application/json\r\n\r\n",
            error(PARSE_ERROR, null.clone()),
        ),
        unframed(
            "a Content-Length that is no number",
            b"Content-Length: lots\r\n\r\n",
            error(PARSE_ERROR, null.clone()),
        ),
        unframed(
            "a Content-Length of 99999999999999",
            b"Content-Length: 99999999999999\r\n\r\n",
            error(PARSE_ERROR, null.clone()),
        ),
        unframed(
            "a line of garbage",
            b"hello there\r\n\r\n",
            error(PARSE_ERROR, null.clone()),
        ),
        unframed(
            "headers ended by \\n alone",
            b"Content-Length: 2\n\n{}",
            error(INVALID_REQUEST, null.clone()),
        ),
        unframed(
            "a Content-Length shorter than the body",
            b"Content-Length: 10\r\n\r\n{\"jsonrpc\":\"2.0\",\"method\":\"initialized\"}",
            error(PARSE_ERROR, null.clone()),
        ),
        // Not JSON.
        case(
            "bad JSON",
            r#"{"jsonrpc": "2.0", "id": 1000, "method": }"#,
            error(PARSE_ERROR, null.clone()),
        ),
        case(
            "truncated JSON",
            r#"{"jsonrpc":"2.0","id":1001,"method":"textDocument/hover","params":{"textDocument":{"uri":"#,
            error(PARSE_ERROR, null.clone()),
        ),
        case("an empty body", "", error(PARSE_ERROR, null.clone())),
        case(
            "bytes that are not UTF-8",
            b"{\xff\xfe}",
            error(PARSE_ERROR, null.clone()),
        ),
        case(
            "JSON nested 100,000 deep",
            deep,
            error(PARSE_ERROR, null.clone()),
        ),
        case(
            "a trailing comma",
            r#"{"jsonrpc":"2.0","method":"initialized",}"#,
            error(PARSE_ERROR, null.clone()),
        ),
        // JSON, but no JSON-RPC message.
        case(
            "a JSON array (a batch)",
            r#"[{"jsonrpc":"2.0","id":1002,"method":"shutdown"}]"#,
            error(INVALID_REQUEST, null.clone()),
        ),
        case("an empty array", "[]", error(INVALID_REQUEST, null.clone())),
        case("a number", "42", error(INVALID_REQUEST, null.clone())),
        case(
            "a string",
            r#""textDocument/hover""#,
            error(INVALID_REQUEST, null.clone()),
        ),
        case("null", "null", error(INVALID_REQUEST, null.clone())),
        case(
            "an empty object",
            "{}",
            error(INVALID_REQUEST, null.clone()),
        ),
        case(
            "an object with an id and no method",
            r#"{"jsonrpc":"2.0","id":1003,"params":{}}"#,
            error(INVALID_REQUEST, 1003),
        ),
        case(
            "a request whose method is a number",
            r#"{"jsonrpc":"2.0","id":1004,"method":42}"#,
            error(INVALID_REQUEST, 1004),
        ),
        case(
            "a notification whose method is an array",
            r#"{"jsonrpc":"2.0","method":["x"]}"#,
            Expect::Log("`method` must be a string"),
        ),
        case(
            "a request id that is a float",
            hover_request(json!(1.5), "{}"),
            error(INVALID_REQUEST, 1.5),
        ),
        case(
            "a request id that is an object",
            hover_request(json!({"n": 1}), "{}"),
            error(INVALID_REQUEST, null.clone()),
        ),
        case(
            "a request id of null",
            hover_request(Value::Null, "{}"),
            error(INVALID_REQUEST, null.clone()),
        ),
        case(
            "a shutdown whose id is too big for i32",
            r#"{"jsonrpc":"2.0","id":8589934592,"method":"shutdown"}"#,
            error(INVALID_REQUEST, 8589934592u64),
        ),
        case(
            "a response from the client",
            r#"{"jsonrpc":"2.0","id":77,"result":{}}"#,
            Expect::Nothing,
        ),
        case(
            "a response whose error is a number",
            r#"{"jsonrpc":"2.0","id":78,"error":5}"#,
            Expect::Log("unreadable response"),
        ),
        // Unknown methods and lifecycle.
        case(
            "an unknown request",
            r#"{"jsonrpc":"2.0","id":1005,"method":"dlp/nothing"}"#,
            error(METHOD_NOT_FOUND, 1005),
        ),
        case(
            "an unknown notification",
            r#"{"jsonrpc":"2.0","method":"dlp/nothing","params":[1]}"#,
            Expect::Nothing,
        ),
        case(
            "$/cancelRequest",
            r#"{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":999}}"#,
            Expect::Nothing,
        ),
        case(
            "a second initialize",
            r#"{"jsonrpc":"2.0","id":1006,"method":"initialize","params":{"capabilities":{}}}"#,
            error(INVALID_REQUEST, 1006),
        ),
        // Wrong param types.
        case(
            "hover params of the wrong types",
            hover_request(json!(1007), r#"{"textDocument":5,"position":"top"}"#),
            error(INVALID_PARAMS, 1007),
        ),
        case(
            "hover params that are an array",
            hover_request(json!(1008), "[1,2]"),
            error(INVALID_PARAMS, 1008),
        ),
        case(
            "hover params that are a string",
            hover_request(json!(1009), r#""here""#),
            error(INVALID_PARAMS, 1009),
        ),
        case(
            "hover without params",
            r#"{"jsonrpc":"2.0","id":1010,"method":"textDocument/hover"}"#,
            error(INVALID_PARAMS, 1010),
        ),
        case(
            "a negative position",
            hover_request(
                json!(1011),
                &format!(
                    r#"{{"textDocument":{{"uri":"{DIGITS_URI}"}},"position":{{"line":-1,"character":0}}}}"#
                ),
            ),
            error(INVALID_PARAMS, 1011),
        ),
        case(
            "didChange params of the wrong types",
            format!(
                r#"{{"jsonrpc":"2.0","method":"textDocument/didChange","params":{{"textDocument":{{"uri":"{DIGITS_URI}","version":"two"}},"contentChanges":5}}}}"#
            ),
            Expect::Log("params are unusable"),
        ),
        case(
            "didOpen params that are a number",
            r#"{"jsonrpc":"2.0","method":"textDocument/didOpen","params":5}"#,
            Expect::Log("params are unusable"),
        ),
        // Text: lone surrogates, positions past the end, odd ranges.
        case(
            "lone surrogates in a change",
            digits_change(
                2,
                r#"[{"range":{"start":{"line":999,"character":0},"end":{"line":999,"character":0}},"text":"\n// \ud800 \udc00 \ud800\ud800 \ud83d\ude00 \udbff\n"}]"#,
            ),
            Expect::Log("lone UTF-16 surrogate"),
        ),
        case(
            "a change that ends with a lone surrogate",
            digits_change(
                3,
                r#"[{"range":{"start":{"line":999,"character":0},"end":{"line":999,"character":0}},"text":"// end\ud800"}]"#,
            ),
            Expect::Published(3),
        ),
        case(
            "a change past the end of a line",
            digits_change(
                4,
                r#"[{"range":{"start":{"line":3,"character":99999},"end":{"line":3,"character":99999}},"text":" // tail"}]"#,
            ),
            Expect::Published(4),
        ),
        case(
            "a change at huge line numbers",
            digits_change(
                5,
                r#"[{"range":{"start":{"line":4294967295,"character":4294967295},"end":{"line":4294967295,"character":4294967295}},"text":"\n// huge\n"}]"#,
            ),
            Expect::Published(5),
        ),
        case(
            "a change whose range ends before it starts",
            digits_change(
                6,
                r#"[{"range":{"start":{"line":3,"character":24},"end":{"line":3,"character":20}},"text":"racy"}]"#,
            ),
            Expect::Published(6),
        ),
        case(
            "a change inside a surrogate pair",
            digits_change(
                7,
                r#"[{"range":{"start":{"line":0,"character":2},"end":{"line":0,"character":2}},"text":" \ud83d\ude00!"},{"range":{"start":{"line":0,"character":4},"end":{"line":0,"character":5}},"text":"x"}]"#,
            ),
            Expect::Published(7),
        ),
        case(
            "a change with an empty change list",
            digits_change(8, "[]"),
            Expect::Published(8),
        ),
        case(
            "a change to a document that is not open",
            r#"{"jsonrpc":"2.0","method":"textDocument/didChange","params":{"textDocument":{"uri":"file:///nowhere.dlp","version":2},"contentChanges":[{"text":"x"}]}}"#,
            Expect::Log("it is not open"),
        ),
        case(
            "closing a document that is not open",
            r#"{"jsonrpc":"2.0","method":"textDocument/didClose","params":{"textDocument":{"uri":"file:///nowhere.dlp"}}}"#,
            Expect::Nothing,
        ),
        case(
            "a hover on a document that is not open",
            hover_request(
                json!(1012),
                r#"{"textDocument":{"uri":"file:///nowhere.dlp"},"position":{"line":0,"character":0}}"#,
            ),
            Expect::Answer(1012),
        ),
        case(
            "a hover at huge positions",
            hover_request(
                json!(1013),
                &format!(
                    r#"{{"textDocument":{{"uri":"{DIGITS_URI}"}},"position":{{"line":4294967295,"character":4294967295}}}}"#
                ),
            ),
            Expect::Answer(1013),
        ),
        case(
            "a lone surrogate in a request's uri (U+FFFD: no valid URI)",
            hover_request(
                json!(1014),
                r#"{"textDocument":{"uri":"file:///x\udfff.dlp"},"position":{"line":0,"character":0}}"#,
            ),
            error(INVALID_PARAMS, 1014),
        ),
        case("a \\r-only document", cr_doc.to_string(), Expect::Nothing),
        // Panics.
        hooked(case(
            "a request that panics",
            r#"{"jsonrpc":"2.0","id":1015,"method":"dlp/panic"}"#,
            error(INTERNAL_ERROR, 1015),
        )),
        hooked(case(
            "a notification that panics",
            r#"{"jsonrpc":"2.0","method":"dlp/panic"}"#,
            Expect::Log("internal error while handling `dlp/panic`"),
        )),
    ]
}

/// Line and UTF-16 column right after the first `before` in `text`.
fn after(text: &str, before: &str) -> Value {
    let at = text.find(before).expect("the text has it") + before.len();
    let line = text[..at].matches('\n').count();
    let line_start = text[..at].rfind('\n').map_or(0, |n| n + 1);
    let character = text[line_start..at].encode_utf16().count();
    json!({ "line": line, "character": character })
}

fn open_digits(wire: &mut Wire) {
    wire.notify(
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": DIGITS_URI, "languageId": "dlp", "version": 1, "text": DIGITS } }),
    );
    wait_published(wire, DIGITS_URI, 1);
}

fn wait_published(wire: &mut Wire, uri: &str, version: i64) -> Value {
    wire.wait_for(&format!("diagnostics of {uri} v{version}"), |m| {
        m["method"] == "textDocument/publishDiagnostics"
            && m["params"]["uri"] == uri
            && m["params"]["version"] == version
    })
}

fn hover(wire: &mut Wire, uri: &str, position: Value) -> Value {
    let params = json!({ "textDocument": { "uri": uri }, "position": position });
    wire.request("textDocument/hover", params)
}

fn assert_hover_works(wire: &mut Wire, after_case: &str) {
    let answer = hover(wire, DIGITS_URI, after(DIGITS, HOVER_AT));
    assert_eq!(
        answer["result"]["contents"]["value"], HOVER_TEXT,
        "the hover after {after_case}: {answer}"
    );
}

fn check(wire: &mut Wire, case: &Case) {
    let name = case.name;
    match &case.expect {
        Expect::Error(code, id) => {
            let answer = wire.wait_for(&format!("the error for {name}"), |m| {
                m.get("error").is_some() && m["id"] == *id
            });
            assert_eq!(answer["error"]["code"], *code, "{name}: {answer}");
        }
        Expect::Log(text) => {
            wire.wait_for(&format!("the log of {name}"), |m| {
                m["method"] == "window/logMessage"
                    && m["params"]["message"]
                        .as_str()
                        .is_some_and(|s| s.contains(text))
            });
        }
        Expect::Published(version) => {
            wait_published(wire, DIGITS_URI, *version);
        }
        Expect::Answer(id) => {
            let answer = wire.wait_for(&format!("the answer to {name}"), |m| m["id"] == *id);
            assert!(answer.get("error").is_none(), "{name}: {answer}");
        }
        Expect::Nothing => {}
    }
}

fn run_corpus(wire: &mut Wire, hooks: bool) {
    wire.initialize();
    open_digits(wire);
    assert_hover_works(wire, "opening the document");
    for case in corpus().iter().filter(|c| hooks || !c.hooks) {
        wire.send_raw(&case.bytes);
        check(wire, case);
        assert_hover_works(wire, case.name);
    }
}

#[test]
fn in_process_the_server_survives_every_malformed_message() {
    let mut wire = Wire::in_process();
    run_corpus(&mut wire, true);
    assert_eq!(wire.exit(true), Ended::Served(Ok(())));
}

#[test]
fn the_binary_survives_every_malformed_message_on_stdio() {
    let mut wire = Wire::process();
    run_corpus(&mut wire, false);
    assert_eq!(wire.exit(true), Ended::Exited(Some(0)));
}

/// Formatting shows the text the server keeps: lone surrogates are U+FFFD.
#[test]
fn lone_surrogates_are_kept_as_replacement_characters() {
    let mut wire = Wire::in_process();
    wire.initialize();
    let uri = "file:///dlp-lsp-robust/surrogates.dlp";
    let open = format!(
        r#"{{"jsonrpc":"2.0","method":"textDocument/didOpen","params":{{"textDocument":{{"uri":"{uri}","languageId":"dlp","version":1,"text":"// a\ud800b\udc00c\ud83d\ude00\nmodel   M() {{ input x: f32[B, 4]\n output y = x }}\n"}}}}}}"#
    );
    wire.send_body(open.as_bytes());
    wait_published(&mut wire, uri, 1);
    let answer = wire.request(
        "textDocument/formatting",
        json!({ "textDocument": { "uri": uri }, "options": { "tabSize": 4, "insertSpaces": true } }),
    );
    let text = answer["result"][0]["newText"].as_str().expect("an edit");
    assert!(text.starts_with("// a\u{FFFD}b\u{FFFD}c😀\n"), "{text}");
    let logs = wire.take_logs();
    assert!(
        logs.iter()
            .any(|l| l.contains("2 lone UTF-16 surrogate(s) in `textDocument/didOpen`")),
        "{logs:?}"
    );
    assert_eq!(wire.exit(true), Ended::Served(Ok(())));
}

/// LSP 3.17 counts `\n`, `\r\n` and `\r` each as one line ending: hovers
/// and diagnostics are at the same positions whatever the file uses.
#[test]
fn every_kind_of_line_ending_gives_the_same_positions() {
    let mut wire = Wire::in_process();
    wire.initialize();
    // A comment (which runs to the end of its line), then an error below it.
    let broken = DIGITS.replace("cross_entropy(logits", "cross_entrpy(logits");
    let mut answers = Vec::new();
    for (name, ending) in [("lf", "\n"), ("crlf", "\r\n"), ("cr", "\r")] {
        let uri = format!("file:///dlp-lsp-robust/{name}.dlp");
        let text = broken.replace('\n', ending);
        wire.notify(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": uri, "languageId": "dlp", "version": 1, "text": text } }),
        );
        let published = wait_published(&mut wire, &uri, 1);
        let diagnostics = published["params"]["diagnostics"].clone();
        let on_h = hover(&mut wire, &uri, after(&broken, HOVER_AT));
        let on_logits = hover(&mut wire, &uri, after(&broken, "cross_entrpy(lo"));
        answers.push((
            name,
            diagnostics,
            on_h["result"].clone(),
            on_logits["result"].clone(),
        ));
    }
    let (_, diagnostics, on_h, on_logits) = &answers[0];
    assert_eq!(
        diagnostics.as_array().map(Vec::len),
        Some(1),
        "{diagnostics}"
    );
    let misspelled = after(&broken, "loss      = ");
    assert_eq!(diagnostics[0]["range"]["start"], misspelled);
    assert_eq!(on_h["contents"]["value"], HOVER_TEXT);
    assert!(on_logits["range"].is_object(), "{on_logits}");
    for (name, d, h, l) in &answers[1..] {
        assert_eq!(d, diagnostics, "diagnostics with {name} line endings");
        assert_eq!(h, on_h, "hover with {name} line endings");
        assert_eq!(l, on_logits, "hover with {name} line endings");
    }
    assert_eq!(wire.exit(true), Ended::Served(Ok(())));
}

#[test]
fn the_binary_exits_with_0_after_shutdown_and_1_without() {
    let mut wire = Wire::process();
    wire.initialize();
    assert_eq!(wire.exit(true), Ended::Exited(Some(0)));

    let mut wire = Wire::process();
    wire.initialize();
    assert_eq!(wire.exit(false), Ended::Exited(Some(1)));

    // A client that hangs up without a word.
    let mut wire = Wire::process();
    wire.initialize();
    assert_eq!(wire.hang_up(), Ended::Exited(Some(1)));

    // Even before `initialize`.
    let wire = Wire::process();
    assert_eq!(wire.exit(false), Ended::Exited(Some(1)));
}

#[test]
fn the_lifecycle_answers_out_of_turn_requests_and_goes_on() {
    let mut wire = Wire::in_process();
    let early = wire.request("textDocument/hover", json!({}));
    assert_eq!(early["error"]["code"], -32002, "{early}");
    wire.initialize();
    open_digits(&mut wire);
    assert_hover_works(&mut wire, "a request before initialize");
    let answer = wire.request("shutdown", Value::Null);
    assert_eq!(answer["result"], Value::Null);
    let late = hover(&mut wire, DIGITS_URI, after(DIGITS, HOVER_AT));
    assert_eq!(late["error"]["code"], INVALID_REQUEST, "{late}");
    assert_eq!(wire.exit(false), Ended::Served(Ok(())));

    let mut wire = Wire::in_process();
    wire.initialize();
    let ended = wire.exit(false);
    assert_eq!(
        ended,
        Ended::Served(Err("`exit` was sent before `shutdown`".to_string()))
    );
}
