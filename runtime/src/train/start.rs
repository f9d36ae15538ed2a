//! Where a run begins: a new record with freshly initialised parameters,
//! or the last checkpoint of a recorded run (`--resume`).

use super::{Job, Metrics, Options, TrainError};
use crate::atomic;
use crate::checkpoint::{self, Checkpoint};
use crate::data::{self, Loaded, Vocabulary};
use crate::init;
use crate::record::{self, LogPoint, RunRecord};
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

/// The first steps of an epoch that was interrupted: how many, and the
/// sums of their losses and metrics, so that the resumed epoch reports the
/// same means as one that never stopped.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Partial {
    pub steps: u64,
    pub sums: Metrics,
}

/// A run's record and everything that changes as it trains.
pub(super) struct State {
    pub record: RunRecord,
    pub seed: u64,
    pub params: HashMap<String, Tensor>,
    pub states: HashMap<String, Tensor>,
    pub progress: Progress,
    /// Where an interrupted epoch stopped (a run resumed mid-epoch).
    pub partial: Option<Partial>,
    /// Watches the training loss for a blow-up.
    pub divergence: super::Divergence,
    /// How the run numbers characters, if it reads character-level text.
    pub vocabulary: Option<Vocabulary>,
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
        if let Some(v) = &self.vocabulary {
            ck.meta
                .insert(data::vocabulary::RECORDED_AS.into(), v.recorded());
        }
        ck
    }

    /// Writes `last` in the middle of an epoch, after the steps of
    /// `partial` (Ctrl-C). Only `last`: `best` and `epoch-N` belong to
    /// whole epochs. The epoch's log lines so far were written first, as
    /// at the end of an epoch; `--resume` continues with the next batch of
    /// the same epoch, so the run goes on exactly as if never stopped.
    pub fn save_interrupted(&self, partial: &Partial) -> Result<(), TrainError> {
        let mut ck = self.checkpoint();
        ck.meta
            .insert(PARTIAL_STEPS.into(), partial.steps.to_string());
        // Exact bits: the sums go on adding up after the resume.
        let sums: Vec<Value> = partial
            .sums
            .iter()
            .map(|(name, v)| json!([name, format!("{:016x}", v.to_bits())]))
            .collect();
        ck.meta
            .insert(PARTIAL_SUMS.into(), Value::Array(sums).to_string());
        let path = self.record.checkpoint(LAST);
        checkpoint::save(&path, &ck).map_err(TrainError::Io)
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

pub(super) const LAST: &str = "last";
const BEST: &str = "best";
/// Checkpoint metadata of an interrupted epoch: its steps taken, and the
/// sums of their figures as `[[name, f64 bits in hex], ...]`.
const PARTIAL_STEPS: &str = "epoch_steps_done";
const PARTIAL_SUMS: &str = "epoch_sums";

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
    vocabulary: Option<Vocabulary>,
) -> Result<State, TrainError> {
    let seed = opts.seed.unwrap_or(plan.seed);
    let (params, statistics) = match &job.init_from {
        // Fitted to the plan before the data was read (`check_fits`); the
        // statistics are those the checkpoint's model was trained with.
        Some(path) => (
            checkpoint::load(path).map_err(TrainError::Run)?.params,
            Vec::new(),
        ),
        None => {
            let mut params = plan
                .params
                .iter()
                .map(|p| (p.path.clone(), init::initialise(p, seed)))
                .collect();
            let statistics =
                super::statistics::measure(job.program, datasets, &mut params, seed, opts.backend)?;
            (params, statistics)
        }
    };
    let mut files: Vec<Value> = datasets
        .values()
        .flat_map(|d| d.files.iter())
        .map(|(p, h)| json!({"file": p.display().to_string(), "path": absolute(p), "hash": h}))
        .collect();
    files.sort_by_key(|f| f["file"].to_string());
    let overrides: serde_json::Map<String, Value> = job
        .overrides
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let now = std::time::SystemTime::now();
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
        "started": crate::record::utc_stamp(now),
        "started_unix": crate::record::unix_seconds(now),
        "base": absolute(&job.base),
        "overrides": overrides,
        "init_from": job.init_from.as_deref().map(absolute),
        "statistics": statistics,
        "vocabulary": vocabulary.as_ref().map(Vocabulary::recorded),
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
        partial: None,
        divergence: match job.init_from {
            Some(_) => super::Divergence::off(),
            None => super::Divergence::default(),
        },
        vocabulary,
    })
}

