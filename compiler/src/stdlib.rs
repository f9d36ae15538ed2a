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

/// Whether stdlib module `module` declares a function `name`.
pub fn declares(module: &str, name: &str) -> bool {
    let Some(text) = self::module(module) else {
        return false;
    };
    text.lines().any(|l| {
        let l = l.trim_start().trim_start_matches("extern ");
        l.strip_prefix("fn ")
            .is_some_and(|rest| rest.starts_with(name) && rest[name.len()..].starts_with('('))
    })
}

/// The stdlib module that declares a function `name`, if one does.
pub fn home_of(name: &str) -> Option<&'static str> {
    MODULES.iter().map(|(m, _)| *m).find(|m| declares(m, name))
}
