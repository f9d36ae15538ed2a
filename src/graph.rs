//! `dlpc graph`: one step of the compiled program as Graphviz DOT (or as
//! text): the train step's forward and backward group, its update group,
//! or the evaluation step of the training data.

use crate::program;
use dlp_compiler::ir::print;
use std::path::Path;
use std::process::ExitCode;

/// Which step `dlpc graph` shows.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Gradients,
    Update,
    Eval,
}

pub fn run(file: &Path, train: Option<&str>, text: bool, which: Which) -> ExitCode {
    let Some(comp) = program::load(file) else {
        return ExitCode::FAILURE;
    };
    let Some(compiled) = program::compiled(&comp, train) else {
        return ExitCode::FAILURE;
    };
    let graph = match which {
        Which::Gradients => &compiled.train.gradients,
        Which::Update => &compiled.train.update,
        Which::Eval => &compiled.eval[0].step,
    };
    if text {
        say_raw!("{}", print::text(graph));
    } else {
        say_raw!("{}", print::dot(graph));
    }
    ExitCode::SUCCESS
}
