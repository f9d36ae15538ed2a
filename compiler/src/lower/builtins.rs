//! Lowering of the built-in functions and of `std.optim`'s `extern fn`s.
//!
//! One arm per built-in (the checker's table, `check::builtins`, says what
//! each accepts); each turns into primitive ops or a host value.

use super::eval::{Arg, Env, Lowerer, R};
use super::ops::broadcast_shapes;
use super::value::{Column, Init, Read, Source, Value};
use super::LowerError;
use crate::diagnostic::Loc;
use crate::ir::{BinaryOp, DType, Dist, NodeId, Op, PoolKind, ReduceOp, TensorTy, UnaryOp};
use crate::optim::{Optimizer, Schedule};

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
    let unary = |u: UnaryOp, f: fn(f64) -> f64, lw: &mut Lowerer| -> R<Value> {
        let x = a.required("x")?;
        if let Some(v) = x.as_f64() {
            return Ok(Value::Float(f(v)));
        }
        let mut n = lw.node(x, a.loc("x"))?;
        if !lw.graph.ty(n).dtype.is_float() {
            n = lw.graph.cast(n, DType::F32);
        }
        Ok(Value::Tensor(lw.graph.unary(u, n)))
    };
    let tensor =
        |lw: &mut Lowerer, key: &str| -> R<NodeId> { lw.node(a.required(key)?, a.loc(key)) };
    let init = |i: Init| Ok(Value::Init(i));
    match name {
        "exp" => unary(UnaryOp::Exp, f64::exp, lw),
        "log" => unary(UnaryOp::Log, f64::ln, lw),
        "sqrt" => unary(UnaryOp::Sqrt, f64::sqrt, lw),
        "abs" => unary(UnaryOp::Abs, f64::abs, lw),
        "tanh" => unary(UnaryOp::Tanh, f64::tanh, lw),
        "sin" => unary(UnaryOp::Sin, f64::sin, lw),
        "cos" => unary(UnaryOp::Cos, f64::cos, lw),
        "erf" => unary(UnaryOp::Erf, erf, lw),
        "max" | "min" | "pow" => {
            let (x, y) = (a.required("a")?, a.required("b")?);
            if let (Some(p), Some(q)) = (x.as_f64(), y.as_f64()) {
                let v = match name {
                    "max" => p.max(q),
                    "min" => p.min(q),
                    _ => p.powf(q),
                };
                return Ok(match (&x, &y, name) {
                    (Value::Int(_), Value::Int(_), "max" | "min") => Value::Int(v as i64),
                    _ => Value::Float(v),
                });
            }
            let op = match name {
                "max" => BinaryOp::Max,
                "min" => BinaryOp::Min,
                _ => BinaryOp::Pow,
            };
            lw.elementwise(op, &[x, y], loc).map(Value::Tensor)
        }
        "where" => {
            let (c, x, y) = (a.required("cond")?, a.required("a")?, a.required("b")?);
            if let Value::Bool(b) = c {
                return Ok(if b { x } else { y });
            }
            let branches = lw.operands(&[x, y], loc)?;
            let c = lw.node(c, a.loc("cond"))?;
            let shape = broadcast_shapes(&lw.graph.ty(c).shape, &lw.graph.ty(branches[0]).shape)
                .ok_or_else(|| LowerError::new("the condition does not broadcast", Some(loc)))?;
            let c = lw.graph.broadcast_to(c, &shape);
            let x = lw.graph.broadcast_to(branches[0], &shape);
            let y = lw.graph.broadcast_to(branches[1], &shape);
            Ok(Value::Tensor(lw.graph.op(Op::Select, &[c, x, y])))
        }
        "sum" | "mean" | "reduce_max" | "reduce_min" => {
            let x = tensor(lw, "x")?;
            let shape = lw.graph.ty(x).shape.clone();
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
            if name == "mean" && !lw.graph.ty(x).dtype.is_float() {
                x = lw.graph.cast(x, DType::F32);
            }
            let mut r = lw.graph.reduce(op, x, axes.clone());
            if name == "mean" {
                let count: usize = axes.iter().map(|&i| shape[i]).product();
                let c = lw.graph.full_like(count.max(1) as f64, r);
                r = lw.graph.binary(BinaryOp::Div, r, c);
            }
            if keep {
                let kept: Vec<usize> = shape
                    .iter()
                    .enumerate()
                    .map(|(i, &d)| if axes.contains(&i) { 1 } else { d })
                    .collect();
                r = lw.graph.reshape(r, &kept);
            }
            Ok(Value::Tensor(r))
        }
        "argmax" => {
            let x = tensor(lw, "x")?;
            let rank = lw.graph.ty(x).shape.len();
            let ax = if a.get("axis").is_some() {
                axis(lw, &a, "axis", rank)?
            } else if rank == 0 {
                return Err(LowerError::new("argmax of a scalar", Some(loc)));
            } else {
                rank - 1
            };
            lw.graph
                .try_add(Op::ArgMax(ax), &[x], TensorTy::scalar(DType::I32))
                .map(Value::Tensor)
                .map_err(|e| LowerError::new(e.0, Some(loc)))
        }
        "reshape" => {
            let x = tensor(lw, "x")?;
            let have = lw.graph.ty(x).shape.clone();
            let Value::List(items) = a.required("shape")? else {
                return Err(LowerError::new(
                    "`shape` must be a list of sizes",
                    Some(a.loc("shape")),
                ));
            };
            let mut shape = have[..lw.lead.min(have.len())].to_vec();
            for i in items {
                match i {
                    Value::Int(v) if v >= 0 => shape.push(v as usize),
                    Value::Group(dims) => shape.extend(dims),
                    _ => {
                        return Err(LowerError::new(
                            "sizes must be whole numbers",
                            Some(a.loc("shape")),
                        ))
                    }
                }
            }
            if shape.iter().product::<usize>() != have.iter().product::<usize>() {
                return Err(LowerError::new(
                    format!("cannot reshape {have:?} to {shape:?}: the element counts differ"),
                    Some(loc),
                ));
            }
            Ok(Value::Tensor(lw.graph.reshape(x, &shape)))
        }
        "transpose" => {
            let x = tensor(lw, "x")?;
            if lw.graph.ty(x).shape.len() < 2 {
                return Err(LowerError::new(
                    "transpose needs at least 2 axes",
                    Some(loc),
                ));
            }
            Ok(Value::Tensor(crate::autodiff::transpose_last(
                &mut lw.graph,
                x,
            )))
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
            let rank = lw.graph.ty(first).shape.len();
            let ax = if a.get("axis").is_some() {
                axis(lw, &a, "axis", rank)?
            } else {
                lw.lead.min(rank)
            };
            lw.graph
                .try_add(Op::Concat(ax), &nodes, TensorTy::scalar(DType::F32))
                .map(Value::Tensor)
                .map_err(|e| LowerError::new(e.0, Some(loc)))
        }
        "conv" => {
            let (x, w) = (tensor(lw, "x")?, tensor(lw, "w")?);
            let stride = a.size("stride", Some(1))?;
            let pad = a.size("pad", Some(0))?;
            lw.graph
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
            lw.graph
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
            let labels = lw.graph.cast(labels, DType::I32);
            let mut shape = lw.graph.ty(labels).shape.clone();
            let mut col = shape.clone();
            col.push(1);
            shape.push(n);
            let l = lw.graph.reshape(labels, &col);
            let l = lw.graph.broadcast_to(l, &shape);
            let iota = lw.graph.add(
                Op::Iota(shape.len() - 1),
                &[],
                TensorTy::new(DType::I32, shape),
            );
            let hit = lw.graph.binary(BinaryOp::Eq, l, iota);
            Ok(Value::Tensor(lw.graph.cast(hit, DType::F32)))
        }
        "take" => {
            let (table, ids) = (tensor(lw, "table")?, tensor(lw, "ids")?);
            let ids = lw.graph.cast(ids, DType::I32);
            lw.graph
                .try_add(Op::Gather, &[table, ids], TensorTy::scalar(DType::F32))
                .map(Value::Tensor)
                .map_err(|e| LowerError::new(e.0, Some(loc)))
        }
        "random_uniform" | "random_normal" => {
            let x = tensor(lw, "x")?;
            let mut ty = lw.graph.ty(x).clone();
            if !ty.dtype.is_float() {
                ty.dtype = DType::F32;
            }
            let (seed, counter) = lw.random_inputs();
            let dist = if name == "random_uniform" {
                Dist::Uniform
            } else {
                Dist::Normal
            };
            let stream = lw.random_streams;
            lw.random_streams += 1;
            Ok(Value::Tensor(lw.graph.add(
                Op::Random { dist, stream },
                &[seed, counter],
                ty,
            )))
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
    let (mut a, mut b) = (a, b);
    let (da, db) = (lw.graph.ty(a).dtype, lw.graph.ty(b).dtype);
    let dtype = if da == DType::F64 || db == DType::F64 {
        DType::F64
    } else {
        DType::F32
    };
    a = lw.graph.cast(a, dtype);
    b = lw.graph.cast(b, dtype);
    let sa = lw.graph.ty(a).shape.clone();
    let sb = lw.graph.ty(b).shape.clone();
    if sa.is_empty() || sb.is_empty() {
        return Err(err("`@` needs tensors with at least one axis".into()));
    }
    let a_vec = sa.len() == 1;
    let b_vec = sb.len() == 1;
    let sa2 = if a_vec { vec![1, sa[0]] } else { sa.clone() };
    let sb2 = if b_vec { vec![sb[0], 1] } else { sb.clone() };
    a = lw.graph.reshape(a, &sa2);
    b = lw.graph.reshape(b, &sb2);
    let (k1, k2) = (sa2[sa2.len() - 1], sb2[sb2.len() - 2]);
    if k1 != k2 {
        return Err(err(format!(
            "`@` of {sa:?} and {sb:?}: inner sizes {k1} and {k2} differ"
        )));
    }
    let (m, n) = (sa2[sa2.len() - 2], sb2[sb2.len() - 1]);
    let out = if sb2.len() == 2 {
        // The common case, `x[..N, I] @ w[I, O]`: one 2-D product.
        let lead: Vec<usize> = sa2[..sa2.len() - 2].to_vec();
        let rows: usize = lead.iter().product::<usize>() * m;
        let flat = lw.graph.reshape(a, &[rows, k1]);
        let prod = lw.graph.op(Op::MatMul, &[flat, b]);
        let mut shape = lead;
        shape.extend([m, n]);
        lw.graph.reshape(prod, &shape)
    } else {
        let batch =
            broadcast_shapes(&sa2[..sa2.len() - 2], &sb2[..sb2.len() - 2]).ok_or_else(|| {
                err(format!(
                    "the leading axes of {sa:?} and {sb:?} do not broadcast"
                ))
            })?;
        let mut ta = batch.clone();
        ta.extend([m, k1]);
        let mut tb = batch.clone();
        tb.extend([k1, n]);
        let a = lw.graph.broadcast_to(a, &ta);
        let b = lw.graph.broadcast_to(b, &tb);
        lw.graph.op(Op::MatMul, &[a, b])
    };
    let mut shape = lw.graph.ty(out).shape.clone();
    if b_vec {
        shape.pop();
    }
    if a_vec {
        let r = shape.len() - if b_vec { 1 } else { 2 };
        shape.remove(r);
    }
    Ok(lw.graph.reshape(out, &shape))
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

/// The error function (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7), for
/// constants folded at compile time.
pub fn erf(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.3275911 * x.abs());
    let poly = t
        * (0.254829592
            + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    let y = 1.0 - poly * (-x * x).exp();
    if x < 0.0 {
        -y
    } else {
        y
    }
}
