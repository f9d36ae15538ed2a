//! Matrix products tiled in workgroup memory: a workgroup of 16x16
//! invocations computes a 64x64 tile of the product, each invocation a
//! 4x4 block of it in registers. The operands go through workgroup memory
//! 16 columns of `a` and 16 rows of `b` at a time, each element loaded
//! once per workgroup instead of once per invocation that needs it (64
//! times fewer loads from the buffers), and each invocation does 16
//! multiply-adds for every 8 values it reads from workgroup memory.
//!
//! Operands are read through the kernel's views (a transpose folded into
//! the product reads in place), and the epilogue (bias, activation) is
//! applied to each element of the tile before it is stored.

use super::emit::Emitter;
use super::MAX_GROUPS;
use crate::fuse::Kernel;
use crate::ir::{NodeId, Op, Verified};
use std::collections::HashMap;

/// Rows and columns of the product per workgroup.
const TILE: usize = 64;
/// The length along the summed axis of each step through workgroup memory.
const DEPTH: usize = 16;
/// Rows and columns of the product per invocation.
const BLOCK: usize = 4;

/// The product kernel `k` is tiled around: a matrix product whose
/// epilogue keeps its shape, with a grid of tiles a dispatch can hold.
pub(super) fn applies(
    step: &Verified,
    k: &Kernel,
    shapes: &HashMap<NodeId, Vec<usize>>,
) -> Option<NodeId> {
    let graph = step.graph();
    let anchor = k.anchor?;
    if graph.node(anchor).op != Op::MatMul || shapes[&anchor] != shapes[&k.root()] {
        return None;
    }
    let out = &shapes[&anchor];
    let r = out.len();
    let batches: usize = out[..r - 2].iter().product();
    let fits = |n: usize| n <= MAX_GROUPS as usize;
    (fits(batches) && fits(out[r - 2].div_ceil(TILE)) && fits(out[r - 1].div_ceil(TILE)))
        .then_some(anchor)
}

/// The body of the tiled product `anchor` with the kernel's epilogue up to
/// `root`; the workgroups to dispatch.
pub(super) fn matmul(e: &mut Emitter, anchor: NodeId, root: NodeId) -> (u32, u32, u32) {
    let args = e.args(anchor);
    let (a, b) = (args[0], args[1]);
    let out = e.shape(anchor).to_vec();
    let r = out.len();
    let (m, n, depth) = (out[r - 2], out[r - 1], e.shape(a)[r - 1]);
    let batches: usize = out[..r - 2].iter().product();
    let threads = TILE / BLOCK;
    let area = TILE * DEPTH;
    e.shared
        .push(format!("var<workgroup> tile_a: array<f32, {area}>;"));
    e.shared
        .push(format!("var<workgroup> tile_b: array<f32, {area}>;"));
    e.line(&format!("let t_x = i32(lid % {threads}u);"));
    e.line(&format!("let t_y = i32(lid / {threads}u);"));
    e.line(&format!("let m_base = i32(wid.y) * {TILE}i;"));
    e.line(&format!("let n_base = i32(wid.x) * {TILE}i;"));
    e.line("let z_b = i32(wid.z);");
    let lead = e.unflatten("z_b", &out[..r - 2]);
    for i in 0..BLOCK {
        for j in 0..BLOCK {
            e.line(&format!("var c_{i}_{j}: f32 = 0.0f;"));
        }
    }

    // Through the summed axis, DEPTH at a time.
    let k0 = e.fresh("k");
    e.open(&format!(
        "for (var {k0} = 0i; {k0} < {depth}i; {k0} += {DEPTH}i)"
    ));
    let part = e.fresh("r");
    e.open_loop(&part, area / super::WORKGROUP as usize);
    let at = e.index(format!("i32(lid) + {part} * {}i", super::WORKGROUP));
    // a's tile: TILE rows by DEPTH columns; b's: DEPTH rows by TILE columns.
    for (operand, tile, cols, row0, col0, (rn, cn)) in [
        (
            a,
            "tile_a",
            DEPTH,
            "m_base".to_string(),
            k0.clone(),
            (m, depth),
        ),
        (
            b,
            "tile_b",
            TILE,
            k0.clone(),
            "n_base".to_string(),
            (depth, n),
        ),
    ] {
        let row = e.index(format!("{row0} + {at} / {cols}i"));
        let col = e.index(format!("{col0} + {at} % {cols}i"));
        let value = e.fresh("x");
        e.line(&format!("var {value}: f32 = 0.0f;"));
        e.open(&format!("if ({row} < {rn}i && {col} < {cn}i)"));
        let mut idx = lead.clone();
        idx.extend([row, col]);
        let v = e.at(operand, &idx);
        e.line(&format!("{value} = {v};"));
        e.close();
        e.line(&format!("{tile}[{at}] = {value};"));
    }
    e.close();
    e.line("workgroupBarrier();");
    let p = e.fresh("p");
    e.open_loop(&p, DEPTH);
    for i in 0..BLOCK {
        e.line(&format!(
            "let x_a_{i} = tile_a[(t_y * {BLOCK}i + {i}i) * {DEPTH}i + {p}];"
        ));
    }
    for j in 0..BLOCK {
        e.line(&format!(
            "let x_b_{j} = tile_b[{p} * {TILE}i + t_x * {BLOCK}i + {j}i];"
        ));
    }
    for i in 0..BLOCK {
        for j in 0..BLOCK {
            e.line(&format!("c_{i}_{j} = c_{i}_{j} + x_a_{i} * x_b_{j};"));
        }
    }
    e.close();
    e.line("workgroupBarrier();");
    e.close();

    // Each element of the block through the epilogue, then stored.
    for i in 0..BLOCK {
        for j in 0..BLOCK {
            let row = e.index(format!("m_base + t_y * {BLOCK}i + {i}i"));
            let col = e.index(format!("n_base + t_x * {BLOCK}i + {j}i"));
            e.open(&format!("if ({row} < {m}i && {col} < {n}i)"));
            let mut idx = lead.clone();
            idx.extend([row, col]);
            e.remember(anchor, &idx, format!("c_{i}_{j}"));
            let value = e.at(root, &idx);
            let at = e.linear(&idx, &out);
            let store = e.store_at(root, &at, value);
            e.line(&store);
            e.close();
        }
    }
    (
        n.div_ceil(TILE) as u32,
        m.div_ceil(TILE) as u32,
        batches as u32,
    )
}
