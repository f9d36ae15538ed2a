//! Function signatures: what a call must pass and what it gets back.

use super::expr::{self, Env};
use super::written::{self, DimScope};
use super::{CheckError, Checker};
use crate::diagnostic::Loc;
use crate::resolve::DefId;
use crate::types::{Dim, ShapeItem, Type};
use dlp_grammar::ast::{self, Item, Param, Relation};
use std::collections::{HashMap, HashSet};

#[derive(Clone, Debug)]
pub struct FnSig {
    pub name: String,
    pub def: DefId,
    pub params: Vec<ParamSig>,
    /// `None` when no result type is written (an error, E0216).
    pub ret: Option<Type>,
    pub loc: Loc,
    pub is_extern: bool,
    /// `where D % heads == 0, B >= 2`: what every call must keep.
    pub facts: Vec<Fact>,
}

/// `left % right == 0` or a comparison (`left >= right`), in the
/// signature's size names.
#[derive(Clone, Debug)]
pub struct Fact {
    pub left: Dim,
    pub relation: Relation,
    pub right: Dim,
    /// As written.
    pub text: String,
    pub loc: Loc,
}

#[derive(Clone, Debug)]
pub struct ParamSig {
    pub name: String,
    /// The declared type, in the signature's own size names.
    pub ty: Type,
    /// The default's value, if there is one.
    pub default: Option<Type>,
    pub loc: Loc,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    Tensor,
    Static,
}

impl ParamSig {
    pub fn kind(&self) -> ParamKind {
        match self.ty {
            Type::Tensor(_) => ParamKind::Tensor,
            _ => ParamKind::Static,
        }
    }
}

/// Signatures of every `fn` in the program (defaults evaluated last, since
/// they may call other functions).
pub fn all(cx: &mut Checker) -> HashMap<DefId, FnSig> {
    let mut sigs = HashMap::new();
    for (m, module) in cx.program.modules.iter().enumerate() {
        for (i, item) in module.ast.items.iter().enumerate() {
            if let Item::Fn(f) = item {
                let def = DefId { module: m, item: i };
                let params = params(cx, m, &f.params);
                let mut ret = f
                    .ret
                    .as_ref()
                    .map(|r| written::ty(cx, module.file, r, &DimScope::free()));
                let params_ok = params.iter().all(|p| !p.ty.is_error());
                if let (Some(ret_ty), true) = (&ret, params_ok) {
                    // A result type that names an unknown size is reported
                    // once: the body and the calls are not measured by it.
                    if !check_ret_names(cx, m, &params, ret_ty, f.ret.as_ref().map(|r| r.span)) {
                        ret = Some(Type::Error);
                    }
                }
                let facts = facts(cx, m, &params, &f.facts);
                sigs.insert(
                    def,
                    FnSig {
                        name: f.name.name.clone(),
                        def,
                        params,
                        ret,
                        loc: Loc::new(module.file, f.name.span),
                        is_extern: f.body.is_none(),
                        facts,
                    },
                );
            }
        }
    }
    cx.out.functions = sigs;
    let defs: Vec<DefId> = cx.out.functions.keys().copied().collect();
    for def in defs {
        let Item::Fn(f) = cx.item(def).clone() else {
            continue;
        };
        let declared = cx.out.functions[&def].params.clone();
        let defaults = defaults(cx, def.module, &f.params, &declared);
        if let Some(sig) = cx.out.functions.get_mut(&def) {
            for (p, d) in sig.params.iter_mut().zip(defaults) {
                p.default = d;
            }
        }
    }
    std::mem::take(&mut cx.out.functions)
}

/// Parameter types (defaults are filled in later).
pub fn params(cx: &mut Checker, module: usize, ps: &[Param]) -> Vec<ParamSig> {
    let file = cx.file(module);
    let mut seen: HashMap<&str, Loc> = HashMap::new();
    let mut out = Vec::new();
    for p in ps {
        let loc = Loc::new(file, p.name.span);
        if let Some(first) = seen.get(p.name.name.as_str()) {
            cx.error(CheckError::DuplicateArg {
                name: p.name.name.clone(),
                loc,
                first: *first,
            });
        }
        seen.insert(&p.name.name, loc);
        let ty = written::ty(cx, file, &p.ty, &DimScope::free());
        out.push(ParamSig {
            name: p.name.name.clone(),
            ty,
            default: None,
            loc,
        });
    }
    out
}

