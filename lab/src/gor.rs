//! Reads and writes GoReplay (`.gor`) files, the recorded-traffic format of `gor --output-file`.
//!
//! A file is a sequence of records, each followed by [`SEPARATOR`]. A request record is a
//! header line `1 <id> <unix-epoch-nanoseconds>` and `\n`, then the raw HTTP/1.x request:
//! request line, CRLF-terminated header lines, a blank line and the body as recorded.
//!
//! [`parse`] is lenient: a record it cannot use is reported as a [`Problem`] and skipped,
//! a missing final separator is accepted, and a body is kept as recorded even when it
//! disagrees with `Content-Length`. [`write_record`] writes exactly what [`parse`] reads back.

use std::fmt::Write as _;
use std::io;

use bytes::Bytes;

/// The bytes that end every record: `\n`, the three "see/hear/speak no evil" monkeys, `\n`.
pub const SEPARATOR: &[u8] = "\n\u{1F435}\u{1F648}\u{1F649}\n".as_bytes();

/// The most header lines accepted in one request.
const MAX_HEADERS: usize = 256;

/// One recorded HTTP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The record id, hex digits (40 of them in files written by GoReplay and by this module).
    pub id: String,
    /// When the request was recorded, in nanoseconds since the Unix epoch.
    pub timestamp_ns: u64,
    /// The request method, such as `GET`.
    pub method: String,
    /// The request target as recorded, normally path and query (`/cart?variant_id=11`).
    pub target: String,
    /// Header lines in recorded order and case. Bytes that are not UTF-8 are replaced by U+FFFD.
    pub headers: Vec<(String, String)>,
    /// The body, exactly as recorded.
    pub body: Bytes,
    /// Byte offset of the record in the file it was parsed from (0 for new requests).
    pub offset: u64,
}

impl Request {
    /// The value of the first header named `name` (compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A record that [`parse`] skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Byte offset of the record in the parsed data.
    pub offset: u64,
    /// What is wrong with it.
    pub message: String,
}

/// What [`parse`] found: the usable requests, in file order, and the skipped records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    pub requests: Vec<Request>,
    pub problems: Vec<Problem>,
}

/// Parses the contents of a GoReplay file; never fails and never panics.
///
/// Records that are empty or only whitespace (such as a trailing newline) are ignored
/// silently; every other unusable record becomes a [`Problem`].
pub fn parse(data: &[u8]) -> Parsed {
    let separator = memchr::memmem::Finder::new(SEPARATOR);
    let mut parsed = Parsed::default();
    let mut start = 0;
    while start < data.len() {
        let end = separator
            .find(&data[start..])
            .map_or(data.len(), |at| start + at);
        let record = &data[start..end];
        let offset = start as u64;
        if !record.iter().all(u8::is_ascii_whitespace) {
            match parse_record(record) {
                Ok(request) => parsed.requests.push(Request { offset, ..request }),
                Err(message) => parsed.problems.push(Problem { offset, message }),
            }
        }
        start = end + SEPARATOR.len();
    }
    parsed
}

/// Parses one record (without its separator); the returned request has offset 0.
fn parse_record(record: &[u8]) -> Result<Request, String> {
    let Some(newline) = record.iter().position(|&b| b == b'\n') else {
        return Err("record has no header line".to_owned());
    };
    let (id, timestamp_ns) = parse_header_line(&record[..newline])?;
    let http = &record[newline + 1..];

    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut head = httparse::Request::new(&mut headers);
    let head_len = match head.parse(http) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Err("incomplete HTTP request head".to_owned()),
        Err(e) => return Err(format!("bad HTTP request: {e}")),
    };
    let (Some(method), Some(target)) = (head.method, head.path) else {
        return Err("bad HTTP request: no request line".to_owned());
    };
    Ok(Request {
        id: id.to_owned(),
        timestamp_ns,
        method: method.to_owned(),
        target: target.to_owned(),
        headers: head
            .headers
            .iter()
            .map(|h| {
                let value = String::from_utf8_lossy(h.value).into_owned();
                (h.name.to_owned(), value)
            })
            .collect(),
        body: Bytes::copy_from_slice(&http[head_len..]),
        offset: 0,
    })
}

