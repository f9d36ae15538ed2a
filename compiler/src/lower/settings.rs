//! Lowering of the built-ins and `extern fn`s that make host values rather
//! than graph nodes: initialisers, data sources, seeds, and `std.optim`'s
//! optimisers and schedules.

use super::builtins::Args;
use super::eval::{Env, Lowerer, R};
use super::value::Value;
use super::LowerError;
use crate::diagnostic::Loc;
use crate::optim::{Optimizer, Schedule};
use crate::program::{Column, Init, Read, Source, Tokens};

pub(crate) fn zeros(_: &mut Lowerer, _: &Args, _: Loc) -> R<Value> {
    Ok(Value::Init(Init::Zeros))
}

pub(crate) fn ones(_: &mut Lowerer, _: &Args, _: Loc) -> R<Value> {
    Ok(Value::Init(Init::Ones))
}

pub(crate) fn glorot_uniform(_: &mut Lowerer, _: &Args, _: Loc) -> R<Value> {
    Ok(Value::Init(Init::GlorotUniform))
}

pub(crate) fn glorot_normal(_: &mut Lowerer, _: &Args, _: Loc) -> R<Value> {
    Ok(Value::Init(Init::GlorotNormal))
}

pub(crate) fn he_uniform(_: &mut Lowerer, _: &Args, _: Loc) -> R<Value> {
    Ok(Value::Init(Init::HeUniform))
}

pub(crate) fn he_normal(_: &mut Lowerer, _: &Args, _: Loc) -> R<Value> {
    Ok(Value::Init(Init::HeNormal))
}

pub(crate) fn constant(_: &mut Lowerer, a: &Args, _: Loc) -> R<Value> {
    Ok(Value::Init(Init::Constant {
        value: a.float("value", 0.0)?,
    }))
}

pub(crate) fn normal(_: &mut Lowerer, a: &Args, _: Loc) -> R<Value> {
    Ok(Value::Init(Init::Normal {
        mean: a.float("mean", 0.0)?,
        std: a.float("std", 1.0)?,
    }))
}

pub(crate) fn uniform(_: &mut Lowerer, a: &Args, _: Loc) -> R<Value> {
    Ok(Value::Init(Init::Uniform {
        low: a.float("low", -0.05)?,
        high: a.float("high", 0.05)?,
    }))
}

pub(crate) fn csv(_: &mut Lowerer, a: &Args, _: Loc) -> R<Value> {
    let Value::Str(path) = a.required("path")? else {
        return Err(LowerError::new(
            "`path` must be a string",
            Some(a.loc("path")),
        ));
    };
    let header = matches!(a.get("header"), Some(Value::Bool(true)));
    let delimiter = match a.get("delimiter") {
        Some(Value::Str(s)) if s.chars().count() == 1 => s.chars().next().unwrap_or(','),
        None => ',',
        Some(_) => {
            return Err(LowerError::new(
                "`delimiter` must be one character",
                Some(a.loc("delimiter")),
            ))
        }
    };
    Ok(Value::Source(Source::Csv {
        path,
        header,
        delimiter,
    }))
}

pub(crate) fn images(lw: &mut Lowerer, a: &Args, _: Loc) -> R<Value> {
    let (height, width) = match a.required("size")? {
        Value::List(sides) => match sides.as_slice() {
            [h, w] => (side(h, a)?, side(w, a)?),
            _ => return Err(size_error(a)),
        },
        square => (side(&square, a)?, side(&square, a)?),
    };
    let channels = a.size("channels", Some(3))?;
    let source = Source::Images {
        path: string(a, "path")?,
        height,
        width,
        channels,
        crop: matches!(a.get("crop"), Some(Value::Bool(true))),
        convert: matches!(a.get("convert"), Some(Value::Bool(true))),
    };
    lw.image_shape = Some([channels, height, width]);
    Ok(Value::Source(source))
}

fn side(v: &Value, a: &Args) -> R<usize> {
    match v {
        Value::Int(n) if *n >= 1 => Ok(*n as usize),
        _ => Err(size_error(a)),
    }
}

fn size_error(a: &Args) -> LowerError {
    LowerError::new(
        "`size` must be `[height, width]`, each 1 or more",
        Some(a.loc("size")),
    )
}

pub(crate) fn image(lw: &mut Lowerer, _: &Args, call: Loc) -> R<Value> {
    match lw.image_shape {
        Some([channels, height, width]) => Ok(Value::Read(Read::Image {
            channels,
            height,
            width,
        })),
        None => Err(LowerError::new(
            "`image()` needs the dataset's source to be `images(...)`",
            Some(call),
        )),
    }
}

pub(crate) fn label(lw: &mut Lowerer, _: &Args, call: Loc) -> R<Value> {
    match lw.image_shape {
        Some(_) => Ok(Value::Read(Read::Label)),
        None => Err(LowerError::new(
            "`label()` needs the dataset's source to be `images(...)`",
            Some(call),
        )),
    }
}

pub(crate) fn idx(_: &mut Lowerer, a: &Args, _: Loc) -> R<Value> {
    match a.required("path")? {
        Value::Str(path) => Ok(Value::Read(Read::Idx { path })),
        _ => Err(LowerError::new(
            "`path` must be a string",
            Some(a.loc("path")),
        )),
    }
}

pub(crate) fn npy(_: &mut Lowerer, a: &Args, _: Loc) -> R<Value> {
    Ok(Value::Read(Read::Npy {
        path: string(a, "path")?,
        array: None,
    }))
}

