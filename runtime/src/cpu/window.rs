//! Pooling and its gradient on the CPU: the interpreter's rules (the max
//! of each window; the mean, summed in f64; the gradient to the first
//! largest element, or spread evenly), computed straight from the
//! tensors' own element types instead of through f64 copies.

use crate::tensor::{Data, HostTy, Tensor};
use dlp_compiler::ir::{Op, PoolKind};

/// `pool` or `pool_grad` of `operands` (logical shapes `shapes`) into
/// `out`; `None` for another op or type.
pub fn window(
    op: &Op,
    operands: &[&Tensor],
    shapes: &[Vec<usize>],
    out: &HostTy,
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
            let result: Vec<$t> = match op {
                Op::Pool { kind, .. } => w.pool(*kind, x).into_iter().map(|v| v as $t).collect(),
                Op::PoolGrad { kind, .. } => {
                    let g = value(1)?;
                    w.grad(*kind, x, g).into_iter().map(|v| v as $t).collect()
                }
                _ => return None,
            };
            Tensor::new(out.shape.clone(), Data::$variant(result))
        }};
    }
    Some(match out.dtype {
        dlp_compiler::ir::DType::F32 => typed!(F32, f32),
        dlp_compiler::ir::DType::F64 => typed!(F64, f64),
        dlp_compiler::ir::DType::I32 | dlp_compiler::ir::DType::Bool => return None,
    })
}

/// The windows of a pooling: `x[planes, h, w]` into `[planes, oh, ow]`.
struct Windows {
    planes: usize,
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
            _ => ((x[2] - k) / stride + 1, (x[3] - k) / stride + 1),
        };
        Some(Windows {
            planes: x[0] * x[1],
            h: x[2],
            w: x[3],
            oh,
            ow,
            k,
            stride,
        })
    }

    /// Calls `visit(output, input)` for each window element, in the
    /// interpreter's order.
    fn each(&self, mut visit: impl FnMut(usize, usize)) {
        for p in 0..self.planes {
            for i in 0..self.oh {
                for j in 0..self.ow {
                    let o = (p * self.oh + i) * self.ow + j;
                    for ki in 0..self.k {
                        for kj in 0..self.k {
                            visit(
                                o,
                                (p * self.h + i * self.stride + ki) * self.w + j * self.stride + kj,
                            );
                        }
                    }
                }
            }
        }
    }

    fn outputs(&self) -> usize {
        self.planes * self.oh * self.ow
    }

    fn pool<T: Copy + Into<f64>>(&self, kind: PoolKind, x: &[T]) -> Vec<f64> {
        let start = match kind {
            PoolKind::Max => f64::NEG_INFINITY,
            PoolKind::Avg => 0.0,
        };
        let mut acc = vec![start; self.outputs()];
        self.each(|o, i| {
            let v: f64 = x[i].into();
            acc[o] = match kind {
                PoolKind::Max => acc[o].max(v),
                PoolKind::Avg => acc[o] + v,
            }
        });
        if kind == PoolKind::Avg {
            let n = (self.k * self.k).max(1) as f64;
            acc.iter_mut().for_each(|a| *a /= n);
        }
        acc
    }

    fn grad<T: Copy + Into<f64>>(&self, kind: PoolKind, x: &[T], g: &[T]) -> Vec<f64> {
        let mut acc = vec![0.0; x.len()];
        let n = (self.k * self.k) as f64;
        match kind {
            PoolKind::Avg => self.each(|o, i| acc[i] += g[o].into() / n),
            PoolKind::Max => {
                // The first largest element of each window takes it all.
                let mut best: Vec<Option<usize>> = vec![None; self.outputs()];
                self.each(|o, i| {
                    let better = match best[o] {
                        None => true,
                        Some(b) => x[i].into() > x[b].into(),
                    };
                    if better {
                        best[o] = Some(i);
                    }
                });
                for (o, b) in best.into_iter().enumerate() {
                    if let Some(b) = b {
                        acc[b] += g[o].into();
                    }
                }
            }
        }
        acc
    }
}
