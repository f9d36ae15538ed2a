//! One function per primitive op, on host tensors. Written to be obviously
//! right rather than fast (it is the oracle), except matrix products,
//! which call `gemm` (tested against a naive loop below).

use super::RunError;
use crate::rng;
use crate::tensor::{Data, Tensor};
use dlp_compiler::ir::{BinaryOp, DType, Dist, PoolKind, ReduceOp, TensorTy, UnaryOp};

fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// For each element of `out_shape`, the flat index it reads from a tensor
/// with `in_strides` given per output axis (0 for repeated axes).
fn index_map(out_shape: &[usize], in_strides: &[usize], offset: usize) -> Vec<usize> {
    let n: usize = out_shape.iter().product();
    let mut out = Vec::with_capacity(n);
    let mut walk = Odometer::new(out_shape, in_strides, offset);
    for _ in 0..n {
        out.push(walk.at);
        walk.advance();
    }
    out
}

/// Walks a shape in row-major order while keeping a second flat offset
/// (`at`) that moves by its own stride per axis: the position in another
/// layout of the same coordinates, without divisions.
struct Odometer<'s> {
    shape: &'s [usize],
    strides: &'s [usize],
    coord: Vec<usize>,
    at: usize,
}

impl<'s> Odometer<'s> {
    fn new(shape: &'s [usize], strides: &'s [usize], offset: usize) -> Odometer<'s> {
        Odometer {
            shape,
            strides,
            coord: vec![0; shape.len()],
            at: offset,
        }
    }

    fn advance(&mut self) {
        for ax in (0..self.shape.len()).rev() {
            self.coord[ax] += 1;
            self.at += self.strides[ax];
            if self.coord[ax] < self.shape[ax] {
                return;
            }
            self.at -= self.strides[ax] * self.shape[ax];
            self.coord[ax] = 0;
        }
    }
}

/// `f` over each element (the op is matched once, outside the loop, so
/// that each loop is simple enough to vectorise).
macro_rules! map {
    ($v:expr, |$x:ident| $e:expr) => {
        $v.iter().map(|&$x| $e).collect::<Vec<_>>()
    };
}

macro_rules! zip {
    ($p:expr, $q:expr, |$x:ident, $y:ident| $e:expr) => {
        $p.iter()
            .zip($q.iter())
            .map(|(&$x, &$y)| $e)
            .collect::<Vec<_>>()
    };
}

pub fn unary(u: UnaryOp, a: &Tensor) -> Tensor {
    macro_rules! float {
        ($v:expr, $t:ty, $erf:path) => {
            match u {
                UnaryOp::Neg => map!($v, |x| -x),
                UnaryOp::Exp => map!($v, |x| x.exp()),
                UnaryOp::Log => map!($v, |x| x.ln()),
                UnaryOp::Sqrt => map!($v, |x| x.sqrt()),
                UnaryOp::Abs => map!($v, |x| x.abs()),
                UnaryOp::Tanh => map!($v, |x| x.tanh()),
                UnaryOp::Sin => map!($v, |x| x.sin()),
                UnaryOp::Cos => map!($v, |x| x.cos()),
                UnaryOp::Erf => map!($v, |x| $erf(x)),
                UnaryOp::Sign => map!($v, |x| if x > 0.0 {
                    1.0
                } else if x < 0.0 {
                    -1.0
                } else {
                    0.0 as $t
                }),
                UnaryOp::Not => $v.clone(),
            }
        };
    }
    let data = match &a.data {
        Data::F32(v) => Data::F32(float!(v, f32, libm::erff)),
        Data::F64(v) => Data::F64(float!(v, f64, libm::erf)),
        Data::I32(v) => Data::I32(match u {
            UnaryOp::Neg => map!(v, |x| x.wrapping_neg()),
            UnaryOp::Abs => map!(v, |x| x.wrapping_abs()),
            UnaryOp::Sign => map!(v, |x| x.signum()),
            _ => v.clone(),
        }),
        Data::Bool(v) => Data::Bool(if u == UnaryOp::Not {
            map!(v, |x| !x)
        } else {
            v.clone()
        }),
    };
    Tensor::new(a.shape.clone(), data)
}