pub(crate) fn text(_: &mut Lowerer, a: &Args, _: Loc) -> R<Value> {
    let stride = match a.get("stride") {
        None => None,
        Some(_) => match a.size("stride", None)? {
            0 => {
                return Err(LowerError::new(
                    "`stride` must be 1 or more",
                    Some(a.loc("stride")),
                ))
            }
            s => Some(s),
        },
    };
    let tokens = match a.get("tokens") {
        None => Tokens::Bytes,
        Some(_) => {
            let name = string(a, "tokens")?;
            Tokens::named(&name).ok_or_else(|| {
                LowerError::new(
                    format!("`tokens` must be \"bytes\" or \"chars\", not \"{name}\""),
                    Some(a.loc("tokens")),
                )
            })?
        }
    };
    Ok(Value::Read(Read::Text {
        path: string(a, "path")?,
        stride,
        tokens,
    }))
}

pub(crate) fn npz(_: &mut Lowerer, a: &Args, _: Loc) -> R<Value> {
    Ok(Value::Read(Read::Npy {
        path: string(a, "path")?,
        array: Some(string(a, "array")?),
    }))
}

/// The string argument `name`.
fn string(a: &Args, name: &str) -> R<String> {
    match a.required(name)? {
        Value::Str(s) => Ok(s),
        _ => Err(LowerError::new(
            format!("`{name}` must be a string"),
            Some(a.loc(name)),
        )),
    }
}

pub(crate) fn column(_: &mut Lowerer, a: &Args, _: Loc) -> R<Value> {
    Ok(Value::Read(Read::Columns {
        columns: vec![column_ref(a.required("c")?, a.loc("c"))?],
        scalar: true,
    }))
}

pub(crate) fn columns(_: &mut Lowerer, a: &Args, _: Loc) -> R<Value> {
    let columns = match a.required("c")? {
        Value::Range(lo, hi) if 0 <= lo && lo <= hi => {
            (lo as usize..hi as usize).map(Column::Index).collect()
        }
        Value::List(items) => items
            .into_iter()
            .map(|i| column_ref(i, a.loc("c")))
            .collect::<R<Vec<_>>>()?,
        _ => {
            return Err(LowerError::new(
                "`columns` takes a range like `0..64` or a list of columns",
                Some(a.loc("c")),
            ))
        }
    };
    if columns.is_empty() {
        return Err(LowerError::new(
            "`columns` needs at least one column",
            Some(a.loc("c")),
        ));
    }
    Ok(Value::Read(Read::Columns {
        columns,
        scalar: false,
    }))
}

pub(crate) fn seed(_: &mut Lowerer, a: &Args, _: Loc) -> R<Value> {
    Ok(Value::Seed(a.int("n", None)? as u64))
}

fn column_ref(v: Value, loc: Loc) -> R<Column> {
    match v {
        Value::Int(i) if i >= 0 => Ok(Column::Index(i as usize)),
        Value::Str(s) => Ok(Column::Name(s)),
        _ => Err(LowerError::new(
            "a column is a header name or a 0-based index",
            Some(loc),
        )),
    }
}

/// The `extern fn`s of `std.optim`, with every argument bound in `env`.
pub(super) fn extern_call(name: &str, env: &Env, loc: Loc) -> R<Value> {
    let f = |key: &str| -> R<f64> {
        env.vars
            .get(key)
            .and_then(Value::as_f64)
            .ok_or_else(|| LowerError::new(format!("`{key}` must be a number"), Some(loc)))
    };
    let b = |key: &str| matches!(env.vars.get(key), Some(Value::Bool(true)));
    Ok(match name {
        "sgd" if b("nesterov") && f("momentum")? <= 0.0 => {
            return Err(LowerError::new(
                "`nesterov = true` needs `momentum` above 0 (e.g. `momentum = 0.9`)",
                Some(loc),
            ))
        }
        "sgd" => Value::Optimizer(Optimizer::Sgd {
            lr: f("lr")?,
            momentum: f("momentum")?,
            nesterov: b("nesterov"),
            weight_decay: f("weight_decay")?,
        }),
        "adam" | "adamw" => Value::Optimizer(Optimizer::Adam {
            lr: f("lr")?,
            beta1: f("beta1")?,
            beta2: f("beta2")?,
            eps: f("eps")?,
            weight_decay: f("weight_decay")?,
            decoupled: name == "adamw",
        }),
        "rmsprop" => Value::Optimizer(Optimizer::Rmsprop {
            lr: f("lr")?,
            alpha: f("alpha")?,
            eps: f("eps")?,
            momentum: f("momentum")?,
            weight_decay: f("weight_decay")?,
        }),
        "constant" => Value::Schedule(Schedule::Constant),
        "step_decay" => Value::Schedule(Schedule::StepDecay {
            every: f("every")?.max(1.0) as u64,
            gamma: f("gamma")?,
        }),
        "cosine" => Value::Schedule(Schedule::Cosine {
            min_lr: f("min_lr")?,
        }),
        "warmup" => Value::Schedule(Schedule::Warmup {
            steps: f("steps")?.max(0.0) as u64,
            then: Box::new(match env.vars.get("then") {
                Some(Value::Schedule(s)) => s.clone(),
                _ => Schedule::Constant,
            }),
        }),
        other => {
            return Err(LowerError::new(
                format!("`extern fn {other}` has no implementation in this compiler"),
                Some(loc),
            ))
        }
    })
}
