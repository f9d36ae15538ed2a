//! One function per LSP request: find the document, turn the position into
//! a byte offset, ask the analysis, turn its plain answer into LSP types.
//!
//! A request about a document the editor has not opened gets an empty
//! answer (`null`), never an error: clients ask about files in flight.

use super::files::{path_to_uri, StdFiles};
use super::position;
use super::server::{RequestError, Server};
use dlp_compiler::ide::{self, Analysis, CompletionKind, FileRange, SymbolKind};
use dlp_compiler::{FileId, Severity};
use lsp_types as lsp;
use lsp_types::Uri;
use std::collections::HashMap;
use std::path::Path;

type Answer<T> = Result<T, RequestError>;

/// The analysis of `uri`, the byte offset of `at` in its text, and the
/// stdlib files (to name other files in the answer).
fn locate<'s>(
    server: &'s mut Server<'_>,
    uri: &Uri,
    at: lsp::Position,
) -> Option<(&'s Analysis, usize, &'s mut StdFiles)> {
    let offset = position::offset(&server.documents.get(uri)?.text, at);
    let analysis = server.documents.analysis(uri)?;
    Some((analysis, offset, &mut server.std_files))
}

fn with_analysis<T>(
    server: &mut Server<'_>,
    uri: &Uri,
    at: lsp::Position,
    query: impl FnOnce(&Analysis, usize) -> T,
) -> Option<T> {
    let (a, offset, _) = locate(server, uri, at)?;
    Some(query(a, offset))
}

fn root_range(a: &Analysis, span: dlp_grammar::Span) -> lsp::Range {
    file_range(
        a,
        FileRange {
            file: a.root(),
            span,
        },
    )
}

fn file_range(a: &Analysis, at: FileRange) -> lsp::Range {
    let text = &a.file(at.file).text;
    position::range(text, at.span.start as usize, at.span.end as usize)
}

/// The URI of a program file: the document itself, a user module on disk,
/// or a stdlib module written to the cache folder.
fn file_uri(std_files: &mut StdFiles, a: &Analysis, file: FileId, root: &Uri) -> Option<Uri> {
    if file == a.root() {
        return Some(root.clone());
    }
    let source = a.file(file);
    if source.is_stdlib {
        return path_to_uri(&std_files.path_of(source)?);
    }
    path_to_uri(Path::new(&source.name))
}

fn location(
    std_files: &mut StdFiles,
    a: &Analysis,
    at: FileRange,
    root: &Uri,
) -> Option<lsp::Location> {
    Some(lsp::Location {
        uri: file_uri(std_files, a, at.file, root)?,
        range: file_range(a, at),
    })
}

pub fn diagnostics(server: &mut Server<'_>, uri: &Uri) -> Vec<lsp::Diagnostic> {
    let Some(a) = server.documents.analysis(uri) else {
        return Vec::new();
    };
    let std_files = &mut server.std_files;
    a.diagnostics()
        .into_iter()
        .map(|d| {
            let related: Vec<lsp::DiagnosticRelatedInformation> = d
                .related
                .iter()
                .filter_map(|r| {
                    Some(lsp::DiagnosticRelatedInformation {
                        location: location(std_files, a, r.at, uri)?,
                        message: r.message.clone(),
                    })
                })
                .collect();
            lsp::Diagnostic {
                range: root_range(a, d.span),
                severity: Some(match d.severity {
                    Severity::Error => lsp::DiagnosticSeverity::ERROR,
                    Severity::Warning => lsp::DiagnosticSeverity::WARNING,
                }),
                code: Some(lsp::NumberOrString::String(d.code.to_string())),
                source: Some("dlpc".to_string()),
                message: d.message,
                related_information: (!related.is_empty()).then_some(related),
                ..lsp::Diagnostic::default()
            }
        })
        .collect()
}

pub fn hover(server: &mut Server<'_>, p: lsp::HoverParams) -> Answer<Option<lsp::Hover>> {
    let doc = p.text_document_position_params;
    Ok(
        with_analysis(server, &doc.text_document.uri, doc.position, |a, offset| {
            a.hover(offset).map(|h| lsp::Hover {
                contents: lsp::HoverContents::Markup(lsp::MarkupContent {
                    kind: lsp::MarkupKind::Markdown,
                    value: h.markdown,
                }),
                range: Some(root_range(a, h.span)),
            })
        })
        .flatten(),
    )
}

