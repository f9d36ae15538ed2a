//! What every case uses: what a case is, deterministic values, running a
//! graph in the interpreter, comparing with stated tolerances, and the
//! finite-difference gradient check.

use dlp_compiler::autodiff::backward;
use dlp_compiler::ir::{verify, BinaryOp, Builder, DType, Input, NodeId, Op, Output, ReduceOp};
use dlp_compiler::ir::{Size, TensorTy};
use dlp_runtime::interp::{Interpreter, RunError};
use dlp_runtime::tensor::HostTy;
use dlp_runtime::{Data, Tensor};
use std::collections::HashMap;

/// One check of an op: runs it and says how many values (or partial
/// derivatives) it compared.
pub type Check = Box<dyn Fn(&mut Gen) -> usize>;

/// What the suite checks of one op.
pub struct Case {
    /// The interpreter against a reference computed in the test itself
    /// (and, for the elementwise ops, constant folding against the
    /// interpreter, bit for bit).
    pub reference: Check,
    pub gradient: Gradient,
}

/// How an op's derivative is checked, or why it is not.
pub enum Gradient {
    /// Autodiff against central finite differences.
    FiniteDifferences(Check),
    /// Autodiff against exact expected values.
    Exact(Check),
    /// A gradient op: autodiff must refuse to differentiate it (second
    /// derivatives are not supported), and the check confirms it does.
    Refused(Check),
    /// No derivative, for the reason given.
    None(&'static str),
}

impl Case {
    pub fn new(reference: impl Fn(&mut Gen) -> usize + 'static, gradient: Gradient) -> Case {
        Case {
            reference: Box::new(reference),
            gradient,
        }
    }
}

impl Gradient {
    pub fn fd(check: impl Fn(&mut Gen) -> usize + 'static) -> Gradient {
        Gradient::FiniteDifferences(Box::new(check))
    }
}

/// A small deterministic generator (the tests must not depend on a seed
/// that changes between runs).
pub struct Gen(u64);

impl Gen {
    /// A generator of its own for each op (FNV-1a of its text), so that
    /// adding an op to the catalogue changes no other op's values.
    pub fn for_op(op: &Op) -> Gen {
        let hash = op.text().bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        Gen(hash)
    }

    pub fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn size(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() * (hi - lo + 1) as f64) as usize % (hi - lo + 1)
    }

    pub fn values(&mut self, n: usize, lo: f64, hi: f64) -> Vec<f64> {
        (0..n).map(|_| lo + (hi - lo) * self.next()).collect()
    }

    pub fn tensor(&mut self, shape: &[usize], lo: f64, hi: f64) -> Tensor {
        let n = shape.iter().product();
        Tensor::f64(shape.to_vec(), self.values(n, lo, hi))
    }

    /// Like [`Gen::tensor`], with every other element negated: both signs,
    /// as far from zero as `lo`.
    pub fn mirrored(&mut self, shape: &[usize], lo: f64, hi: f64) -> Tensor {
        let t = self.tensor(shape, lo, hi);
        let v = t.to_f64().into_iter().enumerate();
        Tensor::f64(
            t.shape,
            v.map(|(i, x)| if i % 2 == 0 { x } else { -x }).collect(),
        )
    }

    /// A shape of `rank` axes, each of 1 to 4.
    pub fn shape(&mut self, rank: usize) -> Vec<usize> {
        (0..rank).map(|_| self.size(1, 4)).collect()
    }
}

/// Fixed sizes.
pub fn sz(shape: &[usize]) -> Vec<Size> {
    shape.iter().map(|&d| Size::fixed(d)).collect()
}

/// The fixed sizes of a type's shape.
pub fn dims(ty: &TensorTy) -> Vec<usize> {
    ty.at(1).expect("fixed sizes")
}

/// A tensor of `dtype` holding `values` (integers truncated, bools
/// nonzero).
pub fn tensor(dtype: DType, shape: &[usize], values: Vec<f64>) -> Tensor {
    Tensor::from_f64(&HostTy::new(dtype, shape.to_vec()), values)
}

