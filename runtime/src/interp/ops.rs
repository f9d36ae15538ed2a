//! One function per primitive op, on host tensors, written to be obviously
//! right rather than fast: this is the oracle. Elementwise ops call the
//! IR's scalar rules; every sum accumulates in f64 in a fixed order.

use super::RunError;
use crate::rng;
use crate::tensor::{Data, HostTy, Tensor};
use dlp_compiler::ir::{BinaryOp, DType, Dist, PoolKind, ReduceOp, UnaryOp};

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

/// `f` over each element. The verifier has checked that the op takes the
/// element type, so `f` gives `Some` (the fallback is never used).
fn map<T: Copy, U>(v: &[T], fallback: U, f: impl Fn(T) -> Option<U>) -> Vec<U>
where
    U: Copy,
{
    v.iter().map(|&x| f(x).unwrap_or(fallback)).collect()
}

fn zip<T: Copy, U: Copy>(p: &[T], q: &[T], fallback: U, f: impl Fn(T, T) -> Option<U>) -> Vec<U> {
    p.iter()
        .zip(q)
        .map(|(&x, &y)| f(x, y).unwrap_or(fallback))
        .collect()
}

pub fn unary(u: UnaryOp, a: &Tensor) -> Tensor {
    let data = dlp_compiler::with_unary_op!(u, OP => match &a.data {
        Data::F32(v) => Data::F32(map(v, f32::NAN, |x| OP.float(x))),
        Data::F64(v) => Data::F64(map(v, f64::NAN, |x| OP.float(x))),
        Data::I32(v) => Data::I32(map(v, 0, |x| OP.num(x))),
        Data::Bool(v) => Data::Bool(map(v, false, |x| OP.logic(x))),
    });
    Tensor::new(a.shape.clone(), data)
}

