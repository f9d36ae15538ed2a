//! CSV sources: one sample per row, columns by header name or index.

use super::{check_value, number, quote, DataError, FeedValues, Samples};
use crate::tensor::HostTy;
use crate::tensor::Tensor;
use dlp_compiler::ir::DType;
use dlp_compiler::program::{Column, Feed, Read};
use std::path::Path;

/// Reads the columns every feed asks for.
pub fn read(
    file: &Path,
    bytes: &[u8],
    header: bool,
    delimiter: char,
    feeds: &[&Feed],
) -> Result<Samples, DataError> {
    let err = |place: Option<String>, field: Option<String>, message: String| DataError {
        file: file.to_path_buf(),
        place,
        field,
        message,
    };
    let delimiter = u8::try_from(delimiter).map_err(|_| {
        err(
            None,
            None,
            format!("the delimiter `{delimiter}` is not a single byte"),
        )
    })?;
    let lines = Lines::new(bytes);
    let line_of = |byte: u64| lines.line_of(byte);
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(header)
        .delimiter(delimiter)
        .flexible(true)
        .from_reader(bytes);
    let names: Vec<String> = if header {
        let h = reader.byte_headers().map_err(|e| {
            err(
                Some("line 1".into()),
                None,
                format!("cannot read the header: {e}"),
            )
        })?;
        h.iter()
            .map(|f| String::from_utf8_lossy(f).trim().to_string())
            .collect()
    } else {
        Vec::new()
    };
    // For each feed, the column index of each of its values.
    let mut columns: Vec<Vec<usize>> = Vec::new();
    for feed in feeds {
        let Read::Columns { columns: cols, .. } = &feed.read else {
            continue;
        };
        let idx = cols
            .iter()
            .map(|c| column_of(c, &names, header))
            .collect::<Result<Vec<usize>, _>>()
            .map_err(|(place, m)| err(place, Some(format!("field `{}`", feed.field)), m))?;
        columns.push(idx);
    }
    let mut values: Vec<Vec<f64>> = vec![Vec::new(); feeds.len()];
    let mut width = if header { Some(names.len()) } else { None };
    let mut rows = 0;
    let mut record = ::csv::ByteRecord::new();
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let place = e.position().map(|p| format!("line {}", line_of(p.byte())));
                return Err(err(place, None, format!("malformed CSV: {e}")));
            }
        }
        let line = record.position().map_or(rows + 1, |p| line_of(p.byte()));
        let place = Some(format!("line {line}"));
        if record.len() == 1
            && record
                .get(0)
                .is_some_and(|f| f.iter().all(u8::is_ascii_whitespace))
        {
            continue;
        }
        let expected = *width.get_or_insert(record.len());
        if record.len() != expected {
            return Err(err(
                place,
                None,
                format!(
                    "has {} field{} but {} has {expected}",
                    record.len(),
                    if record.len() == 1 { "" } else { "s" },
                    if header {
                        "the header"
                    } else {
                        "the first row"
                    }
                ),
            ));
        }
        for (f, (feed, cols)) in feeds.iter().zip(&columns).enumerate() {
            for &c in cols {
                let Some(raw) = record.get(c) else {
                    return Err(err(
                        place,
                        Some(format!("field `{}`", feed.field)),
                        format!(
                            "there is no column {c} (the row has {} columns, counting from 0)",
                            record.len()
                        ),
                    ));
                };
                let text = String::from_utf8_lossy(raw);
                let column = match names.get(c) {
                    Some(n) => format!("field `{}`, column {}", feed.field, quote(n)),
                    None => format!("field `{}`, column {c}", feed.field),
                };
                let v = parse_value(text.trim(), feed)
                    .map_err(|m| err(place.clone(), Some(column), m))?;
                values[f].push(v);
            }
        }
        rows += 1;
    }
    if rows == 0 {
        return Err(err(None, None, "has no data rows".into()));
    }
    let feeds = feeds
        .iter()
        .zip(values)
        .map(|(feed, v)| {
            let mut shape = vec![rows];
            shape.extend(&feed.shape);
            let t = Tensor::from_f64(&HostTy::new(feed.dtype, shape), v);
            (feed.name.clone(), FeedValues::tensor(t))
        })
        .collect();
    Ok(Samples { len: rows, feeds })
}

