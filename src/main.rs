//! `dlpc`: the command-line driver. Thin by design: it reads files, calls
//! the compiler, and prints what comes back.

#[macro_use]
mod out;

mod check;
mod devices;
mod emit;
mod fmt;
mod graph;
mod loader;
mod program;
mod run;
mod runs;

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
    /// Train a program: compile, read the data, run the train block, record the run.
    Run {
        /// The .dlp program.
        file: PathBuf,
        /// Which train block (the first if omitted).
        #[arg(long)]
        train: Option<String>,
        /// Where to compute: `cpu`, `gpu` (any wgpu adapter, see `dlpc
        /// devices`) or `auto` (a hardware GPU if there is one, else the
        /// CPU); overrides the train block's `device`.
        #[arg(long)]
        device: Option<String>,
        /// What runs the steps on the CPU: `cpu` (compiled kernels, the
        /// default) or `interp` (the reference interpreter: slow, the oracle).
        #[arg(long, default_value = "cpu", value_parser = ["cpu", "interp"])]
        backend: String,
        /// Threads the `cpu` back end computes on (default: every core the
        /// process may use; more than that is reduced to it).
        #[arg(long)]
        threads: Option<usize>,
        /// The most memory the run may plan for (`4G`, `512M`, `2GiB`): a
        /// run planned larger stops before reading data (default: the
        /// memory available).
        #[arg(long, value_parser = dlp_runtime::train::memory::parse_size)]
        max_memory: Option<u64>,
        /// Time every kernel (on the CPU or the GPU) and print where the
        /// time went (by kind of kernel, and the longest kernels) at the
        /// end; on the GPU it slows the run.
        #[arg(long)]
        profile: bool,
        /// Override the train block's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Continue the run recorded in this folder (runs/<id>).
        #[arg(long)]
        resume: Option<PathBuf>,
        /// Where run records go.
        #[arg(long, default_value = "runs")]
        runs: PathBuf,
        /// Stop after this many epochs in total, leaving the run resumable.
        #[arg(long)]
        stop_after: Option<u64>,
    },
    /// Print one step of the compiled program as Graphviz DOT (or text with
    /// --text): the train step's forward and backward group by default.
    Graph {
        /// The .dlp program.
        file: PathBuf,
        /// Which train block (the first if omitted).
        #[arg(long)]
        train: Option<String>,
        /// The textual IR instead of DOT.
        #[arg(long)]
        text: bool,
        /// The evaluation step on the training data (no backward pass, no update).
        #[arg(long, conflicts_with = "update")]
        eval: bool,
        /// The train step's second group: gradient clipping and the optimiser update.
        #[arg(long)]
        update: bool,
    },
    /// Print what the compiler produces: the compiled program's steps as
    /// textual IR (--ir), the whole compiled program as JSON (--json),
    /// every step cut into kernels with its memory plan (--kernels), the
    /// CPU back end's generated code (--clif) or the GPU back end's
    /// shaders (--wgsl).
    #[command(group(clap::ArgGroup::new("stage").required(true).args(["ir", "json", "kernels", "clif", "wgsl"])))]
    Emit {
        /// The .dlp program.
        file: PathBuf,
        /// Which train block (the first if omitted).
        #[arg(long)]
        train: Option<String>,
        /// Every step as textual IR.
        #[arg(long)]
        ir: bool,
        /// The serialised compiled program.
        #[arg(long)]
        json: bool,
        /// Every step cut into kernels, with its memory plan at the train
        /// block's batch size.
        #[arg(long)]
        kernels: bool,
        /// The Cranelift IR the CPU back end generates for every kernel, at
        /// the train block's batch size.
        #[arg(long)]
        clif: bool,
        /// The WGSL compute shader the GPU back end generates for every
        /// kernel, at the train block's batch size, each validated by naga.
        #[arg(long)]
        wgsl: bool,
    },
    /// List the GPU adapters wgpu finds, with their limits, and say which
    /// one `--device gpu` and `--device auto` would use.
    Devices,
    /// List and inspect run records.
    Runs {
        #[command(subcommand)]
        command: RunsCommand,
        /// Where run records are.
        #[arg(long, default_value = "runs", global = true)]
        runs: PathBuf,
    },
}

#[derive(Subcommand)]
enum RunsCommand {
    /// One line per run: status, epochs, final metrics.
    List,
    /// A run's program, data hashes, settings, status and checkpoints.
    Show {
        /// The run's id (its folder name under runs/) or folder.
        id: String,
    },
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
        Command::Run {
            file,
            train,
            device,
            backend,
            threads,
            max_memory,
            profile,
            seed,
            resume,
            runs,
            stop_after,
        } => run::run(run::Args {
            file,
            train,
            device,
            backend,
            threads,
            max_memory,
            profile,
            seed,
            resume,
            runs,
            stop_after,
        }),
        Command::Graph {
            file,
            train,
            text,
            eval,
            update,
        } => {
            let which = match (eval, update) {
                (true, _) => graph::Which::Eval,
                (false, true) => graph::Which::Update,
                (false, false) => graph::Which::Gradients,
            };
            graph::run(&file, train.as_deref(), text, which)
        }
        Command::Emit {
            file,
            train,
            ir: _,
            json,
            kernels,
            clif,
            wgsl,
        } => {
            let stage = match (json, kernels, clif, wgsl) {
                (true, ..) => emit::Stage::Json,
                (_, true, ..) => emit::Stage::Kernels,
                (_, _, true, _) => emit::Stage::Clif,
                (_, _, _, true) => emit::Stage::Wgsl,
                _ => emit::Stage::Ir,
            };
            emit::run(&file, train.as_deref(), stage)
        }
        Command::Runs { command, runs } => match command {
            RunsCommand::List => runs::list(&runs),
            RunsCommand::Show { id } => runs::show(&runs, &id),
        },
        Command::Lsp => dlpc::lsp::run(),
        Command::Devices => devices::run(),
    }
}
