//! `dlpc runs export`: a run record into an MLflow file store and/or a
//! TensorBoard log folder (the formats are in `dlp_runtime::export`).

use dlp_runtime::export::{self, Exported};
use std::path::Path;
use std::process::ExitCode;

pub fn run(runs: &Path, id: &str, mlflow: Option<&Path>, tensorboard: Option<&Path>) -> ExitCode {
    let rec = match super::open(runs, id) {
        Ok(r) => r,
        Err(e) => {
            tell!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Both exporters read the record: its notes are said once.
    let mut notes = Vec::new();
    let mut ok = true;
    if let Some(store) = mlflow {
        ok &= report(
            "mlflow",
            export::mlflow::export(&rec.dir, store),
            |e| format!("run {}: {} values in {} metrics", e.id, e.scalars, e.series),
            &mut notes,
        );
    }
    if let Some(dir) = tensorboard {
        ok &= report(
            "tensorboard",
            export::tensorboard::export(&rec.dir, dir),
            |e| format!("{} scalars in {} tags", e.scalars, e.series),
            &mut notes,
        );
    }
    for n in &notes {
        tell!("note: {n}");
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Prints what one exporter wrote, or its error; whether it succeeded.
fn report(
    what: &str,
    result: Result<Exported, String>,
    describe: impl Fn(&Exported) -> String,
    notes: &mut Vec<String>,
) -> bool {
    match result {
        Ok(e) => {
            say!("{what:<12} {}", describe(&e));
            say!("{:<12} {}", "", e.path.display());
            for n in e.notes {
                if !notes.contains(&n) {
                    notes.push(n);
                }
            }
            true
        }
        Err(e) => {
            tell!("error: {what}: {e}");
            false
        }
    }
}
