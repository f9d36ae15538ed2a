//! A run record as a run of an MLflow **file store** (an `mlruns` folder),
//! in the layout of MLflow's `FileStore`
//! (`mlflow/store/tracking/file_store.py`):
//!
//! ```text
//! mlruns/
//! ├── .trash/                      deleted experiments
//! ├── 0/meta.yaml                  the `Default` experiment
//! └── <experiment id>/
//!     ├── meta.yaml                name, artifact_location, lifecycle_stage, ...
//!     └── <run id>/
//!         ├── meta.yaml            run_id, status, start_time, end_time, ...
//!         ├── metrics/<name>       one `<timestamp ms> <value> <step>` line per value
//!         ├── params/<key>         the value, no newline
//!         ├── tags/<key>           the value, no newline
//!         └── artifacts/           files
//! ```
//!
//! - **Experiment**: one per train block, named after it (`iris_mlp`), so
//!   that MLflow's run table compares runs that log the same metrics; an
//!   experiment of that name already in the store is reused, whatever its
//!   id. A new one gets an id derived from the name (MLflow's own are
//!   random integers), so exporting into a fresh store gives the same ids.
//! - **Run id**: 32 hex digits of the SHA-256 of the dlp run id, so that
//!   exporting a run again replaces the same MLflow run instead of adding
//!   a copy. Tags set in MLflow (a note, say) are kept across exports.
//! - **Atomic-ish**: the run folder is built in a staging folder inside the
//!   store (the same file system, so a rename moves it), then renamed into
//!   place; a failed export removes the staging folder and leaves the store
//!   as it was. The staging folder's name ends in `.trash`, which MLflow
//!   never lists as an experiment (the test is `endswith(".trash")`), so a
//!   store being read while an export runs shows nothing half-written.
//!   Replacing a run is two renames (the old one out, the new one in): a
//!   reader in between sees no run, never half of one.

use super::{metric_name, write_synced, Exported, Record};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

const META: &str = "meta.yaml";
const TRASH: &str = ".trash";
/// MLflow's model registry shares the root with the experiments.
const MODELS: &str = "models";
const DEFAULT_EXPERIMENT: &str = "0";
/// MLflow's `SourceType.LOCAL`.
const SOURCE_LOCAL: u32 = 4;
/// MLflow refuses longer parameter and tag values when they are logged.
const MAX_PARAM: usize = 6000;
const MAX_TAG: usize = 8000;

/// Adds the run recorded in `run` to the MLflow file store `store`
/// (created if missing) and returns the MLflow run id.
pub fn mlflow(run: &Path, store: &Path) -> Result<String, String> {
    export(run, store).map(|e| e.id)
}

/// [`mlflow()`], saying what it wrote.
pub fn export(run: &Path, store: &Path) -> Result<Exported, String> {
    let rec = Record::read(run)?;
    let mut notes = rec.notes.clone();
    let run_id = run_id(&rec.id);
    let store = open_store(store)?;
    let staging = Staging::new(&store)?;
    let place_at = locate(&store, &rec, &run_id)?;
    let target = store.join(&place_at.experiment).join(&run_id);

    // Everything is staged before anything in the store changes.
    let staged = staging.path.join(&run_id);
    let mut tags = tags(&rec);
    if let Some(old) = &place_at.old_run {
        tags.extend(user_tags(&old.join("tags"), &tags));
    }
    let meta = run_meta(&rec, &run_id, &place_at.experiment, &target);
    write_synced(&staged.join(META), meta.as_bytes())?;
    let (scalars, series) = write_metrics(&rec, &staged.join("metrics"))?;
    write_values(&staged.join("params"), &params(&rec), MAX_PARAM, &mut notes)?;
    write_values(&staged.join("tags"), &tags, MAX_TAG, &mut notes)?;
    copy_artifacts(&rec.dir, &staged.join("artifacts"))?;

    if let Some(name) = &place_at.new_experiment {
        let dir = staging.path.join("experiment");
        let meta = experiment_meta(&store, &place_at.experiment, name);
        write_synced(&dir.join(META), meta.as_bytes())?;
        place(&dir, &store.join(&place_at.experiment))?;
    }
    match &place_at.old_run {
        Some(old) => {
            let out = staging.path.join("replaced");
            place(old, &out)?;
            if let Err(e) = place(&staged, &target) {
                // Put the old run back: the store stays as it was.
                let _ = fs::rename(&out, old);
                return Err(e);
            }
        }
        None => place(&staged, &target)?,
    }
    Ok(Exported {
        path: target,
        id: run_id,
        scalars,
        series,
        notes,
    })
}

