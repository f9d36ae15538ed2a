//! Calls: matching arguments to parameters, then typing the result.
//!
//! A call of a user function unifies each argument's type with its
//! parameter's (see [`crate::types::unify`]) and returns the declared result
//! type with the call's sizes put in. Built-ins have their rules in
//! [`builtins`](super::builtins).

use super::expr::{self, arg_types, describe, Env};
use super::signature::Fact;
use super::{builtins, CheckError, Checker, FnSig};
use crate::diagnostic::{did_you_mean, Loc};
use crate::resolve::{Binding, DefId};
use crate::types::unify::{group_conflict, Deferred};
use crate::types::{match_tensor, Mismatch, Subst, Type};
use dlp_grammar::ast::Relation;
use dlp_grammar::ast::{Arg, Expr, ExprKind, Item};
use dlp_grammar::Span;

/// An argument after matching: its type and where it is.
pub type Bound = Option<(Type, Loc)>;

pub fn check(cx: &mut Checker, env: &mut Env, callee: &Expr, args: &[Arg], span: Span) -> Type {
    let call_loc = Loc::new(cx.file(env.module), span);
    let target = callee_target(cx, env, callee);
    let args = arg_types(cx, env, args);
    match target {
        Target::Fn(def) => {
            if let Some(owner) = env.owner() {
                cx.calls.push((owner, def, expr::loc(cx, env, callee)));
            }
            let Some(sig) = cx.out.functions.get(&def).cloned() else { return Type::Error };
            let names: Vec<&str> = sig.params.iter().map(|p| p.name.as_str()).collect();
            let required: Vec<bool> = sig.params.iter().map(|p| p.default.is_none()).collect();
            let Some(bound) = bind(cx, &sig.name, &names, &required, args, Some(sig.loc), call_loc) else {
                return Type::Error;
            };
            super::hyper::check_ranges(cx, &sig, &bound);
            instantiate(cx, &sig, bound, call_loc)
        }
        Target::Builtin(b) => {
            if let Some(problem) = b.availability(env.context) {
                return cx.error(CheckError::Misplaced {
                    what: format!("`{}` {problem}", b.name),
                    loc: expr::loc(cx, env, callee),
                    help: b.placement_help(),
                });
            }
            let names: Vec<&str> = b.params.iter().map(|(n, _)| *n).collect();
            let required: Vec<bool> = b.params.iter().map(|(_, r)| *r).collect();
            let Some(bound) = bind(cx, b.name, &names, &required, args, None, call_loc) else {
                return Type::Error;
            };
            (b.rule)(cx, env, &bound, call_loc)
        }
        Target::Model(name) => cx.error(CheckError::Misplaced {
            what: format!("model `{name}` is called like a function"),
            loc: expr::loc(cx, env, callee),
            help: "a model is trained from a `train` block: `model = Name(...)`; use a `fn` for reusable layers".to_string(),
        }),
        Target::NotCallable(ty) => {
            let at = expr::loc(cx, env, callee);
            if let (ExprKind::Name(n), false) = (&callee.kind, ty.is_error()) {
                // The function it hides, by its full name (`std.nn.dropout`).
                // By its declared name (not an alias); the root file's
                // path is its file name, not a module's.
                let declared = match cx.lookup(env.module, &n.name) {
                    Some((Binding::Item(def), _)) => match cx.item(def) {
                        Item::Fn(f) => Some((def.module, f.name.name.clone())),
                        _ => None,
                    },
                    _ => None,
                };
                let function = match declared {
                    Some((0, name)) => Some(name),
                    Some((module, name)) => Some(format!("{}.{name}", cx.program.modules[module].path)),
                    None => builtins::find(&n.name).map(|b| b.name.to_string()),
                };
                if let (Some(function), Some(local)) = (function, env.get(&n.name)) {
                    let is_param = env.owner().is_some_and(|def| match cx.item(def) {
                        Item::Fn(f) => f.params.iter().any(|p| p.name.name == n.name),
                        Item::Model(m) => m.params.iter().any(|p| p.name.name == n.name),
                        _ => false,
                    });
                    return cx.error(CheckError::Shadowed {
                        name: n.name.clone(),
                        what: if is_param { "parameter" } else { "local" },
                        function,
                        found: expr::describe(&ty),
                        loc: at,
                        local: local.loc,
                    });
                }
            }
            expr::wrong_kind(cx, "the thing called", "a function", &ty, at)
        }
    }
}

