//! The training loop: epochs of shuffled batches through the compiled
//! program's train step, validation, early stopping, keep-best,
//! checkpoints and the run record. It executes only what the compiler
//! produced ([`CompiledProgram`]): it never lowers, and it finds inputs
//! and outputs by their types.
//!
//! Everything random is a function of the seed and a counter (the epoch
//! for shuffling; the epoch and each sample's index for dropout), and a
//! checkpoint is written at the end of every epoch, so a run resumed from
//! its last checkpoint continues exactly as if it had never stopped.
//!
//! Batching: training steps take full batches only (the partial last
//! batch of an epoch is left out; the shuffle changes every epoch, so every
//! sample is used). Evaluation uses every sample, in batches of up to
//! [`EVAL_BATCH`]; its metrics are means over batches weighted by their
//! sizes (exact for per-sample means such as accuracy and MSE).

mod evaluate;
pub mod infer;
mod loader;
pub mod memory;
pub mod sample;
mod start;
mod statistics;
mod step;
mod timing;

use crate::backend::Backend;
use crate::checkpoint;
use crate::data::{self, DataError, Loaded, Vocabulary};
use crate::interp::RunError;
use crate::record::{Lines, RunRecord, CONFUSION, SUMMARY};
use crate::rng;
use dlp_compiler::optim::Clock;
use dlp_compiler::program::{CompiledProgram, DataRef, TrainPlan};
use evaluate::{part, Evaluator};
use serde_json::{json, Value};
use start::State;
pub use start::{
    check_fits, checkpoint_of, recorded_run, recorded_vocabulary, vocabulary_of, RecordedRun,
};
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;
use step::Stepper;
use timing::Timing;

/// The largest evaluation batch.
pub const EVAL_BATCH: usize = 1024;

/// What to train: a compiled program, and where it came from.
#[derive(Clone)]
pub struct Job<'a> {
    pub program: &'a CompiledProgram,
    /// The folder data paths are relative to (the program's).
    pub base: PathBuf,
    /// Every `.dlp` file of the program, by name relative to `base`, to
    /// keep in the run record (as written: before `overrides`).
    pub files: Vec<(String, String)>,
    /// The `--set` overrides the program was compiled with (`optimizer.lr`
    /// → `3e-3`), recorded so the run can be reproduced.
    pub overrides: Vec<(String, String)>,
    /// A checkpoint whose parameters a new run starts from (fine-tuning)
    /// instead of initialising them.
    pub init_from: Option<PathBuf>,
}

#[derive(Clone, Debug)]
pub struct Options {
    pub runs: PathBuf,
    /// Continue the run recorded in this folder.
    pub resume: Option<PathBuf>,
    /// Overrides the train block's seed.
    pub seed: Option<u64>,
    /// Stop (as if interrupted) after this many epochs in total.
    pub stop_after: Option<u64>,
    /// Overrides the train block's `device`.
    pub device: Option<String>,
    /// What runs the steps (the CPU back end unless told otherwise).
    pub backend: Backend,
    /// When the command started: `seconds` and `startup_seconds` in the
    /// summary count from here (so they include parsing and compiling).
    pub started: Instant,
    /// The most memory the run may plan for (bytes); by default, what the
    /// machine has available.
    pub max_memory: Option<u64>,
    /// Time the GPU's kernels and report where the time went.
    pub profile: bool,
    /// Set (by a Ctrl-C handler) to stop after the current step, writing
    /// a checkpoint the run resumes from exactly.
    pub interrupt: Option<Arc<AtomicBool>>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            runs: PathBuf::new(),
            resume: None,
            seed: None,
            stop_after: None,
            device: None,
            backend: Backend::default(),
            started: Instant::now(),
            max_memory: None,
            profile: false,
            interrupt: None,
        }
    }
}

#[derive(Debug)]
pub enum TrainError {
    Data(DataError),
    Run(String),
    Io(String),
}

impl fmt::Display for TrainError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            TrainError::Data(e) => write!(f, "{e}"),
            TrainError::Run(m) | TrainError::Io(m) => f.write_str(m),
        }
    }
}

