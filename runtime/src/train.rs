//! The training loop: epochs of shuffled batches through the step graph,
//! validation, early stopping, keep-best, checkpoints and the run record.
//!
//! Everything random is a function of the seed and a counter (the epoch
//! for shuffling, the step for dropout), and a checkpoint is written at
//! the end of every epoch, so a run resumed from its last checkpoint
//! continues exactly as if it had never stopped.
//!
//! Batching: training steps take full batches only (the partial last
//! batch of an epoch is left out; the shuffle changes every epoch, so every
//! sample is used). Evaluation uses every sample, in batches of up to
//! [`EVAL_BATCH`]; its metrics are means over batches weighted by their
//! sizes (exact for per-sample means such as accuracy and MSE).

use crate::checkpoint::{self, Checkpoint};
use crate::data::{self, DataError, Loaded, Samples};
use crate::init;
use crate::interp::{Bindings, Interpreter, RunError};
use crate::record::RunRecord;
use crate::rng;
use crate::tensor::Tensor;
use dlp_compiler::lower::{
    self, DataRef, Lowered, Mode, TrainPlan, LOSS_OUTPUT, METRIC_PREFIX, PARAM_PREFIX, STATE_PREFIX,
};
use dlp_compiler::optim::{Clock, LR_INPUT, STEP_INPUT};
use dlp_compiler::{Compilation, Diagnostic};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The largest evaluation batch.
pub const EVAL_BATCH: usize = 1024;

/// What to train: a checked program without errors.
pub struct Job<'a> {
    pub comp: &'a Compilation,
    /// The train block to run (the first when `None`).
    pub train: Option<String>,
    /// The folder data paths are relative to (the program's).
    pub base: PathBuf,
    /// Every `.dlp` file of the program, by name relative to `base`, to
    /// keep in the run record.
    pub program: Vec<(String, String)>,
}

#[derive(Clone, Debug, Default)]
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
}

#[derive(Debug)]
pub enum TrainError {
    Program(Box<Diagnostic>),
    Data(DataError),
    Run(String),
    Io(String),
}

impl fmt::Display for TrainError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            TrainError::Program(d) => write!(f, "{}", d.message),
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

/// What the loop tells its driver (the CLI prints it).
pub trait Observer {
    fn started(
        &mut self,
        _run: &RunRecord,
        _plan: &TrainPlan,
        _steps_per_epoch: u64,
        _epochs: u64,
        _resumed_at: u64,
    ) {
    }
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
    pub seconds: f64,
}

/// Where a run is; stored in every checkpoint.
#[derive(Clone, Debug)]
struct Progress {
    epoch: u64,
    step: u64,
    best: f64,
    bad_validations: u64,
}

