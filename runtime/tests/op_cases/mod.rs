//! The checks behind `ops.rs`'s cases, by kind of op, and what they share.

pub mod contraction;
pub mod elementwise;
pub mod harness;
pub mod movement;
pub mod random;
pub mod sources;
