//! `dlpc runs diff` and `dlpc runs plot` end to end, on iris runs (about a
//! second each) trained into a temporary runs folder.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn dlpc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dlpc"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn iris() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/iris.dlp")
        .display()
        .to_string()
}

/// Trains iris with `seed` into `runs` and returns the new run's id.
fn train(runs: &Path, seed: &str) -> String {
    let before = ids(runs);
    let out = dlpc(&[
        "run",
        &iris(),
        "--runs",
        runs.to_str().unwrap(),
        "--seed",
        seed,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut new: Vec<String> = ids(runs)
        .into_iter()
        .filter(|id| !before.contains(id))
        .collect();
    assert_eq!(new.len(), 1, "{new:?}");
    new.pop().unwrap()
}

fn ids(runs: &Path) -> Vec<String> {
    std::fs::read_dir(runs)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// `dlpc runs <args> --runs <runs>`.
fn runs_command(runs: &Path, args: &[&str]) -> Output {
    let mut all = vec!["runs"];
    all.extend(args);
    all.extend(["--runs", runs.to_str().unwrap()]);
    dlpc(&all)
}

fn copy_folder(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_folder(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

#[test]
fn diff_shows_the_seed_change_and_the_final_metric_deltas() {
    let runs = tempfile::tempdir().unwrap();
    let (a, b) = (train(runs.path(), "1"), train(runs.path(), "2"));
    let out = runs_command(runs.path(), &["diff", &a, &b]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(&format!("A  {a}  completed, 100 epochs")),
        "{text}"
    );
    assert!(
        text.contains(&format!("B  {b}  completed, 100 epochs")),
        "{text}"
    );
    assert!(text.contains("program: the same (iris.dlp)"), "{text}");
    let seed_line = text
        .lines()
        .find(|l| l.trim_start().starts_with("seed "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(seed_line.ends_with("1 → 2"), "{text}");
    // The start time always differs and is left out.
    assert!(!text.contains("started"), "{text}");
    assert!(text.contains("B − A") && text.contains("change"), "{text}");
    let loss_row = text
        .lines()
        .find(|l| l.contains("iris.test") && l.contains("loss"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(loss_row.ends_with('%'), "{loss_row}");
    assert!(!text.contains("do not differ"), "{text}");
}

#[test]
fn diff_of_a_run_with_itself_says_that_nothing_differs() {
    let runs = tempfile::tempdir().unwrap();
    let a = train(runs.path(), "1");
    let out = runs_command(runs.path(), &["diff", &a, &a]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("settings: the same"), "{text}");
    assert!(text.contains("final metrics: the same"), "{text}");
    assert!(text.contains("the runs do not differ"), "{text}");
}

#[test]
fn diff_shows_the_changed_program_line_and_files_only_in_one_run() {
    let runs = tempfile::tempdir().unwrap();
    let a = train(runs.path(), "1");
    let edited = runs.path().join("edited");
    copy_folder(&runs.path().join(&a), &edited);
    let program = edited.join("program/iris.dlp");
    let text = std::fs::read_to_string(&program).unwrap();
    let changed = text.replace("batch     = 16", "batch     = 32");
    assert_ne!(text, changed);
    std::fs::write(&program, changed).unwrap();
    std::fs::create_dir(edited.join("program/layers")).unwrap();
    std::fs::write(edited.join("program/layers/extra.dlp"), "// extra\n").unwrap();

    // A run is named by its id under --runs or by its folder.
    let out = runs_command(runs.path(), &["diff", &a, edited.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("--- A/iris.dlp") && text.contains("+++ B/iris.dlp"),
        "{text}"
    );
    assert!(text.contains("\n-    batch     = 16\n"), "{text}");
    assert!(text.contains("\n+    batch     = 32\n"), "{text}");
    assert!(text.contains("only in B: layers/extra.dlp"), "{text}");
}

#[test]
fn diff_of_a_missing_run_is_an_error() {
    let runs = tempfile::tempdir().unwrap();
    let a = train(runs.path(), "1");
    let out = runs_command(runs.path(), &["diff", &a, "nope"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no run `nope`"), "{}", stderr(&out));
}

#[test]
fn plot_writes_an_svg_with_a_line_and_a_legend_entry_per_curve() {
    let runs = tempfile::tempdir().unwrap();
    let (a, b) = (train(runs.path(), "1"), train(runs.path(), "2"));
    let svg_path = runs.path().join("curves.svg");
    let out = runs_command(
        runs.path(),
        &["plot", &a, &b, "-o", svg_path.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert!(svg.contains("<svg"), "{svg}");
    for label in [
        format!("{a} train"),
        format!("{a} validation (iris.test)"),
        format!("{b} train"),
        format!("{b} validation (iris.test)"),
        "epoch".to_string(),
        "loss".to_string(),
        "loss by epoch: training (solid) and validation (dashed)".to_string(),
    ] {
        // plotters writes each text on a line of its own.
        assert!(
            svg.lines().any(|l| l == label),
            "no text {label:?} in\n{svg}"
        );
    }
    // The training curves are one polyline each, drawn in the run's colour
    // through every epoch; the validation curves are dashed (many short
    // polylines) in the same colour.
    for colour in ["#0072B2", "#D55E00"] {
        let polylines: Vec<&str> = svg
            .lines()
            .filter(|l| l.contains("<polyline") && l.contains(colour))
            .collect();
        let longest = polylines
            .iter()
            .map(|l| l.matches(',').count())
            .max()
            .unwrap_or(0);
        assert_eq!(longest, 100, "{colour}: {polylines:?}");
        assert!(polylines.len() > 10, "{colour}: {polylines:?}");
    }
}

/// The font `dlpc runs plot -o x.png` finds first on Debian and Ubuntu.
const DEJAVU: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

#[test]
fn plot_writes_a_png_when_it_finds_a_font() {
    let runs = tempfile::tempdir().unwrap();
    let a = train(runs.path(), "1");
    let png_path = runs.path().join("curves.png");
    let out = runs_command(
        runs.path(),
        &[
            "plot",
            &a,
            "--metric",
            "accuracy",
            "-o",
            png_path.to_str().unwrap(),
        ],
    );
    if out.status.success() {
        let bytes = std::fs::read(&png_path).unwrap();
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
        assert!(bytes.len() > 10_000, "{} bytes", bytes.len());
    } else {
        assert!(!Path::new(DEJAVU).exists(), "{}", stderr(&out));
        let error = stderr(&out);
        assert!(
            error.contains("-o curves.svg") && error.contains("fonts-dejavu-core"),
            "{error}"
        );
    }
}

#[test]
fn a_png_with_a_file_that_is_not_a_font_is_a_clear_error() {
    let runs = tempfile::tempdir().unwrap();
    let a = train(runs.path(), "1");
    let not_a_font = runs.path().join("font.ttf");
    std::fs::write(&not_a_font, "not a font").unwrap();
    let png_path = runs.path().join("curves.png");
    let out = Command::new(env!("CARGO_BIN_EXE_dlpc"))
        .args(["runs", "plot", &a, "-o", png_path.to_str().unwrap()])
        .args(["--runs", runs.path().to_str().unwrap()])
        .env("DLPC_FONT", &not_a_font)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let error = stderr(&out);
    assert!(
        error.contains("is not a TrueType or OpenType font") && error.contains(".svg"),
        "{error}"
    );
    assert!(!png_path.exists());
}

#[test]
fn plot_refuses_other_file_kinds_before_reading_runs() {
    let out = runs_command(
        Path::new("/nonexistent"),
        &["plot", "whatever", "-o", "curves.pdf"],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("name a `.svg` or `.png` file"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn plot_without_a_file_prints_sparklines() {
    let runs = tempfile::tempdir().unwrap();
    let (a, b) = (train(runs.path(), "1"), train(runs.path(), "2"));
    let out = runs_command(runs.path(), &["plot", &a, &b, "--metric", "accuracy"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("accuracy by epoch"), "{text}");
    for id in [&a, &b] {
        assert!(text.contains(&format!("\n{id}\n")), "{text}");
    }
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.trim_start().starts_with("train")
                || l.trim_start().starts_with("validation (iris.test)")
        })
        .collect();
    assert_eq!(lines.len(), 4, "{text}");
    for line in lines {
        let blocks = line.chars().filter(|c| ('▁'..='█').contains(c)).count();
        assert_eq!(blocks, 50, "{line}");
        assert!(
            line.contains("epochs 1-100") && line.contains("first ") && line.contains("min "),
            "{line}"
        );
    }
}

#[test]
fn plot_of_a_metric_a_run_lacks_lists_the_metrics_it_has() {
    let runs = tempfile::tempdir().unwrap();
    let a = train(runs.path(), "1");
    let out = runs_command(runs.path(), &["plot", &a, "--metric", "f1"]);
    assert!(!out.status.success());
    let error = stderr(&out);
    assert!(
        error.contains(&format!(
            "run `{a}` has no metric `f1`; it has: accuracy, loss"
        )),
        "{error}"
    );
}

#[test]
fn plot_names_the_damaged_line_of_a_log() {
    let runs = tempfile::tempdir().unwrap();
    let a = train(runs.path(), "1");
    let log: PathBuf = runs.path().join(&a).join("metrics.jsonl");
    let text = std::fs::read_to_string(&log).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[2] = "{\"kind\": \"epoch\", garbage";
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    let out = runs_command(runs.path(), &["plot", &a]);
    assert!(!out.status.success());
    let error = stderr(&out);
    assert!(
        error.contains(&format!("{}:3: not JSON", log.display())),
        "{error}"
    );
}

#[test]
fn plot_skips_the_torn_last_line_a_killed_run_leaves() {
    let runs = tempfile::tempdir().unwrap();
    let a = train(runs.path(), "1");
    let log = runs.path().join(&a).join("metrics.jsonl");
    let mut text = std::fs::read_to_string(&log).unwrap();
    text.push_str("{\"accuracy\":0.9,\"epo");
    std::fs::write(&log, text).unwrap();
    let out = runs_command(runs.path(), &["plot", &a]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("skipping a torn last line"),
        "{}",
        stderr(&out)
    );
}
