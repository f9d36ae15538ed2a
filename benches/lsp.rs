//! Latency of `dlpc lsp` as an editor sees it: the real server, in-process
//! over `Connection::memory()`, JSON and all. For each file given:
//! - diagnostics: a change sent → its diagnostics received (a full re-check);
//! - hover and completion on the analysis already made (the usual case: the
//!   editor asks after diagnostics came back);
//! - a change, its diagnostics, then a hover: what a user waits for when
//!   hovering right after typing.
//!
//! Prints medians (and min/max) of N runs. `bash bench/lsp.sh` runs it on
//! the examples and on a generated 2,000-line program.

#[allow(dead_code)]
#[path = "../tests/lsp/client.rs"]
mod client;

use client::Client;
use lsp_types::request::{Completion, HoverRequest};
use lsp_types::*;
use std::time::{Duration, Instant};

const RUNS: usize = 31;

fn main() {
    let files: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("the file reads");
        bench_file(&file, &text);
    }
}

/// The last `h = ` line: a name in the last body, where hover and
/// completion cost the most if anything scales with the file.
fn probe_position(text: &str) -> Position {
    let (line, col) = text
        .lines()
        .enumerate()
        .filter_map(|(i, l)| l.find("h = ").map(|c| (i, c)))
        .last()
        .expect("the file has an `h = ` line");
    Position::new(line as u32, col as u32 + 1)
}

fn bench_file(name: &str, text: &str) {
    let mut client = Client::start();
    let uri = client.open("bench.dlp", text);
    client.diagnostics(&uri, 1);
    let at = probe_position(text);
    let doc = TextDocumentPositionParams {
        text_document: TextDocumentIdentifier { uri: uri.clone() },
        position: at,
    };
    let hover = |client: &mut Client| {
        client
            .request::<HoverRequest>(HoverParams {
                text_document_position_params: doc.clone(),
                work_done_progress_params: Default::default(),
            })
            .expect("hover answers")
            .expect("a hover");
    };
    let complete = |client: &mut Client| {
        client
            .request::<Completion>(CompletionParams {
                text_document_position: doc.clone(),
                work_done_progress_params: Default::default(),
                partial_result_params: Default::default(),
                context: None,
            })
            .expect("completion answers")
            .expect("completions");
    };
    let mut version = 1;
    let mut change = |client: &mut Client| {
        version += 1;
        // Alternate a trailing comment so each change is a real edit.
        let edited = if version % 2 == 0 {
            format!("{text}// edit\n")
        } else {
            text.to_string()
        };
        client.notify(
            "textDocument/didChange",
            serde_json::json!({
                "textDocument": { "uri": uri.as_str(), "version": version },
                "contentChanges": [{ "text": edited }]
            }),
        );
        client.diagnostics(&uri, version);
    };
    println!("{name} ({} lines):", text.lines().count());
    report("diagnostics after a change", time(|| change(&mut client)));
    report("hover", time(|| hover(&mut client)));
    report("completion", time(|| complete(&mut client)));
    report(
        "change → diagnostics → hover",
        time(|| {
            change(&mut client);
            hover(&mut client)
        }),
    );
}

fn time(mut f: impl FnMut()) -> Vec<Duration> {
    f(); // warm up
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times
}

fn report(what: &str, times: Vec<Duration>) {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "  {what:45} median {:7.2} ms  (min {:.2}, max {:.2}, {} runs)",
        ms(times[times.len() / 2]),
        ms(times[0]),
        ms(times[times.len() - 1]),
        times.len()
    );
}
