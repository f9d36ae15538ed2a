//! `standardize(x)`: a dataset field scaled by statistics of the training
//! data, which the runtime measures before the first step.

use super::call::Bound;
use super::expr::{self, Env};
use super::{CheckError, Checker};
use crate::diagnostic::Loc;
use crate::types::{DType, Type};

pub(super) fn standardize(cx: &mut Checker, _: &Env, args: &[Bound], _: Loc) -> Type {
    let x = match &args[0] {
        Some((Type::Tensor(t), _)) if t.dtype == DType::F32 => t.clone(),
        Some((Type::Error, _)) | None => return Type::Error,
        Some((other, at)) => {
            return expr::wrong_kind(cx, "`x` of `standardize`", "an f32 tensor", other, *at)
        }
    };
    match &args[1] {
        Some((Type::Bool(Some(true)), at)) if x.shape.rank() == Some(0) => {
            return cx.error(CheckError::OutOfRange {
                what: "the sample's rank with `per_channel`".into(),
                value: "0 (a scalar)".into(),
                range: "1 or more: the first axis of each sample is the channels".into(),
                loc: *at,
            })
        }
        Some((Type::Bool(Some(_)) | Type::Error, _)) | None => {}
        Some((Type::Bool(None), at)) => {
            return cx.error(CheckError::NotStatic {
                what: "argument `per_channel` of `standardize`".into(),
                loc: *at,
            })
        }
        Some((other, at)) => {
            return expr::wrong_kind(cx, "`per_channel`", "true or false", other, *at)
        }
    }
    Type::Tensor(x)
}
