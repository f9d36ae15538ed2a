//! Typing rules of the built-ins that move axes and elements: `transpose`,
//! `permute`, `stack`, `pad` and `arange` (`reshape` and `concat` live
//! with the other rules in [`super::builtins`]).

use super::builtins::{axis_index, const_int, loc_of, static_int, tensor};
use super::call::Bound;
use super::expr::{self, Env};
use super::{CheckError, Checker};
use crate::diagnostic::Loc;
use crate::types::{DType, Dim, Shape, ShapeItem, TensorType, Type};

pub(super) fn transpose(cx: &mut Checker, _: &Env, args: &[Bound], call: Loc) -> Type {
    let Some(x) = tensor(cx, "transpose", "x", &args[0]) else {
        return Type::Error;
    };
    let x_loc = loc_of(&args[0], call);
    if args[1].is_none() && args[2].is_none() {
        // Nothing written but x: say what the defaults need, not "axis -2".
        let n = x.shape.0.len();
        let last_two_plain = n >= 2
            && x.shape.0[n - 2..]
                .iter()
                .all(|i| matches!(i, ShapeItem::Dim(_)));
        if !last_two_plain {
            return expr::wrong_kind(
                cx,
                "the x of `transpose`, which swaps its last two dims,",
                "a tensor whose last two dims are plain (not a `..` group)",
                &Type::Tensor(x),
                x_loc,
            );
        }
    }
    let (Some(a), Some(b)) = (
        const_int(cx, "transpose", "a", &args[1], Some(-2)),
        const_int(cx, "transpose", "b", &args[2], Some(-1)),
    ) else {
        return Type::Error;
    };
    let (Some(i), Some(j)) = (
        axis_index(cx, &x, a, loc_of(&args[1], x_loc)),
        axis_index(cx, &x, b, loc_of(&args[2], x_loc)),
    ) else {
        return Type::Error;
    };
    let mut items = x.shape.0.clone();
    items.swap(i, j);
    Type::tensor(x.dtype, Shape(items))
}

pub(super) fn permute(cx: &mut Checker, _: &Env, args: &[Bound], call: Loc) -> Type {
    let Some(x) = tensor(cx, "permute", "x", &args[0]) else {
        return Type::Error;
    };
    let Some(dims) = x.shape.fixed() else {
        return expr::wrong_kind(
            cx,
            "the x of `permute`",
            "a tensor without a `..` group (every axis must be named)",
            &Type::Tensor(x),
            loc_of(&args[0], call),
        );
    };
    let axes_loc = loc_of(&args[1], call);
    let Some(axes) = int_list(cx, "axes", "permute", &args[1]) else {
        return Type::Error;
    };
    let rank = dims.len() as i64;
    let normalised: Vec<i64> = axes
        .iter()
        .map(|&a| if a < 0 { a + rank } else { a })
        .collect();
    let mut seen = vec![false; dims.len()];
    let is_permutation = axes.len() == dims.len()
        && normalised
            .iter()
            .all(|&a| (0..rank).contains(&a) && !std::mem::replace(&mut seen[a as usize], true));
    if !is_permutation {
        let every: Vec<String> = (0..rank).map(|a| a.to_string()).collect();
        let written: Vec<String> = axes.iter().map(|a| a.to_string()).collect();
        return cx.error(CheckError::WrongKind {
            what: "argument `axes` of `permute`".to_string(),
            expected: format!("an order of the axes {} of {x}", every.join(", ")),
            found: format!("[{}]", written.join(", ")),
            loc: axes_loc,
            note: Some("each axis appears exactly once".to_string()),
        });
    }
    let out = normalised.iter().map(|&a| dims[a as usize].clone());
    Type::tensor(x.dtype, Shape::dims(out))
}

pub(super) fn stack(cx: &mut Checker, _: &Env, args: &[Bound], call: Loc) -> Type {
    let list_loc = loc_of(&args[0], call);
    let items = match &args[0] {
        Some((Type::List(items), _)) => items.clone(),
        Some((Type::Error, _)) | None => return Type::Error,
        Some((other, at)) => {
            return expr::wrong_kind(
                cx,
                "the argument of `stack`",
                "a list of tensors",
                other,
                *at,
            )
        }
    };
    let mut first: Option<TensorType> = None;
    for (k, t) in items.iter().enumerate() {
        match (t, &first) {
            (Type::Error, _) => return Type::Error,
            (Type::Tensor(t), None) => first = Some(t.clone()),
            (Type::Tensor(t), Some(f)) if t == f => {}
            (Type::Tensor(t), Some(f)) => {
                return cx.error(CheckError::Concat {
                    detail: format!(
                        "item {k} is {t}, item 0 is {f}; stacked tensors must have one type"
                    ),
                    loc: list_loc,
                    other: list_loc,
                })
            }
            (other, _) => {
                return expr::wrong_kind(cx, "each item of `stack`", "a tensor", other, list_loc)
            }
        }
    }
    let Some(first) = first else {
        return expr::wrong_kind(
            cx,
            "the argument of `stack`",
            "a non-empty list",
            &Type::List(Vec::new()),
            list_loc,
        );
    };
    let Some(axis) = const_int(cx, "stack", "axis", &args[1], Some(0)) else {
        return Type::Error;
    };
    // The new axis goes before item `at` (counting from the end when negative).
    let len = first.shape.0.len() as i64;
    let at = if axis < 0 { len + 1 + axis } else { axis };
    let group = first
        .shape
        .0
        .iter()
        .position(|i| matches!(i, ShapeItem::Group(_)))
        .map(|g| g as i64);
    let usable = (0..=len).contains(&at)
        && match group {
            Some(g) if axis >= 0 => at <= g,
            Some(g) => at > g,
            None => true,
        };
    if !usable {
        return cx.error(CheckError::Axis {
            axis,
            shape: first.shape.to_string(),
            loc: loc_of(&args[1], list_loc),
            detail: format!(
                "a new axis goes at 0 to {len} (or -1 to -{}), on the known side of any `..` group",
                len + 1
            ),
        });
    }
    let mut out = first.shape.0.clone();
    out.insert(
        at as usize,
        ShapeItem::Dim(Dim::constant(items.len() as i64)),
    );
    Type::tensor(first.dtype, Shape(out))
}

