//! The data sources of `dataset` blocks (`csv`, `images`, `idx`, `npy`,
//! `npz`, `text`) and the reads of their fields from a source (`column`,
//! `columns` of a CSV; `image`, `label` of an image folder): each checks
//! its arguments and gives raw data, a source, or a typed value.

use super::builtins::const_int;
use super::call::Bound;
use super::expr::{self, Context, Env};
use super::{CheckError, Checker};
use crate::diagnostic::Loc;
use crate::program::Tokens;
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
                    range: "1 or more (tokens from one window's start to the next)".into(),
                    loc: *at,
                })
            }
            v => v.is_some(),
        },
    };
    let tokens = match &args[2] {
        Some((Type::Str(Some(name)), at)) if Tokens::named(name).is_none() => {
            return cx.error(CheckError::OutOfRange {
                what: "the `tokens` of `text`".into(),
                value: format!("\"{name}\""),
                range: "\"bytes\" (the default) or \"chars\"".into(),
                loc: *at,
            })
        }
        arg => string_arg(cx, "the `tokens` of `text`", arg),
    };
    if path && stride && tokens {
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

pub(super) fn images(cx: &mut Checker, _: &Env, args: &[Bound], _: Loc) -> Type {
    let path = string_arg(cx, "the path of `images`", &args[0]);
    let size = image_size(cx, &args[1]);
    let channels = match const_int(cx, "images", "channels", &args[2], Some(3)) {
        Some(c @ (1 | 3 | 4)) => Some(c),
        Some(c) => {
            return cx.error(CheckError::OutOfRange {
                what: "the `channels` of `images`".into(),
                value: c.to_string(),
                range: "1 (grayscale), 3 (RGB) or 4 (RGBA)".into(),
                loc: args[2]
                    .as_ref()
                    .map(|(_, l)| *l)
                    .expect("given: not the default"),
            })
        }
        None => None,
    };
    let flags = ["crop", "convert"]
        .iter()
        .zip(&args[3..5])
        .all(|(name, arg)| match arg {
            Some((Type::Bool(_) | Type::Error, _)) | None => true,
            Some((other, at)) => {
                expr::wrong_kind(cx, &format!("`{name}`"), "true or false", other, *at);
                false
            }
        });
    match (path && flags, size, channels) {
        (true, Some((height, width)), Some(channels)) => Type::Source(SourceKind::Images {
            channels,
            height,
            width,
        }),
        _ => Type::Error,
    }
}

/// `size = [height, width]` (or one number for a square), each 1 or more.
fn image_size(cx: &mut Checker, arg: &Bound) -> Option<(i64, i64)> {
    let (t, at) = arg.as_ref()?;
    let sides: Vec<Bound> = match t {
        Type::Int(_) => vec![arg.clone(), arg.clone()],
        Type::List(items) if items.len() == 2 => {
            items.iter().map(|t| Some((t.clone(), *at))).collect()
        }
        Type::Error => return None,
        other => {
            expr::wrong_kind(cx, "`size`", "`[height, width]`", other, *at);
            return None;
        }
    };
    let height = const_int(cx, "images", "size", &sides[0], None)?;
    let width = const_int(cx, "images", "size", &sides[1], None)?;
    if height < 1 || width < 1 {
        cx.error(CheckError::OutOfRange {
            what: "the `size` of `images`".into(),
            value: format!("[{height}, {width}]"),
            range: "1 or more pixels each way".into(),
            loc: *at,
        });
        return None;
    }
    Some((height, width))
}

/// The image-folder source a field reads from, or an error at the call.
fn image_source(cx: &mut Checker, env: &Env, name: &str, call: Loc) -> Option<(i64, i64, i64)> {
    match env.context {
        Context::Dataset(Some(SourceKind::Images {
            channels,
            height,
            width,
        })) => Some((channels, height, width)),
        Context::Dataset(Some(SourceKind::Broken)) => None,
        _ => {
            cx.error(CheckError::DatasetSource {
                detail: format!(
                    "`{name}` reads the dataset's image-folder source, and this dataset has none"
                ),
                loc: call,
                help: Some(
                    "add `source = images(\"folder\", size = [height, width])` to the dataset"
                        .to_string(),
                ),
            });
            None
        }
    }
}

pub(super) fn image(cx: &mut Checker, env: &Env, _: &[Bound], call: Loc) -> Type {
    match image_source(cx, env, "image", call) {
        Some((c, h, w)) => Type::tensor(DType::F32, Shape::dims([c, h, w].map(Dim::constant))),
        None => Type::Error,
    }
}

pub(super) fn label(cx: &mut Checker, env: &Env, _: &[Bound], call: Loc) -> Type {
    match image_source(cx, env, "label", call) {
        Some(_) => Type::tensor(DType::F32, Shape::scalar()),
        None => Type::Error,
    }
}

fn needs_csv(cx: &mut Checker, env: &Env, name: &str, call: Loc) -> bool {
    match env.context {
        Context::Dataset(Some(SourceKind::Csv)) => return true,
        Context::Dataset(Some(SourceKind::Broken)) => return false,
        _ => {}
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
