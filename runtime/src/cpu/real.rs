//! The float types the CPU back end's own loops compute in (f32 and f64),
//! and the spare buffers a step reuses instead of allocating.

use crate::tensor::Data;
use dlp_compiler::ir::DType;

/// A float the contractions and pooling loops compute in.
pub trait Real:
    Copy + Default + PartialOrd + From<u8> + Into<f64> + std::ops::AddAssign + Send + Sync + 'static
{
    const NEG_INFINITY: Self;
    fn from_f64(v: f64) -> Self;
    /// The larger, or the other when one is NaN (f64's `max`: exact in
    /// either type).
    fn max(self, other: Self) -> Self;
    /// A buffer of `n` elements from `spare` (one of that size, whatever it
    /// holds), or a new one.
    fn take(spare: &mut Vec<Data>, n: usize) -> Vec<Self>;
    fn give(spare: &mut Vec<Data>, buffer: Vec<Self>);
}

macro_rules! real {
    ($t:ident, $variant:ident) => {
        impl Real for $t {
            const NEG_INFINITY: $t = $t::NEG_INFINITY;

            fn from_f64(v: f64) -> $t {
                v as $t
            }

            fn max(self, other: $t) -> $t {
                $t::max(self, other)
            }

            fn take(spare: &mut Vec<Data>, n: usize) -> Vec<$t> {
                match take_buffer(spare, DType::$variant, n) {
                    Data::$variant(v) => v,
                    _ => vec![0.0; n],
                }
            }

            fn give(spare: &mut Vec<Data>, buffer: Vec<$t>) {
                spare.push(Data::$variant(buffer));
            }
        }
    };
}
real!(f32, F32);
real!(f64, F64);

/// A buffer of `n` elements of `dtype`: a spare one of that size when
/// there is one (its old contents are all overwritten), else a new one.
pub fn take_buffer(spare: &mut Vec<Data>, dtype: DType, n: usize) -> Data {
    let fits = |d: &Data| match (d, dtype) {
        (Data::F32(v), DType::F32) => v.len() == n,
        (Data::F64(v), DType::F64) => v.len() == n,
        (Data::I32(v), DType::I32) => v.len() == n,
        (Data::Bool(v), DType::Bool) => v.len() == n,
        (Data::F32(_) | Data::F64(_) | Data::I32(_) | Data::Bool(_), _) => false,
    };
    if let Some(i) = spare.iter().position(fits) {
        return spare.swap_remove(i);
    }
    match dtype {
        DType::F32 => Data::F32(vec![0.0; n]),
        DType::F64 => Data::F64(vec![0.0; n]),
        DType::I32 => Data::I32(vec![0; n]),
        DType::Bool => Data::Bool(vec![false; n]),
    }
}
