//! Where a run begins: a new record with freshly initialised parameters,
//! or the last checkpoint of a recorded run (`--resume`).

use super::{Job, Options, TrainError};
use crate::checkpoint::{self, Checkpoint};
use crate::data::Loaded;
use crate::init;
use crate::record::{self, RunRecord};
use crate::tensor::Tensor;
use dlp_compiler::program::TrainPlan;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Where a run is; stored in every checkpoint.
#[derive(Clone, Debug)]
pub(super) struct Progress {
    /// Epochs completed.
    pub epoch: u64,
    /// Optimiser steps taken.
    pub step: u64,
    /// The lowest validation loss so far.
    pub best: f64,
    /// Validations since the best one.
    pub bad_validations: u64,
}

/// A run's record and everything that changes as it trains.
pub(super) struct State {
    pub record: RunRecord,
    pub seed: u64,
    pub params: HashMap<String, Tensor>,
    pub states: HashMap<String, Tensor>,
    pub progress: Progress,
}

impl State {
    /// Writes the checkpoint `name` (`last`, `best`, `epoch-3`).
    pub fn save(&self, name: &str) -> Result<(), TrainError> {
        let mut ck = Checkpoint {
            params: self.params.clone(),
            states: self.states.clone(),
            ..Checkpoint::default()
        };
        let p = &self.progress;
        ck.meta.insert("epoch".into(), p.epoch.to_string());
        ck.meta.insert("step".into(), p.step.to_string());
        ck.meta.insert("best".into(), p.best.to_string());
        ck.meta
            .insert("bad_validations".into(), p.bad_validations.to_string());
        ck.meta.insert("seed".into(), self.seed.to_string());
        checkpoint::save(&self.record.checkpoint(name), &ck).map_err(TrainError::Io)
    }
}

/// A new run record; parameters initialised from the seed.
pub(super) fn fresh(
    job: &Job,
    opts: &Options,
    plan: &TrainPlan,
    datasets: &HashMap<String, Loaded>,
    samples: &[(String, usize)],
    device: &str,
) -> Result<State, TrainError> {
    let seed = opts.seed.unwrap_or(plan.seed);
    let params = plan
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
        "program": job.files.first().map(|(n, _)| n.clone()),
        "seed": seed,
        "data": files,
        "samples": samples.iter().map(|(name, n)| (name.clone(), json!(n))).collect::<serde_json::Map<_, _>>(),
        "device": device,
        "backend": opts.backend.name(),
        "plan": plan,
        "dlpc": env!("CARGO_PKG_VERSION"),
        "started": crate::record::utc_stamp(std::time::SystemTime::now()),
    });
    let record = RunRecord::create(&opts.runs, &plan.name, &job.files, &config).map_err(|e| {
        TrainError::Io(format!(
            "cannot create a run record in {}: {e}",
            opts.runs.display()
        ))
    })?;
    Ok(State {
        record,
        seed,
        params,
        states: HashMap::new(),
        progress: Progress {
            epoch: 0,
            step: 0,
            best: f64::INFINITY,
            bad_validations: 0,
        },
    })
}

/// The folder of the run to resume: `dir` itself, or `dir` as a run id
/// under `runs`.
pub(super) fn run_folder(dir: &Path, runs: &Path) -> Result<PathBuf, TrainError> {
    if dir.join(record::CONFIG).is_file() {
        return Ok(dir.to_path_buf());
    }
    let under_runs = runs.join(dir);
    if under_runs.join(record::CONFIG).is_file() {
        return Ok(under_runs);
    }
    if !dir.exists() {
        return Err(TrainError::Run(format!(
            "there is no run `{}` (neither a folder nor a run id in {})",
            dir.display(),
            runs.display()
        )));
    }
    Err(TrainError::Run(format!(
        "{} is not a run record (no {})",
        dir.display(),
        record::CONFIG
    )))
}

/// The train block a recorded run trains, checked against `asked`
/// (`--train`), and whether there is anything left to resume.
pub(super) fn recorded_train(dir: &Path, asked: Option<&str>) -> Result<String, TrainError> {
    let record = RunRecord::open(dir)?;
    let config = record.config()?;
    let Some(name) = config.get("train").and_then(Value::as_str) else {
        return Err(TrainError::Run(format!(
            "{}: `train` is missing",
            dir.join(record::CONFIG).display()
        )));
    };
    if let Some(asked) = asked.filter(|a| *a != name) {
        return Err(TrainError::Run(format!(
            "run `{}` trains `{name}`, not `{asked}`: drop `--train` to resume it",
            record.id
        )));
    }
    if let Ok(summary) = record::read_json(&dir.join(record::SUMMARY)) {
        let status = summary.get("status").and_then(Value::as_str).unwrap_or("");
        if status == "completed" || status == "stopped early" {
            return Err(TrainError::Run(format!(
                "run `{}` has finished ({status}): there is nothing to resume",
                record.id
            )));
        }
    }
    if !record.checkpoint("last").is_file() {
        return Err(TrainError::Run(format!(
            "run `{}` has no checkpoint yet (it stopped before its first epoch ended): start it again",
            record.id
        )));
    }
    Ok(name.to_string())
}

/// The recorded run in `dir`, from its last checkpoint; the log is cut
/// back to that checkpoint.
pub(super) fn resume(dir: &Path, plan: &TrainPlan) -> Result<State, TrainError> {
    let record = RunRecord::open(dir)?;
    let config = record.config()?;
    let seed = config
        .get("seed")
        .and_then(Value::as_u64)
        .unwrap_or(plan.seed);
    let ck = checkpoint::load(&record.checkpoint("last")).map_err(TrainError::Run)?;
    check_params(plan, &ck)?;
    let meta = |k: &str| {
        ck.meta
            .get(k)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let progress = Progress {
        epoch: meta("epoch"),
        step: meta("step"),
        best: ck
            .meta
            .get("best")
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::INFINITY),
        bad_validations: meta("bad_validations"),
    };
    record.truncate_log_after(progress.epoch)?;
    Ok(State {
        record,
        seed,
        params: ck.params,
        states: ck.states,
        progress,
    })
}

/// The checkpoint has every parameter the program declares, with its shape.
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
    let mut extra: Vec<&String> = ck
        .params
        .keys()
        .filter(|k| !plan.params.iter().any(|p| &p.path == *k))
        .collect();
    extra.sort();
    if let Some(first) = extra.first() {
        return Err(TrainError::Run(format!(
            "the checkpoint has parameter `{first}` that the program no longer declares: was the program changed?"
        )));
    }
    Ok(())
}
