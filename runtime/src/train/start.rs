//! Where a run begins: a new record with freshly initialised parameters,
//! or the last checkpoint of a recorded run (`--resume`).

use super::{Job, Options, TrainError};
use crate::atomic;
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
    /// The checkpoint of where the run is now.
    fn checkpoint(&self) -> Checkpoint {
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
        ck
    }

    /// Writes the checkpoints of the epoch that just ended as one set (see
    /// [`epoch_set`]), after its log lines. `improved`: its validation
    /// lowered the validation loss.
    ///
    /// The order makes every state a kill can leave safe to resume:
    ///
    /// 1. The log lines were appended and synced first: the log may run
    ///    ahead of `last`, and `--resume` cuts it back to `last`'s epoch.
    /// 2. Every file of the set is staged (written to its temporary file and
    ///    synced) before any is renamed: a kill while staging leaves the
    ///    previous set, and temporary files that the next resume removes.
    /// 3. `best` and `epoch-N` are renamed before `last`, each rename synced
    ///    before the next (so the order survives a power cut too). Between
    ///    them, they may be one epoch ahead of `last`: the resumed run
    ///    repeats that epoch with the same random numbers and rewrites them
    ///    with the same contents. Once `last` is in place the whole set is,
    ///    so no checkpoint of an epoch is ever missing when `last` is at
    ///    that epoch (which `best` needs: see [`complete_epoch_set`]).
    pub fn save_epoch(&self, plan: &TrainPlan, improved: bool) -> Result<(), TrainError> {
        let bytes = checkpoint::encode(&self.checkpoint()).map_err(TrainError::Io)?;
        let mut staged = Vec::new();
        for name in epoch_set(plan, self.progress.epoch, improved) {
            let path = self.record.checkpoint(&name);
            let file = atomic::stage(&path, &bytes).map_err(|e| write_error(&path, &e))?;
            staged.push((path, file));
        }
        // An error returns before `last` is renamed; the files not yet
        // renamed are dropped, which removes their temporary files.
        for (path, file) in staged {
            file.commit().map_err(|e| write_error(&path, &e))?;
        }
        Ok(())
    }
}

/// The checkpoints written at the end of `epoch`, in the order they are
/// renamed into place, `last` last: `best` when the epoch's validation
/// lowered the loss (`improved`) and the plan keeps the best, `epoch-N`
/// when `checkpoint_every` divides N, and `last`. All hold the same state.
fn epoch_set(plan: &TrainPlan, epoch: u64, improved: bool) -> Vec<String> {
    let mut names = Vec::new();
    if plan.keep_best && improved {
        names.push(BEST.to_string());
    }
    if plan
        .checkpoint_every
        .is_some_and(|n| n > 0 && epoch > 0 && epoch.is_multiple_of(n))
    {
        names.push(format!("epoch-{epoch}"));
    }
    names.push(LAST.to_string());
    names
}

const LAST: &str = "last";
const BEST: &str = "best";

fn write_error(path: &Path, e: &std::io::Error) -> TrainError {
    TrainError::Io(checkpoint::write_error(path, e))
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
        "adapter": super::adapter_name(opts.backend),
        "backend": opts.backend.name(),
        "threads": opts.backend.threads(),
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
    if !record.checkpoint(LAST).is_file() {
        return Err(TrainError::Run(format!(
            "run `{}` has no checkpoint yet (it stopped before its first epoch ended): start it again",
            record.id
        )));
    }
    Ok(name.to_string())
}

/// The recorded run in `dir`, from its last checkpoint. Once the checkpoint
/// is known to fit the program (an error before leaves the record as it
/// was), what a killed process left is tidied up: the temporary files of
/// dead processes are removed, the checkpoints of `last`'s epoch that are
/// missing are rewritten, and the log is cut back to `last`'s epoch.
pub(super) fn resume(dir: &Path, plan: &TrainPlan) -> Result<State, TrainError> {
    let record = RunRecord::open(dir)?;
    let config = record.config()?;
    let seed = config
        .get("seed")
        .and_then(Value::as_u64)
        .unwrap_or(plan.seed);
    let ck = checkpoint::load(&record.checkpoint(LAST)).map_err(TrainError::Run)?;
    check_params(plan, &ck)?;
    let progress = progress_of(&ck);
    // First, before this process stages anything (see `atomic::writer_is_gone`).
    record.remove_stale_temps().map_err(|e| {
        TrainError::Io(format!(
            "cannot remove the temporary files of killed runs from {}: {e}",
            record.dir.display()
        ))
    })?;
    complete_epoch_set(&record, plan, &progress)?;
    record.truncate_log_after(progress.epoch)?;
    Ok(State {
        record,
        seed,
        params: ck.params,
        states: ck.states,
        progress,
    })
}

/// Where the run was when `ck` was written.
fn progress_of(ck: &Checkpoint) -> Progress {
    let meta = |k: &str| {
        ck.meta
            .get(k)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Progress {
        epoch: meta("epoch"),
        step: meta("step"),
        best: ck
            .meta
            .get("best")
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::INFINITY),
        bad_validations: meta("bad_validations"),
    }
}

/// Rewrites the checkpoints of `last`'s epoch (`progress`) that are missing:
/// [`State::save_epoch`] never leaves one missing, but an older dlpc renamed
/// `last` before `epoch-N`, and a file system that lost a rename could too.
///
/// Each is a copy of `last`, which is exact: every file of an epoch's set
/// is written from the same state (parameters, optimiser state, epoch,
/// step, best loss, bad validations, seed).
///
/// - `epoch-N` is due when `checkpoint_every` divides N.
/// - `best` is due when epoch N's validation lowered the loss, which the
///   record tells exactly: the log holds a validation of epoch N (the log is
///   synced before the checkpoints) and `last` counts no validation since the
///   best one (`bad_validations` is reset by an improvement and counts every
///   other validation). `best` is then rewritten unless it is already at
///   epoch N. When epoch N did not improve, `best` is from an earlier epoch
///   and could not be rebuilt (only `last` is known); it needs no rebuilding:
///   it is renamed before the `last` of the epoch that improved (by older
///   dlpc versions too), so it is in place whenever that `last` or a later
///   one is.
fn complete_epoch_set(
    record: &RunRecord,
    plan: &TrainPlan,
    progress: &Progress,
) -> Result<(), TrainError> {
    let epoch = progress.epoch;
    let improved =
        progress.best.is_finite() && progress.bad_validations == 0 && record.validated_at(epoch);
    let last = record.checkpoint(LAST);
    for name in epoch_set(plan, epoch, improved) {
        let path = record.checkpoint(&name);
        if name != LAST && !written_at(&path, epoch) {
            atomic::copy(&last, &path).map_err(|e| write_error(&path, &e))?;
        }
    }
    Ok(())
}

/// Whether the checkpoint at `path` exists and was written at the end of `epoch`.
fn written_at(path: &Path, epoch: u64) -> bool {
    checkpoint::read_meta(path)
        .ok()
        .and_then(|m| m.get("epoch")?.parse::<u64>().ok())
        == Some(epoch)
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
