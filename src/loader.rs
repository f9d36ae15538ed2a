//! Finding user modules on disk: `use a.b.{x}` in `dir/main.dlp` reads
//! `dir/a/b.dlp`.

use dlp_compiler::Loader;
use std::path::{Path, PathBuf};

pub struct FsLoader;

impl Loader for FsLoader {
    fn load(&mut self, from: &str, module: &[String]) -> Option<(String, String)> {
        let dir = Path::new(from).parent().unwrap_or(Path::new(""));
        let mut path: PathBuf = dir.to_path_buf();
        for segment in module {
            path.push(segment);
        }
        path.set_extension("dlp");
        let text = std::fs::read_to_string(&path).ok()?;
        Some((path.display().to_string(), text))
    }
}