impl From<DataError> for TrainError {
    fn from(e: DataError) -> TrainError {
        TrainError::Data(e)
    }
}

impl From<RunError> for TrainError {
    fn from(e: RunError) -> TrainError {
        TrainError::Run(e.0)
    }
}

impl From<std::io::Error> for TrainError {
    fn from(e: std::io::Error) -> TrainError {
        TrainError::Io(e.to_string())
    }
}

/// Named values: a loss and metrics.
pub type Metrics = Vec<(String, f64)>;

/// What a run is about to do.
pub struct Started<'a> {
    pub record: &'a RunRecord,
    pub plan: &'a TrainPlan,
    pub steps_per_epoch: u64,
    pub epochs: u64,
    /// Epochs done before this session (resumed runs).
    pub resumed_at: u64,
    /// How many samples the training data and each evaluation set hold.
    pub samples: Vec<(String, usize)>,
    pub device: &'a str,
    /// The GPU adapter and its API (`NVIDIA H200 (vulkan)`), on the GPU.
    pub adapter: Option<String>,
    pub backend: Backend,
    /// The threads the back end computes on.
    pub threads: usize,
}

/// What the loop tells its driver (the CLI prints it).
pub trait Observer {
    fn started(&mut self, _start: &Started) {}
    fn step(&mut self, _epoch: u64, _step_in_epoch: u64, _loss: f64) {}
    fn epoch(
        &mut self,
        _epoch: u64,
        _train: &Metrics,
        _validation: Option<&(String, Metrics)>,
        _seconds: f64,
        _samples_per_s: f64,
    ) {
    }
    fn note(&mut self, _message: &str) {}
}

/// An observer that says nothing.
pub struct Silent;
impl Observer for Silent {}

#[derive(Clone, Debug)]
pub struct Summary {
    pub run_id: String,
    pub dir: PathBuf,
    pub status: String,
    pub epochs: u64,
    pub steps: u64,
    /// Final metrics per evaluated split (`digits.test`).
    pub final_metrics: Vec<(String, Metrics)>,
    pub samples_per_s: f64,
    /// Samples per second after the first [`timing::WARM_UP_STEPS`]
    /// steps of this process (code generation and caches warm), if it ran
    /// more.
    pub steady_samples_per_s: Option<f64>,
    /// The mean time of a step after the warm-up, from its start to its
    /// end (its wait for its batch included).
    pub step_ms: Option<f64>,
    /// From the command's start to the first step's.
    pub startup_seconds: Option<f64>,
    pub seconds: f64,
}

/// Everything about a run that stays fixed while it trains.
struct Run<'j, 'a> {
    job: &'j Job<'a>,
    opts: &'j Options,
    plan: TrainPlan,
    datasets: HashMap<String, Loaded>,
    /// What the final evaluation reports on.
    final_sets: Vec<DataRef>,
    steps_per_epoch: u64,
    epochs: u64,
    total_steps: u64,
}

/// The device a run computes on (`cpu` or `gpu`) and the back end that
/// runs its steps, for the `device` asked for: `auto` is the GPU when a
/// hardware adapter is there (a software one is slower than the CPU back
/// end), else the CPU.
pub fn choose_device(requested: &str, backend: Backend) -> Result<(String, Backend), TrainError> {
    let on_gpu = |why: &str| -> Result<(String, Backend), TrainError> {
        crate::gpu::gpu().map_err(|e| TrainError::Run(format!("{why}{e}")))?;
        Ok(("gpu".into(), Backend::Gpu))
    };
    match (requested, backend) {
        ("gpu", Backend::Interp) => Err(TrainError::Run(
            "the reference interpreter (`--backend interp`) runs on the CPU: use it with `--device cpu`"
                .into(),
        )),
        ("gpu", _) => on_gpu("device `gpu`: "),
        // A GPU that cannot be opened (a broken driver) leaves `auto` on
        // the CPU, as the start line then says.
        ("auto", Backend::Cpu | Backend::Gpu)
            if crate::gpu::hardware_available() && crate::gpu::gpu().is_ok() =>
        {
            Ok(("gpu".into(), Backend::Gpu))
        }
        ("cpu" | "auto", Backend::Gpu) => Ok(("cpu".into(), Backend::Cpu)),
        ("cpu" | "auto", backend) => Ok(("cpu".into(), backend)),
        (other, _) => Err(TrainError::Run(format!(
            "unknown device `{other}`: the devices are `cpu`, `gpu` and `auto`"
        ))),
    }
}