/// Where a run goes in the store.
struct Location {
    experiment: String,
    /// The run's folder from an earlier export, to replace.
    old_run: Option<PathBuf>,
    /// The name of the experiment to create, when it does not exist.
    new_experiment: Option<String>,
}

/// Where an earlier export put the run, else its train block's experiment
/// (created if missing).
fn locate(store: &Path, rec: &Record, run_id: &str) -> Result<Location, String> {
    if let Some(experiment) = find_run(store, run_id)? {
        let old = store.join(&experiment).join(run_id);
        return Ok(Location {
            experiment,
            old_run: Some(old),
            new_experiment: None,
        });
    }
    let name = rec.config_str("train").unwrap_or(&rec.id);
    Ok(match find_experiment(store, name)? {
        Some(experiment) => Location {
            experiment,
            old_run: None,
            new_experiment: None,
        },
        None => Location {
            experiment: new_experiment_id(store, name)?,
            old_run: None,
            new_experiment: Some(name.to_string()),
        },
    })
}

/// The MLflow run id of a dlp run: 32 hex digits, like MLflow's own
/// (`uuid4().hex`), from the SHA-256 of the dlp run id.
pub fn run_id(dlp_id: &str) -> String {
    hex(&Sha256::digest(format!("dlp run {dlp_id}").as_bytes())[..16])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The store's absolute path, creating the store (with MLflow's `Default`
/// experiment and `.trash`, as `FileStore` does) if it does not exist.
/// A folder that holds other things is refused, so a mistyped path does
/// not get experiment folders.
fn open_store(store: &Path) -> Result<PathBuf, String> {
    let fresh = match fs::read_dir(store) {
        Ok(mut entries) => entries.next().is_none(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => true,
        Err(e) => return Err(format!("cannot read {}: {e}", store.display())),
    };
    fs::create_dir_all(store).map_err(|e| format!("cannot create {}: {e}", store.display()))?;
    let store = store
        .canonicalize()
        .map_err(|e| format!("cannot read {}: {e}", store.display()))?;
    if fresh {
        let staging = Staging::new(&store)?;
        let dir = staging.path.join("default");
        let meta = experiment_meta(&store, DEFAULT_EXPERIMENT, "Default");
        write_synced(&dir.join(META), meta.as_bytes())?;
        place(&dir, &store.join(DEFAULT_EXPERIMENT))?;
        let trash = store.join(TRASH);
        fs::create_dir_all(&trash)
            .map_err(|e| format!("cannot create {}: {e}", trash.display()))?;
    } else if !store.join(TRASH).is_dir() && experiments(&store)?.is_empty() {
        return Err(format!(
            "{} is not an MLflow file store (no {TRASH} folder, no experiment with a {META}): \
             name a new or empty folder, or an `mlruns` folder",
            store.display()
        ));
    }
    Ok(store)
}

/// The active experiments' folder names (ids), and their `meta.yaml`.
fn experiments(store: &Path) -> Result<Vec<(String, String)>, String> {
    experiments_in(store, true)
}

fn experiments_in(folder: &Path, active: bool) -> Result<Vec<(String, String)>, String> {
    let entries = match fs::read_dir(folder) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot read {}: {e}", folder.display())),
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let id = entry.file_name().to_string_lossy().into_owned();
        // What MLflow skips at the root: the trash (and our staging
        // folders, named to be skipped) and the model registry.
        if active && (id.ends_with(TRASH) || id == MODELS) {
            continue;
        }
        if let Ok(meta) = fs::read_to_string(entry.path().join(META)) {
            out.push((id, meta));
        }
    }
    out.sort();
    Ok(out)
}

/// The id of the active experiment named `name`. A deleted one of that
/// name is an error: MLflow would not create another.
fn find_experiment(store: &Path, name: &str) -> Result<Option<String>, String> {
    for (id, meta) in experiments(store)? {
        if yaml_value(&meta, "name").as_deref() == Some(name) {
            return Ok(Some(id));
        }
    }
    for (id, meta) in experiments_in(&store.join(TRASH), false)? {
        if yaml_value(&meta, "name").as_deref() == Some(name) {
            return Err(format!(
                "the MLflow experiment `{name}` ({id}) in {} is deleted: restore it \
                 (`mlflow experiments restore --experiment-id {id}`) or remove {}",
                store.display(),
                store.join(TRASH).join(&id).display()
            ));
        }
    }
    Ok(None)
}

/// The id for a new experiment: 18 digits from the name's hash.
fn new_experiment_id(store: &Path, name: &str) -> Result<String, String> {
    let digest = Sha256::digest(format!("dlp experiment {name}").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let id = (10u64.pow(17) + u64::from_le_bytes(first) % (9 * 10u64.pow(17))).to_string();
    for taken in [store.join(&id), store.join(TRASH).join(&id)] {
        if taken.exists() {
            return Err(format!(
                "{} exists already: another experiment has the id dlp derives for `{name}`",
                taken.display()
            ));
        }
    }
    Ok(id)
}

/// The experiment holding a run folder `run_id`, if an earlier export
/// wrote one.
fn find_run(store: &Path, run_id: &str) -> Result<Option<String>, String> {
    Ok(experiments(store)?
        .into_iter()
        .map(|(id, _)| id)
        .find(|id| store.join(id).join(run_id).join(META).is_file()))
}

/// MLflow's run status (`RunStatus`: RUNNING 1, FINISHED 3, FAILED 4,
/// KILLED 5) for a dlp status. `stopped` (`--stop-after`) was ended by the
/// user, and `interrupted` (no summary, no live writer) by a kill: KILLED.
fn status(rec: &Record) -> u32 {
    match rec.status() {
        "running" => 1,
        "failed" => 4,
        "stopped" | "interrupted" => 5,
        // completed, stopped early (patience), and statuses of later dlpcs.
        _ => 3,
    }
}

/// Unix milliseconds, truncated as MLflow's `int(time.time() * 1000)` does.
fn millis(secs: f64) -> i64 {
    (secs * 1000.0).floor() as i64
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn run_meta(rec: &Record, run_id: &str, experiment: &str, target: &Path) -> String {
    let end = rec.end.map_or("null".into(), |t| millis(t).to_string());
    // The keys MLflow writes (sorted, as PyYAML does), and `run_uuid`,
    // which MLflow before 2.0 read instead of `run_id`.
    yaml(&[
        (
            "artifact_uri",
            yaml_str(&file_uri(&target.join("artifacts"))),
        ),
        ("end_time", end),
        ("entry_point_name", yaml_str("")),
        ("experiment_id", yaml_str(experiment)),
        ("lifecycle_stage", yaml_str("active")),
        ("run_id", yaml_str(run_id)),
        ("run_name", yaml_str(&rec.id)),
        ("run_uuid", yaml_str(run_id)),
        ("source_name", yaml_str("")),
        ("source_type", SOURCE_LOCAL.to_string()),
        ("source_version", yaml_str("")),
        ("start_time", millis(rec.start).to_string()),
        ("status", status(rec).to_string()),
        ("tags", "[]".into()),
        // The record does not say who ran it.
        ("user_id", yaml_str("unknown")),
    ])
}

fn experiment_meta(store: &Path, id: &str, name: &str) -> String {
    let now = now_millis().to_string();
    yaml(&[
        ("artifact_location", yaml_str(&file_uri(&store.join(id)))),
        ("creation_time", now.clone()),
        ("experiment_id", yaml_str(id)),
        ("last_update_time", now),
        ("lifecycle_stage", yaml_str("active")),
        ("name", yaml_str(name)),
    ])
}

/// One metric file per series (the summary's figures too), and how many
/// values and series were written.
fn write_metrics(rec: &Record, dir: &Path) -> Result<(usize, usize), String> {
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut files: Vec<(String, String)> = rec
        .series
        .iter()
        .map(|s| (s.name.clone(), String::new()))
        .collect();
    for s in &rec.scalars {
        if let Some((_, text)) = files.get_mut(s.series) {
            text.push_str(&metric_line(millis(s.time), s.value, s.step));
        }
    }
    // The summary's figures, as single values at the last epoch.
    let at = millis(rec.end.unwrap_or(rec.start));
    let summary = rec.summary.as_ref();
    for (key, name) in [
        ("seconds", "seconds"),
        ("startup_seconds", "startup_seconds"),
        ("samples_per_second", "samples_per_second"),
        ("steady_samples_per_second", "steady_samples_per_second"),
        ("step_ms", "step_ms"),
        ("best_validation_loss", "best_val_loss"),
    ] {
        if let Some(v) = summary.and_then(|s| s.get(key)).and_then(Value::as_f64) {
            files.push((name.into(), metric_line(at, v, rec.last_epoch)));
        }
    }
    let mut scalars = 0;
    for (name, text) in &files {
        scalars += text.lines().count();
        write_synced(&dir.join(name), text.as_bytes())?;
    }
    Ok((scalars, files.len()))
}

/// `<timestamp ms> <value> <step>`, as `FileStore.log_metric` writes it.
/// Rust prints the shortest decimal that reads back as the same `f64`
/// (and `NaN`, `inf`, which Python's `float` reads too).
fn metric_line(ms: i64, value: f64, step: i64) -> String {
    format!("{ms} {value} {step}\n")
}

/// The run's settings: its seed, the compiled train block flattened to
/// dotted keys (`optimizer.lr`, `schedule.kind`), its parameter count and
/// the command line's overrides (`overrides.optimizer.lr`).
fn params(rec: &Record) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(seed) = rec.config.get("seed") {
        out.push(("seed".into(), text(seed)));
    }
    if let Some(Value::Object(plan)) = rec.config.get("plan") {
        // `name` is the experiment, `seed` the block's (the run's is
        // above), `params` a list of every tensor (counted below).
        for (key, value) in plan {
            if !matches!(key.as_str(), "name" | "seed" | "params") {
                flatten(key, value, &mut out);
            }
        }
        if let Some(Value::Array(tensors)) = plan.get("params") {
            let count: u64 = tensors
                .iter()
                .filter_map(|p| p.get("shape").and_then(Value::as_array))
                .map(|shape| shape.iter().filter_map(Value::as_u64).product::<u64>())
                .sum();
            out.push(("parameters".into(), count.to_string()));
        }
    }
    if let Some(Value::Object(overrides)) = rec.config.get("overrides") {
        for (key, value) in overrides {
            out.push((format!("overrides.{key}"), text(value)));
        }
    }
    out
}

fn flatten(key: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(o) if data_ref(o).is_none() => {
            for (k, v) in o {
                flatten(&format!("{key}.{k}"), v, out);
            }
        }
        _ => out.push((key.into(), text(value))),
    }
}

/// A parameter's text: strings as they are, a data reference as
/// `iris.train`, a list as its items joined by `, `, the rest as JSON.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(", "),
        Value::Object(o) => data_ref(o).unwrap_or_else(|| value.to_string()),
        _ => value.to_string(),
    }
}

