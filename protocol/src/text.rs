//! Sender text made safe for a terminal: names, messages and attributes in the contract's answers are what
//! a sender wrote, and a control character among them (an escape sequence, a line break) could recolour,
//! retitle or clear the terminal, or forge lines of a report. One rule says which characters are unsafe
//! ([`is_unsafe`]); a screen of cells replaces them ([`for_cells`]), a text report spells them out
//! ([`escaped`]).

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` must not reach a terminal as it is: a control character, or an invisible format character that
/// reorders or hides the text around it (bidirectional overrides, embeddings, isolates and marks, zero-width
/// characters, the byte-order mark, interlinear annotations), which could make a report's line read other than
/// it is.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}'
        )
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
        // A right-to-left override makes `exe.txt` read `txt.exe`; a zero-width space hides in a name.
        let sent = "invoice\u{202E}txt.exe\u{200B}";
        assert_eq!(escaped(sent), r"invoice\u{202e}txt.exe\u{200b}");
        assert_eq!(for_cells(sent), "invoice txt.exe ");
        assert_eq!(for_cells("日本語 façade"), "日本語 façade");
        assert!(matches!(for_cells("plain"), Cow::Borrowed("plain")));
        assert!(matches!(escaped("plain"), Cow::Borrowed("plain")));
    }
}
