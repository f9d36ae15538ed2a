//! `dlpc run`, `dlpc runs` and `dlpc graph` end to end: determinism,
//! resuming, the run record's contents.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn dlpc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dlpc"))
        .args(args)
        .output()
        .unwrap()
}

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
        .display()
        .to_string()
}

fn only_run(runs: &Path) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(runs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs.pop().unwrap()
}

fn train(file: &str, runs: &Path, extra: &[&str]) -> PathBuf {
    let mut args = vec!["run", file, "--runs", runs.to_str().unwrap()];
    args.extend(extra);
    let out = dlpc(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    only_run(runs)
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn the_same_seed_gives_the_same_metrics_and_another_seed_does_not() {
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let digits = example("digits_mlp.dlp");
    let first = read(&train(&digits, a.path(), &[]).join("metrics.jsonl"));
    let second = read(&train(&digits, b.path(), &[]).join("metrics.jsonl"));
    assert!(
        first.lines().count() > 600,
        "one line per step, epoch and validation"
    );
    assert_eq!(
        first, second,
        "same program, same seed: identical metrics.jsonl"
    );
    let other = read(&train(&digits, c.path(), &["--seed", "43"]).join("metrics.jsonl"));
    assert_ne!(first, other);
}

/// Work is split by rows of results, never inside a sum: one thread and
/// two give the same bits (the MNIST MLP's products and Adam's kernels are
/// large enough to be split).
#[test]
fn the_thread_count_does_not_change_the_results() {
    let logs: Vec<String> = ["1", "2"]
        .iter()
        .map(|threads| {
            let runs = tempfile::tempdir().unwrap();
            let extra = ["--threads", threads, "--stop-after", "2"];
            let dir = train(&example("mnist_mlp.dlp"), runs.path(), &extra);
            let config = read(&dir.join("config.json"));
            assert!(config.contains(&format!("\"threads\": {threads}")) || *threads != "1");
            read(&dir.join("metrics.jsonl"))
        })
        .collect();
    assert_eq!(logs[0], logs[1]);
    let refused = dlpc(&["run", &example("iris.dlp"), "--threads", "0"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--threads must be at least 1"));
}

/// A run planned larger than `--max-memory` stops before it reads data or
/// records anything, and says how much it needs and why.
#[test]
fn a_run_larger_than_the_memory_limit_is_refused_before_it_starts() {
    let runs = tempfile::tempdir().unwrap();
    let out = dlpc(&[
        "run",
        &example("digits_cnn.dlp"),
        "--runs",
        runs.path().to_str().unwrap(),
        "--max-memory",
        "100k",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("this run needs at least")
            && err.contains("activations of a batch of 32")
            && err.contains("--max-memory allows 100.0 kB"),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(runs.path()).unwrap().count(), 0);
    let bad = dlpc(&["run", &example("iris.dlp"), "--max-memory", "4X"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown unit `X`"));
}

/// `dlpc check` lowers every train block's model too, so a program too
/// large to run is refused by `check`, with the estimate, not first by
/// `run`.
#[test]
fn check_refuses_a_model_too_large_to_run() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("huge.dlp");
    let program = "use std.nn.linear
use std.loss.mse
use std.optim.sgd
dataset d {
    source = csv(\"d.csv\", header = true)
    x = columns(0..2) as f32[2]
    y = column(\"t\") as f32[1]
}
model M {
    input x: f32[B, 2]
    h = linear(x, 70000)
    h = linear(h, 70000)
    output y = linear(h, 1)
}
train t {
    model = M()
    data = d
    epochs = 1
    loss = mse(y, y)
    optimizer = sgd()
}
";
    std::fs::write(&file, program).unwrap();
    let out = dlpc(&["check", file.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("E0400") && err.contains("[70000, 70000]"),
        "{err}"
    );
    // Every example checks, lowering included.
    for name in ["iris.dlp", "digits_cnn.dlp", "mnist_mlp.dlp"] {
        let ok = dlpc(&["check", &example(name)]);
        assert!(
            ok.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&ok.stderr)
        );
    }
}

#[test]
fn a_resumed_run_continues_exactly_like_an_uninterrupted_one() {
    let (whole, parts) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let digits = example("digits_mlp.dlp");
    let uninterrupted = train(&digits, whole.path(), &[]);
    let stopped = train(&digits, parts.path(), &["--stop-after", "10"]);
    let summary = read(&stopped.join("summary.json"));
    assert!(summary.contains("\"status\": \"stopped\""), "{summary}");
    let out = dlpc(&["run", &digits, "--resume", stopped.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("resuming after epoch 10"));
    assert_eq!(
        read(&uninterrupted.join("metrics.jsonl")),
        read(&stopped.join("metrics.jsonl"))
    );
    let final_of = |dir: &Path| {
        let v: serde_json::Value = serde_json::from_str(&read(&dir.join("summary.json"))).unwrap();
        v["final"].clone()
    };
    assert_eq!(final_of(&uninterrupted), final_of(&stopped));
}

#[test]
fn the_run_record_holds_program_data_hashes_checkpoints_and_summary() {
    let runs = tempfile::tempdir().unwrap();
    let dir = train(&example("iris.dlp"), runs.path(), &[]);
    assert_eq!(
        read(&dir.join("program/iris.dlp")),
        read(Path::new(&example("iris.dlp")))
    );
    let config: serde_json::Value = serde_json::from_str(&read(&dir.join("config.json"))).unwrap();
    assert_eq!(config["seed"], 1);
    assert!(config["data"][0]["hash"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    assert_eq!(config["plan"]["batch"], 16);
    assert!(dir.join("checkpoints/last.safetensors").is_file());
    let summary: serde_json::Value =
        serde_json::from_str(&read(&dir.join("summary.json"))).unwrap();
    assert_eq!(summary["status"], "completed");
    assert_eq!(summary["epochs"], 100);
    assert!(summary["final"]["iris.test"]["accuracy"].as_f64().unwrap() > 0.8);
    // Timings: start-up within the command's time; the steady rate counts
    // the steps after the first 20 (this run has hundreds).
    let seconds = summary["seconds"].as_f64().unwrap();
    let startup = summary["startup_seconds"].as_f64().unwrap();
    assert!(startup > 0.0 && startup < seconds, "{summary}");
    assert!(summary["steady_samples_per_second"].as_f64().unwrap() > 0.0);
    assert!(summary["step_ms"].as_f64().unwrap() > 0.0);

    let list = dlpc(&["runs", "list", "--runs", runs.path().to_str().unwrap()]);
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(
        text.contains("iris_mlp")
            && text.contains("completed")
            && text.contains("iris.test: accuracy"),
        "{text}"
    );
    let id = dir.file_name().unwrap().to_str().unwrap();
    let show = dlpc(&["runs", "show", id, "--runs", runs.path().to_str().unwrap()]);
    let text = String::from_utf8_lossy(&show.stdout);
    assert!(
        text.contains("sha256:") && text.contains("last.safetensors") && text.contains("seed 1"),
        "{text}"
    );
}

/// The JSON header of a safetensors file.
fn safetensors_header(path: &Path) -> serde_json::Value {
    let bytes = std::fs::read(path).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    serde_json::from_slice(&bytes[8..8 + header_len]).unwrap()
}

fn checkpoint_metadata(path: &Path) -> serde_json::Value {
    safetensors_header(path)["__metadata__"].clone()
}

#[test]
fn checkpoints_are_safetensors_keyed_by_parameter_path() {
    let runs = tempfile::tempdir().unwrap();
    let dir = train(&example("iris.dlp"), runs.path(), &[]);
    let header = safetensors_header(&dir.join("checkpoints/last.safetensors"));
    assert_eq!(header["h.w"]["shape"], serde_json::json!([4, 16]));
    assert_eq!(header["logits.b"]["dtype"], "F32");
    assert!(
        header["optimizer/m.h.w"].is_object(),
        "Adam's first moment is kept: {header}"
    );
    assert_eq!(header["__metadata__"]["epoch"], "100");
}

#[test]
fn graph_prints_dot_and_text() {
    let digits = example("digits_mlp.dlp");
    let dot = String::from_utf8(dlpc(&["graph", &digits]).stdout).unwrap();
    assert!(
        dot.starts_with("digraph step {")
            && dot.contains("matmul")
            && dot.trim_end().ends_with('}')
    );
    let text = String::from_utf8(dlpc(&["graph", &digits, "--text"]).stdout).unwrap();
    assert!(text.contains("= input param.h.w : f32[64, 256]"), "{text}");
    assert!(text.contains("= matmul %"), "{text}");
    assert!(text.contains("output grad.logits.b = %"), "{text}");
    assert!(
        !text.contains("new_param"),
        "the update is the second group:\n{text}"
    );
    graphviz_accepts(&dot);
    let update = String::from_utf8(dlpc(&["graph", &digits, "--text", "--update"]).stdout).unwrap();
    assert!(
        update.contains("= input grad.h.w : f32[64, 256]"),
        "{update}"
    );
    assert!(update.contains("output new_param.h.w = %"), "{update}");
    let eval = String::from_utf8(dlpc(&["graph", &digits, "--text", "--eval"]).stdout).unwrap();
    assert!(
        !eval.contains("grad.h.w") && !eval.contains("new_param") && !eval.contains("random"),
        "no backward, no update, no dropout:\n{eval}"
    );
}

#[test]
fn emit_prints_the_compiled_program_at_each_stage() {
    let digits = example("digits_mlp.dlp");
    let ir = String::from_utf8(dlpc(&["emit", &digits, "--ir"]).stdout).unwrap();
    assert!(ir.contains("; ---- sync point"), "{ir}");
    assert!(ir.contains("output grad.h.w = %") && ir.contains("output new_param.h.w = %"));
    let json = dlpc(&["emit", &digits, "--json"]).stdout;
    let program: serde_json::Value = serde_json::from_slice(&json).expect("JSON");
    assert_eq!(program["plan"]["name"], "digits_mlp");
    assert!(program["train"]["gradients"]["nodes"].is_array());
    let kernels = String::from_utf8(dlpc(&["emit", &digits, "--kernels"]).stdout).unwrap();
    assert!(kernels.contains("contraction around %"), "{kernels}");
    assert!(kernels.contains("; memory plan:"), "{kernels}");
    let clif = String::from_utf8(dlpc(&["emit", &digits, "--clif"]).stdout).unwrap();
    assert!(clif.contains("function u0:0(i64, i64, i64, i64)"), "{clif}");
    let none = dlpc(&["emit", &digits]);
    assert!(!none.status.success(), "a stage must be asked for");
}

/// Graphviz's `dot` renders the graph (skipped with a reason when `dot` is
/// not installed, except under CI, which installs it).
fn graphviz_accepts(dot: &str) {
    use std::io::Write;
    use std::process::Stdio;
    let Ok(mut child) = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
    else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have Graphviz's `dot` (apt-get install graphviz)"
        );
        println!("skipped: Graphviz's `dot` is not installed");
        return;
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(dot.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "dot rejected the graph: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("<svg"));
}

#[test]
fn unknown_devices_and_the_interpreter_on_the_gpu_are_refused_clearly() {
    let out = dlpc(&["run", &example("iris.dlp"), "--device", "tpu"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown device `tpu`: the devices are `cpu`, `gpu` and `auto`"),
        "{err}"
    );
    let out = dlpc(&[
        "run",
        &example("iris.dlp"),
        "--device",
        "gpu",
        "--backend",
        "interp",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("runs on the CPU: use it with `--device cpu`"),
        "{err}"
    );
}

/// A copy of the iris example with `settings` in place of its train
/// block's `epochs`, in a fresh folder with its data.
fn iris_variant(settings: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let text = read(Path::new(&example("iris.dlp"))).replace("    epochs    = 100\n", settings);
    std::fs::write(dir.path().join("iris.dlp"), text).unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::copy(example("data/iris.csv"), dir.path().join("data/iris.csv")).unwrap();
    dir
}

fn summary(run: &Path) -> serde_json::Value {
    serde_json::from_str(&read(&run.join("summary.json"))).unwrap()
}

#[test]
fn steps_instead_of_epochs() {
    let dir = iris_variant("    steps = 10\n");
    let run = train(
        dir.path().join("iris.dlp").to_str().unwrap(),
        &dir.path().join("runs"),
        &[],
    );
    let s = summary(&run);
    assert_eq!(
        (s["steps"].as_u64(), s["epochs"].as_u64()),
        (Some(10), Some(2)),
        "{s}"
    );
}

#[test]
fn early_stopping_keep_best_and_periodic_checkpoints() {
    // A learning rate far too high makes the validation loss stop improving.
    let dir = iris_variant(
        "    epochs = 60\n    patience = 3\n    keep_best = true\n    checkpoint_every = 2\n",
    );
    let program = dir.path().join("iris.dlp");
    let text = read(&program).replace("adam(lr = 1e-2)", "adam(lr = 0.5)");
    std::fs::write(&program, text).unwrap();
    let out = dlpc(&[
        "run",
        program.to_str().unwrap(),
        "--runs",
        dir.path().join("runs").to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("stopping early: no improvement of the validation loss in 3 validations"),
        "{stderr}"
    );
    assert!(
        stderr.contains("evaluating the kept best parameters"),
        "{stderr}"
    );
    let run = only_run(&dir.path().join("runs"));
    let s = summary(&run);
    assert_eq!(s["status"], "stopped early");
    let epochs = s["epochs"].as_u64().unwrap();
    assert!(epochs < 60, "{s}");
    assert!(run.join("checkpoints/best.safetensors").is_file());
    // The best parameters are from the last improvement, 3 validations before the stop.
    let best_epoch =
        checkpoint_metadata(&run.join("checkpoints/best.safetensors"))["epoch"].clone();
    assert_eq!(best_epoch, (epochs - 3).to_string());
    assert!(run.join("checkpoints/epoch-2.safetensors").is_file());
    assert!(!run.join("checkpoints/epoch-3.safetensors").exists());
    // The final metrics are those of the best validation.
    let best = s["best_validation_loss"].as_f64().unwrap();
    let final_loss = s["final"]["iris.test"]["loss"].as_f64().unwrap();
    assert!(
        (best - final_loss).abs() < 1e-9,
        "best {best}, final {final_loss}"
    );
    // Killed after the stopping epoch's checkpoint but before its summary:
    // the resumed run stops there too, training no further epoch.
    let log = read(&run.join("metrics.jsonl"));
    std::fs::remove_file(run.join("summary.json")).unwrap();
    let out = dlpc(&[
        "run",
        program.to_str().unwrap(),
        "--resume",
        run.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let resumed = summary(&run);
    assert_eq!(resumed["status"], "stopped early");
    assert_eq!(resumed["epochs"], s["epochs"]);
    assert_eq!(read(&run.join("metrics.jsonl")), log);
}

#[test]
fn separate_train_and_test_files() {
    let dir = iris_variant("    epochs = 30\n");
    let program = dir.path().join("iris.dlp");
    let text = read(&program)
        .replace(
            "source  = csv(\"data/iris.csv\", header = true)",
            "source  = { train: csv(\"data/train.csv\", header = true), test: csv(\"data/test.csv\", header = true) }",
        )
        .replace("    split   = { train: 0.8, test: 0.2 }\n", "")
        .replace("    shuffle = seed(3)\n", "");
    std::fs::write(&program, text).unwrap();
    let rows: Vec<String> = read(&dir.path().join("data/iris.csv"))
        .lines()
        .map(String::from)
        .collect();
    let (header, body) = (&rows[0], &rows[1..]);
    let (mut train_rows, mut test_rows) = (vec![header.clone()], vec![header.clone()]);
    for (i, r) in body.iter().enumerate() {
        if i % 5 == 0 {
            &mut test_rows
        } else {
            &mut train_rows
        }
        .push(r.clone());
    }
    std::fs::write(dir.path().join("data/train.csv"), train_rows.join("\n")).unwrap();
    std::fs::write(dir.path().join("data/test.csv"), test_rows.join("\n")).unwrap();
    let run = train(program.to_str().unwrap(), &dir.path().join("runs"), &[]);
    let s = summary(&run);
    assert!(
        s["final"]["iris.test"]["accuracy"].as_f64().unwrap() > 0.8,
        "{s}"
    );
    let config: serde_json::Value = serde_json::from_str(&read(&run.join("config.json"))).unwrap();
    assert_eq!(
        config["data"].as_array().unwrap().len(),
        2,
        "both files are hashed: {config}"
    );
    // Used whole, such a dataset is both files' samples.
    let text = read(&program).replace("data      = iris.train", "data      = iris");
    std::fs::write(&program, text).unwrap();
    let run = train(
        program.to_str().unwrap(),
        &dir.path().join("runs-whole"),
        &[],
    );
    assert_eq!(summary(&run)["steps"], 30 * (150 / 16));
}

#[test]
fn a_dataset_with_splits_can_also_be_used_whole() {
    let dir = iris_variant("    epochs = 2\n");
    let program = dir.path().join("iris.dlp");
    std::fs::write(
        &program,
        read(&program).replace("data      = iris.train", "data      = iris"),
    )
    .unwrap();
    let run = train(program.to_str().unwrap(), &dir.path().join("runs"), &[]);
    // 150 samples in batches of 16: 9 steps per epoch.
    assert_eq!(summary(&run)["steps"], 18);
}

#[test]
fn mistakes_found_when_running_are_reported_and_recorded() {
    // A seed cannot change a resumed run.
    let dir = iris_variant("    epochs = 2\n");
    let program = dir.path().join("iris.dlp");
    let runs = dir.path().join("runs");
    let run = train(program.to_str().unwrap(), &runs, &[]);
    let out = dlpc(&[
        "run",
        program.to_str().unwrap(),
        "--resume",
        run.to_str().unwrap(),
        "--seed",
        "3",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("a resumed run keeps the seed it started with"));
    // The train block's own device is honoured.
    std::fs::write(
        &program,
        read(&program).replace(
            "    seed      = 1\n",
            "    seed      = 1\n    device    = \"gpu\"\n",
        ),
    )
    .unwrap();
    // (Where no adapter is found: Metal does not exist on Linux.)
    let out = Command::new(env!("CARGO_BIN_EXE_dlpc"))
        .args(["run", program.to_str().unwrap(), "--runs"])
        .arg(&runs)
        .env(
            "WGPU_BACKEND",
            if cfg!(target_os = "linux") {
                "metal"
            } else {
                "dx12"
            },
        )
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("device `gpu`: no GPU adapter found"));
    // Nesterov momentum needs momentum.
    let text = read(&program)
        .replace("adam(lr = 1e-2)", "sgd(lr = 0.1, nesterov = true)")
        .replace("use std.optim.adam", "use std.optim.sgd");
    std::fs::write(&program, text.replace("    device    = \"gpu\"\n", "")).unwrap();
    let out = dlpc(&[
        "run",
        program.to_str().unwrap(),
        "--runs",
        runs.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("E0311") && stderr.contains("`nesterov = true` needs `momentum` above 0"),
        "{stderr}"
    );
    assert!(
        stderr.contains("iris.dlp:"),
        "points at the program: {stderr}"
    );
}

#[test]
fn a_diverging_run_stops_with_a_clear_error_and_a_failed_summary() {
    // On the CPU, and on the GPU where there is one (whose step results
    // come in a step late: the error must still name the step).
    let mut devices = vec!["cpu"];
    if !dlp_runtime::gpu::adapters().is_empty() {
        devices.push("gpu");
    }
    let mut where_it_failed = Vec::new();
    for device in devices {
        let dir = iris_variant("    epochs = 5\n");
        let program = dir.path().join("iris.dlp");
        let text = read(&program)
            .replace("adam(lr = 1e-2)", "sgd(lr = 1e30)")
            .replace("use std.optim.adam", "use std.optim.sgd");
        std::fs::write(&program, text).unwrap();
        let runs = dir.path().join("runs");
        let out = dlpc(&[
            "run",
            program.to_str().unwrap(),
            "--runs",
            runs.to_str().unwrap(),
            "--device",
            device,
        ]);
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("the loss became") && stderr.contains("try a lower learning rate"),
            "{stderr}"
        );
        let at = stderr
            .split(" at ")
            .nth(1)
            .unwrap_or_default()
            .split(':')
            .next();
        where_it_failed.push(at.unwrap_or_default().to_string());
        let s = summary(&only_run(&runs));
        assert_eq!(s["status"], "failed");
        assert!(s["error"].as_str().unwrap().contains("the loss became"));
        let show = dlpc(&["runs", "show", only_run(&runs).to_str().unwrap()]);
        let text = String::from_utf8_lossy(&show.stdout);
        assert!(
            text.contains("status   failed") && text.contains("error    the loss became"),
            "{text}"
        );
    }
    assert!(
        where_it_failed.windows(2).all(|w| w[0] == w[1]),
        "{where_it_failed:?}"
    );
}

#[test]
fn a_resumed_run_keeps_its_train_block_and_finished_runs_are_not_resumed() {
    let dir = iris_variant("    epochs = 3\n");
    let program = dir.path().join("iris.dlp");
    let second = "\ntrain second {\n    model     = Classifier(hidden = 8)\n    data      = iris.train\n    batch     = 8\n    epochs    = 4\n    loss      = cross_entropy(logits, y)\n    optimizer = adam(lr = 1e-2)\n}\n";
    std::fs::write(&program, read(&program) + second).unwrap();
    let runs = dir.path().join("runs");
    let (p, r) = (program.to_str().unwrap(), runs.to_str().unwrap());
    let run = train(p, &runs, &["--train", "second", "--stop-after", "2"]);
    let id = run.file_name().unwrap().to_str().unwrap().to_string();
    // By id, under --runs, and without --train: the recorded block goes on.
    let out = dlpc(&["run", p, "--runs", r, "--resume", &id]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("training `second`"), "{stderr}");
    let s = summary(&run);
    assert_eq!(
        (
            s["train"].as_str(),
            s["epochs"].as_u64(),
            s["steps"].as_u64()
        ),
        (Some("second"), Some(4), Some(4 * 15)),
        "{s}"
    );
    let out = dlpc(&["run", p, "--runs", r, "--resume", &id]);
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("has finished (completed): there is nothing to resume"));
    let out = dlpc(&[
        "run", p, "--runs", r, "--resume", &id, "--train", "iris_mlp",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("trains `second`, not `iris_mlp`"));
    let out = dlpc(&["run", p, "--runs", r, "--resume", "no-such-run"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("there is no run `no-such-run`"));
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    use std::io::Read;
    use std::process::Stdio;
    // The CNN's DOT is far larger than a pipe's buffer.
    let mut child = Command::new(env!("CARGO_BIN_EXE_dlpc"))
        .args(["graph", &example("digits_cnn.dlp")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(&first[..14], b"digraph step {");
}

#[test]
fn a_misspelt_train_block_is_named_with_a_suggestion_not_a_place() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let out = dlpc(&[
        "run",
        &example("iris.dlp"),
        "--train",
        "iris_mpl",
        "--runs",
        runs.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err,
        "error: there is no train block named `iris_mpl` (did you mean `iris_mlp`?); \
         the program has `iris_mlp`\n"
    );
    assert!(!runs.exists(), "no run record for a run that never started");
}
