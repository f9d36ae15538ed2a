//! Types and sizes while lowering: binding the size names of a signature
//! to an argument's sizes, evaluating written shapes, casts, and the graph
//! inputs that raw dataset reads become.

use super::eval::{Env, Lowerer, R};
use super::ops::Affine;
use super::value::Value;
use super::LowerError;
use crate::check::call::broken_fact_text;
use crate::diagnostic::Loc;
use crate::ir::{DType, Input, NodeId, Size, TensorTy};
use crate::program::{Feed, Read};
use crate::types::DType as SourceDType;
use dlp_grammar::ast::{self, DTypeExpr, DimExprKind, DimItem};

impl Lowerer<'_> {
    /// Binds the size names of a written type (`f32[..N, I]`,
    /// `class(C)[..N]`) to the sizes of `node`.
    pub(super) fn bind_type(
        &mut self,
        ty: &ast::TypeExpr,
        node: NodeId,
        env: &mut Env,
        loc: Loc,
    ) -> R<()> {
        if let DTypeExpr::Class(dim, _) = &ty.dtype {
            if let (DimExprKind::Name(n), Some(&c)) = (&dim.kind, self.classes.get(&node)) {
                self.bind_size(env, &n.name, Size::fixed(c), loc)?;
            }
        }
        let Some(items) = &ty.shape else {
            return Ok(());
        };
        let shape = self.b.ty(node).shape.clone();
        let groups = items
            .iter()
            .filter(|i| matches!(i, DimItem::Variadic(_)))
            .count();
        let fixed = items.len() - groups;
        if shape.len() < fixed || (groups == 0 && shape.len() != fixed) {
            return Err(LowerError::new(
                format!(
                    "expected rank {fixed}, found a tensor of shape {}",
                    shape_text(&shape)
                ),
                Some(loc),
            ));
        }
        let group_len = shape.len() - fixed;
        let mut at = 0;
        for item in items {
            match item {
                DimItem::Variadic(name) => {
                    let dims = shape[at..at + group_len].to_vec();
                    env.vars
                        .entry(name.name.clone())
                        .or_insert(Value::Group(dims));
                    at += group_len;
                }
                DimItem::Dim(d) => {
                    match &d.kind {
                        DimExprKind::Name(n) => self.bind_size(env, &n.name, shape[at], loc)?,
                        DimExprKind::Int(v) if Size::fixed(*v as usize) != shape[at] => {
                            return Err(LowerError::new(
                                format!("expected size {v}, found {}", shape[at]),
                                Some(loc),
                            ))
                        }
                        _ => {}
                    }
                    at += 1;
                }
            }
        }
        Ok(())
    }

    fn bind_size(&mut self, env: &mut Env, name: &str, size: Size, loc: Loc) -> R<()> {
        let bound = match env.vars.get(name) {
            Some(Value::Int(v)) => Some(Size::fixed(*v as usize)),
            Some(Value::Size(s)) => Some(*s),
            Some(_) => return Ok(()),
            None => None,
        };
        match bound {
            Some(b) if b != size => Err(LowerError::new(
                format!("size `{name}` is {b} here but {size} in the argument"),
                Some(loc),
            )),
            Some(_) => Ok(()),
            None => {
                env.vars.insert(name.to_string(), size_value(size));
                Ok(())
            }
        }
    }

    pub fn dtype_of(&self, d: &DTypeExpr) -> DType {
        match d {
            DTypeExpr::Class(..) => DType::I32,
            DTypeExpr::Named(n) => {
                ir_dtype(&SourceDType::from_name(&n.name).unwrap_or(SourceDType::F32))
            }
        }
    }

    /// The sizes of a written shape, with the names bound in `env`.
    pub fn shape_of(&mut self, env: &Env, ty: &ast::TypeExpr, loc: Loc) -> R<Vec<Size>> {
        let mut out = Vec::new();
        for item in ty.shape.iter().flatten() {
            match item {
                DimItem::Variadic(n) => match env.vars.get(&n.name) {
                    Some(Value::Group(dims)) => out.extend(dims),
                    _ => {
                        return Err(LowerError::new(
                            format!("the sizes of `..{}` are not known here", n.name),
                            Some(loc),
                        ))
                    }
                },
                DimItem::Dim(d) => {
                    let v = self.dim(env, d)?;
                    let size = v.to_size().map_err(|m| {
                        let at = self.loc(env.module, d.span);
                        match written_name(env, d) {
                            Some((written, name)) => LowerError::new(m, Some(written))
                                .here("given here")
                                .label(at, format!("used as the size `{name}`")),
                            None => LowerError::new(m, Some(at)),
                        }
                    })?;
                    out.push(size);
                }
            }
        }
        Ok(out)
    }

    /// The call's sizes keep the function's `where` facts (the checker
    /// could only test those it knew as numbers). A fact about the batch
    /// size is checked in the training step, whose batches all have the
    /// train block's `batch` samples; evaluation and prediction take any.
    pub(super) fn check_facts(&self, env: &Env, decl: &ast::FnDecl, loc: Loc) -> R<()> {
        for fact in &decl.facts {
            let (left, right) = (self.dim(env, &fact.left)?, self.dim(env, &fact.right)?);
            let at_batch = |a: Affine| match self.training_batch {
                Some(b) => Some(a.at_batch(b)),
                None => a.as_int(),
            };
            let text = dlp_grammar::format::fact(fact);
            let (Some(l), Some(r)) = (at_batch(left), at_batch(right)) else {
                if fact.relation != ast::Relation::Divides {
                    continue;
                }
                return Err(LowerError::new(
                    format!(
                        "`{}` needs `{text}`, which cannot depend on the batch size",
                        decl.name.name
                    ),
                    Some(loc),
                ));
            };
            if fact.relation.holds(l, r) {
                continue;
            }
            let (lt, rt) = (
                dlp_grammar::format::dim(&fact.left),
                dlp_grammar::format::dim(&fact.right),
            );
            let why = broken_fact_text(fact.relation, (&lt, l), (&rt, r));
            let batch = match self.training_batch {
                Some(b) if left.depends_on_batch() || right.depends_on_batch() => {
                    format!(" (every training batch has `batch = {b}` samples)")
                }
                _ => String::new(),
            };
            let message = format!(
                "this call of `{}` breaks `{text}`: {why}{batch}",
                decl.name.name
            );
            let written = written_name(env, &fact.left).or_else(|| written_name(env, &fact.right));
            return Err(match written {
                Some((at, name)) => LowerError::new(message, Some(at))
                    .here(format!("given to `{}` as `{name}`", decl.name.name))
                    .label(loc, format!("breaks `{text}`")),
                None => LowerError::new(message, Some(loc)),
            });
        }
        Ok(())
    }

    fn dim(&self, env: &Env, d: &ast::DimExpr) -> R<Affine> {
        Ok(match &d.kind {
            DimExprKind::Int(v) => Affine::int(*v),
            DimExprKind::Paren(inner) => self.dim(env, inner)?,
            DimExprKind::Name(n) => match env.vars.get(&n.name) {
                Some(Value::Int(v)) => Affine::int(*v),
                Some(Value::Size(s)) => Affine::size(*s),
                _ => {
                    return Err(LowerError::new(
                        format!("the size `{}` is not known here", n.name),
                        Some(self.loc(env.module, d.span)),
                    ))
                }
            },
            DimExprKind::Binary(op, a, b) => {
                let (a, b) = (self.dim(env, a)?, self.dim(env, b)?);
                a.apply(*op, b)
                    .map_err(|m| LowerError::new(m, Some(self.loc(env.module, d.span))))?
            }
        })
    }

    pub(super) fn cast(&mut self, env: &Env, v: Value, ty: &ast::TypeExpr, loc: Loc) -> R<Value> {
        let dtype = self.dtype_of(&ty.dtype);
        let classes = match &ty.dtype {
            DTypeExpr::Class(d, _) => {
                let n = self.dim(env, d)?;
                Some(
                    n.as_int()
                        .ok_or_else(|| {
                            LowerError::new(
                                "a class count cannot depend on the batch size",
                                Some(loc),
                            )
                        })?
                        .max(0) as usize,
                )
            }
            _ => None,
        };
        let shape = match &ty.shape {
            Some(_) => Some(self.shape_of(env, ty, loc)?),
            None => None,
        };
        match v {
            Value::Read(r) => {
                let range = written_range(&ty.dtype);
                Ok(Value::Tensor(
                    self.feed(r, dtype, classes, range, shape, loc)?,
                ))
            }
            Value::Tensor(n) => {
                let mut n = self.b.cast(n, dtype);
                if let Some(shape) = shape {
                    let have = self.b.ty(n).shape.clone();
                    let mut full = have[..self.lead.min(have.len())].to_vec();
                    full.extend(shape);
                    if Size::product(&full).is_none()
                        || Size::product(&full) != Size::product(&have)
                    {
                        return Err(LowerError::new(
                            format!(
                                "cannot cast a tensor of shape {} to {}",
                                shape_text(&have),
                                shape_text(&full)
                            ),
                            Some(loc),
                        ));
                    }
                    n = self.b.reshape(n, &full);
                }
                if let Some(c) = classes {
                    self.classes.insert(n, c);
                }
                Ok(Value::Tensor(n))
            }
            Value::Int(i) if dtype.is_float() => Ok(Value::Float(i as f64)),
            Value::Float(f) if !dtype.is_float() => Ok(Value::Int(f as i64)),
            v @ (Value::Int(_) | Value::Float(_) | Value::Bool(_)) => Ok(v),
            other => Err(LowerError::new(
                format!("{} cannot be cast", other.kind()),
                Some(loc),
            )),
        }
    }

    /// A graph input for raw values read from the dataset, with a batch axis.
    pub(super) fn feed(
        &mut self,
        read: Read,
        dtype: DType,
        classes: Option<usize>,
        range: Option<(i64, i64)>,
        shape: Option<Vec<Size>>,
        loc: Loc,
    ) -> R<NodeId> {
        let shape = match shape {
            None => None,
            Some(s) => Some(
                s.iter()
                    .map(|d| d.as_fixed())
                    .collect::<Option<Vec<usize>>>()
                    .ok_or_else(|| {
                        LowerError::new(
                            "a sample's shape cannot depend on the batch size",
                            Some(loc),
                        )
                    })?,
            ),
        };
        let natural = match &read {
            Read::Columns { columns, scalar } => {
                Some(if *scalar { vec![] } else { vec![columns.len()] })
            }
            Read::Image {
                channels,
                height,
                width,
            } => Some(vec![*channels, *height, *width]),
            Read::Label => Some(vec![]),
            Read::Idx { .. } | Read::Npy { .. } | Read::Text { .. } => None,
        };
        let shape = match (shape, natural) {
            (Some(s), Some(n)) if s.iter().product::<usize>() != n.iter().product::<usize>() => {
                return Err(LowerError::new(
                    format!(
                        "{} values per sample cannot be cast to shape {s:?}",
                        n.iter().product::<usize>()
                    ),
                    Some(loc),
                ))
            }
            (Some(s), _) => s,
            (None, Some(n)) => n,
            (None, None) => {
                return Err(LowerError::new(
                    "give the records a shape with `as`, e.g. `as u8[28, 28]`",
                    Some(loc),
                ))
            }
        };
        let taken = self
            .feeds
            .iter()
            .filter(|f| f.field == self.current_field)
            .count();
        let name = if taken == 0 {
            self.current_field.clone()
        } else {
            format!("{}.{}", self.current_field, taken + 1)
        };
        let mut full = vec![Size::BATCH];
        full.extend(shape.iter().map(|&d| Size::fixed(d)));
        let node = self
            .b
            .input(Input::Feed(name.clone()), TensorTy::new(dtype, full));
        self.feeds.push(Feed {
            name,
            field: self.current_field.clone(),
            read,
            dtype,
            shape,
            classes,
            range,
        });
        if let Some(c) = classes {
            self.classes.insert(node, c);
        }
        Ok(node)
    }
}

