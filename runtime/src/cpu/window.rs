//! Pooling and its gradient on the CPU: the interpreter's rules (the max
//! of each window; the mean, summed in f64; the gradient to the first
//! largest element, or spread evenly, summed in f64 where windows
//! overlap), computed straight from the tensors' own element types, one
//! plane (sample and channel) per task across the back end's threads.
//! Planes are independent and each is walked in the interpreter's order,
//! so the bits do not depend on the thread count. The kernel's epilogue
//! runs sample by sample right after the sample's planes, while they are in
//! the cache (see `super::contract::After`).

use super::contract::After;
use super::real::Real;
use crate::tensor::{Data, HostTy, Tensor};
use dlp_compiler::ir::{Op, PoolKind};
use rayon::prelude::*;

/// Output elements per task at least (fewer make a task not worth it).
const MIN_TASK: usize = 4096;

/// `pool` or `pool_grad` of `operands` (logical shapes `shapes`) into
/// `out`, written into `dst` (a buffer of that type and size, whatever it
/// holds), `after` called on each sample once it is computed; `None` for
/// another op or type.
pub fn window(
    op: &Op,
    operands: &[&Tensor],
    shapes: &[Vec<usize>],
    out: &HostTy,
    dst: Data,
    after: &After,
) -> Option<Tensor> {
    macro_rules! typed {
        ($variant:ident, $t:ty) => {{
            let value = |i: usize| -> Option<&[$t]> {
                match &operands.get(i)?.data {
                    Data::$variant(v) => Some(v),
                    _ => None,
                }
            };
            let x = value(0)?;
            let w = Windows::new(&shapes[0], out, op)?;
            let Data::$variant(mut result) = dst else {
                return None;
            };
            match op {
                Op::Pool { kind, .. } => w.pool(*kind, x, &mut result, after),
                Op::PoolGrad { kind, .. } => w.grad(*kind, x, value(1)?, &mut result, after),
                _ => return None,
            }
            Tensor::new(out.shape.clone(), Data::$variant(result))
        }};
    }
    Some(match out.dtype {
        dlp_compiler::ir::DType::F32 => typed!(F32, f32),
        dlp_compiler::ir::DType::F64 => typed!(F64, f64),
        dlp_compiler::ir::DType::I32 | dlp_compiler::ir::DType::Bool => return None,
    })
}

/// The windows of a pooling: `x[samples, channels, h, w]` into
/// `[samples, channels, oh, ow]`.
struct Windows {
    samples: usize,
    channels: usize,
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
    k: usize,
    stride: usize,
}

impl Windows {
    fn new(x: &[usize], out: &HostTy, op: &Op) -> Option<Windows> {
        let (k, stride) = match op {
            Op::Pool { k, stride, .. } | Op::PoolGrad { k, stride, .. } => (*k, *stride),
            _ => return None,
        };
        // The pooled shape: the result's for a pooling, computed for a
        // gradient (whose result is shaped like x).
        let (oh, ow) = match op {
            Op::Pool { .. } => (out.shape[2], out.shape[3]),
            _ => (
                x[2].checked_sub(k)? / stride.max(1) + 1,
                x[3].checked_sub(k)? / stride.max(1) + 1,
            ),
        };
        Some(Windows {
            samples: x[0],
            channels: x[1],
            h: x[2],
            w: x[3],
            oh,
            ow,
            k,
            stride,
        })
    }

    /// The input offset (within a plane) of output `(i, j)`'s window row
    /// `ki`: its `k` elements start there.
    fn row(&self, i: usize, j: usize, ki: usize) -> usize {
        (i * self.stride + ki) * self.w + j * self.stride
    }

    /// The offset of the first largest element of output `o`'s window
    /// (chosen without branches: they would mispredict); `None` for an
    /// empty window.
    fn first_largest<T: Real>(&self, x: &[T], o: usize) -> Option<usize> {
        let (i, j) = (o / self.ow, o % self.ow);
        let mut best = self.row(i, j, 0);
        let mut top = *x.get(best).filter(|_| self.k > 0)?;
        for ki in 0..self.k {
            let row = self.row(i, j, ki);
            for (at, &v) in x[row..row + self.k].iter().enumerate() {
                let better = v > top;
                best = if better { row + at } else { best };
                top = if better { v } else { top };
            }
        }
        Some(best)
    }

    /// `max_pool2d`'s default (2×2 windows, stride 2), row pair by row
    /// pair: the general rule, unrolled (the same maxima, in the same
    /// order).
    fn max_2x2<T: Real>(&self, x: &[T], out: &mut [T]) {
        for (i, out) in out.chunks_exact_mut(self.ow.max(1)).enumerate() {
            let top = &x[2 * i * self.w..][..self.w];
            let bottom = &x[(2 * i + 1) * self.w..][..self.w];
            let pairs = top.chunks_exact(2).zip(bottom.chunks_exact(2));
            for (d, (t, b)) in out.iter_mut().zip(pairs) {
                *d = T::NEG_INFINITY.max(t[0]).max(t[1]).max(b[0]).max(b[1]);
            }
        }
    }

