//! `dlpc run`: train a program's `train` block and record the run.

use crate::{overrides, program, sweep};
use dlp_runtime::backend::Backend;
use dlp_runtime::train::{self, Job, Metrics, Observer, Options, Started, Summary};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

pub struct Args {
    pub file: PathBuf,
    pub train: Option<String>,
    pub device: Option<String>,
    pub backend: String,
    pub threads: Option<usize>,
    pub max_memory: Option<u64>,
    pub profile: bool,
    pub seed: Option<u64>,
    pub resume: Option<PathBuf>,
    pub runs: PathBuf,
    pub stop_after: Option<u64>,
    pub init_from: Option<PathBuf>,
    pub checkpoint: Option<String>,
    /// `--set KEY=VALUE[,VALUE...]`: overrides, a sweep when some have
    /// several values.
    pub set: Vec<String>,
    /// `--deny warnings`: a program with warnings is not run.
    pub deny_warnings: bool,
}

pub fn run(args: Args) -> ExitCode {
    let started = std::time::Instant::now();
    if let Some(n) = args.threads {
        match dlp_runtime::cpu::set_threads(n) {
            Ok(None) => {}
            Ok(Some(note)) => tell!("note: {note}"),
            Err(e) => {
                tell!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    // Steps start on this thread rather than being handed to another.
    dlp_runtime::cpu::include_this_thread();
    let sets: Result<Vec<overrides::Set>, String> =
        args.set.iter().map(|s| overrides::parse(s)).collect();
    let sets = match sets {
        Ok(sets) => sets,
        Err(e) => {
            tell!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let (Some(_), Some(set)) = (&args.resume, sets.first()) {
        tell!(
            "error: a resumed run keeps the settings it started with (and its own `--set`s): drop `--set {}`",
            set.text
        );
        return ExitCode::FAILURE;
    }
    let grid = overrides::grid(&sets);
    if grid.len() == 1 {
        return match run_one(&args, &grid[0], started) {
            Ok(summary) if summary.status == "interrupted" => ExitCode::from(130),
            Ok(_) => ExitCode::SUCCESS,
            Err(code) => code,
        };
    }
    sweep::run(&grid, |assignments| {
        run_one(&args, assignments, std::time::Instant::now())
    })
}

/// One run of the program with `assignments` (`--set`s) written in.
pub fn run_one(
    args: &Args,
    assignments: &[(String, String)],
    started: Instant,
) -> Result<Summary, ExitCode> {
    let fail = |e: &dyn std::fmt::Display| {
        tell!("error: {e}");
        ExitCode::FAILURE
    };
    let opts = Options {
        runs: args.runs.clone(),
        resume: args.resume.clone(),
        seed: args.seed,
        stop_after: args.stop_after,
        device: args.device.clone(),
        backend: Backend::from_name(&args.backend).unwrap_or_default(),
        started,
        max_memory: args.max_memory,
        profile: args.profile,
        interrupt: interrupt_flag(),
    };
    train::check_options(&opts).map_err(|e| fail(&e))?;
    // A resumed run continues the train block it recorded, with the
    // overrides it recorded.
    let (block, assignments) = match &args.resume {
        Some(dir) => {
            let (dir, recorded) = train::resume_target(dir, &args.runs, args.train.as_deref())
                .map_err(|e| fail(&e))?;
            (
                Some(recorded),
                train::recorded_overrides(&dir).map_err(|e| fail(&e))?,
            )
        }
        None => (args.train.clone(), assignments.to_vec()),
    };
    let original = program::read(&args.file).map_err(|message| {
        tell!("{message}");
        ExitCode::FAILURE
    })?;
    let (text, applied) =
        overrides::apply(&original, block.as_deref(), &assignments).map_err(|e| fail(&e))?;
    let explain = |d, root| overrides::explain(d, root, &applied);
    let comp = program::load_text(&args.file, &text, &explain).ok_or(ExitCode::FAILURE)?;
    if args.deny_warnings {
        program::deny_warnings(&comp, &args.file.display().to_string())?;
    }
    let compiled =
        program::compiled_explained(&comp, block.as_deref(), &explain).ok_or(ExitCode::FAILURE)?;
    // Fine-tuning: the checkpoint is fitted to the program in `train`,
    // before the data is read.
    let init_from = match &args.init_from {
        Some(dir) => Some(
            train::recorded_run(dir, &args.runs)
                .and_then(|run| train::checkpoint_of(&run, args.checkpoint.as_deref()))
                .map_err(|e| fail(&format!("`--init-from {}`: {e}", dir.display())))?,
        ),
        None => None,
    };
    let job = Job {
        program: &compiled,
        base: train::base_of(&args.file),
        files: program::files(&comp, &args.file, &original),
        overrides: assignments,
        init_from,
    };
    let mut printer = Printer::new();
    match train::train(&job, &opts, &mut printer) {
        Ok(summary) => {
            printer.finish();
            if !summary.final_metrics.is_empty() {
                say!();
                print_table(&summary.final_metrics);
            }
            say!(
                "\nrun {} {} after {} ({}) in {:.1} s, {:.0} samples/s\nrecord: {}",
                summary.run_id,
                summary.status,
                plural(summary.epochs, "epoch"),
                plural(summary.steps, "step"),
                summary.seconds,
                summary.samples_per_s,
                summary.dir.display()
            );
            if summary.status == "interrupted" {
                say!(
                    "resume with: dlpc run {} --resume {}",
                    args.file.display(),
                    summary.dir.display()
                );
            }
            Ok(summary)
        }
        Err(e) => {
            printer.finish();
            Err(fail(&e))
        }
    }
}

/// A flag the first Ctrl-C (or SIGTERM) sets: the run then stops after
/// its current step and writes a checkpoint to resume from. A second one
/// ends the process at once; the record stays consistent, as every file
/// of it is written atomically, and resumes from its last checkpoint.
/// Installed once per process, and shared by the runs of a sweep.
pub fn interrupt_flag() -> Option<Arc<AtomicBool>> {
    static FLAG: std::sync::OnceLock<Option<Arc<AtomicBool>>> = std::sync::OnceLock::new();
    FLAG.get_or_init(install_interrupt_handler).clone()
}

fn install_interrupt_handler() -> Option<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    let seen = Arc::clone(&flag);
    let installed = ctrlc::set_handler(move || {
        // Clears the progress bar's line, if there is one.
        let clear = if std::io::stderr().is_terminal() {
            "\r\x1b[2K"
        } else {
            ""
        };
        if seen.swap(true, Ordering::SeqCst) {
            tell!(
                "{clear}interrupted again: stopping now; the run resumes from its last checkpoint"
            );
            std::process::exit(130);
        }
        tell!("{clear}interrupted: finishing this step and writing a checkpoint (press Ctrl-C again to stop at once)");
    });
    match installed {
        Ok(()) => Some(flag),
        // No handler (the platform refused one): Ctrl-C then ends the
        // process, and the run resumes from its last epoch's checkpoint.
        Err(_) => None,
    }
}

/// Final metrics: one row per split, one column per metric.
pub fn print_table(rows: &[(String, Metrics)]) {
    for line in metrics_table(rows) {
        say!("{line}");
    }
}

/// A confusion matrix as a grid: a row per labelled class, a column per
/// predicted class, over the classes that occur (labelled or predicted);
/// too wide to read beyond 30 of them, when it says so instead.
pub fn matrix_text(counts: &[Vec<u64>]) -> String {
    let occurs: Vec<usize> = (0..counts.len())
        .filter(|&c| counts[c].iter().sum::<u64>() > 0 || counts.iter().any(|r| r[c] > 0))
        .collect();
    if occurs.len() > 30 {
        return format!(
            "{} classes occur: too many to print here; `dlpc eval --json` and the run record's confusion.json have the counts",
            occurs.len()
        );
    }
    let width = counts
        .iter()
        .flatten()
        .map(|c| c.to_string().len())
        .chain(occurs.iter().map(|c| c.to_string().len()))
        .max()
        .unwrap_or(1);
    let mut lines = Vec::new();
    let header: Vec<String> = occurs.iter().map(|c| format!("{c:>width$}")).collect();
    lines.push(format!("{:>width$}  {}", "", header.join(" ")));
    for &r in &occurs {
        let row: Vec<String> = occurs
            .iter()
            .map(|&c| format!("{:>width$}", counts[r][c]))
            .collect();
        lines.push(format!("{r:>width$}  {}", row.join(" ")));
    }
    lines.join("\n")
}

/// The lines of [`print_table`]: each column as wide as its widest cell,
/// whatever the names and values, numbers aligned on the right.
fn metrics_table(rows: &[(String, Metrics)]) -> Vec<String> {
    let names: Vec<&str> = rows
        .first()
        .map(|(_, m)| m.iter().map(|(n, _)| n.as_str()).collect())
        .unwrap_or_default();
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|(_, m)| m.iter().map(|(_, v)| format!("{v:.4}")).collect())
        .collect();
    let first = rows.iter().map(|(s, _)| s.len()).max().unwrap_or(0).max(4);
    let widths: Vec<usize> = names
        .iter()
        .enumerate()
        .map(|(c, n)| {
            cells
                .iter()
                .filter_map(|r| r.get(c))
                .map(String::len)
                .chain([n.len(), 6])
                .max()
                .unwrap_or(6)
        })
        .collect();
    let line = |first_cell: &str, row: &[String]| {
        let mut line = format!("{first_cell:first$}");
        for (cell, w) in row.iter().zip(&widths) {
            line.push_str(&format!("  {cell:>w$}"));
        }
        line
    };
    let header: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut out = vec![line("data", &header)];
    for ((split, _), row) in rows.iter().zip(&cells) {
        out.push(line(split, row));
    }
    out
}

fn metrics_text(m: &Metrics) -> String {
    m.iter()
        .map(|(n, v)| format!("{n} {v:.4}"))
        .collect::<Vec<_>>()
        .join("  ")
}

/// Progress on a terminal (a bar per epoch), plain lines otherwise.
pub struct Printer {
    bar: Option<ProgressBar>,
    tty: bool,
    epochs: u64,
    batch: usize,
    /// When this session's first step started, and steps since.
    clock: Option<(Instant, u64)>,
}

impl Printer {
    pub fn new() -> Printer {
        Printer {
            bar: None,
            tty: std::io::stderr().is_terminal(),
            epochs: 0,
            batch: 1,
            clock: None,
        }
    }

    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Observer for Printer {
    fn started(&mut self, start: &Started) {
        let plan = start.plan;
        self.epochs = start.epochs;
        self.batch = plan.batch;
        let resumed = if start.resumed_at > 0 {
            format!(", resuming after epoch {}", start.resumed_at)
        } else {
            String::new()
        };
        tell!(
            "training `{}` ({}) on {}: {} parameters, {} of {} steps, batch {}{resumed}",
            plan.name,
            plan.model,
            plan.data,
            plan.params
                .iter()
                .map(|p| p.shape.iter().product::<usize>())
                .sum::<usize>(),
            plural(start.epochs, "epoch"),
            start.steps_per_epoch,
            plan.batch
        );
        let samples: Vec<String> = start
            .samples
            .iter()
            .map(|(name, n)| format!("{name} {n}"))
            .collect();
        let engine = match &start.adapter {
            Some(adapter) => adapter.clone(),
            None => format!(
                "{}, {}",
                start.backend.name(),
                plural(start.threads as u64, "thread")
            ),
        };
        tell!(
            "samples: {}; device: {} ({engine})",
            samples.join(", "),
            start.device,
        );
        tell!("record: {}", start.record.dir.display());
        if self.tty {
            let bar = ProgressBar::new(start.epochs * start.steps_per_epoch);
            bar.set_style(
                ProgressStyle::with_template("{bar:30} epoch {msg}  {pos}/{len} steps  eta {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_position(start.resumed_at * start.steps_per_epoch);
            self.bar = Some(bar);
        }
    }

    fn step(&mut self, epoch: u64, _step: u64, loss: f64) {
        let (since, steps) = self.clock.get_or_insert((Instant::now(), 0));
        *steps += 1;
        let rate = (*steps as usize * self.batch) as f64 / since.elapsed().as_secs_f64().max(1e-9);
        if let Some(bar) = &self.bar {
            bar.set_message(format!(
                "{epoch}/{}  loss {loss:.4}  {rate:.0} samples/s",
                self.epochs
            ));
            bar.inc(1);
        }
    }

    fn epoch(
        &mut self,
        epoch: u64,
        train: &Metrics,
        validation: Option<&(String, Metrics)>,
        seconds: f64,
        rate: f64,
    ) {
        let mut line = format!(
            "epoch {epoch:>3}/{}  train {}",
            self.epochs,
            metrics_text(train)
        );
        if let Some((name, m)) = validation {
            line.push_str(&format!("  |  {name} {}", metrics_text(m)));
        }
        line.push_str(&format!("  ({seconds:.2} s, {rate:.0} samples/s)"));
        match &self.bar {
            Some(bar) => bar.println(line),
            None => tell!("{line}"),
        }
    }

    fn note(&mut self, message: &str) {
        match &self.bar {
            Some(bar) => bar.println(message),
            None => tell!("{message}"),
        }
    }
}

/// `1 epoch`, `30 epochs`.
pub fn plural(n: u64, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metrics_table_stays_aligned_for_long_names_and_large_values() {
        let rows = vec![
            (
                "digits.test".to_string(),
                vec![
                    ("loss".to_string(), 0.1234),
                    ("a_very_long_metric_name".to_string(), 123456789.5),
                ],
            ),
            (
                "d".to_string(),
                vec![
                    ("loss".to_string(), -1.0),
                    ("a_very_long_metric_name".to_string(), 0.5),
                ],
            ),
        ];
        let lines = metrics_table(&rows);
        assert_eq!(lines[0], "data            loss  a_very_long_metric_name");
        assert_eq!(lines[1], "digits.test   0.1234           123456789.5000");
        assert_eq!(lines[2], "d            -1.0000                   0.5000");
        // Every line as long as the header: the columns line up.
        assert!(lines.iter().all(|l| l.len() == lines[0].len()));
        assert!(metrics_table(&[]).len() == 1);
    }
}
