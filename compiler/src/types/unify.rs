//! Binding a signature's dims to the arguments of one call.
//!
//! A signature such as `fn linear(x: f32[..N, I], out: int)` names sizes
//! (`N`, `I`, `out`). At a call each argument's type is matched against its
//! parameter's: a plain name binds to the dim in the same place (`I = 64`), a
//! group binds to the run of dims it covers (`N = [B]`), and a dim written as
//! arithmetic (`2 * I`) is compared once its names are bound. The result is a
//! [`Subst`] that gives the call's return type, and, for errors, which
//! argument bound each name.

use super::dim::{Dim, DimError};
use super::shape::{Shape, ShapeItem};
use super::ty::{DType, TensorType, Type};
use std::collections::HashMap;

#[derive(Clone, Debug, Default)]
pub struct Subst {
    pub dims: HashMap<String, Dim>,
    pub groups: HashMap<String, Vec<ShapeItem>>,
    /// Which argument (by index) bound each name.
    pub origin: HashMap<String, usize>,
}

/// Why an argument does not fit its parameter.
#[derive(Clone, Debug, PartialEq)]
pub enum Mismatch {
    DType {
        expected: String,
        found: String,
    },
    Rank {
        expected: String,
        found: String,
    },
    /// Dim `index` (of the argument's shape) differs.
    Dim {
        index: usize,
        expected: Dim,
        found: Dim,
        /// The name in the signature whose earlier binding decided `expected`.
        bound_by: Option<String>,
    },
    /// The argument has a group where the parameter needs known dims.
    UnknownRank {
        found: String,
    },
    Arith(DimError),
}

impl Subst {
    pub fn bind_dim(&mut self, name: &str, value: Dim, arg: usize) {
        self.dims.insert(name.to_string(), value);
        self.origin.insert(name.to_string(), arg);
    }

    pub fn dim(&self, d: &Dim) -> Result<Dim, DimError> {
        d.substitute(&|name| self.dims.get(name).cloned())
    }

    /// Applies the bindings; names not bound stay as they are.
    pub fn shape(&self, s: &Shape) -> Result<Shape, DimError> {
        let mut out = Vec::new();
        for item in &s.0 {
            match item {
                ShapeItem::Dim(d) => out.push(ShapeItem::Dim(self.dim(d)?)),
                ShapeItem::Group(g) => match self.groups.get(g) {
                    Some(items) => out.extend(items.iter().cloned()),
                    None => out.push(item.clone()),
                },
            }
        }
        Ok(Shape(out))
    }

    pub fn dtype(&self, d: &DType) -> Result<DType, DimError> {
        Ok(match d {
            DType::Class(n) => DType::Class(self.dim(n)?),
            other => other.clone(),
        })
    }

    pub fn tensor(&self, t: &TensorType) -> Result<TensorType, DimError> {
        Ok(TensorType::new(
            self.dtype(&t.dtype)?,
            self.shape(&t.shape)?,
        ))
    }

    pub fn ty(&self, t: &Type) -> Result<Type, DimError> {
        Ok(match t {
            Type::Tensor(t) => Type::Tensor(self.tensor(t)?),
            Type::Int(Some(d)) => Type::Int(Some(self.dim(d)?)),
            other => other.clone(),
        })
    }

    /// Every name `d` mentions is bound.
    pub fn binds_all(&self, d: &Dim) -> bool {
        d.symbols().iter().all(|s| self.dims.contains_key(s))
    }
}

/// A comparison left for after every argument has bound what it can.
#[derive(Clone, Debug)]
pub struct Deferred {
    pub arg: usize,
    pub index: usize,
    pub pattern: Dim,
    pub found: Dim,
}