/// Comparisons of any element type.
macro_rules! compare {
    ($b:expr, $p:expr, $q:expr) => {
        match $b {
            BinaryOp::Eq => zip!($p, $q, |x, y| x == y),
            BinaryOp::Ne => zip!($p, $q, |x, y| x != y),
            BinaryOp::Lt => zip!($p, $q, |x, y| x < y),
            BinaryOp::Le => zip!($p, $q, |x, y| x <= y),
            BinaryOp::Gt => zip!($p, $q, |x, y| x > y),
            _ => zip!($p, $q, |x, y| x >= y),
        }
    };
}

pub fn binary(b: BinaryOp, x: &Tensor, y: &Tensor) -> Tensor {
    use BinaryOp::*;
    macro_rules! float {
        ($p:expr, $q:expr) => {
            match b {
                Add => zip!($p, $q, |x, y| x + y).into(),
                Sub => zip!($p, $q, |x, y| x - y).into(),
                Mul => zip!($p, $q, |x, y| x * y).into(),
                Div => zip!($p, $q, |x, y| x / y).into(),
                Rem => zip!($p, $q, |x, y| x - y * (x / y).floor()).into(),
                Pow => zip!($p, $q, |x, y| x.powf(y)).into(),
                Max => zip!($p, $q, |x, y| x.max(y)).into(),
                Min => zip!($p, $q, |x, y| x.min(y)).into(),
                _ => Data::Bool(compare!(b, $p, $q)),
            }
        };
    }
    let data = match (&x.data, &y.data) {
        (Data::F32(p), Data::F32(q)) => float!(p, q),
        (Data::F64(p), Data::F64(q)) => float!(p, q),
        (Data::I32(p), Data::I32(q)) => match b {
            Add => Data::I32(zip!(p, q, |x, y| x.wrapping_add(y))),
            Sub => Data::I32(zip!(p, q, |x, y| x.wrapping_sub(y))),
            Mul => Data::I32(zip!(p, q, |x, y| x.wrapping_mul(y))),
            Div => Data::I32(zip!(p, q, |x, y| x.checked_div_euclid(y).unwrap_or(0))),
            Rem => Data::I32(zip!(p, q, |x, y| x.checked_rem_euclid(y).unwrap_or(0))),
            Pow => Data::I32(zip!(p, q, |x, y| x.wrapping_pow(y.max(0) as u32))),
            Max => Data::I32(zip!(p, q, |x, y| x.max(y))),
            Min => Data::I32(zip!(p, q, |x, y| x.min(y))),
            _ => Data::Bool(compare!(b, p, q)),
        },
        (Data::Bool(p), Data::Bool(q)) => Data::Bool(match b {
            And => zip!(p, q, |x, y| x && y),
            Ne => zip!(p, q, |x, y| x != y),
            _ => zip!(p, q, |x, y| x == y),
        }),
        _ => unreachable!("the verifier checks operand dtypes"),
    };
    Tensor::new(x.shape.clone(), data)
}

impl From<Vec<f32>> for Data {
    fn from(v: Vec<f32>) -> Data {
        Data::F32(v)
    }
}

impl From<Vec<f64>> for Data {
    fn from(v: Vec<f64>) -> Data {
        Data::F64(v)
    }
}

pub fn select(c: &Tensor, a: &Tensor, b: &Tensor) -> Tensor {
    let Data::Bool(c) = &c.data else {
        unreachable!("the verifier checks select's condition")
    };
    let index: Vec<usize> = c
        .iter()
        .enumerate()
        .map(|(i, &t)| if t { i } else { i + c.len() })
        .collect();
    let both = Data::concat(&[&a.data, &b.data]).expect("the verifier checks select's branches");
    Tensor::new(a.shape.clone(), both.pick(index))
}

