//! One optimiser step: a batch through the training graph, and the new
//! parameters and optimiser state it computes.

use super::{Metrics, TrainError};
use crate::data::Samples;
use crate::interp::{Bindings, Interpreter};
use crate::tensor::Tensor;
use dlp_compiler::ir::Graph;
use dlp_compiler::lower::{self, LOSS_OUTPUT, METRIC_PREFIX, PARAM_PREFIX, STATE_PREFIX};
use dlp_compiler::optim::{LR_INPUT, STEP_INPUT};
use std::collections::HashMap;

pub(super) struct Stepper<'g> {
    interp: Interpreter<'g>,
    seed: Tensor,
}

pub(super) struct Stepped {
    pub loss: f64,
    /// The loss first, then the metrics.
    pub metrics: Metrics,
    pub params: HashMap<String, Tensor>,
    pub states: HashMap<String, Tensor>,
}

impl<'g> Stepper<'g> {
    pub fn new(graph: &'g Graph, seed: u64) -> Stepper<'g> {
        Stepper {
            interp: Interpreter::new(graph),
            seed: Tensor::scalar_i32(seed as u32 as i32),
        }
    }

    /// Step number `step` (0-based; dropout draws from it, Adam's bias
    /// correction counts from 1) at learning rate `lr`.
    pub fn run(
        &self,
        batch: &Samples,
        params: &HashMap<String, Tensor>,
        states: &HashMap<String, Tensor>,
        lr: f64,
        step: u64,
    ) -> Result<Stepped, TrainError> {
        let lr = Tensor::scalar_f32(lr as f32);
        let t = Tensor::scalar_f32((step + 1) as f32);
        let counter = Tensor::scalar_i32(step as u32 as i32);
        let mut b = Bindings {
            params: Some(params),
            states: Some(states),
            ..Bindings::default()
        };
        for (name, tensor) in &batch.feeds {
            b.inputs.insert(name, tensor);
        }
        b.inputs.insert(LR_INPUT, &lr);
        b.inputs.insert(STEP_INPUT, &t);
        b.inputs.insert(lower::SEED_INPUT, &self.seed);
        b.inputs.insert(lower::COUNTER_INPUT, &counter);
        let mut out = Stepped {
            loss: f64::NAN,
            metrics: Vec::new(),
            params: HashMap::new(),
            states: HashMap::new(),
        };
        for (name, t) in self.interp.run(&b)? {
            if let Some(p) = name.strip_prefix(PARAM_PREFIX) {
                out.params.insert(p.to_string(), t);
            } else if let Some(s) = name.strip_prefix(STATE_PREFIX) {
                out.states.insert(s.to_string(), t);
            } else if name == LOSS_OUTPUT {
                out.loss = t.item();
                out.metrics.insert(0, ("loss".into(), out.loss));
            } else if let Some(m) = name.strip_prefix(METRIC_PREFIX) {
                out.metrics.push((m.to_string(), t.item()));
            }
        }
        Ok(out)
    }
}
