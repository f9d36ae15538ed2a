//! Helpers shared by the end-to-end tests.

use std::path::{Path, PathBuf};

/// Every `.dlp` file directly in `dir` (relative to the repository root),
/// sorted, so that tests walk them in the same order everywhere.
pub fn dlp_files(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "dlp"))
        .collect();
    files.sort();
    files
}

/// The first `// needs:` path of a program's header (data installed by a
/// system package) that does not exist here.
#[allow(dead_code)] // not every test program that shares this module needs it
pub fn missing_data(text: &str) -> Option<String> {
    text.lines()
        .take_while(|l| l.starts_with("//"))
        .filter_map(|l| l.strip_prefix("// needs:"))
        .map(str::trim)
        .find(|p| !Path::new(p).exists())
        .map(str::to_string)
}
