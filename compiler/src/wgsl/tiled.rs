//! Products tiled in workgroup memory: a workgroup of 16x16 invocations
//! computes a 64x64 tile of an `m x n` product summed over `depth`, each
//! invocation a 4x4 block of it in registers. The operands go through
//! workgroup memory 16 deep at a time, each element loaded once per
//! workgroup instead of once per invocation that needs it (64 times fewer
//! loads from the buffers), and each invocation does 16 multiply-adds for
//! every 8 values it reads from workgroup memory.
//!
//! Three ops are such products, each with its own way of loading the
//! operands' tiles ([`Product`]):
//! - a matrix product, batched over its leading axes, its operands read
//!   through the kernel's views (a transpose folded into it reads in
//!   place);
//! - a convolution as an implicit GEMM: rows are output channels, columns
//!   are (sample, y, x) output positions, the sum runs over (input
//!   channel, ky, kx); the image's windows are read where they are needed
//!   (zeros outside the padding), never unfolded into memory;
//! - a convolution's input gradient, the same way: rows are input
//!   channels, columns (sample, y, x) input positions, the sum over
//!   (output channel, ky, kx) of the output positions whose windows cover
//!   the input position.
//!
//! The epilogue (bias, activation) is applied to each element of the tile
//! before it is stored.

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

/// What is tiled: the op and its product's sizes.
#[derive(Clone, Copy)]
pub(super) struct Product {
    anchor: NodeId,
    kind: Kind,
    m: usize,
    n: usize,
    depth: usize,
    /// Products computed side by side (a batched matrix product's batch).
    batches: usize,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    MatMul,
    Conv { stride: usize, pad: usize },
    ConvInputGrad { stride: usize, pad: usize },
}

/// The product kernel `k` is tiled around: a matrix product, convolution
/// or convolution input gradient whose epilogue keeps its shape, with a
/// grid of tiles a dispatch can hold.
pub(super) fn applies(
    step: &Verified,
    k: &Kernel,
    shapes: &HashMap<NodeId, Vec<usize>>,
) -> Option<Product> {
    let graph = step.graph();
    let anchor = k.anchor?;
    if shapes[&anchor] != shapes[&k.root()] {
        return None;
    }
    let out = &shapes[&anchor];
    let args = graph.args(anchor);
    let product = match graph.node(anchor).op {
        Op::MatMul => {
            let r = out.len();
            Product {
                anchor,
                kind: Kind::MatMul,
                m: out[r - 2],
                n: out[r - 1],
                depth: shapes[&args[0]][r - 1],
                batches: out[..r - 2].iter().product(),
            }
        }
        // Rows: output (or input) channels; columns: (sample, y, x); the
        // sum over (input (or output) channel, ky, kx).
        Op::Conv { stride, pad } | Op::ConvInputGrad { stride, pad } => {
            let w = &shapes[&args[1]];
            let (kind, channels) = match graph.node(anchor).op {
                Op::Conv { .. } => (Kind::Conv { stride, pad }, w[1]),
                _ => (Kind::ConvInputGrad { stride, pad }, w[0]),
            };
            Product {
                anchor,
                kind,
                m: out[1],
                n: out[0] * out[2] * out[3],
                depth: channels * w[2] * w[3],
                batches: 1,
            }
        }
        _ => return None,
    };
    if !graph.ty(anchor).dtype.is_float() {
        return None;
    }
    let fits = |n: usize| n <= MAX_GROUPS as usize;
    (fits(product.batches) && fits(product.m.div_ceil(TILE)) && fits(product.n.div_ceil(TILE)))
        .then_some(product)
}

/// The body of the tiled `product` with the kernel's epilogue up to
/// `root`; the workgroups to dispatch.
pub(super) fn emit(e: &mut Emitter, product: Product, root: NodeId) -> (u32, u32, u32) {
    let Product {
        anchor,
        m,
        n,
        depth,
        ..
    } = product;
    let out = e.shape(anchor).to_vec();
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
    let lead = match product.kind {
        Kind::MatMul => e.unflatten("z_b", &out[..out.len() - 2]),
        Kind::Conv { .. } | Kind::ConvInputGrad { .. } => Vec::new(),
    };
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
    for (tile, cols, row0, col0, (rn, cn)) in [
        (
            "tile_a",
            DEPTH,
            "m_base".to_string(),
            k0.clone(),
            (m, depth),
        ),
        ("tile_b", TILE, k0.clone(), "n_base".to_string(), (depth, n)),
    ] {
        let row = e.index(format!("{row0} + {at} / {cols}i"));
        let col = e.index(format!("{col0} + {at} % {cols}i"));
        let value = e.fresh("x");
        e.line(&format!("var {value}: f32 = 0.0f;"));
        e.open(&format!("if ({row} < {rn}i && {col} < {cn}i)"));
        let v = if tile == "tile_a" {
            load_a(e, product, &lead, &row, &col)
        } else {
            load_b(e, product, &lead, &row, &col)
        };
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
            let idx = result_index(e, product, &lead, &row, &col);
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
        product.batches as u32,
    )
}

