//! `dlpc runs`: list, show, compare, plot and export run records.

pub mod diff;
pub mod export;
pub mod list;
pub mod plot;
pub mod remove;
pub mod reproduce;

use dlp_runtime::record::{self, RunRecord};
use serde_json::Value;
use std::path::Path;
use std::process::ExitCode;

/// The record a command names: a run folder, or a run id under `runs`.
pub fn open(runs: &Path, id: &str) -> Result<RunRecord, String> {
    let dir = if Path::new(id).join(record::CONFIG).is_file() {
        Path::new(id).to_path_buf()
    } else {
        runs.join(id)
    };
    RunRecord::open(&dir).map_err(|e| format!("no run `{id}` in {}: {e}", runs.display()))
}

pub fn show(runs: &Path, id: &str) -> ExitCode {
    let rec = match open(runs, id) {
        Ok(r) => r,
        Err(e) => {
            tell!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let dir = rec.dir.clone();
    let config = rec.config().unwrap_or(Value::Null);
    let summary = record::read_json(&dir.join(record::SUMMARY)).unwrap_or(Value::Null);
    say!("run      {}", rec.id);
    say!("folder   {}", dir.display());
    let s = |v: &Value, k: &str| {
        v.get(k)
            .map(|x| x.to_string().trim_matches('"').to_string())
            .unwrap_or_else(|| "-".into())
    };
    say!(
        "program  {}  (train `{}`)",
        s(&config, "program"),
        s(&config, "train")
    );
    say!(
        "started  {}   seed {}   dlpc {}",
        s(&config, "started"),
        s(&config, "seed"),
        s(&config, "dlpc")
    );
    if let Some(o) = config["overrides"].as_object().filter(|o| !o.is_empty()) {
        let sets: Vec<String> = o
            .iter()
            .map(|(k, v)| format!("--set {k}={}", v.as_str().unwrap_or("?")))
            .collect();
        say!("set      {}", sets.join(" "));
    }
    if let Some(init) = config["init_from"].as_str() {
        say!("init     from {init}");
    }
    if let Some(Value::Array(files)) = config.get("data") {
        for f in files {
            say!("data     {}  {}", s(f, "file"), s(f, "hash"));
        }
    }
    if let Some(plan) = config.get("plan") {
        let length = match plan.get("steps").and_then(Value::as_u64) {
            Some(steps) => format!("steps {steps}"),
            None => format!("epochs {}", s(plan, "epochs")),
        };
        say!(
            "model    {}   batch {}   {length}   optimizer {}",
            s(plan, "model"),
            s(plan, "batch"),
            plan.get("optimizer")
                .map(|o| o.to_string())
                .unwrap_or_default()
        );
    }
    if let Some(Value::Object(samples)) = config.get("samples") {
        let sizes: Vec<String> = samples.iter().map(|(n, v)| format!("{n} {v}")).collect();
        say!("samples  {}", sizes.join(", "));
    }
    // Where it started (a resumed run may have moved to another device).
    if let Some(device) = config.get("device").and_then(Value::as_str) {
        let on = match config.get("adapter").and_then(Value::as_str) {
            Some(adapter) => adapter.to_string(),
            None => format!(
                "{}, {} threads",
                s(&config, "backend"),
                s(&config, "threads")
            ),
        };
        say!("device   {device} ({on}), where it started");
    }
    let status = record::listed(rec).status();
    if summary.is_null() {
        match status.as_str() {
            "running" => say!("status   running (no summary yet)"),
            _ => say!(
                "status   {status} (no summary); resume with `dlpc run <file> --resume {}`",
                dir.display()
            ),
        }
    } else {
        say!(
            "status   {}   epochs {}   steps {}   {:.1} s",
            s(&summary, "status"),
            s(&summary, "epochs"),
            s(&summary, "steps"),
            summary
                .get("seconds")
                .and_then(Value::as_f64)
                .unwrap_or(0.0)
        );
        say!("final    {}", list::finals(&summary["final"]));
        if matches!(s(&summary, "status").as_str(), "stopped" | "interrupted") {
            say!("resume   dlpc run <file> --resume {}", dir.display());
        }
        if let Some(error) = summary.get("error").and_then(Value::as_str) {
            say!("error    {error}");
        }
    }
    let mut checkpoints: Vec<String> = std::fs::read_dir(dir.join(record::CHECKPOINTS))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    checkpoints.sort();
    say!("checkpoints  {}", checkpoints.join(", "));
    ExitCode::SUCCESS
}
