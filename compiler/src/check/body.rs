//! `fn` and `model` bodies: statements, parameters, inputs and outputs.

use super::expr::{self, describe, Context, Env};
use super::signature::{self, collect_names};
use super::written::{self, DimScope};
use super::{CheckError, Checker, ModelSig};
use crate::diagnostic::Loc;
use crate::resolve::DefId;
use crate::types::{Dim, Type};
use dlp_grammar::ast::{BinOp, Block, ExprKind, FnDecl, Item, ModelDecl, StmtKind};
use std::collections::{HashMap, HashSet};

pub fn all(cx: &mut Checker) {
    for (m, module) in cx.program.modules.iter().enumerate() {
        for (i, item) in module.ast.items.iter().enumerate() {
            let def = DefId { module: m, item: i };
            match item {
                Item::Fn(f) if f.body.is_some() => check_fn(cx, def, f),
                Item::Model(model) => {
                    let sig = check_model(cx, def, model);
                    cx.out.models.insert(def, sig);
                }
                _ => {}
            }
        }
    }
}

/// Locals and size names for a body whose signature is `params`.
fn signature_env(
    cx: &mut Checker,
    def: DefId,
    context: Context,
    params: &[super::ParamSig],
) -> Env {
    let mut env = Env::new(def.module, context);
    let mut names = HashSet::new();
    for p in params {
        if let Type::Tensor(t) = &p.ty {
            collect_names(t, &mut names);
        }
    }
    for name in names {
        let dim = Dim::sym(name.trim_start_matches(".."));
        env.dims.known.insert(name, dim);
    }
    for p in params {
        let ty = match &p.ty {
            Type::Int(_) => Type::Int(Some(Dim::sym(p.name.clone()))),
            other => other.clone(),
        };
        cx.out.types.push((p.loc, ty.clone()));
        env.define(&p.name, ty, p.loc);
    }
    env
}

/// The line a body's last statement continues with a leading `-`
/// (`y = x` then `- x` on the next line reads as `y = x - x`): the usual
/// reason a body that seems to end in an expression has no result.
fn continued_line(text: &str, body: &Block) -> Option<usize> {
    let last = body.stmts.last()?;
    let (StmtKind::Let { value, .. } | StmtKind::Output { value, .. }) = &last.kind else {
        return None;
    };
    let ExprKind::Binary(BinOp::Sub, left, right) = &value.kind else {
        return None;
    };
    let between = text.get(left.span.end as usize..right.span.start as usize)?;
    let before = text.get(..left.span.end as usize + between.find('-')?)?;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    before[line_start..]
        .trim()
        .is_empty()
        .then(|| before.matches('\n').count() + 1)
}

fn check_fn(cx: &mut Checker, def: DefId, f: &FnDecl) {
    let Some(sig) = cx.out.functions.get(&def).cloned() else {
        return;
    };
    let mut env = signature_env(cx, def, Context::Fn(def), &sig.params);
    // Divisibility simplifies sizes (`heads * (D / heads)` is `D`); bounds
    // are for the calls to keep.
    env.dims.facts = sig
        .facts
        .iter()
        .filter(|f| f.relation == dlp_grammar::ast::Relation::Divides)
        .map(|f| (f.left.clone(), f.right.clone()))
        .collect();
    let body = f.body.as_ref().expect("only fns with bodies are checked");
    let result = block(cx, &mut env, body, true);
    let file = cx.file(def.module);
    match (result, &sig.ret, &f.ret) {
        (Some((found, at)), Some(expected), Some(ret))
            if !found.is_error() && !expected.is_error() && &found != expected =>
        {
            cx.error(CheckError::ReturnMismatch {
                expected: describe(expected),
                found: describe(&found),
                ret: Loc::new(file, ret.span),
                body: at,
            });
        }
        (None, _, _) => {
            let text = &cx.program.sources.get(file).text;
            let help = match continued_line(text, body) {
                Some(line) => format!(
                    "the `-` that starts line {line} continues the expression of the line before it, as a subtraction: to make `-...` the result, end the line before with `;` or write `(-...)`"
                ),
                None => "end the body with the expression it returns".to_string(),
            };
            cx.error(CheckError::Misplaced {
                what: format!("fn `{}` has no result", f.name.name),
                loc: Loc::new(file, f.name.span),
                help,
            });
        }
        (Some(_), _, None) => {
            cx.error(CheckError::Misplaced {
                what: format!("fn `{}` has no result type", f.name.name),
                loc: Loc::new(file, f.name.span),
                help: "write the type it returns: `fn name(...) -> f32[..N, D] { ... }`"
                    .to_string(),
            });
        }
        _ => {}
    }
}