/// `{"dataset": "iris", "split": "train"}` as `iris.train`.
fn data_ref(o: &Map<String, Value>) -> Option<String> {
    let dataset = o.get("dataset")?.as_str()?;
    match o.get("split") {
        Some(Value::String(split)) if o.len() == 2 => Some(format!("{dataset}.{split}")),
        None if o.len() == 1 => Some(dataset.into()),
        _ => None,
    }
}

/// The tags: MLflow's own (the run's name and source) and `dlp.*`.
fn tags(rec: &Record) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = vec![
        ("mlflow.runName".into(), rec.id.clone()),
        ("mlflow.source.type".into(), "LOCAL".into()),
        ("dlp.run".into(), rec.id.clone()),
        ("dlp.status".into(), rec.status().into()),
        (
            "dlp.record".into(),
            absolute(&rec.dir).display().to_string(),
        ),
    ];
    if let Some(program) = rec.config_str("program") {
        out.push(("mlflow.source.name".into(), program.into()));
    }
    for (key, tag) in [
        ("train", "dlp.train"),
        ("dlpc", "dlp.version"),
        ("started", "dlp.started"),
        ("device", "dlp.device"),
        ("adapter", "dlp.adapter"),
        ("backend", "dlp.backend"),
        ("threads", "dlp.threads"),
    ] {
        match rec.config.get(key) {
            None | Some(Value::Null) => {}
            Some(v) => out.push((tag.into(), text(v))),
        }
    }
    if let Some(Value::Array(files)) = rec.config.get("data") {
        let lines: Vec<String> = files
            .iter()
            .map(|f| {
                let get = |k: &str| f.get(k).and_then(Value::as_str).unwrap_or("?");
                format!("{}  {}", get("hash"), get("file"))
            })
            .collect();
        out.push(("dlp.data".into(), lines.join("\n")));
    }
    if let Some(error) = rec.summary.as_ref().and_then(|s| s.get("error")) {
        out.push(("dlp.error".into(), text(error)));
    }
    out
}

