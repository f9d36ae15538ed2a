//! Rendering diagnostics: ariadne reports for people, JSON lines for tools.
//!
//! The one place diagnostics become text. Spans are byte offsets everywhere
//! (pest's and ours), so ariadne is told to index by bytes.

use crate::diagnostic::{Diagnostic, Loc};
use crate::source::SourceMap;
use ariadne::{Color, Config, IndexType, Label, Report, ReportKind};
use serde::Serialize;
use std::ops::Range;

/// An ariadne report, with or without colour.
pub fn render(diagnostic: &Diagnostic, sources: &SourceMap, color: bool) -> String {
    let span = |loc: &Loc| -> (String, Range<usize>) {
        let file = sources.get(loc.file);
        let end = (loc.span.end as usize).min(file.text.len());
        let start = (loc.span.start as usize).min(end);
        (file.name.clone(), start..end)
    };
    let kind = match diagnostic.severity {
        crate::diagnostic::Severity::Error => ReportKind::Error,
        crate::diagnostic::Severity::Warning => ReportKind::Warning,
    };
    let config = Config::default()
        .with_color(color)
        .with_index_type(IndexType::Byte);
    // With colour off, ariadne ignores label colours.
    let (primary_color, other_color) = (Color::Red, Color::Blue);
    // ariadne starts a new snippet, headed with the report's position,
    // whenever a label's line comes before the previous label's: ordering
    // the labels by file and place keeps each file in one snippet, its
    // header right (the primary label keeps its colour).
    let primary = &diagnostic.primary;
    let mut labels: Vec<(&crate::diagnostic::Label, Color)> =
        std::iter::once((primary, primary_color))
            .chain(diagnostic.labels.iter().map(|l| (l, other_color)))
            .collect();
    labels.sort_by_key(|(l, _)| (l.loc.file != primary.loc.file, l.loc.file, l.loc.span.start));
    let mut report = Report::build(kind, span(&primary.loc))
        .with_config(config)
        .with_code(diagnostic.code)
        .with_message(&diagnostic.message);
    for (order, (label, color)) in labels.into_iter().enumerate() {
        report = report.with_label(
            Label::new(span(&label.loc))
                .with_message(&label.message)
                .with_color(color)
                .with_order(order as i32),
        );
    }
    for note in &diagnostic.notes {
        report = report.with_note(note);
    }
    if let Some(help) = &diagnostic.help {
        report = report.with_help(help);
    }
    let files: Vec<(String, String)> = sources
        .iter()
        .map(|(_, f)| (f.name.clone(), f.text.clone()))
        .collect();
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = report.finish().write(ariadne::sources(files), &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[derive(Serialize)]
struct JsonDiagnostic<'a> {
    file: &'a str,
    start: u32,
    end: u32,
    line: usize,
    column: usize,
    severity: crate::diagnostic::Severity,
    code: &'a str,
    message: &'a str,
    labels: Vec<JsonLabel<'a>>,
    notes: &'a [String],
    help: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonLabel<'a> {
    file: &'a str,
    start: u32,
    end: u32,
    line: usize,
    column: usize,
    message: &'a str,
}

/// One JSON object (one line): file, byte range, 1-based line:column,
/// code, message, labels (the primary one first).
pub fn render_json(diagnostic: &Diagnostic, sources: &SourceMap) -> String {
    let json_label = |loc: &Loc, message: &'_ str| {
        let file = sources.get(loc.file);
        let (line, column) = file.line_col(loc.span.start as usize);
        (
            file.name.as_str(),
            loc.span.start,
            loc.span.end,
            line,
            column,
            message.to_string(),
        )
    };
    let primary = &diagnostic.primary;
    let file = sources.get(primary.loc.file);
    let (line, column) = file.line_col(primary.loc.span.start as usize);
    let labels: Vec<_> = std::iter::once(primary)
        .chain(&diagnostic.labels)
        .map(|l| json_label(&l.loc, &l.message))
        .collect();
    let value = JsonDiagnostic {
        file: &file.name,
        start: primary.loc.span.start,
        end: primary.loc.span.end,
        line,
        column,
        severity: diagnostic.severity,
        code: diagnostic.code,
        message: &diagnostic.message,
        labels: labels
            .iter()
            .map(|(file, start, end, line, column, message)| JsonLabel {
                file,
                start: *start,
                end: *end,
                line: *line,
                column: *column,
                message,
            })
            .collect(),
        notes: &diagnostic.notes,
        help: diagnostic.help.as_deref(),
    };
    serde_json::to_string(&value).expect("diagnostics serialise")
}
