//! `dlpc fmt`.
//!
//! A file is rewritten atomically: the formatted text goes to a temporary
//! file beside it (`<name>.fmt-tmp`), which is then renamed over it, so a
//! crash never leaves a half-written program. A rename replaces a directory
//! entry, so:
//! - the entry renamed over must be the real file, not a symlink to it
//!   (the link stays a link and its target is formatted);
//! - the temporary file first gets the file's permissions (else the file
//!   would end up with a new file's default mode) and, where allowed, its
//!   owner.
//!
//! The temporary file never outlives the run: it is removed when writing
//! fails, and one left by a killed run is removed before writing.

use dlp_compiler::load::syntax_error;
use dlp_compiler::{render, FileId, SourceFile, SourceMap};
use dlp_grammar::lines::plain;
use std::io::Write;
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
    if !check {
        remove_stale_temp(path);
    }
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
        // Diff the lines without their endings: a `\r` shown raw would
        // overwrite the line on a terminal. The diff is the command's
        // output (stdout, for `> fmt.patch`); the verdict goes to stderr.
        let (before, after) = (plain(&text), plain(&formatted));
        if before == after {
            return Err(format!(
                "error: {name} is not formatted: its line endings are mixed, or end with a lone `\\r`; fmt writes them all as the first line's\n"
            ));
        }
        let diff = similar::TextDiff::from_lines(&before, &after);
        say_raw!(
            "{}",
            diff.unified_diff()
                .header(&name, &format!("{name} (formatted)"))
        );
        return Err(format!("error: {name} is not formatted\n"));
    }
    write_atomically(path, &formatted).map_err(|e| format!("error: cannot write {name}: {e}\n"))
}

/// Writes `text` to the file `path` names, through any symlinks: beside the
/// real file, with its permissions, then renamed over it.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let target = std::fs::canonicalize(path)?;
    let metadata = std::fs::metadata(&target)?;
    let mut tmp = TempFile::create(temp_path(&target))?;
    tmp.file.write_all(text.as_bytes())?;
    keep_owner(&tmp.file, &metadata);
    tmp.file.set_permissions(metadata.permissions())?;
    tmp.file.sync_all()?;
    tmp.rename_to(&target)
}

/// Gives the new file the old one's owner and group where the user may
/// (root may, others only their own groups); else it stays the user's.
#[cfg(unix)]
fn keep_owner(file: &std::fs::File, old: &std::fs::Metadata) {
    use std::os::unix::fs::MetadataExt;
    let _ = std::os::unix::fs::fchown(file, Some(old.uid()), Some(old.gid()));
}

#[cfg(not(unix))]
fn keep_owner(_file: &std::fs::File, _old: &std::fs::Metadata) {}

/// `model.dlp` is written through `model.dlp.fmt-tmp`.
fn temp_path(target: &Path) -> PathBuf {
    let mut name = target.file_name().unwrap_or_default().to_os_string();
    name.push(".fmt-tmp");
    target.with_file_name(name)
}

/// The temporary file of a run that was killed before it could remove it.
fn remove_stale_temp(path: &Path) {
    if let Ok(target) = std::fs::canonicalize(path) {
        let _ = std::fs::remove_file(temp_path(&target));
    }
}

/// A temporary file, removed when dropped unless renamed: on every error
/// path, panics included.
struct TempFile {
    path: PathBuf,
    file: std::fs::File,
    renamed: bool,
}

impl TempFile {
    /// A new empty file at `path`. One there already was left by a killed
    /// run: it is replaced (and a symlink there is not followed).
    fn create(path: PathBuf) -> std::io::Result<TempFile> {
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        Ok(TempFile {
            path,
            file,
            renamed: false,
        })
    }

    fn rename_to(mut self, target: &Path) -> std::io::Result<()> {
        std::fs::rename(&self.path, target)?;
        self.renamed = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.renamed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        // Renaming a file over a folder that is not empty fails, root or not.
        let target = dir.path().join("model.dlp");
        std::fs::create_dir_all(target.join("inside")).expect("a folder");
        assert!(write_atomically(&target, "model M() {}\n").is_err());
        assert!(!temp_path(&target).exists());
    }
}