pub(super) fn pad(cx: &mut Checker, _: &Env, args: &[Bound], call: Loc) -> Type {
    let Some(x) = tensor(cx, "pad", "x", &args[0]) else {
        return Type::Error;
    };
    let width_loc = loc_of(&args[1], call);
    let (before, after) = match &args[1] {
        Some((Type::List(items), _)) if items.len() == 2 => {
            match (size_of(&items[0]), size_of(&items[1])) {
                (Some(b), Some(a)) => (b, a),
                _ if items.iter().any(Type::is_error) => return Type::Error,
                _ => {
                    return expr::wrong_kind(
                        cx,
                        "the `[before, after]` widths of `pad`",
                        "two ints known when the program is compiled",
                        &args[1].as_ref().expect("matched").0,
                        width_loc,
                    )
                }
            }
        }
        Some((Type::List(_), _)) => {
            return expr::wrong_kind(
                cx,
                "argument `width` of `pad`",
                "an int, or a list `[before, after]` of two",
                &args[1].as_ref().expect("matched").0,
                width_loc,
            )
        }
        _ => match static_int(cx, "pad", "width", &args[1], None) {
            Some(w) => (w.clone(), w),
            None => return Type::Error,
        },
    };
    for w in [&before, &after] {
        if let Some(v) = w.as_const().filter(|v| *v < 0) {
            return cx.error(CheckError::OutOfRange {
                what: "a width of `pad`".to_string(),
                value: v.to_string(),
                range: "0 or more".to_string(),
                loc: width_loc,
            });
        }
    }
    if let Some((ty, at)) = &args[3] {
        if !matches!(ty, Type::Float(_) | Type::Int(_) | Type::Error) {
            return expr::wrong_kind(cx, "argument `value` of `pad`", "a number", ty, *at);
        }
    }
    let Some(axis) = const_int(cx, "pad", "axis", &args[2], Some(-1)) else {
        return Type::Error;
    };
    let Some(i) = axis_index(cx, &x, axis, loc_of(&args[2], loc_of(&args[0], call))) else {
        return Type::Error;
    };
    let mut items = x.shape.0.clone();
    let ShapeItem::Dim(n) = &items[i] else {
        unreachable!("axis_index names plain dims only")
    };
    match n.add(&before).and_then(|d| d.add(&after)) {
        Ok(d) => items[i] = ShapeItem::Dim(d),
        Err(_) => {
            return cx.error(CheckError::BadDim {
                detail: "the padded size overflows".to_string(),
                loc: width_loc,
            })
        }
    }
    Type::tensor(x.dtype, Shape(items))
}

pub(super) fn arange(cx: &mut Checker, _: &Env, args: &[Bound], call: Loc) -> Type {
    let Some(n) = static_int(cx, "arange", "n", &args[0], None) else {
        return Type::Error;
    };
    if let Some(v) = n.as_const().filter(|v| *v < 1) {
        return cx.error(CheckError::OutOfRange {
            what: "the length `n` of `arange`".to_string(),
            value: v.to_string(),
            range: "at least 1".to_string(),
            loc: loc_of(&args[0], call),
        });
    }
    Type::Tensor(TensorType::new(DType::I64, Shape::dims([n])))
}

fn size_of(t: &Type) -> Option<Dim> {
    match t {
        Type::Int(Some(d)) => Some(d.clone()),
        _ => None,
    }
}

/// A list of ints known when the program is compiled.
fn int_list(cx: &mut Checker, what: &str, name: &str, arg: &Bound) -> Option<Vec<i64>> {
    let (ty, at) = arg.as_ref()?;
    let bad = |cx: &mut Checker| {
        expr::wrong_kind(
            cx,
            &format!("argument `{what}` of `{name}`"),
            "a list of ints known when the program is compiled",
            ty,
            *at,
        );
        None
    };
    let Type::List(items) = ty else {
        return bad(cx);
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Type::Int(Some(d)) if d.as_const().is_some() => out.push(d.as_const()?),
            Type::Error => return None,
            _ => return bad(cx),
        }
    }
    Some(out)
}
