//! The elementwise ops. Each unary and binary op runs on every dtype it
//! takes against a reference written here (in f64; erf from a table), and
//! its scalar rule (what constant folding computes) must give bit for bit
//! what the interpreter gives; then `select` and `cast`.

use super::harness::{apply, assert_matches, check, sz, tensor, Case, Elem, Gen, Gradient};
use dlp_compiler::autodiff::backward;
use dlp_compiler::ir::scalar::Num;
use dlp_compiler::ir::{verify, BinaryOp, Builder, DType, Input, NodeId, Op, Output, ReduceOp};
use dlp_compiler::ir::{TensorTy, UnaryOp};
use dlp_runtime::interp::Interpreter;
use dlp_runtime::{Data, Tensor};

/// Unary operands: both signs, zero, and where erf is tabulated.
const UNARY_FLOATS: [f64; 9] = [-2.0, -1.0, -0.5, 0.0, 0.25, 0.5, 1.0, 1.5, 3.0];
/// erf at [`UNARY_FLOATS`] (Python's `math.erf`, correctly rounded), which
/// `libm::erf` must give.
const ERF: [f64; 9] = [
    -0.995_322_265_018_952_7,
    -0.842_700_792_949_714_9,
    -0.520_499_877_813_046_5,
    0.0,
    0.276_326_390_168_236_9,
    0.520_499_877_813_046_5,
    0.842_700_792_949_714_9,
    0.966_105_146_475_310_8,
    0.999_977_909_503_001_4,
];
const UNARY_INTS: [i32; 7] = [-7, -2, -1, 0, 1, 3, 100];

/// Binary operands: both signs, zeros, ties, a zero divisor.
const FLOAT_PAIRS: [(f64, f64); 12] = [
    (-7.0, 2.0),
    (7.0, -2.0),
    (-7.0, -2.0),
    (7.0, 2.0),
    (6.0, 3.0),
    (0.0, 3.0),
    (0.0, -1.5),
    (-2.5, 1.5),
    (2.0, 0.5),
    (3.0, -1.0),
    (1.5, 1.5),
    (-1.0, 0.0),
];
const INT_PAIRS: [(i32, i32); 11] = [
    (-7, 2),
    (7, -2),
    (-7, -2),
    (7, 2),
    (6, 3),
    (0, 3),
    (-3, 2),
    (2, 10),
    (3, -1),
    (4, 4),
    (5, 0),
];
const BOOL_PAIRS: [(bool, bool); 4] = [(false, false), (false, true), (true, false), (true, true)];

fn truth(t: bool) -> f64 {
    f64::from(u8::from(t))
}

fn unary_reference(u: UnaryOp, x: f64) -> f64 {
    match u {
        UnaryOp::Neg => -x,
        UnaryOp::Exp => x.exp(),
        UnaryOp::Log => x.ln(),
        UnaryOp::Sqrt => x.sqrt(),
        UnaryOp::Abs => x.abs(),
        UnaryOp::Tanh => x.tanh(),
        UnaryOp::Sin => x.sin(),
        UnaryOp::Cos => x.cos(),
        UnaryOp::Erf => {
            let at = UNARY_FLOATS.iter().position(|&p| p == x);
            ERF[at.expect("erf is tabulated at the unary operands")]
        }
        UnaryOp::Sign => truth(x > 0.0) - truth(x < 0.0),
        UnaryOp::Not => truth(x == 0.0),
    }
}

/// `int`: the operands are integers (division rounds down, a zero divisor
/// gives 0, and a negative exponent counts as 0, as `ir::scalar` says).
fn binary_reference(b: BinaryOp, x: f64, y: f64, int: bool) -> f64 {
    match b {
        BinaryOp::Add => x + y,
        BinaryOp::Sub => x - y,
        BinaryOp::Mul => x * y,
        BinaryOp::Div if int => {
            if y == 0.0 {
                0.0
            } else {
                (x / y).floor()
            }
        }
        BinaryOp::Div => x / y,
        BinaryOp::Rem if int && y == 0.0 => 0.0,
        BinaryOp::Rem => floored_rem(x, y),
        BinaryOp::Pow if int => (0..y.max(0.0) as i32).fold(1.0, |p, _| p * x),
        BinaryOp::Pow => x.powf(y),
        BinaryOp::Max => x.max(y),
        BinaryOp::Min => x.min(y),
        BinaryOp::Eq => truth(x == y),
        BinaryOp::Ne => truth(x != y),
        BinaryOp::Lt => truth(x < y),
        BinaryOp::Le => truth(x <= y),
        BinaryOp::Gt => truth(x > y),
        BinaryOp::Ge => truth(x >= y),
        BinaryOp::And => truth(x != 0.0 && y != 0.0),
    }
}