/// Places anywhere in the program, as LSP locations.
fn locations(
    server: &mut Server<'_>,
    uri: &Uri,
    at: lsp::Position,
    query: impl FnOnce(&Analysis, usize) -> Vec<FileRange>,
) -> Vec<lsp::Location> {
    let Some((a, offset, std_files)) = locate(server, uri, at) else {
        return Vec::new();
    };
    query(a, offset)
        .into_iter()
        .filter_map(|r| location(std_files, a, r, uri))
        .collect()
}

pub fn definition(
    server: &mut Server<'_>,
    p: lsp::GotoDefinitionParams,
) -> Answer<Option<lsp::GotoDefinitionResponse>> {
    let doc = p.text_document_position_params;
    let found = locations(server, &doc.text_document.uri, doc.position, |a, offset| {
        a.definition(offset).into_iter().collect()
    });
    Ok(found
        .into_iter()
        .next()
        .map(lsp::GotoDefinitionResponse::Scalar))
}

pub fn references(
    server: &mut Server<'_>,
    p: lsp::ReferenceParams,
) -> Answer<Option<Vec<lsp::Location>>> {
    let doc = p.text_document_position;
    let include = p.context.include_declaration;
    let found = locations(server, &doc.text_document.uri, doc.position, |a, offset| {
        a.references(offset, include)
    });
    Ok(Some(found))
}

pub fn prepare_rename(
    server: &mut Server<'_>,
    p: lsp::TextDocumentPositionParams,
) -> Answer<Option<lsp::PrepareRenameResponse>> {
    let answer = with_analysis(server, &p.text_document.uri, p.position, |a, offset| {
        a.prepare_rename(offset)
            .map(|span| lsp::PrepareRenameResponse::Range(root_range(a, span)))
    });
    match answer {
        None => Ok(None),
        Some(Ok(range)) => Ok(Some(range)),
        Some(Err(e)) => Err(RequestError::failed(e.to_string())),
    }
}

// `Uri` hashes and compares by its text; lsp-types wants it as the map key.
#[allow(clippy::mutable_key_type)]
pub fn rename(server: &mut Server<'_>, p: lsp::RenameParams) -> Answer<Option<lsp::WorkspaceEdit>> {
    let doc = p.text_document_position;
    let uri = doc.text_document.uri;
    let Some((a, offset, _)) = locate(server, &uri, doc.position) else {
        return Ok(None);
    };
    let edits = a
        .rename(offset, &p.new_name)
        .map_err(|e| RequestError::failed(e.to_string()))?;
    let mut changes: HashMap<Uri, Vec<lsp::TextEdit>> = HashMap::new();
    for edit in edits {
        let file = a.file(edit.file);
        let target = if edit.file == a.root() {
            uri.clone()
        } else {
            path_to_uri(Path::new(&file.name))
                .ok_or_else(|| RequestError::failed(format!("no URI for {}", file.name)))?
        };
        changes.entry(target).or_default().push(lsp::TextEdit {
            range: position::range(&file.text, edit.span.start as usize, edit.span.end as usize),
            new_text: edit.new_text,
        });
    }
    Ok(Some(lsp::WorkspaceEdit {
        changes: Some(changes),
        ..lsp::WorkspaceEdit::default()
    }))
}

pub fn completion(
    server: &mut Server<'_>,
    p: lsp::CompletionParams,
) -> Answer<Option<lsp::CompletionResponse>> {
    let doc = p.text_document_position;
    Ok(with_analysis(
        server,
        &doc.text_document.uri,
        doc.position,
        |a, offset| {
            let items = a
                .completions(offset)
                .into_iter()
                .enumerate()
                .map(|(i, c)| lsp::CompletionItem {
                    kind: Some(completion_kind(c.kind)),
                    detail: c.detail,
                    documentation: c.documentation.map(|d| {
                        lsp::Documentation::MarkupContent(lsp::MarkupContent {
                            kind: lsp::MarkupKind::Markdown,
                            value: d,
                        })
                    }),
                    insert_text: c.insert_text,
                    // Keep the analysis' order: most local first.
                    sort_text: Some(format!("{i:04}")),
                    additional_text_edits: c.additional_edit.map(|(span, new_text)| {
                        vec![lsp::TextEdit {
                            range: root_range(a, span),
                            new_text,
                        }]
                    }),
                    label: c.label,
                    ..lsp::CompletionItem::default()
                })
                .collect();
            lsp::CompletionResponse::Array(items)
        },
    ))
}