/// Every coordinate of `shape`, in row-major order.
pub fn coords(shape: &[usize]) -> Vec<Vec<usize>> {
    let mut all = vec![vec![]];
    for &d in shape {
        all = all
            .into_iter()
            .flat_map(|c| {
                (0..d).map(move |i| {
                    let mut c = c.clone();
                    c.push(i);
                    c
                })
            })
            .collect();
    }
    all
}

/// The row-major flat index of `coord` in `shape`.
pub fn flat(shape: &[usize], coord: &[usize]) -> usize {
    shape.iter().zip(coord).fold(0, |acc, (&d, &c)| acc * d + c)
}

/// Builds a graph whose nodes read `inputs` (each with its type), whose
/// one output is the node `build` returns, and runs it at `batch`.
pub fn run(
    batch: usize,
    inputs: &[(Input, TensorTy, &Tensor)],
    build: impl FnOnce(&mut Builder, &[NodeId]) -> NodeId,
) -> Result<Tensor, RunError> {
    let mut b = Builder::new();
    let nodes: Vec<NodeId> = inputs
        .iter()
        .map(|(i, ty, _)| b.input(i.clone(), ty.clone()))
        .collect();
    let out = build(&mut b, &nodes);
    b.set_output(Output::MetricSum("out".into()), out);
    let g = verify(b.finish()).unwrap_or_else(|e| panic!("{e:?}"));
    let values: HashMap<&Input, &Tensor> = inputs.iter().map(|(i, _, t)| (i, *t)).collect();
    let lookup = |i: &Input| values.get(i).copied();
    let outputs = Interpreter::new(&g).run(batch, &lookup);
    if ON_GPU.with(|on| on.get()) {
        compare_on_gpu(&g, batch, &lookup, &outputs);
    }
    Ok(outputs?.remove(0).1)
}

thread_local! {
    /// Whether [`run`] also runs each graph on the GPU and holds it to the
    /// interpreter's result (the GPU conformance test sets it).
    pub static ON_GPU: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The GPU's result within [`gpu_tolerance`] of the interpreter's, or an
/// error where the interpreter has one.
fn compare_on_gpu(
    g: &dlp_compiler::ir::Verified,
    batch: usize,
    lookup: &dlp_runtime::interp::Inputs,
    want: &Result<Vec<(Output, Tensor)>, RunError>,
) {
    let mut step = dlp_runtime::gpu::GpuStep::named(g, "op").expect("a GPU step");
    let got = step.run(batch, lookup);
    let ir = dlp_compiler::ir::print::text(g.graph());
    match (want, got) {
        (Ok(want), Ok(got)) => {
            let (want, got) = (&want[0].1, &got[0].1);
            assert_eq!(got.dtype(), want.dtype(), "GPU dtype of\n{ir}");
            assert_eq!(got.shape, want.shape, "GPU shape of\n{ir}");
            let tol = gpu_tolerance(want.dtype());
            for (i, (g, w)) in got.to_f64().iter().zip(want.to_f64()).enumerate() {
                assert!(
                    close(*g, w, tol),
                    "GPU element {i} is {g}, the interpreter's {w}, of\n{ir}"
                );
            }
        }
        (Err(_), Err(_)) => {}
        (Ok(_), Err(e)) => panic!("the GPU fails ({e}) where the interpreter runs\n{ir}"),
        (Err(e), Ok(_)) => panic!("the GPU runs where the interpreter fails ({e})\n{ir}"),
    }
}

/// The GPU computes f64 in f32, and WGSL allows its `sin`, `cos`, `exp`,
/// `log` a few ulps (`sin`, `cos`: 2^-11 absolute on [-pi, pi]): 1e-3
/// relative (absolute below 1) holds every op; integers and bools exact.
pub fn gpu_tolerance(dtype: DType) -> f64 {
    match dtype {
        DType::F32 | DType::F64 => 1e-3,
        DType::I32 | DType::Bool => 0.0,
    }
}

/// [`run`] at batch 1 on feeds `x0, x1, ..` holding `args`.
pub fn try_apply(
    args: &[Tensor],
    build: impl FnOnce(&mut Builder, &[NodeId]) -> NodeId,
) -> Result<Tensor, RunError> {
    let inputs: Vec<(Input, TensorTy, &Tensor)> = args
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let ty = TensorTy::fixed(t.dtype(), &t.shape);
            (Input::Feed(format!("x{i}")), ty, t)
        })
        .collect();
    run(1, &inputs, build)
}

