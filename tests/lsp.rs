//! `dlpc lsp` in-process: a client talks to the server over
//! `Connection::memory()`; fixtures mark the cursor with `$0`.

#[path = "lsp/client.rs"]
mod client;

use client::{fixture, Client};
use lsp_types::request::*;
use lsp_types::*;

const DIGITS: &str = include_str!("lsp/digits.dlp");

/// The digits example with the cursor put after the first `before`.
fn digits_at(before: &str) -> (String, Position) {
    let at = DIGITS.find(before).expect("the example has the text") + before.len();
    fixture(&format!("{}$0{}", &DIGITS[..at], &DIGITS[at..]))
}

fn doc_pos(uri: &Uri, position: Position) -> TextDocumentPositionParams {
    TextDocumentPositionParams {
        text_document: TextDocumentIdentifier { uri: uri.clone() },
        position,
    }
}

fn hover(client: &mut Client, uri: &Uri, position: Position) -> Option<Hover> {
    client
        .request::<HoverRequest>(HoverParams {
            text_document_position_params: doc_pos(uri, position),
            work_done_progress_params: Default::default(),
        })
        .expect("hover answers")
}

fn markdown(h: &Hover) -> &str {
    match &h.contents {
        HoverContents::Markup(m) => &m.value,
        other => panic!("expected markdown, got {other:?}"),
    }
}

fn range(l1: u32, c1: u32, l2: u32, c2: u32) -> Range {
    Range {
        start: Position::new(l1, c1),
        end: Position::new(l2, c2),
    }
}

/// Version `version` of the document: `range` replaced by `text`.
fn replace(client: &Client, uri: &Uri, version: i32, range: Range, text: &str) {
    client.notify(
        "textDocument/didChange",
        serde_json::json!({
            "textDocument": { "uri": uri.as_str(), "version": version },
            "contentChanges": [{ "range": range, "text": text }]
        }),
    );
}

fn definition(client: &mut Client, uri: &Uri, position: Position) -> Option<Location> {
    let answer = client
        .request::<GotoDefinition>(GotoDefinitionParams {
            text_document_position_params: doc_pos(uri, position),
            work_done_progress_params: Default::default(),
            partial_result_params: Default::default(),
        })
        .expect("definition answers");
    match answer {
        None => None,
        Some(GotoDefinitionResponse::Scalar(l)) => Some(l),
        Some(other) => panic!("expected one location, got {other:?}"),
    }
}

fn completion_labels(client: &mut Client, uri: &Uri, position: Position) -> Vec<CompletionItem> {
    let answer = client
        .request::<Completion>(CompletionParams {
            text_document_position: doc_pos(uri, position),
            work_done_progress_params: Default::default(),
            partial_result_params: Default::default(),
            context: None,
        })
        .expect("completion answers");
    match answer {
        Some(CompletionResponse::Array(items)) => items,
        other => panic!("expected a list, got {other:?}"),
    }
}

#[test]
fn hover_shows_a_locals_tensor_type() {
    let mut client = Client::start();
    let (text, at) = digits_at("h = dropout(");
    let uri = client.open("digits.dlp", &text);
    let h = hover(&mut client, &uri, at).expect("a hover");
    assert_eq!(markdown(&h), "```dlp\nh: f32[B, hidden]\n```");
    assert_eq!(h.range, Some(range(17, 16, 17, 17)));
}

#[test]
fn hover_on_a_model_shows_what_dlpc_summary_says_of_its_training() {
    let mut client = Client::start();
    let (text, at) = digits_at("model M");
    let uri = client.open("digits.dlp", &text);
    let h = hover(&mut client, &uri, at).expect("a hover");
    let text = markdown(&h);
    assert!(
        text.starts_with("```dlp\nmodel Mlp(hidden: int = 128)"),
        "{text}"
    );
    assert!(
        text.contains("in train `digits_mlp` (Mlp(hidden = 256), batch 64): 19,210 parameters, 38,410 FLOPs per sample forward; memory 729.6 kB training, 175.9 kB inference"),
        "{text}"
    );
}

