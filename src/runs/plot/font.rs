//! The font PNG charts draw their text with.
//!
//! plotters finds system fonts through fontconfig, a C library that not
//! every machine has; dlpc instead reads a TrueType or OpenType file itself
//! (plotters' `ab_glyph` feature draws it in pure Rust). SVG charts need no
//! font: their text is drawn by whatever displays them.

use plotters::style::FontStyle;
use std::path::{Path, PathBuf};

/// The family every chart's text is set in: the name the font is
/// registered under for PNG, and the generic family SVG viewers know.
pub const FAMILY: &str = "sans-serif";

/// Names a font file to use instead of looking for one.
pub const FONT_VARIABLE: &str = "DLPC_FONT";

/// Where common systems keep a plain sans-serif font, in the order tried.
const FONT_FILES: [&str; 9] = [
    // Debian and Ubuntu (fonts-dejavu-core), then Fedora, Arch, openSUSE.
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/DejaVuSans.ttf",
    // Debian and Ubuntu (fonts-liberation2, fonts-liberation).
    "/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    // macOS and Windows.
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "/Library/Fonts/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

/// Finds a font (`DLPC_FONT`, else the first of `FONT_FILES` there is) and
/// makes it the chart family's font.
pub fn load() -> Result<(), String> {
    if let Some(named) = std::env::var_os(FONT_VARIABLE).filter(|v| !v.is_empty()) {
        let path = PathBuf::from(named);
        let bytes = std::fs::read(&path).map_err(|e| {
            format!(
                "cannot read the font {} that {FONT_VARIABLE} names: {e}",
                path.display()
            )
        })?;
        return register(&path, bytes);
    }
    let path = FONT_FILES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| {
            format!(
                "no font found to draw the PNG's text with: write an SVG instead (`-o curves.svg`), \
                 install a font (on Debian and Ubuntu: `apt install fonts-dejavu-core`), \
                 or name a .ttf file in {FONT_VARIABLE}"
            )
        })?;
    let bytes = std::fs::read(&path)
        .map_err(|e| format!("cannot read the font {}: {e}", path.display()))?;
    register(&path, bytes)
}

fn register(path: &Path, bytes: Vec<u8>) -> Result<(), String> {
    // plotters keeps fonts for the whole process; dlpc draws one chart and
    // exits, so the font's bytes are simply never freed.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    plotters::style::register_font(FAMILY, FontStyle::Normal, bytes).map_err(|_| {
        format!(
            "{} is not a TrueType or OpenType font: name one in {FONT_VARIABLE}, or write an SVG instead (`-o curves.svg`)",
            path.display()
        )
    })
}
