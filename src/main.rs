//! `dlpc`: the command-line driver. Thin by design: it reads files, calls
//! the compiler, and prints what comes back.

mod check;
mod fmt;
mod loader;

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "dlpc",
    version,
    about = "Compile and train deep-learning pipelines written in dlp"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check programs for syntax, name, type and shape errors (reads no data).
    Check {
        /// The .dlp files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// How to print diagnostics.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Rewrite programs in the canonical layout, in place.
    Fmt {
        /// The .dlp files to format.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Change nothing; show a diff and exit 1 if a file is not formatted.
        #[arg(long)]
        check: bool,
    },
    /// Serve editors as a Language Server over stdin/stdout (see the book's editor chapter).
    Lsp,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Reports with source excerpts, on standard error.
    Human,
    /// One JSON object per diagnostic and line, on standard output.
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { files, format } => check::run(&files, format),
        Command::Fmt { files, check } => fmt::run(&files, check),
        Command::Lsp => dlpc::lsp::run(),
    }
}
