//! How fast a run goes: when its first step started, counted from the
//! command's start (parsing, checking, compiling, reading the data), and
//! its throughput once warm — after the first steps, which generate code
//! for the step and fill the caches.

use std::time::{Duration, Instant};

/// Steps of a process left out of its steady throughput.
pub const WARM_UP_STEPS: u64 = 20;

#[derive(Default)]
pub(super) struct Timing {
    first_step: Option<Instant>,
    steps: u64,
    /// When the first step after the warm-up started.
    warm: Option<Instant>,
    warm_samples: usize,
    last_end: Option<Instant>,
    /// When the step now running started.
    step_start: Option<Instant>,
    /// The steps after the warm-up, and the time spent in them (from each
    /// one's start to its end, its wait for its batch included).
    warm_steps: u64,
    warm_stepping: Duration,
}

impl Timing {
    pub fn step_starts(&mut self) {
        let now = Instant::now();
        self.first_step.get_or_insert(now);
        if self.steps == WARM_UP_STEPS {
            self.warm = Some(now);
        }
        self.step_start = Some(now);
    }

    pub fn step_ends(&mut self, samples: usize) {
        self.steps += 1;
        let now = Instant::now();
        if self.warm.is_some() {
            self.warm_samples += samples;
            self.warm_steps += 1;
            self.warm_stepping += self.step_start.map_or(Duration::ZERO, |s| now - s);
        }
        self.last_end = Some(now);
    }

    /// The mean time of a step after the warm-up, in milliseconds: what
    /// the loader costs shows here (`bench/loader.sh`), since evaluations
    /// and checkpoints between steps do not.
    pub fn mean_step_ms(&self) -> Option<f64> {
        (self.warm_steps > 0)
            .then(|| self.warm_stepping.as_secs_f64() * 1e3 / self.warm_steps as f64)
    }

    /// Samples per second over the steps after the warm-up (from the
    /// start of the first to the end of the last, evaluations included).
    pub fn steady_samples_per_s(&self) -> Option<f64> {
        let seconds = (self.last_end? - self.warm?).as_secs_f64();
        Some(self.warm_samples as f64 / seconds.max(1e-9))
    }

    pub fn startup_seconds(&self, command_started: Instant) -> Option<f64> {
        Some((self.first_step? - command_started).as_secs_f64())
    }
}