/// The adapter GPU steps run on, as the start line and the record name it.
/// (Nothing for the CPU: asking would open the GPU, loading its driver.)
pub(crate) fn adapter_name(backend: Backend) -> Option<String> {
    if backend != Backend::Gpu {
        return None;
    }
    let gpu = crate::gpu::gpu().ok()?;
    Some(format!("{} ({})", gpu.adapter.name, gpu.adapter.backend))
}

/// Watches the training loss of a run started from scratch: it tells,
/// once, when a step's loss is more than [`Divergence::FACTOR`] times the
/// first step's, the usual sign of a learning rate too high for the model.
#[derive(Clone, Debug, Default)]
pub(super) struct Divergence {
    first: Option<f64>,
    told: bool,
}

impl Divergence {
    const FACTOR: f64 = 100.0;

    /// For a run that does not start from scratch (resumed, or from a
    /// checkpoint): its first loss is no baseline.
    pub(super) fn off() -> Divergence {
        Divergence {
            first: None,
            told: true,
        }
    }

    /// The first loss, when `loss` is the first to exceed it by the factor.
    fn grew(&mut self, loss: f64) -> Option<f64> {
        let first = *self.first.get_or_insert(loss);
        if self.told || first <= 0.0 || loss <= Self::FACTOR * first {
            return None;
        }
        self.told = true;
        Some(first)
    }
}

/// A number for a message: four decimals, or scientific when tiny or huge.
fn figure_text(v: f64) -> String {
    if v != 0.0 && (v.abs() < 1e-3 || v.abs() >= 1e6) {
        format!("{v:.3e}")
    } else {
        format!("{v:.4}")
    }
}

/// A step's results into the epoch's log and sums, and to the observer;
/// a loss or metric that is not finite ends the run.
fn record_step(
    done: step::Done,
    log: &mut Lines,
    sums: &mut Metrics,
    state: &mut State,
    obs: &mut dyn Observer,
) -> Result<(), TrainError> {
    let step::Done { at, in_epoch, out } = done;
    let (epoch, step, lr) = (at.epoch, at.step, at.lr);
    if !out.loss.is_finite() {
        log.push(json!({"kind": "step", "epoch": epoch, "step": step + 1, "loss": Value::Null, "lr": lr}));
        state.record.log(log)?;
        return Err(TrainError::Run(format!(
            "the loss became {} at epoch {epoch}, step {}: try a lower learning rate or `clip_grad_norm`",
            out.loss,
            step + 1
        )));
    }
    if let Some((name, v)) = non_finite(&out.metrics) {
        log.push(
            json!({"kind": "step", "epoch": epoch, "step": step + 1, "loss": out.loss, "lr": lr}),
        );
        state.record.log(log)?;
        return Err(TrainError::Run(format!(
            "the training {} became {v} at epoch {epoch}, step {}: {NON_FINITE_HINT}",
            figure(name),
            step + 1
        )));
    }
    if let Some(first) = state.divergence.grew(out.loss) {
        obs.note(&format!(
            "warning: the training loss grew from {} (this run's first step) to {} at epoch {epoch}, step {}: a smaller learning rate (now {}) or `clip_grad_norm` may help",
            figure_text(first),
            figure_text(out.loss),
            step + 1,
            figure_text(lr)
        ));
    }
    state.progress.step += 1;
    log.push(json!({"kind": "step", "epoch": epoch, "step": step + 1, "loss": out.loss, "lr": lr}));
    add_into(sums, &out.metrics, 1.0);
    obs.step(epoch, in_epoch, out.loss);
    Ok(())
}

