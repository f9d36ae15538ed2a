//! Reading the raw text around the cursor: what completion and signature
//! help use, since the item being typed usually does not parse.

/// `offset` clamped to `text` and moved back to a character boundary.
pub fn floor_boundary(text: &str, offset: usize) -> usize {
    let mut at = offset.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

pub fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Whether `name` can be written as a dlp identifier (and is no keyword).
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    let starts_well = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    starts_well && chars.all(is_ident_char) && !KEYWORDS.contains(&name)
}

pub const KEYWORDS: [&str; 13] = [
    "use", "dataset", "extern", "fn", "model", "train", "param", "input", "output", "repeat", "as",
    "true", "false",
];

/// Start of the identifier that ends at `offset` (the word being typed).
pub fn word_start(text: &str, offset: usize) -> usize {
    let before = &text[..offset];
    before
        .char_indices()
        .rev()
        .take_while(|(_, c)| is_ident_char(*c))
        .last()
        .map_or(offset, |(i, _)| i)
}

/// Everything from the start of the cursor's line up to the cursor.
pub fn line_before(text: &str, offset: usize) -> &str {
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    &text[start..offset]
}

/// The position of the `(` of the innermost call still open at `offset`,
/// looking back no further than `from`. Strings and `//` comments are
/// skipped on the way.
pub fn open_paren(text: &str, from: usize, offset: usize) -> Option<usize> {
    let code = mask_strings_and_comments(&text[from..offset]);
    let mut depth = 0i32;
    for (i, c) in code.char_indices().rev() {
        match c {
            ')' | ']' | '}' => depth += 1,
            '(' | '[' | '{' if depth > 0 => depth -= 1,
            '(' => return Some(from + i),
            '[' | '{' => return None,
            _ => {}
        }
    }
    None
}

/// The same text with the insides of strings and comments replaced by
/// spaces (byte lengths kept), so brackets and commas in them do not count.
pub fn mask_strings_and_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut in_comment = false;
    let mut escaped = false;
    for c in text.chars() {
        let blank = |out: &mut String| out.extend(std::iter::repeat_n(' ', c.len_utf8()));
        if in_comment {
            if c == '\n' {
                in_comment = false;
                out.push(c);
            } else {
                blank(&mut out);
            }
        } else if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
                out.push(c);
                continue;
            }
            blank(&mut out);
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if c == '/' && out.ends_with('/') {
            out.pop();
            out.push_str("  ");
            in_comment = true;
        } else {
            out.push(c);
        }
    }
    out
}

/// The dotted name that ends just before `offset` (`nn.linear` before a
/// `(`), skipping spaces in between.
pub fn dotted_name_before(text: &str, offset: usize) -> Option<&str> {
    let end = text[..offset].trim_end().len();
    let start = text[..end]
        .char_indices()
        .rev()
        .take_while(|(_, c)| is_ident_char(*c) || *c == '.')
        .last()
        .map(|(i, _)| i)?;
    let name = &text[start..end];
    (!name.is_empty() && !name.starts_with('.')).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_and_words() {
        let text = "a é b";
        assert_eq!(floor_boundary(text, 3), 2);
        assert_eq!(floor_boundary(text, 100), text.len());
        assert_eq!(word_start("h = lin", 7), 4);
        assert_eq!(word_start("h = ", 4), 4);
    }

    #[test]
    fn open_paren_skips_closed_calls_strings_and_comments() {
        let text = "f(a, g(b), \")\", ";
        assert_eq!(open_paren(text, 0, text.len()), Some(1));
        assert_eq!(open_paren("f(a) ", 0, 5), None);
        assert_eq!(open_paren("f(a, [1, ", 0, 9), None);
        assert_eq!(open_paren("f( // )\n x", 0, 10), Some(1));
    }

    #[test]
    fn identifiers() {
        assert!(is_identifier("hidden_2"));
        assert!(!is_identifier("2x"));
        assert!(!is_identifier("model"));
        assert!(!is_identifier(""));
        assert_eq!(dotted_name_before("x = nn.linear (", 14), Some("nn.linear"));
    }
}
