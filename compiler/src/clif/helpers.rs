//! The functions generated kernels call for what Cranelift has no
//! instruction for: transcendental functions, integer division and the
//! random draws. Here are their names and signatures; the runtime that
//! links a kernel supplies each one's address (its functions call the IR's
//! one scalar rule, so a compiled kernel computes the interpreter's bits).
//!
//! A kernel refers to helper `i` of [`HELPERS`] as the user-named function
//! `(0, i)`; the linker maps that to its own declaration.

use crate::ir::UnaryOp;

/// The types helpers take and give.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    F32,
    F64,
    I32,
}

/// A function generated code may call.
#[derive(Debug)]
pub struct Helper {
    pub name: &'static str,
    pub params: &'static [Ty],
    pub result: Ty,
}

const fn helper(name: &'static str, params: &'static [Ty], result: Ty) -> Helper {
    Helper {
        name,
        params,
        result,
    }
}

const F32: &[Ty] = &[Ty::F32];
const F64: &[Ty] = &[Ty::F64];
const F32_F32: &[Ty] = &[Ty::F32, Ty::F32];
const F64_F64: &[Ty] = &[Ty::F64, Ty::F64];
const I32_I32: &[Ty] = &[Ty::I32, Ty::I32];
const FOUR_I32: &[Ty] = &[Ty::I32, Ty::I32, Ty::I32, Ty::I32];

/// Every helper, in the order kernels number them.
pub const HELPERS: &[Helper] = &[
    helper("dlp_exp_f32", F32, Ty::F32),
    helper("dlp_exp_f64", F64, Ty::F64),
    helper("dlp_log_f32", F32, Ty::F32),
    helper("dlp_log_f64", F64, Ty::F64),
    helper("dlp_tanh_f32", F32, Ty::F32),
    helper("dlp_tanh_f64", F64, Ty::F64),
    helper("dlp_sin_f32", F32, Ty::F32),
    helper("dlp_sin_f64", F64, Ty::F64),
    helper("dlp_cos_f32", F32, Ty::F32),
    helper("dlp_cos_f64", F64, Ty::F64),
    helper("dlp_erf_f32", F32, Ty::F32),
    helper("dlp_erf_f64", F64, Ty::F64),
    helper("dlp_pow_f32", F32_F32, Ty::F32),
    helper("dlp_pow_f64", F64_F64, Ty::F64),
    helper("dlp_pow_i32", I32_I32, Ty::I32),
    helper("dlp_div_i32", I32_I32, Ty::I32),
    helper("dlp_rem_i32", I32_I32, Ty::I32),
    // A uniform draw in [0, 1) and a standard normal one, from (seed,
    // stream, counter, index), as the interpreter's random op makes them.
    helper("dlp_uniform", FOUR_I32, Ty::F64),
    helper("dlp_normal", FOUR_I32, Ty::F64),
    // The counter of a draw keyed by sample, from (epoch, sample).
    helper("dlp_sample_counter", I32_I32, Ty::I32),
];

/// The index of helper `name` in [`HELPERS`].
pub fn index(name: &str) -> Option<usize> {
    HELPERS.iter().position(|h| h.name == name)
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
