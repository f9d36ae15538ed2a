//! The threads the CPU back end computes on: one pool for the process,
//! as many threads as cores unless told otherwise (`dlpc run --threads`).
//!
//! A step runs on a thread of the pool (not on the caller's), so that when
//! a kernel or a matrix product splits its work, the thread running the
//! step takes a share itself instead of waking the others and sleeping
//! until they finish: with two cores, two threads compute and none waits.

use std::sync::OnceLock;

static POOL: OnceLock<rayon::ThreadPool> = OnceLock::new();
static WANTED: OnceLock<usize> = OnceLock::new();

/// The cores this process may use.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Asks for `n` threads (before the first step runs). `0` is refused; more
/// than the cores is reduced to the cores, and the message says so.
pub fn set_threads(n: usize) -> Result<Option<String>, String> {
    if n == 0 {
        return Err("--threads must be at least 1".into());
    }
    let cores = cores();
    let (n, note) = if n > cores {
        let note = format!("--threads {n}: this machine gives the process {cores} cores, so {cores} threads are used");
        (cores, Some(note))
    } else {
        (n, None)
    };
    match WANTED.set(n) {
        Ok(()) => Ok(note),
        Err(_) if WANTED.get() == Some(&n) => Ok(note),
        Err(_) => Err("the number of threads is set once per process".into()),
    }
}

/// The pool (made on first use).
pub fn pool() -> &'static rayon::ThreadPool {
    POOL.get_or_init(|| {
        let n = *WANTED.get_or_init(cores);
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .thread_name(|i| format!("dlp-cpu-{i}"))
            .build()
            .unwrap_or_else(|e| panic!("cannot start {n} threads: {e}"))
    })
}

/// How many threads share a kernel.
pub fn threads() -> usize {
    pool().current_num_threads()
}
