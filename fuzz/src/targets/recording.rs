//! Recordings (`collector::record`'s OTLP JSON lines, and the browser store's `rumEvents` lines) as
//! `collector::playback` reads them: generated requests one a line, with blank, damaged and over-long lines among them, then changed line by line.

use super::otlp;
use crate::rng::Rng;

/// The line limit the target reads with: far below the real one (64 MiB), so inputs of a few MiB reach the
/// over-long-line path too.
pub const MAX_LINE: usize = 256 << 10;

pub fn seeds() -> Vec<Vec<u8>> {
    let golden: serde_json::Value =
        serde_json::from_slice(otlp::GOLDEN_JSON).expect("the golden request reads");
    let mut line = serde_json::to_vec(&golden).expect("a value serialises");
    line.push(b'\n');
    let mut seeds = vec![
        line.repeat(3),
        Vec::new(),
        b"\n".repeat(100_000),
        b"x\n".repeat(100_000),
        b"{}\n".repeat(100_000),
        // An over-long line, then a good one.
        [vec![b'x'; MAX_LINE + 10], b"\n".to_vec(), line.clone()].concat(),
        // The last line cut short, as after `kill -9`.
        [line.clone(), line[..line.len() / 2].to_vec()].concat(),
        // Browser events, as the browser store records them, beside the spans.
        [
            line.clone(),
            br#"{"rumEvents":[{"type":"view","date":1790000000000,"session":{"id":"s"},"view":{"id":"v","url":"http://127.0.0.1:3000/","loading_time":120000000},"_dd":{"document_version":2}},{"type":"error","date":1790000000001,"session":{"id":"s"},"view":{"id":"v","url":"http://127.0.0.1:3000/"},"error":{"source":"source","message":"boom"}}]}"#.to_vec(),
            b"
".to_vec(),
        ]
        .concat(),
    ];
    for seed in otlp::json_seeds().into_iter().take(8) {
        let mut seed = seed;
        seed.retain(|&b| b != b'\n');
        seed.push(b'\n');
        seeds.push(seed);
    }
    seeds
}

pub fn generate(rng: &mut Rng, room: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..rng.between(1, 8) {
        match rng.below(10) {
            0 => out.push(b'\n'),
            1 => out.extend_from_slice(b"  \t\r\n"),
            2 => {
                let noise = {
                    let n = rng.below(64);
                    rng.bytes(n)
                };
                out.extend(noise.into_iter().filter(|&b| b != b'\n'));
                out.push(b'\n');
            }
            _ => {
                out.extend(otlp::generate_json(rng, room / 4));
                out.push(b'\n');
            }
        }
    }
    if rng.one_in(4) {
        out.pop();
    }
    out.truncate(room);
    out
}

/// Line-level changes: a line repeated, two joined, a line break added inside one; otherwise a line's JSON
/// changed structurally.
pub fn mutate(rng: &mut Rng, data: &mut Vec<u8>, max_len: usize) -> bool {
    let breaks: Vec<usize> = data
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .map(|(i, _)| i)
        .collect();
    if breaks.is_empty() {
        return false;
    }
    let i = rng.below(breaks.len());
    let start = if i == 0 { 0 } else { breaks[i - 1] + 1 };
    let end = breaks[i] + 1;
    match rng.below(4) {
        0 => {
            let line = data[start..end].to_vec();
            let room = max_len.saturating_sub(data.len()) / line.len();
            if room > 0 {
                let times = rng.count(room);
                data.splice(start..start, line.repeat(times));
            }
        }
        1 => {
            data.remove(end - 1);
        }
        2 => {
            let at = rng.between(start, end - 1);
            data.insert(at, b'\n');
        }
        _ => {
            let mut line = data[start..end - 1].to_vec();
            let room = max_len.saturating_sub(data.len() - line.len());
            if crate::json::mutate(rng, &mut line, room) {
                line.retain(|&b| b != b'\n');
                data.splice(start..end - 1, line);
            }
        }
    }
    true
}