/// Matches argument `arg`'s type against its parameter's `pattern`, binding
/// names in `subst`. Dims that are arithmetic, or names bound by an earlier
/// argument, are compared now if possible, else pushed to `deferred`.
pub fn match_tensor(
    pattern: &TensorType,
    actual: &TensorType,
    arg: usize,
    subst: &mut Subst,
    deferred: &mut Vec<Deferred>,
) -> Result<(), Mismatch> {
    match (&pattern.dtype, &actual.dtype) {
        (DType::Class(p), DType::Class(a)) => {
            match_dim(p, a, arg, usize::MAX, subst, deferred)?;
        }
        (p, a) if p != a => {
            return Err(Mismatch::DType {
                expected: p.to_string(),
                found: a.to_string(),
            })
        }
        _ => {}
    }
    let p = &pattern.shape.0;
    let a = &actual.shape.0;
    let p_group = p.iter().position(|i| matches!(i, ShapeItem::Group(_)));
    let a_group = a.iter().position(|i| matches!(i, ShapeItem::Group(_)));
    let rank_error = || Mismatch::Rank {
        expected: pattern.shape.to_string(),
        found: actual.shape.to_string(),
    };
    // Split both into the dims before and after the group (if any).
    let (p_pre, p_suf) = match p_group {
        Some(g) => (&p[..g], &p[g + 1..]),
        None => (&p[..], &p[p.len()..]),
    };
    let (a_pre, a_suf) = match a_group {
        Some(g) => (&a[..g], &a[g + 1..]),
        None => (&a[..], &a[a.len()..]),
    };
    let pairs: Vec<(&ShapeItem, &ShapeItem, usize)> = match (p_group, a_group) {
        (None, None) => {
            if p.len() != a.len() {
                return Err(rank_error());
            }
            p.iter()
                .zip(a)
                .enumerate()
                .map(|(i, (x, y))| (x, y, i))
                .collect()
        }
        (Some(_), None) => {
            if a.len() < p.len() - 1 {
                return Err(rank_error());
            }
            around_group(p, p_group, p_pre, p_suf, a, subst, arg)
        }
        (None, Some(_)) => {
            return Err(Mismatch::UnknownRank {
                found: actual.shape.to_string(),
            })
        }
        (Some(_), Some(_)) => {
            if a_pre.len() < p_pre.len() || a_suf.len() < p_suf.len() {
                return Err(Mismatch::UnknownRank {
                    found: actual.shape.to_string(),
                });
            }
            around_group(p, p_group, p_pre, p_suf, a, subst, arg)
        }
    };
    for (p_item, a_item, index) in pairs {
        match (p_item, a_item) {
            (ShapeItem::Dim(pd), ShapeItem::Dim(ad)) => {
                match_dim(pd, ad, arg, index, subst, deferred)?
            }
            _ => return Err(rank_error()),
        }
    }
    Ok(())
}

/// Binds the pattern's group to the actual dims between its prefix and
/// suffix, and pairs the prefix and suffix with the actual dims around them
/// (with their index in the actual shape).
fn around_group<'a>(
    p: &[ShapeItem],
    p_group: Option<usize>,
    p_pre: &'a [ShapeItem],
    p_suf: &'a [ShapeItem],
    a: &'a [ShapeItem],
    subst: &mut Subst,
    arg: usize,
) -> Vec<(&'a ShapeItem, &'a ShapeItem, usize)> {
    let tail = a.len() - p_suf.len();
    bind_group(p, p_group, &a[p_pre.len()..tail], subst, arg);
    let front = p_pre.iter().zip(a).enumerate().map(|(i, (x, y))| (x, y, i));
    let back = p_suf
        .iter()
        .zip(&a[tail..])
        .enumerate()
        .map(|(i, (x, y))| (x, y, tail + i));
    front.chain(back).collect()
}

fn bind_group(
    p: &[ShapeItem],
    group: Option<usize>,
    items: &[ShapeItem],
    subst: &mut Subst,
    arg: usize,
) {
    if let Some(ShapeItem::Group(name)) = group.map(|g| &p[g]) {
        // A group seen twice must cover the same dims: compare on second sight.
        match subst.groups.get(name) {
            Some(_) => {}
            None => {
                subst.groups.insert(name.clone(), items.to_vec());
                subst.origin.insert(format!("..{name}"), arg);
            }
        }
    }
}

