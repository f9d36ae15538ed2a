//! Text sources: a file's bytes as a token stream, cut into windows.
//!
//! A sample is `window` consecutive bytes (the length of the shape the
//! program casts to), and windows start every `stride` bytes; bytes after
//! the last whole window are not used. Tokens are bytes (UTF-8 code units),
//! so any file reads, whatever its encoding, and a vocabulary of 256 covers
//! it. A gzip-compressed file is recognised by its first bytes.

use super::idx::{decompress, first_bad_byte};
use super::{DataError, FeedValues};
use dlp_compiler::program::Feed;
use std::path::Path;

pub fn read(
    file: &Path,
    bytes: &[u8],
    stride: Option<usize>,
    feed: &Feed,
) -> Result<FeedValues, DataError> {
    let err = |place, message| DataError::in_field(file, feed, place, message);
    let text = decompress(bytes).map_err(|m| err(None, m))?;
    let window: usize = feed.shape.iter().product();
    let stride = stride.unwrap_or(window).max(1);
    if window == 0 {
        return Err(err(None, "a window of 0 bytes reads nothing".into()));
    }
    if text.len() < window {
        return Err(err(
            None,
            format!(
                "has {} bytes, fewer than one window of {window}: use a shorter window or a longer text",
                text.len()
            ),
        ));
    }
    let windows = (text.len() - window) / stride + 1;
    let used = &text[..(windows - 1) * stride + window];
    check_tokens(used, feed).map_err(|(at, m)| err(Some(at), m))?;
    let mut values = Vec::with_capacity(windows * window);
    for w in 0..windows {
        values.extend_from_slice(&used[w * stride..w * stride + window]);
    }
    let mut shape = vec![windows];
    shape.extend(&feed.shape);
    Ok(FeedValues::bytes(shape, feed.dtype, values))
}

/// Checks every byte against what the field reads it as (a class label
/// below its class count, say); an error names the first bad byte's line
/// and offset.
fn check_tokens(text: &[u8], feed: &Feed) -> Result<(), (String, String)> {
    let Some((i, message)) = first_bad_byte(text, feed) else {
        return Ok(());
    };
    let line = 1 + text[..i].iter().filter(|&&b| b == b'\n').count();
    let byte = text[i];
    let shown = if byte.is_ascii_graphic() {
        format!(" (`{}`)", char::from(byte))
    } else {
        String::new()
    };
    Err((
        format!("line {line}, byte {i}"),
        format!("byte {byte}{shown}: {message}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use dlp_compiler::ir::DType;
    use dlp_compiler::program::Read;
    use std::io::Write as _;

    fn feed(window: usize, classes: Option<usize>) -> Feed {
        Feed {
            name: "t".into(),
            field: "tokens".into(),
            read: Read::Text {
                path: "t.txt".into(),
                stride: None,
            },
            dtype: DType::I32,
            shape: vec![window],
            classes,
            range: None,
        }
    }

    fn rows(v: &FeedValues) -> Vec<Vec<i32>> {
        let n = v.samples();
        let t = v.gather(&(0..n).collect::<Vec<_>>());
        let width = t.shape[1];
        let data = t.to_f64();
        data.chunks(width)
            .map(|c| c.iter().map(|&x| x as i32).collect())
            .collect()
    }

    #[test]
    fn windows_start_every_stride_bytes() {
        let f = feed(3, Some(256));
        let v = read(Path::new("t.txt"), b"abcdefgh", Some(2), &f).unwrap();
        assert_eq!(v.shape, vec![3, 3]);
        let a = i32::from(b'a');
        assert_eq!(
            rows(&v),
            vec![
                vec![a, a + 1, a + 2],
                vec![a + 2, a + 3, a + 4],
                vec![a + 4, a + 5, a + 6]
            ]
        );
        // Without a stride, windows do not overlap; the tail is dropped.
        let v = read(Path::new("t.txt"), b"abcdefgh", None, &f).unwrap();
        assert_eq!(v.shape, vec![2, 3]);
    }

    #[test]
    fn gzip_text_reads_as_the_text() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"hello world").unwrap();
        let gz = gz.finish().unwrap();
        let f = feed(11, Some(256));
        let plain = read(Path::new("t.txt"), b"hello world", None, &f).unwrap();
        assert_eq!(read(Path::new("t.txt.gz"), &gz, None, &f).unwrap(), plain);
    }

    #[test]
    fn errors_name_the_line_and_byte() {
        let f = feed(2, Some(120));
        let e = read(Path::new("t.txt"), b"ab\ncd\n~x", None, &f).unwrap_err();
        assert_eq!(e.place.as_deref(), Some("line 3, byte 6"));
        assert!(
            e.message
                .starts_with("byte 126 (`~`): label 126 is not a class in 0..120"),
            "{e}"
        );
        let e = read(Path::new("t.txt"), b"a", None, &f).unwrap_err();
        assert!(e.message.contains("fewer than one window of 2"), "{e}");
    }
}
