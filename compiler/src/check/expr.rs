//! Expressions: names, operators, literals, casts.

use super::written::{self, DimScope};
use super::{call, CheckError, Checker};
use crate::diagnostic::{did_you_mean, Loc};
use crate::resolve::{Binding, DefId};
use crate::types::{broadcast, DType, Dim, Shape, ShapeItem, SourceKind, TensorType, Type};
use dlp_grammar::ast::{Arg, BinOp, Expr, ExprKind, Item, Stmt, StmtKind};
use dlp_grammar::Span;
use std::collections::HashMap;

/// Where an expression stands, which decides the built-ins it may call.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Context {
    /// Parameter defaults: constants and calls only.
    Static,
    Fn(DefId),
    Model(DefId),
    Dataset(Option<SourceKind>),
    Train,
}

#[derive(Clone, Debug)]
pub struct Local {
    pub ty: Type,
    pub loc: Loc,
}

/// Local names, innermost scope last, and the sizes types may mention.
#[derive(Clone, Debug)]
pub struct Env {
    pub module: usize,
    pub context: Context,
    scopes: Vec<HashMap<String, Local>>,
    pub dims: DimScope,
    /// The `state`s declared in this body so far.
    pub states: Vec<StateDecl>,
    /// How many `repeat`s the statement being checked is inside.
    pub repeat_depth: usize,
    /// In a train block, the model it trains: a name of its body used in
    /// the loss or a metric is named as such, not as unknown.
    pub trained: Option<DefId>,
}

/// A `state` of a body, and where it is updated.
#[derive(Clone, Debug)]
pub struct StateDecl {
    pub name: String,
    pub ty: Type,
    pub loc: Loc,
    pub repeat_depth: usize,
    pub updated: Option<Loc>,
}

impl Env {
    pub fn new(module: usize, context: Context) -> Env {
        Env {
            module,
            context,
            scopes: vec![HashMap::new()],
            dims: DimScope::default(),
            states: Vec::new(),
            repeat_depth: 0,
            trained: None,
        }
    }

    pub fn define(&mut self, name: &str, ty: Type, loc: Loc) {
        if let Type::Int(Some(d)) = &ty {
            self.dims.known.insert(name.to_string(), d.clone());
        }
        self.scopes
            .last_mut()
            .expect("an env has a scope")
            .insert(name.to_string(), Local { ty, loc });
    }

    pub fn get(&self, name: &str) -> Option<&Local> {
        self.scopes.iter().rev().find_map(|s| s.get(name))
    }

    pub fn push(&mut self) {
        self.scopes.push(HashMap::new());
    }

    pub fn pop(&mut self) -> HashMap<String, Local> {
        self.scopes.pop().unwrap_or_default()
    }

    pub fn names(&self) -> Vec<String> {
        self.scopes.iter().flat_map(|s| s.keys().cloned()).collect()
    }

    /// The function or model whose body this is.
    pub fn owner(&self) -> Option<DefId> {
        match self.context {
            Context::Fn(d) | Context::Model(d) => Some(d),
            _ => None,
        }
    }
}

pub fn check(cx: &mut Checker, env: &mut Env, e: &Expr) -> Type {
    let ty = check_kind(cx, env, e);
    cx.out.types.push((loc(cx, env, e), ty.clone()));
    ty
}

pub fn loc(cx: &Checker, env: &Env, e: &Expr) -> Loc {
    Loc::new(cx.file(env.module), e.span)
}

