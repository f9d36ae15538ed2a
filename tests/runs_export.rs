//! `dlpc runs export` end to end: iris runs (about a second each) trained
//! into a temporary folder, exported to MLflow and TensorBoard, and the
//! files checked here; then, when `DLP_EXPORT_PYTHON` names a Python with
//! `mlflow-skinny` (or `mlflow`) and `tensorboard`, read back with those
//! packages by `tests/exporters/check_exports.py`. Without it that part is
//! skipped with a printed reason, unless `DLP_REQUIRE_EXPORT_CHECK=1`
//! (CI), which makes it fail.

use dlp_runtime::export::tensorboard::{read_events, What};
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn dlpc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dlpc"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn read(p: &Path) -> String {
    fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Trains iris into `runs` (with `extra` arguments) and returns the new
/// record's folder.
fn train(runs: &Path, extra: &[&str]) -> PathBuf {
    let before = folders(runs);
    let iris = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/iris.dlp");
    let mut args = vec![
        "run",
        iris.to_str().unwrap(),
        "--runs",
        runs.to_str().unwrap(),
    ];
    args.extend(extra);
    let out = dlpc(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut new: Vec<PathBuf> = folders(runs)
        .into_iter()
        .filter(|f| !before.contains(f))
        .collect();
    assert_eq!(new.len(), 1, "{new:?}");
    new.pop().unwrap()
}

fn folders(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default()
}

fn log(record: &Path) -> Vec<Value> {
    read(&record.join("metrics.jsonl"))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `dlpc runs export <record> --mlflow <store> --tensorboard <tb>`: the
/// MLflow run folder and the event file it printed.
fn export(record: &Path, store: &Path, tb: &Path) -> (PathBuf, PathBuf) {
    let out = dlpc(&[
        "runs",
        "export",
        record.to_str().unwrap(),
        "--mlflow",
        store.to_str().unwrap(),
        "--tensorboard",
        tb.to_str().unwrap(),
    ]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].starts_with("mlflow       run "), "{text}");
    assert!(lines[2].starts_with("tensorboard  "), "{text}");
    let path = |line: &str| PathBuf::from(line.trim());
    (path(lines[1]), path(lines[3]))
}

/// The MLflow run folder and the event file hold what the log holds.
fn check_files(record: &Path, run: &Path, events: &Path) {
    let id = record.file_name().unwrap().to_str().unwrap();
    let log = log(record);
    let steps: Vec<&Value> = log.iter().filter(|l| l["kind"] == "step").collect();
    let epochs = log.iter().filter(|l| l["kind"] == "epoch").count();
    let validations = log.iter().filter(|l| l["kind"] == "validate").count();

    // MLflow: one `<ms> <value> <step>` line per step for `loss`.
    let loss = read(&run.join("metrics/loss"));
    assert_eq!(loss.lines().count(), steps.len());
    for (line, step) in loss.lines().zip(&steps) {
        let parts: Vec<&str> = line.split(' ').collect();
        assert_eq!(parts.len(), 3, "{line}");
        assert_eq!(parts[2], step["step"].to_string(), "{line}");
        assert_eq!(
            parts[1].parse::<f64>().ok(),
            step["loss"].as_f64(),
            "{line}"
        );
    }
    assert_eq!(
        read(&run.join("metrics/val_accuracy")).lines().count(),
        validations
    );
    assert_eq!(read(&run.join("params/optimizer.lr")), "0.01");
    assert_eq!(read(&run.join("params/model")), "Classifier()");
    assert_eq!(read(&run.join("tags/mlflow.runName")), id);
    assert_eq!(read(&run.join("tags/dlp.run")), id);
    assert_eq!(
        read(&run.join("artifacts/program/iris.dlp")),
        read(&record.join("program/iris.dlp"))
    );
    assert_eq!(
        fs::read(run.join("artifacts/checkpoints/last.safetensors")).unwrap(),
        fs::read(record.join("checkpoints/last.safetensors")).unwrap()
    );
    let meta = read(&run.join("meta.yaml"));
    let run_id = run.file_name().unwrap().to_str().unwrap();
    assert!(meta.contains(&format!("run_id: \"{run_id}\"\n")), "{meta}");
    assert!(meta.contains(&format!("run_name: \"{id}\"\n")), "{meta}");

    // TensorBoard: the version, then a scalar per value: loss and lr per
    // step, loss and accuracy per epoch and validation, the final two.
    let events = read_events(&fs::read(events).unwrap()).unwrap();
    assert_eq!(
        events[0].what,
        Some(What::FileVersion("brain.Event:2".into()))
    );
    let summary: Value = serde_json::from_str(&read(&record.join("summary.json"))).unwrap();
    let finals: usize = summary["final"].as_object().map_or(0, |f| {
        f.values()
            .map(|m| m.as_object().map_or(0, |m| m.len()))
            .sum()
    });
    assert_eq!(
        events.len(),
        1 + 2 * steps.len() + 2 * epochs + 2 * validations + finals
    );
    let Some(What::Summary(first)) = &events[1].what else {
        panic!("{:?}", events[1]);
    };
    assert_eq!(first.value[0].tag, "loss");
    assert_eq!(events[1].step, 1);
    assert_eq!(
        first.value[0].simple_value,
        steps[0]["loss"].as_f64().map(|v| v as f32)
    );
}

/// Reads the exports back with MLflow's and TensorBoard's own packages.
fn check_with_python(store: &Path, tb: &Path, records: &[&Path]) {
    let Some(python) = std::env::var_os("DLP_EXPORT_PYTHON") else {
        assert!(
            std::env::var_os("DLP_REQUIRE_EXPORT_CHECK").is_none_or(|v| v != "1"),
            "DLP_REQUIRE_EXPORT_CHECK=1 but DLP_EXPORT_PYTHON is not set"
        );
        eprintln!(
            "skipped: reading the exports with mlflow and tensorboard \
             (set DLP_EXPORT_PYTHON to a Python that has them)"
        );
        return;
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/exporters/check_exports.py");
    let out = Command::new(&python)
        .arg(script)
        .arg(store)
        .arg(tb)
        .args(records)
        .output()
        .unwrap_or_else(|e| panic!("DLP_EXPORT_PYTHON={}: {e}", python.to_string_lossy()));
    assert!(
        out.status.success(),
        "check_exports.py failed:\n{}{}",
        stdout(&out),
        stderr(&out)
    );
    eprint!("{}", stdout(&out));
}

/// Writes `times.jsonl` for a record that has none (records of a `dlpc`
/// from before it), a second apart per line, and strips `config.json` of
/// what older records lack when `older` is set.
fn set_times(record: &Path, older: bool) {
    let times = record.join("times.jsonl");
    let config_path = record.join("config.json");
    let mut config: Value = serde_json::from_str(&read(&config_path)).unwrap();
    let object = config.as_object_mut().unwrap();
    if older {
        let _ = fs::remove_file(&times);
        object.remove("started_unix");
        object.remove("overrides");
    } else if !times.exists() {
        let start = 1_800_000_000.0;
        let text: String = log(record)
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let mut t = serde_json::json!({"kind": l["kind"], "epoch": l["epoch"]});
                if l["kind"] == "step" {
                    t["step"] = l["step"].clone();
                }
                t["time"] = Value::from(start + 1.0 + i as f64 * 0.001);
                format!("{t}\n")
            })
            .collect();
        fs::write(&times, text).unwrap();
        object.insert("started_unix".into(), Value::from(start));
    }
    fs::write(&config_path, config.to_string()).unwrap();
}

