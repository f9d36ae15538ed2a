//! Where the program's files live, for the editor: `file://` URIs for the
//! user's files, and the stdlib written to a cache folder.
//!
//! The stdlib is embedded in `dlpc`, so it has no file of its own. For
//! go-to-definition into it the server writes each module once per version
//! to `$XDG_CACHE_HOME/dlp/std-<version>/` (or `~/.cache/...`, or the system
//! temp folder) as read-only files and points the editor there. Plain files
//! work in every client, where a custom URI scheme needs client support.

use dlp_compiler::{Loader, SourceFile};
use lsp_types::Uri;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The folder the stdlib's files are written to.
pub fn default_std_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("dlp")
        .join(format!("std-{}", env!("CARGO_PKG_VERSION")))
}

/// The local path of a `file://` URI.
pub fn uri_to_path(uri: &str) -> Option<PathBuf> {
    let rest = uri.strip_prefix("file://")?;
    // `file://host/path` names another machine; only `file:///path` is ours.
    let path = rest.strip_prefix("localhost").unwrap_or(rest);
    if !path.starts_with('/') {
        return None;
    }
    Some(PathBuf::from(percent_decode(path)?))
}

pub fn path_to_uri(path: &Path) -> Option<Uri> {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().ok()?.join(path)
    };
    let text = absolute.to_str()?;
    Uri::from_str(&format!("file://{}", percent_encode(text))).ok()
}

fn percent_encode(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The stdlib's files on disk, written on first use.
pub struct StdFiles {
    dir: PathBuf,
    written: bool,
}

impl StdFiles {
    pub fn new(dir: PathBuf) -> StdFiles {
        StdFiles {
            dir,
            written: false,
        }
    }

    pub fn contains(&self, path: &Path) -> bool {
        path.starts_with(&self.dir)
    }

    /// The file that holds stdlib source `file` (named `<std>/nn.dlp`).
    pub fn path_of(&mut self, file: &SourceFile) -> Option<PathBuf> {
        let relative = file.name.strip_prefix("<std>/")?;
        if !self.written {
            self.write_all();
            self.written = true;
        }
        Some(self.dir.join(relative))
    }

    /// Writes each module unless an identical copy is there already.
    fn write_all(&self) {
        if std::fs::create_dir_all(&self.dir).is_err() {
            return;
        }
        for (name, text) in dlp_compiler::stdlib::MODULES {
            let path = self.dir.join(format!("{name}.dlp"));
            if std::fs::read_to_string(&path).is_ok_and(|old| old == *text) {
                continue;
            }
            let _ = std::fs::remove_file(&path);
            if std::fs::write(&path, text).is_ok() {
                if let Ok(meta) = std::fs::metadata(&path) {
                    let mut permissions = meta.permissions();
                    permissions.set_readonly(true);
                    let _ = std::fs::set_permissions(&path, permissions);
                }
            }
        }
    }
}

/// Finds user modules: the editor's open (maybe unsaved) text first, then
/// the disk. `use a.b.{x}` in `dir/main.dlp` reads `dir/a/b.dlp`.
pub struct EditorLoader<'d> {
    pub open: &'d HashMap<PathBuf, &'d str>,
}

impl Loader for EditorLoader<'_> {
    fn load(&mut self, from: &str, module: &[String]) -> Option<(String, String)> {
        let mut path = Path::new(from)
            .parent()
            .unwrap_or(Path::new(""))
            .to_path_buf();
        for segment in module {
            path.push(segment);
        }
        path.set_extension("dlp");
        let text = match self.open.get(&path) {
            Some(text) => text.to_string(),
            None => std::fs::read_to_string(&path).ok()?,
        };
        Some((path.display().to_string(), text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_round_trip_through_paths() {
        let path = Path::new("/tmp/my dir/é.dlp");
        let uri = path_to_uri(path).expect("a valid uri");
        assert_eq!(uri.as_str(), "file:///tmp/my%20dir/%C3%A9.dlp");
        assert_eq!(uri_to_path(uri.as_str()).as_deref(), Some(path));
        let other = Uri::from_str("untitled:Untitled-1").expect("a uri");
        assert_eq!(uri_to_path(other.as_str()), None);
    }
}
