//! `dlpc predict`: a trained model's outputs for every sample of some
//! data, written as CSV (every output, and the class of class scores) or
//! NPY (one output).

use crate::numpy::npy;
use crate::trained::{self, or_tell};
use dlp_compiler::ir::DType;
use dlp_compiler::lower;
use dlp_runtime::train;
use dlp_runtime::train::infer::{self, Predictions};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub struct Args {
    pub file: PathBuf,
    pub source: trained::Source,
    pub data: String,
    pub output: Option<PathBuf>,
    /// The one output an `.npy` file holds.
    pub only: Option<String>,
}

pub fn run(args: Args) -> ExitCode {
    dlp_runtime::cpu::include_this_thread();
    let Some(model) = trained::load(&args.file, &args.source) else {
        return ExitCode::FAILURE;
    };
    let Some(r) = trained::data_ref(&model.comp, &args.data) else {
        return ExitCode::FAILURE;
    };
    let format = match args.output.as_deref().map(Format::of) {
        None => Format::Csv,
        Some(Ok(f)) => f,
        Some(Err(e)) => {
            tell!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let plan = &model.program.plan;
    let step = lower::predict_step(&model.comp, Some(&plan.name), &r.dataset)
        .and_then(|step| lower::unmeasured(&step.step, plan, &r.dataset).map(|()| step));
    let step = match step {
        Ok(step) => step,
        Err(e) => {
            trained::report(&model.comp, &e);
            return ExitCode::FAILURE;
        }
    };
    if !trained::split_exists(&step.data, &r) {
        return ExitCode::FAILURE;
    }
    // Which output an `.npy` file holds, known before any data is read.
    let names = trained::quoted(step.outputs.iter().map(|o| o.name.as_str()));
    let only = match (format, &args.only) {
        (_, Some(name)) if !step.outputs.iter().any(|o| &o.name == name) => {
            tell!("error: `--output-name {name}`: the model has no output `{name}`; its outputs are {names}");
            return ExitCode::FAILURE;
        }
        (_, Some(name)) => Some(name.clone()),
        (Format::Npy, None) if step.outputs.len() > 1 => {
            tell!(
                "error: an .npy file holds one array, and the model has {} outputs ({names}): choose one with `--output-name NAME`, or write .csv",
                step.outputs.len()
            );
            return ExitCode::FAILURE;
        }
        _ => None,
    };
    let Some((_, backend)) = args.source.device() else {
        return ExitCode::FAILURE;
    };
    let trained = model.inference();
    let base = train::base_of(&args.file);
    let split = r.split.as_deref();
    let Some(mut predictions) = or_tell(infer::predict(&step, split, &base, &trained, backend))
    else {
        return ExitCode::FAILURE;
    };
    if let Some(name) = &only {
        predictions.outputs.retain(|(o, ..)| &o.name == name);
    }
    let written = match (&args.output, format) {
        (None, _) => {
            say_raw!("{}", csv(&predictions));
            return ExitCode::SUCCESS;
        }
        (Some(path), Format::Csv) => {
            write(path, csv(&predictions).as_bytes()).map(|()| vec![path.clone()])
        }
        (Some(path), Format::Npy) => npy_files(path, &predictions),
    };
    match written {
        Ok(files) => {
            let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
            tell!(
                "predicted {} samples of `{r}`: {}",
                predictions.samples,
                names.join(", ")
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            tell!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Csv,
    Npy,
}

impl Format {
    fn of(path: &Path) -> Result<Format, String> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("csv") => Ok(Format::Csv),
            Some("npy") => Ok(Format::Npy),
            _ => Err(format!(
                "cannot tell the format of {}: name it `.csv` (every output) or `.npy` (one output)",
                path.display()
            )),
        }
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    dlp_runtime::atomic::write(path, bytes)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// A header (`index`, then a column per output value: `logits_0`, ...,
/// and `logits_class` for class scores), then a row per sample.
fn csv(p: &Predictions) -> String {
    let mut header = vec!["index".to_string()];
    for (o, ..) in &p.outputs {
        header.extend(columns(&o.name, &o.shape));
        if o.classes.is_some() {
            header.push(format!("{}_class", o.name));
        }
    }
    let mut out = header.join(",");
    out.push('\n');
    for i in 0..p.samples {
        let mut row = vec![i.to_string()];
        for (o, dtype, values) in &p.outputs {
            let width = values.len() / p.samples.max(1);
            let sample = &values[i * width..(i + 1) * width];
            row.extend(sample.iter().map(|&v| number(v, *dtype)));
            if o.classes.is_some() {
                row.push(arg_max(sample).to_string());
            }
        }
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}

/// Column names of an output's values: `y` for one value, else the name
/// and each index (`logits_3`, `map_0_2`).
fn columns(name: &str, shape: &[usize]) -> Vec<String> {
    let count: usize = shape.iter().product();
    if shape.is_empty() {
        return vec![name.to_string()];
    }
    (0..count)
        .map(|mut flat| {
            let mut index = vec![0; shape.len()];
            for (slot, &d) in index.iter_mut().zip(shape).rev() {
                *slot = flat % d.max(1);
                flat /= d.max(1);
            }
            let parts: Vec<String> = index.iter().map(usize::to_string).collect();
            format!("{name}_{}", parts.join("_"))
        })
        .collect()
}

/// A value as written: the shortest text that reads back to the same
/// number in the output's dtype.
fn number(v: f64, dtype: DType) -> String {
    match dtype {
        DType::F32 => (v as f32).to_string(),
        DType::F64 => v.to_string(),
        DType::I32 | DType::Bool => (v as i64).to_string(),
    }
}

/// The index of the largest score (the first of equals; NaN never wins).
fn arg_max(scores: &[f64]) -> usize {
    let mut best = 0;
    for (i, &s) in scores.iter().enumerate() {
        if s > scores[best] || scores[best].is_nan() {
            best = i;
        }
    }
    best
}

/// The `.npy` file of the one output left, and for class scores a second
/// file beside it with the arg-max classes (`preds.class.npy`, i64).
fn npy_files(path: &Path, p: &Predictions) -> Result<Vec<PathBuf>, String> {
    let Some((o, dtype, values)) = p.outputs.first() else {
        return Err("the model has no outputs".into());
    };
    let mut shape = vec![p.samples as u64];
    shape.extend(o.shape.iter().map(|&d| d as u64));
    let bytes = match dtype {
        DType::F32 => npy(&shape, values.iter().map(|&v| v as f32)),
        DType::F64 => npy(&shape, values.iter().copied()),
        DType::I32 => npy(&shape, values.iter().map(|&v| v as i32)),
        DType::Bool => npy(&shape, values.iter().map(|&v| v != 0.0)),
    }?;
    write(path, &bytes)?;
    let mut files = vec![path.to_path_buf()];
    if o.classes.is_some() {
        let width = values.len() / p.samples.max(1);
        let classes = (0..p.samples).map(|i| arg_max(&values[i * width..(i + 1) * width]) as i64);
        let class_path = path.with_extension("class.npy");
        write(&class_path, &npy(&[p.samples as u64], classes)?)?;
        files.push(class_path);
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_every_value_of_an_output() {
        assert_eq!(columns("y", &[]), ["y"]);
        assert_eq!(columns("p", &[3]), ["p_0", "p_1", "p_2"]);
        assert_eq!(columns("m", &[2, 2]), ["m_0_0", "m_0_1", "m_1_0", "m_1_1"]);
    }

    #[test]
    fn the_class_is_the_first_largest_score() {
        assert_eq!(arg_max(&[0.1, 2.0, 2.0, -1.0]), 1);
        assert_eq!(arg_max(&[f64::NAN, 0.5]), 1);
    }
}
