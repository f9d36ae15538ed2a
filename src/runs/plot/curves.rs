//! A run's curves for one figure (the loss or a metric), read from its
//! `metrics.jsonl`: the per-epoch training value from `epoch` lines, and
//! the validation value from `validate` lines, one curve per validated data.

use dlp_runtime::record::{self, RunRecord};
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::path::Path;

/// Keys of `epoch` and `validate` lines that say where a line belongs
/// rather than what was measured; every other key is a figure.
const NOT_FIGURES: [&str; 4] = ["kind", "epoch", "steps", "data"];

/// Which pass a curve measures.
#[derive(Clone, PartialEq, Eq)]
pub enum Phase {
    Train,
    /// A validation, on the data it names (`iris.test`).
    Validation(String),
}

/// One curve: a figure by epoch.
pub struct Series {
    pub phase: Phase,
    /// `(epoch, value)`, in the log's order (by epoch).
    pub points: Vec<(u64, f64)>,
}

impl Series {
    /// How the legend and the terminal name it: `train`, `validation (iris.test)`.
    pub fn name(&self) -> String {
        match &self.phase {
            Phase::Train => "train".to_string(),
            Phase::Validation(data) => format!("validation ({data})"),
        }
    }
}

/// A run's curves of one figure.
pub struct RunCurves {
    pub id: String,
    /// The training curve first, then a validation curve per data.
    pub series: Vec<Series>,
}

/// Reads the curves of `figure` from the record's log. A figure the log does
/// not hold is an error that lists those it does.
pub fn read(record: &RunRecord, figure: &str) -> Result<RunCurves, String> {
    let path = record.dir.join(record::METRICS);
    let text = std::fs::read_to_string(&path).map_err(|e| match e.kind() {
        // No log yet: the run has not got through its first epoch.
        std::io::ErrorKind::NotFound => format!(
            "run `{}` has logged no epoch yet (there is no {})",
            record.id,
            path.display()
        ),
        _ => format!("cannot read {}: {e}", path.display()),
    })?;
    let mut figures = BTreeSet::new();
    let mut series: Vec<Series> = Vec::new();
    for (line_number, entry) in entries(&path, &text)? {
        let phase = match entry.get("kind").and_then(Value::as_str) {
            Some("epoch") => Phase::Train,
            Some("validate") => match entry.get("data").and_then(Value::as_str) {
                Some(data) => Phase::Validation(data.to_string()),
                None => {
                    return Err(bad_line(
                        &path,
                        line_number,
                        "a `validate` line without `data`",
                    ))
                }
            },
            // Steps are too fine for an epoch chart; unknown kinds may come
            // from a newer dlpc and are not ours to judge.
            _ => continue,
        };
        let Some(epoch) = entry.get("epoch").and_then(Value::as_u64) else {
            return Err(bad_line(
                &path,
                line_number,
                "a line without an epoch number",
            ));
        };
        for (key, value) in &entry {
            if !NOT_FIGURES.contains(&key.as_str()) && (value.is_number() || value.is_null()) {
                figures.insert(key.clone());
            }
        }
        // A value that was not finite is logged as null: it has no place on
        // the curve, but the figure still exists.
        let Some(value) = entry.get(figure).and_then(Value::as_f64) else {
            continue;
        };
        match series.iter_mut().find(|s| s.phase == phase) {
            Some(s) => s.points.push((epoch, value)),
            None => series.push(Series {
                phase,
                points: vec![(epoch, value)],
            }),
        }
    }
    if !figures.contains(figure) {
        return Err(if figures.is_empty() {
            format!(
                "run `{}` has logged no epoch yet ({} holds no `epoch` or `validate` line)",
                record.id,
                path.display()
            )
        } else {
            let known: Vec<&str> = figures.iter().map(String::as_str).collect();
            format!(
                "run `{}` has no metric `{figure}`; it has: {}",
                record.id,
                known.join(", ")
            )
        });
    }
    series.sort_by_key(|s| s.phase != Phase::Train);
    Ok(RunCurves {
        id: record.id.clone(),
        series,
    })
}

/// A log line's fields.
type Entry = Map<String, Value>;

/// The log's JSON objects with their line numbers (from 1). A torn last line
/// (no newline after it) is what a run killed while logging leaves, and
/// `--resume` drops it; it is skipped with a note. Any other line that is not
/// a JSON object is an error naming the file and line.
fn entries(path: &Path, text: &str) -> Result<Vec<(usize, Entry)>, String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::with_capacity(lines.len());
    for (index, line) in lines.iter().enumerate() {
        let line_number = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(entry)) => out.push((line_number, entry)),
            Ok(_) => return Err(bad_line(path, line_number, "not a JSON object")),
            Err(_) if line_number == lines.len() && !text.ends_with('\n') => {
                tell!(
                    "note: {}:{line_number}: skipping a torn last line (the run was stopped while writing it)",
                    path.display()
                );
            }
            Err(e) => return Err(bad_line(path, line_number, &format!("not JSON ({e})"))),
        }
    }
    Ok(out)
}

fn bad_line(path: &Path, line_number: usize, why: &str) -> String {
    format!(
        "{}:{line_number}: {why}: the run's log is damaged",
        path.display()
    )
}
