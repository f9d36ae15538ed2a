//! LSP positions (line, UTF-16 column) to byte offsets and back.
//!
//! The analysis works in byte offsets; LSP counts columns in UTF-16 code
//! units by default. Only the server converts. Positions past the end of a
//! line or of the text are clamped (clients send those while the user types),
//! and a column inside a surrogate pair lands on the character's start.

use lsp_types::{Position, Range};

/// Byte offset of `position` in `text`.
pub fn offset(text: &str, position: Position) -> usize {
    let Some(line_start) = line_start(text, position.line as usize) else {
        return text.len();
    };
    let line_end = text[line_start..]
        .find('\n')
        .map_or(text.len(), |n| line_start + n);
    let mut units = 0u32;
    for (i, c) in text[line_start..line_end].char_indices() {
        let next = units + c.len_utf16() as u32;
        if next > position.character {
            return line_start + i;
        }
        units = next;
    }
    // A `\r` before the `\n` is not part of the line's text.
    if text[..line_end].ends_with('\r') && position.character > units.saturating_sub(1) {
        return line_end - 1;
    }
    line_end
}

/// LSP position of byte `offset` in `text` (clamped to a character boundary).
pub fn position(text: &str, offset: usize) -> Position {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() as u32;
    let line_start = before.rfind('\n').map_or(0, |n| n + 1);
    let character = before[line_start..].encode_utf16().count() as u32;
    Position { line, character }
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

fn line_start(text: &str, line: usize) -> Option<usize> {
    if line == 0 {
        return Some(0);
    }
    text.match_indices('\n').nth(line - 1).map(|(i, _)| i + 1)
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
        assert_eq!(position(text, 99), pos(1, 2));
    }
}