fn check_model(cx: &mut Checker, def: DefId, model: &ModelDecl) -> ModelSig {
    let mut params = signature::params(cx, def.module, &model.params);
    let defaults = signature::defaults(cx, def.module, &model.params, &params);
    for (p, d) in params.iter_mut().zip(defaults) {
        p.default = d;
    }
    let file = cx.file(def.module);
    let mut env = signature_env(cx, def, Context::Model(def), &params);
    let mut sig = ModelSig {
        name: model.name.name.clone(),
        params,
        inputs: Vec::new(),
        outputs: Vec::new(),
        loc: Loc::new(file, model.name.span),
        broken_input: false,
    };
    for s in &model.body.stmts {
        match &s.kind {
            StmtKind::Input { name, ty } => {
                // New size names in an input (the batch `B`) belong to the model.
                let scope = DimScope {
                    free: true,
                    known: env.dims.known.clone(),
                    facts: Vec::new(),
                };
                let t = written::ty(cx, file, ty, &scope);
                if let Type::Tensor(t) = &t {
                    let mut names = HashSet::new();
                    collect_names(t, &mut names);
                    for n in names {
                        let d = Dim::sym(n.trim_start_matches(".."));
                        env.dims.known.entry(n).or_insert(d);
                    }
                    sig.inputs
                        .push((name.name.clone(), t.clone(), Loc::new(file, name.span)));
                } else {
                    sig.broken_input = true;
                    if !t.is_error() {
                        cx.error(CheckError::WrongKind {
                            what: format!("input `{}`", name.name),
                            expected: "a tensor type".to_string(),
                            found: t.to_string(),
                            loc: Loc::new(file, ty.span),
                            note: None,
                        });
                    }
                }
                cx.out.types.push((Loc::new(file, name.span), t.clone()));
                env.define(&name.name, t, Loc::new(file, name.span));
            }
            _ => statement(cx, &mut env, s, false, &mut sig.outputs),
        }
    }
    if sig.inputs.is_empty() && !sig.broken_input {
        cx.error(CheckError::Misplaced {
            what: format!("model `{}` has no input", sig.name),
            loc: sig.loc,
            help: "declare what it reads: `input x: f32[B, 64]`".to_string(),
        });
    }
    if sig.outputs.is_empty() {
        cx.error(CheckError::Misplaced {
            what: format!("model `{}` has no output", sig.name),
            loc: sig.loc,
            help: "name what it computes: `output logits = ...`".to_string(),
        });
    }
    sig
}

/// The statements of a block; for a `fn` body, the type and place of the
/// final expression.
fn block(cx: &mut Checker, env: &mut Env, b: &Block, is_fn: bool) -> Option<(Type, Loc)> {
    let mut outputs = Vec::new();
    let last = b.stmts.len().checked_sub(1);
    for (i, s) in b.stmts.iter().enumerate() {
        if let (StmtKind::Expr(e), true) = (&s.kind, is_fn && Some(i) == last) {
            let ty = expr::check(cx, env, e);
            return Some((ty, expr::loc(cx, env, e)));
        }
        statement(cx, env, s, is_fn, &mut outputs);
    }
    None
}

