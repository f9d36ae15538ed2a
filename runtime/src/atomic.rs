//! Crash-safe file writes: a reader sees the old file or the new one,
//! never a torn one.
//!
//! A file is first *staged*, written to a temporary file in its folder
//! (`.last.safetensors.tmp-<pid>`) and synced, then *committed*, renamed
//! over its final name with the folder synced. Writing several files as one
//! set (a checkpoint set) stages them all before committing any, and
//! commits them in the order that makes every intermediate state safe.
//!
//! A process killed between the two leaves its temporary file behind;
//! [`remove_stale_temps`] removes those of dead processes.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

/// A file written and synced under its temporary name, not yet in place.
/// Dropping it without [`Staged::commit`] removes the temporary file (an
/// error part-way through a set leaves nothing behind).
#[must_use = "a staged file is not in place until it is committed"]
pub struct Staged {
    tmp: PathBuf,
    path: PathBuf,
    committed: bool,
}

/// Writes `bytes` to `path`'s temporary file and syncs it; [`Staged::commit`]
/// puts it in place.
pub fn stage(path: &Path, bytes: &[u8]) -> io::Result<Staged> {
    let staged = Staged {
        tmp: temp_path(path),
        path: path.to_path_buf(),
        committed: false,
    };
    let mut f = File::create(&staged.tmp)?;
    // Written in two halves so that the crash hook can leave a torn
    // temporary file, as a kill in the middle of a large write does.
    let (head, tail) = bytes.split_at(bytes.len() / 2);
    f.write_all(head)?;
    crash_point();
    f.write_all(tail)?;
    f.sync_all()?;
    crash_point();
    Ok(staged)
}

impl Staged {
    /// Renames the temporary file over the final one and syncs the folder,
    /// so that the rename survives a crash and is ordered before any later
    /// commit.
    pub fn commit(mut self) -> io::Result<()> {
        fs::rename(&self.tmp, &self.path)?;
        self.committed = true;
        crash_point();
        sync_dir(folder_of(&self.path));
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Writes `bytes` to `path` through a temporary file in the same folder,
/// flushed to disk (fsync) and then renamed over `path`; the folder is
/// synced so that the rename itself survives a crash.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    stage(path, bytes)?.commit()
}

/// Copies `from` to `to` atomically (`to` is the old file or a whole copy).
pub fn copy(from: &Path, to: &Path) -> io::Result<()> {
    write(to, &fs::read(from)?)
}

/// Appends lines and flushes them to disk: a log that survives a crash
/// up to its last complete line.
pub fn append_lines(path: &Path, lines: &[String]) -> io::Result<()> {
    let mut text = String::new();
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    let mut f = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    // In two halves, so that the crash hook can leave a torn last line.
    let (head, tail) = text.as_bytes().split_at(text.len() / 2);
    f.write_all(head)?;
    crash_point();
    f.write_all(tail)?;
    f.sync_data()?;
    crash_point();
    Ok(())
}

/// The temporary file `path` is staged in: `.<name>.tmp-<pid>`, in the same
/// folder (a rename across file systems would not be atomic).
fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    folder_of(path).join(format!(".{name}{TEMP_MARK}{}", std::process::id()))
}

const TEMP_MARK: &str = ".tmp-";

fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        // Not every platform can sync a folder; the rename is done either way.
        let _ = d.sync_all();
    }
}

/// Removes the temporary files in `dir` (not its subfolders) that were left
/// by processes that died before committing them, and returns their paths.
/// A file whose writer may still be alive is kept: see [`writer_is_gone`].
pub fn remove_stale_temps(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(removed),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let Some(pid) = entry.file_name().to_str().and_then(temp_pid) else {
            continue;
        };
        let meta = entry.metadata()?;
        if !meta.is_file() {
            continue;
        }
        let written = meta.modified().unwrap_or(SystemTime::now());
        if writer_is_gone(pid, written) {
            match fs::remove_file(entry.path()) {
                Ok(()) => removed.push(entry.path()),
                // Its writer, or another cleaner, removed it first.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(removed)
}

/// The writer's pid in a temporary file's name (`.last.safetensors.tmp-812`).
fn temp_pid(name: &str) -> Option<u32> {
    if !name.starts_with('.') {
        return None;
    }
    let (_, pid) = name.rsplit_once(TEMP_MARK)?;
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

/// Whether the process that wrote a temporary file (its pid, and when the
/// file was last written) can no longer commit it:
///
/// - the pid is ours: this process has not staged anything when it cleans
///   (cleaning comes first), so the file is from an earlier process that
///   had the same pid;
/// - no process has that pid;
/// - the process that has it now started after the file was last written,
///   so it is another process that reused the pid.
///
/// When in doubt (a platform where this cannot be told), the writer is
/// taken to be alive and its file is kept. Only processes this one can see
/// count: one in another pid namespace (another container sharing the
/// folder) looks gone.
pub(crate) fn writer_is_gone(pid: u32, written: SystemTime) -> bool {
    if pid == std::process::id() {
        return true;
    }
    match process_start(pid) {
        Liveness::Dead => true,
        // The start time is known to about a second (the boot time is in
        // whole seconds): a margin keeps a live writer's file.
        Liveness::StartedAt(start) => start > written + Duration::from_secs(2),
        Liveness::Unknown => false,
    }
}

enum Liveness {
    Dead,
    StartedAt(SystemTime),
    /// Alive, or it cannot be told.
    Unknown,
}

/// Whether process `pid` exists and, where known, when it started, from
/// `/proc`: `/proc/<pid>/stat`'s `starttime` (clock ticks after boot) and
/// `/proc/stat`'s `btime` (the boot time).
#[cfg(target_os = "linux")]
fn process_start(pid: u32) -> Liveness {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return if Path::new("/proc/self").exists() {
            Liveness::Dead
        } else {
            Liveness::Unknown
        };
    };
    // The command name (field 2) is in parentheses and may hold spaces:
    // fields are counted after its closing one. `starttime` is field 22.
    let ticks = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(19))
        .and_then(|t| t.parse::<u64>().ok());
    let boot = fs::read_to_string("/proc/stat").ok().and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|b| b.trim().parse::<u64>().ok())
    });
    match (ticks, boot) {
        // Linux reports clock ticks to user space at 100 per second
        // (USER_HZ) on every architecture it supports.
        (Some(ticks), Some(boot)) => Liveness::StartedAt(
            SystemTime::UNIX_EPOCH + Duration::from_secs(boot) + Duration::from_millis(ticks * 10),
        ),
        _ => Liveness::Unknown,
    }
}

