//! Using what was trained, and managing runs: `dlpc eval`, `dlpc predict`,
//! `--init-from`, `--set` and sweeps, Ctrl-C, `runs reproduce`, `runs list`,
//! `runs rm` and `runs gc`.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn dlpc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dlpc"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = dlpc(args);
    assert!(
        out.status.success(),
        "dlpc {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The error output of a command that must fail.
fn fails(args: &[&str]) -> String {
    let out = dlpc(args);
    assert!(!out.status.success(), "dlpc {args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn json(p: &Path) -> Value {
    serde_json::from_str(&read(p)).unwrap()
}

/// A copy of an example and its data in a fresh folder, with `edit`
/// applied to the program's text.
fn example_copy(
    name: &str,
    data: &str,
    edit: impl Fn(String) -> String,
) -> (tempfile::TempDir, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let dir = tempfile::tempdir().unwrap();
    let text = edit(read(&root.join(name)));
    std::fs::write(dir.path().join(name), text).unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::copy(
        root.join("data").join(data),
        dir.path().join("data").join(data),
    )
    .unwrap();
    let file = dir.path().join(name).display().to_string();
    (dir, file)
}

/// Every run folder under `runs`, oldest first.
fn runs_in(runs: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(runs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    dirs
}

fn train(file: &str, runs: &Path, extra: &[&str]) -> PathBuf {
    let before = runs_in_or_none(runs);
    let mut args = vec!["run", file, "--runs", runs.to_str().unwrap()];
    args.extend(extra);
    ok(&args);
    let after = runs_in(runs);
    after
        .into_iter()
        .find(|d| !before.contains(d))
        .expect("a new run")
}

fn runs_in_or_none(runs: &Path) -> Vec<PathBuf> {
    if runs.exists() {
        runs_in(runs)
    } else {
        Vec::new()
    }
}

#[test]
fn eval_gives_the_final_evaluation_of_the_run_again() {
    let (_dir, file) = example_copy("iris.dlp", "iris.csv", |t| t);
    let runs = tempfile::tempdir().unwrap();
    let run = train(&file, runs.path(), &[]);
    let run_arg = run.to_str().unwrap();
    let out = ok(&["eval", &file, "--from", run_arg, "--json"]);
    let evaluated: Value = serde_json::from_str(&out).unwrap();
    let summary = json(&run.join("summary.json"));
    assert_eq!(evaluated, summary["final"]);
    // Any split or the whole dataset, as a table.
    let table = ok(&[
        "eval",
        &file,
        "--from",
        run_arg,
        "--data",
        "iris.train",
        "--data",
        "iris",
    ]);
    assert!(
        table.contains("iris.train") && table.contains("accuracy"),
        "{table}"
    );
    let e = fails(&["eval", &file, "--from", run_arg, "--data", "iris.val"]);
    assert!(
        e.contains("no split `val`; its splits are `iris.train`, `iris.test`"),
        "{e}"
    );
    let e = fails(&["eval", &file, "--from", run_arg, "--checkpoint", "best"]);
    assert!(
        e.contains("`best` is kept only with `keep_best = true`"),
        "{e}"
    );
}

#[test]
fn a_checkpoint_that_does_not_fit_is_refused_before_any_data_is_read() {
    let (_dir, file) = example_copy("iris.dlp", "iris.csv", |t| t);
    let runs = tempfile::tempdir().unwrap();
    let run = train(&file, runs.path(), &["--set", "epochs=1"]);
    // Another model, and data that does not exist: the mismatch is found first.
    let (_other, wider) = example_copy("iris.dlp", "iris.csv", |t| {
        t.replace("Classifier()", "Classifier(hidden = 32)")
            .replace("data/iris.csv", "data/missing.csv")
    });
    let run_arg = run.to_str().unwrap();
    for args in [
        vec!["eval", wider.as_str(), "--from", run_arg],
        vec![
            "predict",
            wider.as_str(),
            "--from",
            run_arg,
            "--data",
            "iris.test",
        ],
        vec![
            "run",
            wider.as_str(),
            "--init-from",
            run_arg,
            "--runs",
            runs.path().to_str().unwrap(),
        ],
    ] {
        let e = fails(&args);
        assert!(e.contains("does not fit train block `iris_mlp`"), "{e}");
        assert!(
            e.contains(
                "mis-shaped: `h.w` is f32[4, 16] in the checkpoint but f32[4, 32] in the program"
            ),
            "{e}"
        );
        assert!(!e.contains("missing.csv"), "{e}");
    }
    assert_eq!(runs_in(runs.path()).len(), 1, "no new run was recorded");
}

#[test]
fn predict_writes_every_output_with_its_class_as_csv_and_npy() {
    let (dir, file) = example_copy("digits_mlp.dlp", "digits.csv", |t| {
        t.replace("epochs    = 30", "epochs    = 3")
    });
    let runs = tempfile::tempdir().unwrap();
    let run = train(&file, runs.path(), &[]);
    let run_arg = run.to_str().unwrap();
    let csv = ok(&["predict", &file, "--from", run_arg, "--data", "digits.test"]);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 1 + 360);
    let header: Vec<&str> = lines[0].split(',').collect();
    assert_eq!(header.first(), Some(&"index"));
    assert_eq!(header[1], "logits_0");
    assert_eq!(header.last(), Some(&"logits_class"));
    for line in &lines[1..] {
        let cells: Vec<&str> = line.split(',').collect();
        let scores: Vec<f32> = cells[1..11].iter().map(|c| c.parse().unwrap()).collect();
        let class: usize = cells[11].parse().unwrap();
        let best = scores.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        assert_eq!(scores[class], best, "{line}");
    }
    // The same predictions as NPY, with the classes beside them.
    let npy = dir.path().join("preds.npy");
    ok(&[
        "predict",
        &file,
        "--from",
        run_arg,
        "--data",
        "digits.test",
        "-o",
        npy.to_str().unwrap(),
    ]);
    let bytes = std::fs::read(&npy).unwrap();
    assert!(bytes.starts_with(b"\x93NUMPY"));
    let header = String::from_utf8_lossy(&bytes[10..128]);
    assert!(
        header.contains("'shape': (360, 10") && header.contains("<f4"),
        "{header}"
    );
    let classes = std::fs::read(dir.path().join("preds.class.npy")).unwrap();
    assert!(String::from_utf8_lossy(&classes[10..100]).contains("'shape': (360,"));
    let e = fails(&[
        "predict", &file, "--from", run_arg, "--data", "digits", "-o", "p.txt",
    ]);
    assert!(e.contains("name it `.csv`"), "{e}");
}

#[test]
fn predict_needs_only_the_models_inputs() {
    let (dir, file) = example_copy("iris.dlp", "iris.csv", |t| {
        t.replace("epochs    = 100", "epochs    = 2").replace(
            "train iris_mlp",
            "dataset unlabeled {\n    source = csv(\"data/new.csv\", header = true)\n    x      = columns(0..4) as f32[4] / 8.0\n}\n\ntrain iris_mlp",
        )
    });
    std::fs::write(
        dir.path().join("data/new.csv"),
        "a,b,c,d\n5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n",
    )
    .unwrap();
    let runs = tempfile::tempdir().unwrap();
    let run = train(&file, runs.path(), &[]);
    let csv = ok(&[
        "predict",
        &file,
        "--from",
        run.to_str().unwrap(),
        "--data",
        "unlabeled",
    ]);
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(
        csv.starts_with("index,logits_0,logits_1,logits_2,logits_class\n"),
        "{csv}"
    );
    // Evaluation needs the labels, and says so.
    let e = fails(&[
        "eval",
        &file,
        "--from",
        run.to_str().unwrap(),
        "--data",
        "unlabeled",
    ]);
    assert!(e.contains("`y` is not known here"), "{e}");
}

#[test]
fn fine_tuning_starts_from_the_trained_parameters() {
    let (_dir, file) = example_copy("iris.dlp", "iris.csv", |t| t);
    let runs = tempfile::tempdir().unwrap();
    let first = train(&file, runs.path(), &[]);
    let tuned = train(
        &file,
        runs.path(),
        &["--init-from", first.to_str().unwrap(), "--set", "epochs=1"],
    );
    let first_loss = |run: &Path| -> f64 {
        let log = read(&run.join("metrics.jsonl"));
        let line: Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
        line["loss"].as_f64().unwrap()
    };
    assert!(first_loss(&tuned) < 0.5 * first_loss(&first));
    let config = json(&tuned.join("config.json"));
    assert!(config["init_from"]
        .as_str()
        .unwrap()
        .ends_with("last.safetensors"));
}

#[test]
fn set_overrides_settings_and_arguments_and_is_recorded() {
    let (_dir, file) = example_copy("iris.dlp", "iris.csv", |t| t);
    let runs = tempfile::tempdir().unwrap();
    let run = train(
        &file,
        runs.path(),
        &[
            "--set",
            "epochs=2",
            "--set",
            "model.hidden=8",
            "--set",
            "optimizer.lr=3e-2",
        ],
    );
    let config = json(&run.join("config.json"));
    assert_eq!(config["overrides"]["epochs"], "2");
    assert_eq!(config["plan"]["model"], "Classifier(hidden = 8)");
    assert_eq!(config["plan"]["optimizer"]["lr"], 3e-2);
    assert_eq!(
        config["plan"]["params"][0]["shape"],
        serde_json::json!([4, 8])
    );
    assert_eq!(json(&run.join("summary.json"))["epochs"], 2);
    // The record keeps the program as written.
    assert_eq!(read(&run.join("program/iris.dlp")), read(Path::new(&file)));
    let listed = ok(&["runs", "list", "--runs", runs.path().to_str().unwrap()]);
    assert!(
        listed.contains("epochs=2 model.hidden=8 optimizer.lr=3e-2"),
        "{listed}"
    );

    // A bad value is checked like one in the file, and says where it came from.
    let e = fails(&["run", &file, "--set", "batch=0"]);
    assert!(
        e.contains("`batch` is 0") && e.contains("this value comes from `--set batch=0`"),
        "{e}"
    );
    let e = fails(&["run", &file, "--set", "epoch=3"]);
    assert!(e.contains("did you mean `epochs`?"), "{e}");
    let e = fails(&["run", &file, "--set", "model.width=3"]);
    assert!(
        e.contains("model `Classifier` has no parameter `width`"),
        "{e}"
    );
}

#[test]
fn a_resumed_run_keeps_its_overrides() {
    let (_dir, file) = example_copy("iris.dlp", "iris.csv", |t| t);
    let (whole, parts) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let set = ["--set", "epochs=6", "--set", "optimizer.lr=2e-2"];
    let uninterrupted = train(&file, whole.path(), &set);
    let mut stopping = set.to_vec();
    stopping.extend(["--stop-after", "2"]);
    let stopped = train(&file, parts.path(), &stopping);
    ok(&["run", &file, "--resume", stopped.to_str().unwrap()]);
    assert_eq!(
        read(&uninterrupted.join("metrics.jsonl")),
        read(&stopped.join("metrics.jsonl"))
    );
    let e = fails(&[
        "run",
        &file,
        "--resume",
        stopped.to_str().unwrap(),
        "--set",
        "epochs=9",
    ]);
    assert!(
        e.contains("a resumed run keeps the settings it started with"),
        "{e}"
    );
}

#[test]
fn a_sweep_runs_every_combination_and_compares_them() {
    let (_dir, file) = example_copy("iris.dlp", "iris.csv", |t| t);
    let runs = tempfile::tempdir().unwrap();
    let out = ok(&[
        "run",
        &file,
        "--runs",
        runs.path().to_str().unwrap(),
        "--set",
        "epochs=1,2",
        "--set",
        "model.hidden=4,8",
    ]);
    let dirs = runs_in(runs.path());
    assert_eq!(dirs.len(), 4);
    let table: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("epochs  model.hidden"))
        .collect();
    assert_eq!(table.len(), 5, "{out}");
    assert!(table[0].contains("iris.test accuracy"), "{out}");
    assert!(table[4].starts_with("2       8 "), "{out}");
    let hidden: Vec<Value> = dirs
        .iter()
        .map(|d| json(&d.join("config.json"))["overrides"]["model.hidden"].clone())
        .collect();
    assert_eq!(hidden, ["4", "8", "4", "8"]);
}

/// Sends `signal` to a process.
fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits until `runs` holds a run whose log has at least `lines` lines.
fn wait_for_log(runs: &Path, lines: usize) -> PathBuf {
    for _ in 0..6000 {
        if let Some(run) = runs_in_or_none(runs).first() {
            let log = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap_or_default();
            if log.lines().count() >= lines {
                return run.clone();
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    panic!("the run did not start");
}

#[test]
fn ctrl_c_stops_after_a_step_and_the_run_resumes_exactly() {
    let (_dir, file) = example_copy("digits_mlp.dlp", "digits.csv", |t| {
        t.replace("epochs    = 30", "epochs    = 400")
    });
    let (whole, parts) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let child = Command::new(env!("CARGO_BIN_EXE_dlpc"))
        .args(["run", &file, "--runs", parts.path().to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let run = wait_for_log(parts.path(), 30);
    signal(child.id(), "-INT");
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(130), "{stdout}{stderr}");
    assert!(
        stderr.contains("interrupted: finishing this step"),
        "{stderr}"
    );
    assert!(stdout.contains("resume with: dlpc run"), "{stdout}");
    let summary = json(&run.join("summary.json"));
    assert_eq!(summary["status"], "interrupted");
    assert!(!run.join(".writer").exists());
    let listed = ok(&[
        "runs",
        "list",
        "--runs",
        parts.path().to_str().unwrap(),
        "--status",
        "interrupted",
    ]);
    assert!(listed.contains("interrupted"), "{listed}");

    ok(&["run", &file, "--resume", run.to_str().unwrap()]);
    let uninterrupted = train(&file, whole.path(), &[]);
    assert_eq!(
        read(&uninterrupted.join("metrics.jsonl")),
        read(&run.join("metrics.jsonl"))
    );
    assert_eq!(
        std::fs::read(uninterrupted.join("checkpoints/last.safetensors")).unwrap(),
        std::fs::read(run.join("checkpoints/last.safetensors")).unwrap()
    );
    let times = read(&run.join("times.jsonl"));
    assert_eq!(
        times.lines().count(),
        read(&run.join("metrics.jsonl")).lines().count()
    );
}

#[test]
fn a_second_ctrl_c_stops_at_once_and_the_record_stays_resumable() {
    let (_dir, file) = example_copy("digits_mlp.dlp", "digits.csv", |t| {
        t.replace("epochs    = 30", "epochs    = 400")
    });
    let runs = tempfile::tempdir().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_dlpc"))
        .args(["run", &file, "--runs", runs.path().to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let run = wait_for_log(runs.path(), 30);
    signal(child.id(), "-INT");
    signal(child.id(), "-INT");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    // Whatever the moment, the record resumes and finishes.
    ok(&["run", &file, "--resume", run.to_str().unwrap()]);
    assert_eq!(json(&run.join("summary.json"))["status"], "completed");
}

#[test]
fn reproduce_reruns_from_the_record_alone_bit_for_bit() {
    let (dir, file) = example_copy("iris.dlp", "iris.csv", |t| t);
    let runs = tempfile::tempdir().unwrap();
    let run = train(&file, runs.path(), &["--set", "epochs=20", "--seed", "5"]);
    // The program file may change or go: the record has its own copy.
    std::fs::write(&file, "garbage").unwrap();
    let out = ok(&[
        "runs",
        "reproduce",
        run.to_str().unwrap(),
        "--runs",
        runs.path().to_str().unwrap(),
    ]);
    assert!(
        out.contains("last.safetensors: bit-identical (sha256:"),
        "{out}"
    );
    assert!(out.contains("reproduced bit for bit"), "{out}");
    let again = runs_in(runs.path()).pop().unwrap();
    assert_eq!(json(&again.join("config.json"))["seed"], 5);
    // Changed data is refused, naming both hashes.
    let data = dir.path().join("data/iris.csv");
    let text = read(&data).replacen("5.1", "5.2", 1);
    std::fs::write(&data, text).unwrap();
    let e = fails(&["runs", "reproduce", run.to_str().unwrap()]);
    assert!(
        e.contains("has changed since the run: the run read sha256:"),
        "{e}"
    );
    assert!(e.contains(", the file is now sha256:"), "{e}");
}

#[test]
fn runs_are_listed_filtered_removed_and_collected() {
    let (_dir, file) = example_copy("iris.dlp", "iris.csv", |t| {
        t.replace(
            "    epochs    = 100\n",
            "    epochs    = 4\n    checkpoint_every = 2\n    keep_best = true\n",
        )
    });
    let runs = tempfile::tempdir().unwrap();
    let r = runs.path().to_str().unwrap();
    let a = train(&file, runs.path(), &[]);
    let b = train(&file, runs.path(), &["--stop-after", "1"]);
    let listed: Value =
        serde_json::from_str(&ok(&["runs", "list", "--runs", r, "--format", "json"])).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert_eq!(listed[0]["status"], "completed");
    assert_eq!(listed[0]["seed"], 1);
    assert!(listed[0]["best_validation_loss"].is_f64());
    let stopped = ok(&["runs", "list", "--runs", r, "--status", "stopped"]);
    assert_eq!(stopped.lines().count(), 2, "{stopped}");

    // A damaged record is listed as such, and the others still are.
    std::fs::write(b.join("summary.json"), "{").unwrap();
    let out = dlpc(&["runs", "list", "--runs", r]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        stdout.contains("completed") && stdout.contains("damaged"),
        "{stdout}"
    );
    assert!(stderr.contains("summary.json"), "{stderr}");

    // gc keeps best and last.
    let gc = ok(&["runs", "gc", "--runs", r, a.to_str().unwrap()]);
    assert!(gc.contains("removed 2 epoch checkpoints"), "{gc}");
    let mut left: Vec<String> = std::fs::read_dir(a.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["best.safetensors", "last.safetensors"]);

    // A run a live process writes is removed only with --force (this
    // test's own process stands in for the writer).
    std::fs::write(a.join(".writer"), std::process::id().to_string()).unwrap();
    let e = fails(&["runs", "rm", "--runs", r, a.to_str().unwrap()]);
    assert!(e.contains("is being written by process"), "{e}");
    ok(&["runs", "rm", "--runs", r, a.to_str().unwrap(), "--force"]);
    ok(&["runs", "rm", "--runs", r, b.to_str().unwrap()]);
    assert!(runs_in(runs.path()).is_empty());
}

#[test]
fn sigterm_stops_a_run_like_ctrl_c() {
    let (_dir, file) = example_copy("digits_mlp.dlp", "digits.csv", |t| {
        t.replace("epochs    = 30", "epochs    = 400")
    });
    let runs = tempfile::tempdir().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_dlpc"))
        .args(["run", &file, "--runs", runs.path().to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let run = wait_for_log(runs.path(), 30);
    signal(child.id(), "-TERM");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    assert_eq!(json(&run.join("summary.json"))["status"], "interrupted");
}

#[test]
fn predictions_agree_between_the_compiled_back_end_and_the_interpreter() {
    let (_dir, file) = example_copy("digits_mlp.dlp", "digits.csv", |t| {
        t.replace("epochs    = 30", "epochs    = 2")
    });
    let runs = tempfile::tempdir().unwrap();
    let run = train(&file, runs.path(), &[]);
    let predict = |backend: &str| -> Vec<Vec<f64>> {
        let csv = ok(&[
            "predict",
            &file,
            "--from",
            run.to_str().unwrap(),
            "--data",
            "digits",
            "--backend",
            backend,
            "--device",
            "cpu",
        ]);
        csv.lines()
            .skip(1)
            .map(|l| l.split(',').map(|c| c.parse().unwrap()).collect())
            .collect()
    };
    let (compiled, reference) = (predict("cpu"), predict("interp"));
    assert_eq!(compiled.len(), 1797);
    for (a, b) in compiled.iter().zip(&reference) {
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= 1e-4 * (1.0 + y.abs()), "{a:?} vs {b:?}");
        }
    }
}

#[test]
fn eval_applies_the_runs_overrides_and_the_recorded_program_runs_as_it_did() {
    let (_dir, file) = example_copy("iris.dlp", "iris.csv", |t| t);
    let runs = tempfile::tempdir().unwrap();
    let run = train(
        &file,
        runs.path(),
        &["--set", "epochs=3", "--set", "model.hidden=32"],
    );
    let out = dlpc(&["eval", &file, "--from", run.to_str().unwrap(), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("with the run's overrides: --set epochs=3 --set model.hidden=32"));
    let evaluated: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(evaluated, json(&run.join("summary.json"))["final"]);
    // The record's copy of the program finds its data where the run did.
    let copy = run.join("program/iris.dlp");
    let copy = copy.to_str().unwrap();
    ok(&["eval", copy, "--from", run.to_str().unwrap()]);
    let again = train(copy, runs.path(), &["--set", "epochs=1"]);
    assert_eq!(
        json(&again.join("config.json"))["samples"]["iris.train"],
        120
    );
}
