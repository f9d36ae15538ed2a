//! Values left in a memory-mapped NPY file instead of read into memory.
//!
//! An `.npy` file larger than [`map_over`] bytes is mapped (see
//! `npy::map`): the system loads its pages as batches touch them and may
//! evict them again, so a file larger than memory trains. Loading still
//! reads it once, in order, to hash it for the run record and to check every
//! value as a read file's values are checked; after that, only the records
//! a batch takes are read, decoded into the feed's dtype as they are
//! gathered. Splits and shuffles keep lists of record numbers, never copies.

use crate::tensor::Data;
use dlp_compiler::ir::DType;
use memmap2::Mmap;
use std::fmt;
use std::sync::Arc;

/// The default of [`map_over`]: 64 MiB.
pub const MAP_OVER: u64 = 64 << 20;

/// NPY files larger than this many bytes are mapped rather than read:
/// `DLP_MAP_OVER` when set to a number, else [`MAP_OVER`].
pub fn map_over() -> u64 {
    std::env::var("DLP_MAP_OVER")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(MAP_OVER)
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

/// Where the values of a mapped array are, and which of its records these
/// are.
#[derive(Clone)]
pub struct Mapped {
    map: Arc<Mmap>,
    /// The offset of the first value in the file.
    start: usize,
    stored: Stored,
    big_endian: bool,
    /// Records in the file.
    records: usize,
    /// Values per record.
    width: usize,
    /// For a Fortran-order file, each value's offset (in values) from its
    /// record's first, in the C order the feed reads; `None`: C order.
    fortran: Option<Arc<[usize]>>,
    /// The file's records these are, in order; `None`: all of them.
    rows: Option<Arc<[usize]>>,
}

impl Mapped {
    /// The array of `records` records of `per_sample` values that starts
    /// at byte `start` of `map`; the caller has checked that the map holds
    /// it.
    pub fn new(
        map: Arc<Mmap>,
        start: usize,
        (stored, big_endian): (Stored, bool),
        records: usize,
        per_sample: &[usize],
        fortran: bool,
    ) -> Mapped {
        let width = per_sample.iter().product();
        Mapped {
            map,
            start,
            stored,
            big_endian,
            records,
            width,
            fortran: fortran.then(|| fortran_offsets(records, per_sample).into()),
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
        &self.map[self.start + from * size..self.start + to * size]
    }

    /// Every value of the file, in the file's order, with the record it
    /// belongs to (for checking them once, reading the file straight through).
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
    pub fn rows(&self, rows: &[usize]) -> Mapped {
        Mapped {
            rows: Some(rows.iter().map(|&r| self.record(r)).collect()),
            ..self.clone()
        }
    }

    /// Records `rows` of these, decoded into `dtype`.
    pub fn gather(&self, rows: &[usize], dtype: DType) -> Data {
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
                        let first = record * self.width;
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

    /// These records followed by `other`'s, when both are records of the
    /// same mapped file (else `None`).
    pub fn concat(&self, other: &Mapped) -> Option<Mapped> {
        if !self.same_file(other) {
            return None;
        }
        let rows = (0..self.len())
            .map(|r| self.record(r))
            .chain((0..other.len()).map(|r| other.record(r)))
            .collect();
        Some(Mapped {
            rows: Some(rows),
            ..self.clone()
        })
    }

    pub fn same_file(&self, other: &Mapped) -> bool {
        Arc::ptr_eq(&self.map, &other.map) && self.start == other.start
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

impl PartialEq for Mapped {
    fn eq(&self, other: &Mapped) -> bool {
        self.same_file(other)
            && self.len() == other.len()
            && (0..self.len()).all(|r| self.record(r) == other.record(r))
    }
}

impl fmt::Debug for Mapped {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "Mapped({} of {} records of {} {:?} values)",
            self.len(),
            self.records,
            self.width,
            self.stored
        )
    }
}
