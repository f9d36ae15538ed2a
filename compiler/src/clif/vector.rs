//! Four elements at a time: an f32 elementwise kernel whose values are
//! contiguous (or constant) along the innermost axis of its domain runs its
//! innermost loop on `F32X4` vectors, then a scalar loop for the last
//! elements of each row.
//!
//! Vector ops are the same IEEE operations as the scalar ones, lane by
//! lane (no `fma`, no reassociation), so a vectorised kernel gives the
//! scalar kernel's bits. Scalars — one-element values, values constant
//! along the innermost axis — are splatted where a vector op needs them;
//! those known before the loops are splatted there once (Cranelift does not
//! hoist them).

use super::index::Map;
use super::{Emitter, Phase};
use crate::ir::{BinaryOp, DType, Graph, NodeId, Op, UnaryOp};
use cranelift_codegen::ir::{types, Endianness, InstBuilder, MemFlagsData, Type, Value};

/// Elements per vector.
pub(super) const LANES: usize = 4;

/// The vector of f32 lanes.
pub(super) const F32X4: Type = types::F32X4;

/// Four i32 lanes, as loaded to be converted to f32.
pub(super) const I32X4: Type = types::I32X4;

/// How far apart consecutive elements along the innermost axis of the
/// domain are, for a value indexed by `map`.
pub(super) fn inner_stride(map: &Map) -> usize {
    match map {
        Map::Identity | Map::Flat => 1,
        Map::Zero => 0,
        Map::Strided(strides) => strides.last().copied().unwrap_or(0),
        // Not contiguous in general (loaded one element at a time).
        Map::Unflat { .. } => usize::MAX,
    }
}

/// Whether `phase`, computing the f32 value `root` over `domain`, can run
/// four elements at a time: every per-element node is an op with a vector
/// form, on f32 values (or the bool masks of f32 comparisons), and every
/// value it reads per element is f32 (or i32 cast to f32: pixels, labels)
/// and contiguous or constant along the innermost axis.
pub(super) fn vectorizable(graph: &Graph, phase: &Phase, root: NodeId, domain: &[usize]) -> bool {
    let Some(&inner_size) = domain.last() else {
        return false;
    };
    if graph.ty(root).dtype != DType::F32 || (domain.len() > 1 && inner_size < LANES) {
        return false;
    }
    let map = |n: NodeId| phase.maps.get(&n).cloned().unwrap_or(Map::Identity);
    let computed = |n: NodeId| phase.nodes.contains(&n);
    let innermost = domain.len() - 1;
    let f32 = |n: NodeId| graph.ty(n).dtype == DType::F32;
    let i32 = |n: NodeId| graph.ty(n).dtype == DType::I32;
    // A bool a vector op may take: a comparison computed here, or a scalar.
    let mask = |n: NodeId| {
        map(n) == Map::Zero
            || (computed(n) && matches!(graph.node(n).op, Op::Binary(op) if op.is_comparison()))
    };
    phase
        .nodes
        .iter()
        .filter(|&&n| map(n) != Map::Zero)
        .all(|&n| {
            let node = graph.node(n);
            let args = &node.args;
            let op_ok = match &node.op {
                Op::Reshape | Op::Broadcast | Op::Constant(_) | Op::SizeOf(_) => f32(n),
                Op::Iota(axis) => *axis != innermost && f32(n),
                Op::Unary(UnaryOp::Neg | UnaryOp::Sqrt | UnaryOp::Abs) => f32(n),
                Op::Binary(op) if op.is_comparison() => args.iter().all(|&a| f32(a)),
                Op::Binary(
                    BinaryOp::Add
                    | BinaryOp::Sub
                    | BinaryOp::Mul
                    | BinaryOp::Div
                    | BinaryOp::Max
                    | BinaryOp::Min,
                ) => f32(n),
                Op::Select => f32(n) && mask(args[0]),
                Op::Cast => f32(n) && (f32(args[0]) || i32(args[0]) || mask(args[0])),
                _ => false,
            };
            // What is read per element: f32 (or i32 that is cast to f32
            // here), contiguous or constant along the innermost axis.
            let is_cast = node.op == Op::Cast;
            let reads_ok = args.iter().all(|&a| {
                computed(a)
                    || map(a) == Map::Zero
                    || ((f32(a) || (i32(a) && is_cast)) && inner_stride(&map(a)) <= 1)
            });
            op_ok && reads_ok
        })
}