#[test]
fn hover_on_a_stdlib_call_shows_signature_result_and_doc() {
    let mut client = Client::start();
    let (text, at) = digits_at("h = relu(lin");
    let uri = client.open("digits.dlp", &text);
    let h = hover(&mut client, &uri, at).expect("a hover");
    assert_eq!(
        markdown(&h),
        "```dlp\nfn linear(x: f32[..N, I], out: int) -> f32[..N, out]\n```\n\n\
         from std.nn; this call gives `f32[B, hidden]`\n\n\
         Fully connected layer: x @ w + b over the last axis."
    );
}

#[test]
fn hover_ranges_count_utf16_units_after_non_ascii_text() {
    let mut client = Client::start();
    // 'ä' is one UTF-16 unit (2 bytes), '😀' two units (4 bytes).
    let (text, at) = fixture(
        "// Ünïcode 😀 before the code\n\
         /// Halves x — ½ of each value 😀.\n\
         fn half(x: f32[..S]) -> f32[..S] { x * 0.5 }\n\
         dataset d {\n    source = csv(\"dätä😀.csv\", hea$0der = true)\n    x = columns(0..4) as f32[4]\n}\n\
         model M() {\n    input x: f32[B, 4]\n    output y = half(x) // 😀 ä\n}\n",
    );
    let uri = client.open("unicode.dlp", &text);
    let h = hover(&mut client, &uri, at).expect("a hover on the named argument");
    assert!(markdown(&h).starts_with("```dlp\nfn csv(path, header?, delimiter?)\n```"));
    // `    source = csv("dätä😀.csv", ` is 31 UTF-16 units.
    assert_eq!(h.range, Some(range(4, 31, 4, 37)));
    let (_, on_half) = fixture(&text.replacen("half(x) //", "ha$0lf(x) //", 1));
    let h = hover(&mut client, &uri, on_half).expect("a hover on the call");
    assert_eq!(
        markdown(&h),
        "```dlp\nfn half(x: f32[..S]) -> f32[..S]\n```\n\nthis call gives `f32[B, 4]`\n\nHalves x — ½ of each value 😀."
    );
}

#[test]
fn hover_on_a_dataset_field_in_train_is_batched() {
    let mut client = Client::start();
    let (text, at) = digits_at("cross_entropy(logits, ");
    let uri = client.open("digits.dlp", &text);
    let h = hover(&mut client, &uri, at).expect("a hover");
    assert_eq!(
        markdown(&h),
        "```dlp\ny: class(10)[B]\n```\n\nfield of dataset `digits`, batched"
    );
}

#[test]
fn definition_of_a_local_and_of_a_named_argument() {
    let mut client = Client::start();
    let (text, at) = digits_at("h = dropout(");
    let uri = client.open("digits.dlp", &text);
    let l = definition(&mut client, &uri, at).expect("a definition");
    assert_eq!(l.uri, uri);
    assert_eq!(l.range, range(16, 4, 16, 5));
    let (_, at) = digits_at("Mlp(hid");
    let l = definition(&mut client, &uri, at).expect("the model's parameter");
    assert_eq!(l.range, range(14, 10, 14, 16));
}

#[test]
fn definition_into_the_stdlib_opens_a_read_only_copy() {
    let mut client = Client::start();
    let (text, at) = digits_at("h = relu(lin");
    let uri = client.open("digits.dlp", &text);
    let l = definition(&mut client, &uri, at).expect("a definition");
    let path = client.std_dir.join("nn.dlp");
    assert_eq!(l.uri.as_str(), format!("file://{}", path.display()));
    // `fn linear(` on the fifth line of stdlib/nn.dlp.
    assert_eq!(l.range, range(4, 3, 4, 9));
    let written = std::fs::read_to_string(&path).expect("the file was written");
    assert_eq!(written, include_str!("../stdlib/nn.dlp"));
    assert!(std::fs::metadata(&path)
        .expect("metadata")
        .permissions()
        .readonly());
}

#[test]
fn completion_after_a_dataset_offers_splits_and_fields() {
    let mut client = Client::start();
    let (text, at) = fixture(&DIGITS.replace("data      = digits.train", "data      = digits.$0"));
    let uri = client.open("digits.dlp", &text);
    let labels: Vec<String> = completion_labels(&mut client, &uri, at)
        .into_iter()
        .map(|c| c.label)
        .collect();
    assert_eq!(labels, ["train", "test", "x", "y"]);
}

