//! Reverse-mode differentiation as a graph transform.
//!
//! [`backward`] walks the graph from the loss towards the parameters and
//! adds, for each node on the way, the nodes that compute its operands'
//! gradients from its own ("vector-Jacobian products"). [`vjp`] is the one
//! table of rules: one arm per primitive op (the elementwise ops' rules
//! live beside their scalar definitions, in `ir::elementwise`). Broadcasting needs no rule of
//! its own in the other ops: lowering makes every broadcast an explicit
//! `Broadcast` node, whose rule sums the gradient back over the repeated
//! axes.

// A new op or dtype must be a compile error here, not a silent default.
#![deny(clippy::wildcard_enum_match_arm)]

use crate::ir::{BinaryOp, Builder, NodeId, Op, ReduceOp, Size};
use std::collections::{HashMap, HashSet};

/// Adds the gradient of the scalar `loss` with respect to each of `wrt`.
/// A node the loss does not depend on gets a zero gradient. Fails (a
/// compiler limitation, not a user error) on ops that have no derivative
/// rule: the gradients of gradients.
pub fn backward(b: &mut Builder, loss: NodeId, wrt: &[NodeId]) -> Result<Vec<NodeId>, String> {
    let needed = on_a_path(b, loss, wrt);
    let mut grads: HashMap<NodeId, NodeId> = HashMap::new();
    let seed = b.full_like(1.0, loss);
    grads.insert(loss, seed);
    for id in (0..=loss.0).rev().map(NodeId) {
        let Some(&g) = grads.get(&id) else { continue };
        if !needed.contains(&id) {
            continue;
        }
        let args = b.graph().args(id).to_vec();
        let saved = b.loc;
        b.loc = b.graph().node(id).loc;
        let contributions = vjp(b, id, &args, g);
        b.loc = saved;
        for (arg, contribution) in args.iter().zip(contributions?) {
            let Some(c) = contribution else { continue };
            if !needed.contains(arg) {
                continue;
            }
            let total = match grads.get(arg) {
                Some(&prev) => b.binary(BinaryOp::Add, prev, c),
                None => c,
            };
            grads.insert(*arg, total);
        }
    }
    Ok(wrt
        .iter()
        .map(|w| match grads.get(w) {
            Some(&g) => g,
            None => b.full_like(0.0, *w),
        })
        .collect())
}

/// The nodes that depend on one of `wrt` and that `loss` depends on: only
/// their gradients are worth computing.
fn on_a_path(b: &Builder, loss: NodeId, wrt: &[NodeId]) -> HashSet<NodeId> {
    let graph = b.graph();
    let mut from_wrt: HashSet<NodeId> = wrt.iter().copied().collect();
    for id in graph.ids() {
        if graph.args(id).iter().any(|a| from_wrt.contains(a)) {
            from_wrt.insert(id);
        }
    }
    let mut to_loss: HashSet<NodeId> = HashSet::from([loss]);
    for id in graph.ids().rev() {
        if to_loss.contains(&id) {
            to_loss.extend(graph.args(id));
        }
    }
    from_wrt.intersection(&to_loss).copied().collect()
}

