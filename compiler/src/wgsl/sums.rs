//! What sums or searches a run: reductions (one invocation per element, or
//! a whole workgroup per element for long runs, [`Emitter::together`]),
//! argmax, and a matrix product's element as a loop (the tiled product is
//! `super::tiled`).

use super::emit::{int, literal, value_type, Emitter};
use crate::ir::{DType, NodeId, Op, ReduceOp};

impl Emitter<'_> {
    /// A new accumulator `var` of `dtype` starting at `init`.
    pub(super) fn accumulator(&mut self, dtype: DType, init: f64) -> String {
        let name = self.fresh("acc");
        let start = literal(dtype, init, &mut self.helpers);
        self.line(&format!("var {name}: {} = {start};", value_type(dtype)));
        name
    }

    pub(super) fn reduce(
        &mut self,
        id: NodeId,
        op: ReduceOp,
        axes: &[usize],
        idx: &[String],
    ) -> String {
        let x = self.graph.args(id)[0];
        let from = self.shape(x).to_vec();
        let dtype = self.dtype(id);
        let acc = self.accumulator(dtype, start(op));
        let mut kept = idx.iter();
        let mut full = Vec::with_capacity(from.len());
        let mut loops = 0;
        for (ax, &n) in from.iter().enumerate() {
            if axes.contains(&ax) {
                let var = self.fresh("r");
                self.open_loop(&var, n);
                loops += 1;
                full.push(var);
            } else {
                full.push(kept.next().cloned().unwrap_or_else(|| "0i".into()));
            }
        }
        let v = self.at(x, &full);
        let fold = self.fold(op, dtype, &acc, &v);
        self.line(&fold);
        for _ in 0..loops {
            self.close();
        }
        acc
    }

    /// The statement folding `v` into `acc` for `op` (the interpreter's
    /// rule: a NaN sticks to max and min).
    pub(super) fn fold(&mut self, op: ReduceOp, dtype: DType, acc: &str, v: &str) -> String {
        if dtype.is_float() && op != ReduceOp::Sum {
            self.helpers.insert("is_nan");
        }
        match (op, dtype.is_float()) {
            (ReduceOp::Sum, _) => format!("{acc} = {acc} + {v};"),
            (ReduceOp::Max, true) => format!("if ({v} > {acc} || is_nan({v})) {{ {acc} = {v}; }}"),
            (ReduceOp::Min, true) => format!("if ({v} < {acc} || is_nan({v})) {{ {acc} = {v}; }}"),
            (ReduceOp::Max, false) => format!("{acc} = max({acc}, {v});"),
            (ReduceOp::Min, false) => format!("{acc} = min({acc}, {v});"),
        }
    }

    /// Node `id` at `idx`, a reduction or a convolution's weight gradient,
    /// by the whole workgroup (every invocation of it has the same
    /// `idx`): each invocation folds every `WORKGROUP`-th term of the run,
    /// then the partial results are combined in a tree in workgroup memory
    /// (`partial`). Summing a long run in 256 short ones and a tree keeps
    /// f32's rounding error far below one long sequential sum's, and gives
    /// a run's work to 256 invocations instead of one. Gives the result,
    /// the same in every invocation.
    pub fn together(&mut self, id: NodeId, idx: &[String], lane: &str) -> String {
        let dtype = self.dtype(id);
        let (op, count) = match &self.graph.node(id).op {
            Op::Reduce { op, axes } => {
                let from = self.shape(self.graph.args(id)[0]);
                (*op, axes.iter().map(|&a| from[a]).product::<usize>())
            }
            // The sum over samples and output positions.
            Op::ConvWeightGrad { .. } => {
                let g = self.shape(self.graph.args(id)[1]);
                (ReduceOp::Sum, g[0] * g[2] * g[3])
            }
            other => unreachable!("{} is not summed by a workgroup", other.text()),
        };
        let acc = self.accumulator(dtype, start(op));
        let t = self.fresh("t");
        self.open(&format!(
            "for (var {t} = i32({lane}); {t} < {}; {t} += {})",
            int(count as i32),
            int(super::WORKGROUP as i32)
        ));
        let term = self.term(id, idx, &t);
        if let Some(v) = term {
            let fold = self.fold(op, dtype, &acc, &v);
            self.line(&fold);
        }
        self.close();
        let declaration = format!(
            "var<workgroup> partial: array<{}, {}>;",
            value_type(dtype),
            super::WORKGROUP
        );
        if !self.shared.contains(&declaration) {
            self.shared.push(declaration);
        }
        self.line(&format!("partial[{lane}] = {acc};"));
        self.line("workgroupBarrier();");
        let s = self.fresh("s");
        self.open(&format!(
            "for (var {s} = {}u; {s} > 0u; {s} = {s} >> 1u)",
            super::WORKGROUP / 2
        ));
        self.open(&format!("if ({lane} < {s})"));
        let other = self.fresh("w");
        self.line(&format!("let {other} = partial[{lane} + {s}];"));
        let fold = self.fold(op, dtype, &format!("partial[{lane}]"), &other);
        self.line(&fold);
        self.close();
        self.line("workgroupBarrier();");
        self.close();
        let total = self.fresh("total");
        self.line(&format!("let {total} = partial[0];"));
        self.remember(id, idx, total.clone());
        total
    }

    /// Term `t` of the run that `id` at `idx` sums (see
    /// [`Emitter::together`]); `None` where a convolution's window is
    /// outside the image (the term is zero, and has been skipped).
    pub(super) fn term(&mut self, id: NodeId, idx: &[String], t: &str) -> Option<String> {
        let args = self.graph.args(id).to_vec();
        match self.graph.node(id).op.clone() {
            Op::Reduce { axes, .. } => {
                let from = self.shape(args[0]).to_vec();
                let reduced: Vec<usize> = axes.iter().map(|&a| from[a]).collect();
                let mut inner = self.unflatten(t, &reduced).into_iter();
                let mut kept = idx.iter();
                let full: Vec<String> = (0..from.len())
                    .map(|ax| {
                        let next = if axes.contains(&ax) {
                            inner.next()
                        } else {
                            kept.next().cloned()
                        };
                        next.unwrap_or_else(|| "0i".into())
                    })
                    .collect();
                Some(self.at(args[0], &full))
            }
            // g[b, o, i, j] * x[b, c, i * s + ki - p, j * s + kj - p] for
            // term (b, i, j), at idx [o, c, ki, kj].
            Op::ConvWeightGrad { stride, pad } => {
                let (x, g) = (args[0], args[1]);
                let (xs, gs) = (self.shape(x).to_vec(), self.shape(g).to_vec());
                let at = self.unflatten(t, &[gs[0], gs[2], gs[3]]);
                let y = self.window_at(&at[1], stride, &idx[2], pad);
                let xx = self.window_at(&at[2], stride, &idx[3], pad);
                let product = self.fresh("x");
                self.line(&format!("var {product}: f32 = 0.0f;"));
                self.open(&format!(
                    "if ({y} >= 0i && {y} < {}i && {xx} >= 0i && {xx} < {}i)",
                    xs[2], xs[3]
                ));
                let gv = self.at(
                    g,
                    &[at[0].clone(), idx[0].clone(), at[1].clone(), at[2].clone()],
                );
                let xv = self.at(x, &[at[0].clone(), idx[1].clone(), y, xx]);
                self.line(&format!("{product} = {gv} * {xv};"));
                self.close();
                Some(product)
            }
            _ => None,
        }
    }

    pub(super) fn argmax(
        &mut self,
        x: NodeId,
        axis: usize,
        dtype: DType,
        idx: &[String],
    ) -> String {
        let n = self.shape(x)[axis];
        let mut full = idx.to_vec();
        full.insert(axis, "0i".into());
        if n <= 1 {
            return self.cast(DType::I32, dtype, "0i".into());
        }
        let first = self.at(x, &full);
        let best = self.fresh("best");
        let value = self.fresh("top");
        let ty = value_type(self.dtype(x));
        self.line(&format!("var {best}: i32 = 0i;"));
        self.line(&format!("var {value}: {ty} = {first};"));
        let var = self.fresh("r");
        self.open(&format!(
            "for (var {var} = 1i; {var} < {}; {var}++)",
            int(n as i32)
        ));
        full[axis] = var.clone();
        let v = self.at(x, &full);
        self.line(&format!(
            "if ({v} > {value}) {{ {best} = {var}; {value} = {v}; }}"
        ));
        self.close();
        self.cast(DType::I32, dtype, best)
    }

    pub(super) fn matmul(&mut self, a: NodeId, b: NodeId, idx: &[String]) -> String {
        let r = idx.len();
        let k = self.shape(a)[r - 1];
        let acc = self.accumulator(self.dtype(a), 0.0);
        let p = self.fresh("p");
        self.open_loop(&p, k);
        let mut ia = idx.to_vec();
        ia[r - 1] = p.clone();
        let mut ib = idx.to_vec();
        ib[r - 2] = p.clone();
        let x = self.at(a, &ia);
        let y = self.at(b, &ib);
        self.line(&format!("{acc} = {acc} + {x} * {y};"));
        self.close();
        acc
    }
}

/// Where a fold by `op` starts.
fn start(op: ReduceOp) -> f64 {
    match op {
        ReduceOp::Sum => 0.0,
        ReduceOp::Max => f64::NEG_INFINITY,
        ReduceOp::Min => f64::INFINITY,
    }
}
