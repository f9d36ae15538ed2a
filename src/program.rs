//! Reading and checking a program for the commands that go on to lower
//! it (`run`, `graph`): errors are printed and stop the command.

use crate::loader::FsLoader;
use dlp_compiler::{compile, lower, render, Compilation, CompiledProgram, Diagnostic, FileId, Loc};
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

/// Whether diagnostics on standard error get colours.
pub fn color() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// A program's text, or what to print when it cannot be read.
pub fn read(path: &Path) -> Result<String, String> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| format!("error: cannot read {name}: {e}"))?;
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "error: {name} is not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })
}

/// The checked program at `path`, or `None` after printing why not.
pub fn load(path: &Path) -> Option<Compilation> {
    let text = match read(path) {
        Ok(t) => t,
        Err(message) => {
            tell!("{message}");
            return None;
        }
    };
    load_text(path, &text, &|d, _| d)
}

/// The program at `path` checked with `text` as its root file's text
/// (`--set` rewrites it), each diagnostic passed through `explain` before
/// it is printed; `None` after printing why not.
pub fn load_text(path: &Path, text: &str, explain: &Explain) -> Option<Compilation> {
    let name = path.display().to_string();
    let comp = compile(&name, text, &mut FsLoader);
    for d in &comp.diagnostics {
        let root = comp.program.modules[0].file;
        tell_raw!(
            "{}",
            render(&explain(d.clone(), root), &comp.program.sources, color())
        );
    }
    let errors = comp.diagnostics.iter().filter(|d| d.is_error()).count();
    if errors > 0 {
        tell!(
            "error: {errors} error{} in {name}: nothing was run",
            if errors == 1 { "" } else { "s" }
        );
        return None;
    }
    Some(comp)
}

/// With `--deny warnings`: fails when the program has warnings (they
/// are printed already).
pub fn deny_warnings(comp: &Compilation, name: &str) -> Result<(), ExitCode> {
    let warnings = comp.diagnostics.iter().filter(|d| !d.is_error()).count();
    if warnings == 0 {
        return Ok(());
    }
    tell!(
        "error: {warnings} warning{} in {name}, denied by `--deny warnings`: nothing was run",
        if warnings == 1 { "" } else { "s" }
    );
    Err(ExitCode::FAILURE)
}

/// Prints a diagnostic found after checking (while lowering).
pub fn report(comp: &Compilation, d: &Diagnostic) {
    tell_raw!("{}", render(d, &comp.program.sources, color()));
}

/// Adds to a diagnostic before it is printed; given the root file's id.
pub type Explain<'a> = dyn Fn(Diagnostic, FileId) -> Diagnostic + 'a;

/// The compiled program of train block `train` (the first when `None`),
/// or `None` after printing why not.
pub fn compiled(comp: &Compilation, train: Option<&str>) -> Option<CompiledProgram> {
    compiled_explained(comp, train, &|d, _| d)
}

/// [`compiled`], each diagnostic passed through `explain`.
pub fn compiled_explained(
    comp: &Compilation,
    train: Option<&str>,
    explain: &Explain,
) -> Option<CompiledProgram> {
    match lower::compile(comp, train) {
        Ok(program) => Some(program),
        Err(e) if e.loc.is_none() => {
            // Not about a place in the program (`--train` naming no block).
            tell!("error: {}", e.message);
            None
        }
        Err(e) => {
            let fallback = Loc::new(comp.program.modules[0].file, Default::default());
            report(
                comp,
                &explain(e.diagnostic(fallback), comp.program.modules[0].file),
            );
            None
        }
    }
}

/// The program's own files (not the stdlib), named relative to the root
/// file's folder, for the run record; the root file with `root_text` (as
/// the user wrote it, before `--set`).
pub fn files(comp: &Compilation, root: &Path, root_text: &str) -> Vec<(String, String)> {
    let base = root.parent().unwrap_or(Path::new(""));
    let root_id = comp.program.modules[0].file;
    comp.program
        .sources
        .iter()
        .filter(|(_, f)| !f.is_stdlib)
        .map(|(id, f)| {
            let p = Path::new(&f.name);
            let rel = p.strip_prefix(base).unwrap_or(p);
            let text = if id == root_id { root_text } else { &f.text };
            (rel.display().to_string(), text.to_string())
        })
        .collect()
}
