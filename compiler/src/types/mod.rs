//! Types, shapes and symbolic dimensions, and how they unify at a call.

pub mod dim;
pub mod index;
pub mod shape;
pub mod ty;
pub mod unify;

pub use dim::{Dim, DimError};
pub use shape::{broadcast, AxisError, BroadcastError, Shape, ShapeItem};
pub use ty::{DType, SourceKind, TensorType, Type};
pub use unify::{match_tensor, Mismatch, Subst};
