//! Line endings. A file may end its lines with `\n`, `\r\n` or a lone `\r`
//! (classic Mac). The grammar's comments, doc lines and strings, and every
//! line-based scan, stop at `\n`; a lone `\r` is made one first, byte for
//! byte, so that spans and offsets still point into the text as written.

use std::borrow::Cow;

/// `text` with each lone `\r` (one not followed by `\n`) turned into `\n`,
/// and a UTF-8 byte-order mark at its start (which editors on Windows
/// write) into spaces: the same lines, at the same byte offsets.
pub fn lf_line_endings(text: &str) -> Cow<'_, str> {
    let lone_cr = |(i, _): &(usize, &str)| !text[i + 1..].starts_with('\n');
    let bom = text.starts_with(BOM);
    if !bom && !text.match_indices('\r').any(|m| lone_cr(&m)) {
        return Cow::Borrowed(text);
    }
    let mut bytes = text.as_bytes().to_vec();
    for (i, _) in text.match_indices('\r').filter(lone_cr) {
        bytes[i] = b'\n';
    }
    if bom {
        bytes[..BOM.len_utf8()].fill(b' ');
    }
    // Only ASCII bytes, or the whole of the mark, were replaced.
    Cow::Owned(String::from_utf8(bytes).unwrap_or_else(|_| text.to_string()))
}

/// The byte-order mark, U+FEFF.
pub const BOM: char = '\u{feff}';

/// How a file ends its lines and whether it starts with a byte-order mark:
/// what `dlpc fmt` keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Convention {
    pub crlf: bool,
    pub bom: bool,
}

impl Convention {
    /// The file's: CRLF when its first line ends with `\r\n`.
    pub fn of(text: &str) -> Convention {
        Convention {
            crlf: text.find('\n').is_some_and(|i| text[..i].ends_with('\r')),
            bom: text.starts_with(BOM),
        }
    }

    /// `text` (lines ending in `\n`, no mark) written this way.
    pub fn apply(self, text: &str) -> String {
        let mut out = String::with_capacity(text.len() + text.len() / 32 + 3);
        if self.bom {
            out.push(BOM);
        }
        if self.crlf {
            out.push_str(&text.replace('\n', "\r\n"));
        } else {
            out.push_str(text);
        }
        out
    }
}

/// `text` with its mark dropped and every line ending `\n`: what the
/// formatter prints from and what `--check` diffs.
pub fn plain(text: &str) -> String {
    let text = text.strip_prefix(BOM).unwrap_or(text);
    lf_line_endings(&text.replace("\r\n", "\n")).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_byte_order_mark_becomes_spaces_at_the_same_offsets() {
        let text = "\u{feff}use std.nn.relu\n";
        let seen = lf_line_endings(text);
        assert_eq!(seen, "   use std.nn.relu\n");
        assert_eq!(seen.len(), text.len());
        // Only at the start.
        assert_eq!(lf_line_endings("a\u{feff}"), "a\u{feff}");
    }

    #[test]
    fn a_files_convention_is_kept() {
        let c = Convention::of("\u{feff}a\r\nb\r\n");
        assert_eq!(
            c,
            Convention {
                crlf: true,
                bom: true
            }
        );
        assert_eq!(c.apply("a\nb\n"), "\u{feff}a\r\nb\r\n");
        assert_eq!(
            Convention::of("a\nb\r\n"),
            Convention {
                crlf: false,
                bom: false
            }
        );
        assert_eq!(plain("\u{feff}a\r\nb\rc\n"), "a\nb\nc\n");
    }

    #[test]
    fn only_lone_carriage_returns_change() {
        assert_eq!(lf_line_endings("a\r\nb\rc\r"), "a\r\nb\nc\n");
        assert!(matches!(lf_line_endings("a\r\nb\n"), Cow::Borrowed(_)));
        let text = "x\ré😀\r\ry\r\n";
        assert_eq!(lf_line_endings(text).len(), text.len());
    }
}