#[test]
fn completion_in_a_call_offers_named_arguments_with_defaults() {
    let mut client = Client::start();
    let (text, at) = fixture(&DIGITS.replace("adam(lr = 1e-3)", "adam(lr = 1e-3, $0)"));
    let uri = client.open("digits.dlp", &text);
    let items = completion_labels(&mut client, &uri, at);
    let beta1 = items
        .iter()
        .find(|c| c.label == "beta1")
        .expect("beta1 is offered");
    assert_eq!(beta1.detail.as_deref(), Some("beta1: float = 0.9"));
    assert_eq!(beta1.insert_text.as_deref(), Some("beta1 = "));
    assert!(
        !items.iter().any(|c| c.label == "lr"),
        "lr is given already"
    );
}

#[test]
fn completion_works_in_a_half_typed_body_and_offers_imports() {
    let mut client = Client::start();
    let (text, at) = fixture(&DIGITS.replace(
        "    h = dropout(h, p = 0.1)\n",
        "    h = dropout(h, p = 0.1)\n    z = lay$0\n    q = (\n",
    ));
    let uri = client.open("digits.dlp", &text);
    let items = completion_labels(&mut client, &uri, at);
    let h = items.iter().find(|c| c.label == "h").expect("the local h");
    assert_eq!(h.kind, Some(CompletionItemKind::VARIABLE));
    let layer_norm = items
        .iter()
        .find(|c| c.label == "layer_norm")
        .expect("an unimported stdlib function");
    let edit = &layer_norm
        .additional_text_edits
        .as_ref()
        .expect("an import")[0];
    assert_eq!(edit.new_text, "use std.nn.layer_norm\n");
    assert_eq!(edit.range, range(5, 0, 5, 0));
}

#[test]
fn completion_at_column_zero_inside_a_body_offers_the_body_not_declarations() {
    let mut client = Client::start();
    for typed in ["$0", "dr$0"] {
        let (text, at) = fixture(&DIGITS.replace(
            "    h = dropout(h, p = 0.1)\n",
            &format!("    h = dropout(h, p = 0.1)\n{typed}\n"),
        ));
        let uri = client.open(&format!("digits{}.dlp", typed.len()), &text);
        let labels: Vec<String> = completion_labels(&mut client, &uri, at)
            .into_iter()
            .map(|c| c.label)
            .collect();
        for wanted in ["output", "h", "x", "dropout"] {
            assert!(
                labels.contains(&wanted.to_string()),
                "{typed}: no `{wanted}` in {labels:?}"
            );
        }
        assert!(
            !labels.contains(&"dataset".to_string()),
            "{typed}: {labels:?}"
        );
    }
}

#[test]
fn references_and_rename_of_a_local() {
    let mut client = Client::start();
    let (text, at) = digits_at("h = dropout(");
    let uri = client.open("digits.dlp", &text);
    let refs = client
        .request::<References>(ReferenceParams {
            text_document_position: doc_pos(&uri, at),
            work_done_progress_params: Default::default(),
            partial_result_params: Default::default(),
            context: ReferenceContext {
                include_declaration: true,
            },
        })
        .expect("references answer")
        .expect("some references");
    let ranges: Vec<Range> = refs.iter().map(|l| l.range).collect();
    assert_eq!(
        ranges,
        [
            range(16, 4, 16, 5),
            range(17, 4, 17, 5),
            range(17, 16, 17, 17),
            range(18, 27, 18, 28)
        ]
    );
    let edit = client
        .request::<Rename>(RenameParams {
            text_document_position: doc_pos(&uri, at),
            new_name: "hid".to_string(),
            work_done_progress_params: Default::default(),
        })
        .expect("rename answers")
        .expect("an edit");
    let edits = &edit.changes.expect("changes")[&uri];
    assert_eq!(edits.len(), 4);
    assert!(edits.iter().all(|e| e.new_text == "hid"));
}