impl Emitter<'_, '_, '_> {
    pub(super) fn is_vector(&self, v: Value) -> bool {
        self.b.func.dfg.value_type(v).is_vector()
    }

    /// `v` as a vector: itself, or an f32 scalar splatted (once per scalar
    /// while the loops are being written).
    pub(super) fn widen(&mut self, v: Value) -> Value {
        if self.is_vector(v) {
            return v;
        }
        if let Some(&w) = self.splats.get(&v) {
            return w;
        }
        let w = self.b.ins().splat(F32X4, v);
        self.splats.insert(v, w);
        w
    }

    /// Splats, before the loops, every scalar the vector body will need:
    /// the one-element values computed there and the one-element values the
    /// phase reads (loaded there too).
    pub(super) fn hoist_scalars(&mut self, phase: &Phase) -> Result<(), super::Unsupported> {
        let graph = self.k.graph;
        for &n in phase.nodes {
            for &a in graph.args(n) {
                let scalar_read = !phase.nodes.contains(&a)
                    && phase.maps.get(&a) == Some(&Map::Zero)
                    && self.bases.contains_key(&a);
                if scalar_read && !self.values.contains_key(&a) {
                    let v = self.value(a)?;
                    self.values.insert(a, v);
                }
            }
        }
        let scalars: Vec<Value> = self.values.values().copied().collect();
        for v in scalars {
            if self.b.func.dfg.value_type(v) == types::F32 {
                self.widen(v);
            }
        }
        Ok(())
    }

    /// An op of the vector loop with at least one vector operand (the ops
    /// [`vectorizable`] admits); `first` is the node of its first operand.
    pub(super) fn vector_node(
        &mut self,
        op: &Op,
        args: &[Value],
        first: Option<NodeId>,
    ) -> Result<Value, super::Unsupported> {
        let unsupported = || super::Unsupported(format!("{} on vectors", op.text()));
        Ok(match op {
            Op::Select => self.pick(args[0], args[1], args[2]),
            Op::Cast => {
                let from = first.map(|a| self.k.graph.ty(a).dtype);
                match from {
                    Some(DType::F32) => args[0],
                    // The same rounding as the scalar conversion.
                    Some(DType::I32) => self.b.ins().fcvt_from_sint(F32X4, args[0]),
                    Some(DType::Bool) => {
                        let one = self.b.ins().f32const(1.0);
                        let zero = self.b.ins().f32const(0.0);
                        self.pick(args[0], one, zero)
                    }
                    _ => return Err(unsupported()),
                }
            }
            Op::Unary(u) => self.unary(*u, args[0], DType::F32)?,
            Op::Binary(b) => {
                let x = self.widen(args[0]);
                let y = self.widen(args[1]);
                self.binary(*b, x, y, DType::F32)?
            }
            _ => return Err(unsupported()),
        })
    }

    /// `cond ? x : y`, lane by lane when `cond` is a vector mask (the
    /// lanes of an f32 comparison: all ones or all zeros).
    pub(super) fn pick(&mut self, cond: Value, x: Value, y: Value) -> Value {
        if !self.is_vector(cond) {
            let (x, y) = if self.is_vector(x) || self.is_vector(y) {
                (self.widen(x), self.widen(y))
            } else {
                (x, y)
            };
            return self.b.ins().select(cond, x, y);
        }
        let (x, y) = (self.widen(x), self.widen(y));
        let flags = MemFlagsData::new().with_endianness(Endianness::Little);
        let mask = self.b.ins().bitcast(F32X4, flags, cond);
        self.b.ins().bitselect(mask, x, y)
    }
}
