//! `gather` and `scatter_add` on the CPU (an embedding and its gradient),
//! by the interpreter's rules: every id checked against the table's rows
//! (the same message for one out of range), and `scatter_add` summing, for
//! each row of the result, the gradient rows of the ids that name it in the
//! order they come, in f64. Work is split across the back end's threads by
//! rows of the result, each summed by one thread, so the bits do not depend
//! on the thread count.

use super::contract::After;
use crate::interp::{row_ids, RunError};
use crate::tensor::{Data, HostTy, Tensor};
use rayon::prelude::*;

/// Elements per task at least (fewer make a task not worth it).
const MIN_TASK: usize = 4096;

/// Rows of `d` elements per task.
fn rows_per_task(d: usize) -> usize {
    MIN_TASK.div_ceil(d.max(1))
}

/// The rows of `table[V, D]` that `ids` pick, into `dst` (a buffer of
/// `out`'s type and size); `after` on the whole result.
pub fn gather(
    table: &Tensor,
    ids: &Tensor,
    out: &HostTy,
    dst: Data,
    after: &After,
) -> Result<Tensor, RunError> {
    // The row width is the result's last axis: the table may arrive in
    // the shape it had before a reshape into rows (reshapes are views).
    let d = out.shape.last().copied().unwrap_or(1);
    let elements: usize = table.shape.iter().product();
    let rows = elements.checked_div(d).unwrap_or(table.shape[0]);
    let picked = row_ids(ids, rows)?;
    macro_rules! copy {
        ($variant:ident) => {{
            let (Data::$variant(t), Data::$variant(mut o)) = (&table.data, dst) else {
                return Err(mismatch("gather"));
            };
            if d > 0 {
                o.par_chunks_mut(d)
                    .zip(picked.par_iter())
                    .with_min_len(rows_per_task(d))
                    .for_each(|(o, &r)| o.copy_from_slice(&t[r * d..][..d]));
            }
            Data::$variant(o)
        }};
    }
    let data = match &table.data {
        Data::F32(_) => copy!(F32),
        Data::F64(_) => copy!(F64),
        Data::I32(_) => copy!(I32),
        Data::Bool(_) => copy!(Bool),
    };
    after(0, out.shape.first().copied().unwrap_or(1));
    Ok(Tensor::new(out.shape.clone(), data))
}

/// The rows of `g[N, D]` added into a zero `[V, D]` at `ids`, into `dst`
/// (a buffer of `out`'s type and size); `after` on the whole result.
pub fn scatter_add(
    ids: &Tensor,
    g: &Tensor,
    out: &HostTy,
    dst: Data,
    after: &After,
) -> Result<Tensor, RunError> {
    let (rows, d) = (out.shape[0], out.shape[1]);
    let picked = row_ids(ids, rows)?;
    // For each result row, the gradient rows that add into it, in the
    // order they come: a counting sort by id (stable).
    let mut starts = vec![0usize; rows + 1];
    for &r in &picked {
        starts[r + 1] += 1;
    }
    for r in 0..rows {
        starts[r + 1] += starts[r];
    }
    let mut next = starts.clone();
    let mut order = vec![0usize; picked.len()];
    for (n, &r) in picked.iter().enumerate() {
        order[next[r]] = n;
        next[r] += 1;
    }
    macro_rules! sum {
        ($variant:ident, $from:expr) => {{
            let (Data::$variant(gv), Data::$variant(mut o)) = (&g.data, dst) else {
                return Err(mismatch("scatter_add"));
            };
            if d > 0 {
                o.par_chunks_mut(d)
                    .enumerate()
                    .with_min_len(rows_per_task(d))
                    .for_each_init(
                        || vec![0.0f64; d],
                        |acc, (r, o)| {
                            acc.fill(0.0);
                            for &n in &order[starts[r]..starts[r + 1]] {
                                for (a, &v) in acc.iter_mut().zip(&gv[n * d..][..d]) {
                                    *a += f64::from(v);
                                }
                            }
                            for (o, &a) in o.iter_mut().zip(acc.iter()) {
                                *o = $from(a);
                            }
                        },
                    );
            }
            Data::$variant(o)
        }};
    }
    // f64 sums to the element type as the interpreter converts them.
    let data = match &g.data {
        Data::F32(_) => sum!(F32, |a: f64| a as f32),
        Data::F64(_) => sum!(F64, |a: f64| a),
        Data::I32(_) => sum!(I32, |a: f64| a as i32),
        Data::Bool(_) => return Err(mismatch("scatter_add")),
    };
    after(0, out.shape.first().copied().unwrap_or(1));
    Ok(Tensor::new(out.shape.clone(), data))
}

fn mismatch(op: &str) -> RunError {
    RunError(format!("{op}: operand and result element types differ"))
}
