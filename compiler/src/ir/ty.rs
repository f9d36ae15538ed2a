//! The types the IR computes with: element types, sizes and tensor types.
//!
//! A step is compiled once for every batch size: a size is either a number
//! or a multiple of the batch `B` (plus a number), so `f32[B, 64]` and the
//! flattened `f32[B*49, 16]` keep their meaning whatever the batch. A back
//! end fixes `B` when it runs a step ([`TensorTy::at`]).

use serde::{Deserialize, Serialize};
use std::fmt;

/// The element types the IR computes with. Source dtypes map onto these:
/// `u8`, `i64` and `class(n)` data are carried as `I32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    F32,
    F64,
    I32,
    Bool,
}

impl DType {
    pub const ALL: [DType; 4] = [DType::F32, DType::F64, DType::I32, DType::Bool];

    pub fn is_float(self) -> bool {
        match self {
            DType::F32 | DType::F64 => true,
            DType::I32 | DType::Bool => false,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::I32 => "i32",
            DType::Bool => "bool",
        }
    }

    pub fn from_name(name: &str) -> Option<DType> {
        DType::ALL.into_iter().find(|d| d.name() == name)
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A size: `batch * B + fixed`, where `B` is the batch size a step runs
/// with. Sizes that do not depend on the batch have `batch == 0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Size {
    pub batch: usize,
    pub fixed: usize,
}

impl Size {
    /// The batch size itself, `B`.
    pub const BATCH: Size = Size { batch: 1, fixed: 0 };
    pub const ONE: Size = Size { batch: 0, fixed: 1 };

    pub const fn fixed(n: usize) -> Size {
        Size { batch: 0, fixed: n }
    }

    /// The number, when the size does not depend on the batch.
    pub fn as_fixed(self) -> Option<usize> {
        (self.batch == 0).then_some(self.fixed)
    }

    pub fn is_batched(self) -> bool {
        self.batch > 0
    }

    /// The size for batch size `b` (`None` on overflow).
    pub fn at(self, b: usize) -> Option<usize> {
        self.batch.checked_mul(b)?.checked_add(self.fixed)
    }

    pub fn checked_add(self, other: Size) -> Option<Size> {
        Some(Size {
            batch: self.batch.checked_add(other.batch)?,
            fixed: self.fixed.checked_add(other.fixed)?,
        })
    }

    /// `self - other`, when it is a size (never negative) for every batch.
    pub fn checked_sub(self, other: Size) -> Option<Size> {
        Some(Size {
            batch: self.batch.checked_sub(other.batch)?,
            fixed: self.fixed.checked_sub(other.fixed)?,
        })
    }

    /// The product, unless both depend on the batch (`B * B` is not a size
    /// the IR can describe) or it overflows.
    pub fn checked_mul(self, other: Size) -> Option<Size> {
        if self.is_batched() && other.is_batched() {
            return None;
        }
        let (s, o) = (self, other);
        Some(Size {
            batch: s
                .batch
                .checked_mul(o.fixed)?
                .checked_add(o.batch.checked_mul(s.fixed)?)?,
            fixed: s.fixed.checked_mul(o.fixed)?,
        })
    }

    /// `self / n` when that is exact for every batch.
    pub fn checked_div(self, n: usize) -> Option<Size> {
        (n > 0 && self.batch.is_multiple_of(n) && self.fixed.is_multiple_of(n)).then(|| Size {
            batch: self.batch / n,
            fixed: self.fixed / n,
        })
    }

    /// `self <= other` for every batch size of 1 or more.
    pub fn always_le(self, other: Size) -> bool {
        self.batch <= other.batch && self.batch + self.fixed <= other.batch + other.fixed
    }

