//! `dlpc`: the command-line driver. Thin by design: it reads files, calls
//! the compiler, and prints what comes back.

#[macro_use]
mod out;

mod cache;
mod check;
mod devices;
mod emit;
mod eval;
mod export;
mod fmt;
mod graph;
mod loader;
mod numpy;
mod overrides;
mod predict;
mod program;
mod run;
mod runs;
mod sample;
mod summary;
mod sweep;
mod trained;

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
        /// `--deny warnings`: a warning (W0xxx) fails the command like an
        /// error (for CI).
        #[arg(long, value_name = "WHAT", value_parser = ["warnings"])]
        deny: Option<String>,
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
        /// Start from the parameters of this recorded run (fine-tuning): a
        /// run folder or id; the optimiser starts afresh.
        #[arg(long, conflicts_with = "resume")]
        init_from: Option<PathBuf>,
        /// Which checkpoint of `--init-from`: `last`, `best`, `epoch-N`, or
        /// a `.safetensors` file (default: `best` when the run kept one,
        /// else `last`).
        #[arg(long, requires = "init_from")]
        checkpoint: Option<String>,
        /// Override a setting or an argument of the train block:
        /// `epochs=5`, `optimizer.lr=3e-3`, `model.hidden=512` (repeatable).
        /// Several values (`model.hidden=128,256`) make a sweep: one run per
        /// combination of values, then a table comparing them.
        #[arg(long, value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// `--deny warnings`: a warning (W0xxx) fails the command like an
        /// error (for CI).
        #[arg(long, value_name = "WHAT", value_parser = ["warnings"])]
        deny: Option<String>,
    },
    /// A trained model's loss and metrics on any data of its program, from
    /// a recorded run's checkpoint.
    Eval {
        /// The .dlp program (the one the run trained, or one with the same
        /// parameters).
        file: PathBuf,
        #[command(flatten)]
        source: trained::Source,
        /// Data to evaluate on (`digits.test`, `digits`; repeatable):
        /// by default what the run reported on at its end.
        #[arg(long)]
        data: Vec<String>,
        /// Print the results as one JSON object (data → metric → value).
        #[arg(long)]
        json: bool,
    },
    /// A trained model's outputs for every sample of some data, as CSV or
    /// NPY, from a recorded run's checkpoint.
    Predict {
        /// The .dlp program.
        file: PathBuf,
        #[command(flatten)]
        source: trained::Source,
        /// The data to predict (`digits.test`, or any dataset of the program
        /// that has the model's inputs: labels are not needed).
        #[arg(long)]
        data: String,
        /// Where to write: `.csv` (every output; class scores also get their
        /// arg-max class) or `.npy` (one output; class scores add
        /// `<name>.class.npy`). Standard output as CSV if omitted.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// The model output an `.npy` file holds, when the model has several.
        #[arg(long)]
        output_name: Option<String>,
    },
    /// Text from a trained language model (a model reading a window of
    /// tokens, `class(256)[B, T]`, and scoring the next token at each
    /// position), continuing a prompt one byte at a time.
    Sample {
        /// The .dlp program.
        file: PathBuf,
        #[command(flatten)]
        source: trained::Source,
        /// The text to continue.
        #[arg(long, default_value = "\n")]
        prompt: String,
        /// How many tokens (bytes) to generate.
        #[arg(long, default_value_t = 200)]
        tokens: usize,
        /// Scores are divided by it before the softmax: lower is more
        /// predictable; 0 takes the most likely token every time.
        #[arg(long, default_value_t = 1.0)]
        temperature: f64,
        /// Draw only among the k most likely tokens.
        #[arg(long)]
        top_k: Option<usize>,
        /// The seed of the draws: the same seed gives the same text.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// The output that scores the next token, when the model has several.
        #[arg(long)]
        output_name: Option<String>,
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
    /// A model's layers as the program wrote them, with output shapes,
    /// parameters, FLOPs and the memory training and inference plan for,
    /// before any data is read.
    Summary {
        /// The .dlp program.
        file: PathBuf,
        /// Which train block (the first if omitted).
        #[arg(long)]
        train: Option<String>,
        /// The batch size (the train block's if omitted).
        #[arg(long)]
        batch: Option<usize>,
        /// `table` or `json`.
        #[arg(long, default_value = "table", value_parser = ["table", "json"])]
        format: String,
    },
    /// A trained model as ONNX (opset 17, dynamic batch), from a recorded
    /// run's checkpoint: the model in evaluation mode, from its inputs to
    /// its outputs.
    Export {
        /// The .dlp program.
        file: PathBuf,
        #[command(flatten)]
        source: trained::Source,
        /// The model file to write (`.onnx`).
        #[arg(short, long)]
        output: PathBuf,
        /// The data whose fields are the model's inputs (`digits.test`;
        /// by default what the run reported on at its end).
        #[arg(long)]
        data: Option<String>,
        /// Also write the first N samples of that data as
        /// `<model>.inputs.npz`, and dlp's outputs for them as
        /// `<model>.outputs.npz`, to check the export against.
        #[arg(long, value_name = "N")]
        samples: Option<usize>,
        /// Take the data as stored (the CSV's values, bytes) rather than
        /// the model's inputs as declared: the fields' own expressions
        /// (`/ 16.0`) become part of the graph.
        #[arg(long)]
        raw_inputs: bool,
    },
    /// List the GPU adapters wgpu finds, with their limits, and say which
    /// one `--device gpu` and `--device auto` would use.
    Devices,
    /// The preprocessing cache (decoded, resized image folders): list its
    /// entries or remove them.
    Cache {
        #[command(subcommand)]
        command: CacheCommand,
    },
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
enum CacheCommand {
    /// Each entry: when it was made, its size, and the data it holds.
    Ls,
    /// Remove every entry (runs prepare the data again, and cache it anew).
    Clear,
}

#[derive(Subcommand)]
enum RunsCommand {
    /// One line per run: id, status, start, duration, seed, epochs, best
    /// validation loss, final metrics and `--set` overrides.
    List {
        /// `table` or `json` (one array of objects, for tools).
        #[arg(long, default_value = "table", value_parser = ["table", "json"])]
        format: String,
        /// Only runs with this status (`completed`, `stopped`, `stopped
        /// early`, `interrupted`, `failed`, `running`, `killed`, `damaged`).
        #[arg(long)]
        status: Option<String>,
        /// Only runs of programs whose file name contains this.
        #[arg(long)]
        program: Option<String>,
        /// Only runs of this train block.
        #[arg(long)]
        train: Option<String>,
    },
    /// Delete runs (a run being written only with --force).
    Rm {
        /// The runs' ids or folders.
        #[arg(required = true)]
        ids: Vec<String>,
        /// Delete even a run that a live process is writing.
        #[arg(long)]
        force: bool,
    },
    /// Delete the `epoch-N` checkpoints of runs (all runs if none are
    /// named), keeping `best` and `last`.
    Gc {
        /// The runs' ids or folders.
        ids: Vec<String>,
        /// Say what would be deleted, and delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Run a recorded run again from its record alone (program, overrides,
    /// seed, device, data, checked by hash) and compare the checkpoints.
    Reproduce {
        /// The run's id or folder.
        id: String,
    },
    /// A run's program, data hashes, settings, status and checkpoints.
    Show {
        /// The run's id (its folder name under runs/) or folder.
        id: String,
    },
    /// What differs between two runs: their programs (a line diff), their
    /// settings, and their final metrics (with the change from A to B).
    Diff {
        /// The first run's id or folder.
        a: String,
        /// The second run's id or folder.
        b: String,
    },
    /// Training and validation curves of one or more runs: an SVG or PNG
    /// chart with `-o`, else a sparkline per run in the terminal.
    Plot {
        /// The runs' ids or folders.
        #[arg(required = true)]
        ids: Vec<String>,
        /// Which figure to plot: `loss` or a metric's name.
        #[arg(long, default_value = "loss")]
        metric: String,
        /// The chart to write (`.svg` or `.png`).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Write a run in a tracker's format: MLflow's file store and/or
    /// TensorBoard event files.
    #[command(group(clap::ArgGroup::new("tracker").required(true).multiple(true).args(["mlflow", "tensorboard"])))]
    Export {
        /// The run's id or folder.
        id: String,
        /// An MLflow file store (an `mlruns` folder) to add the run to.
        #[arg(long)]
        mlflow: Option<PathBuf>,
        /// A folder to write the run's TensorBoard event file into.
        #[arg(long)]
        tensorboard: Option<PathBuf>,
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
        Command::Check {
            files,
            format,
            deny,
        } => check::run(&files, format, deny.is_some()),
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
            init_from,
            checkpoint,
            set,
            deny,
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
            init_from,
            checkpoint,
            set,
            deny_warnings: deny.is_some(),
        }),
        Command::Eval {
            file,
            source,
            data,
            json,
        } => eval::run(eval::Args {
            file,
            source,
            data,
            json,
        }),
        Command::Predict {
            file,
            source,
            data,
            output,
            output_name,
        } => predict::run(predict::Args {
            file,
            source,
            data,
            output,
            only: output_name,
        }),
        Command::Sample {
            file,
            source,
            prompt,
            tokens,
            temperature,
            top_k,
            seed,
            output_name,
        } => sample::run(sample::Args {
            file,
            source,
            prompt,
            tokens,
            temperature,
            top_k,
            seed,
            output_name,
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
            RunsCommand::List {
                format,
                status,
                program,
                train,
            } => runs::list::run(
                &runs,
                &runs::list::Filter {
                    status,
                    program,
                    train,
                },
                format == "json",
            ),
            RunsCommand::Rm { ids, force } => runs::remove::rm(&runs, &ids, force),
            RunsCommand::Gc { ids, dry_run } => runs::remove::gc(&runs, &ids, dry_run),
            RunsCommand::Reproduce { id } => runs::reproduce::run(&runs, &id),
            RunsCommand::Show { id } => runs::show(&runs, &id),
            RunsCommand::Diff { a, b } => runs::diff::run(&runs, &a, &b),
            RunsCommand::Plot {
                ids,
                metric,
                output,
            } => runs::plot::run(&runs, &ids, &metric, output.as_deref()),
            RunsCommand::Export {
                id,
                mlflow,
                tensorboard,
            } => runs::export::run(&runs, &id, mlflow.as_deref(), tensorboard.as_deref()),
        },
        Command::Summary {
            file,
            train,
            batch,
            format,
        } => summary::run(&file, train.as_deref(), batch, format == "json"),
        Command::Export {
            file,
            source,
            output,
            data,
            samples,
            raw_inputs,
        } => export::run(export::Args {
            file,
            source,
            output,
            data,
            samples,
            raw_inputs,
        }),
        Command::Lsp => dlpc::lsp::run(),
        Command::Devices => devices::run(),
        Command::Cache { command } => match command {
            CacheCommand::Ls => cache::list(),
            CacheCommand::Clear => cache::clear(),
        },
    }
}
