//! Run records: everything needed to understand, compare, resume and
//! reproduce a training run, under `runs/<id>/`:
//!
//! - `program/`: the `.dlp` files the run compiled (root and modules);
//! - `config.json`: the train block's resolved plan, the seed, the data
//!   files with their content hashes, the dlpc version, the start time;
//! - `metrics.jsonl`: one JSON object per line, per step, epoch and
//!   validation (no clock times, so the same seed gives the same file);
//! - `checkpoints/`: `last.safetensors` (every epoch), `best.safetensors`
//!   (`keep_best`), `epoch-N.safetensors` (`checkpoint_every`);
//! - `summary.json`: how the run ended and its final metrics.
//!
//! JSON files are written atomically; the log is appended and synced at
//! the end of every epoch, before the epoch's checkpoints, so a crash loses
//! only the unfinished epoch, which a resumed run repeats anyway. How the
//! checkpoints of an epoch are written as one set, and what a resumed run
//! completes, is in `train::start`.

use crate::atomic;
use serde_json::{json, Value};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

pub const CONFIG: &str = "config.json";
pub const METRICS: &str = "metrics.jsonl";
pub const SUMMARY: &str = "summary.json";
pub const CHECKPOINTS: &str = "checkpoints";
pub const PROGRAM: &str = "program";

pub struct RunRecord {
    pub id: String,
    pub dir: PathBuf,
}

impl RunRecord {
    /// A new, empty record `<runs>/<date>-<time>-<name>` (with a suffix if
    /// that exists already).
    pub fn create(
        runs: &Path,
        name: &str,
        program: &[(String, String)],
        config: &Value,
    ) -> io::Result<RunRecord> {
        fs::create_dir_all(runs)?;
        let stamp = utc_stamp(std::time::SystemTime::now());
        let mut id = format!("{stamp}-{name}");
        let mut n = 1;
        // create_dir fails if another run took the name: no two runs share a folder.
        while let Err(e) = fs::create_dir(runs.join(&id)) {
            if e.kind() != io::ErrorKind::AlreadyExists {
                return Err(e);
            }
            n += 1;
            id = format!("{stamp}-{name}-{n}");
        }
        let record = RunRecord {
            dir: runs.join(&id),
            id,
        };
        fs::create_dir_all(record.dir.join(PROGRAM))?;
        fs::create_dir_all(record.dir.join(CHECKPOINTS))?;
        for (file, text) in program {
            let path = record.dir.join(PROGRAM).join(file);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent)?;
            }
            atomic::write(&path, text.as_bytes())?;
        }
        record.write_json(CONFIG, config)?;
        Ok(record)
    }

    pub fn open(dir: &Path) -> io::Result<RunRecord> {
        if !dir.join(CONFIG).is_file() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} is not a run record (no {CONFIG})", dir.display()),
            ));
        }
        let id = dir.file_name().map_or_else(
            || dir.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        Ok(RunRecord {
            id,
            dir: dir.to_path_buf(),
        })
    }

    pub fn config(&self) -> io::Result<Value> {
        read_json(&self.dir.join(CONFIG))
    }

    pub fn write_json(&self, file: &str, value: &Value) -> io::Result<()> {
        let text = serde_json::to_string_pretty(value).map_err(io::Error::other)?;
        atomic::write(&self.dir.join(file), format!("{text}\n").as_bytes())
    }

    /// Appends lines to `metrics.jsonl` and syncs them to disk.
    pub fn log(&self, entries: &[Value]) -> io::Result<()> {
        let lines: Vec<String> = entries.iter().map(Value::to_string).collect();
        atomic::append_lines(&self.dir.join(METRICS), &lines)
    }

    /// Drops the log lines of epochs after `epoch` (work a crash or a stop
    /// threw away), so a resumed run's log continues where its checkpoint does.
    pub fn truncate_log_after(&self, epoch: u64) -> io::Result<()> {
        let path = self.dir.join(METRICS);
        let text = fs::read_to_string(&path).unwrap_or_default();
        let kept: Vec<&str> = text
            .lines()
            .filter(|l| {
                serde_json::from_str::<Value>(l)
                    .ok()
                    .and_then(|v| v.get("epoch").and_then(Value::as_u64))
                    .is_some_and(|e| e <= epoch)
            })
            .collect();
        let mut out = kept.join("\n");
        if !out.is_empty() {
            out.push('\n');
        }
        atomic::write(&path, out.as_bytes())
    }

    /// Whether the log holds a validation of `epoch`.
    pub fn validated_at(&self, epoch: u64) -> bool {
        let text = fs::read_to_string(self.dir.join(METRICS)).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .any(|v| {
                v.get("kind").and_then(Value::as_str) == Some("validate")
                    && v.get("epoch").and_then(Value::as_u64) == Some(epoch)
            })
    }

    /// Removes the temporary files that killed processes left in the record
    /// and its `checkpoints/` (never those of a live process), and returns
    /// how many. Called before this process writes to the record.
    pub fn remove_stale_temps(&self) -> io::Result<usize> {
        let mut removed = atomic::remove_stale_temps(&self.dir)?.len();
        removed += atomic::remove_stale_temps(&self.dir.join(CHECKPOINTS))?.len();
        Ok(removed)
    }

    pub fn checkpoint(&self, name: &str) -> PathBuf {
        self.dir
            .join(CHECKPOINTS)
            .join(format!("{name}.safetensors"))
    }
}

