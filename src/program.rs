//! Reading and checking a program for the commands that go on to lower
//! it (`run`, `graph`): errors are printed and stop the command.

use crate::loader::FsLoader;
use dlp_compiler::{compile, lower, render, Compilation, CompiledProgram, Diagnostic, Loc};
use std::io::IsTerminal;
use std::path::Path;

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
    let name = path.display().to_string();
    let text = match read(path) {
        Ok(t) => t,
        Err(message) => {
            tell!("{message}");
            return None;
        }
    };
    let comp = compile(&name, &text, &mut FsLoader);
    for d in &comp.diagnostics {
        tell_raw!("{}", render(d, &comp.program.sources, color()));
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

/// Prints a diagnostic found after checking (while lowering).
pub fn report(comp: &Compilation, d: &Diagnostic) {
    tell_raw!("{}", render(d, &comp.program.sources, color()));
}

/// The compiled program of train block `train` (the first when `None`),
/// or `None` after printing why not.
pub fn compiled(comp: &Compilation, train: Option<&str>) -> Option<CompiledProgram> {
    match lower::compile(comp, train) {
        Ok(program) => Some(program),
        Err(e) => {
            let fallback = Loc::new(comp.program.modules[0].file, Default::default());
            report(comp, &e.diagnostic(fallback));
            None
        }
    }
}

/// The program's own files (not the stdlib), named relative to the root
/// file's folder, for the run record.
pub fn files(comp: &Compilation, root: &Path) -> Vec<(String, String)> {
    let base = root.parent().unwrap_or(Path::new(""));
    comp.program
        .sources
        .iter()
        .filter(|(_, f)| !f.is_stdlib)
        .map(|(_, f)| {
            let p = Path::new(&f.name);
            let rel = p.strip_prefix(base).unwrap_or(p);
            (rel.display().to_string(), f.text.clone())
        })
        .collect()
}
