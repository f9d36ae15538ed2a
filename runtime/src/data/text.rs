//! Text sources: a file's tokens as a stream, cut into windows.
//!
//! A sample is `window` consecutive tokens (the length of the shape the
//! program casts to), and windows start every `stride` tokens; tokens after
//! the last whole window are not used. Tokens are bytes (UTF-8 code units),
//! so any file reads, whatever its encoding, and a vocabulary of 256 covers
//! it; or, with `tokens = "chars"`, characters numbered by the run's
//! [`Vocabulary`]. A gzip-compressed file is recognised by its first bytes.
//! The tokens are kept once: overlapping windows share them.

use super::idx::{decompress, first_bad_byte};
use super::records::{Bytes, Records, Stored};
use super::vocabulary::{shown, utf8, Vocabulary};
use super::{check_value, DataError, FeedValues};
use dlp_compiler::program::{Feed, Tokens};
use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;

/// How a text source is read.
#[derive(Clone, Copy)]
pub struct Reading<'a> {
    pub stride: Option<usize>,
    pub tokens: Tokens,
    /// The run's vocabulary, for `Tokens::Chars`.
    pub vocabulary: Option<&'a Vocabulary>,
}

/// The windows of the text whose bytes are `bytes` (the file read whole,
/// or memory-mapped). The tokens are kept once, and every window reads
/// them ([`Records::windows`]), whatever the stride.
pub fn read(file: &Path, bytes: Bytes, how: Reading, feed: &Feed) -> Result<FeedValues, DataError> {
    let err = |place, message| DataError::in_field(file, feed, place, message);
    let text: Bytes = match decompress((*bytes).as_ref()).map_err(|m| err(None, m))? {
        Cow::Owned(text) => Arc::new(text),
        Cow::Borrowed(_) => bytes.clone(),
    };
    let window: usize = feed.shape.iter().product();
    if window == 0 {
        return Err(err(None, "a window of 0 tokens reads nothing".into()));
    }
    let stride = how.stride.unwrap_or(window).max(1);
    let unit = match how.tokens {
        Tokens::Bytes => "bytes",
        Tokens::Chars => "characters",
    };
    // The tokens the windows cover: the rest is not used.
    let used = |len: usize| {
        if len < window {
            return Err(err(
                None,
                format!(
                    "has {len} {unit}, fewer than one window of {window}: use a shorter window or a longer text"
                ),
            ));
        }
        Ok((len - window) / stride * stride + window)
    };
    let (tokens, stored): (Bytes, Stored) = match how.tokens {
        Tokens::Bytes => {
            let all: &[u8] = (*text).as_ref();
            let used = used(all.len())?;
            check_tokens(&all[..used], feed).map_err(|(at, m)| err(Some(at), m))?;
            (text.clone(), Stored::U8)
        }
        Tokens::Chars => {
            let vocabulary = how.vocabulary.ok_or_else(|| {
                err(
                    None,
                    "the trained parameters record no character vocabulary (the run that trained them read no text with `tokens = \"chars\"`), so this text's characters cannot be numbered as in training".into(),
                )
            })?;
            fits(vocabulary, feed).map_err(|m| err(None, m))?;
            let chars = utf8((*text).as_ref()).map_err(|(at, m)| err(Some(at), m))?;
            let tokens = numbered(chars, vocabulary).map_err(|(at, m)| err(Some(at), m))?;
            used(tokens.len())?;
            // One byte a token while they fit in one.
            if vocabulary.len() <= 256 {
                let bytes: Vec<u8> = tokens.into_iter().map(|t| t as u8).collect();
                (Arc::new(bytes), Stored::U8)
            } else {
                let bytes: Vec<u8> = tokens.into_iter().flat_map(u32::to_le_bytes).collect();
                (Arc::new(bytes), Stored::U32)
            }
        }
    };
    let windows = Records::windows(tokens, stored, window, stride);
    Ok(FeedValues::records(windows, feed.dtype, &feed.shape))
}

/// Checks that every token of `vocabulary` is a value of the field: a
/// `class(n)` holds all of its characters.
fn fits(vocabulary: &Vocabulary, feed: &Feed) -> Result<(), String> {
    let count = vocabulary.len();
    if let Some(n) = feed.classes.filter(|&n| n < count) {
        return Err(format!(
            "the run's texts hold {count} distinct characters, more than the {n} classes of `class({n})`: make it `class({count})` or more"
        ));
    }
    // Bounds are what a token can break, and the largest token breaks them first.
    if let Some(last) = count.checked_sub(1) {
        let c = vocabulary.char(last as u32).expect("within the vocabulary");
        check_value(
            last as f64,
            &|| format!("{last} (character {})", shown(c)),
            feed,
        )?;
    }
    Ok(())
}