pub fn read_json(path: &Path) -> io::Result<Value> {
    let text = fs::read_to_string(path)?;
    serde_json::from_str(&text).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {e}", path.display()),
        )
    })
}

/// One line per run for `dlpc runs list`, oldest first.
pub fn list(runs: &Path) -> io::Result<Vec<(String, Value)>> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(runs) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let dir = entry?.path();
        let Ok(record) = RunRecord::open(&dir) else {
            continue;
        };
        let summary =
            read_json(&dir.join(SUMMARY)).unwrap_or(json!({"status": "running or interrupted"}));
        out.push((record.id, summary));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// `YYYYMMDD-HHMMSS` in UTC.
pub fn utc_stamp(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_417), (2025, 11, 25));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn truncating_keeps_earlier_epochs() {
        let dir = tempfile::tempdir().unwrap();
        let r = RunRecord::create(dir.path(), "t", &[("a.dlp".into(), "x".into())], &json!({}))
            .unwrap();
        for e in 1..=3 {
            r.log(&[json!({"kind": "epoch", "epoch": e})]).unwrap();
        }
        r.truncate_log_after(2).unwrap();
        let text = fs::read_to_string(r.dir.join(METRICS)).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert_eq!(
            fs::read_to_string(r.dir.join("program/a.dlp")).unwrap(),
            "x"
        );
    }

    #[test]
    fn finds_validations_by_epoch_and_skips_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let r = RunRecord::create(dir.path(), "t", &[], &json!({})).unwrap();
        r.log(&[
            json!({"kind": "epoch", "epoch": 1}),
            json!({"kind": "validate", "epoch": 2, "loss": 0.5}),
        ])
        .unwrap();
        atomic::append_lines(&r.dir.join(METRICS), &[r#"{"kind":"validate","ep"#.into()]).unwrap();
        assert!(!r.validated_at(1));
        assert!(r.validated_at(2));
        assert!(!r.validated_at(3));
    }

    #[test]
    fn removes_temporary_files_of_dead_writers_from_the_record() {
        let dir = tempfile::tempdir().unwrap();
        let r = RunRecord::create(dir.path(), "t", &[], &json!({})).unwrap();
        let stale = [
            r.dir.join(".metrics.jsonl.tmp-4000000000"),
            r.dir
                .join(CHECKPOINTS)
                .join(".last.safetensors.tmp-4000000000"),
        ];
        for p in &stale {
            fs::write(p, b"x").unwrap();
        }
        assert_eq!(r.remove_stale_temps().unwrap(), 2);
        assert!(stale.iter().all(|p| !p.exists()));
        assert!(r.dir.join(CONFIG).is_file());
    }
}
