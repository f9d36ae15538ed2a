//! Exporting a run record to experiment trackers: an MLflow file store
//! ([`mlflow()`]) and TensorBoard event files ([`tensorboard()`]).
//!
//! Both exporters read the record once, through [`Record::read`], into the
//! same scalar series, so that a curve has the same values in both tools:
//!
//! | log line | series (MLflow name / TensorBoard tag) | step |
//! | --- | --- | --- |
//! | `step` | `loss`, `lr` | the step |
//! | `epoch` | `train_<m>` / `train/<m>` for `loss` and each metric | the epoch |
//! | `validate` | `val_<m>` / `val/<m>` | the epoch |
//! | `summary.json`'s `final` | `final_<data>_<m>` / `final/<data>/<m>` | the last epoch |
//!
//! Timestamps come from `times.jsonl` (one line per log line); lines it
//! does not cover (a kill between the two appends) get its last time. A
//! record of an older dlpc has none: every scalar gets the run's start
//! time (`config.json`'s `started_unix`, else its `started` stamp), since
//! the log itself holds no clock times.
//!
//! Reading never panics on a damaged record: every error names the file
//! (and the line, for the logs).

pub mod mlflow;
pub mod tensorboard;

pub use self::mlflow::mlflow;
pub use self::tensorboard::tensorboard;

use crate::record::{self, RunRecord};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// What an export wrote, for `dlpc runs export` to print.
#[derive(Debug, Clone)]
pub struct Exported {
    /// The run folder (MLflow) or the event file (TensorBoard).
    pub path: PathBuf,
    /// The MLflow run id, or the event file's name.
    pub id: String,
    /// Scalar values written (metric lines, or summary values).
    pub scalars: usize,
    /// How many series they form.
    pub series: usize,
    /// What the reader had to work around (a torn last log line, no
    /// `times.jsonl`), one sentence each.
    pub notes: Vec<String>,
}

/// One series' names in both tools.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The MLflow metric name: `loss`, `train_accuracy`, `final_iris.test_loss`.
    pub name: String,
    /// The TensorBoard tag: `loss`, `train/accuracy`, `final/iris.test/loss`.
    pub tag: String,
}

/// One value of a series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scalar {
    /// Index into [`Record::series`].
    pub series: usize,
    pub step: i64,
    /// `NaN` where the log has `null` (a loss that was not finite).
    pub value: f64,
    /// Unix time in seconds.
    pub time: f64,
}

/// A run record as the exporters see it.
#[derive(Debug)]
pub struct Record {
    pub id: String,
    pub dir: PathBuf,
    /// `config.json`, an object.
    pub config: Map<String, Value>,
    /// `summary.json`, absent while the run is going or after a kill.
    pub summary: Option<Map<String, Value>>,
    /// Unix time in seconds.
    pub start: f64,
    /// Unix time in seconds; `None` while a process is writing the record.
    pub end: Option<f64>,
    /// Whether a live process is writing the record (its `.writer` mark).
    pub running: bool,
    /// The last epoch the run reached (the step of the `final` series).
    pub last_epoch: i64,
    pub series: Vec<Series>,
    /// In log order, then the final metrics.
    pub scalars: Vec<Scalar>,
    pub notes: Vec<String>,
}

/// One line of `metrics.jsonl` or `times.jsonl`, with its line number.
struct Line {
    number: usize,
    entry: Map<String, Value>,
}

