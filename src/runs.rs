//! `dlpc runs list` and `dlpc runs show <id>`.

use dlp_runtime::record::{self, RunRecord};
use serde_json::Value;
use std::path::Path;
use std::process::ExitCode;

pub fn list(runs: &Path) -> ExitCode {
    let entries = match record::list(runs) {
        Ok(e) => e,
        Err(e) => {
            tell!("error: cannot read {}: {e}", runs.display());
            return ExitCode::FAILURE;
        }
    };
    if entries.is_empty() {
        say!("no runs in {}", runs.display());
        return ExitCode::SUCCESS;
    }
    say!(
        "{:<40} {:<22} {:>6}  final metrics",
        "run",
        "status",
        "epochs"
    );
    for (id, summary) in entries {
        let status = summary.get("status").and_then(Value::as_str).unwrap_or("?");
        let epochs = summary
            .get("epochs")
            .and_then(Value::as_u64)
            .map_or("-".to_string(), |e| e.to_string());
        say!("{id:<40} {status:<22} {epochs:>6}  {}", finals(&summary));
    }
    ExitCode::SUCCESS
}

fn finals(summary: &Value) -> String {
    let Some(Value::Object(f)) = summary.get("final") else {
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

pub fn show(runs: &Path, id: &str) -> ExitCode {
    let dir = if Path::new(id).join(record::CONFIG).is_file() {
        Path::new(id).to_path_buf()
    } else {
        runs.join(id)
    };
    let rec = match RunRecord::open(&dir) {
        Ok(r) => r,
        Err(e) => {
            tell!("error: no run `{id}` in {}: {e}", runs.display());
            return ExitCode::FAILURE;
        }
    };
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
    if summary.is_null() {
        say!("status   running or interrupted (no summary yet); resume with `dlpc run <file> --resume {}`", dir.display());
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
        say!("final    {}", finals(&summary));
        if s(&summary, "status") == "stopped" {
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
