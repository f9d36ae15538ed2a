//! The threads the CPU back end computes on: one pool for the process,
//! as many threads as cores unless told otherwise (`dlpc run --threads`).
//!
//! A step runs on a thread of the pool (not on the caller's), so that when
//! a kernel or a matrix product splits its work, the thread running the
//! step takes a share itself instead of waking the others and sleeping
//! until they finish: with two cores, two threads compute and none waits.
//! `dlpc run` goes further and makes its main thread one of the pool's
//! ([`include_this_thread`]): a step then starts where the trainer is,
//! without handing it to another thread and waiting for it (two thread
//! switches per step, measured at about 3% of the W1 MLP's time).

use std::sync::OnceLock;

static POOL: OnceLock<rayon::ThreadPool> = OnceLock::new();
static WANTED: OnceLock<usize> = OnceLock::new();

/// Makes the pool now, with the calling thread as one of its threads, so
/// that work started from this thread runs on it. For a thread that lives
/// as long as the process (a program's main thread), before anything else
/// uses the pool; otherwise the pool is made as usual on first use.
pub fn include_this_thread() {
    POOL.get_or_init(|| build(true));
}

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
    POOL.get_or_init(|| build(false))
}

fn build(with_this_thread: bool) -> rayon::ThreadPool {
    let n = *WANTED.get_or_init(cores);
    let builder = rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(|i| format!("dlp-cpu-{i}"));
    let builder = if with_this_thread {
        builder.use_current_thread()
    } else {
        builder
    };
    builder
        .build()
        .unwrap_or_else(|e| panic!("cannot start {n} threads: {e}"))
}

/// How many threads share a kernel.
pub fn threads() -> usize {
    pool().current_num_threads()
}
