//! Fused and planned against plain: every step of every example (and of
//! the W1 benchmark MLP), cut into kernels and given a memory plan, run
//! kernel by kernel with each result kept only in its planned place
//! (`Interpreter::run_planned`), gives bit for bit what the plain
//! interpreter gives, on random inputs at a batch size the program never
//! names. A kernel missing a node, a schedule out of order or a slot
//! reused too early shows as an error or a different number.

use dlp_compiler::fuse;
use dlp_compiler::ir::{DType, Graph, Hyper, Input, Op};
use dlp_compiler::plan;
use dlp_compiler::{compile, lower, CompiledProgram, NoModules};
use dlp_runtime::interp::Interpreter;
use dlp_runtime::Tensor;
use std::collections::HashMap;
use std::path::Path;

const BATCH: usize = 5;

fn compiled(path: &Path) -> CompiledProgram {
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
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A value for every input of `graph`: labels within their class count,
/// optimiser state non-negative (Adam takes its square root).
fn inputs(graph: &Graph, program: &CompiledProgram, gen: &mut Gen) -> HashMap<Input, Tensor> {
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
        let shape = ty.at(BATCH).expect("small sizes");
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
            (Input::OptimizerState { .. }, DType::F32) => {
                Tensor::f32(shape, (0..n).map(|_| gen.next() as f32).collect())
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

#[test]
fn every_planned_step_gives_what_the_plain_interpreter_gives() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files: Vec<_> = std::fs::read_dir(root.join("examples"))
        .expect("examples/")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "dlp"))
        .collect();
    files.sort();
    files.push(root.join("bench/w1_mlp.dlp"));
    let mut gen = Gen(11);
    let mut steps = 0;
    for path in &files {
        let program = compiled(path);
        for (title, step) in program.steps() {
            let values = inputs(step.graph(), &program, &mut gen);
            let lookup = |i: &Input| values.get(i);
            let interp = Interpreter::new(step);
            let plain = interp.run(BATCH, &lookup).expect("the plain run");
            let kernels = fuse::fuse(step);
            let plan = plan::plan(step, &kernels);
            let planned = interp
                .run_planned(&kernels, &plan, BATCH, &lookup)
                .unwrap_or_else(|e| panic!("{}, {title}: {e}", path.display()));
            assert_eq!(plain, planned, "{}, {title}", path.display());
            assert!(
                step.graph()
                    .nodes
                    .iter()
                    .any(|n| matches!(n.op, Op::Input(_))),
                "a step reads something"
            );
            steps += 1;
        }
    }
    assert!(steps >= 20, "only {steps} steps checked");
}