impl Record {
    pub fn read(dir: &Path) -> Result<Record, String> {
        let rec = RunRecord::open(dir).map_err(|e| e.to_string())?;
        let config = read_object(&dir.join(record::CONFIG))?;
        let summary_path = dir.join(record::SUMMARY);
        let summary = if summary_path.exists() {
            Some(read_object(&summary_path)?)
        } else {
            None
        };
        let mut notes = Vec::new();
        let start = start_time(&config)
            .map_err(|e| format!("{}: {e}", dir.join(record::CONFIG).display()))?;
        let lines = read_lines(&dir.join(record::METRICS), &mut notes)?;
        let times = read_times(dir, &lines, start, &mut notes)?;

        let mut builder = Builder::default();
        let mut last_time = None;
        let mut last_epoch = 0;
        for (i, line) in lines.iter().enumerate() {
            let time = times
                .as_ref()
                .and_then(|t| t.get(i).copied())
                .unwrap_or(start);
            last_time = Some(time);
            let path = dir.join(record::METRICS);
            let at = |what: &str| format!("{}:{}: {what}", path.display(), line.number);
            let kind = line
                .entry
                .get("kind")
                .and_then(Value::as_str)
                .ok_or_else(|| at("no `kind`"))?;
            // Which fields are not scalars, and the series' prefixes.
            let (skip, name, tag): (&[&str], &str, &str) = match kind {
                "step" => (&["kind", "epoch", "step"], "", ""),
                "epoch" => (&["kind", "epoch", "steps"], "train_", "train/"),
                "validate" => (&["kind", "epoch", "data"], "val_", "val/"),
                // A kind this dlpc does not know (a newer record): not a series.
                _ => continue,
            };
            let epoch = int_field(&line.entry, "epoch").ok_or_else(|| at("no `epoch`"))?;
            last_epoch = last_epoch.max(epoch);
            let step = if kind == "step" {
                int_field(&line.entry, "step").ok_or_else(|| at("a `step` line without `step`"))?
            } else {
                epoch
            };
            builder.add_line(&line.entry, skip, name, tag, step, time);
        }
        if let Some(epochs) = summary.as_ref().and_then(|s| int_field(s, "epochs")) {
            last_epoch = epochs;
        }
        // A run without a summary and without a live writer was killed:
        // it ended with its last log line.
        let running = summary.is_none() && rec.writer().is_some();
        let end = (!running).then(|| {
            let seconds = summary
                .as_ref()
                .and_then(|s| s.get("seconds"))
                .and_then(Value::as_f64);
            match (&times, last_time, seconds) {
                (Some(_), Some(t), _) => t,
                (_, _, Some(secs)) if secs.is_finite() => start + secs,
                _ => last_time.unwrap_or(start),
            }
        });
        if let Some(Value::Object(finals)) = summary.as_ref().and_then(|s| s.get("final")) {
            let time = end.unwrap_or(start);
            for (data, metrics) in finals {
                if let Value::Object(metrics) = metrics {
                    let name = format!("final_{data}_");
                    let tag = format!("final/{data}/");
                    builder.add_line(metrics, &[], &name, &tag, last_epoch, time);
                }
            }
        }
        Ok(Record {
            id: rec.id,
            dir: dir.to_path_buf(),
            config,
            summary,
            start,
            end,
            running,
            last_epoch,
            series: builder.series,
            scalars: builder.scalars,
            notes,
        })
    }

    /// The run's status as `summary.json` says it; without a summary,
    /// `running` or `interrupted` (killed).
    pub fn status(&self) -> &str {
        match &self.summary {
            Some(s) => s.get("status").and_then(Value::as_str).unwrap_or("unknown"),
            None if self.running => "running",
            None => "interrupted",
        }
    }

    /// A string from `config.json`.
    pub fn config_str(&self, key: &str) -> Option<&str> {
        self.config.get(key).and_then(Value::as_str)
    }
}

#[derive(Default)]
struct Builder {
    series: Vec<Series>,
    index: HashMap<String, usize>,
    scalars: Vec<Scalar>,
}

impl Builder {
    /// A scalar for every number (or `null`) in `entry` not in `skip`, in
    /// the series `<name_prefix><key>` / `<tag_prefix><key>`.
    fn add_line(
        &mut self,
        entry: &Map<String, Value>,
        skip: &[&str],
        name_prefix: &str,
        tag_prefix: &str,
        step: i64,
        time: f64,
    ) {
        for (key, value) in entry {
            if skip.contains(&key.as_str()) {
                continue;
            }
            let value = match value {
                Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
                // The log writes a loss that was not finite as `null`.
                Value::Null => f64::NAN,
                // Strings, booleans and objects are not scalars.
                _ => continue,
            };
            let name = metric_name(&format!("{name_prefix}{key}"));
            let series = match self.index.get(&name) {
                Some(&i) => i,
                None => {
                    self.series.push(Series {
                        name: name.clone(),
                        tag: format!("{tag_prefix}{key}"),
                    });
                    self.index.insert(name, self.series.len() - 1);
                    self.series.len() - 1
                }
            };
            self.scalars.push(Scalar {
                series,
                step,
                value,
                time,
            });
        }
    }
}

/// A name MLflow accepts for a metric, parameter or tag on every platform
/// (letters, digits, `_`, `-`, `.`, spaces; no `/`, which would make a
/// subfolder, nor `:`, which Windows refuses), at most 250 characters.
pub fn metric_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ' ') {
                c
            } else {
                '_'
            }
        })
        .take(250)
        .collect();
    // `.` and `..` would name folders, not files.
    if out.is_empty() || out.chars().all(|c| c == '.') {
        out.insert(0, '_');
    }
    out
}

fn int_field(entry: &Map<String, Value>, key: &str) -> Option<i64> {
    entry.get(key).and_then(Value::as_i64)
}