/// Whether process `pid` exists, from `ps -p` (which, unlike `kill -0`,
/// sees other users' processes too).
#[cfg(all(unix, not(target_os = "linux")))]
fn process_start(pid: u32) -> Liveness {
    match std::process::Command::new("ps")
        .args(["-p", &pid.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
    {
        Ok(s) if s.code() == Some(1) => Liveness::Dead,
        _ => Liveness::Unknown,
    }
}

#[cfg(not(unix))]
fn process_start(_pid: u32) -> Liveness {
    Liveness::Unknown
}

/// The test hook that simulates a kill during a write.
///
/// `DLP_CRASH_AT=<n>` (a positive integer) makes the process end at the
/// n-th crash point it reaches, counted from 1 over the whole process: the
/// points are in [`stage`] (half the temporary file written; the temporary
/// file synced), in [`Staged::commit`] (renamed, before the folder sync)
/// and in [`append_lines`] (half the lines written; synced). The process
/// ends with [`CRASH_EXIT`] through `std::process::exit`, which, like a
/// kill, runs no destructor: staged files stay as a kill leaves them.
/// Unset (the normal case), a crash point is one relaxed counter increment.
/// Used by the kill tests (`tests/crash_resume.rs`); not for users.
pub const CRASH_VAR: &str = "DLP_CRASH_AT";

/// The exit status of a process ended by [`CRASH_VAR`].
pub const CRASH_EXIT: i32 = 86;

fn crash_point() {
    static AT: OnceLock<Option<u64>> = OnceLock::new();
    static REACHED: AtomicU64 = AtomicU64::new(0);
    let at = AT.get_or_init(|| {
        std::env::var(CRASH_VAR)
            .ok()
            .and_then(|v| v.trim().parse().ok())
    });
    if let Some(at) = *at {
        if REACHED.fetch_add(1, Ordering::Relaxed) + 1 == at {
            std::process::exit(CRASH_EXIT);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.bin");
        write(&p, b"one").unwrap();
        write(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(names(dir.path()), ["a.bin"]);
    }

    #[test]
    fn a_staged_file_is_in_place_only_once_committed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.bin");
        write(&p, b"old").unwrap();
        let staged = stage(&p, b"new").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"old");
        staged.commit().unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"new");
        // Dropped uncommitted: the old file stays, the temporary goes.
        drop(stage(&p, b"newer").unwrap());
        assert_eq!(fs::read(&p).unwrap(), b"new");
        assert_eq!(names(dir.path()), ["a.bin"]);
    }

    #[test]
    fn reads_the_pid_of_temporary_file_names_only() {
        assert_eq!(temp_pid(".last.safetensors.tmp-812"), Some(812));
        assert_eq!(temp_pid(".metrics.jsonl.tmp-1"), Some(1));
        assert_eq!(temp_pid("last.safetensors"), None);
        assert_eq!(temp_pid(".last.safetensors.tmp-"), None);
        assert_eq!(temp_pid(".a.tmp-12x"), None);
        assert_eq!(temp_pid("a.tmp-12"), None);
    }

    /// A pid no process can have (above Linux's largest, 2^22).
    const DEAD_PID: u32 = 4_000_000_000;

    #[test]
    fn removes_temporary_files_of_dead_processes_and_of_this_pid() {
        let dir = tempfile::tempdir().unwrap();
        let dead = format!(".last.safetensors.tmp-{DEAD_PID}");
        let ours = format!(".best.safetensors.tmp-{}", std::process::id());
        for name in [dead.as_str(), ours.as_str(), "last.safetensors", ".keep"] {
            fs::write(dir.path().join(name), b"x").unwrap();
        }
        let removed = remove_stale_temps(dir.path()).unwrap();
        assert_eq!(removed.len(), 2, "{removed:?}");
        assert_eq!(names(dir.path()), [".keep", "last.safetensors"]);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn keeps_a_live_writers_file_and_removes_one_older_than_its_pid() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let live = dir.path().join(format!(".a.tmp-{}", child.id()));
        fs::write(&live, b"x").unwrap();
        let result = remove_stale_temps(dir.path());
        let kept = live.exists();
        // Written an hour before the process with its pid started: a
        // reused pid, so the writer is gone.
        let old = File::options().write(true).open(&live).unwrap();
        old.set_modified(SystemTime::now() - Duration::from_secs(3600))
            .unwrap();
        drop(old);
        let second = remove_stale_temps(dir.path());
        let _ = child.kill();
        let _ = child.wait();
        assert!(result.unwrap().is_empty() && kept, "a live writer's file");
        assert_eq!(second.unwrap(), [live]);
    }

    #[test]
    fn a_missing_folder_has_nothing_to_clean() {
        let dir = tempfile::tempdir().unwrap();
        assert!(remove_stale_temps(&dir.path().join("none"))
            .unwrap()
            .is_empty());
    }
}
