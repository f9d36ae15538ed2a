//! The stdlib's hyper-parameters: the range of values each accepts (a
//! learning rate above 0, a dropout `p` in [0, 1)), and the combinations
//! that mean nothing (Nesterov momentum without momentum). The checker
//! applies them to constant arguments; lowering applies `out_of_range` to
//! values that are only known then (a model's arguments).

use super::call::Bound;
use super::{CheckError, Checker, FnSig};
use crate::types::Type;

/// Value ranges of the stdlib's hyper-parameters, by parameter name.
const RANGES: &[(&str, f64, bool, f64, bool)] = &[
    // name, low, low inclusive, high, high inclusive
    ("lr", 0.0, false, f64::INFINITY, false),
    ("momentum", 0.0, true, 1.0, false),
    ("beta1", 0.0, true, 1.0, false),
    ("beta2", 0.0, true, 1.0, false),
    ("alpha", 0.0, true, 1.0, false),
    ("eps", 0.0, false, f64::INFINITY, false),
    ("weight_decay", 0.0, true, f64::INFINITY, false),
    ("gamma", 0.0, false, f64::INFINITY, false),
    ("min_lr", 0.0, true, f64::INFINITY, false),
    ("p", 0.0, true, 1.0, false),
    ("every", 1.0, true, f64::INFINITY, false),
    ("steps", 1.0, true, f64::INFINITY, false),
];

/// The range a stdlib hyper-parameter named `name` must lie in, in words,
/// when `value` is outside it (`in [0, 1)` for a dropout `p` of 1.5).
pub fn out_of_range(name: &str, value: f64) -> Option<String> {
    let &(_, lo, lo_inc, hi, hi_inc) = RANGES.iter().find(|r| r.0 == name)?;
    let above = if lo_inc { value >= lo } else { value > lo };
    let below = if hi_inc { value <= hi } else { value < hi };
    if above && below && !value.is_nan() {
        return None;
    }
    Some(match (hi.is_infinite(), lo_inc) {
        (true, true) => format!("at least {lo}"),
        (true, false) => format!("greater than {lo}"),
        (false, _) => format!(
            "in {}{lo}, {hi}{}",
            if lo_inc { "[" } else { "(" },
            if hi_inc { "]" } else { ")" }
        ),
    })
}

/// Checks the stdlib's hyper-parameters given as constants.
pub(crate) fn check_ranges(cx: &mut Checker, sig: &FnSig, bound: &[Bound]) {
    let module = &cx.program.modules[sig.def.module];
    if !cx.program.sources.get(module.file).is_stdlib {
        return;
    }
    check_nesterov(cx, sig, bound);
    for (p, arg) in sig.params.iter().zip(bound) {
        let Some((ty, at)) = arg else { continue };
        let value = match ty {
            Type::Float(Some(v)) => *v,
            Type::Int(Some(d)) => match d.as_const() {
                Some(v) => v as f64,
                None => continue,
            },
            _ => continue,
        };
        if let Some(range) = out_of_range(&p.name, value) {
            cx.error(CheckError::OutOfRange {
                what: format!("`{}` of `{}`", p.name, sig.name),
                value: value.to_string(),
                range,
                loc: *at,
            });
        }
    }
}

/// `sgd(nesterov = true)` looks ahead along the momentum: without momentum
/// there is nothing to look along.
fn check_nesterov(cx: &mut Checker, sig: &FnSig, bound: &[Bound]) {
    if sig.name != "sgd" {
        return;
    }
    let arg = |name: &str| {
        let i = sig.params.iter().position(|p| p.name == name)?;
        bound[i].clone()
    };
    let Some((Type::Bool(Some(true)), at)) = arg("nesterov") else {
        return;
    };
    let momentum = match arg("momentum") {
        None => 0.0,
        Some((Type::Float(Some(v)), _)) => v,
        Some((Type::Int(Some(d)), _)) => d.as_const().unwrap_or(1) as f64,
        Some(_) => return,
    };
    if momentum <= 0.0 {
        cx.error(CheckError::Requires {
            detail: "`nesterov = true` needs `momentum` above 0".to_string(),
            loc: at,
            help: "add `momentum = 0.9`".to_string(),
        });
    }
}