/// A JSON file that must hold an object.
fn read_object(path: &Path) -> Result<Map<String, Value>, String> {
    match record::read_json(path) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(_) => Err(format!("{}: not a JSON object", path.display())),
        // read_json names the file for bad JSON, not for an I/O error.
        Err(e) if e.kind() == io::ErrorKind::InvalidData => Err(e.to_string()),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// The lines of a JSON-lines log, each an object. A missing file has no
/// lines. A last line that does not parse and has no newline is what a
/// kill in the middle of an append leaves: it is skipped, with a note;
/// any other damaged line is an error naming the file and line.
fn read_lines(path: &Path, notes: &mut Vec<String>) -> Result<Vec<Line>, String> {
    let text = match fs::read(path) {
        Ok(bytes) => {
            String::from_utf8(bytes).map_err(|_| format!("{}: not UTF-8 text", path.display()))?
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let count = text.lines().count();
    let mut lines = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let number = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(entry)) => lines.push(Line { number, entry }),
            Ok(_) => return Err(format!("{}:{number}: not a JSON object", path.display())),
            Err(_) if number == count && !text.ends_with('\n') => notes.push(format!(
                "{}:{number}: skipped a torn last line (the run was killed while writing it)",
                path.display()
            )),
            Err(e) => return Err(format!("{}:{number}: {e}", path.display())),
        }
    }
    Ok(lines)
}

/// Each log line's clock time from `times.jsonl`; `None`, with a note,
/// for a record without one. The two files are appended one after the
/// other, so a kill can leave `times.jsonl` behind the log: lines past
/// where it matches the log (kind, epoch and step) get the last time it
/// gave (or the start), with a note.
fn read_times(
    dir: &Path,
    lines: &[Line],
    start: f64,
    notes: &mut Vec<String>,
) -> Result<Option<Vec<f64>>, String> {
    let path = dir.join(record::TIMES);
    if !path.exists() {
        if !lines.is_empty() {
            notes.push(format!(
                "no {} (a record of an older dlpc): every timestamp is the run's start time",
                record::TIMES
            ));
        }
        return Ok(None);
    }
    let times = read_lines(&path, notes)?;
    let mut out = Vec::with_capacity(lines.len());
    for (line, t) in lines.iter().zip(&times) {
        let same = |key: &str| t.entry.get(key) == line.entry.get(key);
        if !same("kind") || !same("epoch") || !same("step") {
            break;
        }
        match t.entry.get("time").and_then(Value::as_f64) {
            Some(time) if time.is_finite() => out.push(time),
            _ => return Err(format!("{}:{}: no `time`", path.display(), t.number)),
        }
    }
    if out.len() < lines.len() {
        notes.push(format!(
            "{} matches the first {} of the log's {} lines: later lines get the time of the last",
            path.display(),
            out.len(),
            lines.len()
        ));
        let last = out.last().copied().unwrap_or(start);
        out.resize(lines.len(), last);
    }
    Ok(Some(out))
}

/// The run's start, in Unix seconds: `started_unix`, else the `started`
/// stamp (`YYYYMMDD-HHMMSS`, UTC).
fn start_time(config: &Map<String, Value>) -> Result<f64, String> {
    if let Some(t) = config.get("started_unix").and_then(Value::as_f64) {
        if t.is_finite() {
            return Ok(t);
        }
    }
    let stamp = config
        .get("started")
        .and_then(Value::as_str)
        .ok_or("no `started` time")?;
    parse_stamp(stamp)
        .map(|s| s as f64)
        .ok_or_else(|| format!("`started` is `{stamp}`, not a YYYYMMDD-HHMMSS time"))
}

