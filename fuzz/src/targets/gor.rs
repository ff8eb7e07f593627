//! GoReplay recordings: `arbitrary` requests written as gor records (header line, HTTP/1.x head, body,
//! separator), then changed record by record: repeated, merged, their separators lost or cut.

use arbitrary::{Arbitrary, Unstructured};
use lab::gor::SEPARATOR;

use crate::rng::Rng;

pub const STOREDOG: &[u8] = include_bytes!("../../../recordings/storedog.gor");

#[derive(Debug, Arbitrary)]
struct Record {
    kind: u8,
    id: Vec<u8>,
    timestamp: u64,
    latency: Option<i64>,
    method: u8,
    target: String,
    version: bool,
    headers: Vec<(u8, String)>,
    /// Extra header lines beyond `headers`, many of them (past httparse's 256).
    many_headers: u16,
    body: Vec<u8>,
    crlf: bool,
}

const METHODS: &[&str] = &[
    "GET", "POST", "PUT", "DELETE", "OPTIONS", "G ET", "", "\u{0}",
];
const NAMES: &[&str] = &[
    "Host",
    "Content-Length",
    "Content-Type",
    "Cookie",
    "X-Spree-Order-Token",
    "traceparent",
    "Bad Header",
    "",
];

impl Record {
    fn write(&self, out: &mut Vec<u8>) {
        let kind = match self.kind % 8 {
            0..=5 => "1",
            6 => "2",
            _ => "x",
        };
        let id: String = if self.id.is_empty() {
            "0123456789abcdef0123456789abcdef01234567".to_owned()
        } else {
            self.id.iter().map(|b| format!("{b:02x}")).collect()
        };
        out.extend_from_slice(format!("{kind} {id} {}", self.timestamp).as_bytes());
        if let Some(latency) = self.latency {
            out.extend_from_slice(format!(" {latency}").as_bytes());
        }
        out.push(b'\n');
        let eol: &[u8] = if self.crlf { b"\r\n" } else { b"\n" };
        let method = METHODS[usize::from(self.method) % METHODS.len()];
        let version = if self.version { "HTTP/1.1" } else { "HTTP/1.0" };
        out.extend_from_slice(format!("{method} /{} {version}", self.target).as_bytes());
        out.extend_from_slice(eol);
        for (name, value) in &self.headers {
            let name = NAMES[usize::from(*name) % NAMES.len()];
            out.extend_from_slice(format!("{name}: {value}").as_bytes());
            out.extend_from_slice(eol);
        }
        for i in 0..usize::from(self.many_headers % 400) {
            out.extend_from_slice(format!("X-{i}: {i}").as_bytes());
            out.extend_from_slice(eol);
        }
        out.extend_from_slice(eol);
        out.extend_from_slice(&self.body);
        out.extend_from_slice(SEPARATOR);
    }
}

pub fn seeds() -> Vec<Vec<u8>> {
    let record = b"1 ab 1\nGET / HTTP/1.1\r\nHost: x\r\n\r\n";
    let one = [&record[..], SEPARATOR].concat();
    let mut headers = b"1 ab 1\nGET / HTTP/1.1\r\n".to_vec();
    for i in 0..300 {
        headers.extend_from_slice(format!("X-{i}: {i}\r\n").as_bytes());
    }
    headers.extend_from_slice(b"\r\n");
    let mut long_line = b"1 ab 1\nGET /".to_vec();
    long_line.extend(vec![b'a'; 1 << 20]);
    long_line.extend_from_slice(b" HTTP/1.1\r\n\r\n");
    vec![
        STOREDOG.to_vec(),
        Vec::new(),
        one.repeat(20_000),
        SEPARATOR.repeat(50_000),
        headers,
        long_line,
        // No separator at all, and a record that is only a header line.
        STOREDOG.split(|&b| b == 0xf0).flatten().copied().collect(),
        b"1 ab 1".to_vec(),
        vec![b'\n'; 100_000],
    ]
}

pub fn generate(rng: &mut Rng, room: usize) -> Vec<u8> {
    let entropy = {
        let n = rng.between(16, (room / 4).clamp(64, 16 << 10));
        rng.bytes(n)
    };
    let records = Vec::<Record>::arbitrary(&mut Unstructured::new(&entropy)).unwrap_or_default();
    let mut out = Vec::new();
    for record in &records {
        record.write(&mut out);
    }
    if rng.one_in(3) {
        // Lose the last separator, as a file cut short does.
        out.truncate(out.len().saturating_sub(rng.below(SEPARATOR.len() + 1)));
    }
    out.truncate(room);
    out
}

/// Record-level changes: a record repeated, two merged (a separator lost), a separator cut in half.
pub fn mutate(rng: &mut Rng, data: &mut Vec<u8>, max_len: usize) -> bool {
    let finder = memchr_like(data);
    if finder.is_empty() {
        return false;
    }
    let at = *rng.pick(&finder);
    match rng.below(3) {
        0 => {
            // Repeat the record that ends at `at`.
            let start = finder
                .iter()
                .rev()
                .find(|&&end| end < at)
                .map_or(0, |end| end + SEPARATOR.len());
            let record = data[start..at + SEPARATOR.len()].to_vec();
            let room = max_len.saturating_sub(data.len()) / record.len().max(1);
            if room > 0 {
                let times = rng.count(room);
                let copies = record.repeat(times);
                data.splice(start..start, copies);
            }
        }
        1 => {
            data.drain(at..at + SEPARATOR.len());
        }
        _ => {
            let keep = rng.below(SEPARATOR.len());
            data.drain(at + keep..at + SEPARATOR.len());
        }
    }
    true
}

/// Where each separator starts.
fn memchr_like(data: &[u8]) -> Vec<usize> {
    data.windows(SEPARATOR.len())
        .enumerate()
        .filter(|(_, w)| *w == SEPARATOR)
        .map(|(i, _)| i)
        .collect()
}
