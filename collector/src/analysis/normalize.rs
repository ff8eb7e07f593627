//! Normalisation of SQL statements, error messages and stack traces.
//!
//! Spans and errors that differ only in the values they carry should fall
//! into the same group. The functions here strip those values while keeping
//! the shape of the text. They are total: any input, however malformed,
//! produces a result and never panics.

use std::borrow::Cow;

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

fn peek(b: &[u8], i: usize) -> Option<u8> {
    b.get(i).copied()
}

fn slice(b: &[u8], start: usize, end: usize) -> &[u8] {
    b.get(start..end.min(b.len())).unwrap_or_default()
}

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

/// A source location: a path as written in the stack trace and a 1-based line.
///
/// The path is kept as the trace wrote it, except that a leading `./` and a
/// `file://` scheme are removed. Absolute paths stay absolute: nothing here
/// knows where the repository lives. Java frames only name the file, as in
/// `Cart.java`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Location {
    /// Path of the source file.
    pub file: String,
    /// 1-based line number.
    pub line: u32,
}

/// The top-most frame of `stack` that belongs to the application rather than to a library or the runtime.
///
/// Understands Rust backtraces (`at path:line:col` lines and bare
/// `path:line` lines), Python tracebacks (`File "path", line N`), Java
/// (`at pkg.Class.method(File.java:N)`) and Node (`at fn (path:line:col)`).
/// Python lists the innermost call last, the others first, so for a Python
/// traceback this is the last application frame in the text and otherwise
/// the first. Frames under `.cargo`, the Rust toolchain, `site-packages`,
/// `node_modules`, `/usr/lib` and the like, Java frames in `java.*`,
/// `javax.*`, `jdk.*`, `sun.*` and `org.springframework.*`, and
/// pseudo-files such as `<frozen ..>` or `<stdin>` are skipped.
///
/// Returns `None` when no application frame is found.
pub fn top_project_frame(stack: &str) -> Option<Location> {
    let mut first = None;
    let mut last_python = None;
    let mut python = false;
    for line in stack.lines() {
        let Some(frame) = parse_frame(line.trim()) else {
            continue;
        };
        python |= frame.python;
        if frame.library {
            continue;
        }
        if frame.python {
            last_python = Some(frame.location);
        } else if first.is_none() {
            first = Some(frame.location);
        }
    }
    if python { last_python } else { first }
}

/// One parsed stack frame.
struct Frame {
    location: Location,
    library: bool,
    python: bool,
}

fn parse_frame(line: &str) -> Option<Frame> {
    if let Some(rest) = line.strip_prefix("File \"") {
        let (path, after) = rest.split_once('"')?;
        let after = after.strip_prefix(", line ")?;
        let digits = after
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(after.len());
        let location = location(path, after.get(..digits)?)?;
        return Some(Frame {
            library: is_library_path(&location.file),
            location,
            python: true,
        });
    }
    if let Some(rest) = line.strip_prefix("at ") {
        return parse_at_frame(rest.trim());
    }
    // A bare `path:line[:col]`, as printed by simple Rust formatters. Be
    // strict so that ordinary message lines are not taken for frames.
    if line.contains(char::is_whitespace) {
        return None;
    }
    let location = split_location(line)?;
    let name = location.file.rsplit(['/', '\\']).next().unwrap_or_default();
    let has_extension = name.rsplit_once('.').is_some_and(|(stem, ext)| {
        !stem.is_empty() && !ext.is_empty() && ext.bytes().all(|c| c.is_ascii_alphanumeric())
    });
    if !has_extension {
        return None;
    }
    Some(Frame {
        library: is_library_path(&location.file),
        location,
        python: false,
    })
}