    /// The product of `sizes` (`Some(1)` for none).
    pub fn product(sizes: &[Size]) -> Option<Size> {
        sizes
            .iter()
            .try_fold(Size::ONE, |acc, &s| acc.checked_mul(s))
    }
}

impl From<usize> for Size {
    fn from(n: usize) -> Size {
        Size::fixed(n)
    }
}

/// `64`, `B`, `B*49`, `B*2+1`: the textual IR's form, which it parses back.
impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match (self.batch, self.fixed) {
            (0, n) => write!(f, "{n}"),
            (1, 0) => f.write_str("B"),
            (1, n) => write!(f, "B+{n}"),
            (k, 0) => write!(f, "B*{k}"),
            (k, n) => write!(f, "B*{k}+{n}"),
        }
    }
}

impl std::str::FromStr for Size {
    type Err = String;

    fn from_str(s: &str) -> Result<Size, String> {
        let bad = || format!("`{s}` is not a size (`64`, `B`, `B*4`, `B*4+1`)");
        let Some(rest) = s.strip_prefix('B') else {
            return s.parse().map(Size::fixed).map_err(|_| bad());
        };
        let (k, rest) = match rest.strip_prefix('*') {
            Some(r) => {
                let end = r.find('+').unwrap_or(r.len());
                (r[..end].parse().map_err(|_| bad())?, &r[end..])
            }
            None => (1, rest),
        };
        let n = match rest.strip_prefix('+') {
            Some(r) => r.parse().map_err(|_| bad())?,
            None if rest.is_empty() => 0,
            None => return Err(bad()),
        };
        Ok(Size { batch: k, fixed: n })
    }
}

/// A tensor type: `f32[B, 256]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TensorTy {
    pub dtype: DType,
    pub shape: Vec<Size>,
}

impl TensorTy {
    pub fn new(dtype: DType, shape: Vec<Size>) -> TensorTy {
        TensorTy { dtype, shape }
    }

    /// A type whose sizes do not depend on the batch.
    pub fn fixed(dtype: DType, shape: &[usize]) -> TensorTy {
        TensorTy::new(dtype, shape.iter().map(|&d| Size::fixed(d)).collect())
    }

    pub fn scalar(dtype: DType) -> TensorTy {
        TensorTy::new(dtype, Vec::new())
    }

    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// The number of elements (`None` when it would be `B * B`).
    pub fn numel(&self) -> Option<Size> {
        Size::product(&self.shape)
    }

    /// The concrete shape for batch size `b`.
    pub fn at(&self, b: usize) -> Option<Vec<usize>> {
        self.shape.iter().map(|s| s.at(b)).collect()
    }

    /// The first axis whose size depends on the batch.
    pub fn batch_axis(&self) -> Option<usize> {
        self.shape.iter().position(|s| s.is_batched())
    }
}

impl fmt::Display for TensorTy {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let dims: Vec<String> = self.shape.iter().map(Size::to_string).collect();
        write!(f, "{}[{}]", self.dtype, dims.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_print_and_parse_back() {
        for s in [
            Size::fixed(0),
            Size::fixed(64),
            Size::BATCH,
            Size {
                batch: 49,
                fixed: 0,
            },
            Size { batch: 1, fixed: 3 },
            Size { batch: 2, fixed: 1 },
        ] {
            assert_eq!(s.to_string().parse::<Size>(), Ok(s));
        }
        assert!("B*".parse::<Size>().is_err());
        assert!("C".parse::<Size>().is_err());
        assert!("B2".parse::<Size>().is_err());
    }

    #[test]
    fn size_arithmetic_stays_affine_in_the_batch() {
        let b = Size::BATCH;
        let f = Size::fixed;
        assert_eq!(
            b.checked_mul(f(49)),
            Some(Size {
                batch: 49,
                fixed: 0
            })
        );
        assert_eq!(b.checked_mul(b), None);
        assert_eq!(
            Size::product(&[b, f(7), f(7)]).map(|s| s.at(10)),
            Some(Some(490))
        );
        assert_eq!(
            Size { batch: 4, fixed: 8 }.checked_div(4),
            Some(Size { batch: 1, fixed: 2 })
        );
        assert_eq!(b.checked_div(2), None);
        assert!(f(1).always_le(b) && !f(2).always_le(b) && b.always_le(b));
    }
}
