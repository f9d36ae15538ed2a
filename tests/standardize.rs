//! `standardize`: statistics measured on the training data alone, recorded
//! in the run, kept in checkpoints, and used for every other data set and
//! for predictions.

mod common;

use std::path::Path;

/// Column `a` is 1..=8 in order, `b` is always 5. The train split is the
/// first half (no shuffle): `a` is 1..=4 there.
const PROGRAM: &str = r#"
use std.nn.linear
use std.loss.cross_entropy
use std.optim.sgd

dataset d {
    source = csv("d.csv", header = true)
    x      = standardize(columns(0..2) as f32[2])
    y      = column("label") as class(2)
    split  = { train: 0.5, test: 0.5 }
}

model M {
    input x: f32[B, 2]
    output logits = linear(x, 2)
    output seen = x
}

train t {
    model     = M()
    data      = d.train
    batch     = 2
    epochs    = 1
    loss      = cross_entropy(logits, y)
    optimizer = sgd()
    validate  = d.test
}
"#;

const CSV: &str = "a,b,label\n1,5,0\n2,5,1\n3,5,0\n4,5,1\n5,5,0\n6,5,1\n7,5,0\n8,5,1\n";

fn folder(program: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.dlp"), program).unwrap();
    std::fs::write(dir.path().join("d.csv"), CSV).unwrap();
    dir
}

fn at(dir: &Path, name: &str) -> String {
    dir.join(name).to_str().unwrap().to_string()
}

fn train(dir: &Path) -> std::path::PathBuf {
    let runs = at(dir, "runs");
    common::ok(&["run", &at(dir, "p.dlp"), "--runs", &runs]);
    common::only_run(&dir.join("runs"))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-5
}

#[test]
fn statistics_come_from_the_training_split_and_are_recorded() {
    let dir = folder(PROGRAM);
    let run = train(dir.path());
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap();
    let s = &config["statistics"][0];
    assert_eq!(s["field"], "x");
    assert_eq!(s["data"], "d.train");
    assert_eq!(s["samples"], 4);
    let mean: Vec<f64> = serde_json::from_value(s["mean"].clone()).unwrap();
    let std: Vec<f64> = serde_json::from_value(s["std"].clone()).unwrap();
    // a: 1..=4 (population deviation √1.25); b: constant, so deviation 1.
    assert!(close(mean[0], 2.5) && close(mean[1], 5.0), "{mean:?}");
    assert!(
        close(std[0], 1.25f64.sqrt()) && close(std[1], 1.0),
        "{std:?}"
    );
}

#[test]
fn predictions_on_other_data_use_the_training_statistics() {
    let dir = folder(PROGRAM);
    let run = train(dir.path());
    let out = common::ok(&[
        "predict",
        &at(dir.path(), "p.dlp"),
        "--from",
        run.to_str().unwrap(),
        "--data",
        "d.test",
    ]);
    // Test rows have a = 5..=8: (a - 2.5) / √1.25, and b standardizes to 0.
    let header: Vec<&str> = out.lines().next().unwrap().split(',').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (a, b) = (column("seen_0"), column("seen_1"));
    for (row, line) in out.lines().skip(1).enumerate() {
        let values: Vec<f64> = line.split(',').map(|v| v.parse().unwrap()).collect();
        let expected = (5.0 + row as f64 - 2.5) / 1.25f64.sqrt();
        assert!(close(values[a], expected), "row {row}: {line}");
        assert!(close(values[b], 0.0), "row {row}: {line}");
    }
}

#[test]
fn per_channel_statistics_pool_each_channel() {
    // Two "channels" of one value each per sample: the same as per value.
    let program = PROGRAM.replace(
        "standardize(columns(0..2) as f32[2])",
        "reshape(standardize(columns(0..2) as f32[2, 1], per_channel = true), [2])",
    );
    let dir = folder(&program);
    let run = train(dir.path());
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap();
    let s = &config["statistics"][0];
    assert_eq!(s["shape"], serde_json::json!([2, 1]));
    let mean: Vec<f64> = serde_json::from_value(s["mean"].clone()).unwrap();
    assert!(close(mean[0], 2.5) && close(mean[1], 5.0), "{mean:?}");

    // One channel of two values: a and b pooled, over the 4 training rows.
    let program = PROGRAM.replace(
        "standardize(columns(0..2) as f32[2])",
        "reshape(standardize(columns(0..2) as f32[1, 2], per_channel = true), [2])",
    );
    let dir = folder(&program);
    let run = train(dir.path());
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap();
    let s = &config["statistics"][0];
    let values = [1.0, 2.0, 3.0, 4.0, 5.0, 5.0, 5.0, 5.0];
    let m = values.iter().sum::<f64>() / 8.0;
    let sd = (values.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / 8.0).sqrt();
    assert!(close(s["mean"][0].as_f64().unwrap(), m), "{s}");
    assert!(close(s["std"][0].as_f64().unwrap(), sd), "{s}");
}

#[test]
fn standardizing_twice_in_a_chain_is_refused() {
    let program = PROGRAM.replace(
        "x      = standardize(columns(0..2) as f32[2])",
        "raw    = standardize(columns(0..2) as f32[2])\n    x      = standardize(raw * 2.0)",
    );
    let dir = folder(&program);
    let out = common::dlpc(&["check", &at(dir.path(), "p.dlp")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("already standardized (`raw`)"), "{stderr}");
}

#[test]
fn validation_data_cannot_standardize_what_training_data_does_not() {
    let program = PROGRAM
        .replace(
            "    split  = { train: 0.5, test: 0.5 }\n}",
            "    split  = { train: 0.5, test: 0.5 }\n}\n\ndataset raw {\n    source = csv(\"d.csv\", header = true)\n    x      = columns(0..2) as f32[2]\n    y      = column(\"label\") as class(2)\n}",
        )
        .replace("data      = d.train", "data      = raw")
        .replace("validate  = d.test", "validate  = d");
    let dir = folder(&program);
    let out = common::dlpc(&[
        "run",
        &at(dir.path(), "p.dlp"),
        "--runs",
        &at(dir.path(), "runs"),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("dataset `d` standardizes field `x`, but the training data `raw` does not")
            && stderr.contains("p.dlp:8:14"),
        "{stderr}"
    );
}

#[test]
fn two_standardizations_of_one_value_are_measured_apart() {
    // `raw` and `raw * raw` each get their own statistics.
    let program = PROGRAM.replace(
        "x      = standardize(columns(0..2) as f32[2])",
        "raw    = columns(0..2) as f32[2]\n    x      = standardize(raw) + standardize(raw * raw)\n    _sq    = standardize(raw * 2.0)",
    );
    let dir = folder(&program);
    let run = train(dir.path());
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap();
    let statistics = config["statistics"].as_array().unwrap();
    // `_sq` is read by nothing: its statistics are neither measured nor kept.
    assert_eq!(statistics.len(), 2, "{statistics:?}");
    assert_eq!(statistics[1]["field"], "x.2");
    let means: Vec<f64> = serde_json::from_value(statistics[1]["mean"].clone()).unwrap();
    // a² over 1..=4 has mean 7.5; b² is 25.
    assert!(close(means[0], 7.5) && close(means[1], 25.0), "{means:?}");
}

#[test]
fn per_channel_must_be_known_when_checked() {
    let program = PROGRAM.replace(
        "standardize(columns(0..2) as f32[2])",
        "standardize(columns(0..2) as f32[2], per_channel = 1 < 2)",
    );
    let dir = folder(&program);
    let out = common::dlpc(&["check", &at(dir.path(), "p.dlp")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("per_channel"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
