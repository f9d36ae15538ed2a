//! Golden programs: every `examples/*.dlp` is trained end to end by `dlpc
//! run`, and must meet the expectations in its header:
//!
//! ```text
//! // expect: digits.test accuracy >= 0.95
//! ```
//!
//! (`<data> <metric> >= <value>` or `<=`, checked against the run's final
//! metrics in `summary.json`). An example without expectations fails.
//!
//! `// needs: <path>` names data installed by a system package; without
//! it the example is skipped with a reason, except under CI (which
//! installs it).

mod common;

use std::path::Path;
use std::process::Command;

struct Expectation {
    data: String,
    metric: String,
    at_least: bool,
    value: f64,
}

fn expectations(text: &str) -> Vec<Expectation> {
    text.lines()
        .take_while(|l| l.starts_with("//"))
        .filter_map(|l| l.strip_prefix("// expect:"))
        .map(|e| {
            let words: Vec<&str> = e.split_whitespace().collect();
            assert_eq!(words.len(), 4, "malformed expectation `{e}`");
            Expectation {
                data: words[0].to_string(),
                metric: words[1].to_string(),
                at_least: match words[2] {
                    ">=" => true,
                    "<=" => false,
                    other => panic!("unknown comparison `{other}` in `{e}`"),
                },
                value: words[3].parse().expect("a number"),
            }
        })
        .collect()
}

#[test]
fn every_example_trains_to_its_expectations() {
    let failures = train_to_expectations(&common::dlp_files("examples"), &[]);
    assert!(failures.is_empty(), "{failures:#?}");
}

/// The examples whose data is bundled and small train on the GPU to the
/// same expectations (on lavapipe in CI: a software adapter, too slow for
/// the 60,000-image ones). Skipped with a reason without an adapter,
/// unless `DLP_REQUIRE_GPU` is set.
#[test]
fn the_small_examples_train_to_their_expectations_on_the_gpu() {
    if dlp_runtime::gpu::adapters().is_empty() {
        assert!(
            std::env::var_os("DLP_REQUIRE_GPU").is_none(),
            "DLP_REQUIRE_GPU is set but {}",
            dlp_runtime::gpu::NO_ADAPTER
        );
        return println!("skipped: {}", dlp_runtime::gpu::NO_ADAPTER);
    }
    let small: Vec<_> = [
        "iris",
        "diabetes",
        "digits_mlp",
        "digits_cnn",
        "digits_cnn_augmented",
    ]
    .iter()
    .map(|name| Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("examples/{name}.dlp")))
    .collect();
    let failures = train_to_expectations(&small, &["--device", "gpu"]);
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Trains each of `examples` with `dlpc run` (and `extra` arguments);
/// the expectations it missed.
fn train_to_expectations(examples: &[std::path::PathBuf], extra: &[&str]) -> Vec<String> {
    let mut failures = Vec::new();
    for example in examples {
        let example = example.clone();
        let text = std::fs::read_to_string(&example).unwrap();
        let expected = expectations(&text);
        if let Some(missing) = common::missing_data(&text) {
            assert!(
                std::env::var_os("CI").is_none(),
                "{}: CI must install {missing}",
                example.display()
            );
            println!("skipped {}: {missing} is not installed", example.display());
            continue;
        }
        assert!(
            !expected.is_empty(),
            "{} has no `// expect:` line in its header",
            example.display()
        );
        let runs = tempfile::tempdir().unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_dlpc"))
            .arg("run")
            .arg(&example)
            .arg("--runs")
            .arg(runs.path())
            .args(extra)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{} failed:\n{}",
            example.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let run = std::fs::read_dir(runs.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap())
                .unwrap();
        for e in expected {
            let got = summary["final"][&e.data][&e.metric].as_f64();
            let ok = got.is_some_and(|g| {
                if e.at_least {
                    g >= e.value
                } else {
                    g <= e.value
                }
            });
            let line = format!(
                "{}: {} {} = {:?}, expected {} {}",
                example.file_name().unwrap().to_string_lossy(),
                e.data,
                e.metric,
                got,
                if e.at_least { ">=" } else { "<=" },
                e.value
            );
            println!("{line}");
            if !ok {
                failures.push(line);
            }
        }
    }
    failures
}