/// Parses what follows `at ` in Rust, Java and Node frames.
fn parse_at_frame(rest: &str) -> Option<Frame> {
    let Some(open) = rest.rfind('(') else {
        // Rust `at ./src/x.rs:1:2` or Node `at /srv/app/x.js:1:2`.
        let location = split_location(rest)?;
        return Some(Frame {
            library: is_library_path(&location.file),
            location,
            python: false,
        });
    };
    let name = rest.get(..open)?;
    let inner = rest.get(open + 1..)?;
    let inner = &inner[..inner.find(')')?];
    let location = split_location(inner)?;
    let mut library = is_library_path(&location.file);
    // Java writes `pkg.Class.method(File.java:42)` with no space before the
    // parenthesis; Node writes `name (path:line:col)`.
    if !name.is_empty() && !name.contains(char::is_whitespace) {
        library |= is_java_library(name);
    }
    Some(Frame {
        location,
        library,
        python: false,
    })
}

/// Splits `path:line` or `path:line:col`.
fn split_location(text: &str) -> Option<Location> {
    let (head, last) = split_number(text)?;
    match split_number(head) {
        Some((path, line)) => location(path, line),
        None => location(head, last),
    }
}

fn split_number(text: &str) -> Option<(&str, &str)> {
    let (head, number) = text.rsplit_once(':')?;
    let digits = !number.is_empty() && number.bytes().all(|c| c.is_ascii_digit());
    digits.then_some((head, number))
}

fn location(path: &str, line: &str) -> Option<Location> {
    let line: u32 = line.parse().ok().filter(|&n| n > 0)?;
    let mut path = path.trim();
    path = path.strip_prefix("file://").unwrap_or(path);
    while let Some(rest) = path.strip_prefix("./") {
        path = rest;
    }
    let plausible = !path.is_empty() && !path.contains("://") && path.contains(['.', '/', '\\']);
    plausible.then(|| Location {
        file: path.to_owned(),
        line,
    })
}

/// Path fragments that mark library, toolchain or runtime code.
const LIBRARY_MARKERS: &[&str] = &[
    "/.cargo/registry/",
    "/.cargo/git/",
    "/rustc/",
    "/library/std/",
    "/library/core/",
    "/library/alloc/",
    "site-packages",
    "dist-packages",
    "node_modules",
    "node:internal",
    "<frozen",
    "/usr/lib/",
    "/usr/local/lib/",
    "/lib/python3",
];

fn is_library_path(path: &str) -> bool {
    let path: Cow<'_, str> = if path.contains('\\') {
        Cow::Owned(path.replace('\\', "/"))
    } else {
        Cow::Borrowed(path)
    };
    // `<frozen ..>`, `<stdin>`, `<anonymous>`: not files in the project.
    path.starts_with('<') || LIBRARY_MARKERS.iter().any(|m| path.contains(m))
}

/// Java packages that belong to the platform or a framework.
const JAVA_LIBRARY_PACKAGES: &[&str] = &["java.", "javax.", "jdk.", "sun.", "org.springframework."];