pub fn binary(b: BinaryOp, x: &Tensor, y: &Tensor) -> Tensor {
    /// `y`'s elements, of the type `x` has (the verifier checks they agree).
    macro_rules! other {
        ($variant:ident) => {{
            let Data::$variant(q) = &y.data else {
                unreachable!("the verifier checks operand dtypes")
            };
            q
        }};
    }
    let data = dlp_compiler::with_binary_op!(b, OP => match &x.data {
        Data::F32(p) if OP.is_comparison() => Data::Bool(zip(p, other!(F32), false, |x, y| OP.compare(x, y))),
        Data::F64(p) if OP.is_comparison() => Data::Bool(zip(p, other!(F64), false, |x, y| OP.compare(x, y))),
        Data::I32(p) if OP.is_comparison() => Data::Bool(zip(p, other!(I32), false, |x, y| OP.compare(x, y))),
        Data::F32(p) => Data::F32(zip(p, other!(F32), f32::NAN, |x, y| OP.arith(x, y))),
        Data::F64(p) => Data::F64(zip(p, other!(F64), f64::NAN, |x, y| OP.arith(x, y))),
        Data::I32(p) => Data::I32(zip(p, other!(I32), 0, |x, y| OP.arith(x, y))),
        Data::Bool(p) => Data::Bool(zip(p, other!(Bool), false, |x, y| OP.logic(x, y))),
    });
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

/// What one random op draws from: its distribution, the run's seed, the
/// op's stream and the counter (the epoch, or the step).
pub struct Draw {
    pub dist: Dist,
    pub seed: u32,
    pub stream: u32,
    pub counter: u32,
}

impl Draw {
    fn value(&self, counter: u32, index: u32) -> f64 {
        match self.dist {
            Dist::Uniform => rng::uniform(self.seed, self.stream, counter, index),
            Dist::Normal => rng::normal(self.seed, self.stream, counter, index),
        }
    }
}

/// Random numbers keyed by the element's index.
pub fn random(draw: &Draw, ty: &HostTy) -> Tensor {
    let values = (0..ty.numel())
        .map(|i| draw.value(draw.counter, i as u32))
        .collect();
    Tensor::from_f64(ty, values)
}

/// Random numbers keyed by sample: along `axis`, each run of `per_sample`
/// positions belongs to one sample of `samples` (its global index), and an
/// element's number depends on that index and on the element's place
/// within its sample, never on the batch.
pub fn random_by_sample(
    draw: &Draw,
    samples: &Tensor,
    axis: usize,
    per_sample: usize,
    ty: &HostTy,
) -> Result<Tensor, RunError> {
    let Data::I32(ids) = &samples.data else {
        unreachable!("the verifier checks sample indices are i32")
    };
    let shape = &ty.shape;
    // A sample's own elements: `axis` shrunk to `per_sample`.
    let mut inner_shape = shape.clone();
    inner_shape[axis] = per_sample;
    let inner_strides = strides(&inner_shape);
    let mut coord = vec![0usize; shape.len()];
    let mut values = Vec::with_capacity(ty.numel());
    for _ in 0..ty.numel() {
        let row = coord[axis];
        let sample = ids[row / per_sample] as u32;
        let inner: usize = coord
            .iter()
            .enumerate()
            .map(|(ax, &c)| {
                let c = if ax == axis { c % per_sample } else { c };
                c * inner_strides[ax]
            })
            .sum();
        values.push(draw.value(rng::sample_counter(draw.counter, sample), inner as u32));
        for ax in (0..shape.len()).rev() {
            coord[ax] += 1;
            if coord[ax] < shape[ax] {
                break;
            }
            coord[ax] = 0;
        }
    }
    Ok(Tensor::from_f64(ty, values))
}

pub fn iota(axis: usize, ty: &HostTy) -> Tensor {
    let st = strides(&ty.shape);
    let values = (0..ty.numel())
        .map(|i| ((i / st[axis]) % ty.shape[axis]) as f64)
        .collect();
    Tensor::from_f64(ty, values)
}

pub fn reduce(op: ReduceOp, a: &Tensor, axes: &[usize], out: &HostTy) -> Tensor {
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
    // A NaN anywhere makes the extreme NaN (it sticks once taken).
    let fold = |acc: f64, v: f64| match op {
        ReduceOp::Sum => acc + v,
        ReduceOp::Max => {
            if v > acc || v.is_nan() {
                v
            } else {
                acc
            }
        }
        ReduceOp::Min => {
            if v < acc || v.is_nan() {
                v
            } else {
                acc
            }
        }
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

pub fn argmax(a: &Tensor, axis: usize, out: &HostTy) -> Tensor {
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

pub fn broadcast(a: &Tensor, out: &HostTy) -> Tensor {
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

pub fn permute(a: &Tensor, perm: &[usize], out: &HostTy) -> Tensor {
    let st = strides(&a.shape);
    let in_strides: Vec<usize> = perm.iter().map(|&p| st[p]).collect();
    Tensor::new(
        out.shape.clone(),
        a.data.pick(index_map(&out.shape, &in_strides, 0)),
    )
}

pub fn slice(a: &Tensor, axis: usize, start: usize, out: &HostTy) -> Tensor {
    let st = strides(&a.shape);
    Tensor::new(
        out.shape.clone(),
        a.data.pick(index_map(&out.shape, &st, start * st[axis])),
    )
}

pub fn concat(parts: &[&Tensor], axis: usize, out: &HostTy) -> Tensor {
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

/// `[.., M, K] @ [.., K, N]` for each leading index, accumulating in f64
/// (the back ends use their own kernels; this loop is what they are
/// checked against).
pub fn matmul(a: &Tensor, b: &Tensor, out: &HostTy) -> Tensor {
    let r = a.shape.len();
    let (m, k, n) = (a.shape[r - 2], a.shape[r - 1], b.shape[r - 1]);
    let batch: usize = a.shape[..r - 2].iter().product();
    let mut dst = vec![0f64; batch * m * n];
    for bi in 0..batch {
        let lhs = bi * m * k..(bi + 1) * m * k;
        let rhs = bi * k * n..(bi + 1) * k * n;
        let dst = &mut dst[bi * m * n..][..m * n];
        match (&a.data, &b.data) {
            (Data::F32(p), Data::F32(q)) => matmul_into(dst, &p[lhs], &q[rhs], k, n),
            (Data::F64(p), Data::F64(q)) => matmul_into(dst, &p[lhs], &q[rhs], k, n),
            _ => unreachable!("the verifier checks matmul takes floats of one type"),
        }
    }
    Tensor::from_f64(out, dst)
}

/// `dst[m, n] = lhs[m, k] @ rhs[k, n]`, every product and sum in f64, each
/// output element summed in order of `k`.
fn matmul_into<T: Copy + Into<f64>>(dst: &mut [f64], lhs: &[T], rhs: &[T], k: usize, n: usize) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above), which is all
        // `matmul_avx2` requires.
        unsafe { matmul_avx2(dst, lhs, rhs, k, n) };
        return;
    }
    matmul_rows(dst, lhs, rhs, k, n);
}

/// [`matmul_rows`] compiled for AVX2: the same loop with wider vectors.
/// Rust never fuses a multiply and an add, so the results are the same
/// bits as without AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn matmul_avx2<T: Copy + Into<f64>>(
    dst: &mut [f64],
    lhs: &[T],
    rhs: &[T],
    k: usize,
    n: usize,
) {
    matmul_rows(dst, lhs, rhs, k, n);
}

/// The loop itself. Rows are taken four at a time so that each row of
/// `rhs` is read once per four rows of `lhs`.
#[inline(always)]
fn matmul_rows<T: Copy + Into<f64>>(dst: &mut [f64], lhs: &[T], rhs: &[T], k: usize, n: usize) {
    const ROWS: usize = 4;
    for (block, out) in dst.chunks_mut(ROWS * n.max(1)).enumerate() {
        let rows = out.len() / n.max(1);
        for p in 0..k {
            let rhs_row = &rhs[p * n..][..n];
            for (t, acc) in out.chunks_mut(n.max(1)).enumerate().take(rows) {
                let x: f64 = lhs[(block * ROWS + t) * k + p].into();
                for (acc, &y) in acc.iter_mut().zip(rhs_row) {
                    *acc += x * y.into();
                }
            }
        }
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

pub fn conv(x: &Tensor, w: &Tensor, stride: usize, pad: usize, out: &HostTy) -> Tensor {
    let (xv, wv) = (x.to_f64(), w.to_f64());
    let mut acc = vec![0.0; out.numel()];
    conv_pairs(&x.shape, &w.shape, &out.shape, stride, pad, |o, xi, wi| {
        acc[o] += xv[xi] * wv[wi]
    });
    Tensor::from_f64(out, acc)
}

pub fn conv_input_grad(g: &Tensor, w: &Tensor, stride: usize, pad: usize, x_ty: &HostTy) -> Tensor {
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
    w_ty: &HostTy,
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

pub fn pool(kind: PoolKind, x: &Tensor, k: usize, stride: usize, out: &HostTy) -> Tensor {
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

/// The rows `ids` name, each checked against a table of `rows` rows.
pub(crate) fn row_ids(ids: &Tensor, rows: usize) -> Result<Vec<usize>, RunError> {
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

pub fn gather(table: &Tensor, ids: &Tensor, out: &HostTy) -> Result<Tensor, RunError> {
    let (rows, d) = (table.shape[0], table.shape[1]);
    let index: Vec<usize> = row_ids(ids, rows)?
        .iter()
        .flat_map(|&r| (0..d).map(move |j| r * d + j))
        .collect();
    Ok(Tensor::new(out.shape.clone(), table.data.pick(index)))
}

pub fn scatter_add(ids: &Tensor, g: &Tensor, out: &HostTy) -> Result<Tensor, RunError> {
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

    #[test]
    fn matmul_multiplies_batches_of_matrices() {
        // [[1, 2], [3, 4]] @ [[5], [6]] = [[17], [39]], twice over.
        let a = Tensor::f64(vec![2, 2, 2], vec![1., 2., 3., 4., 1., 2., 3., 4.]);
        let b = Tensor::f64(vec![2, 2, 1], vec![5., 6., 0., 1.]);
        let c = matmul(&a, &b, &HostTy::new(DType::F64, vec![2, 2, 1]));
        assert_eq!(c.to_f64(), vec![17., 39., 2., 4.]);
    }

    #[test]
    fn matmul_sums_each_element_in_order_of_k() {
        // Shapes whose rows are not a multiple of the block of four.
        for (m, k, n) in [(1, 1, 1), (5, 3, 2), (9, 17, 7), (4, 0, 3), (0, 2, 2)] {
            let lhs: Vec<f32> = (0..m * k)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 17.0)
                .collect();
            let rhs: Vec<f32> = (0..k * n)
                .map(|i| ((i * 53 % 97) as f32 - 48.0) / 13.0)
                .collect();
            let got = matmul(
                &Tensor::f32(vec![m, k], lhs.clone()),
                &Tensor::f32(vec![k, n], rhs.clone()),
                &HostTy::new(DType::F64, vec![m, n]),
            );
            let want: Vec<f64> = (0..m * n)
                .map(|e| {
                    let (i, j) = (e / n, e % n);
                    (0..k).fold(0.0, |acc, p| {
                        acc + lhs[i * k + p] as f64 * rhs[p * n + j] as f64
                    })
                })
                .collect();
            assert_eq!(got.to_f64(), want, "{m}x{k}x{n}");
        }
    }

    #[test]
    fn draws_by_sample_do_not_depend_on_the_batch() {
        let draw = Draw {
            dist: Dist::Uniform,
            seed: 7,
            stream: 2,
            counter: 3,
        };
        let ty = |b: usize| HostTy::new(DType::F32, vec![b * 2, 3]);
        let all = random_by_sample(&draw, &Tensor::i32(vec![3], vec![10, 11, 12]), 0, 2, &ty(3))
            .unwrap()
            .to_f64();
        let one = random_by_sample(&draw, &Tensor::i32(vec![1], vec![11]), 0, 2, &ty(1))
            .unwrap()
            .to_f64();
        assert_eq!(&all[6..12], &one[..]);
        assert_ne!(&all[0..6], &one[..]);
    }
}
