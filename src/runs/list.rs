//! `dlpc runs list`: one line per run (or JSON), with filters.

use dlp_runtime::record::{self, Listed};
use serde_json::{json, Value};
use std::path::Path;
use std::process::ExitCode;

/// Which runs to list.
pub struct Filter {
    pub status: Option<String>,
    /// Part of the program file's name.
    pub program: Option<String>,
    pub train: Option<String>,
}

impl Filter {
    fn keeps(&self, row: &Value) -> bool {
        let matches = |want: &Option<String>, key: &str, exact: bool| {
            want.as_ref().is_none_or(|w| {
                let have = row[key].as_str().unwrap_or("");
                if exact {
                    have == w
                } else {
                    have.contains(w.as_str())
                }
            })
        };
        matches(&self.status, "status", true)
            && matches(&self.program, "program", false)
            && matches(&self.train, "train", true)
    }
}

pub fn run(runs: &Path, filter: &Filter, json_output: bool) -> ExitCode {
    let entries = match record::list(runs) {
        Ok(e) => e,
        Err(e) => {
            tell!("error: cannot read {}: {e}", runs.display());
            return ExitCode::FAILURE;
        }
    };
    let rows: Vec<Value> = entries
        .iter()
        .map(row)
        .filter(|row| filter.keeps(row))
        .collect();
    if json_output {
        say!("{}", Value::Array(rows));
        return ExitCode::SUCCESS;
    }
    if rows.is_empty() {
        say!("no runs in {}", runs.display());
        return ExitCode::SUCCESS;
    }
    let mut table = vec![[
        "run",
        "train",
        "status",
        "started",
        "time",
        "seed",
        "epochs",
        "best val loss",
        "final",
        "overrides",
    ]
    .map(String::from)
    .to_vec()];
    for r in &rows {
        table.push(vec![
            text(&r["id"]),
            text(&r["train"]),
            text(&r["status"]),
            text(&r["started"]),
            r["seconds"]
                .as_f64()
                .map_or("-".into(), |s| format!("{s:.1} s")),
            text(&r["seed"]),
            text(&r["epochs"]),
            r["best_validation_loss"]
                .as_f64()
                .map_or("-".into(), |v| format!("{v:.4}")),
            finals(&r["final"]),
            r["overrides"]
                .as_object()
                .map(|o| {
                    o.iter()
                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("?")))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default(),
        ]);
    }
    for line in aligned(&table) {
        say!("{line}");
    }
    for r in &rows {
        if let Some(damage) = r["damage"].as_str() {
            tell!("warning: run `{}` is damaged: {damage}", text(&r["id"]));
        }
    }
    ExitCode::SUCCESS
}

/// A run as `--format json` gives it (the table shows the same).
fn row(run: &Listed) -> Value {
    let summary = run.summary.clone().unwrap_or(Value::Null);
    let config = &run.config;
    json!({
        "id": run.record.id,
        "folder": run.record.dir.display().to_string(),
        "status": run.status(),
        "train": config["train"],
        "program": config["program"],
        "started": config["started"],
        "seed": config["seed"],
        "overrides": config.get("overrides").cloned().unwrap_or(json!({})),
        "epochs": summary["epochs"],
        "steps": summary["steps"],
        "seconds": summary["seconds"],
        "best_validation_loss": summary["best_validation_loss"],
        "final": summary.get("final").cloned().unwrap_or(json!({})),
        "damage": run.damage,
        "writer": run.writer,
    })
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `digits.test: accuracy 0.9750, loss 0.0846`.
pub fn finals(f: &Value) -> String {
    let Some(f) = f.as_object() else {
        return String::new();
    };
    f.iter()
        .map(|(split, m)| {
            let values: Vec<String> = m
                .as_object()
                .map(|o| {
                    o.iter()
                        .map(|(n, v)| format!("{n} {:.4}", v.as_f64().unwrap_or(f64::NAN)))
                        .collect()
                })
                .unwrap_or_default();
            format!("{split}: {}", values.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Columns padded to their widest cell.
pub fn aligned(rows: &[Vec<String>]) -> Vec<String> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    rows.iter()
        .map(|r| {
            r.iter()
                .zip(&widths)
                .map(|(cell, &w)| format!("{cell:<w$}"))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_string()
        })
        .collect()
}
