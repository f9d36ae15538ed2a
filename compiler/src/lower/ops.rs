//! Operators while lowering: arithmetic on host values is computed on the
//! spot; on tensors it becomes elementwise nodes, with NumPy broadcasting
//! made explicit and numbers meeting at a common dtype.

use super::builtins;
use super::eval::{Lowerer, R};
use super::value::Value;
use super::LowerError;
use crate::diagnostic::Loc;
use crate::ir::{BinaryOp, DType, NodeId, Op, TensorTy};
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
                    return Ok(Value::Bool(compare(op, *a as f64, *c as f64)));
                }
                host_int(op, *a, *c)
                    .map(Value::Int)
                    .ok_or_else(|| LowerError::new("division by zero", Some(loc)))
            }
            (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
                let (a, c) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
                if op.is_comparison() {
                    return Ok(Value::Bool(compare(op, a, c)));
                }
                Ok(Value::Float(match op {
                    A::Add => a + c,
                    A::Sub => a - c,
                    A::Mul => a * c,
                    A::Div => a / c,
                    _ => a % c,
                }))
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
                Value::Int(_) | Value::Float(_) | Value::Bool(_) => None,
                other => Some(self.node(other.clone(), loc)?),
            });
        }
        let tensor_dtypes: Vec<DType> = nodes
            .iter()
            .flatten()
            .map(|&n| self.graph.ty(n).dtype)
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
        let mut shape: Vec<usize> = Vec::new();
        for n in nodes.iter().flatten() {
            let s = self.graph.ty(*n).shape.clone();
            shape = broadcast_shapes(&shape, &s).ok_or_else(|| {
                LowerError::new(
                    format!("shapes {shape:?} and {s:?} do not broadcast"),
                    Some(loc),
                )
            })?;
        }
        let mut out = Vec::with_capacity(values.len());
        for (v, n) in values.iter().zip(nodes) {
            let node = match (n, v) {
                (Some(n), _) => {
                    let from = self.graph.ty(n).dtype;
                    // Conditions stay bool; numbers meet at the common dtype.
                    if from == DType::Bool && dtype != DType::Bool {
                        n
                    } else {
                        self.graph.cast(n, dtype)
                    }
                }
                (None, Value::Bool(b)) => self.graph.constant(f64::from(u8::from(*b)), DType::Bool),
                (None, v) => self.graph.constant(v.as_f64().unwrap_or(0.0), dtype),
            };
            out.push(self.graph.broadcast_to(node, &shape));
        }
        Ok(out)
    }

    pub fn elementwise(&mut self, b: BinaryOp, values: &[Value], loc: Loc) -> R<NodeId> {
        let nodes = self.operands(values, loc)?;
        self.graph
            .try_add(Op::Binary(b), &nodes, TensorTy::scalar(DType::F32))
            .map_err(|e| LowerError::new(e.0, Some(loc)))
    }
}

fn compare(op: ast::BinOp, a: f64, b: f64) -> bool {
    use ast::BinOp as A;
    match op {
        A::Eq => a == b,
        A::Ne => a != b,
        A::Lt => a < b,
        A::Le => a <= b,
        A::Gt => a > b,
        _ => a >= b,
    }
}

/// Integer arithmetic as in sizes: `/` rounds down. `None` on division by 0.
pub(super) fn host_int(op: ast::BinOp, a: i64, b: i64) -> Option<i64> {
    use ast::BinOp as A;
    Some(match op {
        A::Add => a.wrapping_add(b),
        A::Sub => a.wrapping_sub(b),
        A::Mul => a.wrapping_mul(b),
        A::Div => a.checked_div_euclid(b)?,
        A::Rem => a.checked_rem_euclid(b)?,
        _ => return None,
    })
}

/// NumPy broadcasting of two shapes.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    let at = |s: &[usize], i: usize| {
        let pad = rank - s.len();
        if i < pad {
            1
        } else {
            s[i - pad]
        }
    };
    (0..rank)
        .map(|i| match (at(a, i), at(b, i)) {
            (x, y) if x == y => Some(x),
            (1, y) => Some(y),
            (x, 1) => Some(x),
            _ => None,
        })
        .collect()
}