    /// The gradient of [`Windows::max_2x2`]: each window's gradient to its
    /// first largest element, zeros elsewhere (windows do not overlap), a
    /// pair of rows at a time.
    fn max_2x2_grad<T: Real>(&self, x: &[T], g: &[T], out: &mut [T]) {
        let (w, zero) = (self.w, T::default());
        // What no window covers (an odd last row or column) gets nothing.
        out[2 * self.oh * w..].fill(zero);
        if 2 * self.ow < w {
            for row in out[..2 * self.oh * w].chunks_exact_mut(w) {
                row[2 * self.ow..].fill(zero);
            }
        }
        for (i, g) in g.chunks_exact(self.ow.max(1)).enumerate() {
            let (top, bottom) = (&x[2 * i * w..][..w], &x[(2 * i + 1) * w..][..w]);
            let (out_top, rest) = out[2 * i * w..].split_at_mut(w);
            let out_bottom = &mut rest[..w];
            let windows = top.chunks_exact(2).zip(bottom.chunks_exact(2));
            let outs = out_top
                .chunks_exact_mut(2)
                .zip(out_bottom.chunks_exact_mut(2));
            for ((&gj, (t, b)), (ot, ob)) in g.iter().zip(windows).zip(outs) {
                // The first largest, in the window's row-major order.
                let (mut best, mut top) = (0, t[0]);
                for (k, v) in [(1, t[1]), (2, b[0]), (3, b[1])] {
                    let better = v > top;
                    best = if better { k } else { best };
                    top = if better { v } else { top };
                }
                let pick = |k| if best == k { gj } else { zero };
                ot[0] = pick(0);
                ot[1] = pick(1);
                ob[0] = pick(2);
                ob[1] = pick(3);
            }
        }
    }

    /// Samples per task, for tasks of at least [`MIN_TASK`] elements.
    fn samples_per_task(&self, per_sample: usize) -> usize {
        MIN_TASK.div_ceil(per_sample.max(1))
    }

    /// One plane of the pooling: the max in the element type (exact), the
    /// mean summed in f64.
    fn pool_plane<T: Real>(&self, kind: PoolKind, x: &[T], out: &mut [T]) {
        if kind == PoolKind::Max && self.k == 2 && self.stride == 2 {
            return self.max_2x2(x, out);
        }
        let n = (self.k * self.k).max(1) as f64;
        for (o, d) in out.iter_mut().enumerate() {
            let (i, j) = (o / self.ow, o % self.ow);
            let rows = (0..self.k).flat_map(|ki| &x[self.row(i, j, ki)..][..self.k]);
            *d = match kind {
                PoolKind::Max => rows.fold(T::NEG_INFINITY, |a, &v| a.max(v)),
                PoolKind::Avg => T::from_f64(rows.fold(0.0, |a, &v| a + v.into()) / n),
            };
        }
    }

    /// One plane of the gradient, summed in `acc` (f64, the plane's size)
    /// where windows overlap.
    fn grad_plane<T: Real>(
        &self,
        kind: PoolKind,
        x: &[T],
        g: &[T],
        out: &mut [T],
        acc: &mut Vec<f64>,
    ) {
        if kind == PoolKind::Max && self.k == 2 && self.stride == 2 {
            return self.max_2x2_grad(x, g, out);
        }
        if kind == PoolKind::Max && self.stride >= self.k {
            // Windows apart: each element takes at most one gradient, which
            // a sum in f64 would leave as it is.
            out.fill(T::default());
            for (o, &go) in g.iter().enumerate() {
                if let Some(best) = self.first_largest(x, o) {
                    out[best] = go;
                }
            }
            return;
        }
        let n = (self.k * self.k) as f64;
        acc.clear();
        acc.resize(out.len(), 0.0);
        for (o, &go) in g.iter().enumerate() {
            let (i, j) = (o / self.ow, o % self.ow);
            match kind {
                PoolKind::Avg => {
                    for ki in 0..self.k {
                        let row = self.row(i, j, ki);
                        for a in &mut acc[row..row + self.k] {
                            *a += go.into() / n;
                        }
                    }
                }
                PoolKind::Max => {
                    if let Some(best) = self.first_largest(x, o) {
                        acc[best] += go.into();
                    }
                }
            }
        }
        for (d, &a) in out.iter_mut().zip(acc.iter()) {
            *d = T::from_f64(a);
        }
    }

    fn pool<T: Real>(&self, kind: PoolKind, x: &[T], out: &mut [T], after: &After) {
        let (per_in, per_out) = (self.h * self.w, self.oh * self.ow);
        let per_sample = self.channels * per_out;
        if per_sample == 0 {
            return after(0, self.samples);
        }
        out.par_chunks_mut(per_sample)
            .enumerate()
            .with_min_len(self.samples_per_task(per_sample))
            .for_each(|(b, sample)| {
                for (c, o) in sample.chunks_exact_mut(per_out).enumerate() {
                    let p = b * self.channels + c;
                    self.pool_plane(kind, &x[p * per_in..][..per_in], o);
                }
                after(b, b + 1);
            });
    }

    fn grad<T: Real>(&self, kind: PoolKind, x: &[T], g: &[T], out: &mut [T], after: &After) {
        let (per_in, per_out) = (self.h * self.w, self.oh * self.ow);
        let per_sample = self.channels * per_in;
        if per_sample == 0 {
            return after(0, self.samples);
        }
        out.par_chunks_mut(per_sample)
            .enumerate()
            .with_min_len(self.samples_per_task(per_sample))
            .for_each_init(Vec::new, |acc, (b, sample)| {
                for (c, o) in sample.chunks_exact_mut(per_in).enumerate() {
                    let p = b * self.channels + c;
                    let x = &x[p * per_in..][..per_in];
                    let g = &g[p * per_out..][..per_out];
                    self.grad_plane(kind, x, g, o, acc)
                }
                after(b, b + 1);
            });
    }
}
