//! What an expression evaluates to while a program is lowered.
//!
//! Lowering runs the program's declarations with every size known: host
//! values (numbers, lists, settings) are computed on the spot, and tensor
//! values are nodes of the graph being built.

use crate::diagnostic::Loc;
use crate::ir::{NodeId, Size};
use crate::optim::{Optimizer, Schedule};
use crate::program::{Init, Read, Source};
use crate::resolve::DefId;

#[derive(Clone, Debug)]
pub enum Value {
    Tensor(NodeId),
    Int(i64),
    /// A size that depends on the batch (`B`, `B * 4`): fixed sizes are ints.
    Size(Size),
    Float(f64),
    Bool(bool),
    Str(String),
    Range(i64, i64),
    List(Vec<Value>),
    Record(Vec<(String, Value)>),
    /// The dims a `..N` group stands for.
    Group(Vec<Size>),
    Init(Init),
    Optimizer(Optimizer),
    Schedule(Schedule),
    Seed(u64),
    Source(Source),
    /// Raw values read from the dataset's source, before a cast types them.
    Read(Read),
    /// A `fn`, `model` or `extern fn` declaration.
    Def(DefId),
    Builtin(&'static str),
    Module(usize),
    Dataset(DefId),
    Split(DefId, String),
    /// A model with its arguments, each with where it was written:
    /// `Mlp(hidden = 256)`.
    Model(DefId, Vec<(Option<String>, Value, Loc)>),
}

impl Value {
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Tensor(_) => "a tensor",
            Value::Int(_) => "an int",
            Value::Size(_) => "a size that depends on the batch",
            Value::Float(_) => "a float",
            Value::Bool(_) => "a bool",
            Value::Str(_) => "a string",
            Value::Range(..) => "a range",
            Value::List(_) => "a list",
            Value::Record(_) => "a record",
            Value::Group(_) => "a dim group",
            Value::Init(_) => "an initialiser",
            Value::Optimizer(_) => "an optimizer",
            Value::Schedule(_) => "a schedule",
            Value::Seed(_) => "a seed",
            Value::Source(_) => "a data source",
            Value::Read(_) => "raw data",
            Value::Def(_) | Value::Builtin(_) => "a function",
            Value::Module(_) => "a module",
            Value::Dataset(_) => "a dataset",
            Value::Split(..) => "a split",
            Value::Model(..) => "a model",
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(v) => Some(*v as f64),
            Value::Float(v) => Some(*v),
            _ => None,
        }
    }
}