/// `path` made absolute (not resolving links: the path as the user knows
/// it), for records that are read from another folder later.
fn absolute(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
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

/// A recorded run whose parameters a command uses (`dlpc eval`, `dlpc
/// predict`, `--init-from`).
pub struct RecordedRun {
    pub dir: PathBuf,
    /// The train block it trained.
    pub train: String,
    pub seed: u64,
}

/// The run `dir` names (a folder, or a run id under `runs`).
pub fn recorded_run(dir: &Path, runs: &Path) -> Result<RecordedRun, TrainError> {
    let dir = run_folder(dir, runs)?;
    let config = RunRecord::open(&dir)?.config().map_err(|e| {
        TrainError::Run(format!(
            "cannot read {}: {e}",
            dir.join(record::CONFIG).display()
        ))
    })?;
    let Some(train) = config.get("train").and_then(Value::as_str) else {
        return Err(TrainError::Run(format!(
            "{}: `train` is missing",
            dir.join(record::CONFIG).display()
        )));
    };
    Ok(RecordedRun {
        train: train.to_string(),
        seed: config.get("seed").and_then(Value::as_u64).unwrap_or(0),
        dir,
    })
}

/// The checkpoint `which` names: `last`, `best`, `epoch-N` of the run, or a
/// `.safetensors` file's path. By default, the parameters the run's final
/// evaluation reported on: `best` when the run kept one, else `last`.
pub fn checkpoint_of(run: &RecordedRun, which: Option<&str>) -> Result<PathBuf, TrainError> {
    let record = RunRecord::open(&run.dir)?;
    let which = which.unwrap_or(if record.checkpoint(BEST).is_file() {
        BEST
    } else {
        LAST
    });
    let named = record.checkpoint(which);
    if named.is_file() {
        return Ok(named);
    }
    let path = Path::new(which);
    if which.ends_with(".safetensors") && path.is_file() {
        return Ok(path.to_path_buf());
    }
    let mut have: Vec<String> = std::fs::read_dir(run.dir.join(record::CHECKPOINTS))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.strip_suffix(".safetensors")
                        .filter(|_| !name.starts_with('.'))
                        .map(|n| format!("`{n}`"))
                })
                .collect()
        })
        .unwrap_or_default();
    have.sort();
    let hint = match (which, have.is_empty()) {
        (_, true) => "it has none yet (it stopped before its first epoch ended)".to_string(),
        ("best", _) => format!(
            "`best` is kept only with `keep_best = true`; it has {}",
            have.join(", ")
        ),
        _ => format!("it has {}", have.join(", ")),
    };
    Err(TrainError::Run(format!(
        "run `{}` has no checkpoint `{which}`: {hint}",
        record.id
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
/// `vocabulary`: the one the run's data was read with (the checkpoint's).
pub(super) fn resume(
    dir: &Path,
    plan: &TrainPlan,
    vocabulary: Option<Vocabulary>,
) -> Result<State, TrainError> {
    let record = RunRecord::open(dir)?;
    let config = record.config()?;
    let seed = config
        .get("seed")
        .and_then(Value::as_u64)
        .unwrap_or(plan.seed);
    check_fits(&record.checkpoint(LAST), plan)?;
    let ck = checkpoint::load(&record.checkpoint(LAST)).map_err(TrainError::Run)?;
    let progress = progress_of(&ck);
    let partial = partial_of(&ck)
        .map_err(|why| TrainError::Run(format!("{}: {why}", record.checkpoint(LAST).display())))?;
    // First, before this process stages anything (see `atomic::writer_is_gone`).
    record.remove_stale_temps().map_err(|e| {
        TrainError::Io(format!(
            "cannot remove the temporary files of killed runs from {}: {e}",
            record.dir.display()
        ))
    })?;
    // An epoch's set was complete before a checkpoint in its middle was written.
    if partial.is_none() {
        complete_epoch_set(&record, plan, &progress)?;
    }
    record.truncate_log_after(LogPoint {
        epoch: progress.epoch,
        step: partial.as_ref().map(|_| progress.step),
    })?;
    Ok(State {
        record,
        seed,
        params: ck.params,
        states: ck.states,
        progress,
        partial,
        divergence: super::Divergence::off(),
        vocabulary,
    })
}

/// The vocabulary a checkpoint's parameters were trained with (`None`:
/// they read no character-level text); `path` is the checkpoint, for errors.
pub fn vocabulary_of(
    meta: &std::collections::BTreeMap<String, String>,
    path: &Path,
) -> Result<Option<Vocabulary>, TrainError> {
    let Some(text) = meta.get(data::vocabulary::RECORDED_AS) else {
        return Ok(None);
    };
    Vocabulary::from_recorded(text).map(Some).ok_or_else(|| {
        TrainError::Run(format!(
            "{}: its `{}` metadata is damaged (its characters are not in increasing order)",
            path.display(),
            data::vocabulary::RECORDED_AS
        ))
    })
}

/// The vocabulary the checkpoint at `path` was trained with, read from its
/// header alone.
pub fn recorded_vocabulary(path: &Path) -> Result<Option<Vocabulary>, TrainError> {
    let meta = checkpoint::read_meta(path).map_err(TrainError::Run)?;
    vocabulary_of(&meta, path)
}

/// Where in its epoch an interrupted run stopped (`None`: at an epoch's end).
fn partial_of(ck: &Checkpoint) -> Result<Option<Partial>, String> {
    let Some(steps) = ck.meta.get(PARTIAL_STEPS) else {
        return Ok(None);
    };
    let damaged = || format!("its `{PARTIAL_STEPS}` and `{PARTIAL_SUMS}` metadata is damaged");
    let steps = steps.parse::<u64>().map_err(|_| damaged())?;
    let text = ck.meta.get(PARTIAL_SUMS).ok_or_else(damaged)?;
    let pairs: Vec<(String, String)> = serde_json::from_str(text).map_err(|_| damaged())?;
    let sums = pairs
        .into_iter()
        .map(|(name, bits)| {
            let bits = u64::from_str_radix(&bits, 16).map_err(|_| damaged())?;
            Ok((name, f64::from_bits(bits)))
        })
        .collect::<Result<Metrics, String>>()?;
    Ok(Some(Partial { steps, sums }))
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

/// Checks, from its header alone, that the checkpoint at `path` holds
/// exactly the parameters `plan` declares, with their shapes: before any
/// data is read, and before anything is written.
pub fn check_fits(path: &Path, plan: &TrainPlan) -> Result<(), TrainError> {
    let header = checkpoint::read_header(path).map_err(TrainError::Run)?;
    checkpoint::fits(&header, &plan.params).map_err(|why| {
        TrainError::Run(format!(
            "the checkpoint {} does not fit train block `{}`:\n{why}",
            path.display(),
            plan.name
        ))
    })
}
