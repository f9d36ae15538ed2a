//! NPY and NPZ sources (NumPy's formats): `npy("x.npy")` reads one array,
//! `npz("d.npz", "x")` the array `x` of an archive (`np.savez`, stored or
//! compressed). The first axis is the samples; the program casts the rest
//! of each (`as f32[28, 28]`), and that cast is checked against the header
//! here, when the file is read.
//!
//! Supported dtypes: `bool`, `u8`, `i8`, `u16`, `i16`, `u32`, `i32`, `u64`,
//! `i64`, `f32`, `f64`, either byte order, C or Fortran order. Every value
//! is checked as CSV and IDX values are (finite, in the range of what the
//! field reads it as, a class label in `0..n`). The values stay as the file
//! stores them, in the file read whole or memory-mapped ([`Records`]), and
//! are converted as batches gather them.

use super::idx::check_bytes;
use super::records::{Bytes, Records, Stored};
use super::{check_stored, DataError, FeedValues};
use dlp_compiler::program::Feed;
use npyz::{Endianness, NpyFile, Order, TypeChar, TypeStr};
use std::io::{Cursor, Read};
use std::path::Path;
use std::sync::Arc;

/// The feed's values from the NPY file, or NPZ archive, whose bytes are
/// `bytes` (read whole, or memory-mapped); `array` names the archive's
/// member. The values stay as the file stores them (see [`Records`]).
pub fn read(
    file: &Path,
    bytes: Bytes,
    array: Option<&str>,
    feed: &Feed,
) -> Result<FeedValues, DataError> {
    let err = |place, message| DataError::in_field(file, feed, place, message);
    let Some(name) = array else {
        return records(bytes, feed).map_err(|(place, m)| err(place, m));
    };
    let mut zip = zip::ZipArchive::new(Cursor::new((*bytes).as_ref()))
        .map_err(|e| err(None, format!("not an NPZ archive (a zip file): {e}")))?;
    let member = format!("{name}.npy");
    let names: Vec<String> = zip
        .file_names()
        .filter_map(|n| n.strip_suffix(".npy"))
        .map(|n| format!("`{n}`"))
        .collect();
    let entry = match zip.by_name(&member) {
        Ok(entry) => entry,
        Err(zip::result::ZipError::FileNotFound) => {
            return Err(err(
                None,
                format!(
                    "the archive has no array `{name}`; its arrays are {}",
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                ),
            ))
        }
        Err(e) => return Err(err(Some(format!("array `{name}`")), e.to_string())),
    };
    let at = || Some(format!("array `{name}`"));
    let mut inner = Vec::new();
    entry
        .take(MAX_MEMBER)
        .read_to_end(&mut inner)
        .map_err(|e| err(at(), format!("cannot read it from the archive: {e}")))?;
    records(Arc::new(inner), feed).map_err(|(place, m)| err(place.or_else(at), m))
}

/// The most bytes one archive member may unpack to (64 GiB): a damaged
/// or hostile archive that claims more is cut there, and then fails its
/// header's size check, instead of exhausting memory.
const MAX_MEMBER: u64 = 1 << 36;

fn not_npy(e: &std::io::Error) -> String {
    format!("not an NPY file: {e}")
}

/// The records of the NPY data `bytes`: the header checked against the
/// feed, then every value against the field (read once, straight through).
fn records(bytes: Bytes, feed: &Feed) -> Result<FeedValues, (Option<String>, String)> {
    let raw: &[u8] = (*bytes).as_ref();
    let (shape, ty, fortran) = {
        let npy = NpyFile::new(raw).map_err(|e| (None, not_npy(&e)))?;
        let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
        (shape, plain(npy.dtype())?, npy.order() == Order::Fortran)
    };
    let (records, per_record) = fit_cast(&shape, feed)?;
    let stores = type_name(ty.type_char(), ty.size_field());
    let stored = stored(&ty).ok_or_else(|| (None, unsupported(&stores)))?;
    let start = data_start(raw).ok_or((None, "not an NPY file: its header is damaged".into()))?;
    let needed = records
        .checked_mul(per_record)
        .and_then(|n| n.checked_mul(stored.size()));
    let follow = raw.len() - start;
    if needed.is_none_or(|n| n > follow) {
        return Err((
            None,
            format!("truncated or damaged: the header says {shape:?} {stores} values, but {follow} bytes follow it"),
        ));
    }
    let big_endian = ty.endianness() == Endianness::Big;
    let values = Records::new(
        bytes.clone(),
        start,
        (stored, big_endian),
        records,
        &shape[1..],
        fortran,
    );
    if stored == Stored::U8 && !fortran {
        // Only 256 values can occur, so each is checked once.
        let body = &raw[start..start + records * per_record];
        return match check_bytes(body, per_record, feed) {
            Ok(()) => Ok(FeedValues::records(values, feed.dtype, &feed.shape)),
            Err((record, m)) => Err((Some(format!("sample {record}")), m)),
        };
    }
    for (record, v) in values.every_value() {
        let checked = if stored == Stored::Bool && v > 1.0 {
            Err(format!("byte {v} is not a bool (0 or 1)"))
        } else {
            check_stored(v, &stores, feed).map(|_| ())
        };
        checked.map_err(|m| (Some(format!("sample {record}")), m))?;
    }
    Ok(FeedValues::records(values, feed.dtype, &feed.shape))
}

