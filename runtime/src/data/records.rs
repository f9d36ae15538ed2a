//! Values kept as a file stores them, and decoded into the feed's dtype
//! only when a batch gathers them: in the file read whole, in a
//! memory-mapped file, or in bytes in memory (a text's tokens, which every
//! window reads).
//!
//! An NPY, uncompressed IDX or byte-level text file larger than
//! [`map_over`] bytes is mapped (see `data::read`): the system loads its
//! pages as batches touch them and may evict them again, so a file larger
//! than memory trains. Loading reads it twice, straight through: once to
//! hash it for the run record, once to check every value as a read file's
//! values are checked. Splits and shuffles keep lists of record numbers,
//! never copies; the windows of a text are records that overlap (one starts
//! every `stride` tokens), so its tokens are kept once, whatever the stride.

use super::DataError;
use crate::tensor::Data;
use dlp_compiler::ir::DType;
use memmap2::Mmap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// Bytes a [`Records`] reads: a memory map, or a vector.
pub type Bytes = Arc<dyn AsRef<[u8]> + Send + Sync>;

/// The default of [`map_over`]: 64 MiB.
pub const MAP_OVER: u64 = 64 << 20;

/// Files larger than this many bytes are mapped rather than read:
/// `DLP_MAP_OVER` when set to a number, else [`MAP_OVER`].
pub fn map_over() -> u64 {
    std::env::var("DLP_MAP_OVER")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(MAP_OVER)
}

/// The file `file`, memory-mapped.
pub fn map_file(file: &Path) -> Result<Arc<Mmap>, DataError> {
    let opened = std::fs::File::open(file)
        .map_err(|e| DataError::new(file, format!("cannot read the file: {e}")))?;
    // SAFETY: the map is only ever read. A file truncated by another
    // process while the run reads it would fault; the datasets reference
    // says not to change a data file while a run reads it.
    let map = unsafe { Mmap::map(&opened) }
        .map_err(|e| DataError::new(file, format!("cannot map the file into memory: {e}")))?;
    Ok(Arc::new(map))
}

/// How the file stores one value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stored {
    Bool,
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    F32,
    F64,
}

impl Stored {
    pub fn size(self) -> usize {
        match self {
            Stored::Bool | Stored::I8 | Stored::U8 => 1,
            Stored::I16 | Stored::U16 => 2,
            Stored::I32 | Stored::U32 | Stored::F32 => 4,
            Stored::I64 | Stored::U64 | Stored::F64 => 8,
        }
    }

    /// The values stored in `bytes`, one after the other.
    fn decode(self, bytes: &[u8], big_endian: bool) -> Box<dyn Iterator<Item = f64> + '_> {
        macro_rules! each {
            ($t:ty, $n:expr) => {
                Box::new(bytes.chunks_exact($n).map(move |c| {
                    let b: [u8; $n] = c.try_into().expect("chunks of the type's size");
                    let v = if big_endian {
                        <$t>::from_be_bytes(b)
                    } else {
                        <$t>::from_le_bytes(b)
                    };
                    v as f64
                }))
            };
        }
        match self {
            Stored::Bool | Stored::U8 => Box::new(bytes.iter().map(|&b| f64::from(b))),
            Stored::I8 => Box::new(bytes.iter().map(|&b| f64::from(b as i8))),
            Stored::I16 => each!(i16, 2),
            Stored::U16 => each!(u16, 2),
            Stored::I32 => each!(i32, 4),
            Stored::U32 => each!(u32, 4),
            Stored::F32 => each!(f32, 4),
            Stored::I64 => each!(i64, 8),
            Stored::U64 => each!(u64, 8),
            Stored::F64 => each!(f64, 8),
        }
    }
}

/// Where the values of an array of records are, and which of its records
/// these are.
#[derive(Clone)]
pub struct Records {
    bytes: Bytes,
    /// The offset of the first value in the bytes.
    start: usize,
    stored: Stored,
    big_endian: bool,
    /// Records in the file.
    records: usize,
    /// Values per record.
    width: usize,
    /// Values from one record's start to the next's (`width`, except for
    /// the overlapping windows of a text).
    step: usize,
    /// For a Fortran-order file, each value's offset (in values) from its
    /// record's first, in the C order the feed reads; `None`: C order.
    fortran: Option<Arc<[usize]>>,
    /// The file's records these are, in order; `None`: all of them.
    rows: Option<Arc<[usize]>>,
}

impl Records {
    /// The array of `records` records of `per_sample` values that starts
    /// at byte `start` of `bytes`; the caller has checked that they hold it.
    pub fn new(
        bytes: Bytes,
        start: usize,
        (stored, big_endian): (Stored, bool),
        records: usize,
        per_sample: &[usize],
        fortran: bool,
    ) -> Records {
        let width = per_sample.iter().product();
        Records {
            bytes,
            start,
            stored,
            big_endian,
            records,
            width,
            step: width,
            fortran: fortran.then(|| fortran_offsets(records, per_sample).into()),
            rows: None,
        }
    }