fn statement(
    cx: &mut Checker,
    env: &mut Env,
    s: &dlp_grammar::ast::Stmt,
    in_fn: bool,
    outputs: &mut Vec<(String, Type, Loc)>,
) {
    let file = cx.file(env.module);
    let at = |span| Loc::new(file, span);
    match &s.kind {
        StmtKind::Param {
            name,
            ty,
            init,
            state,
        } => {
            let t = written::ty(cx, file, ty, &env.dims);
            if let Some(init) = init {
                let it = expr::check(cx, env, init);
                if !matches!(it, Type::Init | Type::Error) {
                    cx.error(CheckError::WrongKind {
                        what: format!("the initialiser of `{}`", name.name),
                        expected: "an initialiser such as `zeros()` or `glorot_uniform()`"
                            .to_string(),
                        found: describe(&it),
                        loc: expr::loc(cx, env, init),
                        note: None,
                    });
                }
            }
            if *state {
                env.states.push(expr::StateDecl {
                    name: name.name.clone(),
                    ty: t.clone(),
                    loc: at(name.span),
                    repeat_depth: env.repeat_depth,
                    updated: None,
                });
            }
            if !matches!(t, Type::Tensor(_) | Type::Error) {
                cx.error(CheckError::WrongKind {
                    what: format!(
                        "{} `{}`",
                        if *state { "state" } else { "parameter" },
                        name.name
                    ),
                    expected: "a tensor type".to_string(),
                    found: t.to_string(),
                    loc: at(ty.span),
                    note: None,
                });
            }
            cx.out.types.push((at(name.span), t.clone()));
            env.define(&name.name, t, at(name.span));
        }
        StmtKind::Input { name, .. } => {
            cx.error(CheckError::Misplaced {
                what: format!("`input {}` outside a model", name.name),
                loc: at(s.span),
                help: "a function receives its values as parameters".to_string(),
            });
        }
        StmtKind::Output { name, ty, value } => {
            let vt = expr::check(cx, env, value);
            if in_fn {
                cx.error(CheckError::Misplaced {
                    what: format!("`output {}` outside a model", name.name),
                    loc: at(s.span),
                    help: "a function returns its last expression".to_string(),
                });
            }
            if let Some(ty) = ty {
                let declared = written::ty(cx, file, ty, &env.dims);
                if !declared.is_error() && !vt.is_error() && declared != vt {
                    cx.error(CheckError::ReturnMismatch {
                        expected: describe(&declared),
                        found: describe(&vt),
                        ret: at(ty.span),
                        body: expr::loc(cx, env, value),
                    });
                }
            }
            if !matches!(vt, Type::Tensor(_) | Type::Error) {
                expr::wrong_kind(
                    cx,
                    &format!("output `{}`", name.name),
                    "a tensor",
                    &vt,
                    expr::loc(cx, env, value),
                );
            }
            cx.out.types.push((at(name.span), vt.clone()));
            outputs.push((name.name.clone(), vt.clone(), at(name.span)));
            env.define(&name.name, vt, at(name.span));
        }
        StmtKind::Let { name, value } => {
            let vt = expr::check(cx, env, value);
            cx.out.types.push((at(name.span), vt.clone()));
            env.define(&name.name, vt, at(name.span));
        }
        StmtKind::Update { name, value } => update(cx, env, name, value),
        StmtKind::Repeat { count, body } => repeat(cx, env, count, body, in_fn, outputs),
        StmtKind::Expr(e) => {
            expr::check(cx, env, e);
            let help = if in_fn {
                "only the last expression of a body is its result; name this one (`h = ...`) or remove it"
            } else {
                "name it: `h = ...`, or `output name = ...`"
            };
            cx.error(CheckError::Misplaced {
                what: "this value is not used".to_string(),
                loc: expr::loc(cx, env, e),
                help: help.to_string(),
            });
        }
    }
}

/// `update name = value`: `name` is a state of this body, as yet not
/// updated, declared in the same `repeat` pass, and `value` has its type.
fn update(
    cx: &mut Checker,
    env: &mut Env,
    name: &dlp_grammar::ast::Ident,
    value: &dlp_grammar::ast::Expr,
) {
    let vt = expr::check(cx, env, value);
    let at = Loc::new(cx.file(env.module), name.span);
    // The state the name means here: a later `let` of the same name hides it.
    let bound = env.get(&name.name).map(|l| l.loc);
    let Some(i) = env
        .states
        .iter()
        .rposition(|s| s.name == name.name && Some(s.loc) == bound)
    else {
        let help = match bound {
            Some(_) => format!(
                "`{}` is a variable here; declare it with `state {}: ...` to keep it between steps",
                name.name, name.name
            ),
            None => format!(
                "declare it first: `state {}: f32[...] = zeros()`",
                name.name
            ),
        };
        cx.error(CheckError::State {
            detail: format!("`{}` is not a state of this body", name.name),
            loc: at,
            other: None,
            help: Some(help),
        });
        return;
    };
    let decl = env.states[i].clone();
    if let Some(first) = decl.updated {
        cx.error(CheckError::State {
            detail: format!("state `{}` is updated twice", name.name),
            loc: at,
            other: Some((first, "first updated here".to_string())),
            help: Some(
                "a state takes one new value per step: combine the updates into one".to_string(),
            ),
        });
        return;
    }
    if decl.repeat_depth != env.repeat_depth {
        cx.error(CheckError::State {
            detail: format!(
                "state `{}` is updated inside a `repeat` it was not declared in",
                name.name
            ),
            loc: at,
            other: Some((decl.loc, "declared here".to_string())),
            help: Some(
                "the update would run once per pass; update it after the `repeat`".to_string(),
            ),
        });
        return;
    }
    env.states[i].updated = Some(at);
    cx.out.references.push((at, decl.loc));
    if !vt.is_error() && !decl.ty.is_error() && vt != decl.ty {
        cx.error(CheckError::State {
            detail: format!(
                "the new value of state `{}` is {}, but the state is {}",
                name.name,
                describe(&vt),
                describe(&decl.ty)
            ),
            loc: expr::loc(cx, env, value),
            other: Some((decl.loc, format!("declared {}", describe(&decl.ty)))),
            help: None,
        });
    }
}

