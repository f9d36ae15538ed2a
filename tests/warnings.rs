//! Warnings end to end: `dlpc check` prints them and succeeds, `--deny
//! warnings` makes them fail `check` and `run`, and a training loss that
//! blows up is named at the step it happens. (What each warning catches is
//! in the error suite, `tests/errors/warnings.dlp`.)

mod common;

use std::path::Path;

const PROGRAM: &str = r#"
use std.nn.{linear, softmax}
use std.loss.cross_entropy
use std.optim.sgd

dataset d {
    source = csv("d.csv", header = true)
    x      = columns(0..2) as f32[2]
    y      = column("label") as class(2)
}

model M {
    input x: f32[B, 2]
    output probs = softmax(linear(x, 2))
}

train t {
    model     = M()
    data      = d
    batch     = 2
    epochs    = 1
    loss      = cross_entropy(probs, y)
    optimizer = sgd()
}
"#;

fn folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.dlp"), PROGRAM).unwrap();
    std::fs::write(dir.path().join("d.csv"), "a,b,label\n1,2,0\n3,4,1\n").unwrap();
    dir
}

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).to_str().unwrap().to_string()
}

#[test]
fn warnings_pass_unless_denied() {
    let dir = folder();
    let p = path(dir.path(), "p.dlp");
    let out = common::dlpc(&["check", &p]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("[W0004] Warning") && stderr.contains("warning: 1 warning in"),
        "{stderr}"
    );

    let out = common::dlpc(&["check", &p, "--deny", "warnings"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("denied by `--deny warnings`"));

    let runs = path(dir.path(), "runs");
    let out = common::dlpc(&["run", &p, "--runs", &runs, "--deny", "warnings"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing was run"));
    assert!(!dir.path().join("runs").exists(), "no run record");

    let out = common::dlpc(&["run", &p, "--runs", &runs]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_loss_that_blows_up_is_named_at_its_step() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/diabetes.dlp");
    let runs = tempfile::tempdir().unwrap();
    let out = common::dlpc(&[
        "run",
        example.to_str().unwrap(),
        "--runs",
        runs.path().to_str().unwrap(),
        "--set",
        "optimizer.lr=3",
        "--set",
        "epochs=1",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning: the training loss grew from")
            && stderr.contains("at epoch 1, step ")
            && stderr.contains("a smaller learning rate"),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("the training loss grew").count(),
        1,
        "told once"
    );
}