/// Each parameter's default, evaluated (defaults see only top-level names)
/// and checked against the parameter's declared kind, whether or not a
/// call uses it: `k: int = 2.5` is wrong where it is written.
pub fn defaults(
    cx: &mut Checker,
    module: usize,
    ps: &[Param],
    declared: &[ParamSig],
) -> Vec<Option<Type>> {
    ps.iter()
        .zip(declared)
        .map(|(p, sig)| {
            let default = p.default.as_ref()?;
            let mut env = Env::new(module, expr::Context::Static);
            let ty = expr::check(cx, &mut env, default);
            if fits(&sig.ty, &ty) {
                return Some(ty);
            }
            cx.error(CheckError::DefaultMismatch {
                param: p.name.name.clone(),
                expected: sig.ty.kind().to_string(),
                found: ty.kind().to_string(),
                default: expr::loc(cx, &env, default),
                param_loc: sig.loc,
            });
            Some(Type::Error)
        })
        .collect()
}

/// Whether a default of type `found` suits a parameter declared
/// `declared`: the same kind of number, bool or string (an int where a
/// float is declared); tensor parameters take what broadcasts, checked at
/// the call.
fn fits(declared: &Type, found: &Type) -> bool {
    match (declared, found) {
        (_, Type::Error) | (Type::Error, _) => true,
        (Type::Float(_), Type::Int(_)) => true,
        (Type::Int(_) | Type::Float(_) | Type::Bool(_) | Type::Str(_), _) => {
            std::mem::discriminant(declared) == std::mem::discriminant(found)
        }
        _ => true,
    }
}

/// The `where` facts, each naming only sizes the parameters decide.
fn facts(cx: &mut Checker, module: usize, params: &[ParamSig], written: &[ast::Fact]) -> Vec<Fact> {
    let file = cx.file(module);
    let known = decided_names(params);
    let mut out = Vec::new();
    for d in written {
        let loc = Loc::new(file, d.span);
        let scope = DimScope::free();
        let (Some(left), Some(right)) = (
            written::dim(cx, file, &d.left, &scope),
            written::dim(cx, file, &d.right, &scope),
        ) else {
            continue;
        };
        let mut names: Vec<String> = left.symbols();
        names.extend(right.symbols());
        if let Some(name) = names.into_iter().find(|n| !known.contains(n)) {
            cx.error(CheckError::UnboundDim {
                name: name.clone(),
                loc,
                note: format!(
                    "a `where` fact can only use sizes the parameters decide: name `{name}` in a parameter's type or add `{name}: int`"
                ),
            });
            continue;
        }
        if d.relation == Relation::Divides && right.as_const().is_some_and(|v| v < 1) {
            cx.error(CheckError::BadDim {
                detail: format!("a divisor must be at least 1, not {right}"),
                loc,
            });
            continue;
        }
        out.push(Fact {
            left,
            relation: d.relation,
            right,
            text: dlp_grammar::format::fact(d),
            loc,
        });
    }
    out
}

/// The size names that a call's arguments decide.
fn decided_names(params: &[ParamSig]) -> HashSet<String> {
    let mut known: HashSet<String> = HashSet::new();
    for p in params {
        match &p.ty {
            Type::Tensor(t) => collect_names(t, &mut known),
            Type::Int(_) => {
                known.insert(p.name.clone());
            }
            _ => {}
        }
    }
    known
}

/// A result type may only use sizes that the parameters decide: reports
/// the first one no parameter decides, and says whether there is none.
fn check_ret_names(
    cx: &mut Checker,
    module: usize,
    params: &[ParamSig],
    ret: &Type,
    span: Option<dlp_grammar::Span>,
) -> bool {
    let known = decided_names(params);
    let mut used = HashSet::new();
    if let Type::Tensor(t) = ret {
        collect_names(t, &mut used);
    }
    let mut unbound: Vec<_> = used.difference(&known).cloned().collect();
    unbound.sort();
    if let (Some(name), Some(span)) = (unbound.first(), span) {
        cx.error(CheckError::UnboundDim {
            name: name.clone(),
            loc: Loc::new(cx.file(module), span),
            note: format!(
                "no parameter decides `{name}`: name it in a parameter's type or add `{name}: int`"
            ),
        });
    }
    unbound.is_empty()
}

pub fn collect_names(t: &crate::types::TensorType, out: &mut HashSet<String>) {
    if let crate::types::DType::Class(n) = &t.dtype {
        out.extend(n.symbols());
    }
    for item in &t.shape.0 {
        match item {
            ShapeItem::Dim(d) => out.extend(d.symbols()),
            ShapeItem::Group(g) => {
                out.insert(format!("..{g}"));
            }
        }
    }
}