    /// The windows of `width` values of the stream of `stored` values that
    /// `bytes` holds, one starting every `step` values: as many as fit whole.
    pub fn windows(bytes: Bytes, stored: Stored, width: usize, step: usize) -> Records {
        let values = (*bytes).as_ref().len() / stored.size();
        let step = step.max(1);
        let records = match values.checked_sub(width) {
            Some(rest) => rest / step + 1,
            None => 0,
        };
        Records {
            bytes,
            start: 0,
            stored,
            big_endian: false,
            records,
            width,
            step,
            fortran: None,
            rows: None,
        }
    }

    /// The number of records these are.
    pub fn len(&self) -> usize {
        self.rows.as_ref().map_or(self.records, |r| r.len())
    }

    /// The bytes of the values at offsets `from..to` (in values) of the array.
    fn bytes(&self, from: usize, to: usize) -> &[u8] {
        let size = self.stored.size();
        &(*self.bytes).as_ref()[self.start + from * size..self.start + to * size]
    }

    /// Every value of the array, in the file's order, with the record it
    /// belongs to (for checking them once, reading the file straight
    /// through); not for overlapping windows.
    pub fn every_value(&self) -> impl Iterator<Item = (usize, f64)> + '_ {
        let all = self.bytes(0, self.records * self.width);
        let fortran = self.fortran.is_some();
        let (records, width) = (self.records.max(1), self.width.max(1));
        self.stored
            .decode(all, self.big_endian)
            .enumerate()
            .map(move |(at, v)| (if fortran { at % records } else { at / width }, v))
    }

    /// The file's record number of record `r` of these.
    fn record(&self, r: usize) -> usize {
        self.rows.as_ref().map_or(r, |rows| rows[r])
    }

    /// Records `rows` of these, in that order: a list of record numbers.
    pub fn rows(&self, rows: &[usize]) -> Records {
        Records {
            rows: Some(rows.iter().map(|&r| self.record(r)).collect()),
            ..self.clone()
        }
    }

    /// Records `rows` of these, decoded into `dtype`.
    pub fn gather(&self, rows: &[usize], dtype: DType) -> Data {
        if self.stored == Stored::U8 && self.fortran.is_none() {
            return self.gather_bytes(rows, dtype);
        }
        let values = rows
            .iter()
            .flat_map(|&r| -> Box<dyn Iterator<Item = f64> + '_> {
                let record = self.record(r);
                match &self.fortran {
                    // A record's values are `records` apart: one at a time.
                    Some(offsets) => Box::new(offsets.iter().map(move |&o| {
                        let at = record + o;
                        self.stored
                            .decode(self.bytes(at, at + 1), self.big_endian)
                            .next()
                            .expect("one value")
                    })),
                    None => {
                        let first = record * self.step;
                        let bytes = self.bytes(first, first + self.width);
                        self.stored.decode(bytes, self.big_endian)
                    }
                }
            });
        // Checked when the file was opened: each fits `dtype`.
        match dtype {
            DType::F32 => Data::F32(values.map(|v| v as f32).collect()),
            DType::F64 => Data::F64(values.collect()),
            DType::I32 => Data::I32(values.map(|v| v as i32).collect()),
            DType::Bool => Data::Bool(values.map(|v| v != 0.0).collect()),
        }
    }

    /// [`Records::gather`] of bytes in C order (images, labels, text), the
    /// common case, without decoding through `f64`.
    fn gather_bytes(&self, rows: &[usize], dtype: DType) -> Data {
        let bytes = rows.iter().flat_map(|&r| {
            let first = self.record(r) * self.step;
            self.bytes(first, first + self.width)
        });
        match dtype {
            DType::F32 => Data::F32(bytes.map(|&v| f32::from(v)).collect()),
            DType::F64 => Data::F64(bytes.map(|&v| f64::from(v)).collect()),
            DType::I32 => Data::I32(bytes.map(|&v| i32::from(v)).collect()),
            DType::Bool => Data::Bool(bytes.map(|&v| v != 0).collect()),
        }
    }
}

/// Each value's offset from its record's first in a Fortran-order array
/// of `records` records (the first axis fastest), in C order of the
/// per-sample axes.
fn fortran_offsets(records: usize, per_sample: &[usize]) -> Vec<usize> {
    // Axis m of a sample advances `records * d_0 * ... * d_(m-1)` values.
    let mut strides = Vec::with_capacity(per_sample.len());
    let mut stride = records;
    for &d in per_sample {
        strides.push(stride);
        stride *= d;
    }
    let width: usize = per_sample.iter().product();
    let mut offsets = Vec::with_capacity(width);
    let mut index = vec![0usize; per_sample.len()];
    for _ in 0..width {
        offsets.push(index.iter().zip(&strides).map(|(i, s)| i * s).sum());
        // The next index in C order: the last axis fastest.
        for (i, &d) in index.iter_mut().zip(per_sample).rev() {
            *i += 1;
            if *i < d {
                break;
            }
            *i = 0;
        }
    }
    offsets
}

/// Equal when they hold the same values (in the same order).
impl PartialEq for Records {
    fn eq(&self, other: &Records) -> bool {
        let all: Vec<usize> = (0..self.len()).collect();
        self.len() == other.len()
            && self.width == other.width
            && self.gather(&all, DType::F64) == other.gather(&all, DType::F64)
    }
}

impl fmt::Debug for Records {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "Records({} of {} records of {} {:?} values)",
            self.len(),
            self.records,
            self.width,
            self.stored
        )
    }
}
