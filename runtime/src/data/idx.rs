//! IDX sources (the MNIST format), plain or gzip-compressed.
//!
//! Layout: two zero bytes, a type byte, the number of dimensions, each
//! dimension as a big-endian u32, then the values (big-endian). Records
//! are the first dimension; the program gives each record's shape.
//!
//! Sizes computed from the header are checked (`checked_mul`): a header
//! whose sizes overflow is an error, never a wrapped size that happens to
//! match the file.

use super::records::{Bytes, Records, Stored};
use super::{check_stored, check_value, number, DataError, FeedValues};
use dlp_compiler::program::Feed;
use std::borrow::Cow;
use std::io::Read as _;
use std::path::Path;
use std::sync::Arc;

/// The value type an IDX file stores (its third byte).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    U8,
    I8,
    I16,
    I32,
    F32,
    F64,
}

impl Kind {
    fn from_byte(b: u8) -> Option<Kind> {
        Some(match b {
            0x08 => Kind::U8,
            0x09 => Kind::I8,
            0x0B => Kind::I16,
            0x0C => Kind::I32,
            0x0D => Kind::F32,
            0x0E => Kind::F64,
            _ => return None,
        })
    }

    fn size(self) -> usize {
        match self {
            Kind::U8 | Kind::I8 => 1,
            Kind::I16 => 2,
            Kind::I32 | Kind::F32 => 4,
            Kind::F64 => 8,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::U8 => "u8",
            Kind::I8 => "i8",
            Kind::I16 => "i16",
            Kind::I32 => "i32",
            Kind::F32 => "f32",
            Kind::F64 => "f64",
        }
    }

    /// How a file stores it.
    fn stored(self) -> Stored {
        match self {
            Kind::U8 => Stored::U8,
            Kind::I8 => Stored::I8,
            Kind::I16 => Stored::I16,
            Kind::I32 => Stored::I32,
            Kind::F32 => Stored::F32,
            Kind::F64 => Stored::F64,
        }
    }
}

/// What the header says.
#[derive(Debug)]
struct Header {
    kind: Kind,
    dims: Vec<u32>,
    /// Its length in bytes: where the values start.
    len: usize,
}

impl Header {
    /// "3 × 28 × 28", as the header gives the dimensions.
    fn dims_text(&self) -> String {
        let dims: Vec<String> = self.dims.iter().map(u32::to_string).collect();
        dims.join(" × ")
    }

    /// Values per record and the bytes all records take, checked for
    /// overflow.
    fn sizes(&self) -> Result<(usize, usize), String> {
        let overflow = || {
            format!(
                "the header says {} {} values, which overflows: the header is damaged",
                self.dims_text(),
                self.kind.name()
            )
        };
        let product = |dims: &[u32]| {
            dims.iter().try_fold(1usize, |acc, &d| {
                usize::try_from(d).ok().and_then(|d| acc.checked_mul(d))
            })
        };
        let per_record = product(&self.dims[1..]).ok_or_else(overflow)?;
        let bytes = product(&self.dims)
            .and_then(|n| n.checked_mul(self.kind.size()))
            .ok_or_else(overflow)?;
        Ok((per_record, bytes))
    }
}

/// The records of the IDX file whose bytes are `bytes` (read whole, or
/// memory-mapped), kept as the file stores them (see [`Records`]).
pub fn read(file: &Path, bytes: Bytes, feed: &Feed) -> Result<FeedValues, DataError> {
    let err = |place, message| DataError::in_field(file, feed, place, message);
    let bytes: Bytes = match decompress((*bytes).as_ref()).map_err(|m| err(None, m))? {
        Cow::Owned(unpacked) => Arc::new(unpacked),
        Cow::Borrowed(_) => bytes.clone(),
    };
    let raw: &[u8] = (*bytes).as_ref();
    let header = parse_header(raw).map_err(|m| err(None, m))?;
    let (per_record, need) = header.sizes().map_err(|m| err(None, m))?;
    let records = header.dims[0] as usize;
    let wanted: usize = feed.shape.iter().product();
    if per_record != wanted {
        return Err(err(
            None,
            format!(
                "each record has {per_record} values ({:?}) but the program casts them to {:?}",
                &header.dims[1..],
                feed.shape
            ),
        ));
    }
    let body = &raw[header.len..];
    if body.len() < need {
        let whole = body.len() / per_record.saturating_mul(header.kind.size()).max(1);
        return Err(err(
            Some(format!("record {whole}")),
            format!(
                "truncated: {records} records of {per_record} {} values need {need} bytes after the header, the file has {}",
                header.kind.name(),
                body.len()
            ),
        ));
    }
    let at_record = |(record, m)| err(Some(format!("record {record}")), m);
    let stored = (header.kind.stored(), true);
    let values = Records::new(
        bytes.clone(),
        header.len,
        stored,
        records,
        &feed.shape,
        false,
    );
    if header.kind == Kind::U8 {
        // Only 256 values can occur, so each is checked once.
        check_bytes(&body[..need], per_record, feed).map_err(at_record)?;
    } else {
        for (record, v) in values.every_value() {
            check_stored(v, header.kind.name(), feed).map_err(|m| at_record((record, m)))?;
        }
    }
    Ok(FeedValues::records(values, feed.dtype, &feed.shape))
}

