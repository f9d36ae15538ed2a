//! The programs two runs compiled: a unified line diff of each `.dlp` file
//! under their `program/` folders.

use dlp_runtime::record::{self, RunRecord};
use similar::TextDiff;
use std::collections::BTreeMap;
use std::path::Path;

/// Prints the program section; returns whether the programs are the same.
pub fn print(a: &RunRecord, b: &RunRecord) -> bool {
    let (files_a, files_b) = match (program_files(a), program_files(b)) {
        (Ok(files_a), Ok(files_b)) => (files_a, files_b),
        (Err(e), _) | (_, Err(e)) => {
            say!("program: cannot compare ({e})");
            return false;
        }
    };
    let names: Vec<&String> = files_a
        .keys()
        .chain(files_b.keys().filter(|name| !files_a.contains_key(*name)))
        .collect();
    let changed: Vec<&String> = names
        .iter()
        .copied()
        .filter(|name| files_a.get(*name) != files_b.get(*name))
        .collect();
    if changed.is_empty() {
        let all: Vec<&str> = names.iter().map(|n| n.as_str()).collect();
        say!("program: the same ({})", all.join(", "));
        return true;
    }
    say!("program:");
    for name in changed {
        match (files_a.get(name), files_b.get(name)) {
            (Some(text_a), Some(text_b)) => {
                let diff = TextDiff::from_lines(text_a, text_b);
                let shown = diff
                    .unified_diff()
                    .header(&format!("A/{name}"), &format!("B/{name}"))
                    .to_string();
                say!("{}", shown.trim_end());
            }
            (Some(_), None) => say!("only in A: {name}"),
            (None, Some(_)) => say!("only in B: {name}"),
            (None, None) => {}
        }
    }
    false
}

/// The record's `.dlp` files by their name under `program/` (`/`-separated).
fn program_files(run: &RunRecord) -> Result<BTreeMap<String, String>, String> {
    let root = run.dir.join(record::PROGRAM);
    let mut files = BTreeMap::new();
    collect(&root, "", &mut files)?;
    Ok(files)
}

fn collect(dir: &Path, prefix: &str, files: &mut BTreeMap<String, String>) -> Result<(), String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        let path = entry.path();
        let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
        if path.is_dir() {
            collect(&path, &format!("{name}/"), files)?;
        } else if path.extension().is_some_and(|e| e == "dlp") {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            files.insert(name, text);
        }
    }
    Ok(())
}