pub fn train(job: &Job, opts: &Options, obs: &mut dyn Observer) -> Result<Summary, TrainError> {
    let started = Instant::now();
    let name = job.train.as_deref();
    let fallback = dlp_compiler::Loc::new(job.comp.program.modules[0].file, Default::default());
    let lower = |mode, batch, data: Option<&DataRef>| {
        lower::lower(job.comp, name, mode, batch, data)
            .map_err(|e| TrainError::Program(Box::new(e.diagnostic(fallback))))
    };
    let step_graph = lower(Mode::Train, None, None)?;
    let plan = step_graph.plan.clone();
    let device = opts.device.as_deref().unwrap_or(&plan.device);
    if device != "cpu" && device != "auto" {
        return Err(TrainError::Run(format!(
            "device `{device}` is not available yet: this version trains on the CPU (`--device cpu`)"
        )));
    }
    if let (Some(_), Some(seed)) = (&opts.resume, opts.seed) {
        return Err(TrainError::Run(format!(
            "a resumed run keeps the seed it started with: drop `--seed {seed}`"
        )));
    }

    // Data.
    let mut datasets: HashMap<String, Loaded> = HashMap::new();
    let train_set = data::load(&plan.dataset, &job.base)?;
    datasets.insert(plan.dataset.name.clone(), train_set);
    let eval_refs = evaluation_sets(&plan, &datasets[&plan.dataset.name]);
    for r in &eval_refs {
        if !datasets.contains_key(&r.dataset) {
            let lowered = lower(Mode::Eval, Some(1), Some(r))?;
            let loaded = data::load(&lowered.plan.dataset, &job.base)?;
            datasets.insert(r.dataset.clone(), loaded);
        }
    }
    let train_data = part(&datasets, &plan.data)?;
    if train_data.len < plan.batch {
        return Err(TrainError::Run(format!(
            "`{}` has {} samples, fewer than one batch of {}: lower `batch`",
            plan.data, train_data.len, plan.batch
        )));
    }
    let steps_per_epoch = (train_data.len / plan.batch) as u64;
    let (epochs, total_steps) = match (plan.epochs, plan.steps) {
        (_, Some(steps)) => (steps.div_ceil(steps_per_epoch), steps),
        (Some(e), None) => (e, e * steps_per_epoch),
        (None, None) => (1, steps_per_epoch),
    };

    // The record, and where to start.
    let seed;
    let record;
    let mut params: HashMap<String, Tensor>;
    let mut states: HashMap<String, Tensor> = HashMap::new();
    let mut progress = Progress {
        epoch: 0,
        step: 0,
        best: f64::INFINITY,
        bad_validations: 0,
    };
    if let Some(dir) = &opts.resume {
        record = RunRecord::open(dir)?;
        let config = record.config()?;
        seed = config
            .get("seed")
            .and_then(Value::as_u64)
            .unwrap_or(plan.seed);
        let ck = checkpoint::load(&record.checkpoint("last")).map_err(TrainError::Run)?;
        check_params(&plan, &ck)?;
        let meta = |k: &str| {
            ck.meta
                .get(k)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        progress = Progress {
            epoch: meta("epoch") as u64,
            step: meta("step") as u64,
            best: ck
                .meta
                .get("best")
                .and_then(|v| v.parse().ok())
                .unwrap_or(f64::INFINITY),
            bad_validations: meta("bad_validations") as u64,
        };
        params = ck.params;
        states = ck.states;
        record.truncate_log_after(progress.epoch)?;
    } else {
        seed = opts.seed.unwrap_or(plan.seed);
        params = plan
            .params
            .iter()
            .map(|p| (p.path.clone(), init::initialise(p, seed)))
            .collect();
        let files: Vec<Value> = datasets
            .values()
            .flat_map(|d| d.files.iter())
            .map(|(p, h)| json!({"file": p.display().to_string(), "hash": h}))
            .collect();
        let config = json!({
            "train": plan.name,
            "program": job.program.first().map(|(n, _)| n.clone()),
            "seed": seed,
            "data": files,
            "plan": plan,
            "dlpc": env!("CARGO_PKG_VERSION"),
            "started": crate::record::utc_stamp(std::time::SystemTime::now()),
        });
        record = RunRecord::create(&opts.runs, &plan.name, &job.program, &config)?;
    }
    obs.started(&record, &plan, steps_per_epoch, epochs, progress.epoch);
    // From here on a failure is recorded in the run's summary, so that the
    // record never looks like a run still in progress.
    let outcome = (|| -> Result<Summary, TrainError> {
        let step_run = Interpreter::new(&step_graph.graph);
        let mut evaluator = Evaluator {
            job,
            graphs: HashMap::new(),
        };
        let seed_input = Tensor::scalar_i32(seed as u32 as i32);
        let mut status = "completed";
        let mut trained_samples = 0usize;
        let train_started = Instant::now();
        while progress.epoch < epochs && progress.step < total_steps {
            if opts.stop_after.is_some_and(|s| progress.epoch >= s) {
                status = "stopped";
                break;
            }
            let epoch = progress.epoch + 1;
            let epoch_started = Instant::now();
            let order = rng::permutation(
                train_data.len,
                seed as u32,
                rng::stream_of("epoch"),
                epoch as u32,
            );
            let mut sums: Vec<(String, f64)> = Vec::new();
            let mut steps_done = 0u64;
            // This epoch's log lines, written with its checkpoint.
            let mut log: Vec<Value> = Vec::new();
            for (i, rows) in order.chunks_exact(plan.batch).enumerate() {
                if progress.step >= total_steps {
                    break;
                }
                let batch = train_data.rows(rows);
                let clock = Clock {
                    step: progress.step,
                    epoch: epoch - 1,
                    steps_per_epoch,
                    total_steps,
                };
                let lr = plan.schedule.lr(plan.optimizer.lr(), clock);
                let lr_t = Tensor::scalar_f32(lr as f32);
                let t = Tensor::scalar_f32((progress.step + 1) as f32);
                let counter = Tensor::scalar_i32(progress.step as u32 as i32);
                let mut b = Bindings {
                    params: Some(&params),
                    states: Some(&states),
                    ..Bindings::default()
                };
                for (name, tensor) in &batch.feeds {
                    b.inputs.insert(name, tensor);
                }
                b.inputs.insert(LR_INPUT, &lr_t);
                b.inputs.insert(STEP_INPUT, &t);
                b.inputs.insert(lower::SEED_INPUT, &seed_input);
                b.inputs.insert(lower::COUNTER_INPUT, &counter);
                let outputs = step_run.run(&b)?;
                let mut new_params = HashMap::new();
                let mut new_states = HashMap::new();
                let mut loss = f64::NAN;
                let mut values: Metrics = Vec::new();
                for (name, t) in outputs {
                    if let Some(p) = name.strip_prefix(PARAM_PREFIX) {
                        new_params.insert(p.to_string(), t);
                    } else if let Some(s) = name.strip_prefix(STATE_PREFIX) {
                        new_states.insert(s.to_string(), t);
                    } else if name == LOSS_OUTPUT {
                        loss = t.item();
                        values.push(("loss".into(), loss));
                    } else if let Some(m) = name.strip_prefix(METRIC_PREFIX) {
                        values.push((m.to_string(), t.item()));
                    }
                }
                if !loss.is_finite() {
                    log.push(json!({"kind": "step", "epoch": epoch, "step": progress.step + 1, "loss": Value::Null, "lr": lr}));
                    record.log(&log)?;
                    return Err(TrainError::Run(format!(
                    "the loss became {loss} at epoch {epoch}, step {}: try a lower learning rate or `clip_grad_norm`",
                    progress.step + 1
                )));
                }
                params = new_params;
                states = new_states;
                progress.step += 1;
                steps_done += 1;
                trained_samples += plan.batch;
                log.push(json!({"kind": "step", "epoch": epoch, "step": progress.step, "loss": loss, "lr": lr}));
                add_into(&mut sums, &values, 1.0);
                obs.step(epoch, i as u64 + 1, loss);
            }
            let train_metrics: Metrics = sums
                .iter()
                .map(|(n, v)| (n.clone(), v / steps_done.max(1) as f64))
                .collect();
            let mut entry = json!({"kind": "epoch", "epoch": epoch, "steps": progress.step});
            for (n, v) in &train_metrics {
                entry[n] = json!(v);
            }
            log.push(entry);

            progress.epoch = epoch;

            // Validation, early stopping, keep-best.
            let mut validation = None;
            let mut stop = false;
            if let Some(v) = &plan.validate {
                if epoch.is_multiple_of(plan.validate_every) || epoch == epochs {
                    let metrics = evaluator.evaluate(&datasets, v, &params, seed)?;
                    let mut entry =
                        json!({"kind": "validate", "epoch": epoch, "data": v.to_string()});
                    for (n, x) in &metrics {
                        entry[n] = json!(x);
                    }
                    log.push(entry);
                    let loss = metrics
                        .iter()
                        .find(|(n, _)| n == "loss")
                        .map_or(f64::INFINITY, |m| m.1);
                    if loss < progress.best {
                        progress.best = loss;
                        progress.bad_validations = 0;
                        if plan.keep_best {
                            save(&record, "best", &params, &states, &progress, seed)?;
                        }
                    } else {
                        progress.bad_validations += 1;
                        if plan.patience.is_some_and(|p| progress.bad_validations >= p) {
                            stop = true;
                        }
                    }
                    validation = Some((v.to_string(), metrics));
                }
            }
            record.log(&log)?;
            save(&record, "last", &params, &states, &progress, seed)?;
            if plan
                .checkpoint_every
                .is_some_and(|n| n > 0 && epoch.is_multiple_of(n))
            {
                save(
                    &record,
                    &format!("epoch-{epoch}"),
                    &params,
                    &states,
                    &progress,
                    seed,
                )?;
            }
            let seconds = epoch_started.elapsed().as_secs_f64();
            let rate = (steps_done as usize * plan.batch) as f64 / seconds.max(1e-9);
            obs.epoch(epoch, &train_metrics, validation.as_ref(), seconds, rate);
            if stop {
                obs.note(&format!(
                    "stopping early: no improvement of the validation loss in {} validations",
                    progress.bad_validations
                ));
                status = "stopped early";
                break;
            }
        }
        let train_seconds = train_started.elapsed().as_secs_f64();

        // Final evaluation, with the best parameters when they were kept.
        let mut final_metrics = Vec::new();
        if status != "stopped" {
            if plan.keep_best && record.checkpoint("best").is_file() {
                let best = checkpoint::load(&record.checkpoint("best")).map_err(TrainError::Run)?;
                params = best.params;
                obs.note("evaluating the kept best parameters");
            }
            for r in &eval_refs {
                let metrics = evaluator.evaluate(&datasets, r, &params, seed)?;
                final_metrics.push((r.to_string(), metrics));
            }
        }
        let summary = Summary {
            run_id: record.id.clone(),
            dir: record.dir.clone(),
            status: status.to_string(),
            epochs: progress.epoch,
            steps: progress.step,
            final_metrics,
            samples_per_s: trained_samples as f64 / train_seconds.max(1e-9),
            seconds: started.elapsed().as_secs_f64(),
        };
        let finals: serde_json::Map<String, Value> = summary
            .final_metrics
            .iter()
            .map(|(split, m)| {
                (
                    split.clone(),
                    Value::Object(m.iter().map(|(n, v)| (n.clone(), json!(v))).collect()),
                )
            })
            .collect();
        record.write_json(
        crate::record::SUMMARY,
        &json!({
            "run": summary.run_id,
            "train": plan.name,
            "status": summary.status,
            "epochs": summary.epochs,
            "steps": summary.steps,
            "final": finals,
            "best_validation_loss": if progress.best.is_finite() { json!(progress.best) } else { Value::Null },
            "seconds": summary.seconds,
            "samples_per_second": summary.samples_per_s,
        }),
    )?;
        Ok(summary)
    })();
    if let Err(e) = &outcome {
        let _ = record.write_json(
            crate::record::SUMMARY,
            &json!({"run": record.id, "train": plan.name, "status": "failed", "error": e.to_string()}),
        );
    }
    outcome
}

/// The splits to report at the end: the validation data, and every other
/// split of the training dataset.
fn evaluation_sets(plan: &TrainPlan, train: &Loaded) -> Vec<DataRef> {
    let mut refs: Vec<DataRef> = train
        .parts
        .iter()
        .filter(|(s, _)| s.is_some() && *s != plan.data.split)
        .map(|(s, _)| DataRef {
            dataset: train.name.clone(),
            split: s.clone(),
        })
        .collect();
    if let Some(v) = &plan.validate {
        if !refs.contains(v) {
            refs.push(v.clone());
        }
    }
    refs
}

fn part<'d>(datasets: &'d HashMap<String, Loaded>, r: &DataRef) -> Result<&'d Samples, TrainError> {
    datasets
        .get(&r.dataset)
        .and_then(|d| d.part(r.split.as_deref()))
        .ok_or_else(|| {
            let splits: Vec<String> = datasets
                .get(&r.dataset)
                .map(|d| {
                    d.parts
                        .iter()
                        .filter_map(|(s, _)| s.as_ref().map(|s| format!("`{}.{s}`", r.dataset)))
                        .collect()
                })
                .unwrap_or_default();
            TrainError::Run(format!(
                "`{r}` has no data of its own: its data comes in splits, use one of {}",
                splits.join(", ")
            ))
        })
}