fn check_kind(cx: &mut Checker, env: &mut Env, e: &Expr) -> Type {
    match &e.kind {
        ExprKind::Int(v, _) => Type::Int(Some(Dim::constant(*v))),
        ExprKind::Float(v, _) => Type::Float(Some(*v)),
        ExprKind::Str(s) => Type::Str(Some(s.clone())),
        ExprKind::Bool(b) => Type::Bool(Some(*b)),
        ExprKind::Name(n) => name(cx, env, &n.name, loc(cx, env, e)),
        ExprKind::Paren(x) => check(cx, env, x),
        ExprKind::Field(base, field) => {
            let base_ty = check(cx, env, base);
            member(
                cx,
                env,
                &base_ty,
                &field.name,
                Loc::new(cx.file(env.module), field.span),
            )
        }
        ExprKind::Call(callee, args) => call::check(cx, env, callee, args, e.span),
        ExprKind::Index(base, items) => super::index::check(cx, env, base, items),
        ExprKind::Neg(x) => match check(cx, env, x) {
            Type::Int(Some(d)) => d.neg().map_or(Type::Int(None), |d| Type::Int(Some(d))),
            Type::Float(v) => Type::Float(v.map(|v| -v)),
            Type::Int(None) => Type::Int(None),
            Type::Tensor(t) if t.dtype.is_float() || matches!(t.dtype, DType::I32 | DType::I64) => {
                Type::Tensor(t)
            }
            Type::Error => Type::Error,
            other => wrong_kind(
                cx,
                "the operand of `-`",
                "a number or a numeric tensor",
                &other,
                loc(cx, env, x),
            ),
        },
        ExprKind::Binary(op, l, r) => {
            let (lt, rt) = (check(cx, env, l), check(cx, env, r));
            binary(cx, *op, (&lt, loc(cx, env, l)), (&rt, loc(cx, env, r)))
        }
        ExprKind::Range(a, b) => {
            let (at, bt) = (check(cx, env, a), check(cx, env, b));
            match (at, bt) {
                (Type::Int(Some(a_d)), Type::Int(Some(b_d))) => {
                    if let (Some(x), Some(y)) = (a_d.as_const(), b_d.as_const()) {
                        if y <= x || x < 0 {
                            return cx.error(CheckError::BadDim {
                                detail: format!("the range {x}..{y} is empty or negative"),
                                loc: loc(cx, env, e),
                            });
                        }
                    }
                    Type::Range(a_d, b_d)
                }
                (Type::Error, _) | (_, Type::Error) => Type::Error,
                (Type::Int(_), Type::Int(_)) => cx.error(CheckError::NotStatic {
                    what: "the ends of a range".to_string(),
                    loc: loc(cx, env, e),
                }),
                (a, b) => {
                    let bad = if matches!(a, Type::Int(_)) { b } else { a };
                    wrong_kind(cx, "the ends of a range", "ints", &bad, loc(cx, env, e))
                }
            }
        }
        ExprKind::List(items) => Type::List(items.iter().map(|x| check(cx, env, x)).collect()),
        ExprKind::Record(fields) => {
            let mut seen: HashMap<&str, Loc> = HashMap::new();
            let mut out = Vec::new();
            for f in fields {
                let floc = Loc::new(cx.file(env.module), f.name.span);
                if let Some(first) = seen.insert(&f.name.name, floc) {
                    cx.error(CheckError::DuplicateKey {
                        key: f.name.name.clone(),
                        loc: floc,
                        first,
                    });
                }
                out.push((f.name.name.clone(), check(cx, env, &f.value)));
            }
            Type::Record(out)
        }
        ExprKind::Cast(x, target) => {
            let from = check(cx, env, x);
            let to = written::ty(cx, cx.file(env.module), target, &env.dims);
            cast(
                cx,
                &from,
                &to,
                loc(cx, env, x),
                Loc::new(cx.file(env.module), target.span),
                target.shape.is_some(),
            )
        }
    }
}

pub fn wrong_kind(cx: &mut Checker, what: &str, expected: &str, found: &Type, at: Loc) -> Type {
    if found.is_error() {
        return Type::Error;
    }
    cx.error(CheckError::WrongKind {
        what: what.to_string(),
        expected: expected.to_string(),
        found: describe(found),
        loc: at,
        note: None,
    })
}

/// `f32[B, 64]` for tensors, "an int" and the like for the rest.
pub fn describe(t: &Type) -> String {
    match t {
        Type::Tensor(t) => t.to_string(),
        other => other.kind().to_string(),
    }
}

fn name(cx: &mut Checker, env: &mut Env, name: &str, at: Loc) -> Type {
    if let Some(local) = env.get(name) {
        let (ty, def) = (local.ty.clone(), local.loc);
        cx.out.references.push((at, def));
        return ty;
    }
    if let Some(d) = env.dims.known.get(name) {
        return Type::Int(Some(d.clone()));
    }
    if let Some((binding, def_loc)) = cx.lookup(env.module, name) {
        cx.out.references.push((at, def_loc));
        return match binding {
            Binding::Module(m) => Type::Module(cx.program.modules[m].path.clone()),
            Binding::Item(def) => item_type(cx, def, at),
        };
    }
    if super::builtins::find(name).is_some() {
        return Type::Callable(name.to_string());
    }
    unknown_name(cx, env, name, at)
}

