//! CSV sources: one sample per row, columns by header name or index.

use super::{check_value, DataError, Samples};
use crate::tensor::HostTy;
use crate::tensor::Tensor;
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
    // Line numbers from byte offsets: right whatever the line endings, and
    // counting blank lines, as an editor does.
    let newlines: Vec<usize> = bytes
        .iter()
        .enumerate()
        .filter(|(_, &b)| b == b'\n')
        .map(|(i, _)| i)
        .collect();
    let line_of = |byte: u64| {
        // A record's position can be at the line ending before it.
        let mut at = byte as usize;
        while at < bytes.len() && (bytes[at] == b'\n' || bytes[at] == b'\r') {
            at += 1;
        }
        newlines.partition_point(|&n| n < at) + 1
    };
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
        let mut idx = Vec::new();
        for c in cols {
            idx.push(match c {
                Column::Index(i) => *i,
                Column::Name(n) => {
                    if !header {
                        return Err(err(
                            None,
                            Some(format!("field `{}`", feed.field)),
                            format!("column `{n}` is asked for by name, but the file has no header (add `header = true` to `csv(...)`)"),
                        ));
                    }
                    let mut same = names.iter().enumerate().filter(|(_, h)| *h == n).map(|(i, _)| i);
                    if let (Some(a), Some(b)) = (same.next(), same.next()) {
                        return Err(err(
                            Some("line 1".into()),
                            Some(format!("field `{}`", feed.field)),
                            format!("the header names column `{n}` twice (columns {a} and {b}): pick one by index"),
                        ));
                    }
                    names.iter().position(|h| h == n).ok_or_else(|| {
                        err(
                            Some("line 1".into()),
                            Some(format!("field `{}`", feed.field)),
                            format!("the header has no column `{n}`; it has {}", list(&names)),
                        )
                    })?
                }
            });
        }
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
                let text = text.trim();
                let column = match names.get(c) {
                    Some(n) => format!("field `{}`, column `{n}`", feed.field),
                    None => format!("field `{}`, column {c}", feed.field),
                };
                let v: f64 = match text {
                    "true" if feed.dtype == dlp_compiler::ir::DType::Bool => 1.0,
                    "false" if feed.dtype == dlp_compiler::ir::DType::Bool => 0.0,
                    _ => text.parse().map_err(|_| {
                        err(
                            place.clone(),
                            Some(column.clone()),
                            format!("`{text}` is not a number"),
                        )
                    })?,
                };
                if !v.is_finite() {
                    return Err(err(
                        place,
                        Some(column),
                        format!("`{text}` is not a finite number"),
                    ));
                }
                let v = check_value(v, feed).map_err(|m| err(place.clone(), Some(column), m))?;
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
            (
                feed.name.clone(),
                Tensor::from_f64(&HostTy::new(feed.dtype, shape), v),
            )
        })
        .collect();
    Ok(Samples { len: rows, feeds })
}

fn list(names: &[String]) -> String {
    let shown: Vec<String> = names.iter().take(8).map(|n| format!("`{n}`")).collect();
    let more = if names.len() > 8 {
        format!(" and {} more", names.len() - 8)
    } else {
        String::new()
    };
    format!("{}{more}", shown.join(", "))
}
