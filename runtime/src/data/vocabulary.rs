//! The vocabulary of character-level text (`text(..., tokens = "chars")`).
//!
//! A run numbers characters once: its vocabulary is every character of
//! every character-level text it reads (train, validation and test files
//! alike), in code-point order, so the numbering does not depend on which
//! file came first. It is recorded in the run's `config.json` and in every
//! checkpoint, and whatever later reads data for those parameters (a
//! resumed run, `dlpc eval`, `predict`, `sample`, `--init-from`) numbers
//! characters with it instead of measuring its own.

use super::idx::decompress;
use super::DataError;
use dlp_compiler::program::{DatasetSpec, Feed, Read, Tokens};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The characters of a run's texts; a character's token is its index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vocabulary {
    chars: Vec<char>,
}

/// The name of the checkpoint metadata and of the `config.json` member
/// that hold a vocabulary.
pub const RECORDED_AS: &str = "vocabulary";

impl Vocabulary {
    /// Whether `specs` read character-level text.
    pub fn needed_by<'a>(specs: impl IntoIterator<Item = &'a DatasetSpec>) -> bool {
        specs
            .into_iter()
            .any(|spec| spec.feeds.iter().any(|f| char_text(f).is_some()))
    }

    /// The vocabulary of the character-level texts `specs` read, paths
    /// relative to `base`; `None` when they read none.
    pub fn of_texts<'a>(
        specs: impl IntoIterator<Item = &'a DatasetSpec>,
        base: &Path,
    ) -> Result<Option<Vocabulary>, DataError> {
        let mut files: Vec<(PathBuf, &Feed)> = Vec::new();
        for spec in specs {
            for feed in &spec.feeds {
                if let Some(path) = char_text(feed) {
                    let file = base.join(path);
                    if !files.iter().any(|(f, _)| *f == file) {
                        files.push((file, feed));
                    }
                }
            }
        }
        if files.is_empty() {
            return Ok(None);
        }
        let mut chars = BTreeSet::new();
        for (file, feed) in &files {
            let err = |place, message| DataError::in_field(file, feed, place, message);
            super::check_regular(file)?;
            let bytes = std::fs::read(file)
                .map_err(|e| DataError::new(file, format!("cannot read the file: {e}")))?;
            let text = decompress(&bytes).map_err(|m| err(None, m))?;
            let text = utf8(&text).map_err(|(place, m)| err(Some(place), m))?;
            chars.extend(text.chars());
        }
        Ok(Some(Vocabulary {
            chars: chars.into_iter().collect(),
        }))
    }

    pub fn len(&self) -> usize {
        self.chars.len()
    }

    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    /// The token of `c`, if the vocabulary has it.
    pub fn token(&self, c: char) -> Option<u32> {
        self.chars.binary_search(&c).ok().map(|i| i as u32)
    }

    /// The character of `token`, if it is one of the vocabulary's.
    pub fn char(&self, token: u32) -> Option<char> {
        self.chars.get(token as usize).copied()
    }

    /// The vocabulary as recorded: its characters, in order, as one string.
    pub fn recorded(&self) -> String {
        self.chars.iter().collect()
    }

    /// A recorded vocabulary (see [`Vocabulary::recorded`]); `None` when
    /// the characters are not in strictly increasing order, which no
    /// recorded vocabulary is.
    pub fn from_recorded(text: &str) -> Option<Vocabulary> {
        let chars: Vec<char> = text.chars().collect();
        chars
            .windows(2)
            .all(|w| w[0] < w[1])
            .then_some(Vocabulary { chars })
    }
}

/// `` `é` (U+00E9) ``; a control character by its code alone.
pub fn shown(c: char) -> String {
    if c.is_control() || c.is_whitespace() {
        format!("U+{:04X}", u32::from(c))
    } else {
        format!("`{c}` (U+{:04X})", u32::from(c))
    }
}

/// The path of the text `feed` reads as characters, if it does.
fn char_text(feed: &Feed) -> Option<&str> {
    match &feed.read {
        Read::Text {
            path,
            tokens: Tokens::Chars,
            ..
        } => Some(path),
        _ => None,
    }
}

/// `bytes` as UTF-8; an error names the line and byte offset of the first
/// byte that is not, and shows the bytes there.
pub(super) fn utf8(bytes: &[u8]) -> Result<&str, (String, String)> {
    std::str::from_utf8(bytes).map_err(|e| {
        let at = e.valid_up_to();
        let line = 1 + bytes[..at].iter().filter(|&&b| b == b'\n').count();
        let shown: Vec<String> = bytes[at..]
            .iter()
            .take(e.error_len().unwrap_or(bytes.len() - at).max(1))
            .map(|b| format!("{b:02x}"))
            .collect();
        let why = match e.error_len() {
            Some(_) => "is not UTF-8",
            None => "is a character cut off by the end of the text",
        };
        (
            format!("line {line}, byte {at}"),
            format!(
                "the byte(s) {} {why}: `tokens = \"chars\"` reads UTF-8 text (`tokens = \"bytes\"` reads any file)",
                shown.join(" ")
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_characters_in_code_point_order_and_round_trips() {
        let v = Vocabulary {
            chars: "\n abzé€".chars().collect(),
        };
        assert_eq!(v.token('a'), Some(2));
        assert_eq!(v.token('€'), Some(6));
        assert_eq!(v.token('q'), None);
        assert_eq!(v.char(3), Some('b'));
        assert_eq!(v.char(7), None);
        assert_eq!(Vocabulary::from_recorded(&v.recorded()), Some(v));
        assert_eq!(Vocabulary::from_recorded("ba"), None);
    }

    #[test]
    fn a_byte_that_is_not_utf8_is_named_with_its_line() {
        let (place, message) = utf8(b"ok\nfine\nbad \xff here").unwrap_err();
        assert_eq!(place, "line 3, byte 12");
        assert!(
            message.starts_with("the byte(s) ff is not UTF-8"),
            "{message}"
        );
        let (place, message) = utf8("a\u{e9}".as_bytes().split_last().unwrap().1).unwrap_err();
        assert_eq!(place, "line 1, byte 1");
        assert!(message.contains("cut off by the end"), "{message}");
    }
}
