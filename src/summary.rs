//! `dlpc summary`: a model's layers, parameters, operations and planned
//! memory, before any data is read.

use crate::program;
use crate::runs::list::aligned;
use dlp_compiler::plan::bytes_text;
use dlp_compiler::summary::{self, grouped as count, Summary};
use dlp_compiler::Loc;
use std::path::Path;
use std::process::ExitCode;

pub fn run(file: &Path, train: Option<&str>, batch: Option<usize>, json: bool) -> ExitCode {
    let Some(comp) = program::load(file) else {
        return ExitCode::FAILURE;
    };
    if batch == Some(0) {
        tell!("error: `--batch 0`: a batch holds at least 1 sample");
        return ExitCode::FAILURE;
    }
    match summary::summarize(&comp, train, batch) {
        Ok(s) if json => {
            say!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Ok(s) => {
            for line in text(&s) {
                say!("{line}");
            }
            ExitCode::SUCCESS
        }
        Err(e) if e.loc.is_none() => {
            tell!("error: {}", e.message);
            ExitCode::FAILURE
        }
        Err(e) => {
            let fallback = Loc::new(comp.program.modules[0].file, Default::default());
            program::report(&comp, &e.diagnostic(fallback));
            ExitCode::FAILURE
        }
    }
}

/// The summary as a table and totals.
pub fn text(s: &Summary) -> Vec<String> {
    let mut rows = vec![[
        "layer",
        "instance",
        "call",
        "output",
        "params",
        "FLOPs/sample",
    ]
    .map(String::from)
    .to_vec()];
    for l in &s.layers {
        rows.push(vec![
            l.name.clone(),
            if l.instances.is_empty() {
                "-".into()
            } else {
                l.instances.join(", ")
            },
            l.call.clone(),
            l.output.clone().unwrap_or_else(|| "-".into()),
            count(l.parameters),
            count(l.flops_per_sample),
        ]);
    }
    let mut out = vec![format!(
        "train `{}`: {} at batch {}",
        s.train, s.model, s.batch
    )];
    out.push(String::new());
    out.extend(aligned(&rows));
    out.push(String::new());
    let t = &s.training_memory;
    let i = &s.inference_memory;
    out.extend([
        format!("parameters       {} ({})", count(s.parameters), bytes_text(t.parameters as f64)),
        format!(
            "FLOPs            {} per sample forward, {} per sample for a training step",
            count(s.forward_flops_per_sample),
            count(s.train_flops_per_sample)
        ),
        format!(
            "memory, training   {} at batch {}: parameters {}, optimiser state {}, updated copies {}, gradients {}, activations {}",
            bytes_text(t.total() as f64),
            t.batch,
            bytes_text(t.parameters as f64),
            bytes_text(t.optimizer_state as f64),
            bytes_text(t.updated_copies as f64),
            bytes_text(t.gradients as f64),
            bytes_text(t.activations as f64),
        ),
        format!(
            "memory, inference  {} at batch {}: parameters {}, activations {}",
            bytes_text(i.total() as f64),
            i.batch,
            bytes_text(i.parameters as f64),
            bytes_text(i.activations as f64),
        ),
    ]);
    out
}