/// Unix seconds of a `YYYYMMDD-HHMMSS` UTC stamp ([`record::utc_stamp`]).
pub fn parse_stamp(stamp: &str) -> Option<i64> {
    let (date, time) = stamp.split_once('-')?;
    if date.len() != 8
        || time.len() != 6
        || !(date.to_owned() + time).bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let num = |s: &str| s.parse::<i64>().ok();
    let (y, m, d) = (num(&date[..4])?, num(&date[4..6])?, num(&date[6..])?);
    let (h, min, s) = (num(&time[..2])?, num(&time[2..4])?, num(&time[4..])?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || h > 23 || min > 59 || s > 60 {
        return None;
    }
    Some(days_from_civil(y, m, d) * 86_400 + h * 3600 + min * 60 + s)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (the inverse of
/// Howard Hinnant's `civil_from_days`, which `record` uses).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Writes a file and syncs it (the exporters stage whole folders, then
/// rename them into place: the files must be on disk before the rename).
fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    let mut f =
        fs::File::create(path).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// A hand-made record: two steps and an epoch with validation, a
    /// program, a checkpoint and a summary; `times` adds `times.jsonl`.
    pub fn sample_record(root: &Path, times: bool) -> PathBuf {
        let dir = root.join("20261125-083451-tiny");
        fs::create_dir_all(dir.join("program/lib")).unwrap();
        fs::create_dir_all(dir.join("checkpoints")).unwrap();
        let config = json!({
            "train": "tiny", "program": "tiny.dlp", "seed": 7, "dlpc": "0.1.0",
            "started": "20261125-083451", "device": "cpu", "backend": "cpu", "threads": 2,
            "adapter": null,
            "data": [{"file": "data/x.csv", "hash": "sha256:abc"}],
            "plan": {
                "name": "tiny", "model": "Mlp(hidden = 4)", "batch": 2, "epochs": 1,
                "steps": null, "seed": 7, "patience": null,
                "data": {"dataset": "x", "split": "train"},
                "validate": {"dataset": "x", "split": "test"},
                "metrics": ["accuracy"],
                "optimizer": {"kind": "sgd", "lr": 0.1, "momentum": 0.0},
                "schedule": {"kind": "constant"},
                "params": [{"path": "w", "dtype": "f32", "shape": [4, 2], "init": {"kind": "zeros"}},
                           {"path": "b", "dtype": "f32", "shape": [2], "init": {"kind": "zeros"}}]
            },
            "overrides": {"optimizer.lr": "0.1"}
        });
        fs::write(dir.join("config.json"), config.to_string()).unwrap();
        let log = [
            json!({"kind": "step", "epoch": 1, "step": 1, "loss": 0.75, "lr": 0.1}),
            json!({"kind": "step", "epoch": 1, "step": 2, "loss": null, "lr": 0.1}),
            json!({"kind": "epoch", "epoch": 1, "steps": 2, "loss": 0.5, "accuracy": 0.25}),
            json!({"kind": "validate", "epoch": 1, "data": "x.test", "loss": 0.625, "accuracy": 0.5}),
        ];
        let text: String = log.iter().map(|l| format!("{l}\n")).collect();
        fs::write(dir.join("metrics.jsonl"), text).unwrap();
        if times {
            let t = [
                json!({"kind": "step", "epoch": 1, "step": 1, "time": 1_795_595_692.25}),
                json!({"kind": "step", "epoch": 1, "step": 2, "time": 1_795_595_692.5}),
                json!({"kind": "epoch", "epoch": 1, "time": 1_795_595_693.0}),
                json!({"kind": "validate", "epoch": 1, "time": 1_795_595_693.125}),
            ];
            let text: String = t.iter().map(|l| format!("{l}\n")).collect();
            fs::write(dir.join(record::TIMES), text).unwrap();
        }
        let summary = json!({
            "run": "20261125-083451-tiny", "train": "tiny", "status": "completed",
            "epochs": 1, "steps": 2, "seconds": 2.5, "best_validation_loss": 0.625,
            "final": {"x.test": {"accuracy": 0.5, "loss": 0.625}}
        });
        fs::write(dir.join("summary.json"), summary.to_string()).unwrap();
        fs::write(dir.join("program/tiny.dlp"), "train tiny {}\n").unwrap();
        fs::write(dir.join("program/lib/util.dlp"), "// a module\n").unwrap();
        fs::write(dir.join("checkpoints/last.safetensors"), b"weights").unwrap();
        fs::write(dir.join("checkpoints/epoch-1.safetensors"), b"weights").unwrap();
        dir
    }

    fn names(r: &Record) -> Vec<&str> {
        r.series.iter().map(|s| s.name.as_str()).collect()
    }

    #[test]
    fn reads_the_series_of_a_record() {
        let root = tempfile::tempdir().unwrap();
        let r = Record::read(&sample_record(root.path(), false)).unwrap();
        assert_eq!(
            names(&r),
            [
                "loss",
                "lr",
                "train_accuracy",
                "train_loss",
                "val_accuracy",
                "val_loss",
                "final_x.test_accuracy",
                "final_x.test_loss"
            ]
        );
        assert_eq!(r.series[6].tag, "final/x.test/accuracy");
        assert_eq!(r.series[2].tag, "train/accuracy");
        assert_eq!(r.scalars.len(), 4 + 2 + 2 + 2);
        // Step 2's loss was not finite.
        assert!(r.scalars[2].value.is_nan() && r.scalars[2].step == 2);
        // Without times.jsonl, every scalar is at the start.
        let start = parse_stamp("20261125-083451").unwrap() as f64;
        let (log, finals) = r.scalars.split_at(8);
        assert!(log.iter().all(|s| s.time == start));
        // The final metrics are at the end: the start and the run's seconds.
        assert_eq!(r.end, Some(start + 2.5));
        assert!(finals.iter().all(|s| s.time == start + 2.5 && s.step == 1));
        assert!(
            r.notes.iter().any(|n| n.contains("times.jsonl")),
            "{:?}",
            r.notes
        );
    }

    #[test]
    fn takes_timestamps_from_times_jsonl_when_it_matches() {
        let root = tempfile::tempdir().unwrap();
        let dir = sample_record(root.path(), true);
        let r = Record::read(&dir).unwrap();
        assert!(r.notes.is_empty(), "{:?}", r.notes);
        assert_eq!(r.scalars[0].time, 1_795_595_692.25);
        assert_eq!(r.end, Some(1_795_595_693.125));
        // The final metrics are at the end.
        assert_eq!(r.scalars.last().unwrap().time, 1_795_595_693.125);

        // A times.jsonl that stops matching the log (a kill between the
        // two appends) gives its times up to there.
        let text = fs::read_to_string(dir.join(record::TIMES)).unwrap();
        fs::write(
            dir.join(record::TIMES),
            text.replace("\"step\":2", "\"step\":3"),
        )
        .unwrap();
        let r = Record::read(&dir).unwrap();
        assert!(
            r.notes[0].contains("matches the first 1 of the log's 4 lines"),
            "{:?}",
            r.notes
        );
        let times: Vec<f64> = r.scalars.iter().map(|s| s.time).collect();
        assert!(times.iter().all(|&t| t == 1_795_595_692.25), "{times:?}");
    }

    #[test]
    fn a_damaged_line_names_the_file_and_line_and_a_torn_last_one_is_skipped() {
        let root = tempfile::tempdir().unwrap();
        let dir = sample_record(root.path(), false);
        let log = dir.join("metrics.jsonl");
        let good = fs::read_to_string(&log).unwrap();
        fs::write(&log, format!("{good}{{\"kind\":\"st")).unwrap();
        let r = Record::read(&dir).unwrap();
        assert_eq!(r.scalars.len(), 10);
        assert!(r
            .notes
            .iter()
            .any(|n| n.contains("metrics.jsonl:5: skipped a torn")));

        let mut lines: Vec<&str> = good.lines().collect();
        lines[1] = "{oops";
        fs::write(&log, lines.join("\n") + "\n").unwrap();
        let e = Record::read(&dir).unwrap_err();
        assert!(e.contains("metrics.jsonl:2:"), "{e}");

        fs::write(&log, "{\"kind\":\"step\",\"epoch\":1,\"loss\":1}\n").unwrap();
        let e = Record::read(&dir).unwrap_err();
        assert!(
            e.contains("metrics.jsonl:1: a `step` line without `step`"),
            "{e}"
        );
    }

    #[test]
    fn reads_numbers_to_the_exact_f64_written() {
        // One the default parser of serde_json reads one unit off.
        let v: Value = serde_json::from_str("0.9498156905174255").unwrap();
        assert_eq!(v.as_f64(), Some(0.949_815_690_517_425_5));
        assert_eq!(
            v.as_f64().map(|x| x.to_string()).as_deref(),
            Some("0.9498156905174255")
        );
    }

    #[test]
    fn a_folder_without_config_is_not_a_run_record() {
        let root = tempfile::tempdir().unwrap();
        let e = Record::read(root.path()).unwrap_err();
        assert!(e.contains("is not a run record"), "{e}");
        fs::write(root.path().join("config.json"), "[1]").unwrap();
        let e = Record::read(root.path()).unwrap_err();
        assert!(e.contains("config.json: not a JSON object"), "{e}");
    }

    #[test]
    fn parses_start_stamps() {
        for secs in [0u64, 951_782_400, 1_795_595_691, 4_102_444_799] {
            let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
            assert_eq!(parse_stamp(&record::utc_stamp(t)), Some(secs as i64));
        }
        assert_eq!(parse_stamp("20261125-083451x"), None);
        assert_eq!(parse_stamp("20261325-083451"), None);
        assert_eq!(parse_stamp("2026112-0834510"), None);
        assert_eq!(parse_stamp("２0261125-08345"), None);
    }

    #[test]
    fn names_are_safe_for_mlflow() {
        assert_eq!(metric_name("final_iris.test_loss"), "final_iris.test_loss");
        assert_eq!(metric_name("a/b:c"), "a_b_c");
        assert_eq!(metric_name(".."), "_..");
        assert_eq!(metric_name(""), "_");
    }
}