fn completion_kind(kind: CompletionKind) -> lsp::CompletionItemKind {
    use lsp::CompletionItemKind as K;
    match kind {
        CompletionKind::Function => K::FUNCTION,
        CompletionKind::Model => K::CLASS,
        CompletionKind::Dataset => K::STRUCT,
        CompletionKind::Train => K::EVENT,
        CompletionKind::Variable => K::VARIABLE,
        CompletionKind::Field => K::FIELD,
        CompletionKind::Split => K::ENUM_MEMBER,
        CompletionKind::Module => K::MODULE,
        CompletionKind::Keyword => K::KEYWORD,
        CompletionKind::Argument => K::PROPERTY,
        CompletionKind::Setting => K::PROPERTY,
    }
}

pub fn signature_help(
    server: &mut Server<'_>,
    p: lsp::SignatureHelpParams,
) -> Answer<Option<lsp::SignatureHelp>> {
    let doc = p.text_document_position_params;
    Ok(
        with_analysis(server, &doc.text_document.uri, doc.position, |a, offset| {
            let help = a.signature_help(offset)?;
            // Parameter offsets are in UTF-16 units of the label.
            let units = |byte: usize| help.label[..byte].encode_utf16().count() as u32;
            let parameters = help
                .params
                .iter()
                .map(|&(start, end)| lsp::ParameterInformation {
                    label: lsp::ParameterLabel::LabelOffsets([units(start), units(end)]),
                    documentation: None,
                })
                .collect();
            Some(lsp::SignatureHelp {
                signatures: vec![lsp::SignatureInformation {
                    label: help.label.clone(),
                    documentation: help.doc.map(|d| {
                        lsp::Documentation::MarkupContent(lsp::MarkupContent {
                            kind: lsp::MarkupKind::Markdown,
                            value: d,
                        })
                    }),
                    parameters: Some(parameters),
                    active_parameter: help.active.map(|i| i as u32),
                }],
                active_signature: Some(0),
                active_parameter: help.active.map(|i| i as u32),
            })
        })
        .flatten(),
    )
}

pub fn document_symbols(
    server: &mut Server<'_>,
    p: lsp::DocumentSymbolParams,
) -> Answer<Option<lsp::DocumentSymbolResponse>> {
    let uri = p.text_document.uri;
    let Some(a) = server.documents.analysis(&uri) else {
        return Ok(None);
    };
    let symbols = a
        .document_symbols()
        .into_iter()
        .map(|s| document_symbol(a, s))
        .collect();
    Ok(Some(lsp::DocumentSymbolResponse::Nested(symbols)))
}

#[allow(deprecated)] // `deprecated` is a field every literal must name.
fn document_symbol(a: &Analysis, s: ide::DocumentSymbol) -> lsp::DocumentSymbol {
    use lsp::SymbolKind as K;
    let kind = match s.kind {
        SymbolKind::Function => K::FUNCTION,
        SymbolKind::Model => K::CLASS,
        SymbolKind::Dataset => K::STRUCT,
        SymbolKind::Train => K::EVENT,
        SymbolKind::Parameter => K::TYPE_PARAMETER,
        SymbolKind::Weight => K::PROPERTY,
        SymbolKind::Input | SymbolKind::Output => K::VARIABLE,
        SymbolKind::Field => K::FIELD,
        SymbolKind::Split => K::ENUM_MEMBER,
        SymbolKind::Setting => K::KEY,
    };
    let children: Vec<lsp::DocumentSymbol> = s
        .children
        .into_iter()
        .map(|c| document_symbol(a, c))
        .collect();
    lsp::DocumentSymbol {
        name: s.name,
        detail: s.detail,
        kind,
        tags: None,
        deprecated: None,
        range: root_range(a, s.span),
        selection_range: root_range(a, s.selection),
        children: (!children.is_empty()).then_some(children),
    }
}

pub fn formatting(
    server: &mut Server<'_>,
    p: lsp::DocumentFormattingParams,
) -> Answer<Option<Vec<lsp::TextEdit>>> {
    let Some(doc) = server.documents.get(&p.text_document.uri) else {
        return Ok(None);
    };
    let text = &doc.text;
    // A file that does not parse is left alone; its errors are on screen.
    // The formatter writes `\n` line endings, whatever the file had.
    let Some(formatted) = ide::format(text) else {
        return Ok(None);
    };
    if &formatted == text {
        return Ok(Some(Vec::new()));
    }
    Ok(Some(vec![lsp::TextEdit {
        range: position::range(text, 0, text.len()),
        new_text: formatted,
    }]))
}
