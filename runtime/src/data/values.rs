//! One feed's values for every sample, stored as compactly as they allow.
//!
//! Values read from files are kept as the files store them ([`Records`]:
//! Fashion-MNIST's training images, bytes, take 47 MB where the feed's
//! dtype, `i32`, would take 188 MB; a file too large to read stays mapped;
//! a text's tokens are kept once for all its overlapping windows). An image
//! folder's pixels and labels are kept one byte per value; anything else
//! (CSV columns) in the feed's dtype. A batch is gathered into a tensor of
//! the feed's dtype, whatever the storage.

use super::records::Records;
use crate::tensor::{Data, Tensor};
use dlp_compiler::ir::DType;

/// Values of `shape` (`[samples, ..per-sample shape]`), read as `dtype`.
#[derive(Clone, Debug, PartialEq)]
pub struct FeedValues {
    pub shape: Vec<usize>,
    pub dtype: DType,
    values: Storage,
}

#[derive(Clone, Debug, PartialEq)]
enum Storage {
    /// One byte per value, each the value itself (already checked
    /// against the feed).
    Bytes(Vec<u8>),
    /// In the feed's dtype.
    Data(Data),
    /// As a file stores them, in a memory map or in memory.
    Records(Records),
}

impl FeedValues {
    /// Values stored as bytes, read as `dtype`.
    pub fn bytes(shape: Vec<usize>, dtype: DType, bytes: Vec<u8>) -> FeedValues {
        FeedValues {
            shape,
            dtype,
            values: Storage::Bytes(bytes),
        }
    }

    /// Records as a file stores them, read as `dtype` with per-sample
    /// shape `per_sample`.
    pub(super) fn records(records: Records, dtype: DType, per_sample: &[usize]) -> FeedValues {
        let mut shape = vec![records.len()];
        shape.extend(per_sample);
        FeedValues {
            shape,
            dtype,
            values: Storage::Records(records),
        }
    }

    pub fn tensor(t: Tensor) -> FeedValues {
        FeedValues {
            dtype: t.dtype(),
            shape: t.shape,
            values: Storage::Data(t.data),
        }
    }

    /// The number of samples.
    pub fn samples(&self) -> usize {
        self.shape.first().copied().unwrap_or(0)
    }

    /// Values per sample.
    fn width(&self) -> usize {
        self.shape[1..].iter().product()
    }

    fn shape_for(&self, samples: usize) -> Vec<usize> {
        let mut shape = self.shape.clone();
        shape[0] = samples;
        shape
    }

    /// The samples `rows`, in that order, stored the same way.
    pub fn rows(&self, rows: &[usize]) -> FeedValues {
        let width = self.width();
        let index = rows.iter().flat_map(|&r| r * width..(r + 1) * width);
        FeedValues {
            shape: self.shape_for(rows.len()),
            dtype: self.dtype,
            values: match &self.values {
                Storage::Bytes(b) => Storage::Bytes(index.map(|i| b[i]).collect()),
                Storage::Data(d) => Storage::Data(d.pick(index)),
                Storage::Records(r) => Storage::Records(r.rows(rows)),
            },
        }
    }

    /// The samples `rows`, in that order, as a tensor of the feed's dtype.
    pub fn gather(&self, rows: &[usize]) -> Tensor {
        let width = self.width();
        let data = match &self.values {
            Storage::Data(d) => d.pick(rows.iter().flat_map(|&r| r * width..(r + 1) * width)),
            Storage::Records(r) => r.gather(rows, self.dtype),
            Storage::Bytes(b) => {
                let bytes = rows.iter().flat_map(|&r| &b[r * width..(r + 1) * width]);
                match self.dtype {
                    DType::F32 => Data::F32(bytes.map(|&v| f32::from(v)).collect()),
                    DType::F64 => Data::F64(bytes.map(|&v| f64::from(v)).collect()),
                    DType::I32 => Data::I32(bytes.map(|&v| i32::from(v)).collect()),
                    DType::Bool => Data::Bool(bytes.map(|&v| v != 0).collect()),
                }
            }
        };
        Tensor::new(self.shape_for(rows.len()), data)
    }

    /// Every sample, as a tensor of the feed's dtype.
    pub fn to_tensor(&self) -> Tensor {
        let all: Vec<usize> = (0..self.samples()).collect();
        self.gather(&all)
    }

    /// The samples of every part, one part after the other; `None` when
    /// their dtypes differ (they come from one dataset, so they do not).
    /// Bytes stay bytes; anything else is gathered into the feed's dtype
    /// (the parts of a dataset with a source per split).
    pub fn concat(parts: &[&FeedValues]) -> Option<FeedValues> {
        let first = parts.first()?;
        let samples = parts.iter().map(|p| p.samples()).sum();
        let bytes: Option<Vec<&[u8]>> = parts
            .iter()
            .map(|p| match &p.values {
                Storage::Bytes(b) => Some(&b[..]),
                _ => None,
            })
            .collect();
        let values = match bytes {
            Some(bytes) => Storage::Bytes(bytes.concat()),
            None => {
                let tensors: Vec<Tensor> = parts.iter().map(|p| p.to_tensor()).collect();
                let pieces: Vec<&Data> = tensors.iter().map(|t| &t.data).collect();
                Storage::Data(Data::concat(&pieces)?)
            }
        };
        Some(FeedValues {
            shape: first.shape_for(samples),
            dtype: first.dtype,
            values,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_and_tensors_gather_the_same_batch() {
        let values: Vec<u8> = (0..12).map(|v| v * 20).collect();
        let bytes = FeedValues::bytes(vec![4, 3], DType::I32, values.clone());
        let tensor = FeedValues::tensor(Tensor::i32(
            vec![4, 3],
            values.iter().map(|&v| i32::from(v)).collect(),
        ));
        let rows = [3, 0, 3];
        assert_eq!(bytes.gather(&rows), tensor.gather(&rows));
        assert_eq!(bytes.rows(&rows).to_tensor(), tensor.gather(&rows));
        let both = FeedValues::concat(&[&bytes, &bytes.rows(&[1])]).expect("alike");
        assert_eq!(both.shape, [5, 3]);
        assert_eq!(both.gather(&[4]), tensor.gather(&[1]));
    }
}