#[test]
fn exports_runs_that_mlflow_and_tensorboard_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let (store, tb) = (dir.path().join("mlruns"), dir.path().join("tb"));
    let older = train(&runs, &[]);
    let newer = train(&runs, &[]);
    let stopped = train(&runs, &["--stop-after", "3"]);
    set_times(&older, true);
    set_times(&newer, false);

    let mut exported = Vec::new();
    for record in [&older, &newer, &stopped] {
        let (run, events) = export(record, &store, &tb);
        check_files(record, &run, &events);
        exported.push(run);
    }
    // All three runs are in the experiment named after the train block.
    let experiment = exported[0].parent().unwrap();
    assert!(exported.iter().all(|r| r.parent() == Some(experiment)));
    assert!(read(&experiment.join("meta.yaml")).contains("name: \"iris_mlp\"\n"));
    assert!(
        read(&exported[2].join("meta.yaml")).contains("status: 5\n"),
        "stopped: KILLED"
    );

    // Exporting again replaces the run: the same id, no second copy.
    let (again, _) = export(&newer, &store, &tb);
    assert_eq!(again, exported[1]);
    assert_eq!(folders(experiment).len(), 1 + 3, "meta.yaml and three runs");
    assert_eq!(folders(&tb.join(newer.file_name().unwrap())).len(), 1);

    check_with_python(&store, &tb, &[&older, &newer, &stopped]);
}

#[test]
fn errors_name_the_run_or_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let store = dir.path().join("mlruns");
    let out = dlpc(&[
        "runs",
        "export",
        "nosuch",
        "--runs",
        runs.to_str().unwrap(),
        "--mlflow",
        store.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no run `nosuch`"), "{}", stderr(&out));
    assert!(!store.exists());

    let record = train(&runs, &["--stop-after", "1"]);
    let metrics = record.join("metrics.jsonl");
    let mut lines: Vec<String> = read(&metrics).lines().map(String::from).collect();
    lines[2] = "{\"kind\": \"step\", \"epo".into();
    fs::write(&metrics, lines.join("\n") + "\n").unwrap();
    let tb = dir.path().join("tb");
    let out = dlpc(&[
        "runs",
        "export",
        record.to_str().unwrap(),
        "--mlflow",
        store.to_str().unwrap(),
        "--tensorboard",
        tb.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("error: mlflow: ") && err.contains("metrics.jsonl:3: "),
        "{err}"
    );
    assert!(err.contains("error: tensorboard: "), "{err}");
    assert!(!tb.exists() && !store.exists(), "nothing written");
}