/// The tags of an earlier export of the run that dlp does not write (set
/// in MLflow: a note, say), to carry over. Tag names may hold `/`, which
/// MLflow stores as subfolders.
fn user_tags(dir: &Path, ours: &[(String, String)]) -> Vec<(String, String)> {
    let ours: HashSet<&str> = ours.iter().map(|(k, _)| k.as_str()).collect();
    let mut found = Vec::new();
    walk(dir, "", &mut found);
    found
        .into_iter()
        .filter(|(key, _)| !ours.contains(key.as_str()) && !key.starts_with("dlp."))
        .filter_map(|(key, path)| Some((key, fs::read_to_string(path).ok()?)))
        .collect()
}

/// Every file under `dir`, with its path relative to `dir` (`/`-separated).
/// Links are listed as files, not followed into (no loops): reading one
/// that is broken, or names a folder, fails with its name.
fn walk(dir: &Path, prefix: &str, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let key = format!("{prefix}{name}");
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            walk(&entry.path(), &format!("{key}/"), out);
        } else {
            out.push((key, entry.path()));
        }
    }
}

/// Parameter or tag files: the value, no newline (as MLflow writes them),
/// cut to what MLflow accepts.
fn write_values(
    dir: &Path,
    values: &[(String, String)],
    max: usize,
    notes: &mut Vec<String>,
) -> Result<(), String> {
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    for (key, value) in values {
        // A tag carried over from MLflow may hold `/`: it is a path already.
        let file = key
            .split('/')
            .map(metric_name)
            .collect::<Vec<_>>()
            .join("/");
        let mut value = value.as_str();
        if value.chars().count() > max {
            let cut = value
                .char_indices()
                .nth(max)
                .map_or(value.len(), |(i, _)| i);
            value = &value[..cut];
            notes.push(format!("`{key}` is cut to MLflow's {max} characters"));
        }
        write_synced(&dir.join(file), value.as_bytes())?;
    }
    Ok(())
}