/// Trains `job`'s program: reads its data, starts or resumes a run
/// record, and runs epochs until done, stopped early or told to stop.
pub fn train(job: &Job, opts: &Options, obs: &mut dyn Observer) -> Result<Summary, TrainError> {
    let started = opts.started;
    check_options(opts)?;
    let plan = job.program.plan.clone();
    let opts = &match &opts.resume {
        Some(dir) => {
            let (dir, recorded) = resume_target(dir, &opts.runs, Some(&plan.name))?;
            if recorded != plan.name {
                return Err(TrainError::Run(format!(
                    "the run trains `{recorded}` but the program given is for `{}`",
                    plan.name
                )));
            }
            Options {
                resume: Some(dir),
                ..opts.clone()
            }
        }
        None => opts.clone(),
    };
    let requested = opts.device.as_deref().unwrap_or(&plan.device);
    let (device, backend) = choose_device(requested, opts.backend)?;
    let opts = &Options {
        backend,
        ..opts.clone()
    };
    let device = device.as_str();
    memory::check(&memory::estimate(job.program), opts.max_memory)?;
    if let (Some(path), None) = (&job.init_from, &opts.resume) {
        start::check_fits(path, &plan)?;
    }
    let vocabulary = run_vocabulary(job, opts)?;
    let datasets = load_data(job, vocabulary.as_ref())?;
    let train_len = part(&datasets, &plan.data)?.len;
    if train_len < plan.batch {
        return Err(TrainError::Run(format!(
            "`{}` has {train_len} samples, fewer than one batch of {}: lower `batch`",
            plan.data, plan.batch
        )));
    }
    let steps_per_epoch = (train_len / plan.batch) as u64;
    let (epochs, total_steps) = match (plan.epochs, plan.steps) {
        (_, Some(steps)) => (steps.div_ceil(steps_per_epoch), steps),
        (Some(e), None) => (e, e * steps_per_epoch),
        (None, None) => (1, steps_per_epoch),
    };
    let final_sets = plan.final_sets.clone();
    let mut samples = vec![(plan.data.to_string(), train_len)];
    for r in &final_sets {
        samples.push((r.to_string(), part(&datasets, r)?.len));
    }
    let mut state = match &opts.resume {
        Some(dir) => start::resume(dir, &plan, vocabulary)?,
        None => start::fresh(job, opts, &plan, &datasets, &samples, device, vocabulary)?,
    };
    let writing = state.record.mark_writing()?;
    obs.started(&Started {
        record: &state.record,
        plan: &plan,
        steps_per_epoch,
        epochs,
        resumed_at: state.progress.epoch,
        samples,
        device,
        adapter: adapter_name(opts.backend),
        backend: opts.backend,
        threads: opts.backend.threads(),
    });
    let run = Run {
        job,
        opts,
        plan,
        datasets,
        final_sets,
        steps_per_epoch,
        epochs,
        total_steps,
    };
    let outcome = run.run(&mut state, obs, started, writing);
    // A failure is recorded too, so that the record never looks like a run
    // still in progress.
    if let Err(e) = &outcome {
        let _ = state.record.write_json(
            SUMMARY,
            &json!({"run": state.record.id, "train": run.plan.name, "status": "failed", "error": e.to_string()}),
        );
    }
    outcome
}

/// Options that contradict each other.
pub fn check_options(opts: &Options) -> Result<(), TrainError> {
    if let (Some(_), Some(seed)) = (&opts.resume, opts.seed) {
        return Err(TrainError::Run(format!(
            "a resumed run keeps the seed it started with: drop `--seed {seed}`"
        )));
    }
    Ok(())
}

/// The folder of the run `dir` names (a folder, or a run id under `runs`)
/// and the train block it trains, checked against `asked` (`--train`),
/// when there is something left to resume. A driver compiles that block.
pub fn resume_target(
    dir: &Path,
    runs: &Path,
    asked: Option<&str>,
) -> Result<(PathBuf, String), TrainError> {
    let dir = start::run_folder(dir, runs)?;
    let name = start::recorded_train(&dir, asked)?;
    Ok((dir, name))
}