pub fn cast(a: &Tensor, to: DType) -> Tensor {
    let data = match (&a.data, to) {
        (Data::F32(v), DType::F64) => Data::F64(v.iter().map(|&x| x as f64).collect()),
        (Data::F64(v), DType::F32) => Data::F32(v.iter().map(|&x| x as f32).collect()),
        (Data::I32(v), DType::F32) => Data::F32(v.iter().map(|&x| x as f32).collect()),
        (Data::Bool(v), DType::F32) => {
            Data::F32(v.iter().map(|&x| f32::from(u8::from(x))).collect())
        }
        (_, DType::F64) => Data::F64(a.to_f64()),
        (_, DType::F32) => Data::F32(a.to_f64().iter().map(|&x| x as f32).collect()),
        (_, DType::I32) => Data::I32(a.to_f64().iter().map(|&x| x as i32).collect()),
        (_, DType::Bool) => Data::Bool(a.to_f64().iter().map(|&x| x != 0.0).collect()),
    };
    Tensor::new(a.shape.clone(), data)
}

pub fn random(dist: Dist, stream: u32, seed: i32, counter: i32, ty: &TensorTy) -> Tensor {
    let values = (0..ty.numel())
        .map(|i| {
            let (s, c, i) = (seed as u32, counter as u32, i as u32);
            match dist {
                Dist::Uniform => rng::uniform(s, stream, c, i),
                Dist::Normal => rng::normal(s, stream, c, i),
            }
        })
        .collect();
    Tensor::from_f64(ty, values)
}

pub fn iota(axis: usize, ty: &TensorTy) -> Tensor {
    let st = strides(&ty.shape);
    let values = (0..ty.numel())
        .map(|i| ((i / st[axis]) % ty.shape[axis]) as f64)
        .collect();
    Tensor::from_f64(ty, values)
}

pub fn reduce(op: ReduceOp, a: &Tensor, axes: &[usize], out: &TensorTy) -> Tensor {
    // For each input axis, how far the output index moves along it (0 for
    // the reduced axes); the input is read in order.
    let out_st = strides(&out.shape);
    let mut kept = out_st.iter();
    let moves: Vec<usize> = (0..a.shape.len())
        .map(|ax| {
            if axes.contains(&ax) {
                0
            } else {
                *kept.next().unwrap_or(&0)
            }
        })
        .collect();
    let start = match op {
        ReduceOp::Sum => 0.0,
        ReduceOp::Max => f64::NEG_INFINITY,
        ReduceOp::Min => f64::INFINITY,
    };
    let fold = |acc: f64, v: f64| match op {
        ReduceOp::Sum => acc + v,
        ReduceOp::Max if v > acc || v.is_nan() => v,
        ReduceOp::Min if v < acc || v.is_nan() => v,
        _ => acc,
    };
    let values = a.to_f64();
    let rank = a.shape.len();
    let trailing = axes
        .iter()
        .enumerate()
        .all(|(i, &ax)| ax == rank - axes.len() + i);
    let acc = if trailing {
        // The reduced axes are the last ones: each output folds one run
        // of consecutive inputs (also the case of reducing everything).
        let run: usize = a.shape[rank - axes.len()..].iter().product();
        if run == 0 {
            vec![start; out.numel()]
        } else {
            values
                .chunks(run)
                .map(|c| c.iter().fold(start, |acc, &v| fold(acc, v)))
                .collect()
        }
    } else {
        let mut acc = vec![start; out.numel()];
        let mut walk = Odometer::new(&a.shape, &moves, 0);
        for v in values {
            acc[walk.at] = fold(acc[walk.at], v);
            walk.advance();
        }
        acc
    };
    Tensor::from_f64(out, acc)
}

pub fn argmax(a: &Tensor, axis: usize, out: &TensorTy) -> Tensor {
    let values = a.to_f64();
    let st = strides(&a.shape);
    let n = a.shape[axis];
    let result = (0..out.numel())
        .map(|o| {
            // The flat index of element 0 along `axis` for output `o`.
            let outer = o / st[axis];
            let inner = o % st[axis];
            let base = outer * n * st[axis] + inner;
            let mut best = 0;
            for k in 1..n {
                if values[base + k * st[axis]] > values[base + best * st[axis]] {
                    best = k;
                }
            }
            best as f64
        })
        .collect();
    Tensor::from_f64(out, result)
}

pub fn broadcast(a: &Tensor, out: &TensorTy) -> Tensor {
    if a.len() == 1 {
        // The common case (a scalar constant filling a tensor), without an index map.
        let fill = a.data.pick(std::iter::repeat_n(0, out.numel()));
        return Tensor::new(out.shape.clone(), fill);
    }
    let st = strides(&a.shape);
    let in_strides: Vec<usize> = a
        .shape
        .iter()
        .zip(&st)
        .map(|(&d, &s)| if d == 1 { 0 } else { s })
        .collect();
    Tensor::new(
        out.shape.clone(),
        a.data.pick(index_map(&out.shape, &in_strides, 0)),
    )
}