/// The artifacts: the program's files, `config.json` and `summary.json`,
/// and the `last` and `best` checkpoints (not every `epoch-N`: they can be
/// many and large, and stay in the record).
fn copy_artifacts(record: &Path, dir: &Path) -> Result<(), String> {
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut files = Vec::new();
    walk(&record.join(crate::record::PROGRAM), "program/", &mut files);
    for name in [crate::record::CONFIG, crate::record::SUMMARY] {
        files.push((name.to_string(), record.join(name)));
    }
    for name in ["last", "best"] {
        let file = format!("{name}.safetensors");
        let from = record.join(crate::record::CHECKPOINTS).join(&file);
        files.push((format!("checkpoints/{file}"), from));
    }
    for (name, from) in files {
        // Temporary files of a writer (`.last.safetensors.tmp-812`) are
        // not part of the record.
        let hidden = name.rsplit('/').next().is_some_and(|n| n.starts_with('.'));
        // config.json is always there; summary.json and the checkpoints
        // may not be.
        if hidden || fs::symlink_metadata(&from).is_err() {
            continue;
        }
        let bytes = fs::read(&from).map_err(|e| format!("cannot read {}: {e}", from.display()))?;
        write_synced(&dir.join(&name), &bytes)?;
    }
    Ok(())
}

/// Renames a staged folder into place, syncing its new parent.
fn place(from: &Path, to: &Path) -> Result<(), String> {
    fs::rename(from, to)
        .map_err(|e| format!("cannot move {} to {}: {e}", from.display(), to.display()))?;
    if let Some(parent) = to.parent() {
        sync_dir(parent);
    }
    Ok(())
}

