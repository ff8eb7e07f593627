//! Error message normalisation: ids, numbers and quoted values become `?`, so messages group.

use super::{peek, slice};

/// Normalises an error message so that messages differing only in ids, numbers, quoted values compare equal.
///
/// These become `?`, each only as a whole token (not inside a word such as
/// `user42` or `17ms`):
///
/// - UUIDs (`8-4-4-4-12` hex digits);
/// - numbers, including decimals and dotted runs such as IPv4 addresses and
///   versions, so `127.0.0.1:5002` becomes `?:?`;
/// - `0x` hex numbers, and bare hex tokens of 8 or more characters that
///   contain at least one digit (ids and hashes, not words like `deadbeef`);
/// - text in single or double quotes. A quote opens only where it does not
///   follow a letter or digit, so the apostrophe in `can't` is left alone,
///   and closes at the next quote of the same kind not escaped with a backslash.
///
/// Whitespace runs fold to one space and the ends are trimmed.
pub fn normalize_message(message: &str) -> String {
    let b = message.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut space = false;
    // Once a quote has no closing partner, no later one of that kind can.
    let mut unclosed = [false; 2];
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            space = true;
            i += 1;
            continue;
        }
        if space && !out.is_empty() {
            out.push(b' ');
        }
        space = false;
        // Judge by what was written, not read, so that a second pass sees
        // the same context: `0'x'` is `?` followed by a quote.
        let after_word = is_word(out.last().copied());
        let quote = match c {
            b'\'' => Some(0),
            b'"' => Some(1),
            _ => None,
        };
        if let Some(q) = quote.filter(|&q| !after_word && !unclosed[q]) {
            match closing_quote(b, i + 1, c) {
                Some(end) => {
                    out.push(b'?');
                    i = end;
                }
                None => {
                    unclosed[q] = true;
                    out.push(c);
                    i += 1;
                }
            }
        } else if is_word(Some(c)) {
            if !after_word && is_uuid(b, i) {
                out.push(b'?');
                i += 36;
                continue;
            }
            let mut end = word_end(b, i);
            let word = slice(b, i, end);
            if word.iter().all(u8::is_ascii_digit) {
                // Swallow `.digits` groups: decimals, addresses, versions.
                while peek(b, end) == Some(b'.') {
                    let next = word_end(b, end + 1);
                    let group = slice(b, end + 1, next);
                    if group.is_empty() || !group.iter().all(u8::is_ascii_digit) {
                        break;
                    }
                    end = next;
                }
                out.push(b'?');
            } else if is_hex_token(word) {
                out.push(b'?');
            } else {
                out.extend_from_slice(word);
            }
            i = end;
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Letters, digits, `_` and non-ASCII bytes make up a word in a message.
fn is_word(c: Option<u8>) -> bool {
    c.is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80)
}

fn word_end(b: &[u8], mut i: usize) -> usize {
    while is_word(peek(b, i)) {
        i += 1;
    }
    i
}

/// Returns the end of a quoted span whose body starts at `i`, just past the
/// first `quote` not escaped with a backslash.
fn closing_quote(b: &[u8], mut i: usize, quote: u8) -> Option<usize> {
    while let Some(c) = peek(b, i) {
        if c == b'\\' {
            i += 2;
            continue;
        }
        if c == quote {
            return Some(i + 1);
        }
        i += 1;
    }
    None
}

fn is_uuid(b: &[u8], i: usize) -> bool {
    let Some(candidate) = b.get(i..i + 36) else {
        return false;
    };
    let shape_ok = candidate.iter().enumerate().all(|(k, &c)| match k {
        8 | 13 | 18 | 23 => c == b'-',
        _ => c.is_ascii_hexdigit(),
    });
    shape_ok && !is_word(peek(b, i + 36))
}

fn is_hex_token(word: &[u8]) -> bool {
    if let Some(digits) = word
        .strip_prefix(b"0x")
        .or_else(|| word.strip_prefix(b"0X"))
    {
        return !digits.is_empty() && digits.iter().all(u8::is_ascii_hexdigit);
    }
    word.len() >= 8 && word.iter().all(u8::is_ascii_hexdigit) && word.iter().any(u8::is_ascii_digit)
}
