//! MessagePack as a tree, read and written here, so a well-formed Datadog payload can be changed structurally:
//! elements and map entries repeated (duplicate keys), values of the wrong type, containers nested inside
//! themselves, headers claiming billions of elements, arrays of empty maps (the amplification case).

use crate::rng::Rng;

#[derive(Debug, Clone)]
pub enum Mp {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Vec<u8>),
    Bin(Vec<u8>),
    Array(Vec<Mp>),
    Map(Vec<(Mp, Mp)>),
    /// Bytes written as they are: a lying header, a reserved byte.
    Raw(Vec<u8>),
}

fn take<'a>(buf: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if n > buf.len() {
        return None;
    }
    let (head, rest) = buf.split_at(n);
    *buf = rest;
    Some(head)
}

fn be(buf: &mut &[u8], n: usize) -> Option<u64> {
    Some(
        take(buf, n)?
            .iter()
            .fold(0u64, |acc, &b| acc << 8 | u64::from(b)),
    )
}

/// Reads one value; `None` if `buf` does not start with a well-formed one (or nests deeper than `depth`).
pub fn read(buf: &mut &[u8], depth: u32) -> Option<Mp> {
    let (&b, rest) = buf.split_first()?;
    *buf = rest;
    let container = |buf: &mut &[u8], n: u64, map: bool| -> Option<Mp> {
        if depth == 0 || n > buf.len() as u64 {
            return None;
        }
        if map {
            let mut entries = Vec::new();
            for _ in 0..n {
                entries.push((read(buf, depth - 1)?, read(buf, depth - 1)?));
            }
            Some(Mp::Map(entries))
        } else {
            let mut items = Vec::new();
            for _ in 0..n {
                items.push(read(buf, depth - 1)?);
            }
            Some(Mp::Array(items))
        }
    };
    Some(match b {
        0x00..=0x7f => Mp::Int(i64::from(b)),
        0x80..=0x8f => return container(buf, u64::from(b & 0x0f), true),
        0x90..=0x9f => return container(buf, u64::from(b & 0x0f), false),
        0xa0..=0xbf => Mp::Str(take(buf, usize::from(b & 0x1f))?.to_vec()),
        0xc0 => Mp::Nil,
        0xc2 => Mp::Bool(false),
        0xc3 => Mp::Bool(true),
        0xc4..=0xc6 => {
            let n = be(buf, 1 << (b - 0xc4))? as usize;
            Mp::Bin(take(buf, n)?.to_vec())
        }
        0xca => Mp::Float(f64::from(f32::from_bits(be(buf, 4)? as u32))),
        0xcb => Mp::Float(f64::from_bits(be(buf, 8)?)),
        0xcc..=0xcf => {
            let v = be(buf, 1 << (b - 0xcc))?;
            i64::try_from(v).map_or(Mp::Raw([&[0xcf], &v.to_be_bytes()[..]].concat()), Mp::Int)
        }
        0xd0 => Mp::Int(i64::from(be(buf, 1)? as u8 as i8)),
        0xd1 => Mp::Int(i64::from(be(buf, 2)? as u16 as i16)),
        0xd2 => Mp::Int(i64::from(be(buf, 4)? as u32 as i32)),
        0xd3 => Mp::Int(be(buf, 8)? as i64),
        0xd9..=0xdb => {
            let n = be(buf, 1 << (b - 0xd9))? as usize;
            Mp::Str(take(buf, n)?.to_vec())
        }
        0xdc => {
            let n = be(buf, 2)?;
            return container(buf, n, false);
        }
        0xdd => {
            let n = be(buf, 4)?;
            return container(buf, n, false);
        }
        0xde => {
            let n = be(buf, 2)?;
            return container(buf, n, true);
        }
        0xdf => {
            let n = be(buf, 4)?;
            return container(buf, n, true);
        }
        0xe0..=0xff => Mp::Int(i64::from(b as i8)),
        // Extensions and the reserved byte: not in trace payloads.
        _ => return None,
    })
}

