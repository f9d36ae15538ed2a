//! `dlpc graph`: the training step's IR, as Graphviz DOT or as text.

use crate::program;
use dlp_compiler::ir::print;
use dlp_compiler::lower::{self, Mode};
use std::path::Path;
use std::process::ExitCode;

pub fn run(file: &Path, train: Option<&str>, text: bool, eval: bool) -> ExitCode {
    let Some(comp) = program::load(file) else {
        return ExitCode::FAILURE;
    };
    let mode = if eval { Mode::Eval } else { Mode::Train };
    match lower::lower(&comp, train, mode, None, None) {
        Ok(lowered) => {
            if text {
                say_raw!("{}", print::text(&lowered.graph));
            } else {
                say_raw!("{}", print::dot(&lowered.graph));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            let fallback = dlp_compiler::Loc::new(comp.program.modules[0].file, Default::default());
            program::report(&comp, &e.diagnostic(fallback));
            ExitCode::FAILURE
        }
    }
}