fn repeat(
    cx: &mut Checker,
    env: &mut Env,
    count: &dlp_grammar::ast::Expr,
    body: &Block,
    in_fn: bool,
    outputs: &mut Vec<(String, Type, Loc)>,
) {
    match expr::check(cx, env, count) {
        Type::Int(Some(n)) => {
            if n.as_const().is_some_and(|v| v < 1) {
                cx.error(CheckError::OutOfRange {
                    what: "the repeat count".to_string(),
                    value: n.to_string(),
                    range: "at least 1".to_string(),
                    loc: expr::loc(cx, env, count),
                });
            }
        }
        Type::Int(None) => {
            cx.error(CheckError::NotStatic {
                what: "the repeat count".to_string(),
                loc: expr::loc(cx, env, count),
            });
        }
        other => {
            expr::wrong_kind(
                cx,
                "the repeat count",
                "an int",
                &other,
                expr::loc(cx, env, count),
            );
        }
    }
    let before: HashMap<String, (Type, Loc)> = env
        .names()
        .into_iter()
        .filter_map(|n| env.get(&n).map(|l| (n, (l.ty.clone(), l.loc))))
        .collect();
    env.push();
    env.repeat_depth += 1;
    for s in &body.stmts {
        statement(cx, env, s, in_fn, outputs);
    }
    env.repeat_depth -= 1;
    let inner = env.pop();
    for (name, local) in inner {
        let Some((old, outer)) = before.get(&name) else {
            continue;
        };
        if !old.is_error() && !local.ty.is_error() && *old != local.ty {
            cx.error(CheckError::RepeatChangesType {
                name,
                before: describe(old),
                after: describe(&local.ty),
                loc: local.loc,
                outer: *outer,
            });
        }
    }
}

/// Reports each cycle of calls between functions once.
pub fn report_recursion(cx: &mut Checker) {
    let mut edges: HashMap<DefId, Vec<(DefId, Loc)>> = HashMap::new();
    for (from, to, at) in &cx.calls {
        edges.entry(*from).or_default().push((*to, *at));
    }
    let mut reported: HashSet<DefId> = HashSet::new();
    let mut starts: Vec<DefId> = edges.keys().copied().collect();
    starts.sort();
    for start in starts {
        // Depth-first search for a path back to `start`.
        let mut stack = vec![(start, vec![start], None::<Loc>)];
        let mut seen = HashSet::new();
        while let Some((node, path, first_call)) = stack.pop() {
            for (to, at) in edges.get(&node).cloned().unwrap_or_default() {
                let call = first_call.or(Some(at));
                if to == start {
                    if path.iter().all(|d| !reported.contains(d)) {
                        reported.extend(path.iter().copied());
                        let mut names: Vec<String> = path.iter().map(|d| fn_name(cx, *d)).collect();
                        names.push(fn_name(cx, start));
                        cx.error(CheckError::Recursion {
                            chain: names.join(" -> "),
                            loc: call.expect("a call was followed"),
                        });
                    }
                } else if seen.insert(to) {
                    let mut p = path.clone();
                    p.push(to);
                    stack.push((to, p, call));
                }
            }
        }
    }
}

fn fn_name(cx: &Checker, def: DefId) -> String {
    cx.item(def)
        .name()
        .map_or_else(String::new, |n| n.name.clone())
}