/// Parses `1 <hex id> <timestamp>`, ignoring any further fields (newer GoReplay versions
/// append a latency).
fn parse_header_line(line: &[u8]) -> Result<(&str, u64), String> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let text = std::str::from_utf8(line).map_err(|_| "header line is not UTF-8".to_owned())?;
    let shown = || text.chars().take(80).collect::<String>();
    let mut fields = text.split(' ');
    match fields.next() {
        Some("1") => {}
        Some(kind @ ("2" | "3")) => {
            return Err(format!("record type {kind} is a response, not a request"));
        }
        _ => return Err(format!("bad header line {:?}", shown())),
    }
    let id = fields
        .next()
        .filter(|id| is_hex_id(id))
        .ok_or_else(|| format!("bad id in header line {:?}", shown()))?;
    let timestamp_ns = fields
        .next()
        .and_then(|ts| ts.parse().ok())
        .ok_or_else(|| format!("bad timestamp in header line {:?}", shown()))?;
    Ok((id, timestamp_ns))
}

fn is_hex_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Returns a new record id: 40 random lowercase hex digits, like GoReplay's.
pub fn new_id() -> String {
    let bytes: [u8; 20] = rand::random();
    bytes.iter().fold(String::with_capacity(40), |mut id, b| {
        let _ = write!(id, "{b:02x}");
        id
    })
}

