//! Model state end to end: `state` values change only by their `update`s,
//! once per training step, never by the optimiser (even with a gradient
//! path through them), are saved in the checkpoints beside the parameters,
//! and are what evaluation reads; on the interpreter, the CPU back end and
//! (when there is an adapter) the GPU, alike.

use dlp_runtime::checkpoint;
use std::process::Command;

const PROGRAM: &str = r#"
use std.loss.mse
use std.optim.sgd

dataset d {
    source = csv("d.csv", header = true)
    x      = column("x")
    y      = column("y")
}

model M {
    input x: f32[B]
    param w: f32[1] = ones()
    state steps: f32[1] = zeros()
    state total: f32[1] = zeros()
    state scale: f32[1] = constant(value = 2.0)
    update steps = steps + 1.0
    update total = total + sum(x)
    output p = x * w * scale + total * 0.0
}

train t {
    model     = M()
    data      = d
    batch     = 4
    epochs    = 3
    loss      = mse(p, y)
    optimizer = sgd(lr = 0.001)
    validate  = d
}
"#;

/// The values of the last checkpoint of a run of [`PROGRAM`] with `args`.
fn trained(args: &[&str]) -> std::collections::HashMap<String, Vec<f64>> {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("x,y\n");
    for i in 1..=12 {
        csv.push_str(&format!("{i},{}\n", 3 * i));
    }
    std::fs::write(dir.path().join("d.csv"), csv).unwrap();
    std::fs::write(dir.path().join("p.dlp"), PROGRAM).unwrap();
    let runs = dir.path().join("runs");
    let out = Command::new(env!("CARGO_BIN_EXE_dlpc"))
        .args(["run", "p.dlp", "--runs", runs.to_str().unwrap()])
        .args(args)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = std::fs::read_dir(&runs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let ck = checkpoint::load(&run.join("checkpoints/last.safetensors")).unwrap();
    ck.params
        .into_iter()
        .map(|(k, t)| (k, t.to_f64()))
        .collect()
}

fn check(args: &[&str]) {
    let values = trained(args);
    // 12 samples in batches of 4: 3 steps an epoch, every sample once.
    assert_eq!(values["steps"], vec![9.0], "{args:?}: one update per step");
    assert_eq!(
        values["total"],
        vec![3.0 * 78.0],
        "{args:?}: every sample counted once an epoch"
    );
    assert_eq!(
        values["scale"],
        vec![2.0],
        "{args:?}: the optimiser never changes a state"
    );
    assert_ne!(values["w"], vec![1.0], "{args:?}: parameters are trained");
}

#[test]
fn states_change_only_by_their_updates_on_the_cpu_and_the_interpreter() {
    check(&["--device", "cpu"]);
    check(&["--device", "cpu", "--backend", "interp"]);
}

#[test]
fn states_change_only_by_their_updates_on_the_gpu() {
    if dlp_runtime::gpu::adapters().is_empty() {
        assert!(
            std::env::var_os("DLP_REQUIRE_GPU").is_none(),
            "DLP_REQUIRE_GPU is set but {}",
            dlp_runtime::gpu::NO_ADAPTER
        );
        return println!("skipped: {}", dlp_runtime::gpu::NO_ADAPTER);
    }
    check(&["--device", "gpu"]);
}

/// Batch norm's statistics need two values or more per feature while
/// training: `batch = 1` is refused at compile time with the call and the
/// reason, while a 2-D batch norm over 8x8 images (64 values a channel)
/// and evaluation on any batch size are fine.
#[test]
fn batch_norm_on_training_batches_of_one_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("a,b,y\n");
    for i in 0..8 {
        csv.push_str(&format!("{i},{},{}\n", i * i, i % 2));
    }
    std::fs::write(dir.path().join("d.csv"), csv).unwrap();
    let program = |layer: &str, batch: usize| {
        format!(
            r#"
use std.nn.{{linear, batch_norm, batch_norm2d}}
use std.loss.mse
use std.optim.sgd
dataset d {{
    source = csv("d.csv", header = true)
    x      = columns(0..2) as f32[2]
    y      = column("y")
}}
model M {{
    input x: f32[B, 2]
    output p = sum({layer}, axis = 1)
}}
train t {{
    model     = M()
    data      = d
    batch     = {batch}
    epochs    = 1
    loss      = mse(p, y)
    optimizer = sgd()
}}
"#
        )
    };
    let check = |text: String| {
        let file = dir.path().join("p.dlp");
        std::fs::write(&file, text).unwrap();
        Command::new(env!("CARGO_BIN_EXE_dlpc"))
            .args(["check", file.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let out = check(program("batch_norm(linear(x, 3))", 1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("this call of `batch_norm` breaks `B >= 2`: here B is 1, which is not at least 2 (every training batch has `batch = 1` samples)"),
        "{err}"
    );
    assert!(check(program("batch_norm(linear(x, 3))", 2))
        .status
        .success());
    let images = "reshape(batch_norm2d(reshape(linear(x, 64), [B, 1, 8, 8])), [B, 64])";
    let out = check(program(images, 1));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