/// The IR dtype a written dtype is computed in (`u8`, `i64` and `class(n)` as i32).
/// The bounds a written integer dtype holds when the IR reads it as a wider
/// one: values outside them are data errors, not silently kept.
fn written_range(d: &DTypeExpr) -> Option<(i64, i64)> {
    match d {
        DTypeExpr::Named(n) => match SourceDType::from_name(&n.name) {
            Some(SourceDType::U8) => Some((0, 255)),
            _ => None,
        },
        DTypeExpr::Class(..) => None,
    }
}

fn ir_dtype(d: &SourceDType) -> DType {
    match d {
        SourceDType::F32 => DType::F32,
        SourceDType::F64 => DType::F64,
        SourceDType::Bool => DType::Bool,
        _ => DType::I32,
    }
}

/// A size as a value: an int when it does not depend on the batch.
pub(super) fn size_value(s: Size) -> Value {
    match s.as_fixed() {
        Some(n) => Value::Int(n as i64),
        None => Value::Size(s),
    }
}

/// `[B, 64]`, for messages.
pub(super) fn shape_text(shape: &[Size]) -> String {
    let dims: Vec<String> = shape.iter().map(Size::to_string).collect();
    format!("[{}]", dims.join(", "))
}

/// The first name in `d` whose value the train block wrote (see
/// [`Env::written`]): where, and the name.
fn written_name(env: &Env, d: &ast::DimExpr) -> Option<(Loc, String)> {
    match &d.kind {
        DimExprKind::Int(_) => None,
        DimExprKind::Paren(inner) => written_name(env, inner),
        DimExprKind::Name(n) => Some((*env.written.get(&n.name)?, n.name.clone())),
        DimExprKind::Binary(_, a, b) => written_name(env, a).or_else(|| written_name(env, b)),
    }
}
