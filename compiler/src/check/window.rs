//! Sliding windows: convolution (with stride, padding, dilation and
//! groups) and pooling over [batch, channels, height, width].

use super::builtins::{loc_of, static_int, tensor};
use super::call::Bound;
use super::expr::Env;
use super::{CheckError, Checker};
use crate::diagnostic::Loc;
use crate::types::{Dim, Shape, TensorType, Type};

pub(super) fn conv(cx: &mut Checker, env: &Env, args: &[Bound], call: Loc) -> Type {
    let (Some(x), Some(w)) = (
        tensor(cx, "conv", "x", &args[0]),
        tensor(cx, "conv", "w", &args[1]),
    ) else {
        return Type::Error;
    };
    let (Some(xd), Some(wd)) = (
        four_dims(cx, &x, "x", &args[0], call),
        four_dims(cx, &w, "w", &args[1], call),
    ) else {
        return Type::Error;
    };
    let one = Dim::constant(1);
    let stride = at_least_one(cx, "stride", &args[2]);
    let pad = static_int(cx, "conv", "pad", &args[3], Some(Dim::constant(0)));
    let dilation = at_least_one(cx, "dilation", &args[4]);
    let groups = at_least_one(cx, "groups", &args[5]);
    let (Some(stride), Some(pad), Some(dilation), Some(groups)) = (stride, pad, dilation, groups)
    else {
        return Type::Error;
    };
    // Each group of `C / groups` input channels meets its own kernels.
    let expects = wd[1].mul(&groups).map(|d| env.dims.simplify(&d));
    if expects.as_ref().ok() != Some(&env.dims.simplify(&xd[1])) {
        let expects = expects.map_or_else(|_| format!("{} x {groups}", wd[1]), |d| d.to_string());
        let grouped = if groups == one {
            String::new()
        } else {
            format!(" ({groups} groups of {})", wd[1])
        };
        return cx.error(CheckError::MatMul {
            op: "conv",
            left: x.to_string(),
            right: w.to_string(),
            left_loc: loc_of(&args[0], call),
            right_loc: loc_of(&args[1], call),
            detail: format!(
                "x has {} channels (dim 1) but w expects {expects}{grouped}",
                xd[1]
            ),
        });
    }
    if let (Some(o), Some(g)) = (wd[0].as_const(), groups.as_const()) {
        if o % g != 0 {
            return cx.error(CheckError::BadDim {
                detail: format!("{o} output channels cannot be split into {g} groups: `groups` must divide dim 0 of w"),
                loc: loc_of(&args[5], call),
            });
        }
    }
    // A dilated kernel spans dilation * (k - 1) + 1 positions.
    let span = |k: &Dim| {
        k.sub(&one)
            .and_then(|d| d.mul(&dilation))
            .and_then(|d| d.add(&one))
    };
    let (Ok(kh), Ok(kw)) = (span(&wd[2]), span(&wd[3])) else {
        return Type::Error;
    };
    let h = window_out(cx, &xd[2], &kh, &stride, &pad, call);
    let w_out = window_out(cx, &xd[3], &kw, &stride, &pad, call);
    let (Some(h), Some(w_out)) = (h, w_out) else {
        return Type::Error;
    };
    Type::tensor(
        x.dtype,
        Shape::dims([xd[0].clone(), wd[0].clone(), h, w_out]),
    )
}

/// A static argument of `conv` that must be 1 or more (default 1).
fn at_least_one(cx: &mut Checker, what: &str, arg: &Bound) -> Option<Dim> {
    let d = static_int(cx, "conv", what, arg, Some(Dim::constant(1)))?;
    match (d.as_const(), arg) {
        (Some(v), Some((_, at))) if v < 1 => {
            cx.error(CheckError::OutOfRange {
                what: format!("the `{what}` of `conv`"),
                value: v.to_string(),
                range: "1 or more".into(),
                loc: *at,
            });
            None
        }
        _ => Some(d),
    }
}

pub(super) fn pool(cx: &mut Checker, _: &Env, args: &[Bound], call: Loc) -> Type {
    let Some(x) = tensor(cx, "pool", "x", &args[0]) else {
        return Type::Error;
    };
    let Some(xd) = four_dims(cx, &x, "x", &args[0], call) else {
        return Type::Error;
    };
    let Some(k) = static_int(cx, "pool", "k", &args[1], None) else {
        return Type::Error;
    };
    let Some(stride) = static_int(cx, "pool", "stride", &args[2], Some(k.clone())) else {
        return Type::Error;
    };
    let zero = Dim::constant(0);
    let h = window_out(cx, &xd[2], &k, &stride, &zero, call);
    let w = window_out(cx, &xd[3], &k, &stride, &zero, call);
    let (Some(h), Some(w)) = (h, w) else {
        return Type::Error;
    };
    Type::tensor(x.dtype, Shape::dims([xd[0].clone(), xd[1].clone(), h, w]))
}

fn four_dims(
    cx: &mut Checker,
    t: &TensorType,
    what: &str,
    arg: &Bound,
    call: Loc,
) -> Option<Vec<Dim>> {
    match t.shape.fixed() {
        Some(d) if d.len() == 4 => Some(d),
        _ => {
            cx.error(CheckError::WrongKind {
                what: format!("`{what}`"),
                expected: "a 4-D tensor [batch, channels, height, width]".to_string(),
                found: t.to_string(),
                loc: loc_of(arg, call),
                note: None,
            });
            None
        }
    }
}

/// `(size + 2 * pad - window) / stride + 1`, checked to be at least 1.
fn window_out(
    cx: &mut Checker,
    size: &Dim,
    window: &Dim,
    stride: &Dim,
    pad: &Dim,
    call: Loc,
) -> Option<Dim> {
    let two_pad = pad.mul(&Dim::constant(2)).ok()?;
    let out = size
        .add(&two_pad)
        .and_then(|s| s.sub(window))
        .and_then(|s| s.div(stride))
        .and_then(|s| s.add(&Dim::constant(1)));
    match out {
        Ok(d) if d.as_const().is_some_and(|v| v < 1) => {
            cx.error(CheckError::BadDim {
                detail: format!("the window ({window}) does not fit in the input ({size} with padding {pad}): the output size would be {d}"),
                loc: call,
            });
            None
        }
        Ok(d) => Some(d),
        Err(e) => {
            cx.error(CheckError::BadDim {
                detail: super::written::dim_error_text(&e),
                loc: call,
            });
            None
        }
    }
}
