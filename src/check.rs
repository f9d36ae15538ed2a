//! `dlpc check`.

use crate::loader::FsLoader;
use crate::Format;
use dlp_compiler::{compile, render, render_json};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

pub fn run(files: &[PathBuf], format: Format) -> ExitCode {
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let mut failed = false;
    for path in files {
        let name = path.display().to_string();
        let text = match std::fs::read(path) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => text,
                Err(e) => {
                    eprintln!(
                        "error: {name} is not UTF-8 text (invalid byte at offset {})",
                        e.utf8_error().valid_up_to()
                    );
                    failed = true;
                    continue;
                }
            },
            Err(e) => {
                eprintln!("error: cannot read {name}: {e}");
                failed = true;
                continue;
            }
        };
        let compilation = compile(&name, &text, &mut FsLoader);
        for d in &compilation.diagnostics {
            match format {
                Format::Human => eprint!("{}", render(d, &compilation.program.sources, color)),
                Format::Json => println!("{}", render_json(d, &compilation.program.sources)),
            }
        }
        let errors = compilation
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .count();
        if errors > 0 {
            failed = true;
            if format == Format::Human {
                eprintln!(
                    "error: {errors} error{} in {name}",
                    if errors == 1 { "" } else { "s" }
                );
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