/// The 0-based index of a column a feed asks for, or where and why not.
fn column_of(
    c: &Column,
    names: &[String],
    header: bool,
) -> Result<usize, (Option<String>, String)> {
    let n = match c {
        Column::Index(i) => return Ok(*i),
        Column::Name(n) => n,
    };
    if !header {
        return Err((None, format!("column {} is asked for by name, but the file has no header (add `header = true` to `csv(...)`)", quote(n))));
    }
    let line_1 = Some("line 1".to_string());
    let mut same = names
        .iter()
        .enumerate()
        .filter(|(_, h)| *h == n)
        .map(|(i, _)| i);
    match (same.next(), same.next()) {
        (Some(a), None) => Ok(a),
        (Some(a), Some(b)) => Err((
            line_1,
            format!(
                "the header names column {} twice (columns {a} and {b}): pick one by index",
                quote(n)
            ),
        )),
        (None, _) => Err((
            line_1,
            format!(
                "the header has no column {}; it has {}",
                quote(n),
                list(names)
            ),
        )),
    }
}

fn list(names: &[String]) -> String {
    let shown: Vec<String> = names.iter().take(8).map(|n| quote(n)).collect();
    let more = if names.len() > 8 {
        format!(" and {} more", names.len() - 8)
    } else {
        String::new()
    };
    format!("{}{more}", shown.join(", "))
}

/// One value of a feed, from its (trimmed) text: a number (or, for a bool
/// feed, `true` or `false`), finite, that fits what the feed reads it as.
fn parse_value(text: &str, feed: &Feed) -> Result<f64, String> {
    let v: f64 = match text {
        "true" if feed.dtype == DType::Bool => 1.0,
        "false" if feed.dtype == DType::Bool => 0.0,
        _ => text
            .parse()
            .map_err(|_| format!("{} is not a number", quote(text)))?,
    };
    if v.is_nan() || (v.is_infinite() && is_infinity(text)) {
        return Err(format!("{} is not a finite number", quote(text)));
    }
    // A finite number too large for f64 (`1e400`) parses as an infinity:
    // show it as written.
    let shown = || {
        if v.is_finite() {
            number(v)
        } else {
            quote(text)
        }
    };
    check_value(v, &shown, feed)
}

/// `inf`, `-Infinity` and the like: what Rust's float parser reads as an
/// infinity by name rather than by size.
fn is_infinity(text: &str) -> bool {
    let name = text.trim_start_matches(['+', '-']);
    name.eq_ignore_ascii_case("inf") || name.eq_ignore_ascii_case("infinity")
}

/// Line numbers from byte offsets, as an editor counts them: `\n`, `\r\n`
/// and a lone `\r` (old Mac files) each end one line, and blank lines count.
struct Lines<'b> {
    bytes: &'b [u8],
    /// The offset of the last byte of every line ending.
    ends: Vec<usize>,
}

