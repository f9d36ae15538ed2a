//! What `dlpc eval`, `dlpc predict` and `dlpc run --init-from` share: a
//! program, a recorded run of it, and one of the run's checkpoints,
//! checked against the program from the checkpoint's header before any
//! data is read.

use crate::{overrides, program};
use dlp_compiler::program::{DataRef, DatasetSpec};
use dlp_compiler::{Compilation, CompiledProgram};
use dlp_runtime::backend::Backend;
use dlp_runtime::checkpoint;
use dlp_runtime::data::Vocabulary;
use dlp_runtime::tensor::Tensor;
use dlp_runtime::train::{self, infer, RecordedRun};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A checked program with the trained parameters of one of its runs.
pub struct Trained {
    pub comp: Compilation,
    pub program: CompiledProgram,
    pub run: RecordedRun,
    pub checkpoint: PathBuf,
    pub params: HashMap<String, Tensor>,
    /// How the parameters' characters were numbered, if they read
    /// character-level text (recorded in the checkpoint).
    pub vocabulary: Option<Vocabulary>,
}

impl Trained {
    /// What computing with the trained parameters takes.
    pub fn inference(&self) -> infer::Trained<'_> {
        infer::Trained {
            params: &self.params,
            seed: self.run.seed,
            vocabulary: self.vocabulary.as_ref(),
        }
    }
}

/// Where trained parameters come from, and what computes with them: the
/// options `dlpc eval` and `dlpc predict` share.
#[derive(clap::Args)]
pub struct Source {
    /// The recorded run (runs/<id>, or its id).
    #[arg(long)]
    pub from: PathBuf,
    /// Which checkpoint: `last`, `best`, `epoch-N`, or a `.safetensors`
    /// file (default: `best` when the run kept one, else `last`: the
    /// parameters its final evaluation reported on).
    #[arg(long)]
    pub checkpoint: Option<String>,
    /// Which train block's model, loss and metrics (the run's if omitted).
    #[arg(long)]
    pub train: Option<String>,
    /// Where to compute: `cpu`, `gpu` or `auto` (the default).
    #[arg(long)]
    pub device: Option<String>,
    /// What runs the steps on the CPU: `cpu` or `interp`.
    #[arg(long, default_value = "cpu", value_parser = ["cpu", "interp"])]
    pub backend: String,
    /// Where run records are.
    #[arg(long, default_value = "runs")]
    pub runs: PathBuf,
}

impl Source {
    /// The device and back end to compute on; `None` after printing why not.
    pub fn device(&self) -> Option<(String, Backend)> {
        let backend = Backend::from_name(&self.backend).unwrap_or_default();
        let requested = self.device.as_deref().unwrap_or("auto");
        or_tell(train::choose_device(requested, backend))
    }
}

/// The program at `file`, compiled for the train block `--train` (else the
/// one the run trained), and the parameters of the run's checkpoint;
/// `None` after printing why not.
pub fn load(file: &Path, from: &Source) -> Option<Trained> {
    let run = or_tell(train::recorded_run(&from.from, &from.runs))?;
    let block = from.train.clone().unwrap_or_else(|| run.train.clone());
    // The run's `--set`s shaped its model (`model.hidden=512`): they apply
    // to the program again.
    let assignments = or_tell(train::recorded_overrides(&run.dir))?;
    let text = match program::read(file) {
        Ok(text) => text,
        Err(message) => {
            tell!("{message}");
            return None;
        }
    };
    let (text, applied) = or_tell(overrides::apply(&text, Some(&block), &assignments))?;
    if !assignments.is_empty() {
        let sets: Vec<String> = assignments
            .iter()
            .map(|(k, v)| format!("--set {k}={v}"))
            .collect();
        tell!("with the run's overrides: {}", sets.join(" "));
    }
    let explain = |d, root| overrides::explain(d, root, &applied);
    let comp = program::load_text(file, &text, &explain)?;
    let program = program::compiled_explained(&comp, Some(&block), &explain)?;
    let checkpoint = or_tell(train::checkpoint_of(&run, from.checkpoint.as_deref()))?;
    or_tell(train::check_fits(&checkpoint, &program.plan))?;
    let loaded = or_tell(checkpoint::load(&checkpoint))?;
    let vocabulary = or_tell(train::vocabulary_of(&loaded.meta, &checkpoint))?;
    Some(Trained {
        comp,
        program,
        run,
        checkpoint,
        params: loaded.params,
        vocabulary,
    })
}

/// The value, or `None` after printing the error.
pub fn or_tell<T, E: std::fmt::Display>(r: Result<T, E>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            tell!("error: {e}");
            None
        }
    }
}

/// `digits.test` or `digits` as data of the program: a dataset it declares
/// (whether the split exists is known once its spec is: [`split_exists`]);
/// `None` after printing why not.
pub fn data_ref(comp: &Compilation, text: &str) -> Option<DataRef> {
    let (dataset, split) = match text.split_once('.') {
        Some((d, s)) => (d, Some(s.to_string())),
        None => (text, None),
    };
    if dlp_compiler::resolve::dataset_named(&comp.program, dataset).is_none() {
        let names: Vec<String> = comp
            .program
            .modules
            .iter()
            .flat_map(|m| &m.ast.items)
            .filter_map(|i| match i {
                dlp_grammar::ast::Item::Dataset(d) => Some(format!("`{}`", d.name.name)),
                _ => None,
            })
            .collect();
        tell!(
            "error: `--data {text}`: the program has no dataset `{dataset}`; its datasets are {}",
            names.join(", ")
        );
        return None;
    }
    Some(DataRef {
        dataset: dataset.to_string(),
        split,
    })
}

/// Reports a lowering error of `comp` (a step that cannot be made for
/// the data asked for).
pub fn report(comp: &Compilation, e: &dlp_compiler::lower::LowerError) {
    if e.loc.is_none() {
        tell!("error: {}", e.message);
        return;
    }
    let fallback = dlp_compiler::Loc::new(comp.program.modules[0].file, Default::default());
    program::report(comp, &e.diagnostic(fallback));
}

/// `` `a`, `b` `` for messages.
pub fn quoted<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    names
        .into_iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether the split `r` names (if any) is one of `spec`'s; if not, says so.
pub fn split_exists(spec: &DatasetSpec, r: &DataRef) -> bool {
    let Some(split) = &r.split else {
        return true;
    };
    let splits = spec.split_names();
    if splits.contains(split) {
        return true;
    }
    let names: Vec<String> = splits
        .iter()
        .map(|s| format!("`{}.{s}`", r.dataset))
        .collect();
    tell!(
        "error: `--data {r}`: dataset `{}` has no split `{split}`{}",
        r.dataset,
        if names.is_empty() {
            " (it is not split)".to_string()
        } else {
            format!("; its splits are {}", names.join(", "))
        }
    );
    false
}
