//! Memory, before any data is read: the run's planned figure (see
//! [`dlp_compiler::summary::memory`]) against what the machine has (or
//! `--max-memory`), so that a run too large for it stops at once with the
//! figure, instead of dying part-way through.

use super::TrainError;
use dlp_compiler::plan;
use dlp_compiler::program::CompiledProgram;
pub use dlp_compiler::summary::memory::Estimate;

/// The planned figure of `program` at its batch size.
pub fn estimate(program: &CompiledProgram) -> Estimate {
    dlp_compiler::summary::memory::training(program, program.plan.batch)
}

/// Refuses a run whose planned figure exceeds `limit` (`--max-memory`),
/// or else the memory this process may still take, when known.
pub fn check(estimate: &Estimate, limit: Option<u64>) -> Result<(), TrainError> {
    let (room, whose) = match limit {
        Some(limit) => (limit, format!("--max-memory allows {}", bytes_text(limit))),
        None => match available() {
            Some(free) => (free, format!("{} is available", bytes_text(free))),
            None => return Ok(()),
        },
    };
    if estimate.total() <= room {
        return Ok(());
    }
    Err(TrainError::Run(format!(
        "this run needs at least {} of memory ({} for the activations of a batch of {}, {} for parameters, gradients and optimiser state) but {whose}: lower `batch` or make the model smaller (`--max-memory` sets the limit)",
        bytes_text(estimate.total()),
        bytes_text(estimate.activations),
        estimate.batch,
        bytes_text(estimate.total().saturating_sub(estimate.activations)),
    )))
}

/// The memory this process may still take: the machine's available
/// memory, or less when a control group limits the process.
fn available() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let machine = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb.saturating_mul(1024))?;
    let read = |name: &str| -> Option<u64> {
        std::fs::read_to_string(format!("/sys/fs/cgroup/{name}"))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    let group =
        read("memory.max").map(|max| max.saturating_sub(read("memory.current").unwrap_or(0)));
    Some(group.map_or(machine, |g| g.min(machine)))
}

/// Sizes for messages: `512 B`, `4.2 GB`.
pub fn bytes_text(b: u64) -> String {
    plan::bytes_text(b as f64)
}

/// A size as `--max-memory` takes it: bytes, or a number with `k`, `M`,
/// `G` or `T` (powers of 1000; `Ki`, `Mi`, `Gi`, `Ti` for powers of 1024),
/// an optional `B`: `4G`, `1.5GB`, `512MiB`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let t = t.strip_suffix(['B', 'b']).unwrap_or(t);
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let scale: f64 = match unit.trim() {
        "" => 1.0,
        "k" | "K" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        other => {
            return Err(format!(
                "`{text}`: unknown unit `{other}` (write a size such as 4G, 512M or 2GiB)"
            ))
        }
    };
    let n: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size (write one such as 4G, 512M or 2GiB)"))?;
    let bytes = n * scale;
    if !bytes.is_finite() || bytes < 1.0 || bytes > u64::MAX as f64 {
        return Err(format!("`{text}` is not a usable memory size"));
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_both_kinds_of_unit() {
        assert_eq!(parse_size("4G"), Ok(4_000_000_000));
        assert_eq!(parse_size("1.5GB"), Ok(1_500_000_000));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("2048"), Ok(2048));
        assert!(parse_size("4X").unwrap_err().contains("unknown unit `X`"));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("0").is_err());
        assert_eq!(bytes_text(1_500_000_000), "1.5 GB");
        assert_eq!(bytes_text(512), "512 B");
    }

    #[test]
    fn a_run_over_the_limit_is_refused_with_its_figure() {
        let estimate = Estimate {
            parameters: 500_000,
            optimizer_state: 500_000,
            updated_copies: 1_000_000,
            gradients: 1_000_000,
            activations: 9_000_000_000,
            batch: 100_000,
        };
        let e = check(&estimate, Some(4_000_000_000))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("needs at least 9.0 GB")
                && e.contains("batch of 100000")
                && e.contains("--max-memory allows 4.0 GB"),
            "{e}"
        );
        assert!(check(&estimate, Some(10_000_000_000)).is_ok());
    }
}