/// What naming a top-level item as a value gives.
pub fn item_type(cx: &mut Checker, def: DefId, at: Loc) -> Type {
    match cx.item(def) {
        Item::Fn(f) => Type::Callable(f.name.name.clone()),
        Item::Model(m) => Type::Model(m.name.name.clone()),
        Item::Dataset(d) => Type::Dataset(d.name.name.clone()),
        Item::Train(t) => {
            let name = t.name.name.clone();
            cx.error(CheckError::WrongKind {
                what: format!("`{name}`"),
                expected: "a value".to_string(),
                found: "a train block".to_string(),
                loc: at,
                note: None,
            })
        }
        Item::Use(_) => Type::Error,
    }
}

fn unknown_name(cx: &mut Checker, env: &Env, name: &str, at: Loc) -> Type {
    // A `use` that failed to import it has said so already.
    if cx.scopes.modules[env.module].unusable.contains(name) {
        return Type::Error;
    }
    if let Some(model) = env.trained {
        if let Some(defined) = internal_name(cx, model, name) {
            let sig = cx.out.models.get(&model);
            let outputs: Vec<String> = sig.map_or(Vec::new(), |s| {
                s.outputs.iter().map(|o| format!("`{}`", o.0)).collect()
            });
            let outputs = if outputs.is_empty() {
                "it has none".to_string()
            } else {
                outputs.join(", ")
            };
            return cx.error(CheckError::InternalName {
                name: name.to_string(),
                model: sig.map_or(String::new(), |s| s.name.clone()),
                outputs,
                loc: at,
                defined,
            });
        }
    }
    // Defined in the stdlib but not imported: say which `use` to add.
    let home = crate::stdlib::MODULES.iter().find(|(module, _)| {
        let path = format!("std.{module}");
        cx.program.module_index(&path).is_some_and(|i| {
            cx.program.modules[i]
                .ast
                .items
                .iter()
                .any(|it| it.name().is_some_and(|n| n.name == name))
        }) || crate::stdlib::declares(module, name)
    });
    let hint = match home {
        Some((module, _)) => Some(format!(
            "`{name}` is in std.{module}: add `use std.{module}.{name}`"
        )),
        // Python's spellings.
        None if name == "True" || name == "False" => {
            Some(format!("dlp spells it `{}`", name.to_lowercase()))
        }
        None => {
            let mut candidates = env.names();
            candidates.extend(cx.scopes.modules[env.module].names.keys().cloned());
            candidates.extend(super::builtins::names().map(str::to_string));
            did_you_mean(name, candidates.iter().map(String::as_str))
        }
    };
    cx.error(CheckError::UnknownName {
        name: name.to_string(),
        loc: at,
        hint,
    })
}

/// Where the body of `model` defines `name` (a local, a parameter or a
/// state, at any `repeat` depth), if it does.
fn internal_name(cx: &Checker, model: DefId, name: &str) -> Option<Loc> {
    fn find(stmts: &[Stmt], name: &str) -> Option<Span> {
        stmts.iter().find_map(|s| match &s.kind {
            StmtKind::Let { name: n, .. } | StmtKind::Param { name: n, .. } if n.name == name => {
                Some(n.span)
            }
            StmtKind::Repeat { body, .. } => find(&body.stmts, name),
            _ => None,
        })
    }
    let Item::Model(m) = cx.item(model) else {
        return None;
    };
    Some(Loc::new(cx.file(model.module), find(&m.body.stmts, name)?))
}

/// `base.name`: a module's item, a dataset's split, a record's field.
pub fn member(cx: &mut Checker, env: &Env, base: &Type, name: &str, at: Loc) -> Type {
    match base {
        Type::Error => Type::Error,
        Type::Module(path) => {
            let m = cx
                .program
                .module_index(path)
                .expect("module types name loaded modules");
            let items = &cx.program.modules[m].ast.items;
            match items
                .iter()
                .position(|i| i.name().is_some_and(|n| n.name == name))
            {
                Some(item) => {
                    let def = DefId { module: m, item };
                    cx.out.references.push((at, cx.def_loc(def)));
                    item_type(cx, def, at)
                }
                None => {
                    let hint = did_you_mean(
                        name,
                        items
                            .iter()
                            .filter_map(|i| i.name())
                            .map(|n| n.name.as_str()),
                    );
                    cx.error(CheckError::UnknownMember {
                        owner: format!("module `{path}`"),
                        name: name.to_string(),
                        loc: at,
                        hint,
                        defined: None,
                    })
                }
            }
        }
        Type::Dataset(ds) => super::dataset::split(cx, env, ds, name, at),
        Type::Record(fields) => match fields.iter().find(|(k, _)| k == name) {
            Some((_, t)) => t.clone(),
            None => {
                let hint = did_you_mean(name, fields.iter().map(|(k, _)| k.as_str()));
                cx.error(CheckError::UnknownMember {
                    owner: "the record".to_string(),
                    name: name.to_string(),
                    loc: at,
                    hint,
                    defined: None,
                })
            }
        },
        other => wrong_kind(
            cx,
            &format!("the value before `.{name}`"),
            "a module, dataset or record",
            other,
            at,
        ),
    }
}

