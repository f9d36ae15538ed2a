//! `dlpc eval`: a trained model's loss and metrics on any data of its
//! program, from a recorded run's checkpoint.

use crate::trained::{self, or_tell};
use dlp_compiler::lower;
use dlp_compiler::program::DataRef;
use dlp_runtime::train::{self, infer, Metrics};
use std::path::PathBuf;
use std::process::ExitCode;

pub struct Args {
    pub file: PathBuf,
    pub source: trained::Source,
    pub data: Vec<String>,
    pub json: bool,
}

pub fn run(args: Args) -> ExitCode {
    let started = std::time::Instant::now();
    dlp_runtime::cpu::include_this_thread();
    let Some(model) = trained::load(&args.file, &args.source) else {
        return ExitCode::FAILURE;
    };
    let plan = &model.program.plan;
    // By default, what the run itself reported on at its end.
    let sets: Vec<DataRef> = if args.data.is_empty() {
        if plan.final_sets.is_empty() {
            vec![plan.data.clone()]
        } else {
            plan.final_sets.clone()
        }
    } else {
        let refs: Option<Vec<DataRef>> = args
            .data
            .iter()
            .map(|d| trained::data_ref(&model.comp, d))
            .collect();
        let Some(refs) = refs else {
            return ExitCode::FAILURE;
        };
        refs
    };
    // One evaluation step per dataset, compiled (and its fields checked
    // against the model and the loss) before any data is read.
    let mut steps = Vec::new();
    for r in &sets {
        if steps
            .iter()
            .any(|(_, spec): &(_, dlp_compiler::program::DatasetSpec)| spec.name == r.dataset)
        {
            continue;
        }
        let step = lower::eval_step(&model.comp, Some(&plan.name), &r.dataset)
            .and_then(|step| lower::unmeasured(&step.0.step, plan, &r.dataset).map(|()| step));
        match step {
            Ok(step) => steps.push(step),
            Err(e) => {
                trained::report(&model.comp, &e);
                tell!("error: `{}` cannot be evaluated on `{r}`", plan.name);
                return ExitCode::FAILURE;
            }
        }
    }
    for r in &sets {
        let Some((_, spec)) = steps.iter().find(|(_, s)| s.name == r.dataset) else {
            continue;
        };
        if !trained::split_exists(spec, r) {
            return ExitCode::FAILURE;
        }
    }
    let Some((device, backend)) = args.source.device() else {
        return ExitCode::FAILURE;
    };
    tell!(
        "evaluating `{}` from {} on {} ({device})",
        plan.name,
        model.checkpoint.display(),
        sets.iter()
            .map(|r| format!("`{r}`"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let trained = model.inference();
    let base = train::base_of(&args.file);
    let evaluated = infer::evaluate(&steps, &plan.pass_metrics, &sets, &base, &trained, backend);
    let Some(results) = or_tell(evaluated) else {
        return ExitCode::FAILURE;
    };
    if args.json {
        let mut out = serde_json::Map::new();
        for e in &results {
            let mut m: serde_json::Map<String, serde_json::Value> = e
                .metrics
                .iter()
                .map(|(n, v)| (n.clone(), serde_json::json!(v)))
                .collect();
            for (name, counts) in &e.matrices {
                m.insert(name.clone(), serde_json::json!(counts));
            }
            out.insert(e.data.clone(), serde_json::Value::Object(m));
        }
        say!("{}", serde_json::Value::Object(out));
    } else {
        let table: Vec<(String, Metrics)> = results
            .iter()
            .map(|e| (e.data.clone(), e.metrics.clone()))
            .collect();
        crate::run::print_table(&table);
        for e in &results {
            for (name, counts) in &e.matrices {
                say!(
                    "\n{name} on {} (rows: labelled class, columns: predicted class)",
                    e.data
                );
                say!("{}", crate::run::matrix_text(counts));
            }
        }
    }
    tell!("evaluated in {:.2} s", started.elapsed().as_secs_f64());
    ExitCode::SUCCESS
}
