//! Sweeps: `--set` with several values runs the program once per
//! combination, one run after another, and ends with a table comparing
//! them.

use dlp_runtime::train::Summary;
use std::process::ExitCode;
use std::sync::atomic::Ordering;

/// Runs `one` for every assignment list of `grid`, then prints the table.
/// A Ctrl-C stops the sweep after the run it interrupted.
pub fn run(
    grid: &[Vec<(String, String)>],
    mut one: impl FnMut(&[(String, String)]) -> Result<Summary, ExitCode>,
) -> ExitCode {
    let mut results: Vec<Outcome> = Vec::new();
    for (i, assignments) in grid.iter().enumerate() {
        tell!(
            "\n== sweep run {}/{}: {}",
            i + 1,
            grid.len(),
            describe(assignments)
        );
        let summary = one(assignments).ok();
        let interrupted = summary.as_ref().is_some_and(|s| s.status == "interrupted")
            || crate::run::interrupt_flag().is_some_and(|f| f.load(Ordering::SeqCst));
        results.push((assignments, summary));
        if interrupted {
            tell!(
                "sweep interrupted: {} of {} runs left undone",
                grid.len() - i - 1,
                grid.len()
            );
            break;
        }
    }
    say!();
    for line in table(&results) {
        say!("{line}");
    }
    let failed = results.iter().filter(|(_, s)| s.is_none()).count();
    if failed > 0 {
        tell!("{failed} of {} runs failed", results.len());
        return ExitCode::FAILURE;
    }
    if results.len() < grid.len() {
        return ExitCode::from(130);
    }
    ExitCode::SUCCESS
}

/// A run of the sweep: its assignments, and its summary (`None`: it failed).
type Outcome<'a> = (&'a [(String, String)], Option<Summary>);

/// `--set model.hidden=128 --set optimizer.lr=1e-3`.
fn describe(assignments: &[(String, String)]) -> String {
    assignments
        .iter()
        .map(|(k, v)| format!("--set {k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One row per run: its overridden values, status, final figures (one
/// column per data and metric), and its id.
fn table(results: &[Outcome]) -> Vec<String> {
    let mut header: Vec<String> = results
        .first()
        .map(|(a, _)| a.iter().map(|(k, _)| k.clone()).collect())
        .unwrap_or_default();
    let mut figures: Vec<String> = Vec::new();
    for (_, summary) in results {
        for (data, metrics) in summary.iter().flat_map(|s| &s.final_metrics) {
            for (name, _) in metrics {
                let column = format!("{data} {name}");
                if !figures.contains(&column) {
                    figures.push(column);
                }
            }
        }
    }
    header.push("status".into());
    header.extend(figures.iter().cloned());
    header.push("run".into());
    let mut rows = vec![header];
    for (assignments, summary) in results {
        let mut row: Vec<String> = assignments.iter().map(|(_, v)| v.clone()).collect();
        match summary {
            Some(s) => {
                row.push(s.status.clone());
                for column in &figures {
                    let value = s.final_metrics.iter().find_map(|(data, metrics)| {
                        metrics
                            .iter()
                            .find(|(name, _)| &format!("{data} {name}") == column)
                            .map(|(_, v)| format!("{v:.4}"))
                    });
                    row.push(value.unwrap_or_else(|| "-".into()));
                }
                row.push(s.run_id.clone());
            }
            None => {
                row.push("failed".into());
                row.extend(figures.iter().map(|_| "-".to_string()));
                row.push("-".into());
            }
        }
        rows.push(row);
    }
    crate::runs::list::aligned(&rows)
}
