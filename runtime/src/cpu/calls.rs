//! The functions generated kernels call for what Cranelift has no
//! instruction for: transcendental functions and integer division. Each
//! calls the IR's one scalar rule (`dlp_compiler::ir::elementwise`), so a
//! compiled kernel computes the bits the interpreter computes.

use dlp_compiler::ir::{BinaryOp, UnaryOp};

macro_rules! unary_calls {
    ($($name:ident: $t:ty => $op:ident,)*) => {
        $(
            extern "C" fn $name(x: $t) -> $t {
                UnaryOp::$op.float(x).unwrap_or(<$t>::NAN)
            }
        )*
        /// `(symbol, address)` of every unary call.
        fn unary_symbols() -> Vec<(&'static str, *const u8)> {
            vec![$((stringify!($name), $name as *const u8),)*]
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
        fn binary_symbols() -> Vec<(&'static str, *const u8)> {
            vec![$((stringify!($name), $name as *const u8),)*]
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

/// Every function a kernel may call, by the symbol it calls it by.
pub fn symbols() -> Vec<(&'static str, *const u8)> {
    let mut all = unary_symbols();
    all.extend(binary_symbols());
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
