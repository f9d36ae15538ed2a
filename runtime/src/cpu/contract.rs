//! Contractions on the CPU, through `gemm` (multi-threaded): matrix
//! products, and convolutions and their gradients as matrix products over
//! unfolded windows ("im2col"). f32 and f64; the result of each is exactly
//! the anchor's value, before any epilogue.

use crate::tensor::{Data, HostTy, Tensor};
use dlp_compiler::ir::Op;

/// The value of contraction `op` on `operands` (in memory, row-major,
/// whose logical shapes are `shapes`; a matmul operand marked `transposed`
/// is stored with its last two axes swapped), of type `out`, written into
/// `dst` (a buffer of that type and size, whatever it holds); `None` for an
/// op this module does not compute.
pub fn contraction(
    op: &Op,
    operands: &[&Tensor],
    transposed: &[bool],
    shapes: &[Vec<usize>],
    out: &HostTy,
    dst: Data,
) -> Option<Tensor> {
    macro_rules! typed {
        ($variant:ident, $t:ty) => {{
            let values = |i: usize| -> Option<&[$t]> {
                match &operands[i].data {
                    Data::$variant(v) => Some(v),
                    _ => None,
                }
            };
            let (a, b) = (values(0)?, values(1)?);
            let (sa, sb) = (&shapes[0], &shapes[1]);
            let Data::$variant(mut d) = dst else {
                return None;
            };
            match op {
                Op::MatMul => matmul(&mut d, [a, b], [transposed[0], transposed[1]], sa, out),
                Op::Conv { stride, pad } => conv(&mut d, a, b, sa, sb, *stride, *pad, out),
                Op::ConvWeightGrad { stride, pad } => {
                    conv_weight_grad(&mut d, a, b, sa, sb, *stride, *pad, out)
                }
                Op::ConvInputGrad { stride, pad } => {
                    conv_input_grad(&mut d, a, b, sa, sb, *stride, *pad, out)
                }
                _ => return None,
            }
            Tensor::new(out.shape.clone(), Data::$variant(d))
        }};
    }
    Some(match out.dtype {
        dlp_compiler::ir::DType::F32 => typed!(F32, f32),
        dlp_compiler::ir::DType::F64 => typed!(F64, f64),
        dlp_compiler::ir::DType::I32 | dlp_compiler::ir::DType::Bool => return None,
    })
}

/// Floats `gemm` multiplies.
pub trait Real: Copy + Default + From<u8> + std::ops::AddAssign + 'static {}
impl Real for f32 {}
impl Real for f64 {}

/// `[.., M, K] @ [.., K, N]`, either operand possibly stored transposed.
fn matmul<T: Real>(
    dst: &mut [T],
    [a, b]: [&[T]; 2],
    transposed: [bool; 2],
    sa: &[usize],
    out: &HostTy,
) {
    let r = out.shape.len();
    let (m, n) = (out.shape[r - 2], out.shape[r - 1]);
    let k = sa[sa.len() - 1];
    let batch: usize = out.shape[..r - 2].iter().product();
    for i in 0..batch {
        let d = &mut dst[i * m * n..][..m * n];
        gemm(
            d,
            Mat::stored(&a[i * m * k..][..m * k], m, k, transposed[0]),
            Mat::stored(&b[i * k * n..][..k * n], k, n, transposed[1]),
            false,
        );
    }
}

/// A matrix in memory: its data, its size and its strides (so that a
/// transposed view costs nothing).
#[derive(Clone, Copy)]
struct Mat<'a, T> {
    data: &'a [T],
    rows: usize,
    cols: usize,
    row_stride: isize,
    col_stride: isize,
}

impl<'a, T> Mat<'a, T> {
    fn rows(data: &'a [T], rows: usize, cols: usize) -> Mat<'a, T> {
        Mat {
            data,
            rows,
            cols,
            row_stride: cols as isize,
            col_stride: 1,
        }
    }

    /// A `rows × cols` matrix stored row-major, or, when `transposed`,
    /// stored as its `cols × rows` transpose.
    fn stored(data: &'a [T], rows: usize, cols: usize, transposed: bool) -> Mat<'a, T> {
        if transposed {
            Mat::rows(data, cols, rows).t()
        } else {
            Mat::rows(data, rows, cols)
        }
    }

    fn t(self) -> Mat<'a, T> {
        Mat {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }
}

/// `dst = lhs @ rhs` (or `dst += lhs @ rhs` with `accumulate`), `dst`
/// row-major of `lhs.rows × rhs.cols`.
fn gemm<T: Real>(dst: &mut [T], lhs: Mat<T>, rhs: Mat<T>, accumulate: bool) {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    assert!(rhs.rows == k && dst.len() == m * n);
    assert!(lhs.data.len() >= m * k && rhs.data.len() >= k * n);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst.iter_mut().for_each(|d| *d = T::default());
        }
        return;
    }
    let threads = super::threads::threads();
    let parallelism = if threads > 1 && m * n * k >= 64 * 64 * 64 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: `dst` holds m*n elements and is written row-major; `lhs`
    // and `rhs` are m×k and k×n matrices whose strides (row-major, or
    // transposed row-major) stay within their slices, which hold at least
    // m*k and k*n elements (asserted above); `dst` does not alias them.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.col_stride,
            lhs.row_stride,
            rhs.data.as_ptr(),
            rhs.col_stride,
            rhs.row_stride,
            T::from(1u8),
            T::from(1u8),
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// The sizes of a convolution.
struct Conv {
    batch: usize,
    c: usize,
    h: usize,
    w: usize,
    o: usize,
    kh: usize,
    kw: usize,
    oh: usize,
    ow: usize,
    stride: usize,
    pad: usize,
}

impl Conv {
    fn new(x: &[usize], w: &[usize], out: &[usize], stride: usize, pad: usize) -> Conv {
        Conv {
            batch: x[0],
            c: x[1],
            h: x[2],
            w: x[3],
            o: w[0],
            kh: w[2],
            kw: w[3],
            oh: out[2],
            ow: out[3],
            stride,
            pad,
        }
    }

