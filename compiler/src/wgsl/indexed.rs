//! Ops that pick elements by index: gather and scatter_add (ids checked
//! against the table, through the fault buffer) and concatenation.

use super::emit::{int, value_type, Emitter};
use crate::ir::{DType, NodeId};

impl Emitter<'_> {
    pub(super) fn concat(
        &mut self,
        parts: &[NodeId],
        axis: usize,
        dtype: DType,
        idx: &[String],
    ) -> String {
        let result = self.fresh("cat");
        self.line(&format!("var {result}: {};", value_type(dtype)));
        let mut offset = 0;
        for &part in parts {
            let end = offset + self.shape(part)[axis];
            let at = &idx[axis];
            self.open(&format!(
                "if ({at} >= {} && {at} < {})",
                int(offset as i32),
                int(end as i32)
            ));
            let mut moved = idx.to_vec();
            if offset != 0 {
                moved[axis] = self.index(format!("{at} - {}", int(offset as i32)));
            }
            let v = self.at(part, &moved);
            self.line(&format!("{result} = {v};"));
            self.close();
            offset = end;
        }
        result
    }

    /// `id` checked to be a row of a table of `rows`: an index out of range
    /// is reported through the fault buffer (and row 0 read instead).
    pub(super) fn checked_row(&mut self, id: &str, rows: usize) -> String {
        self.faults = true;
        let n = int(rows as i32);
        self.line(&format!(
            "if ({id} < 0i || {id} >= {n}) {{ atomicStore(&fault[0], 1u); atomicStore(&fault[1], bitcast<u32>({id})); atomicStore(&fault[2], {rows}u); }}"
        ));
        self.index(format!("select({id}, 0i, {id} < 0i || {id} >= {n})"))
    }

    pub(super) fn gather(&mut self, table: NodeId, ids: NodeId, idx: &[String]) -> String {
        let rows = self.shape(table)[0];
        let r = idx.len();
        let id = self.at(ids, &idx[..r - 1]);
        let row = self.checked_row(&id, rows);
        self.at(table, &[row, idx[r - 1].clone()])
    }

    pub(super) fn scatter_add(
        &mut self,
        id: NodeId,
        ids: NodeId,
        g: NodeId,
        idx: &[String],
    ) -> String {
        let ids_shape = self.shape(ids).to_vec();
        let g_shape = self.shape(g).to_vec();
        let rows = self.shape(id)[0];
        let n: usize = ids_shape.iter().product();
        let acc = self.accumulator(self.dtype(id), 0.0);
        let var = self.fresh("n");
        self.open_loop(&var, n);
        let at = self.unflatten(&var, &ids_shape);
        let row = self.at(ids, &at);
        let row = self.checked_row(&row, rows);
        self.open(&format!("if ({row} == {})", idx[0]));
        let mut gi = at.clone();
        gi.push(idx[1].clone());
        debug_assert_eq!(gi.len(), g_shape.len());
        let v = self.at(g, &gi);
        self.line(&format!("{acc} = {acc} + {v};"));
        self.close();
        self.close();
        acc
    }
}
