//! `dlpc run`: train a program's `train` block and record the run.

use crate::program;
use dlp_runtime::backend::Backend;
use dlp_runtime::train::{self, Job, Metrics, Observer, Options, Started};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
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
    let Some(comp) = program::load(&args.file) else {
        return ExitCode::FAILURE;
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
    };
    if let Err(e) = train::check_options(&opts) {
        tell!("error: {e}");
        return ExitCode::FAILURE;
    }
    // A resumed run continues the train block it recorded.
    let block = match &args.resume {
        Some(dir) => match train::resume_target(dir, &args.runs, args.train.as_deref()) {
            Ok((_, recorded)) => Some(recorded),
            Err(e) => {
                tell!("error: {e}");
                return ExitCode::FAILURE;
            }
        },
        None => args.train.clone(),
    };
    let Some(compiled) = program::compiled(&comp, block.as_deref()) else {
        return ExitCode::FAILURE;
    };
    let job = Job {
        program: &compiled,
        base: train::base_of(&args.file),
        files: program::files(&comp, &args.file),
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
            ExitCode::SUCCESS
        }
        Err(e) => {
            printer.finish();
            tell!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Final metrics: one row per split, one column per metric.
fn print_table(rows: &[(String, Metrics)]) {
    let names: Vec<&str> = rows[0].1.iter().map(|(n, _)| n.as_str()).collect();
    let width = rows.iter().map(|(s, _)| s.len()).max().unwrap_or(4).max(4);
    let mut header = format!("{:width$}", "data");
    for n in &names {
        header.push_str(&format!("  {n:>10}"));
    }
    say!("{header}");
    for (split, metrics) in rows {
        let mut line = format!("{split:width$}");
        for (_, v) in metrics {
            line.push_str(&format!("  {v:>10.4}"));
        }
        say!("{line}");
    }
}

fn metrics_text(m: &Metrics) -> String {
    m.iter()
        .map(|(n, v)| format!("{n} {v:.4}"))
        .collect::<Vec<_>>()
        .join("  ")
}

/// Progress on a terminal (a bar per epoch), plain lines otherwise.
struct Printer {
    bar: Option<ProgressBar>,
    tty: bool,
    epochs: u64,
    batch: usize,
    /// When this session's first step started, and steps since.
    clock: Option<(Instant, u64)>,
}

impl Printer {
    fn new() -> Printer {
        Printer {
            bar: None,
            tty: std::io::stderr().is_terminal(),
            epochs: 0,
            batch: 1,
            clock: None,
        }
    }

    fn finish(&mut self) {
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
