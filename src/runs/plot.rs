//! `dlpc runs plot A B ... [--metric loss] [-o curves.svg|png]`: the
//! training and validation curves of runs, as a chart file or, without
//! `-o`, as sparklines in the terminal.
//!
//! Every run must have the figure and a readable log: a damaged record is an
//! error naming its file, and nothing is drawn, so that a chart never
//! silently leaves a run out.

mod chart;
mod curves;
mod font;
mod sparkline;
mod svg;

use std::path::Path;
use std::process::ExitCode;

pub fn run(runs: &Path, ids: &[String], metric: &str, output: Option<&Path>) -> ExitCode {
    match plot(runs, ids, metric, output) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tell!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn plot(runs: &Path, ids: &[String], metric: &str, output: Option<&Path>) -> Result<(), String> {
    // Before reading any record: a mistyped file name is the first thing to say.
    let chart_format = output.map(chart::Format::of).transpose()?;
    let curves = ids
        .iter()
        .map(|id| curves::read(&super::open(runs, id)?, metric))
        .collect::<Result<Vec<_>, String>>()?;
    match (output, chart_format) {
        (Some(path), Some(format)) => {
            chart::write(path, format, &curves, metric)?;
            say!("wrote {}", path.display());
        }
        _ => sparkline::print(&curves, metric),
    }
    Ok(())
}
