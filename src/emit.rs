//! `dlpc emit`: what the compiler produces for a program, stage by stage.
//! `--ir` prints the compiled program's steps as textual IR (the train
//! step's two groups separated by the gradient sync point); `--json` the
//! serialised compiled program, as the runtime receives it; `--kernels`
//! every step cut into kernels with its memory plan; `--clif` the
//! Cranelift IR the CPU back end generates for each kernel; `--wgsl` the
//! GPU back end's compute shaders.

use crate::program;
use std::path::Path;
use std::process::ExitCode;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Ir,
    Json,
    Kernels,
    Clif,
    Wgsl,
}

pub fn run(file: &Path, train: Option<&str>, stage: Stage) -> ExitCode {
    let Some(comp) = program::load(file) else {
        return ExitCode::FAILURE;
    };
    let Some(compiled) = program::compiled(&comp, train) else {
        return ExitCode::FAILURE;
    };
    match stage {
        Stage::Ir => say_raw!("{}", compiled.text()),
        Stage::Kernels => say_raw!("{}", kernels_text(&compiled)),
        Stage::Clif => match clif_text(&compiled) {
            Ok(text) => say_raw!("{text}"),
            Err(e) => {
                tell!("error: {e}");
                return ExitCode::FAILURE;
            }
        },
        Stage::Wgsl => match wgsl_text(&compiled) {
            Ok(text) => say_raw!("{text}"),
            Err(e) => {
                tell!("error: {e}");
                return ExitCode::FAILURE;
            }
        },
        Stage::Json => match serde_json::to_string(&compiled) {
            Ok(json) => say!("{json}"),
            Err(e) => {
                tell!("error: cannot serialise the compiled program: {e}");
                return ExitCode::FAILURE;
            }
        },
    }
    ExitCode::SUCCESS
}

/// Every step's kernels and memory plan.
fn kernels_text(compiled: &dlp_compiler::CompiledProgram) -> String {
    let batch = compiled.plan.batch;
    let mut out = String::new();
    for (title, step) in compiled.steps() {
        let kernels = dlp_compiler::fuse::fuse(step);
        out.push_str(&format!("; {title}: {} kernels\n", kernels.kernels.len()));
        out.push_str(&dlp_compiler::fuse::text(step, &kernels));
        let plan = dlp_compiler::plan::plan(step, &kernels);
        out.push_str(&dlp_compiler::plan::text(step, &plan, batch));
        out.push('\n');
    }
    out
}

/// The CPU back end's code for every kernel of every step, at the train
/// block's batch size.
fn clif_text(compiled: &dlp_compiler::CompiledProgram) -> Result<String, String> {
    let batch = compiled.plan.batch;
    let mut out = String::new();
    for (title, step) in compiled.steps() {
        let mut cpu = dlp_runtime::cpu::CpuStep::new(step).map_err(|e| e.0)?;
        let clif = cpu.clif(batch);
        let fallbacks = cpu.fallbacks(batch);
        out.push_str(&format!("; {title}, batch {batch}\n"));
        for (i, (code, why)) in clif.iter().zip(&fallbacks).enumerate() {
            match (code, why) {
                (Some(code), _) => out.push_str(&format!("; k{i}\n{code}\n")),
                (None, Some(why)) => {
                    out.push_str(&format!("; k{i}: on the interpreter's ops ({why})\n\n"))
                }
                (None, None) => out.push_str(&format!(
                    "; k{i}: gemm or a plain loop, no generated code\n\n"
                )),
            }
        }
    }
    Ok(out)
}

/// The GPU back end's shader for every kernel of every step, at the train
/// block's batch size (each validated by naga; no GPU needed).
fn wgsl_text(compiled: &dlp_compiler::CompiledProgram) -> Result<String, String> {
    let batch = compiled.plan.batch;
    let mut out = String::new();
    for (title, step) in compiled.steps() {
        out.push_str(&format!("// {title}, batch {batch}\n"));
        for (i, shader) in
            dlp_compiler::wgsl::step_shaders(step, batch, &dlp_compiler::wgsl::Limits::WEBGPU)?
                .into_iter()
                .enumerate()
        {
            match shader {
                Some(text) => out.push_str(&format!("{text}\n")),
                None => out.push_str(&format!("// k{i}: no elements at this batch size\n\n")),
            }
        }
    }
    Ok(out)
}
