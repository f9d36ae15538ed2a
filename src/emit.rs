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