/// The remainder with the divisor's sign, from Rust's truncated `%`.
fn floored_rem(x: f64, y: f64) -> f64 {
    let r = x % y;
    if r != 0.0 && (r < 0.0) != (y < 0.0) {
        r + y
    } else {
        r
    }
}

fn unary_takes(u: UnaryOp, dtype: DType) -> bool {
    match dtype {
        DType::F32 => u.float(1f32).is_some(),
        DType::F64 => u.float(1f64).is_some(),
        DType::I32 => u.num(1i32).is_some(),
        DType::Bool => u.logic(true).is_some(),
    }
}

fn binary_takes(b: BinaryOp, dtype: DType) -> bool {
    match dtype {
        DType::F32 | DType::F64 | DType::I32 => {
            b.arith(1, 2).is_some() || b.compare(1, 2).is_some()
        }
        DType::Bool => b.logic(true, false).is_some(),
    }
}

/// Operands of `dtype` as f64.
fn unary_operands(dtype: DType) -> Vec<f64> {
    match dtype {
        DType::F32 | DType::F64 => UNARY_FLOATS.to_vec(),
        DType::I32 => UNARY_INTS.iter().map(|&i| f64::from(i)).collect(),
        DType::Bool => vec![0.0, 1.0],
    }
}

fn binary_operands(dtype: DType) -> Vec<(f64, f64)> {
    match dtype {
        DType::F32 | DType::F64 => FLOAT_PAIRS.to_vec(),
        DType::I32 => INT_PAIRS
            .map(|(x, y)| (f64::from(x), f64::from(y)))
            .to_vec(),
        DType::Bool => BOOL_PAIRS.map(|(x, y)| (truth(x), truth(y))).to_vec(),
    }
}

fn unary_against_reference(u: UnaryOp) -> usize {
    let mut compared = 0;
    for dtype in DType::ALL.into_iter().filter(|&d| unary_takes(u, d)) {
        let xs = unary_operands(dtype);
        let n = xs.len();
        let want: Vec<f64> = xs.iter().map(|&x| unary_reference(u, x)).collect();
        let got = apply(&[tensor(dtype, &[n], xs)], |b, x| b.unary(u, x[0]));
        let what = format!("{} on {dtype}", u.name());
        compared += assert_matches(&what, &got, &tensor(dtype, &[n], want));
    }
    compared
}

fn binary_against_reference(b: BinaryOp) -> usize {
    let mut compared = 0;
    for dtype in DType::ALL.into_iter().filter(|&d| binary_takes(b, d)) {
        let pairs = binary_operands(dtype);
        let n = pairs.len();
        let int = dtype == DType::I32;
        let want = pairs.iter().map(|&(x, y)| binary_reference(b, x, y, int));
        let out_dtype = if b.is_comparison() {
            DType::Bool
        } else {
            dtype
        };
        let want = tensor(out_dtype, &[n], want.collect());
        let (xs, ys) = pairs.into_iter().unzip();
        let args = [tensor(dtype, &[n], xs), tensor(dtype, &[n], ys)];
        let got = apply(&args, |g, p| g.binary(b, p[0], p[1]));
        compared += assert_matches(&format!("{} on {dtype}", b.name()), &got, &want);
    }
    compared
}

/// `%` has the divisor's sign and integer `/` rounds down, in every
/// dtype: the documented examples, by hand.
fn floored_division_examples() -> usize {
    let (x, y, rem) = (
        [-7.0, 7.0, -7.0, 7.0],
        [2.0, -2.0, -2.0, 2.0],
        [1.0, -1.0, -1.0, 1.0],
    );
    let mut compared = 0;
    for dtype in [DType::F32, DType::F64, DType::I32] {
        let args = [
            tensor(dtype, &[4], x.to_vec()),
            tensor(dtype, &[4], y.to_vec()),
        ];
        let got = apply(&args, |g, p| g.binary(BinaryOp::Rem, p[0], p[1]));
        assert_eq!(got, tensor(dtype, &[4], rem.to_vec()), "% on {dtype}");
        compared += got.len();
    }
    let args = [i32s(&[-7, 7]), i32s(&[2, -2])];
    let got = apply(&args, |g, p| g.binary(BinaryOp::Div, p[0], p[1]));
    assert_eq!(got, i32s(&[-4, -4]), "integer / rounds down");
    compared + got.len()
}

