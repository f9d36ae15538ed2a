//! Types as written (`f32[B, (H - k) / s + 1]`) to [`Type`]s.

use super::{CheckError, Checker};
use crate::diagnostic::{did_you_mean, FileId, Loc};
use crate::types::{DType, Dim, DimError, Shape, ShapeItem, TensorType, Type};
use dlp_grammar::ast::{BinOp, DTypeExpr, DimExpr, DimExprKind, DimItem, TypeExpr};
use std::collections::HashMap;

/// Which size names a written type may use.
#[derive(Clone, Debug, Default)]
pub struct DimScope {
    /// Any name is a new size (signatures, model inputs).
    pub free: bool,
    /// Names with a meaning here: size names of the signature (as
    /// themselves) and int variables (as their values).
    pub known: HashMap<String, Dim>,
    /// `(num, den)` of each `where num % den == 0` of the enclosing `fn`.
    pub facts: Vec<(Dim, Dim)>,
}

impl DimScope {
    pub fn free() -> DimScope {
        DimScope {
            free: true,
            known: HashMap::new(),
            facts: Vec::new(),
        }
    }
}

impl DimScope {
    /// `d` with what the facts say: `heads * (D / heads)` is `D` under
    /// `where D % heads == 0`.
    pub fn simplify(&self, d: &Dim) -> Dim {
        self.facts.iter().fold(d.clone(), |d, (num, den)| {
            d.assuming_divides(num, den).unwrap_or(d)
        })
    }
}

const OTHER_TYPES: [&str; 6] = ["int", "float", "bool", "str", "optimizer", "schedule"];

pub fn ty(cx: &mut Checker, file: FileId, te: &TypeExpr, scope: &DimScope) -> Type {
    let dtype = match &te.dtype {
        DTypeExpr::Class(n, _) => match dim(cx, file, n, scope) {
            Some(n) => DType::Class(n),
            None => return Type::Error,
        },
        DTypeExpr::Named(name) => match (DType::from_name(&name.name), &te.shape) {
            (Some(DType::Bool), None) => return Type::Bool(None),
            (Some(d), _) => d,
            (None, None) if OTHER_TYPES.contains(&name.name.as_str()) => {
                return match name.name.as_str() {
                    "int" => Type::Int(None),
                    "float" => Type::Float(None),
                    "str" => Type::Str(None),
                    "optimizer" => Type::Optimizer,
                    _ => Type::Schedule,
                }
            }
            (None, _) => {
                let names = DType::NAMES.iter().chain(OTHER_TYPES.iter()).copied();
                let hint = other_spelling(&name.name)
                    .map(|d| format!("dlp spells it `{d}`"))
                    .or_else(|| did_you_mean(&name.name, names));
                return cx.error(CheckError::UnknownDType {
                    name: name.name.clone(),
                    loc: Loc::new(file, name.span),
                    hint,
                });
            }
        },
    };
    let mut items = Vec::new();
    let mut group_seen = false;
    for item in te.shape.iter().flatten() {
        match item {
            DimItem::Dim(d) => match dim(cx, file, d, scope) {
                Some(d) => items.push(ShapeItem::Dim(d)),
                None => return Type::Error,
            },
            DimItem::Variadic(g) => {
                if group_seen {
                    return cx.error(CheckError::BadDim {
                        detail: "a shape can have only one `..` group".to_string(),
                        loc: Loc::new(file, g.span),
                    });
                }
                group_seen = true;
                if !scope.free && !scope.known.contains_key(&format!("..{}", g.name)) {
                    return cx.error(CheckError::UnboundDim {
                        name: format!("..{}", g.name),
                        loc: Loc::new(file, g.span),
                        note: "groups are introduced by a function's parameters".to_string(),
                    });
                }
                items.push(ShapeItem::Group(g.name.clone()));
            }
        }
    }
    Type::Tensor(TensorType::new(dtype, Shape(items)))
}

/// A written dim in normal form; `None` after reporting an error.
pub fn dim(cx: &mut Checker, file: FileId, d: &DimExpr, scope: &DimScope) -> Option<Dim> {
    let loc = Loc::new(file, d.span);
    let result = match &d.kind {
        DimExprKind::Int(v) => {
            if *v < 1 {
                cx.error(CheckError::BadDim {
                    detail: format!("a dimension must be at least 1, not {v}"),
                    loc,
                });
                return None;
            }
            Ok(Dim::constant(*v))
        }
        DimExprKind::Name(n) => match scope.known.get(&n.name) {
            Some(value) => Ok(value.clone()),
            None if scope.free => Ok(Dim::sym(n.name.clone())),
            None => {
                cx.error(CheckError::UnboundDim {
                    name: n.name.clone(),
                    loc,
                    note: "sizes come from the signature's types and int parameters, or from int values in scope".to_string(),
                });
                return None;
            }
        },
        DimExprKind::Paren(inner) => return dim(cx, file, inner, scope),
        DimExprKind::Binary(op, l, r) => {
            let (l, r) = (dim(cx, file, l, scope)?, dim(cx, file, r, scope)?);
            apply(*op, &l, &r)
        }
    };
    match result {
        Ok(d) => Some(d),
        Err(e) => {
            cx.error(CheckError::BadDim {
                detail: dim_error_text(&e),
                loc,
            });
            None
        }
    }
}

pub fn apply(op: BinOp, l: &Dim, r: &Dim) -> Result<Dim, DimError> {
    match op {
        BinOp::Add => l.add(r),
        BinOp::Sub => l.sub(r),
        BinOp::Mul => l.mul(r),
        BinOp::Div => l.div(r),
        _ => unreachable!("the grammar allows only + - * / in dims"),
    }
}

pub fn dim_error_text(e: &DimError) -> String {
    match e {
        DimError::DivisionByZero => "division by zero in a size".to_string(),
        DimError::Overflow => "a size overflows 64 bits".to_string(),
    }
}

/// dlp's name for a dtype as NumPy, PyTorch or C spell it (`float32`,
/// `torch.long`'s `long`): closer than any edit distance finds.
fn other_spelling(name: &str) -> Option<&'static str> {
    Some(match name.to_ascii_lowercase().as_str() {
        "float32" | "single" | "float_" => "f32",
        "float64" | "double" => "f64",
        "int32" => "i32",
        "int64" | "long" => "i64",
        "uint8" | "byte" => "u8",
        "boolean" | "bool_" => "bool",
        _ => return None,
    })
}
