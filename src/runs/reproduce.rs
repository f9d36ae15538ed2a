//! `dlpc runs reproduce <id>`: the run again, from its record alone — the
//! program files it keeps, its `--set` overrides, seed, device, back end
//! and threads, and its data files, found where they were and refused if
//! their contents changed — then the checkpoints of both compared.

use crate::run::Printer;
use crate::{overrides, program};
use dlp_runtime::backend::Backend;
use dlp_runtime::record::{self, RunRecord, PROGRAM};
use dlp_runtime::train::{self, Job, Options};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub fn run(runs: &Path, id: &str) -> ExitCode {
    match reproduce(runs, id) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            tell!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Whether the reproduction's checkpoints equal the original's.
fn reproduce(runs: &Path, id: &str) -> Result<bool, String> {
    let started = std::time::Instant::now();
    let original = super::open(runs, id)?;
    let config = original.config().map_err(|e| e.to_string())?;
    let summary = record::read_json(&original.dir.join(record::SUMMARY)).ok();
    let status = summary
        .as_ref()
        .and_then(|s| s.get("status")?.as_str())
        .unwrap_or("killed");
    // A stopped run is reproduced up to where it stopped.
    let stop_after = match status {
        "completed" | "stopped early" => None,
        "stopped" => summary.as_ref().and_then(|s| s["epochs"].as_u64()),
        other => {
            return Err(format!(
                "run `{}` did not finish ({other}): there is no end to reproduce; resume it first",
                original.id
            ))
        }
    };
    let field = |key: &str| {
        config.get(key).and_then(Value::as_str).ok_or_else(|| {
            format!(
                "{}: `{key}` is missing (a record from an older dlpc cannot be reproduced)",
                original.dir.join(record::CONFIG).display()
            )
        })
    };
    let root = original.dir.join(PROGRAM).join(field("program")?);
    let base = PathBuf::from(field("base")?);
    let block = field("train")?.to_string();
    check_data(&config)?;

    let text = program::read(&root)?;
    let assignments = train::recorded_overrides(&original.dir).map_err(|e| e.to_string())?;
    let (rewritten, applied) = overrides::apply(&text, Some(&block), &assignments)?;
    let explain = |d, root| overrides::explain(d, root, &applied);
    let comp = program::load_text(&root, &rewritten, &explain)
        .ok_or("the recorded program does not check with this dlpc")?;
    let compiled = program::compiled_explained(&comp, Some(&block), &explain)
        .ok_or("the recorded program does not compile with this dlpc")?;
    let backend = Backend::from_name(field("backend")?).unwrap_or_default();
    if backend != Backend::Gpu {
        if let Some(n) = config.get("threads").and_then(Value::as_u64) {
            if let Err(e) = dlp_runtime::cpu::set_threads(n as usize) {
                tell!("note: {e}");
            }
        }
    }
    dlp_runtime::cpu::include_this_thread();
    let init_from = config
        .get("init_from")
        .and_then(Value::as_str)
        .map(PathBuf::from);
    let job = Job {
        program: &compiled,
        base,
        files: program::files(&comp, &root, &text),
        overrides: assignments,
        init_from,
    };
    let opts = Options {
        runs: runs.to_path_buf(),
        seed: config.get("seed").and_then(Value::as_u64),
        stop_after,
        device: Some(field("device")?.to_string()),
        backend,
        started,
        interrupt: crate::run::interrupt_flag(),
        ..Options::default()
    };
    tell!("reproducing run `{}`", original.id);
    let mut printer = Printer::new();
    let outcome = train::train(&job, &opts, &mut printer);
    printer.finish();
    let summary = outcome.map_err(|e| e.to_string())?;
    let again = RunRecord::open(&summary.dir).map_err(|e| e.to_string())?;
    say!("reproduction: {}", again.dir.display());
    compare(&original, &again)
}

/// Every data file the run read, at its recorded place, with its
/// recorded contents.
fn check_data(config: &Value) -> Result<(), String> {
    for file in config["data"].as_array().into_iter().flatten() {
        let Some(path) = file["path"].as_str() else {
            return Err(
                "the record does not say where its data files are (recorded by an older dlpc)"
                    .into(),
            );
        };
        let recorded = file["hash"].as_str().unwrap_or("?");
        let now = dlp_runtime::data::file_hash(std::path::Path::new(path))
            .map_err(|e| format!("the run's data file {path} cannot be read: {e}"))?;
        if now != recorded {
            return Err(format!(
                "the data file {path} has changed since the run: the run read {recorded}, the file is now {now}"
            ));
        }
    }
    Ok(())
}

/// Compares the checkpoints both runs have, by SHA-256; says which are
/// bit-identical.
fn compare(a: &RunRecord, b: &RunRecord) -> Result<bool, String> {
    let mut identical = true;
    let mut compared = 0;
    for name in ["last", "best"] {
        let (pa, pb) = (a.checkpoint(name), b.checkpoint(name));
        if !pa.is_file() {
            continue;
        }
        let hash = |p: &Path| {
            std::fs::read(p)
                .map(|bytes| dlp_runtime::data::content_hash(&bytes))
                .map_err(|e| format!("cannot read {}: {e}", p.display()))
        };
        let (ha, hb) = (hash(&pa)?, hash(&pb)?);
        compared += 1;
        if ha == hb {
            say!("{name}.safetensors: bit-identical ({ha})");
        } else {
            identical = false;
            say!("{name}.safetensors: differs\n  original      {ha}\n  reproduction  {hb}");
        }
    }
    if compared == 0 {
        return Err(format!("run `{}` has no checkpoint to compare", a.id));
    }
    if identical {
        say!("reproduced bit for bit: run `{}` = run `{}`", b.id, a.id);
    } else {
        say!("not bit-identical: different hardware, thread count or dlpc version can change the last bits; compare the metrics with `dlpc runs diff {} {}`", a.id, b.id);
    }
    Ok(identical)
}
