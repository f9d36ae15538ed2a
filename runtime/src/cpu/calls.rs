//! The functions generated kernels call for what Cranelift has no
//! instruction for (`dlp_compiler::clif::helpers` names them and gives
//! their signatures): transcendental functions, integer division, random
//! draws. Each calls the IR's one scalar rule
//! (`dlp_compiler::ir::elementwise`), or the interpreter's random stream,
//! so a compiled kernel computes the bits the interpreter computes.

use crate::rng;
use dlp_compiler::ir::{BinaryOp, UnaryOp};

macro_rules! unary_calls {
    ($($name:ident: $t:ty => $op:ident,)*) => {
        $(
            extern "C" fn $name(x: $t) -> $t {
                UnaryOp::$op.float(x).unwrap_or(<$t>::NAN)
            }
        )*
        fn unary_address(name: &str) -> Option<*const u8> {
            match name {
                $(stringify!($name) => Some($name as *const u8),)*
                _ => None,
            }
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
        fn binary_address(name: &str) -> Option<*const u8> {
            match name {
                $(stringify!($name) => Some($name as *const u8),)*
                _ => None,
            }
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

/// The address of helper `name`, if there is one.
pub fn address(name: &str) -> Option<*const u8> {
    unary_address(name)
        .or_else(|| binary_address(name))
        .or(match name {
            "dlp_uniform" => Some(dlp_uniform as *const u8),
            "dlp_normal" => Some(dlp_normal as *const u8),
            "dlp_sample_counter" => Some(dlp_sample_counter as *const u8),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::address;
    use dlp_compiler::clif::helpers::HELPERS;

    #[test]
    fn every_helper_the_compiler_names_is_here() {
        for helper in HELPERS {
            assert!(address(helper.name).is_some(), "{}", helper.name);
        }
    }
}