enum Target {
    Fn(DefId),
    Builtin(&'static builtins::Builtin),
    Model(String),
    NotCallable(Type),
}

fn callee_target(cx: &mut Checker, env: &mut Env, callee: &Expr) -> Target {
    let at = expr::loc(cx, env, callee);
    let def = match &callee.kind {
        ExprKind::Name(n) if env.get(&n.name).is_none() => match cx.lookup(env.module, &n.name) {
            Some((Binding::Item(def), def_loc)) => {
                cx.out.references.push((at, def_loc));
                Some(def)
            }
            _ => None,
        },
        ExprKind::Field(base, field) => {
            let base_ty = expr::check(cx, env, base);
            if let Type::Module(path) = &base_ty {
                let m = cx
                    .program
                    .module_index(path)
                    .expect("module types name loaded modules");
                let item = cx.program.modules[m]
                    .ast
                    .items
                    .iter()
                    .position(|i| i.name().is_some_and(|n| n.name == field.name));
                if let Some(item) = item {
                    let def = DefId { module: m, item };
                    cx.out
                        .references
                        .push((Loc::new(cx.file(env.module), field.span), cx.def_loc(def)));
                    Some(def)
                } else {
                    let floc = Loc::new(cx.file(env.module), field.span);
                    return Target::NotCallable(expr::member(cx, env, &base_ty, &field.name, floc));
                }
            } else {
                let floc = Loc::new(cx.file(env.module), field.span);
                return Target::NotCallable(expr::member(cx, env, &base_ty, &field.name, floc));
            }
        }
        _ => None,
    };
    if let Some(def) = def {
        return match cx.item(def) {
            Item::Fn(_) => Target::Fn(def),
            Item::Model(m) => Target::Model(m.name.name.clone()),
            _ => Target::NotCallable(expr::item_type(cx, def, at)),
        };
    }
    if let ExprKind::Name(n) = &callee.kind {
        if env.get(&n.name).is_none() {
            if let Some(b) = builtins::find(&n.name) {
                return Target::Builtin(b);
            }
        }
    }
    Target::NotCallable(expr::check(cx, env, callee))
}

/// Puts positional and named arguments in parameter order. Reports every
/// arity problem; `None` if any.
pub fn bind(
    cx: &mut Checker,
    callee: &str,
    names: &[&str],
    required: &[bool],
    args: Vec<(Option<String>, Type, Loc, Loc)>,
    sig: Option<Loc>,
    call: Loc,
) -> Option<Vec<Bound>> {
    let mut bound: Vec<Bound> = vec![None; names.len()];
    let mut given_at: Vec<Option<Loc>> = vec![None; names.len()];
    let mut ok = true;
    let mut positional = 0;
    for (name, ty, loc, name_loc) in args {
        let index = match &name {
            None => {
                positional += 1;
                if positional > names.len() {
                    cx.error(CheckError::TooManyArgs {
                        callee: callee.to_string(),
                        max: names.len(),
                        found: positional,
                        loc,
                        sig,
                    });
                    ok = false;
                    continue;
                }
                positional - 1
            }
            Some(n) => match names.iter().position(|p| p == n) {
                Some(i) => i,
                None => {
                    cx.error(CheckError::UnknownArg {
                        callee: callee.to_string(),
                        name: n.clone(),
                        loc: name_loc,
                        hint: did_you_mean(n, names.iter().copied()).or_else(|| {
                            let all: Vec<String> = names.iter().map(|p| format!("`{p}`")).collect();
                            Some(if all.is_empty() {
                                "it takes no arguments".to_string()
                            } else {
                                format!("its parameters are {}", all.join(", "))
                            })
                        }),
                        sig,
                    });
                    ok = false;
                    continue;
                }
            },
        };
        if let Some(first) = given_at[index] {
            cx.error(CheckError::DuplicateArg {
                name: names[index].to_string(),
                loc: name_loc,
                first,
            });
            ok = false;
            continue;
        }
        given_at[index] = Some(name_loc);
        bound[index] = Some((ty, loc));
    }
    for (i, name) in names.iter().enumerate() {
        if bound[i].is_none() && required[i] {
            cx.error(CheckError::MissingArg {
                callee: callee.to_string(),
                param: name.to_string(),
                loc: call,
                sig,
            });
            ok = false;
        }
    }
    ok.then_some(bound)
}

/// The result type of one call of `sig`.
pub fn instantiate(cx: &mut Checker, sig: &FnSig, bound: Vec<Bound>, call: Loc) -> Type {
    let mut subst = Subst::default();
    let mut deferred = Vec::new();
    let mut failed = false;
    // Static arguments first: their values size the tensors.
    for (i, p) in sig.params.iter().enumerate() {
        let given = bound[i]
            .clone()
            .or_else(|| p.default.clone().map(|t| (t, call)));
        let Some((ty, at)) = given else { continue };
        if !static_fits(cx, sig, i, &p.ty, &ty, at) {
            failed = true;
            continue;
        }
        if let (Type::Int(_), Type::Int(value)) = (&p.ty, &ty) {
            match value {
                Some(v) => subst.bind_dim(&p.name, v.clone(), i),
                None => {
                    cx.error(CheckError::NotStatic {
                        what: format!("argument `{}` of `{}`", p.name, sig.name),
                        loc: at,
                    });
                    failed = true;
                }
            }
        }
    }
    for (i, p) in sig.params.iter().enumerate() {
        let (Type::Tensor(pattern), Some((Type::Tensor(actual), at))) = (&p.ty, &bound[i]) else {
            continue;
        };
        if let Some((g, first, now)) = group_conflict(&pattern.shape, &actual.shape, &subst) {
            cx.error(arg_mismatch(
                sig,
                i,
                subst
                    .tensor(pattern)
                    .map_or(pattern.to_string(), |t| t.to_string()),
                actual.to_string(),
                *at,
                vec![format!(
                    "..{g} was bound to {first} by an earlier argument, but here it covers {now}"
                )],
            ));
            failed = true;
            continue;
        }
        if let Err(m) = match_tensor(pattern, actual, i, &mut subst, &mut deferred) {
            let notes = explain(sig, &subst, &m);
            let expected = subst
                .tensor(pattern)
                .map_or(pattern.to_string(), |t| t.to_string());
            cx.error(arg_mismatch(
                sig,
                i,
                expected,
                actual.to_string(),
                *at,
                notes,
            ));
            failed = true;
        }
    }
    failed |= !check_deferred(cx, sig, &bound, &subst, deferred, call);
    // A tensor argument that is already an error leaves the result's sizes
    // unknown: an error too, so that nothing downstream reports it again.
    let broken_tensor = sig
        .params
        .iter()
        .zip(&bound)
        .any(|(p, b)| matches!((&p.ty, b), (Type::Tensor(_), Some((Type::Error, _)))));
    if failed || broken_tensor {
        return Type::Error;
    }
    if !facts_hold(cx, sig, &subst, call) {
        return Type::Error;
    }
    let Some(Ok(ret)) = sig.ret.as_ref().map(|r| subst.ty(r)) else {
        return Type::Error;
    };
    if let Type::Tensor(t) = &ret {
        let bad = t.shape.0.iter().find_map(|i| match i {
            crate::types::ShapeItem::Dim(d) if d.as_const().is_some_and(|v| v < 1) => {
                Some(d.clone())
            }
            _ => None,
        });
        if let Some(d) = bad {
            return cx.error(CheckError::BadDim {
                detail: format!(
                    "this call of `{}` would give {t}: a dimension of {d}",
                    sig.name
                ),
                loc: call,
            });
        }
    }
    ret
}

/// Whether the call keeps the callee's `where` facts, as far as its sizes
/// are numbers here (sizes still in symbols are checked when the program
/// is lowered, where every size is a number).
fn facts_hold(cx: &mut Checker, sig: &FnSig, subst: &Subst, call: Loc) -> bool {
    let mut ok = true;
    for fact in &sig.facts {
        let (Ok(left), Ok(right)) = (subst.dim(&fact.left), subst.dim(&fact.right)) else {
            continue;
        };
        let (Some(l), Some(r)) = (left.as_const(), right.as_const()) else {
            continue;
        };
        if fact.relation.holds(l, r) {
            continue;
        }
        let detail = broken_fact(fact, l, r);
        cx.error(CheckError::Indivisible {
            callee: sig.name.clone(),
            fact: fact.text.clone(),
            detail,
            loc: call,
            fact_loc: fact.loc,
        });
        ok = false;
    }
    ok
}

/// Why `fact` does not hold for `left` and `right`.
fn broken_fact(fact: &Fact, left: i64, right: i64) -> String {
    let (l, r) = (fact.left.to_string(), fact.right.to_string());
    broken_fact_text(fact.relation, (&l, left), (&r, right))
}

/// Why `left relation right` does not hold, each side as written and as
/// the number it is here: `here D is 10 and heads is 3, which does not
/// divide it`, `here B is 1, which is not at least 2`.
pub(crate) fn broken_fact_text(
    relation: Relation,
    (l, left): (&str, i64),
    (r, right): (&str, i64),
) -> String {
    let named = l != left.to_string();
    let bound = if r == right.to_string() {
        right.to_string()
    } else {
        format!("{r} ({right})")
    };
    let not = match relation {
        Relation::Divides if named => {
            return format!("here {l} is {left} and {r} is {right}, which does not divide it")
        }
        Relation::Divides => return format!("{right} does not divide {left}"),
        Relation::AtLeast => "not at least",
        Relation::Above => "not more than",
        Relation::AtMost => "not at most",
        Relation::Below => "not less than",
    };
    if named {
        format!("here {l} is {left}, which is {not} {bound}")
    } else {
        format!("{left} is {not} {bound}")
    }
}

/// Whether a non-tensor argument has the parameter's kind (ints pass as floats).
fn static_fits(cx: &mut Checker, sig: &FnSig, i: usize, param: &Type, arg: &Type, at: Loc) -> bool {
    let fits = matches!(
        (param, arg),
        (_, Type::Error)
            | (Type::Error, _)
            | (Type::Tensor(_), Type::Tensor(_))
            | (Type::Int(_), Type::Int(_))
            | (Type::Float(_), Type::Float(_) | Type::Int(_))
            | (Type::Bool(_), Type::Bool(_))
            | (Type::Str(_), Type::Str(_))
            | (Type::Optimizer, Type::Optimizer)
            | (Type::Schedule, Type::Schedule)
    );
    if !fits {
        let expected = match param {
            Type::Tensor(t) => t.to_string(),
            other => other.kind().to_string(),
        };
        cx.error(arg_mismatch(
            sig,
            i,
            expected,
            describe(arg),
            at,
            Vec::new(),
        ));
    }
    fits
}

fn arg_mismatch(
    sig: &FnSig,
    i: usize,
    expected: String,
    found: String,
    at: Loc,
    notes: Vec<String>,
) -> CheckError {
    CheckError::ArgMismatch {
        callee: sig.name.clone(),
        param: sig.params[i].name.clone(),
        expected,
        found,
        arg: at,
        param_loc: Some(sig.params[i].loc),
        notes,
    }
}

/// Says how the expected dims came about: which argument bound which name.
fn explain(sig: &FnSig, subst: &Subst, m: &Mismatch) -> Vec<String> {
    let mut notes = Vec::new();
    match m {
        Mismatch::Dim {
            index,
            expected,
            found,
            bound_by,
        } => {
            // The class count of a `class(C)` dtype is matched as index MAX.
            notes.push(if *index == usize::MAX {
                format!("the class count should be {expected} but is {found}")
            } else {
                format!("dim {index} should be {expected} but is {found}")
            });
            if let Some(name) = bound_by {
                if let (Some(value), Some(&arg)) = (subst.dims.get(name), subst.origin.get(name)) {
                    let from = &sig.params[arg].name;
                    notes.push(format!("`{name}` = {value}, bound by argument `{from}`"));
                }
            }
        }
        Mismatch::DType { expected, found } => {
            notes.push(format!("the dtype should be {expected}, not {found}"))
        }
        Mismatch::Rank { expected, found } => notes.push(format!(
            "{found} has a different number of dims than {expected}"
        )),
        Mismatch::UnknownRank { found } => notes.push(format!(
            "{found} has a `..` group, so the dims this parameter needs are unknown"
        )),
        Mismatch::Arith(e) => notes.push(super::written::dim_error_text(e)),
    }
    notes
}

fn check_deferred(
    cx: &mut Checker,
    sig: &FnSig,
    bound: &[Bound],
    subst: &Subst,
    deferred: Vec<Deferred>,
    call: Loc,
) -> bool {
    let mut ok = true;
    for d in deferred {
        let at = bound[d.arg].as_ref().map_or(call, |(_, l)| *l);
        if !subst.binds_all(&d.pattern) {
            let name = d
                .pattern
                .symbols()
                .into_iter()
                .find(|s| !subst.dims.contains_key(s))
                .unwrap_or_default();
            cx.error(CheckError::CannotInfer {
                name,
                callee: sig.name.clone(),
                loc: at,
            });
            ok = false;
            continue;
        }
        let expected = subst.dim(&d.pattern);
        if expected.as_ref() != Ok(&d.found) {
            let found = bound[d.arg]
                .as_ref()
                .map_or(String::new(), |(t, _)| describe(t));
            let expected_text =
                expected.map_or_else(|e| super::written::dim_error_text(&e), |e| e.to_string());
            cx.error(arg_mismatch(
                sig,
                d.arg,
                format!("dim {} = {}", d.index, expected_text),
                found,
                at,
                vec![format!(
                    "dim {} is written `{}` in the signature",
                    d.index, d.pattern
                )],
            ));
            ok = false;
        }
    }
    ok
}
