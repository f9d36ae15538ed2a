//! LSP positions (line, UTF-16 column) to byte offsets and back.
//!
//! The analysis works in byte offsets; LSP counts columns in UTF-16 code
//! units by default. Only the server converts. Positions past the end of a
//! line or of the text are clamped (clients send those while the user types),
//! and a column inside a surrogate pair lands on the character's start.
//!
//! Lines end at `\n`, `\r\n` or a lone `\r`, each one line ending, as LSP
//! 3.17 counts them. The compiler reads each lone `\r` as `\n`
//! (`dlp_grammar::lines`), one byte for one byte, so offsets and positions
//! mean the same in both texts.

use lsp_types::{Position, Range};

/// Byte offset of `position` in `text`.
pub fn offset(text: &str, position: Position) -> usize {
    let Some(line_start) = line_start(text, position.line as usize) else {
        return text.len();
    };
    let line_end = line_end(text, line_start);
    let mut units = 0u64;
    for (i, c) in text[line_start..line_end].char_indices() {
        units += c.len_utf16() as u64;
        if units > u64::from(position.character) {
            return line_start + i;
        }
    }
    line_end
}

/// LSP position of byte `offset` in `text`: clamped to the text, moved back
/// to a character boundary, and from between a `\r\n`'s two bytes to the
/// end of its line.
pub fn position(text: &str, offset: usize) -> Position {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    if text[offset..].starts_with('\n') && text[..offset].ends_with('\r') {
        offset -= 1;
    }
    let before = &text[..offset];
    // Single-character searches: fast on long texts, which this runs on for
    // every range of every answer.
    let lone_crs = before
        .match_indices('\r')
        .filter(|&(i, _)| !text[i + 1..].starts_with('\n'))
        .count();
    let line = before.matches('\n').count() + lone_crs;
    let line_start = before.rfind(['\r', '\n']).map_or(0, |n| n + 1);
    let character = before[line_start..].encode_utf16().count() as u32;
    Position {
        line: u32::try_from(line).unwrap_or(u32::MAX),
        character,
    }
}

pub fn range(text: &str, start: usize, end: usize) -> Range {
    Range {
        start: position(text, start),
        end: position(text, end),
    }
}

/// Byte offsets of an LSP range, ordered.
pub fn byte_range(text: &str, range: Range) -> (usize, usize) {
    let (a, b) = (offset(text, range.start), offset(text, range.end));
    (a.min(b), a.max(b))
}

/// Start and end byte of each line ending, in order: `\n`, `\r\n` or `\r`.
fn line_breaks(text: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    text.match_indices(['\r', '\n'])
        .filter(|&(i, m)| !(m == "\n" && i > 0 && text.as_bytes()[i - 1] == b'\r'))
        .map(|(i, m)| {
            let crlf = m == "\r" && text[i + 1..].starts_with('\n');
            (i, if crlf { i + 2 } else { i + 1 })
        })
}

fn line_start(text: &str, line: usize) -> Option<usize> {
    if line == 0 {
        return Some(0);
    }
    line_breaks(text).nth(line - 1).map(|(_, end)| end)
}

/// Where the line that starts at `start` ends, before its line ending.
fn line_end(text: &str, start: usize) -> usize {
    text[start..]
        .find(['\r', '\n'])
        .map_or(text.len(), |n| start + n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(line: u32, character: u32) -> Position {
        Position { line, character }
    }

    #[test]
    fn utf16_columns_count_surrogate_pairs_twice() {
        // 'é' is 2 bytes and 1 UTF-16 unit; '𝛼' is 4 bytes and 2 units.
        let text = "// é𝛼x\nab";
        assert_eq!(offset(text, pos(0, 4)), 5); // before 𝛼
        assert_eq!(offset(text, pos(0, 6)), 9); // before x
        assert_eq!(offset(text, pos(0, 5)), 5); // inside the pair: its start
        assert_eq!(position(text, 9), pos(0, 6));
        assert_eq!(position(text, 7), pos(0, 4)); // inside 𝛼: its start
        assert_eq!(offset(text, pos(1, 1)), 12);
    }

    #[test]
    fn past_the_end_is_clamped() {
        let text = "ab\r\ncd";
        assert_eq!(offset(text, pos(0, 99)), 2);
        assert_eq!(offset(text, pos(7, 0)), text.len());
        assert_eq!(offset(text, pos(u32::MAX, u32::MAX)), text.len());
        assert_eq!(offset(text, pos(1, u32::MAX)), text.len());
        assert_eq!(position(text, 99), pos(1, 2));
    }

    #[test]
    fn each_kind_of_line_ending_is_one_line_break() {
        // Lines: "a", "b", "c", "", "d": ended by \n, \r\n, \r, \r.
        let text = "a\nb\r\nc\r\rd";
        let starts: Vec<usize> = (0..5).map(|l| offset(text, pos(l, 0))).collect();
        assert_eq!(starts, [0, 2, 5, 7, 8]);
        for (line, &start) in starts.iter().enumerate() {
            assert_eq!(position(text, start), pos(line as u32, 0));
        }
        // The end of a line stops before its line ending, whatever it is.
        assert_eq!(offset(text, pos(1, 9)), 3);
        assert_eq!(offset(text, pos(2, 9)), 6);
        assert_eq!(offset(text, pos(3, 9)), 7);
        // Between a \r\n's two bytes is the end of the line.
        assert_eq!(position(text, 4), pos(1, 1));
    }

    #[test]
    fn lone_carriage_returns_become_line_feeds_at_the_same_offsets() {
        let text = "x\ré😀\r\ry\r\n";
        let lf = dlp_grammar::lines::lf_line_endings(text);
        for at in 0..=text.len() {
            assert_eq!(position(text, at), position(&lf, at), "at {at}");
        }
    }
}