/// `fold(x)`, where it is defined, is bit for bit what the interpreter
/// computes on a tensor of `xs`. Like constant folding, `fold` runs at
/// run time: `black_box` keeps LLVM from folding the call on a constant
/// of this test itself, whose NaNs would differ in sign from libm's.
fn unary_fold_run<T: Elem>(u: UnaryOp, xs: &[T], fold: impl Fn(T) -> Option<T>) -> usize {
    if fold(xs[0]).is_none() {
        return 0; // The op does not take T.
    }
    let got = apply(&[T::tensor(xs.to_vec())], |b, x| b.unary(u, x[0]));
    for (&x, &y) in xs.iter().zip(T::of(&got)) {
        let want = fold(std::hint::black_box(x)).unwrap();
        let name = u.name();
        assert_eq!(
            want.bits(),
            y.bits(),
            "{name}({x:?}) folds to {want:?}, runs to {y:?}"
        );
    }
    xs.len()
}

fn binary_fold_run<T: Elem, U: Elem>(
    b: BinaryOp,
    pairs: &[(T, T)],
    fold: impl Fn(T, T) -> Option<U>,
) -> usize {
    if fold(pairs[0].0, pairs[0].1).is_none() {
        return 0; // The op does not take T.
    }
    let (xs, ys): (Vec<T>, Vec<T>) = pairs.iter().copied().unzip();
    let got = apply(&[T::tensor(xs), T::tensor(ys)], |g, p| {
        g.binary(b, p[0], p[1])
    });
    for (&(x, y), &r) in pairs.iter().zip(U::of(&got)) {
        let want = fold(std::hint::black_box(x), std::hint::black_box(y)).unwrap();
        let name = b.name();
        assert_eq!(
            want.bits(),
            r.bits(),
            "{name}({x:?}, {y:?}) folds to {want:?}, runs to {r:?}"
        );
    }
    pairs.len()
}

fn numeric_fold_run<T: Elem + Num>(b: BinaryOp, pairs: &[(T, T)]) -> usize {
    if b.is_comparison() {
        binary_fold_run(b, pairs, |x, y| b.compare(x, y))
    } else {
        binary_fold_run(b, pairs, |x, y| b.arith(x, y))
    }
}

fn unary_fold_is_run(u: UnaryOp) -> usize {
    let f32s = UNARY_FLOATS.map(|x| x as f32);
    unary_fold_run(u, &UNARY_FLOATS, |x| u.float(x))
        + unary_fold_run(u, &f32s, |x| u.float(x))
        + unary_fold_run(u, &UNARY_INTS, |x| u.num(x))
        + unary_fold_run(u, &[false, true], |x| u.logic(x))
}

fn binary_fold_is_run(b: BinaryOp) -> usize {
    let f32s = FLOAT_PAIRS.map(|(x, y)| (x as f32, y as f32));
    numeric_fold_run(b, &FLOAT_PAIRS)
        + numeric_fold_run(b, &f32s)
        + numeric_fold_run(b, &INT_PAIRS)
        + binary_fold_run(b, &BOOL_PAIRS, |x, y| b.logic(x, y))
}

/// Where operands of a finite-difference check are drawn: within
/// `lo..hi`, and `mirrored` to both signs (away from a kink or pole at 0).
#[derive(Clone, Copy)]
struct Domain {
    lo: f64,
    hi: f64,
    mirrored: bool,
}

const fn within(lo: f64, hi: f64) -> Domain {
    Domain {
        lo,
        hi,
        mirrored: false,
    }
}

const fn both_signs(lo: f64, hi: f64) -> Domain {
    Domain {
        lo,
        hi,
        mirrored: true,
    }
}

impl Domain {
    fn sample(self, gen: &mut Gen, shape: &[usize]) -> Tensor {
        if self.mirrored {
            gen.mirrored(shape, self.lo, self.hi)
        } else {
            gen.tensor(shape, self.lo, self.hi)
        }
    }
}

/// Where each op is smooth, or why it has no derivative.
fn unary_domain(u: UnaryOp) -> Result<Domain, &'static str> {
    match u {
        UnaryOp::Neg | UnaryOp::Exp | UnaryOp::Tanh | UnaryOp::Erf => Ok(within(-2.0, 2.0)),
        UnaryOp::Log | UnaryOp::Sqrt => Ok(within(0.2, 3.0)),
        // Sign's derivative is 0 away from 0, and autodiff's is 0.
        UnaryOp::Abs | UnaryOp::Sign => Ok(both_signs(0.1, 2.0)),
        UnaryOp::Sin | UnaryOp::Cos => Ok(within(-3.0, 3.0)),
        UnaryOp::Not => Err("not differentiable: bool operand and result"),
    }
}

