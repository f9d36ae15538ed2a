//! Metrics of a whole evaluation pass: precision, recall and F1 (macro)
//! agree with the confusion matrix the run record keeps, which agrees with
//! the accuracy; perplexity is e^loss; misuse is a compile error.

mod common;

use common::{dlpc, only_run};
use std::path::Path;

/// examples/digits_mlp.dlp with every pass metric, beside its data.
fn program(edit: impl Fn(String) -> String) -> (tempfile::TempDir, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root.join("digits_mlp.dlp"))
        .unwrap()
        .replace(
            "metrics   = [accuracy(logits, y)]",
            "metrics   = [accuracy(logits, y), precision(logits, y), recall(logits, y), f1(logits, y), confusion_matrix(logits, y), perplexity(logits, y)]",
        );
    assert!(text.contains("perplexity"));
    let file = dir.path().join("m.dlp");
    std::fs::write(&file, edit(text)).unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::copy(
        root.join("data/digits.csv"),
        dir.path().join("data/digits.csv"),
    )
    .unwrap();
    (dir, file.display().to_string())
}

#[test]
fn class_averages_come_from_the_recorded_confusion_matrix() {
    let (dir, file) = program(|t| t);
    let runs = dir.path().join("runs");
    let out = dlpc(&[
        "run",
        &file,
        "--runs",
        runs.to_str().unwrap(),
        "--set",
        "epochs=3",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = only_run(&runs);
    let read = |name: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(run.join(name)).unwrap()).unwrap()
    };
    let m: Vec<Vec<f64>> =
        serde_json::from_value(read("confusion.json")["digits.test"]["confusion_matrix"].clone())
            .unwrap();
    let finals = &read("summary.json")["final"]["digits.test"];
    let figure = |name: &str| finals[name].as_f64().unwrap();
    let c = m.len();
    assert_eq!(c, 10);
    let total: f64 = m.iter().flatten().sum();
    assert_eq!(total, 360.0, "every test sample counted once");
    let hits: f64 = (0..c).map(|i| m[i][i]).sum();
    assert!((figure("accuracy") - hits / total).abs() < 1e-6);
    let (mut p, mut r, mut f) = (0.0, 0.0, 0.0);
    for k in 0..c {
        let labelled: f64 = m[k].iter().sum();
        let predicted: f64 = m.iter().map(|row| row[k]).sum();
        p += if predicted > 0.0 {
            m[k][k] / predicted
        } else {
            0.0
        };
        r += m[k][k] / labelled;
        f += 2.0 * m[k][k] / (labelled + predicted);
    }
    let n = c as f64;
    assert!((figure("precision") - p / n).abs() < 1e-9);
    assert!((figure("recall") - r / n).abs() < 1e-9);
    assert!((figure("f1") - f / n).abs() < 1e-9);
    assert!((figure("perplexity") - figure("loss").exp()).abs() < 1e-4);
    // Training steps report on batches only: no pass metric in their log.
    let log = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let epoch = log
        .lines()
        .find(|l| l.contains("\"kind\":\"epoch\""))
        .unwrap();
    assert!(
        epoch.contains("accuracy") && !epoch.contains("f1"),
        "{epoch}"
    );

    // `dlpc eval` gives the same figures, and prints the matrix.
    let out = dlpc(&[
        "eval",
        &file,
        "--from",
        run.to_str().unwrap(),
        "--runs",
        runs.to_str().unwrap(),
    ]);
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains("precision  recall      f1  perplexity"),
        "{printed}"
    );
    assert!(
        printed.contains(
            "confusion_matrix on digits.test (rows: labelled class, columns: predicted class)"
        ),
        "{printed}"
    );
}

#[test]
fn a_pass_metric_is_an_item_of_metrics_by_itself() {
    let cases = [
        (
            "loss      = cross_entropy(logits, y)",
            "loss      = cross_entropy(logits, y) + f1(logits, y)",
            "so the loss cannot use it",
        ),
        (
            "metrics   = [accuracy(logits, y),",
            "metrics   = [1.0 - recall(logits, y),",
            "must be an item of `metrics` by itself",
        ),
        (
            "output logits = linear(h, 10)",
            "output logits = linear(h, 10) * f1(linear(h, 10), 3)",
            "can only be an item of a train block's `metrics`",
        ),
    ];
    for (from, to, message) in cases {
        let (_dir, file) = program(|t| t.replace(from, to));
        let out = dlpc(&["check", &file]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(message),
            "{to}: {err}"
        );
    }
}
