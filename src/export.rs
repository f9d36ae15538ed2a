//! `dlpc export`: a trained model as ONNX, for other runtimes and viewers,
//! with (optionally) real samples of its inputs and dlp's outputs for them
//! to check the export against.

use crate::numpy::npz;
use crate::trained::{self, or_tell};
use dlp_compiler::lower::{self, LowerError, Predict};
use dlp_compiler::onnx::{self, Initializer};
use dlp_compiler::program::{DataRef, PredictStep};
use dlp_runtime::tensor::Tensor;
use dlp_runtime::train::{self, infer};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

pub struct Args {
    pub file: PathBuf,
    pub source: trained::Source,
    pub output: PathBuf,
    pub data: Option<String>,
    pub samples: Option<usize>,
    pub raw_inputs: bool,
}

/// The prediction step computing `what` on `r`'s dataset; `None` after
/// reporting why there is none.
fn prediction(model: &trained::Trained, r: &DataRef, what: Predict) -> Option<PredictStep> {
    let block = Some(model.program.plan.name.as_str());
    match lower::prediction(&model.comp, block, &r.dataset, what) {
        Ok(step) => Some(step),
        Err(e) => {
            trained::report(&model.comp, &e);
            None
        }
    }
}

pub fn run(args: Args) -> ExitCode {
    if args.output.extension().and_then(|e| e.to_str()) != Some("onnx") {
        tell!(
            "error: name the model file `.onnx`: {}",
            args.output.display()
        );
        return ExitCode::FAILURE;
    }
    let Some(model) = trained::load(&args.file, &args.source) else {
        return ExitCode::FAILURE;
    };
    let plan = &model.program.plan;
    // The data whose fields are the model's inputs (and whose samples
    // `--samples` takes): by default what the run reported on at its end.
    let r = match &args.data {
        Some(d) => match trained::data_ref(&model.comp, d) {
            Some(r) => r,
            None => return ExitCode::FAILURE,
        },
        None => plan.final_sets.first().unwrap_or(&plan.data).clone(),
    };
    let what = if args.raw_inputs {
        Predict::Outputs
    } else {
        Predict::Model
    };
    let Some(step) = prediction(&model, &r, what) else {
        return ExitCode::FAILURE;
    };
    if !trained::split_exists(&step.data, &r) {
        return ExitCode::FAILURE;
    }
    let params: HashMap<String, Initializer> = model
        .params
        .iter()
        .map(|(path, t)| {
            let init = Initializer {
                dtype: t.dtype(),
                shape: t.shape.clone(),
                bytes: t.to_le_bytes(),
            };
            (path.clone(), init)
        })
        .collect();
    let producer = format!("dlpc {}", env!("CARGO_PKG_VERSION"));
    let bytes = match onnx::export(&step, &params, &producer) {
        Ok(bytes) => bytes,
        Err(e) if e.loc.is_none() => {
            tell!("error: {}; nothing was written", e.message);
            return ExitCode::FAILURE;
        }
        Err(e) => {
            trained::report(&model.comp, &LowerError::new(e.message, e.loc));
            tell!("error: nothing was written");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = dlp_runtime::atomic::write(&args.output, &bytes) {
        tell!("error: cannot write {}: {e}", args.output.display());
        return ExitCode::FAILURE;
    }
    let values: u64 = params
        .values()
        .map(|p| p.shape.iter().product::<usize>() as u64)
        .sum();
    say!(
        "wrote {} (ONNX opset {}, {} parameter values): inputs {}; outputs {}",
        args.output.display(),
        onnx::OPSET,
        dlp_compiler::summary::grouped(values),
        signature(&step, true),
        signature(&step, false),
    );
    match args.samples {
        Some(n) => write_samples(&args, &model, &step, &r, n),
        None => ExitCode::SUCCESS,
    }
}

/// The graph's inputs or outputs with their types: `x: f32[B, 64]`.
fn signature(step: &PredictStep, inputs: bool) -> String {
    use dlp_compiler::ir::{Input, Output};
    let g = step.step.graph();
    let items: Vec<String> = if inputs {
        g.inputs()
            .filter_map(|(i, id)| match i {
                Input::Feed(name) => Some(format!("{name}: {}", g.ty(id))),
                _ => None,
            })
            .collect()
    } else {
        g.outputs
            .iter()
            .filter_map(|(o, id)| match o {
                Output::Prediction(name) => {
                    Some(format!("{}: {}", onnx::output_name(step, name), g.ty(*id)))
                }
                _ => None,
            })
            .collect()
    };
    items.join(", ")
}

/// `<model>.inputs.npz` (the first `n` samples' inputs, named as the
/// model's inputs) and `<model>.outputs.npz` (dlp's outputs for them).
fn write_samples(
    args: &Args,
    model: &trained::Trained,
    step: &PredictStep,
    r: &DataRef,
    n: usize,
) -> ExitCode {
    let base = train::base_of(&args.file);
    let split = r.split.as_deref();
    let Some((_, backend)) = args.source.device() else {
        return ExitCode::FAILURE;
    };
    let trained = model.inference();
    // Inputs keep their names; outputs take the exported model's.
    let run = |what: Predict| -> Option<Vec<(String, Tensor)>> {
        let computed = prediction(model, r, what)?;
        let predictions = or_tell(infer::predict(&computed, split, &base, &trained, backend))?;
        let name = |o: &str| match what {
            Predict::Inputs => o.to_string(),
            _ => onnx::output_name(step, o),
        };
        Some(first_rows(predictions, n, name))
    };
    let inputs = if args.raw_inputs {
        or_tell(infer::first_samples(
            step,
            split,
            &base,
            trained.vocabulary,
            n,
        ))
        .map(|(inputs, _)| inputs)
    } else {
        run(Predict::Inputs)
    };
    let (Some(inputs), Some(outputs)) = (inputs, run(Predict::Outputs)) else {
        return ExitCode::FAILURE;
    };
    let count = outputs.first().map_or(0, |(_, t)| t.shape[0]);
    let stem = args.output.with_extension("");
    for (what, members) in [("inputs", &inputs), ("outputs", &outputs)] {
        let path = PathBuf::from(format!("{}.{what}.npz", stem.display()));
        let written = npz(members)
            .and_then(|bytes| dlp_runtime::atomic::write(&path, &bytes).map_err(|e| e.to_string()));
        if let Err(e) = written {
            tell!("error: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        say!("wrote {} ({count} samples of `{r}`)", path.display());
    }
    ExitCode::SUCCESS
}

/// The first `n` samples of each output, as tensors named by `name`.
fn first_rows(
    p: infer::Predictions,
    n: usize,
    name: impl Fn(&str) -> String,
) -> Vec<(String, Tensor)> {
    let count = p.samples.min(n);
    p.outputs
        .into_iter()
        .map(|(o, dtype, mut values)| {
            let width: usize = o.shape.iter().product();
            values.truncate(count * width);
            let mut shape = vec![count];
            shape.extend(&o.shape);
            let ty = dlp_runtime::tensor::HostTy::new(dtype, shape);
            (name(&o.name), Tensor::from_f64(&ty, values))
        })
        .collect()
}