fn absolute(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}

fn sync_dir(dir: &Path) {
    // Not every platform can sync a folder; the rename is done either way.
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// The folder an export builds in, `<store>/.dlp-export-<pid>.trash`,
/// removed with whatever it still holds when dropped.
struct Staging {
    path: PathBuf,
}

impl Staging {
    fn new(store: &Path) -> Result<Staging, String> {
        remove_stale_staging(store);
        let path = store.join(format!(".dlp-export-{}{TRASH}", std::process::id()));
        // One of a dead process that had our pid.
        let _ = fs::remove_dir_all(&path);
        fs::create_dir(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        Ok(Staging { path })
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Removes staging folders of exports that were killed (their process is
/// gone). Only where that can be told (`/proc`); elsewhere they stay, and
/// MLflow ignores them.
fn remove_stale_staging(store: &Path) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = fs::read_dir(store) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name
            .strip_prefix(".dlp-export-")
            .and_then(|rest| rest.strip_suffix(TRASH))
            .and_then(|pid| pid.parse::<u32>().ok());
        if let Some(pid) = pid {
            if !Path::new("/proc").join(pid.to_string()).exists() {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// `key: value` lines; values are already YAML.
fn yaml(entries: &[(&str, String)]) -> String {
    entries.iter().map(|(k, v)| format!("{k}: {v}\n")).collect()
}

/// A YAML double-quoted string. YAML's escapes are a superset of JSON's,
/// so a JSON string is one.
fn yaml_str(s: &str) -> String {
    Value::from(s).to_string()
}

/// A top-level string value of a `meta.yaml` that MLflow (PyYAML) wrote:
/// plain, single- or double-quoted, maybe folded over indented lines.
fn yaml_value(text: &str, key: &str) -> Option<String> {
    let mut lines = text.lines();
    let first = lines.find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))?;
    let mut value = first.trim().to_string();
    for more in lines.take_while(|l| l.starts_with(' ')) {
        value.push(' ');
        value.push_str(more.trim());
    }
    if value.starts_with('"') {
        serde_json::from_str(&value).ok()
    } else if let Some(inner) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        Some(inner.replace("''", "'"))
    } else {
        Some(value)
    }
}

/// A `file://` URI of an absolute path, as MLflow's `path_to_local_file_uri`
/// makes: bytes other than unreserved ones and `/` percent-encoded.
fn file_uri(path: &Path) -> String {
    let mut text = path.to_string_lossy().replace('\\', "/");
    if !text.starts_with('/') {
        // A Windows path, `C:/...`.
        text.insert(0, '/');
    }
    let mut out = String::from("file://");
    for (i, b) in text.bytes().enumerate() {
        // A Windows drive's colon (`/C:/`) stays, as in MLflow's URIs.
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) || (b == b':' && i == 2) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::tests::sample_record;

    fn read(p: &Path) -> String {
        fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    fn listing(dir: &Path) -> Vec<String> {
        let mut files = Vec::new();
        walk(dir, "", &mut files);
        let mut names: Vec<String> = files.into_iter().map(|(k, _)| k).collect();
        names.sort();
        names
    }

    #[test]
    fn writes_the_file_store_layout() {
        let root = tempfile::tempdir().unwrap();
        let run = sample_record(root.path(), true);
        let store = root.path().join("mlruns");
        let e = export(&run, &store).unwrap();
        let store = store.canonicalize().unwrap();
        assert_eq!(e.id, run_id("20261125-083451-tiny"));
        assert_eq!(e.id.len(), 32);
        let experiment = e.path.parent().unwrap();
        let exp_id = experiment.file_name().unwrap().to_str().unwrap();
        assert_eq!(exp_id.len(), 18);

        // The store: Default, .trash, the experiment; no staging left.
        let mut top: Vec<String> = fs::read_dir(&store)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        top.sort();
        assert_eq!(top, [".trash", "0", exp_id]);
        assert!(read(&store.join("0/meta.yaml")).contains("name: \"Default\"\n"));
        let exp_meta = read(&experiment.join("meta.yaml"));
        assert!(exp_meta.contains("name: \"tiny\"\n"), "{exp_meta}");
        assert!(exp_meta.contains(&format!("experiment_id: \"{exp_id}\"\n")));
        assert!(exp_meta.contains("lifecycle_stage: \"active\"\n"));

        let meta = read(&e.path.join("meta.yaml"));
        for line in [
            format!("run_id: \"{}\"", e.id),
            format!("run_uuid: \"{}\"", e.id),
            format!("experiment_id: \"{exp_id}\""),
            "run_name: \"20261125-083451-tiny\"".into(),
            "status: 3".into(),
            "start_time: 1795595691000".into(),
            "end_time: 1795595693125".into(),
            "lifecycle_stage: \"active\"".into(),
            format!("artifact_uri: \"{}\"", file_uri(&e.path.join("artifacts"))),
        ] {
            assert!(meta.lines().any(|l| l == line), "{line} in\n{meta}");
        }

        assert_eq!(
            read(&e.path.join("metrics/loss")),
            "1795595692250 0.75 1\n1795595692500 NaN 2\n"
        );
        assert_eq!(
            read(&e.path.join("metrics/train_accuracy")),
            "1795595693000 0.25 1\n"
        );
        assert_eq!(
            read(&e.path.join("metrics/val_loss")),
            "1795595693125 0.625 1\n"
        );
        assert_eq!(
            read(&e.path.join("metrics/final_x.test_accuracy")),
            "1795595693125 0.5 1\n"
        );
        assert_eq!(
            read(&e.path.join("metrics/best_val_loss")),
            "1795595693125 0.625 1\n"
        );
        assert_eq!(e.scalars, 10 + 2);

        for (param, value) in [
            ("seed", "7"),
            ("batch", "2"),
            ("epochs", "1"),
            ("steps", "null"),
            ("model", "Mlp(hidden = 4)"),
            ("optimizer.kind", "sgd"),
            ("optimizer.lr", "0.1"),
            ("schedule.kind", "constant"),
            ("data", "x.train"),
            ("validate", "x.test"),
            ("metrics", "accuracy"),
            ("parameters", "10"),
            ("overrides.optimizer.lr", "0.1"),
        ] {
            assert_eq!(read(&e.path.join("params").join(param)), value, "{param}");
        }
        assert!(!e.path.join("params/name").exists());
        for (tag, value) in [
            ("mlflow.runName", "20261125-083451-tiny"),
            ("mlflow.source.name", "tiny.dlp"),
            ("dlp.run", "20261125-083451-tiny"),
            ("dlp.version", "0.1.0"),
            ("dlp.status", "completed"),
            ("dlp.data", "sha256:abc  data/x.csv"),
        ] {
            assert_eq!(read(&e.path.join("tags").join(tag)), value, "{tag}");
        }
        assert_eq!(
            listing(&e.path.join("artifacts")),
            [
                "checkpoints/last.safetensors",
                "config.json",
                "program/lib/util.dlp",
                "program/tiny.dlp",
                "summary.json"
            ]
        );
    }

    #[test]
    fn exporting_again_replaces_the_run_and_keeps_tags_set_in_mlflow() {
        let root = tempfile::tempdir().unwrap();
        let run = sample_record(root.path(), false);
        let store = root.path().join("mlruns");
        let first = export(&run, &store).unwrap();
        fs::write(first.path.join("tags/mlflow.note.content"), "a note").unwrap();
        fs::write(first.path.join("metrics/stale"), "1 1 1\n").unwrap();
        // The run changed meanwhile (resumed and failed, say).
        let summary = r#"{"status": "failed", "error": "the loss became NaN"}"#;
        fs::write(run.join("summary.json"), summary).unwrap();
        let second = export(&run, &store).unwrap();
        assert_eq!(first.id, second.id);
        assert_eq!(first.path, second.path);
        let experiment = second.path.parent().unwrap();
        assert_eq!(
            fs::read_dir(experiment).unwrap().count(),
            2,
            "meta.yaml and one run"
        );
        assert_eq!(
            read(&second.path.join("tags/mlflow.note.content")),
            "a note"
        );
        assert_eq!(
            read(&second.path.join("tags/dlp.error")),
            "the loss became NaN"
        );
        assert!(!second.path.join("metrics/stale").exists());
        assert!(read(&second.path.join("meta.yaml")).contains("status: 4\n"));
    }

    #[test]
    fn reuses_an_experiment_of_the_same_name_and_refuses_a_foreign_folder() {
        let root = tempfile::tempdir().unwrap();
        let run = sample_record(root.path(), false);
        let store = root.path().join("mlruns");
        fs::create_dir_all(store.join(".trash")).unwrap();
        fs::create_dir_all(store.join("42")).unwrap();
        // As PyYAML writes it: plain and single-quoted scalars.
        fs::write(
            store.join("42/meta.yaml"),
            "artifact_location: file:///x/42\nexperiment_id: '42'\nname: tiny\n",
        )
        .unwrap();
        let e = export(&run, &store).unwrap();
        assert_eq!(e.path.parent().unwrap().file_name().unwrap(), "42");
        assert!(
            !store.join("0").exists(),
            "an existing store gets no Default"
        );

        let foreign = root.path().join("src");
        fs::create_dir_all(&foreign).unwrap();
        fs::write(foreign.join("main.rs"), "").unwrap();
        let err = export(&run, &foreign).unwrap_err();
        assert!(err.contains("is not an MLflow file store"), "{err}");
        assert_eq!(listing(&foreign), ["main.rs"]);
    }

    #[cfg(unix)]
    #[test]
    fn a_failed_export_leaves_the_store_as_it_was() {
        let root = tempfile::tempdir().unwrap();
        let run = sample_record(root.path(), false);
        let store = root.path().join("mlruns");
        let first = export(&run, &store).unwrap();
        let before = listing(&store);
        fs::write(run.join("metrics.jsonl"), "{\"kind\":\"step\"}\n{}\n").unwrap();
        let err = export(&run, &store).unwrap_err();
        assert!(err.contains("metrics.jsonl:1: no `epoch`"), "{err}");
        // A program file that cannot be read fails the export part-way,
        // once the metrics are staged.
        sample_record(root.path(), false);
        std::os::unix::fs::symlink("/nonexistent/file", run.join("program/gone.dlp")).unwrap();
        let err = export(&run, &store).unwrap_err();
        assert!(err.contains("program/gone.dlp"), "{err}");
        assert_eq!(listing(&store), before);
        assert!(first.path.join("meta.yaml").is_file());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_record_without_summary_is_running_while_written_else_killed() {
        let root = tempfile::tempdir().unwrap();
        let run = sample_record(root.path(), true);
        fs::remove_file(run.join("summary.json")).unwrap();
        let store = root.path().join("mlruns");
        let meta = |e: &Exported| read(&e.path.join("meta.yaml"));

        let killed = export(&run, &store).unwrap();
        assert!(meta(&killed).contains("status: 5\n"), "{}", meta(&killed));
        assert!(meta(&killed).contains("end_time: 1795595693125\n"));
        assert_eq!(read(&killed.path.join("tags/dlp.status")), "interrupted");

        // A live process's mark: still running, no end.
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        fs::write(run.join(".writer"), child.id().to_string()).unwrap();
        let running = export(&run, &store);
        let _ = child.kill();
        let _ = child.wait();
        let running = running.unwrap();
        assert!(meta(&running).contains("status: 1\n"), "{}", meta(&running));
        assert!(meta(&running).contains("end_time: null\n"));
        assert_eq!(read(&running.path.join("tags/dlp.status")), "running");
    }

    #[test]
    fn status_and_names() {
        assert_eq!(run_id("a"), run_id("a"));
        assert_ne!(run_id("a"), run_id("b"));
        assert!(run_id("a").bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(
            file_uri(Path::new("/tmp/my runs/ü")),
            "file:///tmp/my%20runs/%C3%BC"
        );
        assert_eq!(yaml_str("it's \"x\"\n"), r#""it's \"x\"\n""#);
        let meta = "name: 'it''s'\nother: 1\nlong: \"a\n  b\"\n";
        assert_eq!(yaml_value(meta, "name").as_deref(), Some("it's"));
        assert_eq!(yaml_value(meta, "other").as_deref(), Some("1"));
        assert_eq!(yaml_value(meta, "long").as_deref(), Some("a b"));
        assert_eq!(yaml_value(meta, "nam"), None);
    }
}