/// Arithmetic and comparison, on compile-time numbers or tensors.
pub fn binary(
    cx: &mut Checker,
    op: BinOp,
    (l, lloc): (&Type, Loc),
    (r, rloc): (&Type, Loc),
) -> Type {
    use Type::*;
    match (l, r) {
        (Error, _) | (_, Error) => Error,
        (Int(a), Int(b)) => static_int(op, a.as_ref(), b.as_ref()),
        (Int(_) | Float(_), Int(_) | Float(_)) => static_float(op, number(l), number(r)),
        (Tensor(a), Tensor(b)) if op == BinOp::MatMul => {
            super::builtins::matmul(cx, (a, lloc), (b, rloc))
        }
        (Tensor(a), Tensor(b)) => elementwise(cx, op, (a, lloc), (b, rloc)),
        (Tensor(t), Int(_) | Float(_)) | (Int(_) | Float(_), Tensor(t)) if op != BinOp::MatMul => {
            let (s, sloc) = if matches!(l, Tensor(_)) {
                (r, rloc)
            } else {
                (l, lloc)
            };
            let scalar = scalar_like(cx, t, s, sloc);
            let (a, b) = if matches!(l, Tensor(_)) {
                (t.clone(), scalar)
            } else {
                (scalar, t.clone())
            };
            elementwise(cx, op, (&a, lloc), (&b, rloc))
        }
        _ => {
            let (bad, at) = if matches!(l, Tensor(_) | Int(_) | Float(_)) {
                (r, rloc)
            } else {
                (l, lloc)
            };
            let expected = if op == BinOp::MatMul {
                "a tensor"
            } else {
                "a number or a tensor"
            };
            wrong_kind(
                cx,
                &format!("an operand of `{}`", op.symbol()),
                expected,
                bad,
                at,
            )
        }
    }
}

fn number(t: &Type) -> Option<f64> {
    match t {
        Type::Int(Some(d)) => d.as_const().map(|v| v as f64),
        Type::Float(v) => *v,
        _ => None,
    }
}

fn static_int(op: BinOp, a: Option<&Dim>, b: Option<&Dim>) -> Type {
    if op.is_comparison() {
        return Type::Bool(None);
    }
    let (Some(a), Some(b)) = (a, b) else {
        return Type::Int(None);
    };
    let value = match op {
        BinOp::Add => a.add(b).ok(),
        BinOp::Sub => a.sub(b).ok(),
        BinOp::Mul => a.mul(b).ok(),
        BinOp::Div => a.div(b).ok(),
        BinOp::Rem => match (a.as_const(), b.as_const()) {
            (Some(x), Some(y)) if y != 0 => Some(Dim::constant(x.rem_euclid(y))),
            _ => None,
        },
        _ => None,
    };
    Type::Int(value)
}

fn static_float(op: BinOp, a: Option<f64>, b: Option<f64>) -> Type {
    if op.is_comparison() {
        return Type::Bool(None);
    }
    let value = a.zip(b).and_then(|(a, b)| match op {
        BinOp::Add => Some(a + b),
        BinOp::Sub => Some(a - b),
        BinOp::Mul => Some(a * b),
        BinOp::Div => Some(a / b),
        BinOp::Rem => Some(a % b),
        _ => None,
    });
    Type::Float(value)
}

/// A compile-time number next to a tensor becomes a scalar of its dtype.
fn scalar_like(cx: &mut Checker, t: &TensorType, s: &Type, at: Loc) -> TensorType {
    if matches!(s, Type::Float(_)) && !t.dtype.is_float() && t.dtype != DType::Bool {
        cx.error(CheckError::WrongKind {
            what: "a number next to an integer tensor".to_string(),
            expected: "an int".to_string(),
            found: "a float".to_string(),
            loc: at,
            note: Some(format!("the tensor is {t}; cast it with `as f32` first")),
        });
    }
    TensorType::scalar(t.dtype.clone())
}

