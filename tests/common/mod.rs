//! Helpers shared by the end-to-end tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `dlpc args`, run to the end.
pub fn dlpc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dlpc"))
        .args(args)
        .output()
        .unwrap()
}

/// The standard output of `dlpc args`, which must succeed.
pub fn ok(args: &[&str]) -> String {
    let out = dlpc(args);
    assert!(
        out.status.success(),
        "dlpc {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The one run folder under `runs`.
pub fn only_run(runs: &Path) -> PathBuf {
    let mut dirs = std::fs::read_dir(runs).unwrap();
    let run = dirs.next().unwrap().unwrap().path();
    assert!(dirs.next().is_none(), "one run in {}", runs.display());
    run
}

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