#[test]
fn rename_refuses_stdlib_names_and_keywords() {
    let mut client = Client::start();
    let (text, at) = digits_at("h = relu(lin");
    let uri = client.open("digits.dlp", &text);
    let err = client
        .request::<Rename>(RenameParams {
            text_document_position: doc_pos(&uri, at),
            new_name: "dense".to_string(),
            work_done_progress_params: Default::default(),
        })
        .expect_err("a stdlib name stays");
    assert_eq!(err.message, "a standard library name cannot be renamed");
    let (_, at) = digits_at("output lo");
    let err = client
        .request::<Rename>(RenameParams {
            text_document_position: doc_pos(&uri, at),
            new_name: "model".to_string(),
            work_done_progress_params: Default::default(),
        })
        .expect_err("a keyword is no name");
    assert!(err.message.starts_with("`model` is not a name"));
}

#[test]
fn formatting_applies_dlpc_fmt() {
    let mut client = Client::start();
    let messy = "use std.nn.{linear,relu}\nmodel M(h:int=3){input x:f32[B,4]\n output y=relu(linear(x,h))}\n";
    let uri = client.open("messy.dlp", messy);
    let edits = client
        .request::<Formatting>(DocumentFormattingParams {
            text_document: TextDocumentIdentifier { uri },
            options: FormattingOptions::default(),
            work_done_progress_params: Default::default(),
        })
        .expect("formatting answers")
        .expect("edits");
    assert_eq!(edits.len(), 1);
    assert_eq!(edits[0].range, range(0, 0, 3, 0));
    assert_eq!(
        edits[0].new_text,
        dlp_grammar::format::format(messy).expect("formats")
    );
}

#[test]
fn diagnostics_follow_incremental_edits_and_report_every_broken_item() {
    let mut client = Client::start();
    let uri = client.open("digits.dlp", DIGITS);
    assert_eq!(client.diagnostics(&uri, 1), []);
    // Misspell `cross_entropy` (line 26, `    loss      = cross_entropy(`),
    // then break two items.
    replace(&client, &uri, 2, range(26, 16, 26, 29), "cross_entrpy");
    let d = client.diagnostics(&uri, 2);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].range, range(26, 16, 26, 28));
    assert!(
        d[0].message.contains("did you mean `cross_entropy`?"),
        "{}",
        d[0].message
    );
    client.notify(
        "textDocument/didChange",
        serde_json::json!({
            "textDocument": { "uri": uri.as_str(), "version": 3 },
            "contentChanges": [
                { "range": range(26, 16, 26, 28), "text": "cross_entropy" },
                { "range": range(8, 12, 8, 13), "text": "(" },
                { "range": range(24, 16, 24, 16), "text": "*" }
            ]
        }),
    );
    let d = client.diagnostics(&uri, 3);
    let codes: Vec<_> = d.iter().map(|d| d.code.clone()).collect();
    let syntax = Some(NumberOrString::String("E0001".to_string()));
    assert_eq!(codes.iter().filter(|c| **c == syntax).count(), 2, "{d:?}");
    client.notify(
        "textDocument/didChange",
        serde_json::json!({
            "textDocument": { "uri": uri.as_str(), "version": 4 },
            "contentChanges": [{ "text": DIGITS }]
        }),
    );
    assert_eq!(client.diagnostics(&uri, 4), []);
}

#[test]
fn a_panic_in_a_request_is_an_error_response_and_serving_goes_on() {
    let mut client = Client::start();
    let (text, at) = digits_at("h = dropout(");
    let uri = client.open("digits.dlp", &text);
    let err = client
        .raw_request("dlp/panic", serde_json::Value::Null)
        .expect_err("the panic is reported");
    assert_eq!(err.code, lsp_server::ErrorCode::InternalError as i32);
    assert!(err.message.contains("dlp/panic was asked for"));
    assert!(hover(&mut client, &uri, at).is_some());
}

#[test]
fn odd_positions_and_unknown_documents_get_empty_answers() {
    let mut client = Client::start();
    let uri = client.open("digits.dlp", DIGITS);
    assert_eq!(hover(&mut client, &uri, Position::new(9999, 5)), None);
    // Past the end of a line is its end: `use std.metrics.accuracy|`.
    assert_eq!(
        hover(&mut client, &uri, Position::new(3, 9999)),
        hover(&mut client, &uri, Position::new(3, 24))
    );
    let unknown = client::uri("nowhere.dlp");
    assert_eq!(hover(&mut client, &unknown, Position::new(0, 0)), None);
    assert_eq!(definition(&mut client, &unknown, Position::new(0, 0)), None);
}

