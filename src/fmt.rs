//! `dlpc fmt`.

use dlp_compiler::load::syntax_error;
use dlp_compiler::{render, FileId, SourceFile, SourceMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub fn run(files: &[PathBuf], check: bool) -> ExitCode {
    let mut failed = false;
    for path in files {
        if let Err(message) = format_file(path, check) {
            tell_raw!("{message}");
            failed = true;
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn format_file(path: &Path, check: bool) -> Result<(), String> {
    let name = path.display().to_string();
    let text = crate::program::read(path).map_err(|message| format!("{message}\n"))?;
    let formatted = dlp_grammar::format::format(&text).map_err(|errors| {
        let mut sources = SourceMap::default();
        let id: FileId = sources.add(SourceFile::new(&name, &text, false));
        let color = crate::program::color();
        let mut out: String = errors
            .iter()
            .map(|e| render(&syntax_error(id, e), &sources, color))
            .collect();
        out.push_str(&format!(
            "error: {name} was not formatted: fix its syntax first\n"
        ));
        out
    })?;
    if formatted == text {
        return Ok(());
    }
    if check {
        let diff = similar::TextDiff::from_lines(&text, &formatted);
        let shown = diff
            .unified_diff()
            .header(&name, &format!("{name} (formatted)"))
            .to_string();
        return Err(format!("{shown}error: {name} is not formatted\n"));
    }
    write_atomically(path, &formatted).map_err(|e| format!("error: cannot write {name}: {e}\n"))
}

/// Write beside, then rename: a crash never leaves a half-written program.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("dlp.fmt-tmp");
    std::fs::write(&tmp, text)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, path)
}
