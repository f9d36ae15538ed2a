//! Lowering of the built-in functions and of `std.optim`'s `extern fn`s.
//!
//! One arm per built-in (the checker's table, `check::builtins`, says what
//! each accepts); each turns into primitive ops or a host value.

use super::eval::{Arg, Env, Lowerer, R};
use super::ops::broadcast_shapes;
use super::types::shape_text;
use super::value::Value;
use super::LowerError;
use crate::diagnostic::Loc;
use crate::ir::{BinaryOp, DType, Dist, Hyper, Input, NodeId, Op, PoolKind, RandomKey, ReduceOp};
use crate::ir::{Size, TensorTy, UnaryOp};
use crate::optim::{Optimizer, Schedule};
use crate::program::{Column, Init, Read, Source};

/// The arguments of a built-in call, by the built-in's parameter names.
struct Args {
    names: &'static [(&'static str, bool)],
    values: Vec<Option<(Value, Loc)>>,
    call: Loc,
}

impl Args {
    fn get(&self, name: &str) -> Option<&Value> {
        let i = self.names.iter().position(|(n, _)| *n == name)?;
        self.values[i].as_ref().map(|(v, _)| v)
    }

    fn loc(&self, name: &str) -> Loc {
        self.names
            .iter()
            .position(|(n, _)| *n == name)
            .and_then(|i| self.values[i].as_ref().map(|(_, l)| *l))
            .unwrap_or(self.call)
    }

    fn required(&self, name: &str) -> R<Value> {
        self.get(name)
            .cloned()
            .ok_or_else(|| LowerError::new(format!("missing argument `{name}`"), Some(self.call)))
    }

    fn float(&self, name: &str, default: f64) -> R<f64> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v.as_f64().ok_or_else(|| {
                LowerError::new(format!("`{name}` must be a number"), Some(self.loc(name)))
            }),
        }
    }

    fn int(&self, name: &str, default: Option<i64>) -> R<i64> {
        match (self.get(name), default) {
            (Some(Value::Int(v)), _) => Ok(*v),
            (None, Some(d)) => Ok(d),
            _ => Err(LowerError::new(
                format!("`{name}` must be a whole number"),
                Some(self.loc(name)),
            )),
        }
    }

    fn size(&self, name: &str, default: Option<usize>) -> R<usize> {
        let v = self.int(name, default.map(|d| d as i64))?;
        usize::try_from(v).map_err(|_| {
            LowerError::new(format!("`{name}` cannot be negative"), Some(self.loc(name)))
        })
    }
}

fn bind(name: &str, args: Vec<Arg>, call: Loc) -> R<Args> {
    let Some(b) = crate::check::builtins::find(name) else {
        return Err(LowerError::new(
            format!("unknown built-in `{name}`"),
            Some(call),
        ));
    };
    let mut values: Vec<Option<(Value, Loc)>> = vec![None; b.params.len()];
    let mut next = 0;
    for a in args {
        let i = match &a.name {
            Some(n) => b.params.iter().position(|(p, _)| p == n),
            None => {
                next += 1;
                (next <= b.params.len()).then_some(next - 1)
            }
        };
        let Some(i) = i else {
            return Err(LowerError::new("unexpected argument", Some(a.loc)));
        };
        values[i] = Some((a.value, a.loc));
    }
    Ok(Args {
        names: b.params,
        values,
        call,
    })
}

