//! Nothing is lost to a kill: `dlpc run` is made to stop at chosen points
//! of its writes (the `DLP_CRASH_AT` test hook of `dlp_runtime::atomic`:
//! after half a temporary file, after a temporary file is synced, after a
//! rename, after half the log lines, after the log is synced), then resumed,
//! again and again, and the record it ends with must be the one an
//! uninterrupted run writes: the same `metrics.jsonl` bytes, the same
//! checkpoints (every `epoch-N`, `best`, `last`, tensor for tensor), the same
//! summary, and no temporary file left.

use dlp_runtime::atomic::{CRASH_EXIT, CRASH_VAR};
use dlp_runtime::checkpoint::{self, Checkpoint};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn dlpc(args: &[&str], crash_at: Option<u64>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dlpc"));
    cmd.args(args).env_remove(CRASH_VAR);
    if let Some(n) = crash_at {
        cmd.env(CRASH_VAR, n.to_string());
    }
    cmd.output().unwrap()
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The iris example in a temporary folder, with `settings` in place of its
/// `epochs` and a learning rate high enough that some validations do not
/// improve (so that `best` lags behind `last`).
fn program(settings: &str) -> tempfile::TempDir {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let dir = tempfile::tempdir().unwrap();
    let text = read(&root.join("iris.dlp"))
        .replace("    epochs    = 100\n", settings)
        .replace("adam(lr = 1e-2)", "adam(lr = 1.0)");
    std::fs::write(dir.path().join("iris.dlp"), text).unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::copy(root.join("data/iris.csv"), dir.path().join("data/iris.csv")).unwrap();
    dir
}

/// The settings, and their `checkpoint_every`. Here: validations every
/// epoch, lowering the loss at epochs 1, 3, 4 and 8; `epoch-3`, `epoch-6`.
const EVERY_EPOCH: (&str, u64) = (
    "    epochs = 8\n    keep_best = true\n    checkpoint_every = 3\n",
    3,
);
/// Validations at epochs 2, 4, 6 and 7 only (the last epoch always
/// validates), lowering the loss at 2 and 4: epochs 3 and 5 have no
/// validation although none failed to improve since the best.
const EVERY_OTHER: (&str, u64) = (
    "    epochs = 7\n    keep_best = true\n    checkpoint_every = 2\n    validate_every = 2\n",
    2,
);

/// The only record under `runs`, if any.
fn record(runs: &Path) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(runs)
        .ok()?
        .map(|e| e.unwrap().path())
        .collect();
    assert!(dirs.len() <= 1, "{dirs:?}");
    dirs.pop()
}

fn finished(run: &Path) -> bool {
    std::fs::read_to_string(run.join("summary.json")).is_ok_and(|s| s.contains("\"completed\""))
}

fn last_of(run: &Path) -> PathBuf {
    run.join("checkpoints/last.safetensors")
}

/// What the uninterrupted run wrote when: the epochs whose validation
/// lowered the loss, and `checkpoint_every`.
struct Expected {
    improved: Vec<u64>,
    every: u64,
}

impl Expected {
    fn of(reference: &Path, every: u64) -> Expected {
        let mut improved = Vec::new();
        let mut best = f64::INFINITY;
        for line in read(&reference.join("metrics.jsonl")).lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            if v["kind"] == "validate" && v["loss"].as_f64().unwrap() < best {
                best = v["loss"].as_f64().unwrap();
                improved.push(v["epoch"].as_u64().unwrap());
            }
        }
        Expected { improved, every }
    }
}

fn epoch_of(path: &Path) -> Option<u64> {
    checkpoint::load(path).ok()?.meta.get("epoch")?.parse().ok()
}

/// What a kill may leave once `last` is at epoch N: every `epoch-k` due by
/// N, and `best` from the last improvement by N, or from epoch N + 1 (the
/// set of the next epoch was being renamed, `last` last).
fn check_killed_state(run: &Path, expected: &Expected, kill: &str) {
    let Some(n) = epoch_of(&last_of(run)) else {
        return;
    };
    for k in (expected.every..=n).step_by(expected.every as usize) {
        let path = run.join(format!("checkpoints/epoch-{k}.safetensors"));
        assert_eq!(epoch_of(&path), Some(k), "{kill}: last at {n}, epoch-{k}");
    }
    let best = epoch_of(&run.join("checkpoints/best.safetensors"));
    let by_n = expected.improved.iter().copied().filter(|&e| e <= n).max();
    let ahead = Some(n + 1).filter(|e| expected.improved.contains(e));
    assert!(
        best == by_n || (best.is_some() && best == ahead),
        "{kill}: last at {n}, best at {best:?}, expected {by_n:?}"
    );
}