/// Checks `u8` values against the feed: each of the 256 values once, then
/// every byte against that table; an error names the first bad record.
pub(super) fn check_bytes(
    body: &[u8],
    per_record: usize,
    feed: &Feed,
) -> Result<(), (usize, String)> {
    match first_bad_byte(body, feed) {
        None => Ok(()),
        Some((i, message)) => Err((i / per_record.max(1), message)),
    }
}

/// The offset of the first byte that `feed` refuses, and why: each of the
/// 256 values is checked once, then every byte against that table.
pub(super) fn first_bad_byte(bytes: &[u8], feed: &Feed) -> Option<(usize, String)> {
    let verdicts: Vec<Result<f64, String>> = (0..=255u8)
        .map(|b| check_value(f64::from(b), &|| number(b), feed))
        .collect();
    let i = bytes
        .iter()
        .position(|&b| verdicts[usize::from(b)].is_err())?;
    let message = verdicts[usize::from(bytes[i])].clone().err()?;
    Some((i, message))
}

/// The file's bytes, decompressed when they start as gzip data does. Every
/// member of a multi-member gzip file (`cat a.gz b.gz`) is read.
pub(super) fn decompress(bytes: &[u8]) -> Result<Cow<'_, [u8]>, String> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(Cow::Borrowed(bytes));
    }
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_end(&mut out)
        .map_err(|e| format!("cannot decompress the gzip data: {e}"))?;
    Ok(Cow::Owned(out))
}

