//! What `dlpc summary` shows before any data is read: a model's layers as
//! the program wrote them (each statement of the model's body, with the
//! instances it created, its output type at the batch size, its parameters
//! and its operations), totals, and the memory training and inference plan
//! for (see [`memory`]).

pub mod flops;
pub mod memory;

use crate::lower::{self, LowerError};
use crate::Compilation;
use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub train: String,
    /// The model as the train block writes it (`Mlp(hidden = 256)`).
    pub model: String,
    pub batch: usize,
    pub layers: Vec<Layer>,
    /// Trained parameters (values).
    pub parameters: u64,
    /// The model's forward pass, per sample.
    pub forward_flops_per_sample: u64,
    /// Forward, loss, metrics, backward and update of one step, per sample.
    pub train_flops_per_sample: u64,
    pub training_memory: memory::Estimate,
    pub inference_memory: Inference,
}

/// One statement of the model's body.
#[derive(Clone, Debug, Serialize)]
pub struct Layer {
    /// The name it binds (`h`; `h.2` in a `repeat`'s third pass).
    pub name: String,
    /// The instances whose parameters it declared, by path prefix (`h`),
    /// as checkpoints name them.
    pub instances: Vec<String>,
    /// Its expression as written.
    pub call: String,
    /// Its value's type at the batch size (`f32[64, 256]`), if a tensor.
    pub output: Option<String>,
    pub parameters: u64,
    pub flops_per_sample: u64,
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct Inference {
    pub parameters: u64,
    /// The largest evaluation step's temporaries and batch.
    pub activations: u64,
    pub batch: usize,
}

impl Inference {
    pub fn total(&self) -> u64 {
        self.parameters.saturating_add(self.activations)
    }
}

/// `1,234,567`.
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The summary of train block `block` (the first when `None`) at batch
/// size `batch` (the block's when `None`).
pub fn summarize(
    comp: &Compilation,
    block: Option<&str>,
    batch: Option<usize>,
) -> Result<Summary, LowerError> {
    let (forward, plan, rows) = lower::model_rows(comp, block)?;
    let program = lower::compile(comp, Some(&plan.name))?;
    let batch = batch.unwrap_or(plan.batch).max(1);
    let needed = flops::needed(&forward);
    let per_sample = |total: u64| total / batch as u64;
    let layers: Vec<Layer> = rows
        .iter()
        .map(|row| {
            let flops: u64 = (row.nodes.0..row.nodes.1)
                .filter(|&i| needed[i])
                .map(|i| flops::of_node(&forward, crate::ir::NodeId(i as u32), batch))
                .sum();
            let declared = &plan.params[row.params.0..row.params.1];
            let mut instances: Vec<String> = Vec::new();
            for p in declared {
                let instance = p.path.rsplit_once('.').map_or("", |(i, _)| i).to_string();
                if !instances.contains(&instance) {
                    instances.push(instance);
                }
            }
            Layer {
                name: row.name.clone(),
                instances,
                call: row.call.clone(),
                output: row.value.and_then(|n| {
                    let ty = forward.ty(n);
                    let shape = ty.at(batch)?;
                    Some(crate::ir::TensorTy::fixed(ty.dtype, &shape).to_string())
                }),
                parameters: declared
                    .iter()
                    .filter(|p| !p.state)
                    .map(|p| p.shape.iter().product::<usize>() as u64)
                    .sum(),
                flops_per_sample: per_sample(flops),
            }
        })
        .collect();
    let train_flops = flops::of_graph(program.train.gradients.graph(), batch)
        + flops::of_graph(program.train.update.graph(), batch);
    let (parameters_bytes, activations) = memory::inference(&program, batch);
    Ok(Summary {
        train: plan.name.clone(),
        model: plan.model.clone(),
        batch,
        parameters: plan
            .params
            .iter()
            .filter(|p| !p.state)
            .map(|p| p.shape.iter().product::<usize>() as u64)
            .sum(),
        forward_flops_per_sample: layers.iter().map(|l| l.flops_per_sample).sum(),
        train_flops_per_sample: per_sample(train_flops),
        training_memory: memory::training(&program, batch),
        inference_memory: Inference {
            parameters: parameters_bytes,
            activations,
            batch,
        },
        layers,
    })
}