/// The `--set` overrides a recorded run was started with, which a
/// resumed run applies again.
pub fn recorded_overrides(dir: &Path) -> Result<Vec<(String, String)>, TrainError> {
    let config = crate::record::RunRecord::open(dir)?.config()?;
    Ok(config
        .get("overrides")
        .and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default())
}

/// How the run numbers the characters of character-level text (`None`
/// when it reads none): as the parameters it continues were trained (a
/// resumed run, `--init-from`), else by the characters of every such text
/// the program reads.
fn run_vocabulary(job: &Job, opts: &Options) -> Result<Option<Vocabulary>, TrainError> {
    if !Vocabulary::needed_by(&job.program.datasets) {
        return Ok(None);
    }
    let continued = match (&opts.resume, &job.init_from) {
        (Some(dir), _) => Some(RunRecord::open(dir)?.checkpoint(start::LAST)),
        (None, Some(path)) => Some(path.clone()),
        (None, None) => None,
    };
    match continued.filter(|p| p.is_file()) {
        Some(path) => start::recorded_vocabulary(&path)?.map(Some).ok_or_else(|| {
            TrainError::Run(format!(
                "{}: these parameters were trained without a character vocabulary (their run read no text with `tokens = \"chars\"`), but the program reads such text: its characters cannot be numbered as the parameters expect",
                path.display()
            ))
        }),
        None => Ok(Vocabulary::of_texts(&job.program.datasets, &job.base)?),
    }
}

/// Every dataset the program reads.
fn load_data(
    job: &Job,
    vocabulary: Option<&Vocabulary>,
) -> Result<HashMap<String, Loaded>, TrainError> {
    let mut datasets = HashMap::new();
    for spec in &job.program.datasets {
        datasets.insert(spec.name.clone(), data::load(spec, &job.base, vocabulary)?);
    }
    Ok(datasets)
}

/// How an epoch loop ended.
#[derive(Clone, Copy, PartialEq)]
enum Ending {
    Completed,
    /// `--stop-after`: resumable.
    Stopped,
    StoppedEarly,
    /// Ctrl-C: resumable from the step it stopped after.
    Interrupted,
}

/// How an epoch ended.
struct EpochEnd {
    /// Samples trained on in this process.
    samples: usize,
    stop_early: bool,
    interrupted: bool,
}

impl Run<'_, '_> {
    /// `writing` marks the record as being written until its summary is.
    fn run(
        &self,
        state: &mut State,
        obs: &mut dyn Observer,
        started: Instant,
        writing: crate::record::WriterMark,
    ) -> Result<Summary, TrainError> {
        let mut stepper = Stepper::new(&self.job.program.train, state.seed, self.opts.backend)?;
        if self.opts.profile {
            if let Some(why) = stepper.start_profiling() {
                obs.note(&why);
            }
        }
        let mut evaluator = Evaluator::new(
            &self.job.program.eval,
            &self.job.program.plan.pass_metrics,
            self.opts.backend,
        )?;
        let mut ending = Ending::Completed;
        let mut trained_samples = 0usize;
        let mut timing = Timing::default();
        let train_started = Instant::now();
        while state.progress.epoch < self.epochs && state.progress.step < self.total_steps {
            if self
                .opts
                .stop_after
                .is_some_and(|s| state.progress.epoch >= s)
            {
                ending = Ending::Stopped;
                break;
            }
            // A run resumed after the epoch that exhausted its patience (killed
            // before its summary was written) stops where it would have.
            let exhausted = self
                .plan
                .patience
                .is_some_and(|p| state.progress.bad_validations >= p);
            let stop_early = exhausted || {
                let end = self.epoch(&mut stepper, &mut evaluator, state, obs, &mut timing)?;
                trained_samples += end.samples;
                if end.interrupted {
                    ending = Ending::Interrupted;
                    break;
                }
                end.stop_early
            };
            if stop_early {
                obs.note(&format!(
                    "stopping early: no improvement of the validation loss in {} validations",
                    state.progress.bad_validations
                ));
                ending = Ending::StoppedEarly;
                break;
            }
        }
        let train_seconds = train_started.elapsed().as_secs_f64();
        if let Some(report) = stepper.profile_report() {
            obs.note(&report);
        }
        let final_metrics = if matches!(ending, Ending::Stopped | Ending::Interrupted) {
            Vec::new()
        } else {
            self.final_evaluation(&mut evaluator, state, obs)?
        };
        let summary = Summary {
            run_id: state.record.id.clone(),
            dir: state.record.dir.clone(),
            status: match ending {
                Ending::Completed => "completed",
                Ending::Stopped => "stopped",
                Ending::StoppedEarly => "stopped early",
                Ending::Interrupted => "interrupted",
            }
            .to_string(),
            epochs: state.progress.epoch,
            steps: state.progress.step,
            final_metrics,
            samples_per_s: trained_samples as f64 / train_seconds.max(1e-9),
            steady_samples_per_s: timing.steady_samples_per_s(),
            step_ms: timing.mean_step_ms(),
            startup_seconds: timing.startup_seconds(started),
            seconds: started.elapsed().as_secs_f64(),
        };
        // Unmarked first: a kill in between leaves a run without a summary
        // and without a live writer, which `dlpc runs list` calls killed.
        drop(writing);
        self.write_summary(&summary, state)?;
        Ok(summary)
    }