pub fn permute(a: &Tensor, perm: &[usize], out: &TensorTy) -> Tensor {
    let st = strides(&a.shape);
    let in_strides: Vec<usize> = perm.iter().map(|&p| st[p]).collect();
    Tensor::new(
        out.shape.clone(),
        a.data.pick(index_map(&out.shape, &in_strides, 0)),
    )
}

pub fn slice(a: &Tensor, axis: usize, start: usize, out: &TensorTy) -> Tensor {
    let st = strides(&a.shape);
    Tensor::new(
        out.shape.clone(),
        a.data.pick(index_map(&out.shape, &st, start * st[axis])),
    )
}

pub fn concat(parts: &[&Tensor], axis: usize, out: &TensorTy) -> Tensor {
    // Each output element, as (part, flat index in that part).
    let out_st = strides(&out.shape);
    let mut sources = Vec::with_capacity(out.numel());
    for o in 0..out.numel() {
        let mut along = (o / out_st[axis]) % out.shape[axis];
        let mut part = 0;
        while along >= parts[part].shape[axis] {
            along -= parts[part].shape[axis];
            part += 1;
        }
        let st = strides(&parts[part].shape);
        let idx: usize = (0..out.shape.len())
            .map(|ax| {
                let c = if ax == axis {
                    along
                } else {
                    (o / out_st[ax]) % out.shape[ax]
                };
                c * st[ax]
            })
            .sum();
        sources.push((part, idx));
    }
    let values: Vec<f64> = {
        let all: Vec<Vec<f64>> = parts.iter().map(|p| p.to_f64()).collect();
        sources.iter().map(|&(p, i)| all[p][i]).collect()
    };
    Tensor::from_f64(out, values)
}

/// `[.., M, K] @ [.., K, N]` for each leading index.
pub fn matmul(a: &Tensor, b: &Tensor, out: &TensorTy) -> Tensor {
    let r = a.shape.len();
    let (m, k, n) = (a.shape[r - 2], a.shape[r - 1], b.shape[r - 1]);
    let batch: usize = a.shape[..r - 2].iter().product();
    match (&a.data, &b.data) {
        (Data::F32(p), Data::F32(q)) => {
            let mut dst = vec![0f32; batch * m * n];
            for i in 0..batch {
                gemm_into(
                    &mut dst[i * m * n..][..m * n],
                    &p[i * m * k..][..m * k],
                    &q[i * k * n..][..k * n],
                    m,
                    k,
                    n,
                );
            }
            Tensor::f32(out.shape.clone(), dst)
        }
        (Data::F64(p), Data::F64(q)) => {
            let mut dst = vec![0f64; batch * m * n];
            for i in 0..batch {
                gemm_into(
                    &mut dst[i * m * n..][..m * n],
                    &p[i * m * k..][..m * k],
                    &q[i * k * n..][..k * n],
                    m,
                    k,
                    n,
                );
            }
            Tensor::f64(out.shape.clone(), dst)
        }
        _ => unreachable!("the verifier checks matmul dtypes"),
    }
}