pub fn apply(args: &[Tensor], build: impl FnOnce(&mut Builder, &[NodeId]) -> NodeId) -> Tensor {
    try_apply(args, build).unwrap_or_else(|e| panic!("{e}"))
}

/// `op` on `args`, typed `given` where the operands do not imply it.
pub fn apply_op(op: &Op, args: &[Tensor], given: TensorTy) -> Tensor {
    apply(args, |b, x| b.add(op.clone(), x, given))
}

/// The relative tolerance of a result against a reference computed in
/// f64 (relative to the reference, or absolute below 1): references sum
/// in another order than the interpreter, so f64 results may differ by a
/// few ulps of the sums (1e-12 is far below any real mistake and far above
/// rounding on these sizes); f32 results are one rounding (or a few ulps
/// of libm's f32 functions) from the f64 reference, 2^-23 = 1.2e-7 each;
/// integers and bools are exact.
pub fn tolerance(dtype: DType) -> f64 {
    match dtype {
        DType::F64 => 1e-12,
        DType::F32 => 1e-6,
        DType::I32 | DType::Bool => 0.0,
    }
}

/// NaN matches NaN and an infinity itself.
pub fn close(got: f64, want: f64, tol: f64) -> bool {
    got == want
        || (got.is_nan() && want.is_nan())
        || (got - want).abs() <= tol * want.abs().max(1.0)
}

/// `got` has `want`'s dtype and shape and, element by element, its values
/// within [`tolerance`]; returns how many values it compared.
pub fn assert_matches(what: &str, got: &Tensor, want: &Tensor) -> usize {
    assert_eq!(got.dtype(), want.dtype(), "{what}: dtype");
    assert_eq!(got.shape, want.shape, "{what}: shape");
    let tol = tolerance(want.dtype());
    let (g, w) = (got.to_f64(), want.to_f64());
    for (i, (&g, &w)) in g.iter().zip(&w).enumerate() {
        assert!(
            close(g, w, tol),
            "{what}: element {i} is {g}, the reference says {w}"
        );
    }
    w.len()
}

/// Element types of host tensors, for bit-exact comparisons.
pub trait Elem: Copy + std::fmt::Debug {
    fn tensor(values: Vec<Self>) -> Tensor;
    fn of(t: &Tensor) -> &[Self];
    /// The value's bits (a NaN's sign and payload included).
    fn bits(self) -> u64;
}

macro_rules! elem {
    ($t:ty, $variant:ident, $bits:expr) => {
        impl Elem for $t {
            fn tensor(values: Vec<$t>) -> Tensor {
                Tensor::new(vec![values.len()], Data::$variant(values))
            }
            fn of(t: &Tensor) -> &[$t] {
                match &t.data {
                    Data::$variant(v) => v,
                    other => panic!("expected {}, got {other:?}", stringify!($t)),
                }
            }
            fn bits(self) -> u64 {
                $bits(self)
            }
        }
    };
}

elem!(f32, F32, |x: f32| u64::from(x.to_bits()));
elem!(f64, F64, f64::to_bits);
elem!(i32, I32, |x: i32| x as u32 as u64);
elem!(bool, Bool, u64::from);

