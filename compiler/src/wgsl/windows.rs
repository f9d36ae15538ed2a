//! Convolutions, their gradients and pooling, one element at a time: the
//! window positions an output element sums over (or, for the gradients,
//! the windows an input element is in), bounds and strides checked where
//! they are read.

use super::emit::{int, literal, value_type, Emitter};
use crate::ir::{NodeId, PoolKind};

impl Emitter<'_> {
    /// `i * stride + k - pad`, without the `* 1` and `- 0`.
    pub fn window_at(&mut self, i: &str, stride: usize, k: &str, pad: usize) -> String {
        let mut expr = match stride {
            1 => format!("{i} + {k}"),
            s => format!("{i} * {} + {k}", int(s as i32)),
        };
        if pad != 0 {
            expr = format!("{expr} - {}", int(pad as i32));
        }
        self.index(expr)
    }

    /// `if (0 <= at < n)`, opened.
    pub(super) fn open_within(&mut self, at: &str, n: usize) {
        self.open(&format!("if ({at} >= 0i && {at} < {})", int(n as i32)));
    }

    pub(super) fn conv(
        &mut self,
        x: NodeId,
        w: NodeId,
        stride: usize,
        pad: usize,
        idx: &[String],
    ) -> String {
        let xs = self.shape(x).to_vec();
        let ws = self.shape(w).to_vec();
        let acc = self.accumulator(self.dtype(x), 0.0);
        let (b, o, i, j) = (&idx[0], &idx[1], &idx[2], &idx[3]);
        let (c, ki, kj) = (self.fresh("c"), self.fresh("ki"), self.fresh("kj"));
        self.open_loop(&c, xs[1]);
        self.open_loop(&ki, ws[2]);
        let y = self.window_at(i, stride, &ki, pad);
        self.open_within(&y, xs[2]);
        self.open_loop(&kj, ws[3]);
        let xx = self.window_at(j, stride, &kj, pad);
        self.open_within(&xx, xs[3]);
        let xv = self.at(x, &[b.clone(), c.clone(), y, xx]);
        let wv = self.at(w, &[o.clone(), c, ki, kj]);
        self.line(&format!("{acc} = {acc} + {xv} * {wv};"));
        for _ in 0..5 {
            self.close();
        }
        acc
    }

    /// `if` the window position `at + pad - k` is a multiple of the stride
    /// whose quotient is in `0..n`: opened, giving the quotient.
    pub fn open_source(
        &mut self,
        at: &str,
        k: &str,
        stride: usize,
        pad: usize,
        n: usize,
    ) -> String {
        let t = match pad {
            0 => self.index(format!("{at} - {k}")),
            p => self.index(format!("{at} + {} - {k}", int(p as i32))),
        };
        if stride == 1 {
            self.open_within(&t, n);
            return t;
        }
        let s = int(stride as i32);
        self.open(&format!(
            "if ({t} >= 0i && {t} % {s} == 0i && {t} / {s} < {})",
            int(n as i32)
        ));
        self.index(format!("{t} / {s}"))
    }

    pub(super) fn conv_input_grad(
        &mut self,
        id: NodeId,
        g: NodeId,
        w: NodeId,
        stride: usize,
        pad: usize,
        idx: &[String],
    ) -> String {
        let gs = self.shape(g).to_vec();
        let ws = self.shape(w).to_vec();
        let acc = self.accumulator(self.dtype(id), 0.0);
        let (b, c, y, x) = (&idx[0], &idx[1], &idx[2], &idx[3]);
        let (o, ki, kj) = (self.fresh("o"), self.fresh("ki"), self.fresh("kj"));
        self.open_loop(&o, ws[0]);
        self.open_loop(&ki, ws[2]);
        let i = self.open_source(y, &ki, stride, pad, gs[2]);
        self.open_loop(&kj, ws[3]);
        let j = self.open_source(x, &kj, stride, pad, gs[3]);
        let gv = self.at(g, &[b.clone(), o.clone(), i, j]);
        let wv = self.at(w, &[o, c.clone(), ki, kj]);
        self.line(&format!("{acc} = {acc} + {gv} * {wv};"));
        for _ in 0..5 {
            self.close();
        }
        acc
    }

    pub(super) fn conv_weight_grad(
        &mut self,
        id: NodeId,
        x: NodeId,
        g: NodeId,
        stride: usize,
        pad: usize,
        idx: &[String],
    ) -> String {
        let xs = self.shape(x).to_vec();
        let gs = self.shape(g).to_vec();
        let acc = self.accumulator(self.dtype(id), 0.0);
        let (o, c, ki, kj) = (&idx[0], &idx[1], &idx[2], &idx[3]);
        let (b, i, j) = (self.fresh("b"), self.fresh("i"), self.fresh("j"));
        self.open_loop(&b, gs[0]);
        self.open_loop(&i, gs[2]);
        let y = self.window_at(&i, stride, ki, pad);
        self.open_within(&y, xs[2]);
        self.open_loop(&j, gs[3]);
        let xx = self.window_at(&j, stride, kj, pad);
        self.open_within(&xx, xs[3]);
        let gv = self.at(g, &[b.clone(), o.clone(), i, j]);
        let xv = self.at(x, &[b, c.clone(), y, xx]);
        self.line(&format!("{acc} = {acc} + {gv} * {xv};"));
        for _ in 0..5 {
            self.close();
        }
        acc
    }

    pub(super) fn pool(
        &mut self,
        x: NodeId,
        kind: PoolKind,
        k: usize,
        stride: usize,
        idx: &[String],
    ) -> String {
        let dtype = self.dtype(x);
        let acc = match kind {
            PoolKind::Max => self.accumulator(dtype, f64::NEG_INFINITY),
            PoolKind::Avg => self.accumulator(dtype, 0.0),
        };
        let (ki, kj) = (self.fresh("ki"), self.fresh("kj"));
        self.open_loop(&ki, k);
        self.open_loop(&kj, k);
        let y = self.window_at(&idx[2], stride, &ki, 0);
        let xx = self.window_at(&idx[3], stride, &kj, 0);
        let v = self.at(x, &[idx[0].clone(), idx[1].clone(), y, xx]);
        match kind {
            PoolKind::Max => {
                let m = self.call("max_f32", &[acc.clone(), v]);
                self.line(&format!("{acc} = {m};"));
            }
            PoolKind::Avg => self.line(&format!("{acc} = {acc} + {v};")),
        }
        self.close();
        self.close();
        match kind {
            PoolKind::Max => acc,
            PoolKind::Avg => format!(
                "({acc} / {})",
                literal(dtype, (k * k) as f64, &mut self.helpers)
            ),
        }
    }

    pub(super) fn pool_grad(
        &mut self,
        x: NodeId,
        g: NodeId,
        kind: PoolKind,
        k: usize,
        stride: usize,
        idx: &[String],
    ) -> String {
        let gs = self.shape(g).to_vec();
        let dtype = self.dtype(g);
        let acc = self.accumulator(dtype, 0.0);
        let (b, c, y, xx) = (&idx[0], &idx[1], &idx[2], &idx[3]);
        let (ki, kj) = (self.fresh("ki"), self.fresh("kj"));
        self.open_loop(&ki, k);
        let i = self.open_source(y, &ki, stride, 0, gs[2]);
        self.open_loop(&kj, k);
        let j = self.open_source(xx, &kj, stride, 0, gs[3]);
        let gv = self.at(g, &[b.clone(), c.clone(), i.clone(), j.clone()]);
        match kind {
            PoolKind::Avg => {
                let n = literal(dtype, (k * k) as f64, &mut self.helpers);
                self.line(&format!("{acc} = {acc} + {gv} / {n};"));
            }
            PoolKind::Max => {
                // The window's first largest element takes the gradient.
                let s = int(stride as i32);
                let (top, wi, wj) = (self.fresh("top"), self.fresh("wi"), self.fresh("wj"));
                let (y0, x0) = (
                    self.index(format!("{i} * {s}")),
                    self.index(format!("{j} * {s}")),
                );
                let first = self.at(x, &[b.clone(), c.clone(), y0.clone(), x0.clone()]);
                let ty = value_type(self.dtype(x));
                self.line(&format!("var {top}: {ty} = {first};"));
                self.line(&format!("var {wi}: i32 = 0i;"));
                self.line(&format!("var {wj}: i32 = 0i;"));
                let (ai, aj) = (self.fresh("ai"), self.fresh("aj"));
                self.open_loop(&ai, k);
                self.open_loop(&aj, k);
                let (yy, xw) = (
                    self.index(format!("{y0} + {ai}")),
                    self.index(format!("{x0} + {aj}")),
                );
                let v = self.at(x, &[b.clone(), c.clone(), yy, xw]);
                self.line(&format!(
                    "if ({v} > {top}) {{ {top} = {v}; {wi} = {ai}; {wj} = {aj}; }}"
                ));
                self.close();
                self.close();
                self.line(&format!(
                    "if ({wi} == {ki} && {wj} == {kj}) {{ {acc} = {acc} + {gv}; }}"
                ));
            }
        }
        for _ in 0..4 {
            self.close();
        }
        acc
    }
}
