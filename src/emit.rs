//! `dlpc emit`: what the compiler produces for a program, stage by stage.
//! `--ir` prints the compiled program's steps as textual IR (the train
//! step's two groups separated by the gradient sync point); `--json` the
//! serialised compiled program, as the runtime receives it.

use crate::program;
use std::path::Path;
use std::process::ExitCode;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Ir,
    Json,
    Kernels,
}

pub fn run(file: &Path, train: Option<&str>, stage: Stage) -> ExitCode {
    let Some(comp) = program::load(file) else {
        return ExitCode::FAILURE;
    };
    let Some(compiled) = program::compiled(&comp, train) else {
        return ExitCode::FAILURE;
    };
    match stage {
        Stage::Ir => say_raw!("{}", compiled.text()),
        Stage::Kernels => say_raw!("{}", kernels_text(&compiled)),
        Stage::Json => match serde_json::to_string(&compiled) {
            Ok(json) => say!("{json}"),
            Err(e) => {
                tell!("error: cannot serialise the compiled program: {e}");
                return ExitCode::FAILURE;
            }
        },
    }
    ExitCode::SUCCESS
}

/// Every step's kernels and memory plan.
fn kernels_text(compiled: &dlp_compiler::CompiledProgram) -> String {
    let batch = compiled.plan.batch;
    let mut out = String::new();
    for (title, step) in compiled.steps() {
        let kernels = dlp_compiler::fuse::fuse(step);
        out.push_str(&format!("; {title}: {} kernels\n", kernels.kernels.len()));
        out.push_str(&dlp_compiler::fuse::text(step, &kernels));
        let plan = dlp_compiler::plan::plan(step, &kernels);
        out.push_str(&dlp_compiler::plan::text(step, &plan, batch));
        out.push('\n');
    }
    out
}
