//! `dlpc runs diff A B`: what differs between two runs. Four sections:
//! how each run ended, its program (a line diff), its settings (the
//! config's keys whose values differ) and its final metrics (B − A).

mod config;
mod program;

use dlp_runtime::record::{self, RunRecord};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::ExitCode;

pub fn run(runs: &Path, a: &str, b: &str) -> ExitCode {
    match diff(runs, a, b) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tell!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn diff(runs: &Path, a: &str, b: &str) -> Result<(), String> {
    let (a, b) = (super::open(runs, a)?, super::open(runs, b)?);
    let (config_a, config_b) = (config(&a)?, config(&b)?);
    let (summary_a, summary_b) = (Summary::read(&a), Summary::read(&b));

    say!("A  {}  {}", a.id, summary_a.how_it_ended());
    say!("B  {}  {}", b.id, summary_b.how_it_ended());
    say!("");
    let mut same = summary_a.how_it_ended() == summary_b.how_it_ended();
    same &= program::print(&a, &b);
    say!("");
    same &= config::print(&config_a, &config_b);
    say!("");
    same &= print_final_metrics(&summary_a, &summary_b);
    if same {
        say!("");
        say!("the runs do not differ: same program, settings, ending and final metrics");
    }
    Ok(())
}

fn config(run: &RunRecord) -> Result<Value, String> {
    let path = run.dir.join(record::CONFIG);
    // `read_json` names the file in its parse errors, not in its read errors.
    record::read_json(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::InvalidData => format!("{e}"),
        _ => format!("cannot read {}: {e}", path.display()),
    })
}

/// What a run's `summary.json` says, or why there is none to read.
enum Summary {
    Read(Value),
    /// Not written yet: the run is going, or was killed.
    Missing,
    Damaged(String),
}

impl Summary {
    fn read(run: &RunRecord) -> Summary {
        match record::read_json(&run.dir.join(record::SUMMARY)) {
            Ok(summary) => Summary::Read(summary),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Summary::Missing,
            Err(e) => Summary::Damaged(e.to_string()),
        }
    }

    /// `completed, 100 epochs`; `failed: <error>`.
    fn how_it_ended(&self) -> String {
        let summary = match self {
            Summary::Read(summary) => summary,
            Summary::Missing => return "running or interrupted (no summary yet)".to_string(),
            Summary::Damaged(e) => return format!("unreadable summary ({e})"),
        };
        let status = summary.get("status").and_then(Value::as_str).unwrap_or("?");
        let mut said = status.to_string();
        if let Some(epochs) = summary.get("epochs").and_then(Value::as_u64) {
            let unit = if epochs == 1 { "epoch" } else { "epochs" };
            said += &format!(", {epochs} {unit}");
        }
        if let Some(error) = summary.get("error").and_then(Value::as_str) {
            said += &format!(": {error}");
        }
        said
    }

    /// A final metric: `final.<data>.<metric>`.
    fn final_value(&self, data: &str, metric: &str) -> Option<f64> {
        match self {
            Summary::Read(summary) => summary.get("final")?.get(data)?.get(metric)?.as_f64(),
            _ => None,
        }
    }

    /// Every `(data, metric)` of the final evaluation.
    fn final_names(&self) -> BTreeSet<(String, String)> {
        let Summary::Read(summary) = self else {
            return BTreeSet::new();
        };
        let Some(Value::Object(by_data)) = summary.get("final") else {
            return BTreeSet::new();
        };
        by_data
            .iter()
            .filter_map(|(data, metrics)| Some((data, metrics.as_object()?)))
            .flat_map(|(data, metrics)| metrics.keys().map(|m| (data.clone(), m.clone())))
            .collect()
    }
}

/// Prints the final metrics of both runs side by side with B − A and the
/// relative change; returns whether they are the same.
fn print_final_metrics(a: &Summary, b: &Summary) -> bool {
    let names: BTreeSet<(String, String)> =
        a.final_names().union(&b.final_names()).cloned().collect();
    if names.is_empty() {
        say!("final metrics: none (neither run has a final evaluation)");
        return true;
    }
    let mut same = true;
    let mut rows = vec![[
        "data".to_string(),
        "metric".to_string(),
        "A".to_string(),
        "B".to_string(),
        "B − A".to_string(),
        "change".to_string(),
    ]];
    for (data, metric) in &names {
        let (value_a, value_b) = (a.final_value(data, metric), b.final_value(data, metric));
        same &= value_a == value_b;
        let (delta, change) = match (value_a, value_b) {
            (Some(x), Some(y)) => (signed(y - x), relative_change(x, y)),
            _ => ("-".to_string(), "-".to_string()),
        };
        rows.push([
            data.clone(),
            metric.clone(),
            value_a.map_or("-".to_string(), number),
            value_b.map_or("-".to_string(), number),
            delta,
            change,
        ]);
    }
    say!("final metrics:{}", if same { " the same" } else { "" });
    print_table(&rows);
    same
}

/// Left-aligned names, right-aligned numbers.
fn print_table(rows: &[[String; 6]]) {
    let mut widths = [0; 6];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .enumerate()
            .map(|(column, (cell, width))| {
                if column < 2 {
                    format!("{cell:<width$}")
                } else {
                    format!("{cell:>width$}")
                }
            })
            .collect();
        say!("  {}", cells.join("  ").trim_end());
    }
}

/// Four decimals for the usual losses and accuracies, scientific notation
/// for values too small or large for them to say much.
fn number(v: f64) -> String {
    if v == 0.0 || (1e-3..1e5).contains(&v.abs()) {
        format!("{v:.4}")
    } else {
        format!("{v:.3e}")
    }
}

fn signed(v: f64) -> String {
    if v == 0.0 {
        "0".to_string()
    } else if v > 0.0 {
        format!("+{}", number(v))
    } else {
        number(v)
    }
}

/// (B − A) / |A| in percent; none from zero.
fn relative_change(a: f64, b: f64) -> String {
    if a == b {
        return "0%".to_string();
    }
    if a == 0.0 {
        return "-".to_string();
    }
    format!("{:+.1}%", (b - a) / a.abs() * 100.0)
}
