//! `dlpc sample`: a language model trained on a `text` source continues a
//! prompt, reproducibly for a seed; a model that is not a language model
//! is refused with what it would need.

mod common;

use common::{dlpc, ok, only_run};
use std::path::{Path, PathBuf};

/// A bigram model of a text where each letter has one successor: once
/// trained, the most likely continuation is the text itself.
const PROGRAM: &str = r#"
use std.nn.{embedding, linear}
use std.loss.cross_entropy
use std.optim.adam

dataset letters {
    text = text("letters.txt", stride = 4) as class(256)[9]
    x    = text[0:8]
    y    = text[1:9]
}

model Bigram {
    input x: class(256)[B, T]
    output logits = linear(embedding(x, 16), 256)
}

train bigram {
    model     = Bigram()
    data      = letters
    batch     = 16
    epochs    = 30
    loss      = cross_entropy(logits, y)
    optimizer = adam(lr = 3e-2)
    seed      = 1
}
"#;

fn trained() -> (tempfile::TempDir, String, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("letters.txt"), "abcdefgh\n".repeat(60)).unwrap();
    let file = dir.path().join("bigram.dlp");
    std::fs::write(&file, PROGRAM).unwrap();
    let runs = dir.path().join("runs");
    let file = file.display().to_string();
    ok(&["run", &file, "--runs", runs.to_str().unwrap()]);
    (dir, file, only_run(&runs))
}

fn sample(file: &str, run: &Path, extra: &[&str]) -> String {
    let mut args = vec!["sample", file, "--from", run.to_str().unwrap()];
    args.extend(extra);
    ok(&args)
}

#[test]
fn a_trained_model_continues_the_prompt() {
    let (_dir, file, run) = trained();
    // Greedy: the text itself, past the window of 8 (the window slides).
    let greedy = sample(
        &file,
        &run,
        &["--prompt", "cd", "--tokens", "20", "--temperature", "0"],
    );
    assert_eq!(greedy, "cdefgh\nabcdefgh\nabcdef\n");
    // A seed gives the same draws every time; the prompt comes first.
    let drawn = |seed: &str| {
        sample(
            &file,
            &run,
            &["--prompt", "ab", "--tokens", "30", "--seed", seed],
        )
    };
    let once = drawn("3");
    assert!(
        once.starts_with("ab") && once.len() == 2 + 30 + 1,
        "{once:?}"
    );
    assert_eq!(once, drawn("3"));
}

#[test]
fn sampling_needs_a_language_model() {
    let (_dir, file, run) = trained();
    let out = dlpc(&[
        "sample",
        &file,
        "--from",
        run.to_str().unwrap(),
        "--top-k",
        "0",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("`--top-k 0` leaves no token"));
    let out = dlpc(&[
        "sample",
        &file,
        "--from",
        run.to_str().unwrap(),
        "--output-name",
        "scores",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the model has no output `scores`; its outputs are `logits`"),
        "{err}"
    );

    // An image classifier has no window of tokens.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let dir = tempfile::tempdir().unwrap();
    let mlp = dir.path().join("digits_mlp.dlp");
    std::fs::copy(root.join("digits_mlp.dlp"), &mlp).unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::copy(
        root.join("data/digits.csv"),
        dir.path().join("data/digits.csv"),
    )
    .unwrap();
    let runs = dir.path().join("runs");
    let mlp = mlp.display().to_string();
    ok(&[
        "run",
        &mlp,
        "--runs",
        runs.to_str().unwrap(),
        "--set",
        "epochs=1",
    ]);
    let run = only_run(&runs);
    let out = dlpc(&["sample", &mlp, "--from", run.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("sampling needs a model with one input, a window of tokens"),
        "{err}"
    );
}
