//! SQL normalisation: statements that differ only in literal values and bind parameters become one text.

use super::{peek, slice};

/// Normalises SQL so that statements differing only in literal values compare equal.
///
/// This is a single pass over the bytes, cheap enough to run on every
/// database span at ingest. It does not validate SQL; malformed input, such
/// as an unterminated quote, is handled as well as it can be.
///
/// - String literals (`'..'` with `''` escapes, and `E'..'`, `N'..'`, `B'..'`,
///   `X'..'`), dollar-quoted strings, numbers (including a unary minus),
///   `TRUE` and `FALSE` become `?`. `NULL` is kept.
/// - Bind parameters (`?`, `?1`, `$1`, `:name`, `@name`, `%s`, `%(name)s`)
///   become `?`.
/// - `IN (?, ?, ..)` collapses to `IN (?)`; `IN (SELECT ..)` is kept.
/// - Comments are removed. Quoted identifiers (`".."`, `` `..` ``) and
///   keywords are kept as written.
/// - Whitespace runs fold to one space, with none after `(` or before `)`
///   and `,`, and exactly one after `,`.
///
/// The output is a fixed point: normalising it again returns it unchanged.
///
/// For example `SELECT * FROM t WHERE id IN (1, 2,3) AND name = 'x'`
/// becomes `SELECT * FROM t WHERE id IN (?) AND name = ?`.
pub fn normalize_query(sql: &str) -> String {
    let b = sql.as_bytes();
    let mut out = SqlOut::with_capacity(b.len());
    let mut i = 0;
    let mut space = false;
    while i < b.len() {
        let c = b[i];
        let next = peek(b, i + 1);
        i = match c {
            b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c => {
                space = true;
                i += 1;
                continue;
            }
            b'-' if next == Some(b'-') => {
                space = true;
                i = skip_line_comment(b, i + 2);
                continue;
            }
            b'/' if next == Some(b'*') => {
                space = true;
                i = skip_block_comment(b, i + 2);
                continue;
            }
            b'\'' => {
                out.literal(space);
                skip_string(b, i + 1, false)
            }
            b'"' | b'`' => {
                let end = skip_quoted(b, i + 1, c);
                out.push(Tok::Quoted, slice(b, i, end), space);
                end
            }
            b'0'..=b'9' => match scan_number(b, i) {
                Some(end) => {
                    out.literal(space);
                    end
                }
                None => out.word(b, i, ident_end(b, i), space),
            },
            b'.' if is_digit(next) && !out.prev_is_operand() => match scan_number(b, i) {
                Some(end) => {
                    out.literal(space);
                    end
                }
                None => out.op(b, i, i + 1, space),
            },
            b'-' if out.value_position() && starts_number(b, i + 1) => {
                match scan_number(b, i + 1) {
                    Some(end) => {
                        out.literal(space);
                        end
                    }
                    None => out.op(b, i, i + 1, space),
                }
            }
            b'?' => {
                let digits = digits_end(b, i + 1);
                out.literal(space);
                if digits > i + 1 && !is_ident(peek(b, digits)) {
                    digits
                } else {
                    i + 1
                }
            }
            b'$' => match dollar(b, i) {
                Some(end) => {
                    out.literal(space);
                    end
                }
                None => out.op(b, i, i + 1, space),
            },
            b':' if next == Some(b':') => out.op(b, i, i + 2, space),
            b':' if out.value_position() && is_ident_start(next) => {
                out.literal(space);
                ident_end(b, i + 1)
            }
            b'@' if next == Some(b'@') => {
                let end = ident_end(b, i + 2);
                out.push(Tok::Word { keyword: false }, slice(b, i, end), space);
                end
            }
            b'@' if is_ident_start(next) => {
                out.literal(space);
                ident_end(b, i + 1)
            }
            b'%' if out.value_position() => match percent_param(b, i) {
                Some(end) => {
                    out.literal(space);
                    end
                }
                None => out.op(b, i, i + 1, space),
            },
            b'(' => {
                out.push(Tok::Open, b"(", space);
                i + 1
            }
            b')' => {
                out.push(Tok::Close, b")", space);
                i + 1
            }
            b',' => {
                out.push(Tok::Comma, b",", space);
                i + 1
            }
            _ if is_ident_start(Some(c)) => {
                let end = ident_end(b, i);
                if end == i + 1 && next == Some(b'\'') && b"eEnNbBxX".contains(&c) {
                    out.literal(space);
                    skip_string(b, i + 2, c == b'e' || c == b'E')
                } else {
                    out.word(b, i, end, space)
                }
            }
            _ => out.op(b, i, i + 1, space),
        };
        space = false;
    }
    out.finish()
}