#[test]
fn every_request_at_every_position_of_a_half_typed_file_answers() {
    let mut client = Client::start();
    let text = "use std.nn.{linear, re\nmodel M(h: int = 3 {\n    input x: f32[B, 4]\n    y = linear(x, h, \n    output o = relu(lin\n}\ntrain t { model = M(h = \n data = d.\n}\n";
    let uri = client.open("half.dlp", text);
    for (line_no, line) in text.lines().enumerate() {
        for col in 0..=line.len() as u32 + 1 {
            let at = Position::new(line_no as u32, col);
            hover(&mut client, &uri, at);
            definition(&mut client, &uri, at);
            completion_labels(&mut client, &uri, at);
            client
                .request::<SignatureHelpRequest>(SignatureHelpParams {
                    context: None,
                    text_document_position_params: doc_pos(&uri, at),
                    work_done_progress_params: Default::default(),
                })
                .expect("signature help answers");
        }
    }
}

#[test]
fn signature_help_tracks_the_active_argument() {
    let mut client = Client::start();
    let (text, at) = digits_at("h = dropout(h, p");
    let uri = client.open("digits.dlp", &text);
    let help = client
        .request::<SignatureHelpRequest>(SignatureHelpParams {
            context: None,
            text_document_position_params: doc_pos(&uri, at),
            work_done_progress_params: Default::default(),
        })
        .expect("signature help answers")
        .expect("a signature");
    let sig = &help.signatures[0];
    assert_eq!(
        sig.label,
        "fn dropout(x: f32[..S], p: float = 0.5) -> f32[..S]"
    );
    assert_eq!(help.active_parameter, Some(1));
    let labels: Vec<_> = sig
        .parameters
        .as_ref()
        .expect("parameters")
        .iter()
        .map(|p| p.label.clone())
        .collect();
    assert_eq!(
        labels,
        [
            ParameterLabel::LabelOffsets([11, 22]),
            ParameterLabel::LabelOffsets([24, 38])
        ]
    );
}

#[test]
fn document_symbols_outline_the_file() {
    let mut client = Client::start();
    let uri = client.open("digits.dlp", DIGITS);
    let answer = client
        .request::<DocumentSymbolRequest>(DocumentSymbolParams {
            text_document: TextDocumentIdentifier { uri },
            work_done_progress_params: Default::default(),
            partial_result_params: Default::default(),
        })
        .expect("symbols answer");
    let Some(DocumentSymbolResponse::Nested(symbols)) = answer else {
        panic!("expected nested symbols, got {answer:?}");
    };
    let top: Vec<(&str, SymbolKind)> = symbols.iter().map(|s| (s.name.as_str(), s.kind)).collect();
    assert_eq!(
        top,
        [
            ("digits", SymbolKind::STRUCT),
            ("Mlp", SymbolKind::CLASS),
            ("digits_mlp", SymbolKind::EVENT)
        ]
    );
    let model: Vec<(&str, Option<&str>)> = symbols[1]
        .children
        .iter()
        .flatten()
        .map(|c| (c.name.as_str(), c.detail.as_deref()))
        .collect();
    assert_eq!(
        model,
        [
            ("hidden", Some("hidden: int = 128")),
            ("x", Some("input x: f32[B, 64]")),
            ("logits", Some("output logits: f32[B, 10]"))
        ]
    );
}

#[test]
fn a_model_argument_that_cannot_be_lowered_is_shown_at_the_train_block() {
    let mut client = Client::start();
    let uri = client.open("digits.dlp", DIGITS);
    assert_eq!(client.diagnostics(&uri, 1), []);
    // `model     = Mlp(hidden = 256)` (line 22): a hidden size of 0.
    replace(&client, &uri, 2, range(22, 29, 22, 32), "0");
    let d = client.diagnostics(&uri, 2);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].range, range(22, 20, 22, 30));
    assert_eq!(d[0].code, Some(NumberOrString::String("E0400".into())));
    assert!(
        d[0].message.contains("with no elements"),
        "{}",
        d[0].message
    );
    // The use inside the model: `linear(x, hidden)` on line 16.
    let related = d[0].related_information.as_ref().expect("the use");
    assert_eq!(related[0].location.range.start.line, 16, "{related:?}");
    assert!(
        related[0].message.contains("in this call of `linear`"),
        "{related:?}"
    );
}
