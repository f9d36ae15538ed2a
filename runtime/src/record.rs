//! Run records: everything needed to understand, compare, resume and
//! reproduce a training run, under `runs/<id>/`:
//!
//! - `program/`: the `.dlp` files the run compiled (root and modules);
//! - `config.json`: the train block's resolved plan, the seed, the data
//!   files with their content hashes, the dlpc version, the start time;
//! - `metrics.jsonl`: one JSON object per line, per step, epoch and
//!   validation (no clock times, so the same seed gives the same file);
//! - `times.jsonl`: the wall-clock time of each of those lines, line for
//!   line (for trackers and for reading how long things took);
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
pub const TIMES: &str = "times.jsonl";
pub const SUMMARY: &str = "summary.json";
/// The confusion matrices of the final evaluation, when the metrics ask.
pub const CONFUSION: &str = "confusion.json";
pub const CHECKPOINTS: &str = "checkpoints";
pub const PROGRAM: &str = "program";
/// Present while a process writes the record: its process id.
pub const WRITER: &str = ".writer";

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

    /// Appends `lines` to `metrics.jsonl` and their times to
    /// `times.jsonl`, and syncs them to disk.
    pub fn log(&self, lines: &Lines) -> io::Result<()> {
        let (metrics, times): (Vec<String>, Vec<String>) = lines
            .entries
            .iter()
            .map(|(line, time)| (line.to_string(), time_line(line, *time).to_string()))
            .unzip();
        atomic::append_lines(&self.dir.join(METRICS), &metrics)?;
        atomic::append_lines(&self.dir.join(TIMES), &times)
    }

    /// Drops the log lines after `at` (work a crash or a stop threw away),
    /// so a resumed run's log continues where its checkpoint does.
    pub fn truncate_log_after(&self, at: LogPoint) -> io::Result<()> {
        for file in [METRICS, TIMES] {
            let path = self.dir.join(file);
            let text = match fs::read_to_string(&path) {
                Ok(text) => text,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let kept: Vec<&str> = text
                .lines()
                .filter(|l| {
                    serde_json::from_str::<Value>(l)
                        .ok()
                        .is_some_and(|v| at.keeps(&v))
                })
                .collect();
            let mut out = kept.join("\n");
            if !out.is_empty() {
                out.push('\n');
            }
            atomic::write(&path, out.as_bytes())?;
        }
        Ok(())
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

    /// Marks the record as being written by this process, until the mark
    /// is dropped (a killed process leaves a mark that names a dead one).
    pub fn mark_writing(&self) -> io::Result<WriterMark> {
        let path = self.dir.join(WRITER);
        atomic::write(&path, std::process::id().to_string().as_bytes())?;
        Ok(WriterMark { path })
    }

    /// The process writing the record now, if one is.
    pub fn writer(&self) -> Option<u32> {
        let path = self.dir.join(WRITER);
        let pid: u32 = fs::read_to_string(&path).ok()?.trim().parse().ok()?;
        let written = fs::metadata(&path).and_then(|m| m.modified()).ok()?;
        let alive = pid != std::process::id() && !atomic::writer_is_gone(pid, written);
        alive.then_some(pid)
    }

    pub fn checkpoint(&self, name: &str) -> PathBuf {
        self.dir
            .join(CHECKPOINTS)
            .join(format!("{name}.safetensors"))
    }
}

/// The mark of a record being written; removed when dropped.
pub struct WriterMark {
    path: PathBuf,
}

impl Drop for WriterMark {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Where a checkpoint leaves the log: after `epoch` complete epochs and,
/// for a checkpoint written mid-epoch (an interrupted run), `step` steps
/// in all.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LogPoint {
    pub epoch: u64,
    pub step: Option<u64>,
}

impl LogPoint {
    /// Whether a log line belongs before this point.
    fn keeps(&self, line: &Value) -> bool {
        let Some(epoch) = line.get("epoch").and_then(Value::as_u64) else {
            return false;
        };
        if epoch <= self.epoch {
            return true;
        }
        // The step lines of the epoch the checkpoint is in the middle of.
        let is_step = line.get("kind").and_then(Value::as_str) == Some("step");
        let step = line.get("step").and_then(Value::as_u64);
        match (self.step, step) {
            (Some(at), Some(step)) => is_step && epoch == self.epoch + 1 && step <= at,
            _ => false,
        }
    }
}

/// Lines for `metrics.jsonl`, each with the wall-clock time it was made.
#[derive(Clone, Debug, Default)]
pub struct Lines {
    entries: Vec<(Value, f64)>,
}

impl Lines {
    pub fn push(&mut self, line: Value) {
        self.entries
            .push((line, unix_seconds(std::time::SystemTime::now())));
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The `times.jsonl` line of a `metrics.jsonl` line made at `time`: its
/// kind, epoch and step, and the time.
fn time_line(line: &Value, time: f64) -> Value {
    let mut out = json!({"time": time});
    for key in ["kind", "epoch", "step"] {
        if let Some(v) = line.get(key) {
            out[key] = v.clone();
        }
    }
    out
}

/// Seconds since the Unix epoch.
pub fn unix_seconds(t: std::time::SystemTime) -> f64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
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

/// A run record as `dlpc runs` sees it.
pub struct Listed {
    pub record: RunRecord,
    pub config: Value,
    /// `None` while the run is going, or after it was killed.
    pub summary: Option<Value>,
    /// What is damaged: `config.json` or `summary.json` that cannot be
    /// read, with the file and the reason.
    pub damage: Option<String>,
    /// The process writing the record now.
    pub writer: Option<u32>,
}

impl Listed {
    /// `completed`, `stopped`, `stopped early`, `interrupted`, `failed`,
    /// `running` (a live process writes it), `killed` (no summary and no
    /// live writer: resumable from its last checkpoint) or `damaged`.
    pub fn status(&self) -> String {
        if self.damage.is_some() {
            return "damaged".into();
        }
        if self.writer.is_some() {
            return "running".into();
        }
        match &self.summary {
            Some(s) => s
                .get("status")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_string(),
            None => "killed".into(),
        }
    }
}

/// Every run record under `runs`, oldest first; a damaged one is listed
/// with what is damaged, never skipped.
pub fn list(runs: &Path) -> io::Result<Vec<Listed>> {
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
        out.push(listed(record));
    }
    out.sort_by(|a, b| a.record.id.cmp(&b.record.id));
    Ok(out)
}

/// "<file>: <why>" (a JSON error names its file already).
fn unreadable(path: &Path, e: &io::Error) -> String {
    if e.kind() == io::ErrorKind::InvalidData {
        e.to_string()
    } else {
        format!("{}: {e}", path.display())
    }
}

/// What `dlpc runs` reads of one record.
pub fn listed(record: RunRecord) -> Listed {
    let mut damage = None;
    let config = record.config().unwrap_or_else(|e| {
        damage = Some(unreadable(&record.dir.join(CONFIG), &e));
        Value::Null
    });
    let summary_path = record.dir.join(SUMMARY);
    let summary = match read_json(&summary_path) {
        Ok(s) => Some(s),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => {
            damage.get_or_insert(unreadable(&summary_path, &e));
            None
        }
    };
    let writer = record.writer();
    Listed {
        record,
        config,
        summary,
        damage,
        writer,
    }
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
            let mut lines = Lines::default();
            lines.push(json!({"kind": "step", "epoch": e, "step": 2 * e - 1}));
            lines.push(json!({"kind": "step", "epoch": e, "step": 2 * e}));
            lines.push(json!({"kind": "epoch", "epoch": e}));
            r.log(&lines).unwrap();
        }
        let count = |file: &str| {
            fs::read_to_string(r.dir.join(file))
                .unwrap()
                .lines()
                .count()
        };
        assert_eq!((count(METRICS), count(TIMES)), (9, 9));
        // Mid-epoch: epoch 3's first step stays, its second and its end go.
        r.truncate_log_after(LogPoint {
            epoch: 2,
            step: Some(5),
        })
        .unwrap();
        assert_eq!((count(METRICS), count(TIMES)), (7, 7));
        r.truncate_log_after(LogPoint {
            epoch: 2,
            step: None,
        })
        .unwrap();
        assert_eq!((count(METRICS), count(TIMES)), (6, 6));
        let times = fs::read_to_string(r.dir.join(TIMES)).unwrap();
        let last: Value = serde_json::from_str(times.lines().last().unwrap()).unwrap();
        assert_eq!(last["kind"], "epoch");
        assert!(last["time"].as_f64().unwrap() > 1.7e9);
        assert_eq!(
            fs::read_to_string(r.dir.join("program/a.dlp")).unwrap(),
            "x"
        );
    }

    #[test]
    fn finds_validations_by_epoch_and_skips_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let r = RunRecord::create(dir.path(), "t", &[], &json!({})).unwrap();
        let mut lines = Lines::default();
        lines.push(json!({"kind": "epoch", "epoch": 1}));
        lines.push(json!({"kind": "validate", "epoch": 2, "loss": 0.5}));
        r.log(&lines).unwrap();
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