/// d/dp sum(build(p) * w), for every parameter `p` and a fixed random `w`
/// (so every output element's gradient matters), by autodiff against
/// central differences with h = 1e-6, in f64. The truncation error is
/// O(h^2) ~ 1e-12 and the rounding error ~ eps * |loss| / h ~ 1e-9, so
/// `1e-6 + 1e-5 |numeric|` only fails on a wrong rule. Returns how many
/// partial derivatives it compared.
pub fn check(
    name: &str,
    gen: &mut Gen,
    params: Vec<Tensor>,
    build: impl Fn(&mut Builder, &[NodeId]) -> NodeId,
) -> usize {
    let mut g = Builder::new();
    let nodes = param_nodes(&mut g, &params);
    let out = build(&mut g, &nodes);
    let out_shape = dims(g.ty(out));
    let w_node = g.input(
        Input::Feed("w".into()),
        TensorTy::fixed(DType::F64, &out_shape),
    );
    let prod = g.binary(BinaryOp::Mul, out, w_node);
    let loss = g.reduce(ReduceOp::Sum, prod, (0..out_shape.len()).collect());
    let grads = backward(&mut g, loss, &nodes).unwrap_or_else(|e| panic!("{name}: {e}"));
    g.set_output(Output::LossSum, loss);
    for (i, gr) in grads.iter().enumerate() {
        g.set_output(Output::Gradient(format!("p{i}")), *gr);
    }
    let g = verify(g.finish()).unwrap_or_else(|e| panic!("{name}: {e:?}"));
    let w = gen.tensor(&out_shape, -1.0, 1.0);
    let run = |values: &[Tensor]| -> Vec<(Output, Tensor)> {
        let params: HashMap<String, &Tensor> = values
            .iter()
            .enumerate()
            .map(|(i, t)| (format!("p{i}"), t))
            .collect();
        Interpreter::new(&g)
            .run(1, &|i| match i {
                Input::Param(p) => params.get(p).copied(),
                Input::Feed(_) => Some(&w),
                _ => None,
            })
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let outputs = run(&params);
    let loss_of = |values: &[Tensor]| run(values)[0].1.item();
    let h = 1e-6;
    let mut compared = 0;
    for (i, p) in params.iter().enumerate() {
        let analytic = outputs[i + 1].1.to_f64();
        let base = p.to_f64();
        for j in 0..base.len() {
            let moved = |by: f64| {
                let mut v = base.clone();
                v[j] += by;
                let mut all = params.clone();
                all[i] = Tensor::f64(p.shape.clone(), v);
                loss_of(&all)
            };
            let numeric = (moved(h) - moved(-h)) / (2.0 * h);
            let err = (analytic[j] - numeric).abs();
            assert!(
                err <= 1e-6 + 1e-5 * numeric.abs(),
                "{name}: d/dp{i}[{j}] is {} by autodiff, {numeric} by finite differences (shape {:?})",
                analytic[j],
                p.shape
            );
            compared += 1;
        }
    }
    compared
}

fn param_nodes(g: &mut Builder, params: &[Tensor]) -> Vec<NodeId> {
    params
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let ty = TensorTy::fixed(t.dtype(), &t.shape);
            g.input(Input::Param(format!("p{i}")), ty)
        })
        .collect()
}

/// Autodiff refuses to differentiate `build(p)`: it is a gradient op,
/// whose derivative would be a second derivative.
pub fn assert_refused(
    name: &str,
    params: Vec<Tensor>,
    build: impl Fn(&mut Builder, &[NodeId]) -> NodeId,
) -> usize {
    let mut g = Builder::new();
    let nodes = param_nodes(&mut g, &params);
    let out = build(&mut g, &nodes);
    let axes = (0..g.ty(out).rank()).collect();
    let loss = g.reduce(ReduceOp::Sum, out, axes);
    match backward(&mut g, loss, &nodes) {
        Err(e) => assert!(e.contains("second derivatives"), "{name}: {e}"),
        Ok(_) => panic!("{name}: autodiff differentiated a gradient op"),
    }
    1
}