/// `dst[m, n] = lhs[m, k] @ rhs[k, n]`, all row-major, through `gemm`.
pub fn gemm_into<T: Copy + Default + From<u8> + 'static>(
    dst: &mut [T],
    lhs: &[T],
    rhs: &[T],
    m: usize,
    k: usize,
    n: usize,
) {
    assert!(dst.len() == m * n && lhs.len() == m * k && rhs.len() == k * n);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        dst.iter_mut().for_each(|d| *d = T::default());
        return;
    }
    // SAFETY: the three slices hold exactly m*n, m*k and k*n elements
    // (asserted above), and the strides describe row-major layouts of
    // those sizes, so every access gemm makes is in bounds; `dst` is not
    // read (read_dst = false) and does not alias the inputs.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            false,
            lhs.as_ptr(),
            1,
            k as isize,
            rhs.as_ptr(),
            1,
            n as isize,
            T::default(),
            T::from(1u8),
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// The (b, o, i, j) output positions of a convolution and, for each, the
/// input and weight elements it multiplies. `visit(out, x, w)` gets flat
/// indices.
fn conv_pairs(
    xs: &[usize],
    ws: &[usize],
    os: &[usize],
    stride: usize,
    pad: usize,
    mut visit: impl FnMut(usize, usize, usize),
) {
    let (bn, c, h, w) = (xs[0], xs[1], xs[2], xs[3]);
    let (o, kh, kw) = (ws[0], ws[2], ws[3]);
    let (oh, ow) = (os[2], os[3]);
    for b in 0..bn {
        for oc in 0..o {
            for i in 0..oh {
                for j in 0..ow {
                    let out = ((b * o + oc) * oh + i) * ow + j;
                    for ic in 0..c {
                        for ki in 0..kh {
                            let y = (i * stride + ki) as isize - pad as isize;
                            if y < 0 || y >= h as isize {
                                continue;
                            }
                            for kj in 0..kw {
                                let x = (j * stride + kj) as isize - pad as isize;
                                if x < 0 || x >= w as isize {
                                    continue;
                                }
                                let xi = ((b * c + ic) * h + y as usize) * w + x as usize;
                                let wi = ((oc * c + ic) * kh + ki) * kw + kj;
                                visit(out, xi, wi);
                            }
                        }
                    }
                }
            }
        }
    }
}

pub fn conv(x: &Tensor, w: &Tensor, stride: usize, pad: usize, out: &TensorTy) -> Tensor {
    let (xv, wv) = (x.to_f64(), w.to_f64());
    let mut acc = vec![0.0; out.numel()];
    conv_pairs(&x.shape, &w.shape, &out.shape, stride, pad, |o, xi, wi| {
        acc[o] += xv[xi] * wv[wi]
    });
    Tensor::from_f64(out, acc)
}

pub fn conv_input_grad(
    g: &Tensor,
    w: &Tensor,
    stride: usize,
    pad: usize,
    x_ty: &TensorTy,
) -> Tensor {
    let (gv, wv) = (g.to_f64(), w.to_f64());
    let mut acc = vec![0.0; x_ty.numel()];
    conv_pairs(&x_ty.shape, &w.shape, &g.shape, stride, pad, |o, xi, wi| {
        acc[xi] += gv[o] * wv[wi]
    });
    Tensor::from_f64(x_ty, acc)
}

pub fn conv_weight_grad(
    x: &Tensor,
    g: &Tensor,
    stride: usize,
    pad: usize,
    w_ty: &TensorTy,
) -> Tensor {
    let (xv, gv) = (x.to_f64(), g.to_f64());
    let mut acc = vec![0.0; w_ty.numel()];
    conv_pairs(&x.shape, &w_ty.shape, &g.shape, stride, pad, |o, xi, wi| {
        acc[wi] += gv[o] * xv[xi]
    });
    Tensor::from_f64(w_ty, acc)
}

/// For each pooling output, the flat input indices of its window.
fn windows(xs: &[usize], os: &[usize], k: usize, stride: usize) -> Vec<Vec<usize>> {
    let (bn, c, h, w) = (xs[0], xs[1], xs[2], xs[3]);
    let (oh, ow) = (os[2], os[3]);
    let mut out = Vec::with_capacity(bn * c * oh * ow);
    for bc in 0..bn * c {
        for i in 0..oh {
            for j in 0..ow {
                let mut win = Vec::with_capacity(k * k);
                for ki in 0..k {
                    for kj in 0..k {
                        win.push((bc * h + i * stride + ki) * w + j * stride + kj);
                    }
                }
                out.push(win);
            }
        }
    }
    out
}

pub fn pool(kind: PoolKind, x: &Tensor, k: usize, stride: usize, out: &TensorTy) -> Tensor {
    let xv = x.to_f64();
    let values = windows(&x.shape, &out.shape, k, stride)
        .iter()
        .map(|win| match kind {
            PoolKind::Max => win.iter().map(|&i| xv[i]).fold(f64::NEG_INFINITY, f64::max),
            PoolKind::Avg => win.iter().map(|&i| xv[i]).sum::<f64>() / win.len().max(1) as f64,
        })
        .collect();
    Tensor::from_f64(out, values)
}

