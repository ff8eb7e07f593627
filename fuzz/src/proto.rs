//! Protobuf as a tree of fields, read without a schema, so a well-formed message can be changed the way an
//! attacker would: a field repeated thousands of times, a message nested inside itself, a length that claims
//! far more than the body has, a known field with the wrong wire type, unknown fields and groups.

use crate::rng::Rng;

#[derive(Debug, Clone)]
pub enum Field {
    Varint(u64, u64),
    Fixed64(u64, u64),
    Fixed32(u64, u32),
    /// A length-delimited field whose bytes did not read as a message (a string, an id).
    Bytes(u64, Vec<u8>),
    Message(u64, Vec<Field>),
    /// Bytes written as they are: a lying length, a group, a wrong wire type.
    Raw(Vec<u8>),
}

pub fn varint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn key(field: u64, wire: u64, out: &mut Vec<u8>) {
    varint(field << 3 | wire, out);
}

/// One length-delimited field.
pub fn len_field(field: u64, payload: &[u8], out: &mut Vec<u8>) {
    key(field, 2, out);
    varint(payload.len() as u64, out);
    out.extend_from_slice(payload);
}

fn read_varint(buf: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for i in 0..10 {
        let (&byte, rest) = buf.split_first()?;
        *buf = rest;
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            return Some(value);
        }
    }
    None
}

/// Reads `buf` as a message; `None` if it is not one. Length-delimited fields that read as messages become
/// [`Field::Message`], down to `depth` levels.
pub fn parse(mut buf: &[u8], depth: u32) -> Option<Vec<Field>> {
    let mut fields = Vec::new();
    while !buf.is_empty() {
        let k = read_varint(&mut buf)?;
        let (number, wire) = (k >> 3, k & 7);
        if number == 0 {
            return None;
        }
        fields.push(match wire {
            0 => Field::Varint(number, read_varint(&mut buf)?),
            1 => {
                let (bytes, rest) = buf.split_first_chunk::<8>()?;
                buf = rest;
                Field::Fixed64(number, u64::from_le_bytes(*bytes))
            }
            5 => {
                let (bytes, rest) = buf.split_first_chunk::<4>()?;
                buf = rest;
                Field::Fixed32(number, u32::from_le_bytes(*bytes))
            }
            2 => {
                let len = usize::try_from(read_varint(&mut buf)?).ok()?;
                if len > buf.len() {
                    return None;
                }
                let (payload, rest) = buf.split_at(len);
                buf = rest;
                match (depth > 0 && !payload.is_empty())
                    .then(|| parse(payload, depth - 1))
                    .flatten()
                {
                    Some(inner) => Field::Message(number, inner),
                    None => Field::Bytes(number, payload.to_vec()),
                }
            }
            _ => return None,
        });
    }
    Some(fields)
}

pub fn write(fields: &[Field], out: &mut Vec<u8>) {
    for field in fields {
        match field {
            Field::Varint(n, v) => {
                key(*n, 0, out);
                varint(*v, out);
            }
            Field::Fixed64(n, v) => {
                key(*n, 1, out);
                out.extend_from_slice(&v.to_le_bytes());
            }
            Field::Fixed32(n, v) => {
                key(*n, 5, out);
                out.extend_from_slice(&v.to_le_bytes());
            }
            Field::Bytes(n, payload) => len_field(*n, payload, out),
            Field::Message(n, inner) => {
                let mut payload = Vec::new();
                write(inner, &mut payload);
                len_field(*n, &payload, out);
            }
            Field::Raw(bytes) => out.extend_from_slice(bytes),
        }
    }
}

fn size(fields: &[Field]) -> usize {
    let mut out = Vec::new();
    write(fields, &mut out);
    out.len()
}

/// The paths (indexes from the root) of every field in the tree.
fn paths(fields: &[Field], prefix: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
    for (i, field) in fields.iter().enumerate() {
        prefix.push(i);
        out.push(prefix.clone());
        if let Field::Message(_, inner) = field {
            paths(inner, prefix, out);
        }
        prefix.pop();
    }
}

/// The list holding the field at `path`, and the field's index in it.
fn parent_mut<'a>(fields: &'a mut Vec<Field>, path: &[usize]) -> (&'a mut Vec<Field>, usize) {
    let (&last, ancestors) = path.split_last().expect("a path names a field");
    let mut list = fields;
    for &i in ancestors {
        list = match &mut list[i] {
            Field::Message(_, inner) => inner,
            _ => unreachable!("a path goes through messages"),
        };
    }
    (list, last)
}

fn get<'a>(fields: &'a [Field], path: &[usize]) -> &'a Field {
    let mut list = fields;
    let (&last, ancestors) = path.split_last().expect("a path names a field");
    for &i in ancestors {
        list = match &list[i] {
            Field::Message(_, inner) => inner,
            _ => unreachable!("a path goes through messages"),
        };
    }
    &list[last]
}

fn number(field: &Field) -> u64 {
    match field {
        Field::Varint(n, _)
        | Field::Fixed64(n, _)
        | Field::Fixed32(n, _)
        | Field::Bytes(n, _)
        | Field::Message(n, _) => *n,
        Field::Raw(_) => 1,
    }
}