fn binary_domains(b: BinaryOp) -> Result<[Domain; 2], &'static str> {
    match b {
        BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Max | BinaryOp::Min => {
            Ok([within(-2.0, 2.0); 2])
        }
        // Divisors of both signs, away from 0. (`%` jumps where x / y is
        // an integer; random operands are never within h of one.)
        BinaryOp::Div | BinaryOp::Rem => Ok([within(-2.0, 2.0), both_signs(0.5, 2.0)]),
        BinaryOp::Pow => Ok([within(0.5, 2.0); 2]),
        BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
            Err("not differentiable: bool result")
        }
        BinaryOp::And => Err("not differentiable: bool operands and result"),
    }
}

/// Ranks 0 to 3, random shapes.
fn unary_gradient(u: UnaryOp, domain: Domain, gen: &mut Gen) -> usize {
    let mut compared = 0;
    for rank in 0..=3 {
        let shape = gen.shape(rank);
        let x = domain.sample(gen, &shape);
        let name = format!("{} {shape:?}", u.name());
        compared += check(&name, gen, vec![x], |g, p| g.unary(u, p[0]));
    }
    compared
}

/// Equal shapes, then broadcasting both ways.
const BROADCAST_PAIRS: [(&[usize], &[usize]); 6] = [
    (&[3, 4], &[3, 4]),
    (&[3, 4], &[4]),
    (&[3, 1], &[1, 4]),
    (&[2, 3, 4], &[3, 1]),
    (&[], &[2, 3]),
    (&[5], &[]),
];

fn binary_gradient(b: BinaryOp, domains: [Domain; 2], gen: &mut Gen) -> usize {
    let mut compared = 0;
    for (sa, sb) in BROADCAST_PAIRS {
        let args = vec![domains[0].sample(gen, sa), domains[1].sample(gen, sb)];
        let name = format!("{} {sa:?} {sb:?}", b.name());
        compared += check(&name, gen, args, |g, p| {
            let shape = sz(&broadcast(sa, sb));
            let x = g.broadcast_to(p[0], &shape);
            let y = g.broadcast_to(p[1], &shape);
            g.binary(b, x, y)
        });
    }
    compared
}

/// NumPy's broadcast shape.
fn broadcast(a: &[usize], b: &[usize]) -> Vec<usize> {
    let rank = a.len().max(b.len());
    let at = |s: &[usize], i: usize| (i + s.len()).checked_sub(rank).map_or(1, |i| s[i]);
    (0..rank).map(|i| at(a, i).max(at(b, i))).collect()
}

pub fn unary(u: UnaryOp) -> Case {
    let gradient = match unary_domain(u) {
        Ok(domain) => Gradient::fd(move |gen| unary_gradient(u, domain, gen)),
        Err(reason) => Gradient::None(reason),
    };
    Case::new(
        move |_| unary_against_reference(u) + unary_fold_is_run(u),
        gradient,
    )
}

pub fn binary(b: BinaryOp) -> Case {
    let gradient = match binary_domains(b) {
        Ok(domains) => Gradient::fd(move |gen| binary_gradient(b, domains, gen)),
        Err(reason) => Gradient::None(reason),
    };
    let examples = move || match b == BinaryOp::Rem {
        true => floored_division_examples(),
        false => 0,
    };
    Case::new(
        move |_| binary_against_reference(b) + binary_fold_is_run(b) + examples(),
        gradient,
    )
}

fn bools(shape: &[usize], values: &[bool]) -> Tensor {
    Tensor::new(shape.to_vec(), Data::Bool(values.to_vec()))
}

/// `cond ? a : b` for branches of every dtype.
fn select_against_reference() -> usize {
    let cond = [true, false, false, true, true, false];
    let (a, b) = (
        [1.0, 2.0, 0.0, -4.0, 5.5, 6.0],
        [-1.0, 0.0, 3.0, 4.0, 0.0, -6.5],
    );
    let want: Vec<f64> = (0..6).map(|i| if cond[i] { a[i] } else { b[i] }).collect();
    let mut compared = 0;
    for dtype in DType::ALL {
        let args = [
            bools(&[2, 3], &cond),
            tensor(dtype, &[2, 3], a.to_vec()),
            tensor(dtype, &[2, 3], b.to_vec()),
        ];
        let got = apply(&args, |g, p| g.select(p[0], p[1], p[2]));
        let want = tensor(dtype, &[2, 3], want.clone());
        compared += assert_matches(&format!("select {dtype}"), &got, &want);
    }
    compared
}

