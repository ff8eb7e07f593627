//! Byte-level mutations, for every format: what a careless or hostile sender does to a well-formed body.

use crate::rng::Rng;

/// Bytes worth writing anywhere: varint and length edges, msgpack's long headers, JSON's awkward tokens.
const TOKENS: &[&[u8]] = &[
    &[0x00],
    &[0x7f],
    &[0x80],
    &[0xff],
    &[0xff, 0xff, 0xff, 0xff, 0x0f],
    &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
    &[
        0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00,
    ],
    &[0xdd, 0xff, 0xff, 0xff, 0xff],
    &[0xdf, 0xff, 0xff, 0xff, 0xff],
    &[0xdb, 0xff, 0xff, 0xff, 0xff],
    &[0xc6, 0x7f, 0xff, 0xff, 0xff],
    &[0xc1],
    &[0xd4, 0x01, 0x00],
    b"[",
    b"{",
    b"\"",
    b"\\u",
    b"\\ud800",
    b"1e999",
    b"-0",
    b"18446744073709551616",
    b"null",
    b"\n",
    b"\r\n",
    b"\r\n\r\n",
    "\u{202e}".as_bytes(),
    &[0xed, 0xa0, 0x80],
];

/// Applies one to four random mutations to `data`, keeping it at most `max_len` bytes.
pub fn bytes(rng: &mut Rng, data: &mut Vec<u8>, max_len: usize) {
    for _ in 0..rng.between(1, 4) {
        once(rng, data, max_len);
    }
    data.truncate(max_len);
}

fn once(rng: &mut Rng, data: &mut Vec<u8>, max_len: usize) {
    let len = data.len();
    let at = rng.below(len + 1);
    match rng.below(11) {
        0 if len > 0 => {
            let i = rng.below(len);
            data[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = rng.below(len);
            data[i] = rng.u64() as u8;
        }
        2 => {
            let token = rng.pick(TOKENS);
            data.splice(at..at, token.iter().copied());
        }
        3 if len > 0 => {
            let i = rng.below(len);
            let token = rng.pick(TOKENS);
            let end = (i + token.len()).min(len);
            data[i..end].copy_from_slice(&token[..end - i]);
        }
        4 if len > 0 => {
            // Delete a range.
            let end = at + rng.below(len - at.min(len) + 1).min(64.max(len / 8));
            data.drain(at.min(len)..end.min(len));
        }
        5 | 6 if len > 0 => {
            // Repeat a range in place, a few or many times.
            let start = rng.below(len);
            let piece_len = rng.between(1, (len - start).min(256));
            let piece = data[start..start + piece_len].to_vec();
            let room = max_len.saturating_sub(len) / piece_len;
            let times = rng.count(room);
            if room > 0 {
                let copies: Vec<u8> = piece
                    .iter()
                    .copied()
                    .cycle()
                    .take(piece_len * times)
                    .collect();
                data.splice(start..start, copies);
            }
        }
        7 => data.truncate(at),
        8 => {
            let noise = {
                let n = rng.between(1, 32);
                rng.bytes(n)
            };
            data.splice(at..at, noise);
        }
        9 if len > 1 => {
            // Move a range elsewhere.
            let start = rng.below(len);
            let end = rng.between(start, len.min(start + 128));
            let piece: Vec<u8> = data.drain(start..end).collect();
            let to = rng.below(data.len() + 1);
            data.splice(to..to, piece);
        }
        _ => {
            let noise = rng.bytes(1);
            data.splice(at..at, noise);
        }
    }
}

/// `a`'s head and `b`'s tail, each cut at a random place.
pub fn splice(rng: &mut Rng, a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = a[..rng.below(a.len() + 1)].to_vec();
    out.extend_from_slice(&b[rng.below(b.len() + 1)..]);
    out
}