/// The kind of the last token written, which decides spacing and how an
/// ambiguous character such as `-` or `:` is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tok {
    Word { keyword: bool },
    Literal,
    Quoted,
    Open,
    Close,
    Comma,
    Op,
}

/// Progress through a possible `IN (?, ?, ..)` list. The position is where
/// the output ends right after `IN`, so the list can be rewritten in place.
#[derive(Clone, Copy)]
enum InList {
    Idle,
    AfterIn(usize),
    Opened(usize),
    Item(usize),
    Sep(usize),
}

/// Output buffer of [`normalize_query`].
struct SqlOut {
    buf: Vec<u8>,
    prev: Option<Tok>,
    list: InList,
}

impl SqlOut {
    fn with_capacity(capacity: usize) -> Self {
        SqlOut {
            buf: Vec::with_capacity(capacity),
            prev: None,
            list: InList::Idle,
        }
    }

    /// True where a value is expected, so `-1` is a negative number and
    /// `:name` a parameter rather than part of an expression or a slice.
    fn value_position(&self) -> bool {
        matches!(
            self.prev,
            None | Some(Tok::Open | Tok::Comma | Tok::Op | Tok::Word { keyword: true })
        )
    }

    /// True after something a `.` can qualify, as in `t.5` or `"t".col`.
    fn prev_is_operand(&self) -> bool {
        matches!(
            self.prev,
            Some(Tok::Word { .. } | Tok::Quoted | Tok::Close | Tok::Literal)
        )
    }

    fn literal(&mut self, space: bool) {
        self.push(Tok::Literal, b"?", space);
    }

    fn op(&mut self, b: &[u8], start: usize, end: usize, space: bool) -> usize {
        self.push(Tok::Op, slice(b, start, end), space);
        end
    }

    fn word(&mut self, b: &[u8], start: usize, end: usize, space: bool) -> usize {
        let text = slice(b, start, end);
        if text.eq_ignore_ascii_case(b"true") || text.eq_ignore_ascii_case(b"false") {
            self.literal(space);
        } else {
            let keyword = VALUE_KEYWORDS.iter().any(|k| text.eq_ignore_ascii_case(k));
            self.push(Tok::Word { keyword }, text, space);
        }
        end
    }

    fn push(&mut self, tok: Tok, text: &[u8], space: bool) {
        if let (Tok::Close, InList::Item(at)) = (tok, self.list) {
            self.buf.truncate(at);
            self.buf.extend_from_slice(b" (?)");
            self.list = InList::Idle;
            self.prev = Some(tok);
            return;
        }
        if let Some(prev) = self.prev {
            let sep = match (prev, tok) {
                (_, Tok::Comma | Tok::Close) => false,
                (Tok::Comma, _) => true,
                (Tok::Open, _) => false,
                _ => space,
            };
            if sep {
                self.buf.push(b' ');
            }
        }
        self.buf.extend_from_slice(text);
        self.list = match (self.list, tok) {
            (_, Tok::Word { .. }) if text.eq_ignore_ascii_case(b"in") => {
                InList::AfterIn(self.buf.len())
            }
            (InList::AfterIn(at), Tok::Open) => InList::Opened(at),
            (InList::Opened(at) | InList::Sep(at), Tok::Literal) => InList::Item(at),
            (InList::Item(at), Tok::Comma) => InList::Sep(at),
            _ => InList::Idle,
        };
        self.prev = Some(tok);
    }

    fn finish(self) -> String {
        // Cuts only happen at ASCII bytes, so this is always valid UTF-8.
        String::from_utf8(self.buf)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}

/// Keywords after which a value, not an operator, is expected.
const VALUE_KEYWORDS: &[&[u8]] = &[
    b"select",
    b"where",
    b"and",
    b"or",
    b"not",
    b"when",
    b"then",
    b"else",
    b"case",
    b"in",
    b"is",
    b"like",
    b"between",
    b"values",
    b"limit",
    b"offset",
    b"having",
    b"on",
    b"return",
    b"default",
    b"interval",
    b"by",
    b"set",
];

fn is_digit(c: Option<u8>) -> bool {
    c.is_some_and(|c| c.is_ascii_digit())
}

/// Letters, digits, `_`, `$` and any non-ASCII byte continue an identifier.
fn is_ident(c: Option<u8>) -> bool {
    c.is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80)
}