/// Applies one structural mutation to the message in `data` (which must parse), keeping it under `max_len`;
/// `false` when `data` is not a message.
pub fn mutate(rng: &mut Rng, data: &mut Vec<u8>, max_len: usize) -> bool {
    let Some(mut tree) = parse(data, 40) else {
        return false;
    };
    let mut all = Vec::new();
    paths(&tree, &mut Vec::new(), &mut all);
    if all.is_empty() {
        return false;
    }
    let path = rng.pick(&all).clone();
    let total = data.len();
    match rng.below(8) {
        0 | 1 => {
            // Repeat the field: protobuf merges repeated message fields and appends repeated ones.
            let field = get(&tree, &path).clone();
            let one = size(std::slice::from_ref(&field)).max(1);
            let room = max_len.saturating_sub(total) / one;
            if room > 0 {
                let times = rng.count(room);
                let (list, i) = parent_mut(&mut tree, &path);
                list.splice(i..i, std::iter::repeat_n(field, times));
            }
        }
        2 => {
            // Put an ancestor inside its own descendant (an AnyValue inside the array inside it), again and
            // again: nesting as deep as the size allows.
            if path.len() >= 2 {
                let cut = rng.between(1, path.len() - 1);
                let ancestor = get(&tree, &path[..cut]).clone();
                // Past the decoders' limit (100 levels), not so deep that the tree code overflows the stack.
                let levels = rng.count(300);
                let one = size(std::slice::from_ref(&ancestor));
                let mut nested = get(&tree, &path).clone();
                for _ in 0..levels {
                    if one + size(std::slice::from_ref(&nested)) + total > max_len {
                        break;
                    }
                    let mut outer = ancestor.clone();
                    replace_at(&mut outer, &path[cut..], nested);
                    nested = outer;
                }
                let (list, i) = parent_mut(&mut tree, &path);
                list[i] = nested;
            }
        }
        3 => {
            // Claim a length far past the end of the body.
            let field = get(&tree, &path).clone();
            let mut raw = Vec::new();
            key(number(&field), 2, &mut raw);
            varint(
                *rng.pick(&[
                    u64::from(u32::MAX),
                    1 << 32,
                    i64::MAX as u64,
                    u64::MAX,
                    total as u64 + 1,
                ]),
                &mut raw,
            );
            if let Field::Bytes(_, payload) = &field {
                raw.extend_from_slice(payload);
            }
            let (list, i) = parent_mut(&mut tree, &path);
            list[i] = Field::Raw(raw);
        }
        4 => {
            // The same field number with another wire type.
            let field = get(&tree, &path).clone();
            let mut raw = Vec::new();
            let wire = *rng.pick(&[0u64, 1, 2, 3, 4, 5, 6, 7]);
            key(number(&field), wire, &mut raw);
            match wire {
                0 => varint(rng.u64(), &mut raw),
                1 => raw.extend_from_slice(&rng.u64().to_le_bytes()),
                2 => varint(0, &mut raw),
                5 => raw.extend_from_slice(&(rng.u64() as u32).to_le_bytes()),
                _ => {}
            }
            let (list, i) = parent_mut(&mut tree, &path);
            list[i] = Field::Raw(raw);
        }
        5 => {
            let (list, i) = parent_mut(&mut tree, &path);
            list.remove(i);
        }
        6 => {
            // Unknown fields: a varint, a group (maybe nested, maybe unterminated), bytes.
            let mut raw = Vec::new();
            let n = rng.between(17, 5000) as u64;
            match rng.below(3) {
                0 => {
                    key(n, 0, &mut raw);
                    varint(rng.u64(), &mut raw);
                }
                1 => {
                    let depth = rng.count(200);
                    for _ in 0..depth {
                        key(n, 3, &mut raw);
                    }
                    if rng.one_in(4) {
                        key(n, 0, &mut raw);
                        varint(1, &mut raw);
                    }
                    for _ in 0..depth.saturating_sub(rng.below(2)) {
                        key(n, 4, &mut raw);
                    }
                }
                _ => len_field(
                    n,
                    &{
                        let n = rng.below(16);
                        rng.bytes(n)
                    },
                    &mut raw,
                ),
            }
            let (list, i) = parent_mut(&mut tree, &path);
            list.insert(i, Field::Raw(raw));
        }
        _ => {
            // Copy a field somewhere else in the tree.
            let other = rng.pick(&all).clone();
            let field = get(&tree, &other).clone();
            if size(std::slice::from_ref(&field)) + total <= max_len {
                let (list, i) = parent_mut(&mut tree, &path);
                list.insert(i, field);
            }
        }
    }
    data.clear();
    write(&tree, data);
    true
}

/// Replaces the field at `path` below `field` (a message) with `with`.
fn replace_at(field: &mut Field, path: &[usize], with: Field) {
    let Field::Message(_, inner) = field else {
        return;
    };
    let (list, i) = parent_mut(inner, path);
    list[i] = with;
}