/// Element (`row`, `col`) of the product's left operand.
fn load_a(e: &mut Emitter, product: Product, lead: &[String], row: &str, col: &str) -> String {
    let args = e.args(product.anchor);
    match product.kind {
        Kind::MatMul => {
            let mut idx = lead.to_vec();
            idx.extend([row.to_string(), col.to_string()]);
            e.at(args[0], &idx)
        }
        // w[o, c, ky, kx] with row o and col (c, ky, kx).
        Kind::Conv { .. } => {
            let w = args[1];
            let kernel = e.shape(w)[1..].to_vec();
            let mut idx = vec![row.to_string()];
            idx.extend(e.unflatten(col, &kernel));
            e.at(w, &idx)
        }
        // w[o, c, ky, kx] with row c and col (o, ky, kx).
        Kind::ConvInputGrad { .. } => {
            let w = args[1];
            let ws = e.shape(w).to_vec();
            let at = e.unflatten(col, &[ws[0], ws[2], ws[3]]);
            let idx = [at[0].clone(), row.to_string(), at[1].clone(), at[2].clone()];
            e.at(w, &idx)
        }
    }
}

/// Element (`row`, `col`) of the product's right operand: for the
/// convolutions, an image (or gradient) element where a window needs it,
/// zero outside.
fn load_b(e: &mut Emitter, product: Product, lead: &[String], row: &str, col: &str) -> String {
    let args = e.args(product.anchor);
    let out = e.shape(product.anchor).to_vec();
    match product.kind {
        Kind::MatMul => {
            let mut idx = lead.to_vec();
            idx.extend([row.to_string(), col.to_string()]);
            e.at(args[1], &idx)
        }
        // x[b, c, y * s + ky - p, x * s + kx - p] with row (c, ky, kx) and
        // col (b, y, x) of the output.
        Kind::Conv { stride, pad } => {
            let x = args[0];
            let (xs, ws) = (e.shape(x).to_vec(), e.shape(args[1]).to_vec());
            let k = e.unflatten(row, &ws[1..]);
            let o = e.unflatten(col, &[out[0], out[2], out[3]]);
            let y = e.window_at(&o[1], stride, &k[1], pad);
            let xx = e.window_at(&o[2], stride, &k[2], pad);
            let value = e.fresh("x");
            e.line(&format!("var {value}: f32 = 0.0f;"));
            e.open(&format!(
                "if ({y} >= 0i && {y} < {}i && {xx} >= 0i && {xx} < {}i)",
                xs[2], xs[3]
            ));
            let v = e.at(x, &[o[0].clone(), k[0].clone(), y, xx]);
            e.line(&format!("{value} = {v};"));
            e.close();
            value
        }
        // g[b, o, (y + p - ky) / s, (x + p - kx) / s] with row (o, ky, kx)
        // and col (b, y, x) of the input, where the window at that output
        // position covers (y, x).
        Kind::ConvInputGrad { stride, pad } => {
            let g = args[0];
            let (gs, ws) = (e.shape(g).to_vec(), e.shape(args[1]).to_vec());
            let k = e.unflatten(row, &[ws[0], ws[2], ws[3]]);
            let i = e.unflatten(col, &[out[0], out[2], out[3]]);
            let value = e.fresh("x");
            e.line(&format!("var {value}: f32 = 0.0f;"));
            let oy = e.open_source(&i[1], &k[1], stride, pad, gs[2]);
            let ox = e.open_source(&i[2], &k[2], stride, pad, gs[3]);
            let v = e.at(g, &[i[0].clone(), k[0].clone(), oy, ox]);
            e.line(&format!("{value} = {v};"));
            e.close();
            e.close();
            value
        }
    }
}

/// The index in the result of element (`row`, `col`) of the product.
fn result_index(
    e: &mut Emitter,
    product: Product,
    lead: &[String],
    row: &str,
    col: &str,
) -> Vec<String> {
    let out = e.shape(product.anchor).to_vec();
    match product.kind {
        Kind::MatMul => {
            let mut idx = lead.to_vec();
            idx.extend([row.to_string(), col.to_string()]);
            idx
        }
        // [b, o, y, x] from row o (or c) and col (b, y, x).
        Kind::Conv { .. } | Kind::ConvInputGrad { .. } => {
            let at = e.unflatten(col, &[out[0], out[2], out[3]]);
            vec![at[0].clone(), row.to_string(), at[1].clone(), at[2].clone()]
        }
    }
}