    /// One epoch: its steps, its validation, its checkpoints and log lines;
    /// or, when interrupted, its steps up to then and a checkpoint there.
    fn epoch(
        &self,
        stepper: &mut Stepper,
        evaluator: &mut Evaluator,
        state: &mut State,
        obs: &mut dyn Observer,
        timing: &mut Timing,
    ) -> Result<EpochEnd, TrainError> {
        let plan = &self.plan;
        let epoch = state.progress.epoch + 1;
        let started = Instant::now();
        let data = part(&self.datasets, &plan.data)?;
        let order = rng::permutation(
            data.len,
            state.seed as u32,
            rng::stream_of("epoch"),
            epoch as u32,
        );
        // An interrupted epoch continues with the sums of its first steps.
        let resumed = state.partial.take().unwrap_or_default();
        let mut sums: Metrics = resumed.sums;
        let mut steps = resumed.steps;
        let mut steps_here = 0u64;
        let mut interrupted = false;
        // This epoch's log lines, written with its checkpoint.
        let mut log = Lines::default();
        let batches: Vec<&[usize]> = order.chunks_exact(plan.batch).collect();
        let mut gathered = None;
        // For `bench/loader.sh` only: every batch of the epoch gathered
        // before its first step, so that the steps' time is measured with
        // their data already in memory.
        let mut resident: std::collections::VecDeque<_> =
            if std::env::var_os("DLP_BENCH_RESIDENT_BATCHES").is_some() {
                let todo = batches.iter().skip(resumed.steps as usize);
                todo.map(|rows| data.batch(rows)).collect()
            } else {
                Default::default()
            };
        // `step`: the steps handed to the back end; their results may come
        // in a step later (on the GPU), and are counted in `state.progress`
        // then.
        let first = state.progress.step;
        let todo = batches.iter().enumerate().skip(resumed.steps as usize);
        for (step, (i, &rows)) in (first..).zip(todo) {
            if step >= self.total_steps {
                break;
            }
            if self.interrupted() {
                interrupted = true;
                break;
            }
            let clock = Clock {
                step,
                epoch: epoch - 1,
                steps_per_epoch: self.steps_per_epoch,
                total_steps: self.total_steps,
            };
            let lr = plan.schedule.lr(plan.optimizer.lr(), clock);
            let at = step::At { lr, step, epoch };
            timing.step_starts();
            // The next batch is gathered meanwhile, by a thread the step
            // leaves idle.
            let batch = match gathered.take().or_else(|| resident.pop_front()) {
                Some(batch) => batch,
                None => data.batch(rows),
            };
            let next = batches.get(i + 1).copied().filter(|_| resident.is_empty());
            let (out, next) = loader::overlapped(data, next, || {
                stepper.run(
                    &batch,
                    rows,
                    &mut state.params,
                    &mut state.states,
                    at,
                    i as u64 + 1,
                )
            });
            gathered = next;
            let done = out?;
            timing.step_ends(rows.len());
            if let Some(done) = done {
                record_step(done, &mut log, &mut sums, state, obs)?;
                steps += 1;
                steps_here += 1;
            }
        }
        if let Some(done) = stepper.finish()? {
            record_step(done, &mut log, &mut sums, state, obs)?;
            steps += 1;
            steps_here += 1;
        }
        // Parameters kept on a device come back for validation and the
        // checkpoints.
        stepper.sync(&mut state.params, &mut state.states)?;
        let samples = steps_here as usize * plan.batch;
        if interrupted {
            state.record.log(&log)?;
            state.save_interrupted(&start::Partial { steps, sums })?;
            return Ok(EpochEnd {
                samples,
                stop_early: false,
                interrupted: true,
            });
        }
        let train_metrics: Metrics = sums
            .into_iter()
            .map(|(n, v)| (n, v / steps.max(1) as f64))
            .collect();
        log.push(entry(
            json!({"kind": "epoch", "epoch": epoch, "steps": state.progress.step}),
            &train_metrics,
        ));
        state.progress.epoch = epoch;

        // Validation, early stopping, keep-best.
        let mut validation = None;
        let mut stop_early = false;
        let mut improved = false;
        if let Some(v) = &plan.validate {
            if epoch.is_multiple_of(plan.validate_every) || epoch == self.epochs {
                let metrics = evaluator.evaluate(&self.datasets, v, &state.params, state.seed)?;
                log.push(entry(
                    json!({"kind": "validate", "epoch": epoch, "data": v.to_string()}),
                    &metrics,
                ));
                if let Some((name, value)) = non_finite(&metrics) {
                    state.record.log(&log)?;
                    return Err(TrainError::Run(format!(
                        "the validation {} on `{v}` became {value} at epoch {epoch}: {NON_FINITE_HINT}",
                        figure(name)
                    )));
                }
                let loss = metrics
                    .iter()
                    .find(|(n, _)| n == "loss")
                    .map_or(f64::INFINITY, |m| m.1);
                if loss < state.progress.best {
                    state.progress.best = loss;
                    state.progress.bad_validations = 0;
                    improved = true;
                } else {
                    state.progress.bad_validations += 1;
                    stop_early = plan
                        .patience
                        .is_some_and(|p| state.progress.bad_validations >= p);
                }
                validation = Some((v.to_string(), metrics));
            }
        }
        // The log, then `last`, `best` and `epoch-N` as one set: see `save_epoch`.
        state.record.log(&log)?;
        state.save_epoch(plan, improved)?;
        let seconds = started.elapsed().as_secs_f64();
        obs.epoch(
            epoch,
            &train_metrics,
            validation.as_ref(),
            seconds,
            samples as f64 / seconds.max(1e-9),
        );
        Ok(EpochEnd {
            samples,
            stop_early,
            interrupted: false,
        })
    }

