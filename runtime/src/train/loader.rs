//! The data loader: while a step runs, the next batch is gathered (rows
//! picked, bytes widened to the feed's dtype) by a thread of the back
//! end's pool that the step leaves idle, so that a step seldom waits for
//! its data. (A loader thread of its own was measured slower on two
//! cores: a third thread competing with the two computing.)

use crate::data::{Batch, Samples};

/// Runs `step` while the rows `next` of `data` (if any) are gathered on
/// the back end's pool; returns the step's result and the next batch.
pub fn overlapped<R>(
    data: &Samples,
    next: Option<&[usize]>,
    step: impl FnOnce() -> R,
) -> (R, Option<Batch>) {
    let mut gathered = None;
    let result = crate::cpu::pool().in_place_scope(|scope| {
        if let Some(rows) = next {
            let gathered = &mut gathered;
            scope.spawn(move |_| *gathered = Some(data.batch(rows)));
        }
        step()
    });
    (result, gathered)
}
