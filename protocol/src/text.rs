//! Sender text made safe for a terminal: names, messages and attributes in the contract's answers are what
//! a sender wrote, and a control character among them (an escape sequence, a line break) could recolour,
//! retitle or clear the terminal, or forge lines of a report. One rule says which characters are unsafe
//! ([`is_unsafe`]); a screen of cells replaces them ([`for_cells`]), a text report spells them out
//! ([`escaped`]).

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` must not reach a terminal as it is.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
}

/// `text` with each unsafe character replaced by a space, so nothing can move the cursor or break a row,
/// and every character still takes the cell it would have.
pub fn for_cells(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| if is_unsafe(c) { ' ' } else { c })
            .collect(),
    )
}

/// `text` with each unsafe character written as its `\u{..}` escape, so a report shows what was sent.
pub fn escaped(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_unsafe(c) {
            let _ = write!(out, "{}", c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_characters_are_replaced_or_spelled_out() {
        let sent = "a\x1b[2Jb\nc\u{9b}d";
        assert_eq!(for_cells(sent), "a [2Jb c d");
        assert_eq!(escaped(sent), r"a\u{1b}[2Jb\u{a}c\u{9b}d");
        assert!(matches!(for_cells("plain"), Cow::Borrowed("plain")));
        assert!(matches!(escaped("plain"), Cow::Borrowed("plain")));
    }
}
