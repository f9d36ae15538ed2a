//! Line endings. A file may end its lines with `\n`, `\r\n` or a lone `\r`
//! (classic Mac). The grammar's comments, doc lines and strings, and every
//! line-based scan, stop at `\n`; a lone `\r` is made one first, byte for
//! byte, so that spans and offsets still point into the text as written.

use std::borrow::Cow;

/// `text` with each lone `\r` (one not followed by `\n`) turned into `\n`:
/// the same lines, at the same byte offsets.
pub fn lf_line_endings(text: &str) -> Cow<'_, str> {
    let lone_cr = |(i, _): &(usize, &str)| !text[i + 1..].starts_with('\n');
    if !text.match_indices('\r').any(|m| lone_cr(&m)) {
        return Cow::Borrowed(text);
    }
    let mut bytes = text.as_bytes().to_vec();
    for (i, _) in text.match_indices('\r').filter(lone_cr) {
        bytes[i] = b'\n';
    }
    // Only ASCII bytes were swapped for ASCII bytes.
    Cow::Owned(String::from_utf8(bytes).unwrap_or_else(|_| text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_lone_carriage_returns_change() {
        assert_eq!(lf_line_endings("a\r\nb\rc\r"), "a\r\nb\nc\n");
        assert!(matches!(lf_line_endings("a\r\nb\n"), Cow::Borrowed(_)));
        let text = "x\ré😀\r\ry\r\n";
        assert_eq!(lf_line_endings(text).len(), text.len());
    }
}