/// The records of an array of `shape`, and the values in each, which
/// must be as many as the field's cast holds.
fn fit_cast(shape: &[usize], feed: &Feed) -> Result<(usize, usize), (Option<String>, String)> {
    let Some((&records, per_sample)) = shape.split_first() else {
        return Err((
            None,
            "the array is 0-dimensional: its first axis must be the samples".into(),
        ));
    };
    let per_record = per_sample
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or((
            None,
            "the header's shape overflows: the header is damaged".to_string(),
        ))?;
    let wanted: usize = feed.shape.iter().product();
    if per_record != wanted {
        return Err((
            None,
            format!(
                "each sample has {per_record} values ({per_sample:?}) but the program casts them to {:?}",
                feed.shape
            ),
        ));
    }
    Ok((records, per_record))
}

/// The type of a plain (not structured) array's values.
fn plain(dtype: npyz::DType) -> Result<TypeStr, (Option<String>, String)> {
    match dtype {
        npyz::DType::Plain(ty) => Ok(ty),
        _ => Err((
            None,
            "structured arrays are not supported: save one plain array per field".into(),
        )),
    }
}

/// The offset of the first value of an NPY file: after the magic string,
/// the version, the header's length and the header.
fn data_start(bytes: &[u8]) -> Option<usize> {
    if !bytes.starts_with(b"\x93NUMPY") {
        return None;
    }
    let start = match *bytes.get(6)? {
        1 => 10 + usize::from(u16::from_le_bytes([*bytes.get(8)?, *bytes.get(9)?])),
        2 | 3 => {
            let len = u32::from_le_bytes(bytes.get(8..12)?.try_into().ok()?);
            12 + usize::try_from(len).ok()?
        }
        _ => return None,
    };
    (start <= bytes.len()).then_some(start)
}

/// How the file stores values of type `ty`, if it is one dlp reads.
fn stored(ty: &TypeStr) -> Option<Stored> {
    Some(match (ty.type_char(), ty.size_field()) {
        (TypeChar::Bool, 1) => Stored::Bool,
        (TypeChar::Int, 1) => Stored::I8,
        (TypeChar::Uint, 1) => Stored::U8,
        (TypeChar::Int, 2) => Stored::I16,
        (TypeChar::Uint, 2) => Stored::U16,
        (TypeChar::Int, 4) => Stored::I32,
        (TypeChar::Uint, 4) => Stored::U32,
        (TypeChar::Int, 8) => Stored::I64,
        (TypeChar::Uint, 8) => Stored::U64,
        (TypeChar::Float, 4) => Stored::F32,
        (TypeChar::Float, 8) => Stored::F64,
        _ => return None,
    })
}

fn unsupported(stores: &str) -> String {
    format!("arrays of {stores} values are not supported: save bool, integers, f32 or f64 (`x.astype(np.float32)`)")
}

