//! Operators while lowering: arithmetic on host values is computed on the
//! spot; on tensors it becomes elementwise nodes, with NumPy broadcasting
//! made explicit and numbers meeting at a common dtype.

use super::builtins;
use super::eval::{Lowerer, R};
use super::types::size_value;
use super::value::Value;
use super::LowerError;
use crate::diagnostic::Loc;
use crate::ir::{BinaryOp, DType, NodeId, Op, Size, TensorTy};
use dlp_grammar::ast;

impl Lowerer<'_> {
    pub(super) fn binary(&mut self, op: ast::BinOp, x: Value, y: Value, loc: Loc) -> R<Value> {
        use ast::BinOp as A;
        if op == A::MatMul {
            let (a, b) = (self.node(x, loc)?, self.node(y, loc)?);
            return builtins::matmul(self, a, b, loc).map(Value::Tensor);
        }
        let b = match op {
            A::Add => BinaryOp::Add,
            A::Sub => BinaryOp::Sub,
            A::Mul => BinaryOp::Mul,
            A::Div => BinaryOp::Div,
            A::Rem => BinaryOp::Rem,
            A::Eq => BinaryOp::Eq,
            A::Ne => BinaryOp::Ne,
            A::Lt => BinaryOp::Lt,
            A::Le => BinaryOp::Le,
            A::Gt => BinaryOp::Gt,
            A::Ge => BinaryOp::Ge,
            A::MatMul => unreachable!("handled above"),
        };
        match (&x, &y) {
            (Value::Int(a), Value::Int(c)) => {
                if op.is_comparison() {
                    return Ok(Value::Bool(b.compare(a, c).unwrap_or(false)));
                }
                host_int(op, *a, *c)
                    .map(Value::Int)
                    .ok_or_else(|| LowerError::new("division by zero", Some(loc)))
            }
            (Value::Int(_) | Value::Size(_), Value::Int(_) | Value::Size(_)) => {
                let (Some(a), Some(c)) = (Affine::of(&x), Affine::of(&y)) else {
                    unreachable!("ints and sizes are affine")
                };
                if op.is_comparison() {
                    return Err(LowerError::new(
                        "this comparison depends on the batch size",
                        Some(loc),
                    ));
                }
                let size = a
                    .apply(op, c)
                    .and_then(|v| v.to_size())
                    .map_err(|m| LowerError::new(m, Some(loc)))?;
                Ok(size_value(size))
            }
            (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
                let (a, c) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
                if op.is_comparison() {
                    return Ok(Value::Bool(b.compare(a, c).unwrap_or(false)));
                }
                // The IR's own scalar rule: `%` is floored, as at run time.
                Ok(Value::Float(b.arith(a, c).unwrap_or(f64::NAN)))
            }
            (Value::Bool(a), Value::Bool(c)) if matches!(op, A::Eq | A::Ne) => {
                Ok(Value::Bool((a == c) == (op == A::Eq)))
            }
            _ => self.elementwise(b, &[x, y], loc).map(Value::Tensor),
        }
    }

    /// Nodes for the operands of an elementwise op: host numbers become
    /// constants, integer tensors meet floats as floats, and every operand
    /// is broadcast to the common shape.
    pub fn operands(&mut self, values: &[Value], loc: Loc) -> R<Vec<NodeId>> {
        let mut nodes: Vec<Option<NodeId>> = Vec::with_capacity(values.len());
        for v in values {
            nodes.push(match v {
                Value::Int(_) | Value::Size(_) | Value::Float(_) | Value::Bool(_) => None,
                other => Some(self.node(other.clone(), loc)?),
            });
        }
        let tensor_dtypes: Vec<DType> = nodes
            .iter()
            .flatten()
            .map(|&n| self.b.ty(n).dtype)
            .collect();
        let any_float_host = values.iter().any(|v| matches!(v, Value::Float(_)));
        let dtype = tensor_dtypes
            .iter()
            .copied()
            .find(|d| d.is_float())
            .or(if any_float_host {
                Some(DType::F32)
            } else {
                None
            })
            .or(tensor_dtypes.first().copied())
            .unwrap_or(DType::F32);
        let mut shape: Vec<Size> = Vec::new();
        for n in nodes.iter().flatten() {
            let s = self.b.ty(*n).shape.clone();
            shape = broadcast_shapes(&shape, &s).ok_or_else(|| {
                LowerError::new(
                    format!(
                        "shapes {} and {} do not broadcast",
                        super::types::shape_text(&shape),
                        super::types::shape_text(&s)
                    ),
                    Some(loc),
                )
            })?;
        }
        let mut out = Vec::with_capacity(values.len());
        for (v, n) in values.iter().zip(nodes) {
            let node = match (n, v) {
                (Some(n), _) => {
                    let from = self.b.ty(n).dtype;
                    // Conditions stay bool; numbers meet at the common dtype.
                    if from == DType::Bool && dtype != DType::Bool {
                        n
                    } else {
                        self.b.cast(n, dtype)
                    }
                }
                (None, Value::Bool(b)) => self.b.constant(f64::from(u8::from(*b)), DType::Bool),
                (None, Value::Size(s)) => self.b.size_of(*s, dtype),
                (None, v) => self.b.constant(v.as_f64().unwrap_or(0.0), dtype),
            };
            out.push(self.b.broadcast_to(node, &shape));
        }
        Ok(out)
    }

    pub fn elementwise(&mut self, b: BinaryOp, values: &[Value], loc: Loc) -> R<NodeId> {
        let nodes = self.operands(values, loc)?;
        self.b
            .try_add(Op::Binary(b), &nodes, TensorTy::scalar(DType::F32))
            .map_err(|e| LowerError::new(e.0, Some(loc)))
    }
}