fn add_into(sums: &mut Vec<(String, f64)>, values: &Metrics, weight: f64) {
    for (n, v) in values {
        match sums.iter_mut().find(|(m, _)| m == n) {
            Some(slot) => slot.1 += v * weight,
            None => sums.push((n.clone(), v * weight)),
        }
    }
}

fn check_params(plan: &TrainPlan, ck: &Checkpoint) -> Result<(), TrainError> {
    for p in &plan.params {
        match ck.params.get(&p.path) {
            None => {
                return Err(TrainError::Run(format!(
                    "the checkpoint has no parameter `{}`: was the program changed?",
                    p.path
                )))
            }
            Some(t) if t.shape != p.shape || t.dtype() != p.dtype => {
                return Err(TrainError::Run(format!(
                    "parameter `{}` is {} in the checkpoint but {}{:?} in the program",
                    p.path,
                    t.ty(),
                    p.dtype,
                    p.shape
                )))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

fn save(
    record: &RunRecord,
    name: &str,
    params: &HashMap<String, Tensor>,
    states: &HashMap<String, Tensor>,
    p: &Progress,
    seed: u64,
) -> Result<(), TrainError> {
    let mut ck = Checkpoint {
        params: params.clone(),
        states: states.clone(),
        ..Checkpoint::default()
    };
    ck.meta.insert("epoch".into(), p.epoch.to_string());
    ck.meta.insert("step".into(), p.step.to_string());
    ck.meta.insert("best".into(), p.best.to_string());
    ck.meta
        .insert("bad_validations".into(), p.bad_validations.to_string());
    ck.meta.insert("seed".into(), seed.to_string());
    checkpoint::save(&record.checkpoint(name), &ck).map_err(TrainError::Io)
}

/// Evaluation graphs, lowered once per (data, batch size).
struct Evaluator<'j, 'a> {
    job: &'j Job<'a>,
    graphs: HashMap<(DataRef, usize), Lowered>,
}

impl Evaluator<'_, '_> {
    /// Loss and metrics over every sample of `r`.
    fn evaluate(
        &mut self,
        datasets: &HashMap<String, Loaded>,
        r: &DataRef,
        params: &HashMap<String, Tensor>,
        seed: u64,
    ) -> Result<Metrics, TrainError> {
        let samples = part(datasets, r)?;
        let seed_input = Tensor::scalar_i32(seed as u32 as i32);
        let counter = Tensor::scalar_i32(0);
        let mut sums: Metrics = Vec::new();
        let rows: Vec<usize> = (0..samples.len).collect();
        for chunk in rows.chunks(EVAL_BATCH) {
            let key = (r.clone(), chunk.len());
            if !self.graphs.contains_key(&key) {
                let fallback = dlp_compiler::Loc::new(
                    self.job.comp.program.modules[0].file,
                    Default::default(),
                );
                let lowered = lower::lower(
                    self.job.comp,
                    self.job.train.as_deref(),
                    Mode::Eval,
                    Some(chunk.len()),
                    Some(r),
                )
                .map_err(|e| TrainError::Program(Box::new(e.diagnostic(fallback))))?;
                self.graphs.insert(key.clone(), lowered);
            }
            let graph = &self.graphs[&key].graph;
            let batch = samples.rows(chunk);
            let mut b = Bindings {
                params: Some(params),
                ..Bindings::default()
            };
            for (name, tensor) in &batch.feeds {
                b.inputs.insert(name, tensor);
            }
            b.inputs.insert(lower::SEED_INPUT, &seed_input);
            b.inputs.insert(lower::COUNTER_INPUT, &counter);
            let outputs = Interpreter::new(graph).run(&b)?;
            let values: Metrics = outputs
                .into_iter()
                .filter_map(|(name, t)| {
                    if name == LOSS_OUTPUT {
                        Some(("loss".to_string(), t.item()))
                    } else {
                        name.strip_prefix(METRIC_PREFIX)
                            .map(|m| (m.to_string(), t.item()))
                    }
                })
                .collect();
            add_into(&mut sums, &values, chunk.len() as f64);
        }
        Ok(sums
            .into_iter()
            .map(|(n, v)| (n, v / samples.len.max(1) as f64))
            .collect())
    }
}

/// The data folder of a program file.
pub fn base_of(program: &Path) -> PathBuf {
    program
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}
