//! What the back-end tests share: the example programs compiled, and
//! random values for every input of a step.

#![allow(dead_code)]

use dlp_compiler::ir::{DType, Graph, Hyper, Input};
use dlp_compiler::{compile, lower, CompiledProgram, NoModules};
use dlp_runtime::Tensor;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Every example, the W1 benchmark MLP, and the tours of the standard
/// library written for these tests (`tests/programs/`: every layer, loss,
/// metric, optimiser and schedule).
pub fn programs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files: Vec<_> = std::fs::read_dir(root.join("examples"))
        .expect("examples/")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "dlp"))
        .collect();
    files.sort();
    files.push(root.join("bench/w1_mlp.dlp"));
    for tour in ["dense_tour.dlp", "conv_tour.dlp", "axes_tour.dlp"] {
        files.push(root.join("runtime/tests/programs").join(tour));
    }
    files
}

pub const BATCH: usize = 5;

pub fn compiled(path: &Path) -> CompiledProgram {
    let text = std::fs::read_to_string(path).expect("a readable program");
    let comp = compile(&path.display().to_string(), &text, &mut NoModules);
    assert!(
        !comp.has_errors(),
        "{}: {:?}",
        path.display(),
        comp.diagnostics
    );
    lower::compile(&comp, None).expect("compiles")
}

/// A small deterministic generator.
pub struct Gen(pub u64);

impl Gen {
    pub fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A whole number below `n` (at least 1).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next() * n as f64) as usize).min(n.saturating_sub(1))
    }

    /// One of `from` (not empty).
    pub fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[self.below(from.len())]
    }
}

/// A value for every input of `graph`: labels within their class count,
/// optimiser and model state non-negative (Adam and batch norm take
/// square roots of them), weight matrices and kernels at their
/// initialisers' scale.
pub fn inputs(graph: &Graph, program: &CompiledProgram, gen: &mut Gen) -> HashMap<Input, Tensor> {
    inputs_at(graph, program, gen, BATCH)
}

/// [`inputs`] for a batch of `batch` samples.
pub fn inputs_at(
    graph: &Graph,
    program: &CompiledProgram,
    gen: &mut Gen,
    batch: usize,
) -> HashMap<Input, Tensor> {
    let classes = |feed: &str| {
        program
            .datasets
            .iter()
            .flat_map(|d| &d.feeds)
            .find(|f| f.name == feed)
            .and_then(|f| f.classes)
            .unwrap_or(2)
    };
    let mut values = HashMap::new();
    for (input, id) in graph.inputs() {
        let ty = graph.ty(id);
        let shape = ty.at(batch).expect("small sizes");
        let n: usize = shape.iter().product();
        let value = match (input, ty.dtype) {
            (Input::SampleIndex, _) => {
                Tensor::i32(shape, (0..n as i32).map(|i| i * 3 + 1).collect())
            }
            (Input::Seed, _) => Tensor::scalar_i32(7),
            (Input::Hyper(Hyper::Step), _) => Tensor::scalar_i32(3),
            (Input::Hyper(Hyper::Epoch), _) => Tensor::scalar_i32(2),
            (Input::Hyper(Hyper::Lr), _) => Tensor::scalar_f32(0.01),
            (Input::Feed(name), DType::I32) => {
                let c = classes(name);
                Tensor::i32(
                    shape,
                    (0..n).map(|_| (gen.next() * c as f64) as i32).collect(),
                )
            }
            (Input::OptimizerState { .. } | Input::ModelState(_), DType::F32) => {
                Tensor::f32(shape, (0..n).map(|_| gen.next() as f32).collect())
            }
            // Weights scaled as their initialisers scale them (variance
            // 1/fan-in): unscaled, a wide layer's logits reach hundreds, the
            // softmax saturates, and `p - 1` cancels to a few f32 bits, so
            // back ends that sum in different orders disagree for no fault.
            (Input::Param(_), DType::F32) if shape.len() >= 2 => {
                let (fan_in, _) = dlp_runtime::init::fans(&shape);
                let scale = (3.0 / fan_in).sqrt();
                Tensor::f32(
                    shape,
                    (0..n)
                        .map(|_| ((gen.next() * 2.0 - 1.0) * scale) as f32)
                        .collect(),
                )
            }
            (_, DType::F32) => Tensor::f32(
                shape,
                (0..n).map(|_| gen.next() as f32 * 2.0 - 1.0).collect(),
            ),
            (_, DType::F64) => Tensor::f64(shape, (0..n).map(|_| gen.next() * 2.0 - 1.0).collect()),
            (_, DType::I32) => {
                Tensor::i32(shape, (0..n).map(|_| (gen.next() * 2.0) as i32).collect())
            }
            (_, DType::Bool) => panic!("no bool inputs in these programs"),
        };
        values.insert(input.clone(), value);
    }
    values
}
