//! The types of dlp values.
//!
//! Tensors have a dtype and a [`Shape`]. Everything else a program handles
//! is known when it is compiled: integers (whose value, when known, is a
//! [`Dim`] so it can size a tensor), floats, strings, ranges, lists and
//! records, and the configuration values of datasets and training
//! (optimisers, schedules, initialisers, sources).

use super::dim::Dim;
use super::shape::Shape;
use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    F32,
    F64,
    I32,
    I64,
    U8,
    Bool,
    /// Integer labels in `0..n`.
    Class(Dim),
}

impl DType {
    /// The dtypes a type name can spell (`class(n)` has its own syntax).
    pub const NAMES: [&'static str; 6] = ["f32", "f64", "i32", "i64", "u8", "bool"];

    pub fn from_name(name: &str) -> Option<DType> {
        Some(match name {
            "f32" => DType::F32,
            "f64" => DType::F64,
            "i32" => DType::I32,
            "i64" => DType::I64,
            "u8" => DType::U8,
            "bool" => DType::Bool,
            _ => return None,
        })
    }

    pub fn is_float(&self) -> bool {
        matches!(self, DType::F32 | DType::F64)
    }

    pub fn is_integer(&self) -> bool {
        matches!(self, DType::I32 | DType::I64 | DType::U8 | DType::Class(_))
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            DType::F32 => f.write_str("f32"),
            DType::F64 => f.write_str("f64"),
            DType::I32 => f.write_str("i32"),
            DType::I64 => f.write_str("i64"),
            DType::U8 => f.write_str("u8"),
            DType::Bool => f.write_str("bool"),
            DType::Class(n) => write!(f, "class({n})"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TensorType {
    pub dtype: DType,
    pub shape: Shape,
}

impl TensorType {
    pub fn new(dtype: DType, shape: Shape) -> TensorType {
        TensorType { dtype, shape }
    }

    pub fn scalar(dtype: DType) -> TensorType {
        TensorType::new(dtype, Shape::scalar())
    }
}

impl fmt::Display for TensorType {
    /// `f32[B, 64]`; a scalar is just its dtype (`f32`).
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        if self.shape.is_scalar() {
            write!(f, "{}", self.dtype)
        } else {
            write!(f, "{}{}", self.dtype, self.shape)
        }
    }
}

/// What a data source yields per record before a cast gives it a type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SourceKind {
    Csv,
    /// A folder of images, one sub-folder per class: `image()` gives
    /// `f32[channels, height, width]`.
    Images {
        channels: i64,
        height: i64,
        width: i64,
    },
    /// A source that is wrong and already reported: the fields that read
    /// it are not checked against it (one mistake, one error).
    Broken,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Type {
    Tensor(TensorType),
    /// A compile-time integer; its value when known.
    Int(Option<Dim>),
    Float(Option<f64>),
    Bool(Option<bool>),
    Str(Option<String>),
    /// `a..b` with known ends.
    Range(Dim, Dim),
    List(Vec<Type>),
    Record(Vec<(String, Type)>),
    Optimizer,
    Schedule,
    /// A parameter initialiser (`zeros()`).
    Init,
    /// `seed(7)`
    Seed,
    Source(SourceKind),
    /// A record of an IDX file: its shape is only known from a cast.
    Raw,
    Dataset(String),
    /// A named split of a dataset (`digits.train`).
    Split(String, String),
    /// A model with its arguments (`Mlp(hidden = 256)`), by name.
    Model(String),
    /// A function or module named where a value is needed.
    Callable(String),
    Module(String),
    /// Something already reported; never reported again.
    Error,
}

impl Type {
    pub fn tensor(dtype: DType, shape: Shape) -> Type {
        Type::Tensor(TensorType::new(dtype, shape))
    }

    pub fn as_tensor(&self) -> Option<&TensorType> {
        match self {
            Type::Tensor(t) => Some(t),
            _ => None,
        }
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Type::Error)
    }

    /// Kind of value, for "expected X, found Y" messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Type::Tensor(_) => "a tensor",
            Type::Int(_) => "an int",
            Type::Float(_) => "a float",
            Type::Bool(_) => "a bool",
            Type::Str(_) => "a string",
            Type::Range(..) => "a range",
            Type::List(_) => "a list",
            Type::Record(_) => "a record",
            Type::Optimizer => "an optimizer",
            Type::Schedule => "a schedule",
            Type::Init => "an initialiser",
            Type::Seed => "a seed",
            Type::Source(_) => "a data source",
            Type::Raw => "raw data",
            Type::Dataset(_) => "a dataset",
            Type::Split(..) => "a dataset split",
            Type::Model(_) => "a model",
            Type::Callable(_) => "a function",
            Type::Module(_) => "a module",
            Type::Error => "an error",
        }
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Type::Tensor(t) => write!(f, "{t}"),
            Type::Int(Some(d)) if d.as_const().is_some() => write!(f, "int = {d}"),
            Type::Int(_) => f.write_str("int"),
            Type::Float(Some(v)) => write!(f, "float = {v}"),
            Type::Float(None) => f.write_str("float"),
            Type::Bool(_) => f.write_str("bool"),
            Type::Str(_) => f.write_str("str"),
            Type::Range(a, b) => write!(f, "range {a}..{b}"),
            Type::List(items) => {
                let items: Vec<_> = items.iter().map(|t| t.to_string()).collect();
                write!(f, "[{}]", items.join(", "))
            }
            Type::Record(fields) => {
                let fields: Vec<_> = fields.iter().map(|(k, t)| format!("{k}: {t}")).collect();
                write!(f, "{{ {} }}", fields.join(", "))
            }
            Type::Optimizer => f.write_str("optimizer"),
            Type::Schedule => f.write_str("schedule"),
            Type::Init => f.write_str("init"),
            Type::Seed => f.write_str("seed"),
            Type::Source(SourceKind::Csv) => f.write_str("csv source"),
            Type::Source(SourceKind::Images { .. }) => f.write_str("image-folder source"),
            Type::Source(SourceKind::Broken) => f.write_str("data source"),
            Type::Raw => f.write_str("raw data (cast it to give it a type)"),
            Type::Dataset(name) => write!(f, "dataset {name}"),
            Type::Split(d, s) => write!(f, "split {d}.{s}"),
            Type::Model(name) => write!(f, "model {name}"),
            Type::Callable(name) => write!(f, "fn {name}"),
            Type::Module(name) => write!(f, "module {name}"),
            Type::Error => f.write_str("{error}"),
        }
    }
}