    /// Whether Ctrl-C asked the run to stop.
    fn interrupted(&self) -> bool {
        self.opts
            .interrupt
            .as_ref()
            .is_some_and(|flag| flag.load(Ordering::Relaxed))
    }

    /// Metrics on every evaluation set, with the best parameters when they
    /// were kept.
    fn final_evaluation(
        &self,
        evaluator: &mut Evaluator,
        state: &mut State,
        obs: &mut dyn Observer,
    ) -> Result<Vec<(String, Metrics)>, TrainError> {
        let best = state.record.checkpoint("best");
        if self.plan.keep_best && best.is_file() {
            state.params = checkpoint::load(&best).map_err(TrainError::Run)?.params;
            obs.note("evaluating the kept best parameters");
        }
        let mut matrices = serde_json::Map::new();
        let finals = self
            .final_sets
            .iter()
            .map(|r| {
                let metrics = evaluator.evaluate(&self.datasets, r, &state.params, state.seed)?;
                if let Some((name, v)) = non_finite(&metrics) {
                    return Err(TrainError::Run(format!(
                        "the final evaluation on `{r}` gave a {} of {v}: {NON_FINITE_HINT}",
                        figure(name)
                    )));
                }
                let counts: serde_json::Map<String, Value> = evaluator
                    .matrices(r)
                    .iter()
                    .map(|(name, m)| (name.clone(), json!(m)))
                    .collect();
                if !counts.is_empty() {
                    matrices.insert(r.to_string(), Value::Object(counts));
                }
                Ok((r.to_string(), metrics))
            })
            .collect::<Result<Vec<_>, TrainError>>()?;
        // Confusion matrices: data -> metric -> counts[labelled][predicted].
        if !matrices.is_empty() {
            state
                .record
                .write_json(CONFUSION, &Value::Object(matrices))?;
        }
        Ok(finals)
    }

