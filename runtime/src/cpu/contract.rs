//! Contractions on the CPU, through `gemm` (multi-threaded): matrix
//! products, and convolutions and their gradients as matrix products over
//! unfolded windows ("im2col"). f32 and f64; the result of each is exactly
//! the anchor's value, before any epilogue.
//!
//! Each takes `after`, the kernel's epilogue (bias, activation), to call on
//! every range of the result's outermost rows once they are computed, and
//! calls it exactly once per row: a convolution calls it sample by sample
//! on the thread that computed the sample, while the sample's result is
//! still in its cache; a matrix product once, over all rows.

use super::real::Real;
use crate::tensor::{Data, HostTy, Tensor};
use dlp_compiler::ir::Op;
use rayon::prelude::*;

/// How a matrix product's operand is laid out in memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    /// Stored with its last two axes swapped (a transpose read in place).
    pub transposed: bool,
    /// One matrix for every batch of the product (a broadcast along the
    /// leading axes, read in place).
    pub repeated: bool,
}

/// An epilogue to run over rows `start..end` of a result's outermost axis
/// (see the module's documentation).
pub type After<'a> = dyn Fn(usize, usize) + Sync + 'a;

/// The value of contraction `op` on `operands` (in memory, row-major,
/// whose logical shapes are `shapes`; a matmul operand is stored as its
/// [`Layout`] says), of type `out`, written into
/// `dst` (a buffer of that type and size, whatever it holds); `None` for an
/// op this module does not compute. Large scratch buffers are taken from
/// `spare` and given back to it, so the next step finds them there.
#[allow(clippy::too_many_arguments)]
pub fn contraction(
    op: &Op,
    operands: &[&Tensor],
    layouts: &[Layout],
    shapes: &[Vec<usize>],
    out: &HostTy,
    dst: Data,
    spare: &mut Vec<Data>,
    after: &After,
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
            let all_rows = || after(0, out.shape.first().copied().unwrap_or(1));
            match op {
                Op::MatMul => {
                    matmul(&mut d, [a, b], [layouts[0], layouts[1]], sa, out);
                    all_rows();
                }
                Op::Conv { stride, pad } => conv(&mut d, a, b, sa, sb, *stride, *pad, out, after),
                Op::ConvWeightGrad { stride, pad } => {
                    let cv = Conv::new(sa, &out.shape, sb, *stride, *pad);
                    conv_weight_grad(&mut d, a, b, &cv, spare);
                    all_rows();
                }
                Op::ConvInputGrad { stride, pad } => {
                    conv_input_grad(&mut d, a, b, sa, sb, *stride, *pad, out, after)
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

/// `[.., M, K] @ [.., K, N]`, either operand possibly stored transposed
/// or one matrix for every batch.
fn matmul<T: Real>(
    dst: &mut [T],
    [a, b]: [&[T]; 2],
    [la, lb]: [Layout; 2],
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
            Mat::stored(&a[batch_of(la, i) * m * k..][..m * k], m, k, la.transposed),
            Mat::stored(&b[batch_of(lb, i) * k * n..][..k * n], k, n, lb.transposed),
            false,
            true,
        );
    }
}

/// Which stored matrix batch `i` of a product reads.
fn batch_of(layout: Layout, i: usize) -> usize {
    if layout.repeated {
        0
    } else {
        i
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
/// row-major of `lhs.rows × rhs.cols`; on every thread when `parallel` and
/// the product is large enough.
fn gemm<T: Real>(dst: &mut [T], lhs: Mat<T>, rhs: Mat<T>, accumulate: bool, parallel: bool) {
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
    let parallelism = if parallel && threads > 1 && m * n * k >= 64 * 64 * 64 {
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

/// Where one row of unfolded windows reads in a sample: the first input
/// row of its channel, its kernel row, the output columns `lo..hi` that
/// read inside the image, and the input column output column `lo` reads.
struct Span {
    plane: usize,
    ki: usize,
    lo: usize,
    hi: usize,
    x0: usize,
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

    /// Where window row `row` (channel, kernel row, kernel column) reads,
    /// worked out once for all output rows.
    fn span(&self, row: usize) -> Span {
        let (ch, ki, kj) = (
            row / (self.kh * self.kw),
            row / self.kw % self.kh,
            row % self.kw,
        );
        // Output column j reads input column j·stride + kj - pad.
        let first = |x: isize| -> usize {
            // The first j with j·stride + kj - pad >= x.
            let need = x + self.pad as isize - kj as isize;
            if need <= 0 {
                0
            } else {
                (need as usize).div_ceil(self.stride)
            }
        };
        let lo = first(0).min(self.ow);
        let hi = first(self.w as isize).clamp(lo, self.ow);
        Span {
            plane: ch * self.h,
            ki,
            lo,
            hi,
            x0: (lo * self.stride + kj).saturating_sub(self.pad),
        }
    }

    /// The input row that output row `i` reads through `span` (`None` in
    /// the padding), as an offset in rows of the sample.
    fn input_row(&self, span: &Span, i: usize) -> Option<usize> {
        let y = (i * self.stride + span.ki) as isize - self.pad as isize;
        (y >= 0 && (y as usize) < self.h).then(|| span.plane + y as usize)
    }

    /// One sample's windows (`x` is its `[c, h, w]`) as a `window ×
    /// positions` matrix.
    fn unfold<T: Real>(&self, x: &[T], cols: &mut [T]) {
        let n = self.positions();
        for (row, dst) in cols
            .chunks_exact_mut(n.max(1))
            .take(self.window())
            .enumerate()
        {
            self.unfold_row(x, row, dst);
        }
    }

    /// Row `row` of one sample's unfolded windows (`positions` elements).
    fn unfold_row<T: Real>(&self, x: &[T], row: usize, dst: &mut [T]) {
        let span = self.span(row);
        let (lo, hi, x0) = (span.lo, span.hi, span.x0);
        for (i, out) in dst.chunks_exact_mut(self.ow.max(1)).enumerate() {
            let Some(y) = self.input_row(&span, i) else {
                out.fill(T::default());
                continue;
            };
            let src = &x[y * self.w..][..self.w];
            out[..lo].fill(T::default());
            out[hi..].fill(T::default());
            if self.stride == 1 {
                out[lo..hi].copy_from_slice(&src[x0..x0 + (hi - lo)]);
            } else {
                for (j, o) in out[lo..hi].iter_mut().enumerate() {
                    *o = src[x0 + j * self.stride];
                }
            }
        }
    }

    /// The inverse walk of [`Conv::unfold`]: adds each element of `cols`
    /// to the input element it was read from (`dx` is the sample's).
    fn fold<T: Real>(&self, cols: &[T], dx: &mut [T]) {
        let n = self.positions();
        for (row, src) in cols.chunks_exact(n.max(1)).enumerate() {
            let span = self.span(row);
            let (lo, hi, x0) = (span.lo, span.hi, span.x0);
            for (i, part) in src.chunks_exact(self.ow.max(1)).enumerate() {
                let Some(y) = self.input_row(&span, i) else {
                    continue;
                };
                let dst = &mut dx[y * self.w..][..self.w];
                if self.stride == 1 {
                    // Contiguous: the compiler vectorises this loop.
                    for (d, &v) in dst[x0..x0 + (hi - lo)].iter_mut().zip(&part[lo..hi]) {
                        *d += v;
                    }
                } else {
                    for (j, &v) in part[lo..hi].iter().enumerate() {
                        dst[x0 + j * self.stride] += v;
                    }
                }
            }
        }
    }

    /// Elements of one sample of the input.
    fn sample(&self) -> usize {
        self.c * self.h * self.w
    }
}

/// Each sample's windows, unfolded, times the kernel: `w @ windows[b]`,
/// samples shared among the threads.
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
    after: &After,
) {
    let cv = Conv::new(sx, sw, &out.shape, stride, pad);
    let (k, n) = (cv.window(), cv.positions());
    if cv.o * n == 0 {
        return after(0, cv.batch);
    }
    per_sample(dst, cv.o * n, k * n, after, |b, d, cols, inside| {
        cv.unfold(&x[b * cv.sample()..][..cv.sample()], cols);
        gemm(
            d,
            Mat::rows(w, cv.o, k),
            Mat::rows(cols, k, n),
            false,
            inside,
        );
    });
}

/// Samples' positions per partial product of the weight gradient, at
/// least: deep enough for `gemm` to run near its peak.
const WEIGHT_GRAD_DEPTH: usize = 1024;

/// d loss / d w: `g @ windowsᵀ`, summed over samples and positions. The
/// samples are cut into chunks of a fixed size (from the shapes, not the
/// thread count); each chunk's product, with its samples' positions side
/// by side, is computed on a thread of its own, and the chunks' products
/// are added in chunk order, so the bits do not depend on the threads.
/// (One product over the whole batch has a 64 × 288 result for the W2
/// CNN, too little for `gemm` to share among threads.)
fn conv_weight_grad<T: Real>(dst: &mut [T], x: &[T], g: &[T], cv: &Conv, spare: &mut Vec<Data>) {
    let (k, n, o) = (cv.window(), cv.positions(), cv.o);
    if cv.batch * n == 0 || k * o == 0 {
        dst.fill(T::default());
        return;
    }
    let per_chunk = WEIGHT_GRAD_DEPTH.div_ceil(n).min(cv.batch);
    let chunks = cv.batch.div_ceil(per_chunk);
    // Each chunk's scratch: its windows `cols[r, s·n + p]`, its gradients
    // `gs[o, s·n + p]` (s its samples) and its product `[o, k]`.
    let depth = per_chunk * n;
    let per = k * depth + o * depth + o * k;
    let mut scratch = T::take(spare, chunks * per);
    let inside = chunks < super::threads::threads();
    scratch
        .par_chunks_mut(per)
        .enumerate()
        .for_each(|(c, scratch)| {
            let (cols, rest) = scratch.split_at_mut(k * depth);
            let (gs, product) = rest.split_at_mut(o * depth);
            let samples = c * per_chunk..((c + 1) * per_chunk).min(cv.batch);
            let depth = samples.len() * n;
            for r in 0..k {
                let row = &mut cols[r * depth..][..depth];
                for (s, b) in samples.clone().enumerate() {
                    let x = &x[b * cv.sample()..][..cv.sample()];
                    cv.unfold_row(x, r, &mut row[s * n..][..n]);
                }
            }
            for ch in 0..o {
                let row = &mut gs[ch * depth..][..depth];
                for (s, b) in samples.clone().enumerate() {
                    row[s * n..][..n].copy_from_slice(&g[(b * o + ch) * n..][..n]);
                }
            }
            gemm(
                product,
                Mat::rows(&gs[..o * depth], o, depth),
                Mat::rows(&cols[..k * depth], k, depth).t(),
                false,
                inside,
            );
        });
    let products = scratch.chunks_exact(per).map(|c| &c[per - o * k..]);
    for (c, product) in products.enumerate() {
        if c == 0 {
            dst.copy_from_slice(product);
        } else {
            dst.iter_mut().zip(product).for_each(|(d, &p)| *d += p);
        }
    }
    T::give(spare, scratch);
}

/// d loss / d x: `wᵀ @ g[b]` for each sample, folded back onto the input,
/// samples shared among the threads.
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
    after: &After,
) {
    let cv = Conv::new(&out.shape, sw, sg, stride, pad);
    let (k, n) = (cv.window(), cv.positions());
    if cv.sample() == 0 {
        return after(0, cv.batch);
    }
    if n == 0 {
        dst.fill(T::default());
        return after(0, cv.batch);
    }
    per_sample(dst, cv.sample(), k * n, after, |b, dx, cols, inside| {
        let gb = Mat::rows(&g[b * cv.o * n..][..cv.o * n], cv.o, n);
        gemm(cols, Mat::rows(w, cv.o, k).t(), gb, false, inside);
        dx.fill(T::default());
        cv.fold(cols, dx);
    });
}

/// Calls `each(b, dst_b, scratch, parallel)` for every sample `b` (`dst`
/// cut into `per` elements each), then `after(b, b + 1)`: samples shared
/// among the threads, each with a scratch buffer of `scratch` elements; or,
/// with fewer samples than threads, one after the other, each product on
/// every thread (`parallel`).
fn per_sample<T: Real>(
    dst: &mut [T],
    per: usize,
    scratch: usize,
    after: &After,
    each: impl Fn(usize, &mut [T], &mut [T], bool) + Sync,
) {
    if dst.len() / per.max(1) < super::threads::threads() {
        let mut cols = vec![T::default(); scratch];
        for (b, d) in dst.chunks_mut(per).enumerate() {
            each(b, d, &mut cols, true);
            after(b, b + 1);
        }
        return;
    }
    dst.par_chunks_mut(per).enumerate().for_each_init(
        || vec![T::default(); scratch],
        |cols, (b, d)| {
            each(b, d, cols, false);
            after(b, b + 1);
        },
    );
}