impl<'b> Lines<'b> {
    fn new(bytes: &'b [u8]) -> Lines<'b> {
        let ends = bytes
            .iter()
            .enumerate()
            .filter(|&(i, &b)| b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n')))
            .map(|(i, _)| i)
            .collect();
        Lines { bytes, ends }
    }

    /// The 1-based line of the record or error at `byte`.
    fn line_of(&self, byte: u64) -> usize {
        // A record's position can be at the line ending before it.
        let mut at = usize::try_from(byte)
            .unwrap_or(usize::MAX)
            .min(self.bytes.len());
        while at < self.bytes.len() && matches!(self.bytes[at], b'\n' | b'\r') {
            at += 1;
        }
        self.ends.partition_point(|&n| n < at) + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dlp_compiler::program::Column;

    fn feed(dtype: DType, classes: Option<usize>) -> Feed {
        Feed {
            name: "x".into(),
            field: "x".into(),
            read: Read::Columns {
                columns: vec![Column::Name("v".into())],
                scalar: true,
            },
            dtype,
            shape: vec![],
            classes,
            range: None,
        }
    }

    fn error(text: &str, feed: &Feed) -> String {
        read(Path::new("d.csv"), text.as_bytes(), true, ',', &[feed])
            .expect_err("an error")
            .to_string()
    }

    #[test]
    fn every_kind_of_line_ending_is_one_line() {
        for text in ["a\nb\nc\n", "a\r\nb\r\nc\r\n", "a\rb\rc\r", "a\nb\r\nc\r"] {
            let lines = Lines::new(text.as_bytes());
            let c = text.find('c').unwrap() as u64;
            assert_eq!(lines.line_of(c), 3, "{text:?}");
            assert_eq!(lines.line_of(0), 1, "{text:?}");
        }
        let blank = Lines::new(b"a\r\rc\r");
        assert_eq!(blank.line_of(2), 3);
    }

    #[test]
    fn errors_in_a_file_with_carriage_return_endings_name_the_line() {
        let f = feed(DType::F32, None);
        assert!(error("v\r1\rx\r", &f).starts_with("d.csv, line 3,"));
        assert!(error("v\r1\r\rx\r", &f).starts_with("d.csv, line 4,"));
    }

    #[test]
    fn values_must_fit_the_dtype_they_are_read_as() {
        let f32 = feed(DType::F32, None);
        for (text, message) in [
            ("1e39", "1e39 does not fit in f32"),
            ("3.5e38", "3.5e38 does not fit in f32"),
            ("-1e39", "-1e39 does not fit in f32"),
            ("1e400", "`1e400` does not fit in f32"),
            ("nan", "`nan` is not a finite number"),
            ("NaN", "`NaN` is not a finite number"),
            ("-inf", "`-inf` is not a finite number"),
            ("Infinity", "`Infinity` is not a finite number"),
        ] {
            let e = parse_value(text, &f32).unwrap_err();
            assert!(e.starts_with(message), "{text}: {e}");
        }
        assert_eq!(parse_value("3.4e38", &f32), Ok(3.4e38));
        let f64 = feed(DType::F64, None);
        assert_eq!(parse_value("1e39", &f64), Ok(1e39));
        assert!(parse_value("1e400", &f64)
            .unwrap_err()
            .contains("`1e400` does not fit in f64"));
        let i32 = feed(DType::I32, None);
        assert!(parse_value("3e38", &i32)
            .unwrap_err()
            .starts_with("3e38 is out of range: integers are read as i32"));
        assert!(parse_value("2147483648", &i32)
            .unwrap_err()
            .contains("out of range"));
        assert_eq!(parse_value("-2147483648", &i32), Ok(-2147483648.0));
        assert!(parse_value("1.5", &i32)
            .unwrap_err()
            .contains("1.5 is not a whole number"));
        let bool = feed(DType::Bool, None);
        assert_eq!(parse_value("true", &bool), Ok(1.0));
        assert_eq!(parse_value("0", &bool), Ok(0.0));
        assert!(parse_value("2", &bool)
            .unwrap_err()
            .contains("2 is not a bool"));
        let class = feed(DType::I32, Some(3));
        assert!(parse_value("3e38", &class)
            .unwrap_err()
            .contains("label 3e38 is not a class in 0..3"));
    }

    #[test]
    fn a_huge_value_is_quoted_short() {
        let f = feed(DType::F32, None);
        let e = error(&format!("v\n{}\n", "x".repeat(1_000_000)), &f);
        assert!(e.len() < 200, "{} bytes", e.len());
        assert!(
            e.contains(&format!("`{}…` is not a number", "x".repeat(80))),
            "{e}"
        );
        let e = error(&format!("v\n{}\n", "9".repeat(1_000_000)), &f);
        assert!(e.len() < 200 && e.contains("…` does not fit in f32"), "{e}");
    }
}