/// Checks that a group name used by several parameters covers equal dims.
pub fn group_conflict(p: &Shape, actual: &Shape, subst: &Subst) -> Option<(String, Shape, Shape)> {
    let g = p.0.iter().position(|i| matches!(i, ShapeItem::Group(_)))?;
    let ShapeItem::Group(name) = &p.0[g] else {
        return None;
    };
    let bound = subst.groups.get(name)?;
    let suf = p.0.len() - g - 1;
    if actual.0.len() < g + suf {
        return None;
    }
    let covered = &actual.0[g..actual.0.len() - suf];
    (covered != bound.as_slice())
        .then(|| (name.clone(), Shape(bound.clone()), Shape(covered.to_vec())))
}

fn match_dim(
    pattern: &Dim,
    found: &Dim,
    arg: usize,
    index: usize,
    subst: &mut Subst,
    deferred: &mut Vec<Deferred>,
) -> Result<(), Mismatch> {
    if let Some(name) = pattern.as_sym() {
        if !subst.dims.contains_key(name) {
            subst.bind_dim(name, found.clone(), arg);
            return Ok(());
        }
    }
    if subst.binds_all(pattern) {
        let expected = subst.dim(pattern).map_err(Mismatch::Arith)?;
        if &expected != found {
            let bound_by = pattern.symbols().into_iter().next();
            return Err(Mismatch::Dim {
                index,
                expected,
                found: found.clone(),
                bound_by,
            });
        }
        return Ok(());
    }
    deferred.push(Deferred {
        arg,
        index,
        pattern: pattern.clone(),
        found: found.clone(),
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(items: &[&str]) -> TensorType {
        let shape = Shape(
            items
                .iter()
                .map(|s| match s.strip_prefix("..") {
                    Some(g) => ShapeItem::Group(g.to_string()),
                    None => match s.parse() {
                        Ok(n) => ShapeItem::Dim(Dim::constant(n)),
                        Err(_) => ShapeItem::Dim(Dim::sym(*s)),
                    },
                })
                .collect(),
        );
        TensorType::new(DType::F32, shape)
    }

    #[test]
    fn binds_groups_and_names() {
        let mut s = Subst::default();
        let mut d = Vec::new();
        match_tensor(&t(&["..N", "I"]), &t(&["B", "7", "64"]), 0, &mut s, &mut d).unwrap();
        assert_eq!(
            s.shape(&t(&["..N", "out"]).shape).unwrap().to_string(),
            "[B, 7, out]"
        );
        assert_eq!(s.dims["I"], Dim::constant(64));
    }

    #[test]
    fn second_use_of_a_name_must_agree() {
        let mut s = Subst::default();
        let mut d = Vec::new();
        match_tensor(&t(&["I", "J"]), &t(&["3", "4"]), 0, &mut s, &mut d).unwrap();
        let e = match_tensor(&t(&["J", "K"]), &t(&["5", "6"]), 1, &mut s, &mut d).unwrap_err();
        assert!(
            matches!(e, Mismatch::Dim { index: 0, bound_by: Some(ref n), .. } if n == "J"),
            "{e:?}"
        );
    }

    #[test]
    fn a_group_argument_needs_a_group_parameter() {
        let mut s = Subst::default();
        let mut d = Vec::new();
        let e = match_tensor(&t(&["B", "C"]), &t(&["..S"]), 0, &mut s, &mut d).unwrap_err();
        assert!(matches!(e, Mismatch::UnknownRank { .. }));
        match_tensor(&t(&["..N", "C"]), &t(&["..S", "D"]), 0, &mut s, &mut d).unwrap();
        assert_eq!(s.groups["N"], vec![ShapeItem::Group("S".into())]);
    }
}