/// Runs the program in `dir` until a process completes: the first one
/// crashing at `first`, each resumed one at a point drawn from `rng`; checks
/// the record after every kill. Returns how many processes were killed.
fn crash_until_done(
    dir: &Path,
    first: u64,
    rng: &mut Rng,
    max_point: u64,
    expected: &Expected,
) -> u32 {
    let program = dir.join("iris.dlp");
    let runs = dir.join("runs");
    let (program, runs_arg) = (program.to_str().unwrap(), runs.to_str().unwrap());
    let mut crash_at = Some(first);
    for kills in 0.. {
        let out = match record(&runs).filter(|r| last_of(r).is_file()) {
            Some(run) => dlpc(
                &["run", program, "--resume", run.to_str().unwrap()],
                crash_at,
            ),
            None => {
                // Killed before its first checkpoint: nothing to resume,
                // the run is started again (as `dlpc` tells a user to).
                let _ = std::fs::remove_dir_all(&runs);
                dlpc(&["run", program, "--runs", runs_arg], crash_at)
            }
        };
        if out.status.success() {
            return kills;
        }
        assert_eq!(
            out.status.code(),
            Some(CRASH_EXIT),
            "a resume failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if let Some(run) = record(&runs) {
            let kill = format!("first kill at {first}, kill {}", kills + 1);
            check_killed_state(&run, expected, &kill);
            if finished(&run) {
                // Killed after its summary was in place: nothing is left to do.
                return kills + 1;
            }
        }
        // Never endless: after many kills, a process that is left alone.
        crash_at = (kills < 50).then(|| rng.below(max_point) + 1);
    }
    unreachable!()
}

/// The checkpoints of a record by file name, and every other file name in
/// its two folders (temporary files included).
fn contents(run: &Path) -> (Vec<(String, Checkpoint)>, Vec<String>) {
    let names = |dir: &Path| -> Vec<String> {
        let mut n: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        n.sort();
        n
    };
    let checkpoints = names(&run.join("checkpoints"))
        .into_iter()
        .map(|n| {
            let ck = checkpoint::load(&run.join("checkpoints").join(&n))
                .unwrap_or_else(|e| panic!("{e}"));
            (n, ck)
        })
        .collect();
    (checkpoints, names(run))
}

/// What must be identical to the uninterrupted run: the summary without
/// its id and times.
fn summary(run: &Path) -> Value {
    let mut s: Value = serde_json::from_str(&read(&run.join("summary.json"))).unwrap();
    for volatile in [
        "run",
        "seconds",
        "samples_per_second",
        "steady_samples_per_second",
        "step_ms",
        "startup_seconds",
    ] {
        s.as_object_mut().unwrap().remove(volatile);
    }
    s
}

fn assert_same_record(run: &Path, reference: &Path, what: &str) {
    assert_eq!(
        read(&run.join("metrics.jsonl")),
        read(&reference.join("metrics.jsonl")),
        "{what}: metrics.jsonl"
    );
    assert_eq!(summary(run), summary(reference), "{what}: summary.json");
    let (checkpoints, files) = contents(run);
    let (expected, expected_files) = contents(reference);
    assert_eq!(files, expected_files, "{what}: files of the record");
    let names = |c: &[(String, Checkpoint)]| c.iter().map(|x| x.0.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&checkpoints),
        names(&expected),
        "{what}: checkpoint files"
    );
    for ((name, ck), (_, want)) in checkpoints.iter().zip(&expected) {
        assert!(
            ck == want,
            "{what}: {name} differs from the uninterrupted run's"
        );
    }
}

/// SplitMix64: a fixed seed makes every run of the test kill at the same points.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n
    }
}

/// How many crash points a whole run of `settings` passes: the first
/// `DLP_CRASH_AT` at which the run is not killed, less one.
fn crash_points(settings: &str) -> u64 {
    let dir = program(settings);
    let program = dir.path().join("iris.dlp");
    let runs = dir.path().join("runs");
    let args = [
        "run",
        program.to_str().unwrap(),
        "--runs",
        runs.to_str().unwrap(),
    ];
    for n in 1.. {
        let _ = std::fs::remove_dir_all(&runs);
        if dlpc(&args, Some(n)).status.success() {
            return n - 1;
        }
    }
    unreachable!()
}

#[test]
fn every_kill_during_the_writes_resumes_to_the_uninterrupted_record() {
    let mut rng = Rng(0x5eed);
    let (mut kills, mut records, mut all_points) = (0, 0, Vec::new());
    for (settings, every) in [EVERY_EPOCH, EVERY_OTHER] {
        let reference_dir = program(settings);
        let reference = run_to_end(reference_dir.path(), &[]);
        let expected = Expected::of(&reference, every);
        let points = crash_points(settings);
        assert!(points > 50, "only {points} crash points");
        all_points.push(points);
        // Every point once as the first kill, then resumes killed at random.
        for first in 1..=points {
            let dir = program(settings);
            kills += crash_until_done(dir.path(), first, &mut rng, points, &expected);
            records += 1;
            let run = record(&dir.path().join("runs")).unwrap();
            assert_same_record(&run, &reference, &format!("first kill at {first}"));
        }
    }
    eprintln!(
        "crash points per run {all_points:?}: {kills} kills over {records} records, \
         every record identical to its uninterrupted run"
    );
    assert!(kills >= 200, "only {kills} kills");
}