fn elementwise(
    cx: &mut Checker,
    op: BinOp,
    (a, aloc): (&TensorType, Loc),
    (b, bloc): (&TensorType, Loc),
) -> Type {
    let dtype_ok =
        a.dtype == b.dtype || (op.is_comparison() && a.dtype.is_integer() && b.dtype.is_integer());
    if !dtype_ok {
        return cx.error(CheckError::DTypeMismatch {
            op: op.symbol().to_string(),
            left: a.to_string(),
            right: b.to_string(),
            left_loc: aloc,
            right_loc: bloc,
        });
    }
    let arithmetic = !op.is_comparison();
    if arithmetic && (matches!(a.dtype, DType::Class(_)) || a.dtype == DType::Bool) {
        return cx.error(CheckError::WrongKind {
            what: format!("an operand of `{}`", op.symbol()),
            expected: "a numeric tensor".to_string(),
            found: a.to_string(),
            loc: aloc,
            note: Some("class labels and bools are not numbers: cast with `as f32`".to_string()),
        });
    }
    match broadcast(&a.shape, &b.shape) {
        Ok(shape) => {
            let dtype = if op.is_comparison() { DType::Bool } else { a.dtype.clone() };
            Type::tensor(dtype, shape)
        }
        Err(e) => cx.error(CheckError::Broadcast {
            op: op.symbol().to_string(),
            left: a.shape.to_string(),
            right: b.shape.to_string(),
            left_loc: aloc,
            right_loc: bloc,
            detail: format!("counting from the last axis, dim {} is {} on the left and {} on the right; dims must be equal or 1", e.from_end + 1, e.left, e.right),
        }),
    }
}

/// `x as T`: change the dtype, state the shape of raw data, or check it.
pub fn cast(
    cx: &mut Checker,
    from: &Type,
    to: &Type,
    from_loc: Loc,
    to_loc: Loc,
    shape_written: bool,
) -> Type {
    let Type::Tensor(target) = to else {
        if to.is_error() || from.is_error() {
            return Type::Error;
        }
        return cx.error(CheckError::Cast {
            from: describe(from),
            to: to.to_string(),
            loc: from_loc,
            target: to_loc,
            detail: "casts go to tensor types".to_string(),
        });
    };
    let fail = |cx: &mut Checker, detail: String| {
        cx.error(CheckError::Cast {
            from: describe(from),
            to: target.to_string(),
            loc: from_loc,
            target: to_loc,
            detail,
        })
    };
    match from {
        Type::Error => Type::Error,
        Type::Raw => {
            if !shape_written {
                return fail(
                    cx,
                    "raw data needs its shape written out, e.g. `as u8[28, 28]`".to_string(),
                );
            }
            Type::Tensor(target.clone())
        }
        Type::Int(_) | Type::Float(_) | Type::Bool(_) if target.shape.is_scalar() => {
            Type::Tensor(target.clone())
        }
        Type::Tensor(t) => {
            if !shape_written {
                return Type::tensor(target.dtype.clone(), t.shape.clone());
            }
            // The same number of elements (`f32` as `f32[1]`) is fine; anything
            // else would silently drop or invent data.
            if t.shape != target.shape {
                let detail = match (t.shape.numel(), target.shape.numel()) {
                    (Ok(Some(a)), Ok(Some(b))) if a == b => None,
                    (Ok(Some(a)), Ok(Some(b))) => Some(format!(
                        "{a} values do not fit {}, which holds {b}",
                        target.shape
                    )),
                    _ => Some(format!("the shape is {}, not {}", t.shape, target.shape)),
                };
                if let Some(detail) = detail {
                    return fail(cx, detail);
                }
            }
            Type::Tensor(target.clone())
        }
        other => fail(cx, format!("{} has no tensor form", other.kind())),
    }
}

/// Positional-then-named arguments checked once, for calls and settings.
pub fn arg_types(
    cx: &mut Checker,
    env: &mut Env,
    args: &[Arg],
) -> Vec<(Option<String>, Type, Loc, Loc)> {
    args.iter()
        .map(|a| {
            let ty = check(cx, env, &a.value);
            let name_loc = a.name.as_ref().map_or(a.span, |n| n.span);
            (
                a.name.as_ref().map(|n| n.name.clone()),
                ty,
                loc(cx, env, &a.value),
                Loc::new(cx.file(env.module), name_loc),
            )
        })
        .collect()
}

/// The shape of a batch of per-sample values: `[B, ...]`.
pub fn batched(t: &TensorType, batch: &Dim) -> TensorType {
    let mut items = vec![ShapeItem::Dim(batch.clone())];
    items.extend(t.shape.0.iter().cloned());
    TensorType::new(t.dtype.clone(), Shape(items))
}
