//! `dlpc export` end to end: every example (and `tests/onnx/zoo.dlp`, which
//! uses every kind of layer and op the export maps) trained for an epoch
//! into a temporary folder, exported with `--samples 64` (from the model's
//! inputs, and with `--raw-inputs` from the data as stored), and checked here;
//! then, when `DLP_EXPORT_PYTHON` names a Python with `onnx` and
//! `onnxruntime`, validated by `onnx.checker` and run by onnxruntime against
//! dlp's outputs (`tests/exporters/check_onnx.py`). Without it that part is
//! skipped with a printed reason, unless `DLP_REQUIRE_EXPORT_CHECK=1` (CI),
//! which makes it fail.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn dlpc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dlpc"))
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Trains `program` for a few steps into `dir/runs` and returns the run.
fn train(program: &Path, dir: &Path) -> String {
    let runs = dir.join("runs");
    let p = program.to_str().unwrap();
    let out = dlpc(&[
        "run",
        p,
        "--runs",
        runs.to_str().unwrap(),
        // A few steps: the export is checked, not the training.
        "--set",
        "steps=20",
    ]);
    assert!(out.status.success(), "{p}: {}", text(&out.stderr));
    let record = fs::read_dir(&runs).unwrap().next().unwrap().unwrap();
    record.path().to_str().unwrap().to_string()
}

/// `dlpc export program --from run -o dir/<name>.onnx --samples 64
/// [extra]`: the model file, after checking what was written and printed.
fn export(program: &Path, run: &str, dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let model = dir.join(format!("{name}.onnx"));
    let mut args = vec![
        "export",
        program.to_str().unwrap(),
        "--from",
        run,
        "-o",
        model.to_str().unwrap(),
        "--samples",
        "64",
    ];
    args.extend(extra);
    let out = dlpc(&args);
    let said = text(&out.stdout);
    assert!(out.status.success(), "{name}: {}{said}", text(&out.stderr));
    assert!(said.contains("(ONNX opset 17, "), "{said}");
    // From the model's inputs, `x`; from the data as stored, the fields
    // read (`image` in `x = random_crop(image, ...)`).
    assert!(said.contains("inputs x: ") || !extra.is_empty(), "{said}");
    for file in ["onnx", "inputs.npz", "outputs.npz"] {
        let path = dir.join(format!("{name}.{file}"));
        let len = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        assert!(len > 0, "{} was not written:\n{said}", path.display());
    }
    model
}

/// Runs `check_onnx.py` on each model, or says why not.
fn check_with_onnxruntime(models: &[PathBuf]) {
    let Some(python) = std::env::var_os("DLP_EXPORT_PYTHON") else {
        assert!(
            std::env::var_os("DLP_REQUIRE_EXPORT_CHECK").is_none_or(|v| v != "1"),
            "DLP_REQUIRE_EXPORT_CHECK=1 but DLP_EXPORT_PYTHON is not set"
        );
        eprintln!(
            "skipped: onnxruntime's check of the exported models \
             (set DLP_EXPORT_PYTHON to a Python with onnx and onnxruntime)"
        );
        return;
    };
    for model in models {
        let out = Command::new(&python)
            .arg(repo("tests/exporters/check_onnx.py"))
            .arg(model)
            .output()
            .unwrap();
        eprint!("{}", text(&out.stdout));
        assert!(
            out.status.success(),
            "onnxruntime disagrees with dlp on {}:\n{}",
            model.display(),
            text(&out.stderr)
        );
    }
}

#[test]
fn every_example_exports_and_onnxruntime_agrees_with_dlp() {
    let mut programs = common::dlp_files("examples");
    programs.push(repo("tests/onnx/zoo.dlp"));
    let root = tempfile::tempdir().unwrap();
    let mut models = vec![];
    for program in &programs {
        if let Some(missing) = common::missing_data(&fs::read_to_string(program).unwrap()) {
            eprintln!("skipped {}: {missing} is not installed", program.display());
            continue;
        }
        let name = program.file_stem().unwrap().to_str().unwrap();
        let dir = root.path().join(name);
        let run = train(program, &dir);
        models.push(export(program, &run, &dir, name, &[]));
        // From the data as stored: the fields' expressions in the graph.
        let raw = format!("{name}_raw");
        models.push(export(program, &run, &dir, &raw, &["--raw-inputs"]));
    }
    check_with_onnxruntime(&models);
}

#[test]
fn random_numbers_in_evaluation_are_refused_at_their_place() {
    let program = repo("tests/onnx/noisy.dlp");
    let dir = tempfile::tempdir().unwrap();
    let run = train(&program, dir.path());
    let model = dir.path().join("noisy.onnx");
    let out = dlpc(&[
        "export",
        program.to_str().unwrap(),
        "--from",
        &run,
        "-o",
        model.to_str().unwrap(),
    ]);
    let err = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("random numbers in evaluation cannot be exported"),
        "{err}"
    );
    assert!(err.contains("noisy.dlp:16:38"), "{err}");
    assert!(err.contains("nothing was written"), "{err}");
    assert!(!model.exists());
}

#[test]
fn the_model_file_must_be_named_onnx() {
    let dir = tempfile::tempdir().unwrap();
    let out = dlpc(&[
        "export",
        repo("examples/iris.dlp").to_str().unwrap(),
        "--from",
        "nowhere",
        "-o",
        dir.path().join("model.bin").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("name the model file `.onnx`"));
}