    /// Rows of the unfolded windows: one per (channel, kernel row, column).
    fn window(&self) -> usize {
        self.c * self.kh * self.kw
    }

    fn positions(&self) -> usize {
        self.oh * self.ow
    }

    /// Visits, for sample `b`, each (window row, output position) and the
    /// input element it reads (`None` in the padding).
    fn each(&self, b: usize, mut visit: impl FnMut(usize, usize, Option<usize>)) {
        for ch in 0..self.c {
            for ki in 0..self.kh {
                for kj in 0..self.kw {
                    let row = (ch * self.kh + ki) * self.kw + kj;
                    for i in 0..self.oh {
                        let y = (i * self.stride + ki) as isize - self.pad as isize;
                        for j in 0..self.ow {
                            let x = (j * self.stride + kj) as isize - self.pad as isize;
                            let inside =
                                y >= 0 && (y as usize) < self.h && x >= 0 && (x as usize) < self.w;
                            let at = inside.then(|| {
                                ((b * self.c + ch) * self.h + y as usize) * self.w + x as usize
                            });
                            visit(row, i * self.ow + j, at);
                        }
                    }
                }
            }
        }
    }

    /// Sample `b`'s windows as a `window × positions` matrix.
    fn unfold<T: Real>(&self, x: &[T], b: usize, cols: &mut [T]) {
        let n = self.positions();
        self.each(b, |row, p, at| {
            cols[row * n + p] = at.map_or(T::default(), |a| x[a])
        });
    }
}

/// Each sample's windows, unfolded, times the kernel: `w @ windows[b]`.
#[allow(clippy::too_many_arguments)]
fn conv<T: Real>(
    dst: &mut [T],
    x: &[T],
    w: &[T],
    sx: &[usize],
    sw: &[usize],
    stride: usize,
    pad: usize,
    out: &HostTy,
) {
    let cv = Conv::new(sx, sw, &out.shape, stride, pad);
    let (k, n) = (cv.window(), cv.positions());
    let mut cols = vec![T::default(); k * n];
    for b in 0..cv.batch {
        cv.unfold(x, b, &mut cols);
        let d = &mut dst[b * cv.o * n..][..cv.o * n];
        gemm(d, Mat::rows(w, cv.o, k), Mat::rows(&cols, k, n), false);
    }
}

/// d loss / d w: the sum over samples of `g[b] @ windows[b]ᵀ`.
#[allow(clippy::too_many_arguments)]
fn conv_weight_grad<T: Real>(
    dst: &mut [T],
    x: &[T],
    g: &[T],
    sx: &[usize],
    sg: &[usize],
    stride: usize,
    pad: usize,
    out: &HostTy,
) {
    let cv = Conv::new(sx, &out.shape, sg, stride, pad);
    let (k, n) = (cv.window(), cv.positions());
    let mut cols = vec![T::default(); k * n];
    dst.iter_mut().for_each(|d| *d = T::default());
    for b in 0..cv.batch {
        cv.unfold(x, b, &mut cols);
        let gb = Mat::rows(&g[b * cv.o * n..][..cv.o * n], cv.o, n);
        gemm(dst, gb, Mat::rows(&cols, k, n).t(), true);
    }
}

/// d loss / d x: `wᵀ @ g[b]` for each sample, folded back onto the input.
#[allow(clippy::too_many_arguments)]
fn conv_input_grad<T: Real>(
    dst: &mut [T],
    g: &[T],
    w: &[T],
    sg: &[usize],
    sw: &[usize],
    stride: usize,
    pad: usize,
    out: &HostTy,
) {
    let cv = Conv::new(&out.shape, sw, sg, stride, pad);
    let (k, n) = (cv.window(), cv.positions());
    let mut cols = vec![T::default(); k * n];
    dst.iter_mut().for_each(|d| *d = T::default());
    for b in 0..cv.batch {
        let gb = Mat::rows(&g[b * cv.o * n..][..cv.o * n], cv.o, n);
        gemm(&mut cols, Mat::rows(w, cv.o, k).t(), gb, false);
        cv.each(b, |row, p, at| {
            if let Some(a) = at {
                dst[a] += cols[row * n + p];
            }
        });
    }
}
