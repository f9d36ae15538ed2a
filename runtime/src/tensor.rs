//! Host tensors: a shape and row-major data of one element type.

use dlp_compiler::ir::DType;

/// A concrete type: a dtype and a shape of numbers (the batch fixed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostTy {
    pub dtype: DType,
    pub shape: Vec<usize>,
}

impl HostTy {
    pub fn new(dtype: DType, shape: Vec<usize>) -> HostTy {
        HostTy { dtype, shape }
    }

    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

impl std::fmt::Display for HostTy {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let dims: Vec<String> = self.shape.iter().map(|d| d.to_string()).collect();
        write!(f, "{}[{}]", self.dtype, dims.join(", "))
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    F32(Vec<f32>),
    F64(Vec<f64>),
    I32(Vec<i32>),
    Bool(Vec<bool>),
}

impl Data {
    /// The elements at `index`, in that order.
    pub fn pick(&self, index: impl IntoIterator<Item = usize>) -> Data {
        let index = index.into_iter();
        match self {
            Data::F32(v) => Data::F32(index.map(|i| v[i]).collect()),
            Data::F64(v) => Data::F64(index.map(|i| v[i]).collect()),
            Data::I32(v) => Data::I32(index.map(|i| v[i]).collect()),
            Data::Bool(v) => Data::Bool(index.map(|i| v[i]).collect()),
        }
    }

    /// The elements of every part, one part after the other. The parts
    /// have one element type (the first part's); `None` if they differ.
    pub fn concat(parts: &[&Data]) -> Option<Data> {
        macro_rules! join {
            ($variant:ident) => {{
                let mut out = Vec::new();
                for part in parts {
                    let Data::$variant(v) = part else { return None };
                    out.extend_from_slice(v);
                }
                Data::$variant(out)
            }};
        }
        Some(match parts.first()? {
            Data::F32(_) => join!(F32),
            Data::F64(_) => join!(F64),
            Data::I32(_) => join!(I32),
            Data::Bool(_) => join!(Bool),
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Data,
}

impl Tensor {
    pub fn new(shape: Vec<usize>, data: Data) -> Tensor {
        Tensor { shape, data }
    }

    pub fn f32(shape: Vec<usize>, values: Vec<f32>) -> Tensor {
        Tensor::new(shape, Data::F32(values))
    }

    pub fn f64(shape: Vec<usize>, values: Vec<f64>) -> Tensor {
        Tensor::new(shape, Data::F64(values))
    }

    pub fn i32(shape: Vec<usize>, values: Vec<i32>) -> Tensor {
        Tensor::new(shape, Data::I32(values))
    }

    pub fn scalar_f32(v: f32) -> Tensor {
        Tensor::f32(Vec::new(), vec![v])
    }

    pub fn scalar_i32(v: i32) -> Tensor {
        Tensor::i32(Vec::new(), vec![v])
    }

    /// Zeros (false) of a type.
    pub fn zeros(ty: &HostTy) -> Tensor {
        Tensor::from_f64(ty, vec![0.0; ty.numel()])
    }

    /// Values given as f64, stored in `ty`'s dtype.
    pub fn from_f64(ty: &HostTy, values: Vec<f64>) -> Tensor {
        let data = match ty.dtype {
            DType::F32 => Data::F32(values.iter().map(|&v| v as f32).collect()),
            DType::F64 => Data::F64(values),
            DType::I32 => Data::I32(values.iter().map(|&v| v as i32).collect()),
            DType::Bool => Data::Bool(values.iter().map(|&v| v != 0.0).collect()),
        };
        Tensor::new(ty.shape.clone(), data)
    }

    pub fn dtype(&self) -> DType {
        match self.data {
            Data::F32(_) => DType::F32,
            Data::F64(_) => DType::F64,
            Data::I32(_) => DType::I32,
            Data::Bool(_) => DType::Bool,
        }
    }

    pub fn ty(&self) -> HostTy {
        HostTy::new(self.dtype(), self.shape.clone())
    }

    pub fn len(&self) -> usize {
        match &self.data {
            Data::F32(v) => v.len(),
            Data::F64(v) => v.len(),
            Data::I32(v) => v.len(),
            Data::Bool(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every element as f64.
    pub fn to_f64(&self) -> Vec<f64> {
        match &self.data {
            Data::F32(v) => v.iter().map(|&x| x as f64).collect(),
            Data::F64(v) => v.clone(),
            Data::I32(v) => v.iter().map(|&x| x as f64).collect(),
            Data::Bool(v) => v.iter().map(|&x| f64::from(u8::from(x))).collect(),
        }
    }

    /// The one element of a scalar (or the first element; NaN for an
    /// empty tensor).
    pub fn item(&self) -> f64 {
        match &self.data {
            Data::F32(v) => v.first().map(|&x| f64::from(x)),
            Data::F64(v) => v.first().copied(),
            Data::I32(v) => v.first().map(|&x| f64::from(x)),
            Data::Bool(v) => v.first().map(|&x| f64::from(u8::from(x))),
        }
        .unwrap_or(f64::NAN)
    }

    /// The values as little-endian bytes (bools as one byte each), as
    /// safetensors and ONNX store them.
    pub fn to_le_bytes(&self) -> Vec<u8> {
        match &self.data {
            Data::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Data::F64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Data::I32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Data::Bool(v) => v.iter().map(|&x| u8::from(x)).collect(),
        }
    }

    pub fn as_f32(&self) -> Option<&[f32]> {
        match &self.data {
            Data::F32(v) => Some(v),
            _ => None,
        }
    }
}
