//! The intermediate representation: graphs of primitive ops.
//!
//! A [`Graph`] is an arena of [`Node`]s — an [`Op`], its operands in
//! order, the type it produces and the source place it came from — with
//! typed outputs ([`Output`]); sources read typed inputs ([`Input`]).
//! Sizes may be multiples of the batch `B` ([`Size`]): one graph serves
//! every batch size.
//!
//! - [`Builder`] builds graphs (typing every node, sharing equal ones);
//! - [`infer()`] is each op's type rule, [`scalar`] each elementwise op's
//!   one scalar definition;
//! - [`verify()`] checks a graph's invariants and returns the [`Verified`]
//!   token later stages require;
//! - [`print`] shows a graph as text or Graphviz DOT, [`parse()`] reads
//!   the text back.

mod build;
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
pub use graph::{Graph, Node, NodeId};
pub use infer::{infer, input_dtype, window_out, TypeError};
pub use io::{Hyper, Input, Output};
pub use op::{Arity, BinaryOp, Dist, Op, OpKind, PoolKind, RandomKey, ReduceOp, UnaryOp};
pub use parse::parse;
pub use ty::{DType, Size, TensorTy};
pub use verify::{verify, Verified, VerifyError};
