//! `dlpc summary`: layers, parameters, FLOPs and planned memory, before
//! any data is read.

use std::path::Path;
use std::process::Command;

fn dlpc(args: &[&str]) -> std::process::Output {
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

fn summary_json(file: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["summary", file, "--format", "json"];
    args.extend(extra);
    let out = dlpc(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn layers_are_the_statements_of_the_model_with_their_parameters_and_flops() {
    let s = summary_json(&example("digits_mlp.dlp"), &[]);
    let layers = s["layers"].as_array().unwrap();
    let names: Vec<&str> = layers.iter().map(|l| l["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["h", "h", "logits"]);
    assert_eq!(layers[0]["call"], "relu(linear(x, hidden))");
    assert_eq!(layers[0]["output"], "f32[64, 256]");
    assert_eq!(layers[0]["instances"], serde_json::json!(["h"]));
    // 64×256 weights and 256 biases; a multiply-add per weight, then the
    // bias and the relu once per output.
    assert_eq!(layers[0]["parameters"], 64 * 256 + 256);
    assert_eq!(layers[0]["flops_per_sample"], 2 * 64 * 256 + 256 + 256);
    assert_eq!(layers[2]["parameters"], 256 * 10 + 10);
    assert_eq!(s["parameters"], 64 * 256 + 256 + 256 * 10 + 10);
    let forward = s["forward_flops_per_sample"].as_u64().unwrap();
    let train = s["train_flops_per_sample"].as_u64().unwrap();
    assert!(
        train > 2 * forward && train < 4 * forward,
        "{forward} {train}"
    );
}

#[test]
fn convolutions_count_their_windows_and_the_batch_is_a_choice() {
    let s = summary_json(&example("digits_cnn.dlp"), &["--batch", "8"]);
    let conv = &s["layers"][0];
    assert_eq!(conv["output"], "f32[8, 16, 8, 8]");
    // 16×8×8 outputs of a 1×3×3 window, then bias and relu.
    assert_eq!(conv["flops_per_sample"], 2 * 1024 * 9 + 1024 + 1024);
    assert_eq!(s["batch"], 8);
    let small = s["training_memory"]["activations"].as_u64().unwrap();
    let big = summary_json(&example("digits_cnn.dlp"), &["--batch", "512"]);
    assert!(big["training_memory"]["activations"].as_u64().unwrap() > 30 * small);
    assert_eq!(big["parameters"], s["parameters"]);
}

#[test]
fn the_training_figure_is_the_one_a_run_is_refused_with() {
    let file = example("mnist_mlp.dlp");
    let s = dlpc(&["summary", &file]);
    let text = String::from_utf8_lossy(&s.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("memory, training"))
        .unwrap();
    let figure = line.split_whitespace().nth(2).unwrap().to_string()
        + " "
        + line.split_whitespace().nth(3).unwrap();
    let runs = tempfile::tempdir().unwrap();
    let refused = dlpc(&[
        "run",
        &file,
        "--max-memory",
        "1k",
        "--runs",
        runs.path().to_str().unwrap(),
    ]);
    let e = String::from_utf8_lossy(&refused.stderr);
    assert!(
        e.contains(&format!("needs at least {figure}")),
        "{figure}: {e}"
    );
}

#[test]
fn repeated_blocks_get_a_row_per_pass() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("deep.dlp");
    let text = std::fs::read_to_string(example("iris.dlp"))
        .unwrap()
        .replace(
            "    h = relu(linear(x, hidden))\n",
            "    h = relu(linear(x, hidden))\n    repeat 3 {\n        h = relu(linear(h, hidden))\n    }\n",
        )
        .replace("data/iris.csv", "nowhere.csv");
    std::fs::write(&file, text).unwrap();
    let s = summary_json(file.to_str().unwrap(), &[]);
    let names: Vec<&str> = s["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["h", "h.0", "h.1", "h.2", "logits"]);
    let instances: Vec<String> = s["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["instances"][0].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(instances.len(), 5);
    assert!(instances.iter().all(|i| !i.is_empty()));
    let human = dlpc(&["summary", file.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&human.stdout).contains("h.2"));
}