fn parse_header(bytes: &[u8]) -> Result<Header, String> {
    let [0, 0, kind, ndims, ..] = *bytes else {
        let got: Vec<String> = bytes.iter().take(4).map(|b| format!("{b:02x}")).collect();
        return Err(format!(
            "wrong magic number {}: an IDX file starts with 00 00 <type> <dims>",
            got.join(" ")
        ));
    };
    let kind = Kind::from_byte(kind).ok_or(format!("unknown IDX value type 0x{kind:02x}"))?;
    if ndims == 0 {
        return Err("the file declares 0 dimensions".into());
    }
    let len = 4 + 4 * usize::from(ndims);
    let Some(dims) = bytes.get(4..len) else {
        return Err(format!(
            "truncated: the header needs {len} bytes, the file has {}",
            bytes.len()
        ));
    };
    let dims = dims
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Ok(Header { kind, dims, len })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::Tensor;
    use dlp_compiler::ir::DType;
    use dlp_compiler::program::Read;
    use std::io::Write as _;

    fn feed(dtype: DType, shape: &[usize], classes: Option<usize>) -> Feed {
        Feed {
            name: "x".into(),
            field: "x".into(),
            read: Read::Idx {
                path: "x.idx".into(),
            },
            dtype,
            shape: shape.to_vec(),
            classes,
            range: None,
        }
    }

    fn idx(kind: u8, dims: &[u32], values: &[u8]) -> Vec<u8> {
        let mut out = vec![0, 0, kind, dims.len() as u8];
        for d in dims {
            out.extend(d.to_be_bytes());
        }
        out.extend(values);
        out
    }

    fn floats(values: &[f32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_be_bytes()).collect()
    }

    fn error(bytes: &[u8], feed: &Feed) -> String {
        read(Path::new("x.idx"), Arc::new(bytes.to_vec()), feed)
            .expect_err("an error")
            .to_string()
    }

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn nan_and_infinities_in_a_float_file_are_errors() {
        let f = feed(DType::F32, &[], None);
        for (bad, shown) in [
            (f32::NAN, "NaN"),
            (f32::INFINITY, "inf"),
            (f32::NEG_INFINITY, "-inf"),
        ] {
            let e = error(&idx(0x0D, &[2], &floats(&[1.0, bad])), &f);
            assert!(
                e.contains("record 1") && e.contains(&format!("{shown} is not a finite number")),
                "{e}"
            );
        }
    }

    #[test]
    fn an_f64_value_too_large_for_f32_is_an_error() {
        let e = error(
            &idx(0x0E, &[1], &1e39f64.to_be_bytes()),
            &feed(DType::F32, &[], None),
        );
        assert!(
            e.contains("record 0") && e.contains("1e39 does not fit in f32"),
            "{e}"
        );
    }

    #[test]
    fn integers_out_of_range_or_not_whole_are_errors() {
        let i = feed(DType::I32, &[], None);
        let e = error(&idx(0x0D, &[1], &floats(&[3e38])), &i);
        assert!(e.contains("3e38 is out of range"), "{e}");
        let e = error(&idx(0x0D, &[1], &floats(&[2.5])), &i);
        assert!(e.contains("2.5 is not a whole number"), "{e}");
        let e = error(&idx(0x0E, &[1], &(-2147483649f64).to_be_bytes()), &i);
        assert!(e.contains("-2147483649 is out of range"), "{e}");
        let ok = read(
            Path::new("x.idx"),
            Arc::new(idx(0x0E, &[1], &(-2147483648f64).to_be_bytes())),
            &i,
        );
        assert!(ok.is_ok(), "i32::MIN fits: {ok:?}");
    }

    #[test]
    fn an_overflowing_header_is_an_error_not_a_wrapped_size() {
        let e = error(
            &idx(0x08, &[u32::MAX, u32::MAX, u32::MAX], &[]),
            &feed(DType::I32, &[1], None),
        );
        assert!(
            e.contains("the header says 4294967295 × 4294967295 × 4294967295 u8 values")
                && e.contains("overflows"),
            "{e}"
        );
        // 4 × 11 × 2996173443 × 1119412321 is 4 modulo 2^64: wrapped, it
        // would be the 4 values per record the feed asks for.
        let e = error(
            &idx(0x08, &[1, 4, 11, 2996173443, 1119412321], &[0; 4]),
            &feed(DType::I32, &[4], None),
        );
        assert!(e.contains("overflows"), "{e}");
    }

    #[test]
    fn byte_files_stay_bytes_and_are_checked_against_the_feed() {
        // Labels: the first record out of `class(10)` is named.
        let labels = idx(0x08, &[4], &[3, 9, 12, 200]);
        assert_eq!(
            error(&labels, &feed(DType::I32, &[], Some(10))),
            "x.idx, record 2, field `x`: label 12 is not a class in 0..10 (`class(10)`)"
        );
        // Pixels: gathered in the feed's dtype.
        let pixels = idx(0x08, &[2, 2], &[0, 255, 7, 128]);
        let values = read(
            Path::new("x.idx"),
            Arc::new(pixels.to_vec()),
            &feed(DType::F32, &[2], None),
        )
        .unwrap();
        assert_eq!(
            values.gather(&[1, 0]),
            Tensor::f32(vec![2, 2], vec![7.0, 128.0, 0.0, 255.0])
        );
        // Bools: 0 and 1 only.
        let flags = idx(0x08, &[3], &[0, 1, 2]);
        assert!(error(&flags, &feed(DType::Bool, &[], None)).contains("record 2"));
    }

    #[test]
    fn every_member_of_a_multi_member_gzip_file_is_read() {
        let whole = idx(0x08, &[4], &[0, 1, 2, 3]);
        let mut two = gz(&whole[..6]);
        two.extend(gz(&whole[6..]));
        let t = read(
            Path::new("x.idx"),
            Arc::new(two.to_vec()),
            &feed(DType::I32, &[], None),
        )
        .unwrap();
        assert_eq!(t.shape, vec![4]);
    }
}
