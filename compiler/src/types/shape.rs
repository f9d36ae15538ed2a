//! Shapes: lists of dimensions with at most one variadic group, and the
//! rules that combine them (NumPy broadcasting, matrix products, axes).

use super::dim::{Dim, DimError};
use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ShapeItem {
    Dim(Dim),
    /// `..N`: any number of dimensions, named so that equal groups match.
    Group(String),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Shape(pub Vec<ShapeItem>);

impl Shape {
    pub fn scalar() -> Shape {
        Shape(Vec::new())
    }

    pub fn dims(dims: impl IntoIterator<Item = Dim>) -> Shape {
        Shape(dims.into_iter().map(ShapeItem::Dim).collect())
    }

    pub fn is_scalar(&self) -> bool {
        self.0.is_empty()
    }

    pub fn has_group(&self) -> bool {
        self.0.iter().any(|i| matches!(i, ShapeItem::Group(_)))
    }

    /// The rank, when no group makes it unknown.
    pub fn rank(&self) -> Option<usize> {
        (!self.has_group()).then_some(self.0.len())
    }

    /// The dims, when no group hides any.
    pub fn fixed(&self) -> Option<Vec<Dim>> {
        self.0
            .iter()
            .map(|i| match i {
                ShapeItem::Dim(d) => Some(d.clone()),
                ShapeItem::Group(_) => None,
            })
            .collect()
    }

    /// The item an axis names (negative axes count from the end), if it is
    /// a plain dim. Errors say why not.
    pub fn axis(&self, axis: i64) -> Result<usize, AxisError> {
        let group = self.0.iter().position(|i| matches!(i, ShapeItem::Group(_)));
        let len = self.0.len() as i64;
        let index = if axis < 0 { len + axis } else { axis };
        if index < 0 || index >= len {
            return Err(AxisError::OutOfRange);
        }
        match group {
            // With a group, only axes on the side away from it are known.
            Some(g) if axis >= 0 && index as usize >= g => Err(AxisError::BehindGroup),
            Some(g) if axis < 0 && index as usize <= g => Err(AxisError::BehindGroup),
            _ => Ok(index as usize),
        }
    }

    /// Product of all dims, if there is no group.
    pub fn numel(&self) -> Result<Option<Dim>, DimError> {
        let Some(dims) = self.fixed() else {
            return Ok(None);
        };
        let mut n = Dim::constant(1);
        for d in dims {
            n = n.mul(&d)?;
        }
        Ok(Some(n))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AxisError {
    OutOfRange,
    /// The axis falls inside or beyond a variadic group, so which dim it
    /// names depends on the group's length.
    BehindGroup,
}

/// Why two shapes do not broadcast: the dims that clash, counted from the
/// end (0 is the last axis).
#[derive(Clone, Debug, PartialEq)]
pub struct BroadcastError {
    pub from_end: usize,
    pub left: String,
    pub right: String,
}

/// NumPy broadcasting: align from the right; equal dims or a literal 1 pair
/// up; a missing dim is 1. A group matches only the same group.
pub fn broadcast(a: &Shape, b: &Shape) -> Result<Shape, BroadcastError> {
    let mut out = Vec::new();
    let (mut ia, mut ib) = (a.0.len(), b.0.len());
    let mut from_end = 0;
    while ia > 0 || ib > 0 {
        let x = ia.checked_sub(1).map(|i| &a.0[i]);
        let y = ib.checked_sub(1).map(|i| &b.0[i]);
        let clash = |x: &ShapeItem, y: &ShapeItem| BroadcastError {
            from_end,
            left: item_text(x),
            right: item_text(y),
        };
        match (x, y) {
            (Some(x), None) => {
                out.push(x.clone());
                ia -= 1;
            }
            (None, Some(y)) => {
                out.push(y.clone());
                ib -= 1;
            }
            (Some(ShapeItem::Dim(p)), Some(ShapeItem::Dim(q))) => {
                let d = if p == q || q.as_const() == Some(1) {
                    p
                } else if p.as_const() == Some(1) {
                    q
                } else {
                    return Err(clash(x.unwrap(), y.unwrap()));
                };
                out.push(ShapeItem::Dim(d.clone()));
                ia -= 1;
                ib -= 1;
            }
            (Some(x @ ShapeItem::Group(g)), Some(y @ ShapeItem::Group(h))) => {
                if g != h {
                    return Err(clash(x, y));
                }
                out.push(x.clone());
                ia -= 1;
                ib -= 1;
            }
            // A group against the other side's leading dims: fine only if
            // those are all 1 (they broadcast into whatever the group is).
            (Some(g @ ShapeItem::Group(_)), Some(_)) => {
                if !b.0[..ib].iter().all(is_one) {
                    return Err(clash(g, y.unwrap()));
                }
                out.push(g.clone());
                ia -= 1;
                ib = 0;
            }
            (Some(_), Some(g @ ShapeItem::Group(_))) => {
                if !a.0[..ia].iter().all(is_one) {
                    return Err(clash(x.unwrap(), g));
                }
                out.push(g.clone());
                ib -= 1;
                ia = 0;
            }
            (None, None) => unreachable!("loop condition"),
        }
        from_end += 1;
    }
    out.reverse();
    Ok(Shape(out))
}

fn is_one(item: &ShapeItem) -> bool {
    matches!(item, ShapeItem::Dim(d) if d.as_const() == Some(1))
}

fn item_text(item: &ShapeItem) -> String {
    match item {
        ShapeItem::Dim(d) => d.to_string(),
        ShapeItem::Group(g) => format!("..{g}"),
    }
}

impl fmt::Display for ShapeItem {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&item_text(self))
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let items: Vec<_> = self.0.iter().map(item_text).collect();
        write!(f, "[{}]", items.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(items: &[&str]) -> Shape {
        Shape(
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
        )
    }

    #[test]
    fn numpy_rules() {
        let b = |x: &[&str], y: &[&str]| broadcast(&shape(x), &shape(y)).map(|s| s.to_string());
        assert_eq!(b(&["B", "10"], &["10"]).unwrap(), "[B, 10]");
        assert_eq!(b(&["B", "1"], &["1", "7"]).unwrap(), "[B, 7]");
        assert_eq!(b(&["..N", "out"], &["out"]).unwrap(), "[..N, out]");
        assert_eq!(b(&["..S"], &[]).unwrap(), "[..S]");
        let e = b(&["B", "64"], &["10"]).unwrap_err();
        assert_eq!(
            (e.from_end, e.left.as_str(), e.right.as_str()),
            (0, "64", "10")
        );
        assert!(b(&["..N", "C"], &["D", "C"]).is_err());
    }

    #[test]
    fn axes_next_to_groups() {
        let s = shape(&["..N", "C"]);
        assert_eq!(s.axis(-1), Ok(1));
        assert_eq!(s.axis(0), Err(AxisError::BehindGroup));
        assert_eq!(s.axis(-2), Err(AxisError::BehindGroup));
        assert_eq!(shape(&["B", "C"]).axis(2), Err(AxisError::OutOfRange));
    }
}
