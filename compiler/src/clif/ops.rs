//! Each op of an elementwise kernel as Cranelift instructions, or as a
//! call to the helper that computes the interpreter's bits.

use super::{clif_type, helpers, Emitter, Unsupported};
use crate::ir::{BinaryOp, DType, UnaryOp};
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{types, InstBuilder, Value};

impl Emitter<'_, '_, '_> {
    pub(super) fn constant(&mut self, v: f64, dtype: DType) -> Value {
        match dtype {
            DType::F32 => self.b.ins().f32const(v as f32),
            DType::F64 => self.b.ins().f64const(v),
            DType::I32 => self.b.ins().iconst(types::I32, v as i32 as i64),
            DType::Bool => self.b.ins().iconst(types::I8, i64::from(v != 0.0)),
        }
    }

    pub(super) fn convert_index(&mut self, i: Value, dtype: DType) -> Value {
        match dtype {
            DType::F32 => self.b.ins().fcvt_from_sint(types::F32, i),
            DType::F64 => self.b.ins().fcvt_from_sint(types::F64, i),
            DType::I32 => self.b.ins().ireduce(types::I32, i),
            DType::Bool => self.b.ins().icmp_imm_s(IntCC::NotEqual, i, 0),
        }
    }

    pub(super) fn call(
        &mut self,
        name: &'static str,
        args: &[Value],
    ) -> Result<Value, Unsupported> {
        let f = self.calls.reference(name, self.b.func)?;
        let inst = self.b.ins().call(f, args);
        Ok(self.b.inst_results(inst)[0])
    }

    pub(super) fn unary(
        &mut self,
        u: UnaryOp,
        x: Value,
        dtype: DType,
    ) -> Result<Value, Unsupported> {
        let b = &mut self.b;
        Ok(match dtype {
            DType::F32 | DType::F64 => {
                if let Some(name) = helpers::unary_symbol(u, dtype == DType::F64) {
                    return self.call(name, &[x]);
                }
                match u {
                    UnaryOp::Neg => b.ins().fneg(x),
                    UnaryOp::Sqrt => b.ins().sqrt(x),
                    UnaryOp::Abs => b.ins().fabs(x),
                    UnaryOp::Sign => {
                        let one = self.constant(1.0, dtype);
                        let minus = self.constant(-1.0, dtype);
                        let zero = self.constant(0.0, dtype);
                        let b = &mut self.b;
                        let pos = b.ins().fcmp(FloatCC::GreaterThan, x, zero);
                        let neg = b.ins().fcmp(FloatCC::LessThan, x, zero);
                        let low = self.pick(neg, minus, zero);
                        self.pick(pos, one, low)
                    }
                    other => return Err(Unsupported(format!("`{}` on floats", other.name()))),
                }
            }
            DType::I32 => match u {
                UnaryOp::Neg => b.ins().ineg(x),
                UnaryOp::Abs => b.ins().iabs(x),
                UnaryOp::Sign => {
                    let one = b.ins().iconst(types::I32, 1);
                    let minus = b.ins().iconst(types::I32, -1);
                    let low = b.ins().smax(x, minus);
                    b.ins().smin(low, one)
                }
                other => return Err(Unsupported(format!("`{}` on integers", other.name()))),
            },
            DType::Bool => match u {
                UnaryOp::Not => b.ins().bxor_imm_s(x, 1),
                other => return Err(Unsupported(format!("`{}` on bools", other.name()))),
            },
        })
    }

    pub(super) fn binary(
        &mut self,
        op: BinaryOp,
        x: Value,
        y: Value,
        dtype: DType,
    ) -> Result<Value, Unsupported> {
        use BinaryOp as B;
        if op.is_comparison() {
            return self.compare(op, x, y, dtype);
        }
        let b = &mut self.b;
        Ok(match dtype {
            DType::F32 | DType::F64 => match op {
                B::Add => b.ins().fadd(x, y),
                B::Sub => b.ins().fsub(x, y),
                B::Mul => b.ins().fmul(x, y),
                B::Div => b.ins().fdiv(x, y),
                // x - y * floor(x / y), as the scalar rule computes it.
                B::Rem => {
                    let q = b.ins().fdiv(x, y);
                    let f = b.ins().floor(q);
                    let p = b.ins().fmul(y, f);
                    b.ins().fsub(x, p)
                }
                B::Pow => {
                    let name = if dtype == DType::F64 {
                        "dlp_pow_f64"
                    } else {
                        "dlp_pow_f32"
                    };
                    return self.call(name, &[x, y]);
                }
                // The other operand when one is NaN, as Rust's max/min.
                B::Max | B::Min => {
                    let cc = if op == B::Max {
                        FloatCC::GreaterThan
                    } else {
                        FloatCC::LessThan
                    };
                    let first = b.ins().fcmp(cc, x, y);
                    let y_nan = b.ins().fcmp(FloatCC::Unordered, y, y);
                    let pick = self.pick(first, x, y);
                    self.pick(y_nan, x, pick)
                }
                B::And | B::Eq | B::Ne | B::Lt | B::Le | B::Gt | B::Ge => {
                    return Err(Unsupported(format!("`{}` on floats", op.name())))
                }
            },
            DType::I32 => match op {
                B::Add => b.ins().iadd(x, y),
                B::Sub => b.ins().isub(x, y),
                B::Mul => b.ins().imul(x, y),
                B::Max => b.ins().smax(x, y),
                B::Min => b.ins().smin(x, y),
                B::Div => return self.call("dlp_div_i32", &[x, y]),
                B::Rem => return self.call("dlp_rem_i32", &[x, y]),
                B::Pow => return self.call("dlp_pow_i32", &[x, y]),
                B::And | B::Eq | B::Ne | B::Lt | B::Le | B::Gt | B::Ge => {
                    return Err(Unsupported(format!("`{}` on integers", op.name())))
                }
            },
            DType::Bool => match op {
                B::And => b.ins().band(x, y),
                other => return Err(Unsupported(format!("`{}` on bools", other.name()))),
            },
        })
    }

    /// A comparison (`op.is_comparison()`), giving a bool. Bools compare
    /// as 0 < 1, so they use the unsigned orders; integers are signed.
    pub(super) fn compare(
        &mut self,
        op: BinaryOp,
        x: Value,
        y: Value,
        dtype: DType,
    ) -> Result<Value, Unsupported> {
        use BinaryOp as B;
        use FloatCC as F;
        use IntCC as I;
        let (float, signed, unsigned) = match op {
            B::Eq => (F::Equal, I::Equal, I::Equal),
            B::Ne => (F::NotEqual, I::NotEqual, I::NotEqual),
            B::Lt => (F::LessThan, I::SignedLessThan, I::UnsignedLessThan),
            B::Le => (
                F::LessThanOrEqual,
                I::SignedLessThanOrEqual,
                I::UnsignedLessThanOrEqual,
            ),
            B::Gt => (F::GreaterThan, I::SignedGreaterThan, I::UnsignedGreaterThan),
            B::Ge => (
                F::GreaterThanOrEqual,
                I::SignedGreaterThanOrEqual,
                I::UnsignedGreaterThanOrEqual,
            ),
            other => return Err(Unsupported(format!("`{}` as a comparison", other.name()))),
        };
        let b = &mut self.b;
        Ok(match dtype {
            DType::F32 | DType::F64 => b.ins().fcmp(float, x, y),
            DType::I32 => b.ins().icmp(signed, x, y),
            DType::Bool => b.ins().icmp(unsigned, x, y),
        })
    }

    pub(super) fn cast(&mut self, x: Value, from: DType, to: DType) -> Value {
        let b = &mut self.b;
        match (from, to) {
            (DType::F32, DType::F64) => b.ins().fpromote(types::F64, x),
            (DType::F64, DType::F32) => b.ins().fdemote(types::F32, x),
            (DType::F32 | DType::F64, DType::I32) => b.ins().fcvt_to_sint_sat(types::I32, x),
            (DType::F32, DType::Bool) => {
                let zero = b.ins().f32const(0.0);
                b.ins().fcmp(FloatCC::NotEqual, x, zero)
            }
            (DType::F64, DType::Bool) => {
                let zero = b.ins().f64const(0.0);
                b.ins().fcmp(FloatCC::NotEqual, x, zero)
            }
            (DType::I32, DType::F32) => b.ins().fcvt_from_sint(types::F32, x),
            (DType::I32, DType::F64) => b.ins().fcvt_from_sint(types::F64, x),
            (DType::I32, DType::Bool) => b.ins().icmp_imm_s(IntCC::NotEqual, x, 0),
            (DType::Bool, DType::I32) => b.ins().uextend(types::I32, x),
            (DType::Bool, DType::F32 | DType::F64) => {
                let wide = b.ins().uextend(types::I32, x);
                b.ins().fcvt_from_sint(clif_type(to), wide)
            }
            (DType::F32, DType::F32)
            | (DType::F64, DType::F64)
            | (DType::I32, DType::I32)
            | (DType::Bool, DType::Bool) => x,
        }
    }
}