/// Integer arithmetic on host ints, by the IR's scalar rules (`/` rounds
/// down, `%` takes the divisor's sign). `None` on division by 0.
pub(super) fn host_int(op: ast::BinOp, a: i64, b: i64) -> Option<i64> {
    use ast::BinOp as A;
    let ir = match op {
        A::Add => BinaryOp::Add,
        A::Sub => BinaryOp::Sub,
        A::Mul => BinaryOp::Mul,
        A::Div | A::Rem if b == 0 => return None,
        A::Div => BinaryOp::Div,
        A::Rem => BinaryOp::Rem,
        A::MatMul | A::Eq | A::Ne | A::Lt | A::Le | A::Gt | A::Ge => return None,
    };
    ir.arith(a, b)
}

/// A size being computed: `batch * B + fixed`, either part possibly
/// negative on the way (`H - k + 1`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Affine {
    batch: i64,
    fixed: i64,
}

impl Affine {
    pub fn int(v: i64) -> Affine {
        Affine { batch: 0, fixed: v }
    }

    pub fn size(s: Size) -> Affine {
        Affine {
            batch: s.batch as i64,
            fixed: s.fixed as i64,
        }
    }

    pub fn of(v: &Value) -> Option<Affine> {
        match v {
            Value::Int(i) => Some(Affine::int(*i)),
            Value::Size(s) => Some(Affine::size(*s)),
            _ => None,
        }
    }

    pub fn as_int(self) -> Option<i64> {
        (self.batch == 0).then_some(self.fixed)
    }

    /// Its value when the batch has `batch` samples.
    pub fn at_batch(self, batch: usize) -> i64 {
        self.batch * batch as i64 + self.fixed
    }

    pub fn depends_on_batch(self) -> bool {
        self.batch != 0
    }

    pub fn apply(self, op: ast::BinOp, other: Affine) -> Result<Affine, String> {
        use ast::BinOp as A;
        if let (Some(a), Some(b)) = (self.as_int(), other.as_int()) {
            return host_int(op, a, b)
                .map(Affine::int)
                .ok_or_else(|| "this size divides by zero".to_string());
        }
        let batch_err = || {
            "this size depends on the batch size in a way dlp cannot compile (only `B`, `B * n` and `B * n + m` can be)".to_string()
        };
        match op {
            A::Add => Ok(Affine {
                batch: self.batch + other.batch,
                fixed: self.fixed + other.fixed,
            }),
            A::Sub => Ok(Affine {
                batch: self.batch - other.batch,
                fixed: self.fixed - other.fixed,
            }),
            A::Mul => {
                let (k, s) = match (self.as_int(), other.as_int()) {
                    (Some(k), None) => (k, other),
                    (None, Some(k)) => (k, self),
                    _ => return Err(batch_err()),
                };
                Ok(Affine {
                    batch: s.batch * k,
                    fixed: s.fixed * k,
                })
            }
            A::Div => match other.as_int() {
                Some(k) if k != 0 && self.batch % k == 0 && self.fixed % k == 0 => Ok(Affine {
                    batch: self.batch / k,
                    fixed: self.fixed / k,
                }),
                _ => Err(batch_err()),
            },
            A::Rem | A::MatMul | A::Eq | A::Ne | A::Lt | A::Le | A::Gt | A::Ge => Err(batch_err()),
        }
    }

    /// The size, when it is one for every batch size.
    pub fn to_size(self) -> Result<Size, String> {
        if self.batch < 0 || self.fixed < 0 {
            return Err(match self.as_int() {
                Some(v) => format!("this size is {v}: sizes cannot be negative"),
                None => "this size could be negative for some batch sizes".to_string(),
            });
        }
        Ok(Size {
            batch: self.batch as usize,
            fixed: self.fixed as usize,
        })
    }
}

/// NumPy broadcasting of two shapes.
pub fn broadcast_shapes(a: &[Size], b: &[Size]) -> Option<Vec<Size>> {
    let rank = a.len().max(b.len());
    let at = |s: &[Size], i: usize| {
        let pad = rank - s.len();
        if i < pad {
            Size::ONE
        } else {
            s[i - pad]
        }
    };
    (0..rank)
        .map(|i| match (at(a, i), at(b, i)) {
            (x, y) if x == y => Some(x),
            (Size::ONE, y) => Some(y),
            (x, Size::ONE) => Some(x),
            _ => None,
        })
        .collect()
}