/// Writes `req` as one record, followed by [`SEPARATOR`], with a single `write_all`.
///
/// The request line says `HTTP/1.1`; `offset` is not written. Fails with
/// [`io::ErrorKind::InvalidInput`], writing nothing, when [`parse`] would not give the
/// request back unchanged: an id that is not hex, a method, target or header that is not
/// valid HTTP (or a header value with surrounding whitespace), or a body containing the
/// separator.
pub fn write_record(out: &mut impl io::Write, req: &Request) -> io::Result<()> {
    let mut buf = Vec::with_capacity(256 + req.body.len());
    buf.extend_from_slice(format!("1 {} {}\n", req.id, req.timestamp_ns).as_bytes());
    buf.extend_from_slice(format!("{} {} HTTP/1.1\r\n", req.method, req.target).as_bytes());
    for (name, value) in &req.headers {
        buf.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    buf.extend_from_slice(b"\r\n");
    buf.extend_from_slice(&req.body);
    let record_len = buf.len();
    buf.extend_from_slice(SEPARATOR);

    let invalid = |why: String| io::Error::new(io::ErrorKind::InvalidInput, why);
    if memchr::memmem::find(&buf, SEPARATOR) != Some(record_len) {
        return Err(invalid(
            "body contains the GoReplay record separator".to_owned(),
        ));
    }
    match parse_record(&buf[..record_len]) {
        Ok(back)
            if back
                == (Request {
                    offset: 0,
                    ..req.clone()
                }) =>
        {
            out.write_all(&buf)
        }
        Ok(_) => Err(invalid(format!(
            "request {} would not read back unchanged (header value with surrounding whitespace?)",
            req.id
        ))),
        Err(why) => Err(invalid(format!(
            "request {} cannot be recorded: {why}",
            req.id
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two records in the layout GoReplay writes: a browser-like GET and a JSON POST.
    fn sample() -> Vec<u8> {
        let mut data = Vec::new();
        data.extend_from_slice(
            b"1 0123456789abcdef0123456789abcdef01234567 1700000000000000000\n\
              GET /products?page=2 HTTP/1.1\r\n\
              Host: shop.test:8080\r\n\
              Accept: text/html\r\n\
              Cookie: session=abc\r\n\
              \r\n",
        );
        data.extend_from_slice(SEPARATOR);
        data.extend_from_slice(
            b"1 fedcba9876543210fedcba9876543210fedcba98 1700000001500000000\n\
              POST /api/cart/items HTTP/1.1\r\n\
              Host: shop.test:8080\r\n\
              Content-Type: application/json\r\n\
              Content-Length: 27\r\n\
              \r\n\
              {\"product\":7,\"quantity\":2}\n",
        );
        data.extend_from_slice(SEPARATOR);
        data
    }

    fn request(method: &str, target: &str, body: &'static [u8]) -> Request {
        Request {
            id: new_id(),
            timestamp_ns: 1_700_000_000_123_456_789,
            method: method.to_owned(),
            target: target.to_owned(),
            headers: vec![
                ("Host".to_owned(), "localhost:3000".to_owned()),
                ("X-Empty".to_owned(), String::new()),
                ("Accept".to_owned(), "*/*".to_owned()),
            ],
            body: Bytes::from_static(body),
            offset: 0,
        }
    }

    #[test]
    fn parses_get_and_post() {
        let data = sample();
        let parsed = parse(&data);
        assert_eq!(parsed.problems, vec![]);
        let [get, post] = parsed.requests.as_slice() else {
            panic!("expected two requests, got {:?}", parsed.requests);
        };

        assert_eq!(get.id, "0123456789abcdef0123456789abcdef01234567");
        assert_eq!(get.timestamp_ns, 1_700_000_000_000_000_000);
        assert_eq!(get.method, "GET");
        assert_eq!(get.target, "/products?page=2");
        assert_eq!(get.headers.len(), 3);
        assert_eq!(
            get.headers[0],
            ("Host".to_owned(), "shop.test:8080".to_owned())
        );
        assert_eq!(get.header("cookie"), Some("session=abc"));
        assert!(get.body.is_empty());
        assert_eq!(get.offset, 0);

        assert_eq!(post.method, "POST");
        assert_eq!(post.target, "/api/cart/items");
        assert_eq!(post.timestamp_ns, 1_700_000_001_500_000_000);
        assert_eq!(post.header("Content-Type"), Some("application/json"));
        assert_eq!(&post.body[..], b"{\"product\":7,\"quantity\":2}\n");
        assert_eq!(&data[post.offset as usize..][..2], b"1 ");
    }

    #[test]
    fn missing_final_separator_is_tolerated() {
        let data = sample();
        let parsed = parse(&data[..data.len() - SEPARATOR.len()]);
        assert_eq!(parsed.problems, vec![]);
        assert_eq!(parsed.requests.len(), 2);
        assert_eq!(
            &parsed.requests[1].body[..],
            b"{\"product\":7,\"quantity\":2}\n"
        );
    }

    #[test]
    fn bad_records_are_reported_with_offsets_and_skipped() {
        let good = sample();
        let bad_records: [&[u8]; 6] = [
            b"2 0123456789abcdef0123456789abcdef01234567 1700000000000000000\nHTTP/1.1 200 OK\r\n\r\n",
            b"1 not-hex 1700000000000000000\nGET / HTTP/1.1\r\n\r\n",
            b"1 0123456789abcdef0123456789abcdef01234567 yesterday\nGET / HTTP/1.1\r\n\r\n",
            b"1 0123456789abcdef0123456789abcdef01234567 1\nGET / HTTP/1.1\r\nBad Header\r\n\r\n",
            b"1 0123456789abcdef0123456789abcdef01234567 1\nGET / HTTP/1.1\r\nHost: x\r\n",
            b"just some text",
        ];
        let mut data = Vec::new();
        let mut offsets = Vec::new();
        for bad in bad_records {
            offsets.push(data.len() as u64);
            data.extend_from_slice(bad);
            data.extend_from_slice(SEPARATOR);
        }
        let good_offset = data.len() as u64;
        data.extend_from_slice(&good);
        data.extend_from_slice(b"\n");

        let parsed = parse(&data);
        assert_eq!(parsed.requests.len(), 2);
        assert_eq!(parsed.requests[0].offset, good_offset);
        let problem_offsets: Vec<u64> = parsed.problems.iter().map(|p| p.offset).collect();
        assert_eq!(problem_offsets, offsets, "{:#?}", parsed.problems);
        assert!(parsed.problems[0].message.contains("response"));
        assert!(parsed.problems[1].message.contains("id"));
        assert!(parsed.problems[2].message.contains("timestamp"));
        assert!(parsed.problems[4].message.contains("incomplete"));
    }

    #[test]
    fn content_length_mismatch_is_kept_as_recorded() {
        let data = b"1 ab 5\nPOST / HTTP/1.1\r\nContent-Length: 100\r\n\r\nshort";
        let parsed = parse(data);
        assert_eq!(parsed.problems, vec![]);
        assert_eq!(&parsed.requests[0].body[..], b"short");
    }

    #[test]
    fn newer_header_lines_with_latency_are_accepted() {
        let data = b"1 ab 5 -1\nGET / HTTP/1.1\r\n\r\n";
        let parsed = parse(data);
        assert_eq!(parsed.problems, vec![]);
        assert_eq!(parsed.requests[0].timestamp_ns, 5);
    }

    #[test]
    fn written_records_parse_back_unchanged() {
        let requests = vec![
            request("GET", "/", b""),
            request("POST", "/api/orders?dry_run=1", b"{\"items\":[1,2,3]}"),
            request("PUT", "/blob", b"\x00\xff\r\n\r\nbinary\n"),
        ];
        let mut file = Vec::new();
        for req in &requests {
            write_record(&mut file, req).unwrap();
        }
        let parsed = parse(&file);
        assert_eq!(parsed.problems, vec![]);
        assert_eq!(parsed.requests.len(), requests.len());
        for (back, original) in parsed.requests.iter().zip(&requests) {
            assert_eq!(
                back,
                &Request {
                    offset: back.offset,
                    ..original.clone()
                }
            );
            assert_eq!(&file[back.offset as usize..][..2], b"1 ");
        }
        assert!(file.ends_with(SEPARATOR));
    }

    #[test]
    fn unwritable_requests_are_rejected_without_writing() {
        let mut cases = vec![];
        let mut bad_id = request("GET", "/", b"");
        bad_id.id = "not hex".to_owned();
        cases.push(bad_id);
        cases.push(request("GET", "/a b", b""));
        cases.push(request("G ET", "/", b""));
        let mut bad_header = request("GET", "/", b"");
        bad_header
            .headers
            .push(("X-Injected".to_owned(), "a\r\nEvil: 1".to_owned()));
        cases.push(bad_header);
        let mut padded = request("GET", "/", b"");
        padded
            .headers
            .push(("X-Padded".to_owned(), " a ".to_owned()));
        cases.push(padded);
        let mut with_separator = request("POST", "/", b"");
        with_separator.body = Bytes::from([b"x".as_slice(), SEPARATOR, b"y"].concat());
        cases.push(with_separator);
        let mut ends_like_separator = request("POST", "/", b"");
        ends_like_separator.body = Bytes::from(SEPARATOR[..SEPARATOR.len() - 1].to_vec());
        cases.push(ends_like_separator);

        for req in cases {
            let mut out = Vec::new();
            let err = write_record(&mut out, &req).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{req:?}");
            assert!(out.is_empty());
        }
    }

    #[test]
    fn new_ids_are_40_lowercase_hex_digits_and_differ() {
        let (a, b) = (new_id(), new_id());
        assert_eq!(a.len(), 40);
        assert!(a.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')));
        assert_ne!(a, b);
    }

    /// Truncated, corrupted and random inputs must be handled without panicking, and
    /// everything that is found must lie inside the input.
    #[test]
    fn never_panics_on_damaged_input() {
        let check = |data: &[u8]| {
            let parsed = parse(data);
            for request in &parsed.requests {
                assert!(request.offset < data.len() as u64);
            }
            for problem in &parsed.problems {
                assert!(problem.offset < data.len() as u64);
            }
        };
        let sample = sample();
        for len in 0..=sample.len() {
            check(&sample[..len]);
            check(&sample[len..]);
        }
        for at in 0..sample.len() {
            for byte in [0, b'\n', b'\r', b' ', b':', b'1', 0x80, 0xf0, 0xff] {
                let mut garbled = sample.clone();
                garbled[at] = byte;
                check(&garbled);
                garbled.remove(at);
                check(&garbled);
            }
        }
        for len in [1, 10, 100, 1000] {
            for _ in 0..200 {
                let noise: Vec<u8> = (0..len).map(|_| rand::random()).collect();
                check(&noise);
                check(&[sample.as_slice(), &noise, &sample].concat());
            }
        }
    }
}
