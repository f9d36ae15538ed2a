//! The standard library, written in dlp and embedded in the binary.
//!
//! `use std.nn.linear` reads `stdlib/nn.dlp`. The files are plain dlp, checked
//! like user code; only `extern fn` (optimisers, schedules) is reserved to them.

/// Module name (after `std.`) and its source.
pub const MODULES: &[(&str, &str)] = &[
    ("nn", include_str!("../../stdlib/nn.dlp")),
    ("loss", include_str!("../../stdlib/loss.dlp")),
    ("metrics", include_str!("../../stdlib/metrics.dlp")),
    ("optim", include_str!("../../stdlib/optim.dlp")),
    ("augment", include_str!("../../stdlib/augment.dlp")),
];

pub fn module(name: &str) -> Option<&'static str> {
    MODULES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
}