fn select_gradient(gen: &mut Gen) -> usize {
    let shape = [3, 4];
    let args = (0..3).map(|_| gen.tensor(&shape, -2.0, 2.0)).collect();
    check("select", gen, args, |g, p| {
        let zero = g.full_like(0.0, p[0]);
        let cond = g.binary(BinaryOp::Gt, p[0], zero);
        g.op(Op::Select, &[cond, p[1], p[2]])
    })
}

pub fn select() -> Case {
    Case::new(
        |_| select_against_reference(),
        Gradient::fd(select_gradient),
    )
}

fn f32s(v: &[f32]) -> Tensor {
    Tensor::f32(vec![v.len()], v.to_vec())
}

fn f64s(v: &[f64]) -> Tensor {
    Tensor::f64(vec![v.len()], v.to_vec())
}

fn i32s(v: &[i32]) -> Tensor {
    Tensor::i32(vec![v.len()], v.to_vec())
}

/// Conversions by hand: floats to integers truncate towards zero, to bool
/// is `!= 0`, to f32 rounds to nearest (2^24 + 1 to even), to f64 is
/// exact.
fn cast_against_reference() -> usize {
    let (wide, narrow) = (
        f64s(&[-2.7, -0.5, 0.0, 0.5, 2.7, 3.0]),
        f32s(&[-2.7, -0.5, 0.0, 0.5, 2.7, 3.0]),
    );
    let ints = i32s(&[-3, 0, 5, 16_777_217]);
    let truths = bools(&[2], &[true, false]);
    let truncated = i32s(&[-2, 0, 0, 0, 2, 3]);
    let nonzero = bools(&[6], &[true, true, false, true, true, true]);
    let widened: Vec<f64> = narrow.to_f64();
    let cases = [
        (&wide, truncated.clone()),
        (&narrow, truncated),
        (&wide, nonzero.clone()),
        (&narrow, nonzero),
        (&wide, narrow.clone()),
        (&narrow, f64s(&widened)),
        (&ints, f32s(&[-3.0, 0.0, 5.0, 16_777_216.0])),
        (&ints, f64s(&[-3.0, 0.0, 5.0, 16_777_217.0])),
        (&ints, bools(&[4], &[true, false, true, true])),
        (&truths, f32s(&[1.0, 0.0])),
        (&truths, f64s(&[1.0, 0.0])),
        (&truths, i32s(&[1, 0])),
    ];
    let mut compared = 0;
    for (from, want) in cases {
        let got = apply(std::slice::from_ref(from), |b, x| {
            b.cast(x[0], want.dtype())
        });
        assert_eq!(got, want, "cast {} to {}", from.dtype(), want.dtype());
        compared += want.len();
    }
    compared
}

/// Cast's rule passes the gradient through, converted back: checked
/// exactly, since finite differences through f32 rounding mean nothing.
fn cast_gradient(_: &mut Gen) -> usize {
    let mut g = Builder::new();
    let p = g.input(Input::param("p"), TensorTy::fixed(DType::F32, &[3]));
    let wide = g.cast(p, DType::F64);
    let w = g.input(Input::Feed("w".into()), TensorTy::fixed(DType::F64, &[3]));
    let prod = g.binary(BinaryOp::Mul, wide, w);
    let loss = g.reduce(ReduceOp::Sum, prod, vec![0]);
    let grads: Vec<NodeId> = backward(&mut g, loss, &[p]).unwrap();
    g.set_output(Output::Gradient("p".into()), grads[0]);
    let g = verify(g.finish()).unwrap();
    let p_value = Tensor::f32(vec![3], vec![1.0, 2.0, 3.0]);
    let w_value = Tensor::f64(vec![3], vec![0.5, -1.25, 4.0]);
    let out = Interpreter::new(&g)
        .run(1, &|i| match i {
            Input::Param(_) => Some(&p_value),
            _ => Some(&w_value),
        })
        .unwrap();
    assert_eq!(out[0].1, Tensor::f32(vec![3], vec![0.5, -1.25, 4.0]));
    3
}

pub fn cast() -> Case {
    Case::new(
        |_| cast_against_reference(),
        Gradient::Exact(Box::new(cast_gradient)),
    )
}
