//! `dlpc run --device gpu` end to end, on whatever wgpu adapter the machine
//! has (lavapipe in CI): the GPU trains to the CPU's metrics, a run moves
//! between devices through its checkpoints, and no adapter is a clear
//! error. `dlpc emit --wgsl` and `dlpc devices` need no GPU.
//!
//! Without an adapter the GPU tests print why and pass, unless
//! `DLP_REQUIRE_GPU` is set (CI sets it).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn dlpc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dlpc"))
        .args(args)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
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

fn have_gpu() -> bool {
    let adapters = dlp_runtime::gpu::adapters();
    match adapters.first() {
        Some(a) => {
            println!("GPU: {} ({})", a.name, a.backend);
            true
        }
        None if std::env::var_os("DLP_REQUIRE_GPU").is_some() => {
            panic!(
                "DLP_REQUIRE_GPU is set but {}",
                dlp_runtime::gpu::NO_ADAPTER
            )
        }
        None => {
            println!("skipped: {}", dlp_runtime::gpu::NO_ADAPTER);
            false
        }
    }
}

/// Runs `dlpc run`, asserting success; the run's folder.
fn train(file: &str, runs: &Path, extra: &[&str]) -> PathBuf {
    let mut args = vec!["run", file, "--runs", runs.to_str().unwrap()];
    args.extend(extra);
    let out = dlpc(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(runs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs.pop().unwrap()
}

/// Every number of every line of `metrics.jsonl`, in order, with its key
/// (timings left out).
fn metrics(run: &Path) -> Vec<(String, f64)> {
    let text = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let mut out = Vec::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        collect_numbers("", &v, &mut out);
    }
    out
}

fn collect_numbers(key: &str, v: &serde_json::Value, out: &mut Vec<(String, f64)>) {
    match v {
        serde_json::Value::Number(n) => out.extend(n.as_f64().map(|x| (key.to_string(), x))),
        serde_json::Value::Array(items) => items.iter().for_each(|i| collect_numbers(key, i, out)),
        serde_json::Value::Object(map) => map
            .iter()
            .filter(|(k, _)| k.as_str() != "seconds" && !k.contains("per_second"))
            .for_each(|(k, i)| collect_numbers(&format!("{key}.{k}"), i, out)),
        _ => {}
    }
}

/// The GPU sums in f32 in another order than the CPU: after hundreds of
/// steps losses agree to `rel`, and an accuracy may differ by a sample or
/// two of a test set (`0.006` of digits' 360).
fn assert_close_metrics(cpu: &[(String, f64)], gpu: &[(String, f64)], rel: f64) {
    assert_eq!(cpu.len(), gpu.len());
    for ((key, a), (other, b)) in cpu.iter().zip(gpu) {
        assert_eq!(key, other);
        let tolerance = if key.contains("accuracy") {
            0.006
        } else {
            rel * a.abs().max(1.0)
        };
        assert!((a - b).abs() <= tolerance, "{key}: cpu {a}, gpu {b}");
    }
}

#[test]
fn training_on_the_gpu_gives_the_cpus_metrics() {
    if !have_gpu() {
        return;
    }
    let (on_cpu, on_gpu) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let iris = example("iris.dlp");
    let cpu = train(&iris, on_cpu.path(), &["--device", "cpu"]);
    let out = dlpc(&[
        "run",
        &iris,
        "--runs",
        on_gpu.path().to_str().unwrap(),
        "--device",
        "gpu",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("device: gpu ("),
        "the start line names the adapter: {err}"
    );
    let gpu = std::fs::read_dir(on_gpu.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert_close_metrics(&metrics(&cpu), &metrics(&gpu), 2e-3);
    let config = std::fs::read_to_string(gpu.join("config.json")).unwrap();
    assert!(config.contains("\"device\": \"gpu\""), "{config}");
    assert!(config.contains("\"backend\": \"gpu\""), "{config}");
}

/// Checkpoints are the same files on both devices: a run started on the
/// GPU continues on the CPU and back, and ends where a run on the CPU
/// alone ends.
#[test]
fn a_run_moves_between_the_gpu_and_the_cpu() {
    if !have_gpu() {
        return;
    }
    let (whole, parts) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let digits = example("digits_mlp.dlp");
    let uninterrupted = train(&digits, whole.path(), &["--device", "cpu"]);
    let run = train(
        &digits,
        parts.path(),
        &["--device", "gpu", "--stop-after", "3"],
    );
    let dir = run.to_str().unwrap();
    for (device, epochs) in [("cpu", "6"), ("gpu", "9")] {
        let out = dlpc(&[
            "run",
            &digits,
            "--resume",
            dir,
            "--device",
            device,
            "--stop-after",
            epochs,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = dlpc(&["run", &digits, "--resume", dir, "--device", "cpu"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_close_metrics(&metrics(&uninterrupted), &metrics(&run), 1e-2);
}

#[test]
fn no_adapter_is_a_clear_error() {
    // Metal does not exist on Linux; elsewhere, DX12 stands in.
    let backend = if cfg!(target_os = "linux") {
        "metal"
    } else {
        "dx12"
    };
    let out = Command::new(env!("CARGO_BIN_EXE_dlpc"))
        .args(["run", &example("iris.dlp"), "--device", "gpu"])
        .env("WGPU_BACKEND", backend)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no GPU adapter found"), "{err}");
    assert!(err.contains("--device cpu"), "{err}");
    // `auto` falls back to the CPU.
    let runs = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dlpc"))
        .args(["run", &example("iris.dlp"), "--device", "auto", "--runs"])
        .arg(runs.path())
        .env("WGPU_BACKEND", backend)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("device: cpu (cpu,"), "{err}");
}

#[test]
fn emit_wgsl_prints_every_kernels_validated_shader() {
    let out = dlpc(&["emit", &example("digits_cnn.dlp"), "--wgsl"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for part in [
        "// train `digits_cnn`: forward and backward, batch 32",
        "// contraction kernel k1",
        "@compute @workgroup_size(256)",
        "var<workgroup> partial",
        "// train `digits_cnn`: clipping and update",
    ] {
        assert!(text.contains(part), "missing {part:?}");
    }
    // Every shader printed (from its `// ... kernel kN:` line on) parses
    // and validates.
    let mut shaders: Vec<String> = Vec::new();
    for line in text.lines() {
        if line.starts_with("// ") && line.contains(" kernel k") {
            shaders.push(String::new());
        }
        if let Some(s) = shaders.last_mut() {
            s.push_str(line);
            s.push('\n');
        }
    }
    assert!(shaders.len() > 20, "{} shaders", shaders.len());
    for shader in &shaders {
        dlp_compiler::wgsl::validate(shader).unwrap_or_else(|e| panic!("{e}\n{shader}"));
    }
}

#[test]
fn devices_lists_the_adapters_or_says_there_are_none() {
    let out = dlpc(&["devices"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("`--device auto`"),
        "says what auto would do: {text}"
    );
    if !dlp_runtime::gpu::adapters().is_empty() {
        assert!(text.contains("largest buffer binding"), "{text}");
    }
}

/// `dlpc run iris.dlp --profile` with `args` (a device or back end, how
/// many epochs): its messages, once it has succeeded.
fn profiled(args: &[&str]) -> String {
    let runs = tempfile::tempdir().unwrap();
    let example = example("iris.dlp");
    let mut all = vec!["run", &example, "--profile"];
    all.extend(args);
    all.extend(["--runs", runs.path().to_str().unwrap()]);
    let out = dlpc(&all);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    err
}

#[test]
fn profile_reports_where_the_gpus_time_went() {
    if !have_gpu() {
        return;
    }
    let err = profiled(&["--device", "gpu", "--stop-after", "2"]);
    assert!(
        (err.contains("GPU time in kernels:")
            && err.contains("contraction (matmul)")
            && err.contains("the longest kernels:"))
            || err.contains("cannot time kernels"),
        "{err}"
    );
}

#[test]
fn profile_reports_where_the_cpus_time_went() {
    let err = profiled(&["--device", "cpu", "--stop-after", "1"]);
    assert!(
        err.contains("CPU time in kernels:")
            && err.contains("contraction (matmul)")
            && err.contains("gradients k")
            && err.contains("between kernels"),
        "{err}"
    );
    // The interpreter has no kernels, and says so.
    let err = profiled(&["--backend", "interp", "--stop-after", "1"]);
    assert!(
        err.contains("the interpreter (--backend interp) has none"),
        "{err}"
    );
}