fn is_java_library(method: &str) -> bool {
    // Drop a class loader or module prefix, as in `java.base/java.lang.Thread.run`.
    let method = method.rsplit('/').next().unwrap_or(method);
    JAVA_LIBRARY_PACKAGES.iter().any(|p| method.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn query_table() {
        let cases = [
            (
                "SELECT id, name FROM discount_type WHERE id = $1",
                "SELECT id, name FROM discount_type WHERE id = ?",
            ),
            (
                "SELECT id, name FROM discount_type WHERE id = 42",
                "SELECT id, name FROM discount_type WHERE id = ?",
            ),
            (
                "select * from t where a = 'O''Brien' and b = -3.5e2",
                "select * from t where a = ? and b = ?",
            ),
            (
                "SELECT * FROM t WHERE id IN (1, 2, 3)",
                "SELECT * FROM t WHERE id IN (?)",
            ),
            (
                "SELECT * FROM t WHERE id IN (?,?)",
                "SELECT * FROM t WHERE id IN (?)",
            ),
            (
                "SELECT * FROM t2 WHERE flag = true -- note\n  AND x = :x",
                "SELECT * FROM t2 WHERE flag = ? AND x = ?",
            ),
            (
                "INSERT INTO t (a, b) VALUES ($1, $2)",
                "INSERT INTO t (a, b) VALUES (?, ?)",
            ),
            // Collapsing the list ignores spacing and case.
            (
                "select 1 from t where id in( 1 ,2 )",
                "select ? from t where id in (?)",
            ),
            ("x NOT IN ('a','b')", "x NOT IN (?)"),
            ("x IN (?)", "x IN (?)"),
            ("x IN (1, NULL)", "x IN (?, NULL)"),
            (
                "SELECT * FROM t WHERE id IN ( SELECT id FROM u WHERE n > 5 )",
                "SELECT * FROM t WHERE id IN (SELECT id FROM u WHERE n > ?)",
            ),
            (
                "SELECT * FROM t WHERE id IN (SELECT id FROM u WHERE k IN (1,2))",
                "SELECT * FROM t WHERE id IN (SELECT id FROM u WHERE k IN (?))",
            ),
            // Digits inside identifiers are not literals.
            (
                "SELECT t1.col2 FROM table2 t1",
                "SELECT t1.col2 FROM table2 t1",
            ),
            ("SELECT a - 1, b-2 FROM t", "SELECT a - ?, b-? FROM t"),
            ("SELECT -1, (-2), x*-3", "SELECT ?, (?), x*?"),
            ("SELECT 0x1F, 1e10, .5, 3.", "SELECT ?, ?, ?, ?"),
            ("WHERE a IS NULL AND b = FALSE", "WHERE a IS NULL AND b = ?"),
            ("WHERE a = E'it\\'s' AND b = N'x'", "WHERE a = ? AND b = ?"),
            ("SELECT $tag$ a 'b' $tag$, $$c$$", "SELECT ?, ?"),
            (
                "UPDATE t SET a = %s, b = %(name)s WHERE c = @id AND d = ?3",
                "UPDATE t SET a = ?, b = ? WHERE c = ? AND d = ?",
            ),
            ("SELECT @@version", "SELECT @@version"),
            ("SELECT a % b FROM t", "SELECT a % b FROM t"),
            ("SELECT '1'::int, $1::text", "SELECT ?::int, ?::text"),
            ("SELECT arr[1:n] FROM t", "SELECT arr[?:n] FROM t"),
            (
                "SELECT \"Weird  Col\", `x 1` FROM \"t\"\"q\"",
                "SELECT \"Weird  Col\", `x 1` FROM \"t\"\"q\"",
            ),
            ("  SELECT /* hint */ a\n\t FROM   t  ", "SELECT a FROM t"),
            ("SELECT a/*x*/FROM t", "SELECT a FROM t"),
            ("f( a ,b,  c )", "f(a, b, c)"),
            ("SELECT 'unterminated", "SELECT ?"),
            ("SELECT /* open", "SELECT"),
            ("SELECT \"open", "SELECT \"open"),
            (
                "SELECT naïve FROM café WHERE x = 'é'",
                "SELECT naïve FROM café WHERE x = ?",
            ),
            ("", ""),
            ("   ", ""),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_query(input), want, "input: {input:?}");
            assert_eq!(normalize_query(want), want, "not a fixed point: {want:?}");
        }
    }

    #[test]
    fn message_table() {
        let cases = [
            ("order 17 not found", "order ? not found"),
            ("order 23 not found", "order ? not found"),
            (
                "connection to 127.0.0.1:5002 refused",
                "connection to ?:? refused",
            ),
            ("key \"abc\" missing", "key ? missing"),
            ("key 'abc' missing", "key ? missing"),
            ("can't find user 'bob'", "can't find user ?"),
            (
                "trace 4bf92f3577b34da6a3ce929d0e0e4736 span 00f067aa0ba902b7",
                "trace ? span ?",
            ),
            ("id 123e4567-e89b-12d3-a456-426614174000 gone", "id ? gone"),
            ("addr 0x7ffd1 bad", "addr ? bad"),
            ("took 1.25 s, limit 1", "took ? s, limit ?"),
            ("user42 and 17ms stay", "user42 and 17ms stay"),
            ("deadbeef is a word", "deadbeef is a word"),
            ("found 17.", "found ?."),
            ("  many\t\n spaces  ", "many spaces"),
            ("say \"a \\\"b\\\" c\" now", "say ? now"),
            ("open 'quote", "open 'quote"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_message(input), want, "input: {input:?}");
            assert_eq!(normalize_message(want), want, "not a fixed point: {want:?}");
        }
    }

    fn loc(file: &str, line: u32) -> Option<Location> {
        Some(Location {
            file: file.to_owned(),
            line,
        })
    }

    #[test]
    fn rust_std_backtrace() {
        let stack = "\
   0: std::backtrace::Backtrace::force_capture
             at /rustc/0f1e2d3c4b5a69788796a5b4c3d2e1f001122334/library/std/src/backtrace.rs:312:9
   1: <storefront::error::AppError as core::convert::From<E>>::from
   2: storefront::layout::banner
             at ./services/storefront/src/layout.rs:65:9
   3: storefront::handlers::index::{{closure}}
             at ./services/storefront/src/handlers.rs:18:22
   4: tokio::runtime::task::core::Core<T,S>::poll
             at /root/.cargo/registry/src/index.crates.io-6f17d22bba15001f/tokio-1.54.0/src/runtime/task/core.rs:331:17
   5: core::ops::function::FnOnce::call_once
             at /rustc/0f1e2d3c4b5a69788796a5b4c3d2e1f001122334/library/core/src/ops/function.rs:250:5
";
        assert_eq!(
            top_project_frame(stack),
            loc("services/storefront/src/layout.rs", 65)
        );
    }

    #[test]
    fn rust_simple_formats() {
        let bare = "error: banner failed\n/root/.cargo/git/checkouts/dep/src/lib.rs:3\nservices/storefront/src/layout.rs:65\nservices/storefront/src/main.rs:10\n";
        assert_eq!(
            top_project_frame(bare),
            loc("services/storefront/src/layout.rs", 65)
        );
        let at =
            "  at /usr/local/lib/rustlib/x.rs:1:1\n  at services/storefront/src/layout.rs:65:9\n";
        assert_eq!(
            top_project_frame(at),
            loc("services/storefront/src/layout.rs", 65)
        );
        // Absolute project paths are kept as written.
        let abs = "at /home/dev/shop/services/ads/src/main.rs:7:1";
        assert_eq!(
            top_project_frame(abs),
            loc("/home/dev/shop/services/ads/src/main.rs", 7)
        );
    }

    #[test]
    fn python_traceback_takes_innermost_project_frame() {
        let stack = r#"Traceback (most recent call last):
  File "/usr/local/lib/python3.12/site-packages/flask/app.py", line 1473, in wsgi_app
    response = self.full_dispatch_request()
  File "/app/shop/views.py", line 42, in index
    return render(cart_summary(user))
  File "/app/shop/cart.py", line 17, in cart_summary
    total = sum(item.price for item in items)
  File "<frozen importlib._bootstrap>", line 1360, in _find_and_load
  File "/usr/local/lib/python3.12/decimal.py", line 5, in __add__
TypeError: unsupported operand type(s) for +: 'int' and 'NoneType'
"#;
        assert_eq!(top_project_frame(stack), loc("/app/shop/cart.py", 17));
    }

    #[test]
    fn java_stack() {
        let stack = "java.lang.IllegalStateException: cart is closed
\tat java.base/java.util.Objects.requireNonNull(Objects.java:259)
\tat com.shop.Cart.add(Cart.java:42)
\tat com.shop.CartController.post(CartController.java:88) ~[classes/:na]
\tat org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:885)
\tat java.base/java.lang.Thread.run(Thread.java:1583)
";
        assert_eq!(top_project_frame(stack), loc("Cart.java", 42));
        let native = "\tat sun.misc.Unsafe.park(Native Method)\n\tat com.shop.Q.take(Q.java:9)";
        assert_eq!(top_project_frame(native), loc("Q.java", 9));
    }

    #[test]
    fn node_stack() {
        let stack = "TypeError: Cannot read properties of undefined (reading 'price')
    at Array.map (<anonymous>)
    at priceOf (/srv/app/node_modules/pricing/index.js:12:5)
    at addItem (/srv/app/cart.js:42:13)
    at /srv/app/routes.js:7:3
    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)
