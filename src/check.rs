//! `dlpc check`.

use crate::loader::FsLoader;
use crate::Format;
use dlp_compiler::{compile, render, render_json};
use std::path::PathBuf;
use std::process::ExitCode;

pub fn run(files: &[PathBuf], format: Format, deny_warnings: bool) -> ExitCode {
    let color = crate::program::color();
    let mut failed = false;
    for path in files {
        let name = path.display().to_string();
        let text = match crate::program::read(path) {
            Ok(text) => text,
            Err(message) => {
                tell!("{message}");
                failed = true;
                continue;
            }
        };
        let compilation = compile(&name, &text, &mut FsLoader);
        for d in &compilation.diagnostics {
            match format {
                Format::Human => tell_raw!("{}", render(d, &compilation.program.sources, color)),
                Format::Json => say!("{}", render_json(d, &compilation.program.sources)),
            }
        }
        let mut errors = compilation
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .count();
        if errors == 0 {
            // What the front end cannot see: the limits of the lowered step.
            let fallback =
                dlp_compiler::Loc::new(compilation.program.modules[0].file, Default::default());
            for e in dlp_compiler::lower::check(&compilation) {
                let d = e.diagnostic(fallback);
                match format {
                    Format::Human => {
                        tell_raw!("{}", render(&d, &compilation.program.sources, color))
                    }
                    Format::Json => say!("{}", render_json(&d, &compilation.program.sources)),
                }
                errors += 1;
            }
        }
        let warnings = compilation.diagnostics.len()
            - compilation
                .diagnostics
                .iter()
                .filter(|d| d.is_error())
                .count();
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        if errors > 0 {
            failed = true;
            if format == Format::Human {
                tell!("error: {errors} error{} in {name}", plural(errors));
            }
        } else if warnings > 0 && format == Format::Human {
            if deny_warnings {
                tell!(
                    "error: {warnings} warning{} in {name}, denied by `--deny warnings`",
                    plural(warnings)
                );
            } else {
                tell!("warning: {warnings} warning{} in {name}", plural(warnings));
            }
        }
        if deny_warnings && warnings > 0 {
            failed = true;
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