/// `f32`, `i64`, `u8`, `bool` for messages.
fn type_name(c: TypeChar, size: u64) -> String {
    match c {
        TypeChar::Bool => "bool".into(),
        TypeChar::Int => format!("i{}", size * 8),
        TypeChar::Uint => format!("u{}", size * 8),
        TypeChar::Float => format!("f{}", size * 8),
        other => format!("{other:?} ({size}-byte)").to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::Tensor;
    use dlp_compiler::ir::DType;
    use dlp_compiler::program::Read;
    use npyz::WriterBuilder;

    fn feed(dtype: DType, shape: &[usize], classes: Option<usize>) -> Feed {
        Feed {
            name: "x".into(),
            field: "x".into(),
            read: Read::Npy {
                path: "x.npy".into(),
                array: None,
            },
            dtype,
            shape: shape.to_vec(),
            classes,
            range: None,
        }
    }

    fn npy<T: npyz::AutoSerialize>(shape: &[u64], values: Vec<T>, order: Order) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = npyz::WriteOptions::new()
            .default_dtype()
            .shape(shape)
            .order(order)
            .writer(&mut out)
            .begin_nd()
            .unwrap();
        w.extend(values).unwrap();
        w.finish().unwrap();
        out
    }

    fn read_npy(bytes: &[u8], feed: &Feed) -> Result<FeedValues, String> {
        read(Path::new("x.npy"), Arc::new(bytes.to_vec()), None, feed).map_err(|e| e.to_string())
    }

    #[test]
    fn reads_every_dtype_into_the_feeds_dtype() {
        let f = feed(DType::F32, &[2], None);
        let floats = npy(&[2, 2], vec![1.5f64, -2.0, 0.25, 4.0], Order::C);
        let v = read_npy(&floats, &f).unwrap();
        assert_eq!(
            v.gather(&[1, 0]),
            Tensor::f32(vec![2, 2], vec![0.25, 4.0, 1.5, -2.0])
        );
        let ints = npy(&[2, 2], vec![1i64, 2, 3, 4], Order::C);
        let i = feed(DType::I32, &[2], None);
        assert_eq!(
            read_npy(&ints, &i).unwrap().gather(&[0, 1]).to_f64(),
            vec![1.0, 2.0, 3.0, 4.0]
        );
        let bytes = npy(&[3], vec![0u8, 2, 1], Order::C);
        let labels = read_npy(&bytes, &feed(DType::I32, &[], Some(3))).unwrap();
        assert_eq!(labels.gather(&[2, 1, 0]).to_f64(), vec![1.0, 2.0, 0.0]);
        let flags = npy(&[2], vec![true, false], Order::C);
        assert_eq!(
            read_npy(&flags, &feed(DType::F32, &[], None))
                .unwrap()
                .gather(&[0, 1])
                .to_f64(),
            vec![1.0, 0.0]
        );
    }

    #[test]
    fn fortran_order_is_read_in_c_order() {
        // [[1, 2, 3], [4, 5, 6]] stored column by column.
        let f = npy(
            &[2, 3],
            vec![1.0f32, 4.0, 2.0, 5.0, 3.0, 6.0],
            Order::Fortran,
        );
        let v = read_npy(&f, &feed(DType::F32, &[3], None)).unwrap();
        assert_eq!(
            v.gather(&[0, 1]).to_f64(),
            vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
        );
    }

    #[test]
    fn the_header_must_fit_the_cast_and_the_values_the_field() {
        let f = npy(&[2, 3], vec![1.0f32; 6], Order::C);
        let e = read_npy(&f, &feed(DType::F32, &[2, 2], None)).unwrap_err();
        assert_eq!(
            e,
            "x.npy, field `x`: each sample has 3 values ([3]) but the program casts them to [2, 2]"
        );
        let nan = npy(&[2], vec![1.0f32, f32::NAN], Order::C);
        let e = read_npy(&nan, &feed(DType::F32, &[], None)).unwrap_err();
        assert_eq!(
            e,
            "x.npy, sample 1, field `x`: NaN is not a finite number (the file stores f32 values)"
        );
        let labels = npy(&[2], vec![1i32, 7], Order::C);
        let e = read_npy(&labels, &feed(DType::I32, &[], Some(3))).unwrap_err();
        assert!(
            e.starts_with("x.npy, sample 1, field `x`: label 7 is not a class in 0..3"),
            "{e}"
        );
        let scalar = npy(&[], vec![1.0f32], Order::C);
        assert!(read_npy(&scalar, &feed(DType::F32, &[], None))
            .unwrap_err()
            .contains("0-dimensional"));
    }

    #[test]
    fn damaged_files_are_errors_that_name_the_file() {
        let good = npy(&[4, 2], vec![1.0f64; 8], Order::C);
        let e = read_npy(&good[..good.len() - 5], &feed(DType::F32, &[2], None)).unwrap_err();
        assert!(
            e.starts_with(
                "x.npy, field `x`: truncated or damaged: the header says [4, 2] f64 values"
            ),
            "{e}"
        );
        let e = read_npy(b"PK\x03\x04 not numpy", &feed(DType::F32, &[], None)).unwrap_err();
        assert!(e.starts_with("x.npy, field `x`: not an NPY file"), "{e}");
        // A u16 file relabelled as f16 (the same size).
        let mut f16 = npy(&[2], vec![0u16, 0], Order::C);
        let at = f16.windows(3).position(|w| w == b"<u2").unwrap();
        f16[at..at + 3].copy_from_slice(b"<f2");
        let e = read_npy(&f16, &feed(DType::F32, &[], None)).unwrap_err();
        assert!(e.contains("arrays of f16 values are not supported"), "{e}");
    }

    #[test]
    fn npz_members_are_found_by_name() {
        let mut archive = Cursor::new(Vec::new());
        {
            let mut zip = zip::ZipWriter::new(&mut archive);
            let options = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated);
            for (name, values) in [("x", vec![1.0f32, 2.0]), ("y", vec![3.0f32, 4.0])] {
                zip.start_file(format!("{name}.npy"), options).unwrap();
                std::io::Write::write_all(&mut zip, &npy(&[2], values, Order::C)).unwrap();
            }
            zip.finish().unwrap();
        }
        let bytes = archive.into_inner();
        let f = feed(DType::F32, &[], None);
        let y = read(Path::new("d.npz"), Arc::new(bytes.clone()), Some("y"), &f).unwrap();
        assert_eq!(y.gather(&[0, 1]).to_f64(), vec![3.0, 4.0]);
        let e = read(Path::new("d.npz"), Arc::new(bytes.clone()), Some("z"), &f)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "d.npz, field `x`: the archive has no array `z`; its arrays are `x`, `y`"
        );
        let e = read(
            Path::new("d.npz"),
            Arc::new(bytes[..bytes.len() - 30].to_vec()),
            Some("x"),
            &f,
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("d.npz, field `x`: not an NPZ archive"), "{e}");
    }
}
