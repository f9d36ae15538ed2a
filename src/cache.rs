//! `dlpc cache ls|clear`: the preprocessing cache (decoded, resized image
//! folders; see `dlp_runtime::data::cache`).

use dlp_runtime::data::cache;
use dlp_runtime::train::memory::bytes_text;
use std::process::ExitCode;

pub fn list() -> ExitCode {
    let Some(folder) = cache::folder() else {
        say!("the preprocessing cache is off (DLP_CACHE=off)");
        return ExitCode::SUCCESS;
    };
    let entries = match cache::list() {
        Ok(e) => e,
        Err(e) => {
            eprintln!(
                "error: cannot read the cache folder {}: {e}",
                folder.display()
            );
            return ExitCode::FAILURE;
        }
    };
    let total: u64 = entries.iter().map(|e| e.bytes).sum();
    say!(
        "{}: {} entr{}, {}",
        folder.display(),
        entries.len(),
        if entries.len() == 1 { "y" } else { "ies" },
        bytes_text(total)
    );
    for e in &entries {
        let name = e.path.file_name().map(|n| n.to_string_lossy().to_string());
        match &e.header {
            Some(h) => say!(
                "  {}  {:>10}  {}  {} ({})",
                h.created,
                bytes_text(e.bytes),
                h.kind,
                h.source,
                h.what
            ),
            None => say!(
                "  {:>10}  {} (unreadable: it will be rewritten when needed)",
                bytes_text(e.bytes),
                name.unwrap_or_default()
            ),
        }
    }
    ExitCode::SUCCESS
}

pub fn clear() -> ExitCode {
    let Some(folder) = cache::folder() else {
        say!("the preprocessing cache is off (DLP_CACHE=off): nothing to clear");
        return ExitCode::SUCCESS;
    };
    match cache::clear() {
        Ok((n, bytes)) => {
            say!(
                "removed {n} entr{} ({}) from {}",
                if n == 1 { "y" } else { "ies" },
                bytes_text(bytes),
                folder.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "error: cannot clear the cache folder {}: {e}",
                folder.display()
            );
            ExitCode::FAILURE
        }
    }
}