/// The token of every character of `text`; an error names the line and
/// character of the first that the vocabulary does not have.
fn numbered(text: &str, vocabulary: &Vocabulary) -> Result<Vec<u32>, (String, String)> {
    let mut tokens = Vec::with_capacity(text.len());
    let mut line = 1;
    let mut column = 0;
    for c in text.chars() {
        column += 1;
        let Some(t) = vocabulary.token(c) else {
            return Err((
                format!("line {line}, character {column}"),
                format!(
                    "{} is not in the vocabulary the parameters were trained with ({} characters): a model cannot read a character it never saw",
                    shown(c),
                    vocabulary.len()
                ),
            ));
        };
        if c == '\n' {
            line += 1;
            column = 0;
        }
        tokens.push(t);
    }
    Ok(tokens)
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
                tokens: Tokens::Bytes,
            },
            dtype: DType::I32,
            shape: vec![window],
            classes,
            range: None,
        }
    }

    fn bytes_of(b: &[u8]) -> Bytes {
        Arc::new(b.to_vec())
    }

    fn bytes(stride: Option<usize>) -> Reading<'static> {
        Reading {
            stride,
            tokens: Tokens::Bytes,
            vocabulary: None,
        }
    }

    fn chars(vocabulary: &Vocabulary) -> Reading<'_> {
        Reading {
            stride: None,
            tokens: Tokens::Chars,
            vocabulary: Some(vocabulary),
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
        let v = read(
            Path::new("t.txt"),
            bytes_of(b"abcdefgh"),
            bytes(Some(2)),
            &f,
        )
        .unwrap();
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
        let v = read(Path::new("t.txt"), bytes_of(b"abcdefgh"), bytes(None), &f).unwrap();
        assert_eq!(v.shape, vec![2, 3]);
    }

    #[test]
    fn gzip_text_reads_as_the_text() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"hello world").unwrap();
        let gz = gz.finish().unwrap();
        let f = feed(11, Some(256));
        let plain = read(
            Path::new("t.txt"),
            bytes_of(b"hello world"),
            bytes(None),
            &f,
        )
        .unwrap();
        let unpacked = read(Path::new("t.txt.gz"), bytes_of(&gz), bytes(None), &f).unwrap();
        assert_eq!(rows(&unpacked), rows(&plain));
    }

    #[test]
    fn errors_name_the_line_and_byte() {
        let f = feed(2, Some(120));
        let e = read(Path::new("t.txt"), bytes_of(b"ab\ncd\n~x"), bytes(None), &f).unwrap_err();
        assert_eq!(e.place.as_deref(), Some("line 3, byte 6"));
        assert!(
            e.message
                .starts_with("byte 126 (`~`): label 126 is not a class in 0..120"),
            "{e}"
        );
        let e = read(Path::new("t.txt"), bytes_of(b"a"), bytes(None), &f).unwrap_err();
        assert!(e.message.contains("fewer than one window of 2"), "{e}");
    }

    #[test]
    fn characters_are_numbered_by_the_vocabulary() {
        let v = Vocabulary::from_recorded("\nabé€").unwrap();
        let f = feed(3, Some(5));
        let got = read(
            Path::new("t.txt"),
            bytes_of("aé€\nba".as_bytes()),
            chars(&v),
            &f,
        )
        .unwrap();
        // Six characters (not nine bytes): two windows of three.
        assert_eq!(rows(&got), vec![vec![1, 3, 4], vec![0, 2, 1]]);
    }

    #[test]
    fn a_vocabulary_over_256_characters_reads_as_integers() {
        let all: String = (0x100..0x300u32).filter_map(char::from_u32).collect();
        let v = Vocabulary::from_recorded(&all).unwrap();
        let f = feed(2, Some(v.len()));
        let text: String = ['\u{2ff}', '\u{100}'].iter().collect();
        let got = read(Path::new("t.txt"), bytes_of(text.as_bytes()), chars(&v), &f).unwrap();
        assert_eq!(rows(&got), vec![vec![0x1ff, 0]]);
    }

    #[test]
    fn character_errors_name_the_line_and_the_character() {
        let v = Vocabulary::from_recorded("\nab").unwrap();
        let f = feed(2, Some(3));
        let e = read(Path::new("t.txt"), bytes_of(b"ab\nba\nbxa"), chars(&v), &f).unwrap_err();
        assert_eq!(e.place.as_deref(), Some("line 3, character 2"));
        assert!(
            e.message
                .starts_with("`x` (U+0078) is not in the vocabulary"),
            "{e}"
        );
        let e = read(Path::new("t.txt"), bytes_of(b"ab\n\xc3("), chars(&v), &f).unwrap_err();
        assert_eq!(e.place.as_deref(), Some("line 2, byte 3"));
        assert!(e.message.contains("is not UTF-8"), "{e}");
        // The class count must hold every character of the vocabulary.
        let e = read(
            Path::new("t.txt"),
            bytes_of(b"abab"),
            chars(&v),
            &feed(2, Some(2)),
        )
        .unwrap_err();
        assert!(
            e.message
                .starts_with("the run's texts hold 3 distinct characters, more than the 2 classes of `class(2)`: make it `class(3)`"),
            "{e}"
        );
        let e = read(
            Path::new("t.txt"),
            bytes_of(b"ab"),
            chars(&v),
            &feed(3, Some(3)),
        )
        .unwrap_err();
        assert!(
            e.message
                .contains("has 2 characters, fewer than one window of 3"),
            "{e}"
        );
        let none = Reading {
            vocabulary: None,
            ..chars(&v)
        };
        let e = read(Path::new("t.txt"), bytes_of(b"abab"), none, &f).unwrap_err();
        assert!(e.message.contains("record no character vocabulary"), "{e}");
    }
}
