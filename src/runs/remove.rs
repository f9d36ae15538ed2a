//! `dlpc runs rm` (delete runs) and `dlpc runs gc` (delete the
//! checkpoints of single epochs, keeping `best` and `last`).

use dlp_runtime::record::{self, RunRecord, CHECKPOINTS};
use std::fs;
use std::path::Path;
use std::process::ExitCode;

/// Deletes each run; one that a live process is writing only with `force`.
pub fn rm(runs: &Path, ids: &[String], force: bool) -> ExitCode {
    let mut failed = false;
    for id in ids {
        let record = match super::open(runs, id) {
            Ok(r) => r,
            Err(e) => {
                tell!("error: {e}");
                failed = true;
                continue;
            }
        };
        if let (Some(pid), false) = (record.writer(), force) {
            tell!(
                "error: run `{}` is being written by process {pid}: stop it first, or add `--force`",
                record.id
            );
            failed = true;
            continue;
        }
        let bytes = size_of(&record.dir);
        match fs::remove_dir_all(&record.dir) {
            Ok(()) => say!("removed {} ({})", record.dir.display(), size(bytes)),
            Err(e) => {
                tell!("error: cannot remove {}: {e}", record.dir.display());
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Deletes the `epoch-N` checkpoints of the given runs (every run when
/// none is given), keeping `last` (to resume) and `best`; runs being
/// written are left alone.
pub fn gc(runs: &Path, ids: &[String], dry_run: bool) -> ExitCode {
    let records: Vec<RunRecord> = if ids.is_empty() {
        match record::list(runs) {
            Ok(l) => l.into_iter().map(|l| l.record).collect(),
            Err(e) => {
                tell!("error: cannot read {}: {e}", runs.display());
                return ExitCode::FAILURE;
            }
        }
    } else {
        let mut records = Vec::new();
        for id in ids {
            match super::open(runs, id) {
                Ok(r) => records.push(r),
                Err(e) => {
                    tell!("error: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        records
    };
    let (mut files, mut freed) = (0, 0);
    for record in &records {
        if let Some(pid) = record.writer() {
            say!("skipped {} (being written by process {pid})", record.id);
            continue;
        }
        for path in epoch_checkpoints(&record.dir) {
            let bytes = fs::metadata(&path).map_or(0, |m| m.len());
            if !dry_run {
                if let Err(e) = fs::remove_file(&path) {
                    tell!("error: cannot remove {}: {e}", path.display());
                    return ExitCode::FAILURE;
                }
            }
            files += 1;
            freed += bytes;
        }
    }
    say!(
        "{} {files} epoch checkpoint{} ({}) of {} run{}; `best` and `last` kept",
        if dry_run { "would remove" } else { "removed" },
        if files == 1 { "" } else { "s" },
        size(freed),
        records.len(),
        if records.len() == 1 { "" } else { "s" },
    );
    ExitCode::SUCCESS
}

/// `checkpoints/epoch-N.safetensors` of a run.
fn epoch_checkpoints(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found: Vec<_> = fs::read_dir(dir.join(CHECKPOINTS))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("epoch-") && n.ends_with(".safetensors"))
                })
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// Bytes under `dir`, recursively.
fn size_of(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| match e.file_type() {
                    Ok(t) if t.is_dir() => size_of(&e.path()),
                    _ => e.metadata().map_or(0, |m| m.len()),
                })
                .sum()
        })
        .unwrap_or(0)
}

/// `3.2 MB`.
fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} kB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}