";
        assert_eq!(top_project_frame(stack), loc("/srv/app/cart.js", 42));
        let bare = "Error: boom\n    at node:internal/main:1:1\n    at /srv/app/routes.js:7:3";
        assert_eq!(top_project_frame(bare), loc("/srv/app/routes.js", 7));
        let esm = "    at load (file:///srv/app/loader.mjs:3:9)";
        assert_eq!(top_project_frame(esm), loc("/srv/app/loader.mjs", 3));
    }

    #[test]
    fn no_project_frame() {
        assert_eq!(top_project_frame(""), None);
        assert_eq!(top_project_frame("something went wrong at 12:30"), None);
        assert_eq!(top_project_frame("see http://example.test:8080"), None);
        assert_eq!(top_project_frame("https://example.test:8080"), None);
        assert_eq!(top_project_frame("at src/x.rs:0:1"), None);
        assert_eq!(
            top_project_frame("  File \"/usr/lib/python3/dist-packages/x.py\", line 3, in f"),
            None
        );
        assert_eq!(
            top_project_frame("  File \"<stdin>\", line 1, in <module>"),
            None
        );
    }

    proptest! {
        #[test]
        fn query_total_and_idempotent(sql in any::<String>()) {
            let once = normalize_query(&sql);
            prop_assert_eq!(normalize_query(&once), once);
        }

        #[test]
        fn query_sqlish_idempotent(sql in "[a-fA-FiIxXeEnNsS0-9_ ,.()\\[\\]=<>*/'\"`$:?@%\\\\\n\t-]{0,40}") {
            let once = normalize_query(&sql);
            prop_assert_eq!(normalize_query(&once), once);
        }

        #[test]
        fn query_integer_literal_is_ignored(
            prefix in "[a-zA-Z_ ,.()=<>*/-]{0,20}",
            suffix in "[a-zA-Z0-9_ ,.()=<>*/-]{0,20}",
            a in any::<u64>(),
            b in any::<u64>(),
        ) {
            prop_assert_eq!(
                normalize_query(&format!("{prefix} {a} {suffix}")),
                normalize_query(&format!("{prefix} {b} {suffix}"))
            );
        }

        #[test]
        fn message_total_and_idempotent(message in any::<String>()) {
            let once = normalize_message(&message);
            prop_assert_eq!(normalize_message(&once), once);
        }

        #[test]
        fn message_tricky_idempotent(message in "[a-fA-Fx0-9_ .:'\"\\\\-]{0,40}") {
            let once = normalize_message(&message);
            prop_assert_eq!(normalize_message(&once), once);
        }

        #[test]
        fn message_number_is_ignored(a in any::<u32>(), b in any::<u32>()) {
            prop_assert_eq!(
                normalize_message(&format!("order {a} not found")),
                normalize_message(&format!("order {b} not found"))
            );
        }

        #[test]
        fn frame_total(stack in any::<String>()) {
            if let Some(found) = top_project_frame(&stack) {
                prop_assert!(found.line > 0);
                prop_assert!(!found.file.is_empty());
            }
        }

        #[test]
        fn frame_total_on_framey_text(stack in "(( *(at |File \")?[a-z./<:(\" ]{0,12}:[0-9]{1,3}(:[0-9])?\\)?(, line [0-9])?)?\n){0,6}") {
            let _ = top_project_frame(&stack);
        }
    }
}
