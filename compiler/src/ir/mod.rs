//! The intermediate representation: graphs of primitive ops.
//!
//! A [`Graph`] is an arena of [`Node`]s — an [`Op`], its operands in
//! order, the type it produces and the source place it came from — with
//! typed outputs ([`Output`]); sources read typed inputs ([`Input`]).
//! Sizes may be multiples of the batch `B` ([`Size`]): one graph serves
//! every batch size.
//!
//! - [`Builder`] builds graphs (typing every node, sharing equal ones);
//! - [`infer()`] is each op's type rule; [`elementwise`] holds each
//!   elementwise op's one scalar definition and its derivative;
//! - [`verify()`] checks a graph's invariants and returns the [`Verified`]
//!   token later stages require;
//! - [`print`] shows a graph as text or Graphviz DOT, [`parse()`] reads
//!   the text back.

// A new op or dtype must be a compile error here, not a silent default.
#![deny(clippy::wildcard_enum_match_arm)]

/// A fieldless enum whose variants have names in the textual IR, with
/// `ALL`, `name()` and `from_name()`.
macro_rules! named_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident => $text:literal,)* }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name { $($(#[$vm])* $v,)* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$v,)*];

            /// The name in the textual IR.
            pub fn name(self) -> &'static str {
                match self { $($name::$v => $text,)* }
            }

            pub fn from_name(s: &str) -> Option<$name> {
                $name::ALL.iter().copied().find(|x| x.name() == s)
            }
        }
    };
}

mod build;
pub mod elementwise;
mod graph;
mod infer;
pub mod io;
mod op;
pub mod parse;
pub mod print;
pub mod scalar;
mod ty;
pub mod verify;

pub use build::Builder;
pub use elementwise::{BinaryOp, UnaryOp};
pub use graph::{Graph, Node, NodeId};
pub use infer::{infer, input_dtype, window_out, TypeError};
pub use io::{Hyper, Input, Output};
pub use op::{Arity, Dist, Op, OpKind, PoolKind, RandomKey, ReduceOp};
pub use parse::parse;
pub use ty::{DType, Size, TensorTy};
pub use verify::{verify, Verified, VerifyError};
