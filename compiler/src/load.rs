//! Gathering the program: the root file, every module it `use`s
//! (transitively), parsed.
//!
//! `use std.nn.linear` names the embedded module `std.nn`; any other path
//! names a user module that the driver's [`Loader`] finds (`use
//! mylayers.{block}` is `mylayers.dlp` beside the importing file). The
//! longest prefix of a `use` path that is a module wins, so `use a.b` is
//! module `a.b` if it exists, else item `b` of module `a`.

use crate::diagnostic::{Diagnostic, FileId, Loc};
use crate::source::{Loader, SourceFile, SourceMap};
use crate::stdlib;
use dlp_grammar::ast::{Ast, Item, UseDecl};

/// One parsed file and the dotted name it is imported by.
#[derive(Clone, Debug)]
pub struct Module {
    /// `std.nn`, `mylayers`; the root file's name is its file name.
    pub path: String,
    pub file: FileId,
    pub ast: Ast,
}

/// Every file of a compilation. `modules[0]` is the root.
#[derive(Clone, Debug, Default)]
pub struct Program {
    pub sources: SourceMap,
    pub modules: Vec<Module>,
}

impl Program {
    pub fn module_index(&self, path: &str) -> Option<usize> {
        self.modules.iter().position(|m| m.path == path)
    }
}

/// Where a `use` points: a module, and the part of the path after it.
#[derive(Clone, Debug, PartialEq)]
pub struct UseTarget {
    pub module: usize,
    /// Segments after the module (0 or 1 for a valid `use`).
    pub rest: Vec<String>,
}

/// Parses `root` and every module it reaches. Returns the program, the
/// module each `use` resolved to (`None` where none was found, reported in
/// the diagnostics), and every syntax and missing-module error.
pub fn load(
    root_name: &str,
    root_text: &str,
    loader: &mut dyn Loader,
) -> (Program, Vec<Diagnostic>) {
    let mut program = Program::default();
    let mut diagnostics = Vec::new();
    add_module(
        &mut program,
        &mut diagnostics,
        root_name.to_string(),
        SourceFile::new(root_name, root_text, false),
    );
    let mut next = 0;
    while next < program.modules.len() {
        let uses: Vec<UseDecl> = program.modules[next]
            .ast
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Use(u) => Some(u.clone()),
                _ => None,
            })
            .collect();
        let from = program.sources.get(program.modules[next].file).name.clone();
        let file = program.modules[next].file;
        for u in uses {
            let segments: Vec<String> = u.path.iter().map(|s| s.name.clone()).collect();
            if find_module(&mut program, &mut diagnostics, &from, &segments, loader).is_none() {
                diagnostics.push(missing_module(&program, file, &u, &segments));
            }
        }
        next += 1;
    }
    (program, diagnostics)
}

/// The module a `use` path refers to, loading it if needed.
pub fn resolve_use(program: &Program, segments: &[String]) -> Option<UseTarget> {
    (1..=segments.len()).rev().find_map(|n| {
        let path = segments[..n].join(".");
        program.module_index(&path).map(|module| UseTarget {
            module,
            rest: segments[n..].to_vec(),
        })
    })
}

fn find_module(
    program: &mut Program,
    diagnostics: &mut Vec<Diagnostic>,
    from: &str,
    segments: &[String],
    loader: &mut dyn Loader,
) -> Option<usize> {
    for n in (1..=segments.len()).rev() {
        let path = segments[..n].join(".");
        if let Some(i) = program.module_index(&path) {
            return Some(i);
        }
        let file = if segments[0] == "std" {
            stdlib::module(&segments[1..n].join(".")).map(|text| {
                SourceFile::new(
                    format!("<std>/{}.dlp", segments[1..n].join("/")),
                    text,
                    true,
                )
            })
        } else {
            loader
                .load(from, &segments[..n])
                .map(|(name, text)| SourceFile::new(name, text, false))
        };
        if let Some(file) = file {
            return Some(add_module(program, diagnostics, path, file));
        }
    }
    None
}

fn add_module(
    program: &mut Program,
    diagnostics: &mut Vec<Diagnostic>,
    path: String,
    file: SourceFile,
) -> usize {
    let (ast, errors) = dlp_grammar::parse(&file.text);
    let id = program.sources.add(file);
    diagnostics.extend(errors.into_iter().map(|e| syntax_error(id, &e)));
    program.modules.push(Module {
        path,
        file: id,
        ast,
    });
    program.modules.len() - 1
}

pub fn syntax_error(file: FileId, e: &dlp_grammar::ParseError) -> Diagnostic {
    Diagnostic::error(
        "E0001",
        Loc::new(file, e.span),
        format!("syntax error: {e}"),
    )
    .here(format!("expected {}", expected_text(&e.expected)))
}

fn expected_text(options: &[String]) -> String {
    match options {
        [] => "something else here".to_string(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {}", init.join(", "), last),
    }
}

fn missing_module(program: &Program, file: FileId, u: &UseDecl, segments: &[String]) -> Diagnostic {
    let span = u.path.first().map_or(u.span, |f| {
        f.span.to(u.path.last().map_or(f.span, |l| l.span))
    });
    let path = segments.join(".");
    let mut d = Diagnostic::error("E0101", Loc::new(file, span), format!("no module `{path}`"))
        .here("not found");
    if segments.first().map(String::as_str) == Some("std") {
        let names: Vec<String> = stdlib::MODULES
            .iter()
            .map(|(n, _)| format!("std.{n}"))
            .collect();
        let wanted = segments
            .iter()
            .take(2)
            .cloned()
            .collect::<Vec<_>>()
            .join(".");
        if let Some(hint) =
            crate::diagnostic::did_you_mean(&wanted, names.iter().map(String::as_str))
        {
            d = d.help(hint);
        } else {
            d = d.note(format!("the standard library has {}", names.join(", ")));
        }
    } else {
        let from = &program.sources.get(file).name;
        d = d.note(format!(
            "looked for `{}.dlp` next to {from}",
            segments.join("/")
        ));
    }
    d
}