fn header(out: &mut Vec<u8>, n: usize, fix: u8, fix_max: usize, wide: [u8; 2]) {
    if n <= fix_max {
        out.push(fix | n as u8);
    } else if n <= 0xffff {
        out.push(wide[0]);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(wide[1]);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

pub fn write(value: &Mp, out: &mut Vec<u8>) {
    match value {
        Mp::Nil => out.push(0xc0),
        Mp::Bool(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Mp::Int(v) => {
            if (0..=0x7f).contains(v) || (-32..0).contains(v) {
                out.push(*v as u8);
            } else if let Ok(v) = i32::try_from(*v) {
                out.push(0xd2);
                out.extend_from_slice(&v.to_be_bytes());
            } else {
                out.push(0xd3);
                out.extend_from_slice(&v.to_be_bytes());
            }
        }
        Mp::Float(f) => {
            out.push(0xcb);
            out.extend_from_slice(&f.to_bits().to_be_bytes());
        }
        Mp::Str(s) => {
            if s.len() < 32 {
                out.push(0xa0 | s.len() as u8);
            } else if s.len() <= 0xff {
                out.extend_from_slice(&[0xd9, s.len() as u8]);
            } else {
                header(out, s.len(), 0, 0, [0xda, 0xdb]);
            }
            out.extend_from_slice(s);
        }
        Mp::Bin(b) => {
            out.push(0xc6);
            out.extend_from_slice(&(b.len() as u32).to_be_bytes());
            out.extend_from_slice(b);
        }
        Mp::Array(items) => {
            header(out, items.len(), 0x90, 15, [0xdc, 0xdd]);
            for item in items {
                write(item, out);
            }
        }
        Mp::Map(entries) => {
            header(out, entries.len(), 0x80, 15, [0xde, 0xdf]);
            for (k, v) in entries {
                write(k, out);
                write(v, out);
            }
        }
        Mp::Raw(bytes) => out.extend_from_slice(bytes),
    }
}

fn size(value: &Mp) -> usize {
    let mut out = Vec::new();
    write(value, &mut out);
    out.len()
}

/// Every value's path: indexes into arrays, and into maps as `2 × entry + (0 key, 1 value)`.
fn paths(value: &Mp, prefix: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
    out.push(prefix.clone());
    match value {
        Mp::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                prefix.push(i);
                paths(item, prefix, out);
                prefix.pop();
            }
        }
        Mp::Map(entries) => {
            for (i, (k, v)) in entries.iter().enumerate() {
                prefix.push(2 * i);
                paths(k, prefix, out);
                prefix.pop();
                prefix.push(2 * i + 1);
                paths(v, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

fn at_mut<'a>(value: &'a mut Mp, path: &[usize]) -> &'a mut Mp {
    let mut here = value;
    for &i in path {
        here = match here {
            Mp::Array(items) => &mut items[i],
            Mp::Map(entries) => {
                let (k, v) = &mut entries[i / 2];
                if i % 2 == 0 { k } else { v }
            }
            _ => unreachable!("a path goes through containers"),
        };
    }
    here
}

/// A scalar of some type, to put where another type was expected.
fn scalar(rng: &mut Rng) -> Mp {
    match rng.below(8) {
        0 => Mp::Nil,
        1 => Mp::Bool(rng.one_in(2)),
        2 => Mp::Int(*rng.pick(&[0, -1, i64::MIN, i64::MAX, u32::MAX as i64, 1 << 53])),
        3 => Mp::Float(*rng.pick(&[f64::NAN, f64::INFINITY, -0.0, 1e300])),
        4 => Mp::Str({
            let n = rng.below(8);
            rng.bytes(n)
        }),
        5 => Mp::Bin({
            let n = rng.below(8);
            rng.bytes(n)
        }),
        6 => Mp::Map(Vec::new()),
        _ => Mp::Array(Vec::new()),
    }
}

/// Applies one structural mutation to the payload in `data` (which must read whole), keeping it under
/// `max_len`; `false` when `data` is not one value.
pub fn mutate(rng: &mut Rng, data: &mut Vec<u8>, max_len: usize) -> bool {
    let mut buf = &data[..];
    let Some(mut root) = read(&mut buf, 64) else {
        return false;
    };
    if !buf.is_empty() {
        return false;
    }
    let mut all = Vec::new();
    paths(&root, &mut Vec::new(), &mut all);
    let path = rng.pick(&all).clone();
    let total = data.len();
    match rng.below(7) {
        0 | 1 => {
            // Repeat an element or a map entry (a duplicate key) many times.
            if let Some((&last, parent)) = path.split_last() {
                let room = |one: usize| max_len.saturating_sub(total) / one.max(1);
                match at_mut(&mut root, parent) {
                    Mp::Array(items) => {
                        let item = items[last].clone();
                        let times = rng.count(room(size(&item)));
                        items.splice(last..last, std::iter::repeat_n(item, times));
                    }
                    Mp::Map(entries) => {
                        let entry = entries[last / 2].clone();
                        let times = rng.count(room(size(&entry.0) + size(&entry.1)));
                        entries.splice(last / 2..last / 2, std::iter::repeat_n(entry, times));
                    }
                    _ => {}
                }
            }
        }
        2 => {
            // Fill an array with empty maps: each a one-byte span.
            let times = rng.count(max_len.saturating_sub(total));
            if let Mp::Array(items) = at_mut(&mut root, &path) {
                items.extend(std::iter::repeat_n(Mp::Map(Vec::new()), times));
            }
        }
        3 => {
            // Nest a container inside itself.
            let value = at_mut(&mut root, &path).clone();
            if matches!(value, Mp::Array(_) | Mp::Map(_)) {
                // Past rmp-serde's depth limit (1,024); deeper would overflow the stack of the tree code itself.
                let levels = rng.count(1_500);
                let mut nested = value.clone();
                let one = size(&value);
                let mut estimate = one;
                for _ in 0..levels {
                    estimate += one + 5;
                    if estimate + total > max_len {
                        break;
                    }
                    nested = match &value {
                        Mp::Array(items) => {
                            let mut items = items.clone();
                            items.push(nested);
                            Mp::Array(items)
                        }
                        Mp::Map(entries) => {
                            let mut entries = entries.clone();
                            entries.push((Mp::Str(b"meta".to_vec()), nested));
                            Mp::Map(entries)
                        }
                        _ => unreachable!(),
                    };
                }
                *at_mut(&mut root, &path) = nested;
            }
        }
        4 => {
            // A header that claims far more elements or bytes than follow.
            let claim = *rng.pick(&[0xffff_ffffu32, 0x7fff_ffff, 0x0100_0000, 65_536]);
            let mut raw = vec![*rng.pick(&[0xdd, 0xdf, 0xdb, 0xc6])];
            raw.extend_from_slice(&claim.to_be_bytes());
            *at_mut(&mut root, &path) = Mp::Raw(raw);
        }
        5 => *at_mut(&mut root, &path) = scalar(rng),
        _ => {
            // Drop an element or entry.
            if let Some((&last, parent)) = path.split_last() {
                match at_mut(&mut root, parent) {
                    Mp::Array(items) => {
                        items.remove(last);
                    }
                    Mp::Map(entries) => {
                        entries.remove(last / 2);
                    }
                    _ => {}
                }
            }
        }
    }
    data.clear();
    write(&root, data);
    true
}
