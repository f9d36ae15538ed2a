//! The data sources of `dataset` blocks (`csv`, `idx`, `npy`, `npz`,
//! `text`) and the CSV reads of their fields (`column`, `columns`): each
//! checks its arguments and gives raw data, a source, or a typed column.

use super::builtins::const_int;
use super::call::Bound;
use super::expr::{self, Context, Env};
use super::{CheckError, Checker};
use crate::diagnostic::Loc;
use crate::types::{DType, Dim, Shape, SourceKind, Type};

fn string_arg(cx: &mut Checker, what: &str, arg: &Bound) -> bool {
    match arg {
        Some((Type::Str(_) | Type::Error, _)) | None => true,
        Some((other, at)) => {
            expr::wrong_kind(cx, what, "a string", other, *at);
            false
        }
    }
}

pub(super) fn csv(cx: &mut Checker, _: &Env, args: &[Bound], _: Loc) -> Type {
    let ok = string_arg(cx, "the path of `csv`", &args[0])
        & string_arg(cx, "the delimiter of `csv`", &args[2]);
    if let Some((t, at)) = &args[1] {
        if !matches!(t, Type::Bool(_) | Type::Error) {
            return expr::wrong_kind(cx, "`header`", "true or false", t, *at);
        }
    }
    if let Some((Type::Str(Some(d)), at)) = &args[2] {
        if d.chars().count() != 1 {
            return cx.error(CheckError::OutOfRange {
                what: "the delimiter".to_string(),
                value: format!("{d:?}"),
                range: "one character".to_string(),
                loc: *at,
            });
        }
    }
    if ok {
        Type::Source(SourceKind::Csv)
    } else {
        Type::Error
    }
}

pub(super) fn idx(cx: &mut Checker, _: &Env, args: &[Bound], _: Loc) -> Type {
    if string_arg(cx, "the path of `idx`", &args[0]) {
        Type::Raw
    } else {
        Type::Error
    }
}

pub(super) fn text(cx: &mut Checker, _: &Env, args: &[Bound], _: Loc) -> Type {
    let path = string_arg(cx, "the path of `text`", &args[0]);
    let stride = match &args[1] {
        None => true,
        Some((_, at)) => match const_int(cx, "text", "stride", &args[1], None) {
            Some(v) if v < 1 => {
                return cx.error(CheckError::OutOfRange {
                    what: "the `stride` of `text`".into(),
                    value: v.to_string(),
                    range: "1 or more (bytes from one window's start to the next)".into(),
                    loc: *at,
                })
            }
            v => v.is_some(),
        },
    };
    if path && stride {
        Type::Raw
    } else {
        Type::Error
    }
}

pub(super) fn npy(cx: &mut Checker, _: &Env, args: &[Bound], _: Loc) -> Type {
    if string_arg(cx, "the path of `npy`", &args[0]) {
        Type::Raw
    } else {
        Type::Error
    }
}

pub(super) fn npz(cx: &mut Checker, _: &Env, args: &[Bound], _: Loc) -> Type {
    let ok = string_arg(cx, "the path of `npz`", &args[0])
        & string_arg(cx, "the array of `npz`", &args[1]);
    if ok {
        Type::Raw
    } else {
        Type::Error
    }
}

fn needs_csv(cx: &mut Checker, env: &Env, name: &str, call: Loc) -> bool {
    if env.context == Context::Dataset(Some(SourceKind::Csv)) {
        return true;
    }
    cx.error(CheckError::DatasetSource {
        detail: format!("`{name}` reads the dataset's CSV source, and this dataset has none"),
        loc: call,
        help: Some("add `source = csv(\"file.csv\")` to the dataset".to_string()),
    });
    false
}

pub(super) fn column(cx: &mut Checker, env: &Env, args: &[Bound], call: Loc) -> Type {
    if !needs_csv(cx, env, "column", call) {
        return Type::Error;
    }
    match &args[0] {
        Some((Type::Str(_) | Type::Error, _)) => Type::tensor(DType::F32, Shape::scalar()),
        Some((Type::Int(Some(d)), at)) => match d.as_const() {
            Some(v) if v >= 0 => Type::tensor(DType::F32, Shape::scalar()),
            _ => cx.error(CheckError::OutOfRange {
                what: "the column index".to_string(),
                value: d.to_string(),
                range: "a non-negative constant".to_string(),
                loc: *at,
            }),
        },
        Some((other, at)) => expr::wrong_kind(cx, "the column", "a name or an index", other, *at),
        None => Type::Error,
    }
}

pub(super) fn columns(cx: &mut Checker, env: &Env, args: &[Bound], call: Loc) -> Type {
    if !needs_csv(cx, env, "columns", call) {
        return Type::Error;
    }
    let count = match &args[0] {
        Some((Type::Range(a, b), _)) => b.sub(a).ok(),
        Some((Type::List(items), at)) => {
            if let Some(bad) = items
                .iter()
                .find(|t| !matches!(t, Type::Str(_) | Type::Int(_) | Type::Error))
            {
                return expr::wrong_kind(cx, "each column", "a name or an index", bad, *at);
            }
            Some(Dim::constant(items.len() as i64))
        }
        Some((Type::Error, _)) | None => return Type::Error,
        Some((other, at)) => {
            return expr::wrong_kind(cx, "the columns", "a range (`0..64`) or a list", other, *at)
        }
    };
    match count {
        Some(n) => Type::tensor(DType::F32, Shape::dims([n])),
        None => Type::Error,
    }
}