/// The gradient of each operand of `id`, given the gradient `g` of its
/// result; `None` where the op is not differentiable in that operand
/// (integers, comparisons, conditions, random numbers, sources).
pub fn vjp(
    gr: &mut Builder,
    id: NodeId,
    args: &[NodeId],
    g: NodeId,
) -> Result<Vec<Option<NodeId>>, String> {
    use BinaryOp as B;
    let out = id;
    let op = gr.graph().node(id).op.clone();
    let float = |gr: &Builder, n: NodeId| gr.ty(n).dtype.is_float();
    Ok(match op {
        Op::Input(_)
        | Op::Constant(_)
        | Op::SizeOf(_)
        | Op::Iota(_)
        | Op::Random { .. }
        | Op::ArgMax(_) => vec![None; args.len()],
        Op::Unary(u) => {
            if !float(gr, out) {
                return Ok(vec![None]);
            }
            vec![u.vjp(gr, args[0], out, g)]
        }
        Op::Binary(b) => {
            if !float(gr, out) {
                return Ok(vec![None, None]);
            }
            b.vjp(gr, args[0], args[1], out, g).to_vec()
        }
        Op::Select => {
            let c = args[0];
            let zero = gr.full_like(0.0, g);
            let ga = gr.select(c, g, zero);
            let gb = gr.select(c, zero, g);
            vec![None, Some(ga), Some(gb)]
        }
        Op::Cast => {
            let x = args[0];
            if float(gr, x) && float(gr, out) {
                let dtype = gr.ty(x).dtype;
                vec![Some(gr.cast(g, dtype))]
            } else {
                vec![None]
            }
        }
        Op::Reduce { op, axes } => {
            let x = args[0];
            let x_shape = gr.ty(x).shape.clone();
            let kept = keepdims_shape(&x_shape, &axes);
            let gk = gr.reshape(g, &kept);
            let gb = gr.broadcast_to(gk, &x_shape);
            match op {
                ReduceOp::Sum => vec![Some(gb)],
                ReduceOp::Max | ReduceOp::Min => {
                    // Split the gradient evenly between tied extremes.
                    let ok = gr.reshape(out, &kept);
                    let ob = gr.broadcast_to(ok, &x_shape);
                    let hit = gr.binary(B::Eq, x, ob);
                    let dtype = gr.ty(x).dtype;
                    let mask = gr.cast(hit, dtype);
                    let count = gr.reduce(ReduceOp::Sum, mask, axes.clone());
                    let ck = gr.reshape(count, &kept);
                    let cb = gr.broadcast_to(ck, &x_shape);
                    let share = gr.binary(B::Div, mask, cb);
                    vec![Some(gr.binary(B::Mul, gb, share))]
                }
            }
        }
        Op::Broadcast => {
            let shape = gr.ty(args[0]).shape.clone();
            vec![Some(gr.sum_to(g, &shape))]
        }
        Op::Reshape => {
            let shape = gr.ty(args[0]).shape.clone();
            vec![Some(gr.reshape(g, &shape))]
        }
        Op::Permute(perm) => {
            let mut inverse = vec![0; perm.len()];
            for (i, &p) in perm.iter().enumerate() {
                inverse[p] = i;
            }
            vec![Some(gr.op(Op::Permute(inverse), &[g]))]
        }
        Op::Concat(axis) => {
            let mut start = Size::fixed(0);
            let mut out = Vec::with_capacity(args.len());
            for &a in args {
                let n = gr.ty(a).shape[axis];
                let end = start.checked_add(n).ok_or("a concat too large to slice")?;
                out.push(Some(gr.op(Op::Slice { axis, start, end }, &[g])));
                start = end;
            }
            out
        }
        Op::Slice { axis, start, end } => {
            let x_ty = gr.ty(args[0]).clone();
            let after = x_ty.shape[axis]
                .checked_sub(end)
                .ok_or("a slice past its operand")?;
            let mut pieces = Vec::new();
            for (len, is_g) in [(start, false), (Size::fixed(0), true), (after, false)] {
                if is_g {
                    pieces.push(g);
                } else if len != Size::fixed(0) {
                    let mut shape = x_ty.shape.clone();
                    shape[axis] = len;
                    let c = gr.constant(0.0, x_ty.dtype);
                    pieces.push(gr.broadcast_to(c, &shape));
                }
            }
            vec![Some(gr.op(Op::Concat(axis), &pieces))]
        }
        Op::MatMul => {
            let (a, b) = (args[0], args[1]);
            let bt = gr.transpose_last(b);
            let at = gr.transpose_last(a);
            vec![
                Some(gr.op(Op::MatMul, &[g, bt])),
                Some(gr.op(Op::MatMul, &[at, g])),
            ]
        }
        Op::Conv { stride, pad } => {
            let (x, w) = (args[0], args[1]);
            let (xt, wt) = (gr.ty(x).clone(), gr.ty(w).clone());
            vec![
                Some(gr.add(Op::ConvInputGrad { stride, pad }, &[g, w], xt)),
                Some(gr.add(Op::ConvWeightGrad { stride, pad }, &[x, g], wt)),
            ]
        }
        Op::Pool { kind, k, stride } => {
            let x = args[0];
            let xt = gr.ty(x).clone();
            vec![Some(gr.add(Op::PoolGrad { kind, k, stride }, &[x, g], xt))]
        }
        Op::Gather => {
            let (table, ids) = (args[0], args[1]);
            let tt = gr.ty(table).clone();
            vec![Some(gr.add(Op::ScatterAdd, &[ids, g], tt)), None]
        }
        Op::ConvInputGrad { .. }
        | Op::ConvWeightGrad { .. }
        | Op::PoolGrad { .. }
        | Op::ScatterAdd => {
            return Err(format!(
                "second derivatives of {} are not supported",
                op.text()
            ))
        }
    })
}

fn keepdims_shape(shape: &[Size], axes: &[usize]) -> Vec<Size> {
    shape
        .iter()
        .enumerate()
        .map(|(i, &d)| if axes.contains(&i) { Size::ONE } else { d })
        .collect()
}
