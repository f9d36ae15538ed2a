//! Character-level text (`text(..., tokens = "chars")`): a run numbers the
//! characters of its texts once, records that vocabulary, and everything
//! that later reads data for its parameters (a resumed run, `dlpc eval`,
//! `dlpc sample`, `--init-from`) numbers characters the same way.

mod common;

use common::{dlpc, ok, only_run};
use std::path::{Path, PathBuf};

/// A bigram model of a text of accented letters where each letter has one
/// successor; `unseen` is a dataset the train block does not read, with a
/// character its texts lack.
const PROGRAM: &str = r#"
use std.nn.{embedding, linear}
use std.loss.cross_entropy
use std.optim.adam

dataset letters {
    text = text("letters.txt", stride = 4, tokens = "chars") as class(8)[9]
    x    = text[0:8]
    y    = text[1:9]
}

dataset unseen {
    text = text("unseen.txt", tokens = "chars") as class(8)[9]
    x    = text[0:8]
    y    = text[1:9]
}

model Bigram {
    input x: class(8)[B, T]
    output logits = linear(embedding(x, 16), 8)
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

/// The text's five characters in code-point order: `\n`, `a`, `é`, `ö`, `€`.
const LETTERS: &str = "aéö€\n";

fn program(dir: &Path, text: &str) -> String {
    std::fs::write(dir.join("letters.txt"), LETTERS.repeat(80)).unwrap();
    std::fs::write(dir.join("unseen.txt"), "aé\naéö€\naxé").unwrap();
    let file = dir.join("letters.dlp");
    std::fs::write(&file, text).unwrap();
    file.display().to_string()
}

fn trained(extra: &[&str]) -> (tempfile::TempDir, String, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = program(dir.path(), PROGRAM);
    let runs = dir.path().join("runs");
    let mut args = vec!["run", &file, "--runs", runs.to_str().unwrap()];
    args.extend(extra);
    ok(&args);
    (dir, file, only_run(&runs))
}

fn config(run: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap()
}

fn failure(args: &[&str]) -> String {
    let out = dlpc(args);
    assert!(!out.status.success(), "{args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn the_run_records_its_vocabulary_and_sampling_writes_characters() {
    let (_dir, file, run) = trained(&[]);
    assert_eq!(config(&run)["vocabulary"], "\naéö€");
    let meta =
        dlp_runtime::checkpoint::read_meta(&run.join("checkpoints/last.safetensors")).unwrap();
    assert_eq!(meta["vocabulary"], "\naéö€");
    let run_arg = run.to_str().unwrap();
    // Greedy: the text itself, character by character.
    let greedy = ok(&[
        "sample",
        &file,
        "--from",
        run_arg,
        "--prompt",
        "é",
        "--tokens",
        "7",
        "--temperature",
        "0",
    ]);
    assert_eq!(greedy, "éö€\naéö€\n");
    // Drawn text holds only the vocabulary's characters.
    let drawn = ok(&[
        "sample", &file, "--from", run_arg, "--prompt", "a", "--tokens", "40", "--seed", "5",
    ]);
    assert_eq!(drawn.chars().count(), 1 + 40 + 1, "{drawn:?}");
    assert!(drawn.chars().all(|c| LETTERS.contains(c)), "{drawn:?}");
    let err = failure(&["sample", &file, "--from", run_arg, "--prompt", "ax"]);
    assert!(
        err.contains("`--prompt`: `x` (U+0078) is not in the run's vocabulary (5 characters)"),
        "{err}"
    );
    // Data the model did not train on is numbered with the same vocabulary:
    // a character outside it is an error naming the file, line and character.
    let err = failure(&["eval", &file, "--from", run_arg, "--data", "unseen"]);
    assert!(
        err.contains("unseen.txt, line 3, character 2, field `text`: `x` (U+0078) is not in the vocabulary the parameters were trained with (5 characters)"),
        "{err}"
    );
    let eval = ok(&["eval", &file, "--from", run_arg, "--data", "letters"]);
    assert!(eval.contains("letters"), "{eval}");
}

#[test]
fn a_resumed_run_and_a_fine_tuned_one_keep_the_vocabulary() {
    let (dir, file, run) = trained(&["--stop-after", "1"]);
    // The text gains a character: a resumed run still numbers with the
    // recorded vocabulary, which lacks it.
    std::fs::write(dir.path().join("letters.txt"), LETTERS.repeat(80) + "z").unwrap();
    let runs = dir.path().join("runs");
    let err = failure(&[
        "run",
        &file,
        "--runs",
        runs.to_str().unwrap(),
        "--resume",
        run.to_str().unwrap(),
    ]);
    assert!(err.contains("letters.txt, line 81, character 1"), "{err}");
    std::fs::write(dir.path().join("letters.txt"), LETTERS.repeat(80)).unwrap();
    ok(&[
        "run",
        &file,
        "--runs",
        runs.to_str().unwrap(),
        "--resume",
        run.to_str().unwrap(),
    ]);
    let meta =
        dlp_runtime::checkpoint::read_meta(&run.join("checkpoints/last.safetensors")).unwrap();
    assert_eq!(meta["vocabulary"], "\naéö€");
    // Fine-tuning starts from the checkpoint's vocabulary too.
    let tuned = dir.path().join("tuned");
    ok(&[
        "run",
        &file,
        "--runs",
        tuned.to_str().unwrap(),
        "--init-from",
        run.to_str().unwrap(),
    ]);
    assert_eq!(config(&only_run(&tuned))["vocabulary"], "\naéö€");
}

#[test]
fn the_class_count_must_hold_the_vocabulary_and_the_text_must_be_utf8() {
    let dir = tempfile::tempdir().unwrap();
    let small = PROGRAM
        .replace("class(8)", "class(4)")
        .replace("16), 8)", "16), 4)");
    let file = program(dir.path(), &small);
    let runs = dir.path().join("runs");
    let err = failure(&["run", &file, "--runs", runs.to_str().unwrap()]);
    assert!(
        err.contains("field `text`: the run's texts hold 5 distinct characters, more than the 4 classes of `class(4)`: make it `class(5)` or more"),
        "{err}"
    );
    let file = program(dir.path(), PROGRAM);
    std::fs::write(dir.path().join("letters.txt"), b"ab\ncd\n\xe9t\xe9\n").unwrap();
    let err = failure(&["run", &file, "--runs", runs.to_str().unwrap()]);
    assert!(
        err.contains("letters.txt, line 3, byte 6, field `text`: the byte(s) e9 is not UTF-8"),
        "{err}"
    );
}

#[test]
fn fine_tuning_across_bytes_and_characters() {
    // A model trained on characters, fine-tuned by a program that reads
    // bytes: the new run reads no characters and records no vocabulary.
    let (dir, file, chars_run) = trained(&["--stop-after", "1"]);
    let bytes_program = PROGRAM.replace(", tokens = \"chars\"", "");
    std::fs::write(&file, &bytes_program).unwrap();
    std::fs::write(
        dir.path().join("letters.txt"),
        b"\x01\x02\x03\x04\x05\x06\x07\x00".repeat(50),
    )
    .unwrap();
    let tuned = dir.path().join("tuned");
    ok(&[
        "run",
        &file,
        "--runs",
        tuned.to_str().unwrap(),
        "--init-from",
        chars_run.to_str().unwrap(),
        "--stop-after",
        "1",
    ]);
    let bytes_run = only_run(&tuned);
    assert_eq!(config(&bytes_run)["vocabulary"], serde_json::Value::Null);

    // A model trained on bytes, fine-tuned by a program that reads
    // characters: refused, since its tokens would change meaning.
    std::fs::write(&file, PROGRAM).unwrap();
    std::fs::write(dir.path().join("letters.txt"), LETTERS.repeat(80)).unwrap();
    let err = failure(&[
        "run",
        &file,
        "--runs",
        dir.path().join("again").to_str().unwrap(),
        "--init-from",
        bytes_run.to_str().unwrap(),
    ]);
    assert!(
        err.contains("these parameters were trained without a character vocabulary"),
        "{err}"
    );
}
