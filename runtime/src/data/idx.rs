//! IDX sources (the MNIST format), plain or gzip-compressed.
//!
//! Layout: two zero bytes, a type byte, the number of dimensions, each
//! dimension as a big-endian u32, then the values (big-endian). Records
//! are the first dimension; the program gives each record's shape.

use super::{check_value, DataError};
use crate::tensor::HostTy;
use crate::tensor::Tensor;
use dlp_compiler::program::Feed;
use std::io::Read as _;
use std::path::Path;

pub fn read(file: &Path, bytes: &[u8], feed: &Feed) -> Result<Tensor, DataError> {
    let err = |place: Option<String>, message: String| DataError {
        file: file.to_path_buf(),
        place,
        field: Some(format!("field `{}`", feed.field)),
        message,
    };
    let unzipped;
    let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .map_err(|e| err(None, format!("cannot decompress the gzip data: {e}")))?;
        unzipped = out;
        &unzipped[..]
    } else {
        bytes
    };
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 {
        let got: Vec<String> = bytes.iter().take(4).map(|b| format!("{b:02x}")).collect();
        return Err(err(
            None,
            format!(
                "wrong magic number {}: an IDX file starts with 00 00 <type> <dims>",
                got.join(" ")
            ),
        ));
    }
    let (size, kind) = match bytes[2] {
        0x08 => (1, "u8"),
        0x09 => (1, "i8"),
        0x0B => (2, "i16"),
        0x0C => (4, "i32"),
        0x0D => (4, "f32"),
        0x0E => (8, "f64"),
        t => return Err(err(None, format!("unknown IDX value type 0x{t:02x}"))),
    };
    let ndims = bytes[3] as usize;
    if ndims == 0 {
        return Err(err(None, "the file declares 0 dimensions".into()));
    }
    let header = 4 + 4 * ndims;
    if bytes.len() < header {
        return Err(err(
            None,
            format!(
                "truncated: the header needs {header} bytes, the file has {}",
                bytes.len()
            ),
        ));
    }
    let dims: Vec<usize> = (0..ndims)
        .map(|i| {
            let b = &bytes[4 + 4 * i..8 + 4 * i];
            u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
        })
        .collect();
    let records = dims[0];
    let per_record: usize = dims[1..].iter().product();
    let wanted: usize = feed.shape.iter().product();
    if per_record != wanted {
        return Err(err(
            None,
            format!(
                "each record has {per_record} values ({:?}) but the program casts them to {:?}",
                &dims[1..],
                feed.shape
            ),
        ));
    }
    let body = &bytes[header..];
    let need = records * per_record * size;
    if body.len() < need {
        let whole = body.len() / (per_record * size).max(1);
        return Err(err(
            Some(format!("record {whole}")),
            format!("truncated: {records} records of {per_record} {kind} values need {need} bytes after the header, the file has {}", body.len()),
        ));
    }
    let mut values = Vec::with_capacity(records * per_record);
    for (i, c) in body[..need].chunks_exact(size).enumerate() {
        let v = match kind {
            "u8" => c[0] as f64,
            "i8" => c[0] as i8 as f64,
            "i16" => i16::from_be_bytes([c[0], c[1]]) as f64,
            "i32" => i32::from_be_bytes([c[0], c[1], c[2], c[3]]) as f64,
            "f32" => f32::from_be_bytes([c[0], c[1], c[2], c[3]]) as f64,
            _ => f64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]),
        };
        let v = check_value(v, feed)
            .map_err(|m| err(Some(format!("record {}", i / per_record.max(1))), m))?;
        values.push(v);
    }
    let mut shape = vec![records];
    shape.extend(&feed.shape);
    Ok(Tensor::from_f64(&HostTy::new(feed.dtype, shape), values))
}