pub(super) fn call(lw: &mut Lowerer, name: &'static str, args: Vec<Arg>, loc: Loc) -> R<Value> {
    let a = bind(name, args, loc)?;
    let unary = |u: UnaryOp, lw: &mut Lowerer| -> R<Value> {
        let x = a.required("x")?;
        if let Some(v) = x.as_f64() {
            // Folded by the IR's own scalar rule, as it would run.
            return Ok(Value::Float(u.float(v).unwrap_or(f64::NAN)));
        }
        let mut n = lw.node(x, a.loc("x"))?;
        if !lw.b.ty(n).dtype.is_float() {
            n = lw.b.cast(n, DType::F32);
        }
        Ok(Value::Tensor(lw.b.unary(u, n)))
    };
    let tensor =
        |lw: &mut Lowerer, key: &str| -> R<NodeId> { lw.node(a.required(key)?, a.loc(key)) };
    let init = |i: Init| Ok(Value::Init(i));
    match name {
        "exp" => unary(UnaryOp::Exp, lw),
        "log" => unary(UnaryOp::Log, lw),
        "sqrt" => unary(UnaryOp::Sqrt, lw),
        "abs" => unary(UnaryOp::Abs, lw),
        "tanh" => unary(UnaryOp::Tanh, lw),
        "sin" => unary(UnaryOp::Sin, lw),
        "cos" => unary(UnaryOp::Cos, lw),
        "erf" => unary(UnaryOp::Erf, lw),
        "max" | "min" | "pow" => {
            let (x, y) = (a.required("a")?, a.required("b")?);
            let op = match name {
                "max" => BinaryOp::Max,
                "min" => BinaryOp::Min,
                _ => BinaryOp::Pow,
            };
            match (&x, &y) {
                (Value::Int(p), Value::Int(q)) if op != BinaryOp::Pow => {
                    return Ok(Value::Int(op.arith(*p, *q).unwrap_or(0)))
                }
                (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
                    let (p, q) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
                    return Ok(Value::Float(op.arith(p, q).unwrap_or(f64::NAN)));
                }
                _ => {}
            }
            lw.elementwise(op, &[x, y], loc).map(Value::Tensor)
        }
        "where" => {
            let (c, x, y) = (a.required("cond")?, a.required("a")?, a.required("b")?);
            if let Value::Bool(b) = c {
                return Ok(if b { x } else { y });
            }
            let branches = lw.operands(&[x, y], loc)?;
            let c = lw.node(c, a.loc("cond"))?;
            let shape = broadcast_shapes(&lw.b.ty(c).shape, &lw.b.ty(branches[0]).shape)
                .ok_or_else(|| LowerError::new("the condition does not broadcast", Some(loc)))?;
            let c = lw.b.broadcast_to(c, &shape);
            let x = lw.b.broadcast_to(branches[0], &shape);
            let y = lw.b.broadcast_to(branches[1], &shape);
            lw.b
                .try_add(Op::Select, &[c, x, y], TensorTy::scalar(DType::F32))
                .map(Value::Tensor)
                .map_err(|e| LowerError::new(e.0, Some(loc)))
        }
        "sum" | "mean" | "reduce_max" | "reduce_min" => {
            let x = tensor(lw, "x")?;
            let shape = lw.b.ty(x).shape.clone();
            let keep = matches!(a.get("keepdims"), Some(Value::Bool(true)));
            let axes: Vec<usize> = match a.get("axis") {
                None => (lw.lead.min(shape.len())..shape.len()).collect(),
                Some(_) => vec![axis(lw, &a, "axis", shape.len())?],
            };
            let op = match name {
                "reduce_max" => ReduceOp::Max,
                "reduce_min" => ReduceOp::Min,
                _ => ReduceOp::Sum,
            };
            let mut x = x;
            let dtype = lw.b.ty(x).dtype;
            if name == "mean" && !dtype.is_float() {
                x = lw.b.cast(x, DType::F32);
            } else if dtype == DType::Bool {
                x = lw.b.cast(x, DType::I32);
            }
            let mut r = lw.b.reduce(op, x, axes.clone());
            if name == "mean" {
                let reduced: Vec<Size> = axes.iter().map(|&i| shape[i]).collect();
                let count = Size::product(&reduced).ok_or_else(|| {
                    LowerError::new("the mean is over B*B elements", Some(loc))
                })?;
                let count = if count == Size::fixed(0) { Size::ONE } else { count };
                let dtype = lw.b.ty(r).dtype;
                let c = lw.b.size_of(count, dtype);
                let rshape = lw.b.ty(r).shape.clone();
                let c = lw.b.broadcast_to(c, &rshape);
                r = lw.b.binary(BinaryOp::Div, r, c);
            }
            if keep {
                let kept: Vec<Size> = shape
                    .iter()
                    .enumerate()
                    .map(|(i, &d)| if axes.contains(&i) { Size::ONE } else { d })
                    .collect();
                r = lw.b.reshape(r, &kept);
            }
            Ok(Value::Tensor(r))
        }
        "argmax" => {
            let x = tensor(lw, "x")?;
            let rank = lw.b.ty(x).shape.len();
            let ax = if a.get("axis").is_some() {
                axis(lw, &a, "axis", rank)?
            } else if rank == 0 {
                return Err(LowerError::new("argmax of a scalar", Some(loc)));
            } else {
                rank - 1
            };
            lw.b
                .try_add(Op::ArgMax(ax), &[x], TensorTy::scalar(DType::I32))
                .map(Value::Tensor)
                .map_err(|e| LowerError::new(e.0, Some(loc)))
        }
        "reshape" => {
            let x = tensor(lw, "x")?;
            let have = lw.b.ty(x).shape.clone();
            let Value::List(items) = a.required("shape")? else {
                return Err(LowerError::new(
                    "`shape` must be a list of sizes",
                    Some(a.loc("shape")),
                ));
            };
            let mut shape = have[..lw.lead.min(have.len())].to_vec();
            for i in items {
                match i {
                    Value::Int(v) if v >= 0 => shape.push(Size::fixed(v as usize)),
                    Value::Size(s) => shape.push(s),
                    Value::Group(dims) => shape.extend(dims),
                    _ => {
                        return Err(LowerError::new(
                            "sizes must be whole numbers",
                            Some(a.loc("shape")),
                        ))
                    }
                }
            }
            if Size::product(&shape).is_none() || Size::product(&shape) != Size::product(&have) {
                return Err(LowerError::new(
                    format!(
                        "cannot reshape {} to {}: the element counts differ",
                        shape_text(&have),
                        shape_text(&shape)
                    ),
                    Some(loc),
                ));
            }
            Ok(Value::Tensor(lw.b.reshape(x, &shape)))
        }
        "transpose" => {
            let x = tensor(lw, "x")?;
            if lw.b.ty(x).shape.len() < 2 {
                return Err(LowerError::new(
                    "transpose needs at least 2 axes",
                    Some(loc),
                ));
            }
            Ok(Value::Tensor(lw.b.transpose_last(x)))
        }
        "concat" => {
            let Value::List(items) = a.required("xs")? else {
                return Err(LowerError::new(
                    "`xs` must be a list of tensors",
                    Some(a.loc("xs")),
                ));
            };
            let mut nodes = Vec::new();
            for i in items {
                nodes.push(lw.node(i, a.loc("xs"))?);
            }
            let Some(&first) = nodes.first() else {
                return Err(LowerError::new("concat of an empty list", Some(loc)));
            };
            let rank = lw.b.ty(first).shape.len();
            let ax = if a.get("axis").is_some() {
                axis(lw, &a, "axis", rank)?
            } else {
                lw.lead.min(rank)
            };
            lw.b
                .try_add(Op::Concat(ax), &nodes, TensorTy::scalar(DType::F32))
                .map(Value::Tensor)
                .map_err(|e| LowerError::new(e.0, Some(loc)))
        }
        "conv" => {
            let (x, w) = (tensor(lw, "x")?, tensor(lw, "w")?);
            let stride = a.size("stride", Some(1))?;
            let pad = a.size("pad", Some(0))?;
            lw.b
                .try_add(
                    Op::Conv { stride, pad },
                    &[x, w],
                    TensorTy::scalar(DType::F32),
                )
                .map(Value::Tensor)
                .map_err(|e| LowerError::new(e.0, Some(loc)))
        }
        "max_pool" | "avg_pool" => {
            let x = tensor(lw, "x")?;
            let k = a.size("k", None)?;
            let stride = a.size("stride", Some(k))?;
            let kind = if name == "max_pool" {
                PoolKind::Max
            } else {
                PoolKind::Avg
            };
            lw.b
                .try_add(
                    Op::Pool { kind, k, stride },
                    &[x],
                    TensorTy::scalar(DType::F32),
                )
                .map(Value::Tensor)
                .map_err(|e| LowerError::new(e.0, Some(loc)))
        }
        "one_hot" => {
            let labels = tensor(lw, "labels")?;
            let n = match a.get("n") {
                Some(_) => a.size("n", None)?,
                None => *lw.classes.get(&labels).ok_or_else(|| {
                    LowerError::new(
                        "the number of classes is not known here: pass `n`",
                        Some(a.loc("labels")),
                    )
                })?,
            };
            let labels = lw.b.cast(labels, DType::I32);
            let mut shape = lw.b.ty(labels).shape.clone();
            let mut col = shape.clone();
            col.push(Size::ONE);
            shape.push(Size::fixed(n));
            let l = lw.b.reshape(labels, &col);
            let l = lw.b.broadcast_to(l, &shape);
            let iota = lw.b.add(
                Op::Iota(shape.len() - 1),
                &[],
                TensorTy::new(DType::I32, shape),
            );
            let hit = lw.b.binary(BinaryOp::Eq, l, iota);
            Ok(Value::Tensor(lw.b.cast(hit, DType::F32)))
        }
        "take" => {
            let (table, ids) = (tensor(lw, "table")?, tensor(lw, "ids")?);
            let ids = lw.b.cast(ids, DType::I32);
            lw.b
                .try_add(Op::Gather, &[table, ids], TensorTy::scalar(DType::F32))
                .map(Value::Tensor)
                .map_err(|e| LowerError::new(e.0, Some(loc)))
        }
        "random_uniform" | "random_normal" => {
            let x = tensor(lw, "x")?;
            let mut ty = lw.b.ty(x).clone();
            if !ty.dtype.is_float() {
                ty.dtype = DType::F32;
            }
            let dist = if name == "random_uniform" {
                Dist::Uniform
            } else {
                Dist::Normal
            };
            let stream = lw.random_streams;
            lw.random_streams += 1;
            Ok(Value::Tensor(random(lw, dist, stream, ty)))
        }
        "training" => Ok(Value::Bool(lw.mode == super::Mode::Train)),
        "zeros" => init(Init::Zeros),
        "ones" => init(Init::Ones),
        "constant" => init(Init::Constant {
            value: a.float("value", 0.0)?,
        }),
        "normal" => init(Init::Normal {
            mean: a.float("mean", 0.0)?,
            std: a.float("std", 1.0)?,
        }),
        "uniform" => init(Init::Uniform {
            low: a.float("low", -0.05)?,
            high: a.float("high", 0.05)?,
        }),
        "glorot_uniform" => init(Init::GlorotUniform),
        "glorot_normal" => init(Init::GlorotNormal),
        "he_uniform" => init(Init::HeUniform),
        "he_normal" => init(Init::HeNormal),
        "csv" => {
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
        "idx" => match a.required("path")? {
            Value::Str(path) => Ok(Value::Read(Read::Idx { path })),
            _ => Err(LowerError::new(
                "`path` must be a string",
                Some(a.loc("path")),
            )),
        },
        "column" => Ok(Value::Read(Read::Columns {
            columns: vec![column(a.required("c")?, a.loc("c"))?],
            scalar: true,
        })),
        "columns" => {
            let columns = match a.required("c")? {
                Value::Range(lo, hi) if 0 <= lo && lo <= hi => {
                    (lo as usize..hi as usize).map(Column::Index).collect()
                }
                Value::List(items) => items
                    .into_iter()
                    .map(|i| column(i, a.loc("c")))
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
        "seed" => Ok(Value::Seed(a.int("n", None)? as u64)),
        other => Err(LowerError::new(
            format!("`{other}` cannot be lowered yet"),
            Some(loc),
        )),
    }
}

fn column(v: Value, loc: Loc) -> R<Column> {
    match v {
        Value::Int(i) if i >= 0 => Ok(Column::Index(i as usize)),
        Value::Str(s) => Ok(Column::Name(s)),
        _ => Err(LowerError::new(
            "a column is a header name or a 0-based index",
            Some(loc),
        )),
    }
}

/// An `axis` argument as an index into a tensor of `rank` axes; negative
/// counts from the end, non-negative counts past the batch axis of
/// per-sample code.
fn axis(lw: &Lowerer, a: &Args, key: &str, rank: usize) -> R<usize> {
    let v = a.int(key, None)?;
    let i = if v < 0 {
        rank as i64 + v
    } else {
        v + lw.lead as i64
    };
    if i < 0 || i >= rank as i64 {
        return Err(LowerError::new(
            format!(
                "axis {v} is out of range for a tensor of {} axes",
                rank - lw.lead.min(rank)
            ),
            Some(a.loc(key)),
        ));
    }
    Ok(i as usize)
}

/// `a @ b` with NumPy's rules: vectors are promoted and the added axis
/// dropped again; leading axes broadcast.
pub(super) fn matmul(lw: &mut Lowerer, a: NodeId, b: NodeId, loc: Loc) -> R<NodeId> {
    let err = |msg: String| LowerError::new(msg, Some(loc));
    let text = shape_text;
    let (mut a, mut b) = (a, b);
    let (da, db) = (lw.b.ty(a).dtype, lw.b.ty(b).dtype);
    let dtype = if da == DType::F64 || db == DType::F64 {
        DType::F64
    } else {
        DType::F32
    };
    a = lw.b.cast(a, dtype);
    b = lw.b.cast(b, dtype);
    let sa = lw.b.ty(a).shape.clone();
    let sb = lw.b.ty(b).shape.clone();
    if sa.is_empty() || sb.is_empty() {
        return Err(err("`@` needs tensors with at least one axis".into()));
    }
    let a_vec = sa.len() == 1;
    let b_vec = sb.len() == 1;
    let sa2 = if a_vec { vec![Size::ONE, sa[0]] } else { sa.clone() };
    let sb2 = if b_vec { vec![sb[0], Size::ONE] } else { sb.clone() };
    a = lw.b.reshape(a, &sa2);
    b = lw.b.reshape(b, &sb2);
    let (k1, k2) = (sa2[sa2.len() - 1], sb2[sb2.len() - 2]);
    if k1 != k2 {
        return Err(err(format!(
            "`@` of {} and {}: inner sizes {k1} and {k2} differ",
            text(&sa),
            text(&sb)
        )));
    }
    let (m, n) = (sa2[sa2.len() - 2], sb2[sb2.len() - 1]);
    let out = if sb2.len() == 2 {
        // The common case, `x[..N, I] @ w[I, O]`: one 2-D product.
        let lead: Vec<Size> = sa2[..sa2.len() - 2].to_vec();
        let rows = Size::product(&lead)
            .and_then(|l| l.checked_mul(m))
            .ok_or_else(|| err("`@` of a tensor with B*B rows".into()))?;
        let flat = lw.b.reshape(a, &[rows, k1]);
        let prod = lw.b.op(Op::MatMul, &[flat, b]);
        let mut shape = lead;
        shape.extend([m, n]);
        lw.b.reshape(prod, &shape)
    } else {
        let batch =
            broadcast_shapes(&sa2[..sa2.len() - 2], &sb2[..sb2.len() - 2]).ok_or_else(|| {
                err(format!(
                    "the leading axes of {} and {} do not broadcast",
                    text(&sa),
                    text(&sb)
                ))
            })?;
        let mut ta = batch.clone();
        ta.extend([m, k1]);
        let mut tb = batch.clone();
        tb.extend([k1, n]);
        let a = lw.b.broadcast_to(a, &ta);
        let b = lw.b.broadcast_to(b, &tb);
        lw.b.op(Op::MatMul, &[a, b])
    };
    let mut shape = lw.b.ty(out).shape.clone();
    if b_vec {
        shape.pop();
    }
    if a_vec {
        let r = shape.len() - if b_vec { 1 } else { 2 };
        shape.remove(r);
    }
    Ok(lw.b.reshape(out, &shape))
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

/// Random numbers of type `ty`: keyed by sample when `ty` has a batch axis
/// (so each sample draws the same numbers in any batch or process), by
/// step otherwise.
fn random(lw: &mut Lowerer, dist: Dist, stream: u32, ty: TensorTy) -> NodeId {
    let saved = lw.b.loc.take();
    let scalar = TensorTy::scalar(DType::I32);
    let seed = lw.b.input(Input::Seed, scalar.clone());
    let (key, args) = if ty.batch_axis().is_some() {
        let epoch = lw.b.input(Input::Hyper(Hyper::Epoch), scalar);
        let samples = lw.b.input(
            Input::SampleIndex,
            TensorTy::new(DType::I32, vec![Size::BATCH]),
        );
        (RandomKey::Sample, vec![seed, epoch, samples])
    } else {
        let step = lw.b.input(Input::Hyper(Hyper::Step), scalar);
        (RandomKey::Step, vec![seed, step])
    };
    lw.b.loc = saved;
    lw.b.add(Op::Random { dist, stream, key }, &args, ty)
}