    fn write_summary(&self, summary: &Summary, state: &State) -> Result<(), TrainError> {
        let finals: serde_json::Map<String, Value> = summary
            .final_metrics
            .iter()
            .map(|(split, m)| (split.clone(), entry(json!({}), m)))
            .collect();
        let best = state.progress.best;
        state.record.write_json(
            SUMMARY,
            &json!({
                "run": summary.run_id,
                "train": self.plan.name,
                "status": summary.status,
                "epochs": summary.epochs,
                "steps": summary.steps,
                "final": finals,
                "best_validation_loss": if best.is_finite() { json!(best) } else { Value::Null },
                "seconds": summary.seconds,
                "samples_per_second": summary.samples_per_s,
                "steady_samples_per_second": summary.steady_samples_per_s,
                "step_ms": summary.step_ms,
                "startup_seconds": summary.startup_seconds,
            }),
        )?;
        Ok(())
    }
}

/// What a run that met a NaN or an infinity is told.
const NON_FINITE_HINT: &str =
    "try a lower learning rate or `clip_grad_norm`, or check the scale of the data";

/// The first loss or metric that is NaN or infinite.
fn non_finite(metrics: &Metrics) -> Option<(&str, f64)> {
    metrics
        .iter()
        .find(|(_, v)| !v.is_finite())
        .map(|(n, v)| (n.as_str(), *v))
}

/// "loss", or "metric `mae`".
fn figure(name: &str) -> String {
    if name == "loss" {
        "loss".into()
    } else {
        format!("metric `{name}`")
    }
}

/// A JSON object with `metrics` added to `base`.
fn entry(mut base: Value, metrics: &Metrics) -> Value {
    for (n, v) in metrics {
        base[n] = json!(v);
    }
    base
}

/// Adds `values` times `weight` into the running sums.
fn add_into(sums: &mut Metrics, values: &Metrics, weight: f64) {
    for (n, v) in values {
        match sums.iter_mut().find(|(m, _)| m == n) {
            Some(slot) => slot.1 += v * weight,
            None => sums.push((n.clone(), v * weight)),
        }
    }
}

/// The data folder of a program file: its own folder, except for the copy
/// a run record keeps (`runs/<id>/program/f.dlp`), whose data paths are
/// relative to the folder the run's program was in (`config.json`'s
/// `base`), so the recorded program runs as it did.
pub fn base_of(program: &Path) -> PathBuf {
    let folder = program
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    recorded_base(&folder).unwrap_or(folder)
}

/// The `base` of the run record whose `program/` folder is `folder` (or
/// holds it: modules may sit in sub-folders).
fn recorded_base(folder: &Path) -> Option<PathBuf> {
    let program = folder
        .ancestors()
        .find(|a| a.file_name().is_some_and(|n| n == crate::record::PROGRAM))?;
    let config = crate::record::read_json(&program.parent()?.join(crate::record::CONFIG)).ok()?;
    let base = PathBuf::from(config.get("base")?.as_str()?);
    // A module in a sub-folder keeps its place below the base.
    Some(base.join(folder.strip_prefix(program).ok()?))
}