/// Runs the program in `dir` (a new record, or `--resume`) and returns its record.
fn run_to_end(dir: &Path, extra: &[&str]) -> PathBuf {
    let program = dir.join("iris.dlp");
    let runs = dir.join("runs");
    let mut args = vec!["run", program.to_str().unwrap()];
    let resumed = record(&runs);
    match &resumed {
        Some(run) => args.extend(["--resume", run.to_str().unwrap()]),
        None => args.extend(["--runs", runs.to_str().unwrap()]),
    }
    args.extend(extra);
    let out = dlpc(&args, None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    record(&runs).unwrap()
}

fn checkpoint_at(run: &Path, name: &str) -> PathBuf {
    run.join("checkpoints").join(format!("{name}.safetensors"))
}

/// A record left by a dlpc that renamed `last` before the other checkpoints
/// of its epoch, or by a file system that lost a rename: `--resume` rewrites
/// what the epoch of `last` should have written with it, from `last`.
#[test]
fn resume_rewrites_the_checkpoints_missing_from_the_epoch_of_last() {
    let (settings, _) = EVERY_EPOCH;
    let reference_dir = program(settings);
    let reference = run_to_end(reference_dir.path(), &[]);
    // A `best` of epoch 1, to stand for one a kill left stale.
    let early_dir = program(settings);
    let early = run_to_end(early_dir.path(), &["--stop-after", "1"]);

    let dir = program(settings);
    let run = run_to_end(dir.path(), &["--stop-after", "3"]);
    // Epoch 3 lowered the validation loss and is a multiple of `checkpoint_every`.
    let (epoch_3, best, last) = (
        checkpoint_at(&run, "epoch-3"),
        checkpoint_at(&run, "best"),
        checkpoint_at(&run, "last"),
    );
    std::fs::remove_file(&epoch_3).unwrap();
    std::fs::copy(checkpoint_at(&early, "best"), &best).unwrap();
    assert_eq!(epoch_of(&best), Some(1));
    run_to_end(dir.path(), &["--stop-after", "3"]);
    let last_ck = checkpoint::load(&last).unwrap();
    for rewritten in [&epoch_3, &best] {
        assert!(
            checkpoint::load(rewritten).unwrap() == last_ck,
            "{}",
            rewritten.display()
        );
    }
    // Missing altogether.
    std::fs::remove_file(&best).unwrap();
    run_to_end(dir.path(), &["--stop-after", "3"]);
    assert!(checkpoint::load(&best).unwrap() == last_ck);
    run_to_end(dir.path(), &[]);
    assert_same_record(&run, &reference, "after the rewrites");
}

/// `best` is rebuilt only when the epoch of `last` improved: otherwise it
/// is from an earlier epoch, and a resume leaves it as it is.
#[test]
fn resume_keeps_a_best_of_an_earlier_epoch() {
    let (settings, _) = EVERY_EPOCH;
    let dir = program(settings);
    // Epoch 2 did not lower the validation loss: `best` is epoch 1's.
    let run = run_to_end(dir.path(), &["--stop-after", "2"]);
    let best = checkpoint_at(&run, "best");
    let before = std::fs::read(&best).unwrap();
    assert_eq!(epoch_of(&best), Some(1));
    run_to_end(dir.path(), &["--stop-after", "2"]);
    assert_eq!(std::fs::read(&best).unwrap(), before);
}

/// The temporary files of dead processes are removed when the record is
/// resumed; a live process's is kept.
#[cfg(unix)]
#[test]
fn resume_removes_the_temporary_files_of_dead_processes_only() {
    let (settings, _) = EVERY_EPOCH;
    let dir = program(settings);
    let run = run_to_end(dir.path(), &["--stop-after", "2"]);
    // No process has this pid (Linux's largest is 2^22).
    let dead = [
        run.join(".metrics.jsonl.tmp-4000000000"),
        run.join(".summary.json.tmp-4000000000"),
        run.join("checkpoints/.last.safetensors.tmp-4000000000"),
    ];
    let mut live_writer = Command::new("sleep").arg("30").spawn().unwrap();
    let live = run.join(format!(
        "checkpoints/.best.safetensors.tmp-{}",
        live_writer.id()
    ));
    for p in dead.iter().chain([&live]) {
        std::fs::write(p, b"partial").unwrap();
    }
    let out = dlpc(
        &[
            "run",
            dir.path().join("iris.dlp").to_str().unwrap(),
            "--resume",
            run.to_str().unwrap(),
        ],
        None,
    );
    let live_kept = live.exists();
    let _ = live_writer.kill();
    let _ = live_writer.wait();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for p in &dead {
        assert!(!p.exists(), "{} is left", p.display());
    }
    assert!(live_kept, "a live process's temporary file was removed");
}
