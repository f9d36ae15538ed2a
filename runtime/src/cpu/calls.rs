//! The functions generated kernels call for what Cranelift has no
//! instruction for: transcendental functions and integer division. Each
//! calls the IR's one scalar rule (`dlp_compiler::ir::elementwise`), so a
//! compiled kernel computes the bits the interpreter computes.

use crate::rng;
use dlp_compiler::ir::{BinaryOp, UnaryOp};

/// The types helpers take and give.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    F32,
    F64,
    I32,
}

/// A function generated code may call.
pub struct Helper {
    pub name: &'static str,
    pub address: *const u8,
    pub params: &'static [Ty],
    pub result: Ty,
}

macro_rules! unary_calls {
    ($($name:ident: $t:ty => $op:ident,)*) => {
        $(
            extern "C" fn $name(x: $t) -> $t {
                UnaryOp::$op.float(x).unwrap_or(<$t>::NAN)
            }
        )*
        fn unary_helpers() -> Vec<Helper> {
            vec![$(Helper {
                name: stringify!($name),
                address: $name as *const u8,
                params: if stringify!($t) == "f64" { &[Ty::F64] } else { &[Ty::F32] },
                result: if stringify!($t) == "f64" { Ty::F64 } else { Ty::F32 },
            },)*]
        }
    };
}

unary_calls! {
    dlp_exp_f32: f32 => Exp,
    dlp_exp_f64: f64 => Exp,
    dlp_log_f32: f32 => Log,
    dlp_log_f64: f64 => Log,
    dlp_tanh_f32: f32 => Tanh,
    dlp_tanh_f64: f64 => Tanh,
    dlp_sin_f32: f32 => Sin,
    dlp_sin_f64: f64 => Sin,
    dlp_cos_f32: f32 => Cos,
    dlp_cos_f64: f64 => Cos,
    dlp_erf_f32: f32 => Erf,
    dlp_erf_f64: f64 => Erf,
}

macro_rules! binary_calls {
    ($($name:ident: $t:ty => $op:ident,)*) => {
        $(
            extern "C" fn $name(x: $t, y: $t) -> $t {
                BinaryOp::$op.arith(x, y).unwrap_or_default()
            }
        )*
        fn binary_helpers() -> Vec<Helper> {
            vec![$({
                let t = match stringify!($t) { "f64" => Ty::F64, "i32" => Ty::I32, _ => Ty::F32 };
                Helper {
                    name: stringify!($name),
                    address: $name as *const u8,
                    params: match t { Ty::F64 => &[Ty::F64, Ty::F64], Ty::I32 => &[Ty::I32, Ty::I32], Ty::F32 => &[Ty::F32, Ty::F32] },
                    result: t,
                }
            },)*]
        }
    };
}

binary_calls! {
    dlp_pow_f32: f32 => Pow,
    dlp_pow_f64: f64 => Pow,
    dlp_pow_i32: i32 => Pow,
    dlp_div_i32: i32 => Div,
    dlp_rem_i32: i32 => Rem,
}

/// A uniform draw in [0, 1), as the interpreter's random op makes it.
extern "C" fn dlp_uniform(seed: i32, stream: i32, counter: i32, index: i32) -> f64 {
    rng::uniform(seed as u32, stream as u32, counter as u32, index as u32)
}

/// A standard normal draw, as the interpreter's random op makes it.
extern "C" fn dlp_normal(seed: i32, stream: i32, counter: i32, index: i32) -> f64 {
    rng::normal(seed as u32, stream as u32, counter as u32, index as u32)
}

/// The counter of a draw keyed by sample.
extern "C" fn dlp_sample_counter(epoch: i32, sample: i32) -> i32 {
    rng::sample_counter(epoch as u32, sample as u32) as i32
}

/// Every function a kernel may call.
pub fn helpers() -> Vec<Helper> {
    let mut all = unary_helpers();
    all.extend(binary_helpers());
    const FOUR: &[Ty] = &[Ty::I32, Ty::I32, Ty::I32, Ty::I32];
    all.push(Helper {
        name: "dlp_uniform",
        address: dlp_uniform as *const u8,
        params: FOUR,
        result: Ty::F64,
    });
    all.push(Helper {
        name: "dlp_normal",
        address: dlp_normal as *const u8,
        params: FOUR,
        result: Ty::F64,
    });
    all.push(Helper {
        name: "dlp_sample_counter",
        address: dlp_sample_counter as *const u8,
        params: &[Ty::I32, Ty::I32],
        result: Ty::I32,
    });
    all
}

/// The symbol of a unary op's call for an element type, if it needs one.
pub fn unary_symbol(u: UnaryOp, f64: bool) -> Option<&'static str> {
    let (a, b) = match u {
        UnaryOp::Exp => ("dlp_exp_f32", "dlp_exp_f64"),
        UnaryOp::Log => ("dlp_log_f32", "dlp_log_f64"),
        UnaryOp::Tanh => ("dlp_tanh_f32", "dlp_tanh_f64"),
        UnaryOp::Sin => ("dlp_sin_f32", "dlp_sin_f64"),
        UnaryOp::Cos => ("dlp_cos_f32", "dlp_cos_f64"),
        UnaryOp::Erf => ("dlp_erf_f32", "dlp_erf_f64"),
        UnaryOp::Neg | UnaryOp::Sqrt | UnaryOp::Abs | UnaryOp::Sign | UnaryOp::Not => return None,
    };
    Some(if f64 { b } else { a })
}