fn is_ident_start(c: Option<u8>) -> bool {
    c.is_some_and(|c| c.is_ascii_alphabetic() || c == b'_' || c >= 0x80)
}

fn ident_end(b: &[u8], mut i: usize) -> usize {
    while is_ident(peek(b, i)) {
        i += 1;
    }
    i
}

fn digits_end(b: &[u8], mut i: usize) -> usize {
    while is_digit(peek(b, i)) {
        i += 1;
    }
    i
}

fn starts_number(b: &[u8], i: usize) -> bool {
    is_digit(peek(b, i)) || (peek(b, i) == Some(b'.') && is_digit(peek(b, i + 1)))
}

/// Scans a numeric literal at `i` and returns its end, or `None` when the
/// digits run into an identifier character (as in `1abc`), which makes the
/// whole thing an identifier rather than a number.
fn scan_number(b: &[u8], i: usize) -> Option<usize> {
    let mut j;
    if peek(b, i) == Some(b'0')
        && matches!(peek(b, i + 1), Some(b'x' | b'X'))
        && peek(b, i + 2).is_some_and(|c| c.is_ascii_hexdigit())
    {
        j = i + 2;
        while peek(b, j).is_some_and(|c| c.is_ascii_hexdigit()) {
            j += 1;
        }
    } else {
        j = digits_end(b, i);
        let whole = j > i;
        if peek(b, j) == Some(b'.') {
            let after = peek(b, j + 1);
            if is_digit(after) || (whole && !is_ident(after)) {
                j = digits_end(b, j + 1);
            }
        }
        if j == i {
            return None;
        }
        if matches!(peek(b, j), Some(b'e' | b'E')) {
            let mut k = j + 1;
            if matches!(peek(b, k), Some(b'+' | b'-')) {
                k += 1;
            }
            if is_digit(peek(b, k)) {
                j = digits_end(b, k);
            }
        }
    }
    (!is_ident(peek(b, j))).then_some(j)
}

/// Returns the end of a `$1` parameter or a `$tag$ .. $tag$` string at `i`.
fn dollar(b: &[u8], i: usize) -> Option<usize> {
    let next = peek(b, i + 1);
    if is_digit(next) {
        let end = digits_end(b, i + 1);
        return (!is_ident(peek(b, end))).then_some(end);
    }
    if next != Some(b'$') && !is_ident_start(next) {
        return None;
    }
    let mut j = i + 1;
    while peek(b, j) != Some(b'$') && is_ident(peek(b, j)) {
        j += 1;
    }
    if peek(b, j) != Some(b'$') {
        return None;
    }
    let tag = slice(b, i, j + 1);
    let body = j + 1;
    let close = slice(b, body, b.len())
        .windows(tag.len())
        .position(|w| w == tag);
    Some(close.map_or(b.len(), |at| body + at + tag.len()))
}

/// Returns the end of `%s` or `%(name)s` at `i`.
fn percent_param(b: &[u8], i: usize) -> Option<usize> {
    match peek(b, i + 1) {
        Some(b's') if !is_ident(peek(b, i + 2)) => Some(i + 2),
        Some(b'(') => {
            let close = ident_end(b, i + 2);
            let ok = peek(b, close) == Some(b')')
                && peek(b, close + 1) == Some(b's')
                && !is_ident(peek(b, close + 2));
            ok.then_some(close + 2)
        }
        _ => None,
    }
}

/// Returns the end of a single-quoted string whose body starts at `i`;
/// unterminated strings run to the end of the input.
fn skip_string(b: &[u8], mut i: usize, backslash: bool) -> usize {
    while let Some(c) = peek(b, i) {
        match c {
            b'\\' if backslash => i += 2,
            b'\'' if peek(b, i + 1) == Some(b'\'') => i += 2,
            b'\'' => return i + 1,
            _ => i += 1,
        }
    }
    b.len()
}

/// Returns the end of an identifier quoted with `quote`, where a doubled
/// quote is an escape.
fn skip_quoted(b: &[u8], mut i: usize, quote: u8) -> usize {
    while let Some(c) = peek(b, i) {
        if c == quote {
            if peek(b, i + 1) == Some(quote) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    b.len()
}

fn skip_line_comment(b: &[u8], i: usize) -> usize {
    slice(b, i, b.len())
        .iter()
        .position(|&c| c == b'\n')
        .map_or(b.len(), |at| i + at)
}

fn skip_block_comment(b: &[u8], i: usize) -> usize {
    slice(b, i, b.len())
        .windows(2)
        .position(|w| w == b"*/")
        .map_or(b.len(), |at| i + at + 2)
}
