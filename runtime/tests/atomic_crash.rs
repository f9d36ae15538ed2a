//! A process killed while it writes a checkpoint leaves the previous
//! checkpoint intact: the test re-runs this test binary as a writer that
//! saves checkpoints in a loop, kills it with SIGKILL mid-way, and loads
//! what is left. The temporary file the killed writer may leave is removed
//! by the stale-file cleaning that `--resume` does.

use dlp_runtime::atomic;
use dlp_runtime::checkpoint::{self, Checkpoint};
use dlp_runtime::Tensor;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const DIR_VAR: &str = "DLP_CRASH_TEST_DIR";
/// Big enough that a write takes a while, so kills land inside writes.
const VALUES: usize = 4_000_000;

fn version(v: u32) -> Checkpoint {
    let mut ck = Checkpoint::default();
    ck.params.insert(
        "w".into(),
        Tensor::f32(vec![VALUES], vec![v as f32; VALUES]),
    );
    ck.meta.insert("version".into(), v.to_string());
    ck
}

/// The writer (run only as the child of the test below).
#[test]
#[ignore = "run by `a_killed_writer_leaves_a_whole_checkpoint`"]
fn writer() {
    let Some(dir) = std::env::var_os(DIR_VAR) else {
        return;
    };
    let path = Path::new(&dir).join("last.safetensors");
    for v in 1.. {
        checkpoint::save(&path, &version(v)).unwrap();
    }
}

#[test]
fn a_killed_writer_leaves_a_whole_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("last.safetensors");
    checkpoint::save(&path, &version(0)).unwrap();
    let mut seen = Vec::new();
    for wait_ms in [150, 400, 900] {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", "writer", "--nocapture"])
            .env(DIR_VAR, dir.path())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(wait_ms));
        child.kill().unwrap();
        child.wait().unwrap();
        let ck = checkpoint::load(&path).expect("the checkpoint is whole after a kill");
        let v: u32 = ck.meta["version"].parse().unwrap();
        let w = ck.params["w"].as_f32().unwrap();
        assert_eq!(w.len(), VALUES);
        assert!(w.iter().all(|&x| x == v as f32), "version {v} is torn");
        seen.push(v);
        atomic::remove_stale_temps(dir.path()).unwrap();
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            left,
            ["last.safetensors"],
            "the dead writer's files are removed"
        );
    }
    assert!(
        seen.iter().any(|&v| v > 0),
        "the writer never finished a checkpoint: {seen:?}"
    );
}