/// Max pooling sends each gradient to the first largest element of its
/// window; average pooling spreads it evenly.
pub fn pool_grad(kind: PoolKind, x: &Tensor, g: &Tensor, k: usize, stride: usize) -> Tensor {
    let (xv, gv) = (x.to_f64(), g.to_f64());
    let mut acc = vec![0.0; xv.len()];
    for (o, win) in windows(&x.shape, &g.shape, k, stride).iter().enumerate() {
        match kind {
            PoolKind::Max => {
                let mut best = win[0];
                for &i in win {
                    if xv[i] > xv[best] {
                        best = i;
                    }
                }
                acc[best] += gv[o];
            }
            PoolKind::Avg => {
                for &i in win {
                    acc[i] += gv[o] / win.len() as f64;
                }
            }
        }
    }
    Tensor::from_f64(&x.ty(), acc)
}

fn row_ids(ids: &Tensor, rows: usize) -> Result<Vec<usize>, RunError> {
    let Data::I32(v) = &ids.data else {
        unreachable!("the verifier checks ids are i32")
    };
    v.iter()
        .map(|&i| {
            usize::try_from(i)
                .ok()
                .filter(|&i| i < rows)
                .ok_or_else(|| {
                    RunError(format!(
                        "index {i} is out of range for a table of {rows} rows"
                    ))
                })
        })
        .collect()
}

pub fn gather(table: &Tensor, ids: &Tensor, out: &TensorTy) -> Result<Tensor, RunError> {
    let (rows, d) = (table.shape[0], table.shape[1]);
    let index: Vec<usize> = row_ids(ids, rows)?
        .iter()
        .flat_map(|&r| (0..d).map(move |j| r * d + j))
        .collect();
    Ok(Tensor::new(out.shape.clone(), table.data.pick(index)))
}

pub fn scatter_add(ids: &Tensor, g: &Tensor, out: &TensorTy) -> Result<Tensor, RunError> {
    let (rows, d) = (out.shape[0], out.shape[1]);
    let gv = g.to_f64();
    let mut acc = vec![0.0; out.numel()];
    for (n, r) in row_ids(ids, rows)?.into_iter().enumerate() {
        for j in 0..d {
            acc[r * d + j] += gv[n * d + j];
        }
    }
    Ok(Tensor::from_f64(out, acc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(lhs: &[f64], rhs: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k).map(|p| lhs[i * k + p] * rhs[p * n + j]).sum();
            }
        }
        out
    }

    #[test]
    fn gemm_matches_a_naive_loop() {
        for &(m, k, n) in &[
            (1, 1, 1),
            (3, 5, 2),
            (17, 33, 9),
            (64, 64, 128),
            (5, 0, 3),
            (70, 3, 1),
        ] {
            let lhs: Vec<f64> = (0..m * k)
                .map(|i| ((i * 37 % 101) as f64 - 50.0) / 17.0)
                .collect();
            let rhs: Vec<f64> = (0..k * n)
                .map(|i| ((i * 53 % 97) as f64 - 48.0) / 13.0)
                .collect();
            let mut dst = vec![f64::NAN; m * n];
            gemm_into(&mut dst, &lhs, &rhs, m, k, n);
            let want = naive(&lhs, &rhs, m, k, n);
            for (a, b) in dst.iter().zip(&want) {
                assert!(
                    (a - b).abs() <= 1e-9 * b.abs().max(1.0),
                    "{m}x{k}x{n}: {a} vs {b}"
                );
            }
            let lhs32: Vec<f32> = lhs.iter().map(|&x| x as f32).collect();
            let rhs32: Vec<f32> = rhs.iter().map(|&x| x as f32).collect();
            let mut dst32 = vec![f32::NAN; m * n];
            gemm_into(&mut dst32, &lhs32, &rhs32, m, k, n);
            for (a, b) in dst32.iter().zip(&want) {
                assert!(
                    (*a as f64 - b).abs() <= 1e-3 * b.abs().max(1.0),
                    "{m}x{k}x{n}: {a} vs {b}"
                );
            }
        }
    }
}
