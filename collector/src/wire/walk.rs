//! The practical limit of decoding OTLP, for benchmarks only: one walk over a request's bytes that reads every
//! field [`super::decode`] reads and interns every string into a table of the request's own — each distinct
//! byte string checked for UTF-8 and given an index once, every later occurrence one hash of borrowed bytes —
//! and builds nothing: no span, no attribute, no shared string. What a decoder straight into the store's form
//! could at best come to; `otlp_512_spans/borrowing_walk` times it beside prost's decode and the wire decoder
//! (BENCHMARKS.md).

use rustc_hash::FxHashMap;

use super::{FIXED32, FIXED64, LEN, Result, VARINT, expect, fields, utf8};

/// What a walk saw.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Walked {
    /// Spans whose trace and span ids have the lengths OTLP requires.
    pub spans: usize,
    /// Attributes of spans, events and links, at every depth.
    pub attributes: usize,
    /// Distinct strings interned.
    pub strings: usize,
}

/// A request's strings by their bytes, each given the next index on first sight.
#[derive(Default)]
struct Table<'a> {
    seen: FxHashMap<&'a [u8], u32>,
}

impl<'a> Table<'a> {
    fn intern(&mut self, bytes: &'a [u8]) -> Result<u32> {
        if let Some(&index) = self.seen.get(bytes) {
            return Ok(index);
        }
        utf8(bytes)?;
        let index = self.seen.len() as u32;
        self.seen.insert(bytes, index);
        Ok(index)
    }
}

/// Walks a protobuf `ExportTraceServiceRequest` (see the module's documentation).
pub fn walk(body: &[u8]) -> Result<Walked> {
    let mut table = Table::default();
    let mut walked = Walked::default();
    fields(body, 0, |r, field, wire| {
        if field != 1 {
            return Ok(false);
        }
        expect(wire, LEN)?;
        resource_spans(r.bytes()?, &mut table, &mut walked)?;
        Ok(true)
    })?;
    walked.strings = table.seen.len();
    Ok(walked)
}

fn resource_spans<'a>(buf: &'a [u8], table: &mut Table<'a>, walked: &mut Walked) -> Result<()> {
    fields(buf, 1, |r, field, wire| {
        match field {
            1 => {
                expect(wire, LEN)?;
                fields(r.bytes()?, 2, |r, field, wire| {
                    if field != 1 {
                        return Ok(false);
                    }
                    expect(wire, LEN)?;
                    key_value(r.bytes()?, table, 3)?;
                    Ok(true)
                })?;
            }
            2 => {
                expect(wire, LEN)?;
                scope_spans(r.bytes()?, table, walked)?;
            }
            3 => {
                expect(wire, LEN)?;
                r.string()?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    })
}

fn scope_spans<'a>(buf: &'a [u8], table: &mut Table<'a>, walked: &mut Walked) -> Result<()> {
    fields(buf, 2, |r, field, wire| {
        match field {
            1 => {
                expect(wire, LEN)?;
                fields(r.bytes()?, 3, |r, field, wire| {
                    match field {
                        1 | 2 => {
                            expect(wire, LEN)?;
                            table.intern(r.bytes()?)?;
                        }
                        3 => {
                            expect(wire, LEN)?;
                            key_value(r.bytes()?, table, 4)?;
                        }
                        _ => return Ok(false),
                    }
                    Ok(true)
                })?;
            }
            2 => {
                expect(wire, LEN)?;
                span(r.bytes()?, table, walked)?;
            }
            3 => {
                expect(wire, LEN)?;
                r.string()?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    })
}

fn span<'a>(buf: &'a [u8], table: &mut Table<'a>, walked: &mut Walked) -> Result<()> {
    let (mut trace_id, mut span_id) = (0, 0);
    fields(buf, 3, |r, field, wire| {
        match field {
            1 => {
                expect(wire, LEN)?;
                trace_id = r.bytes()?.len();
            }
            2 => {
                expect(wire, LEN)?;
                span_id = r.bytes()?.len();
            }
            3 | 4 => {
                expect(wire, LEN)?;
                r.bytes()?;
            }
            5 => {
                expect(wire, LEN)?;
                table.intern(r.bytes()?)?;
            }
            6 | 10 | 12 | 14 => {
                expect(wire, VARINT)?;
                r.varint()?;
            }
            7 | 8 => {
                expect(wire, FIXED64)?;
                r.fixed64()?;
            }
            9 => {
                expect(wire, LEN)?;
                walked.attributes += key_value(r.bytes()?, table, 4)?;
            }
            11 => {
                expect(wire, LEN)?;
                walked.attributes += event(r.bytes()?, table)?;
            }
            13 => {
                expect(wire, LEN)?;
                walked.attributes += link(r.bytes()?, table)?;
            }
            15 => {
                expect(wire, LEN)?;
                fields(r.bytes()?, 4, |r, field, wire| {
                    match field {
                        2 => {
                            expect(wire, LEN)?;
                            r.string()?;
                        }
                        3 => {
                            expect(wire, VARINT)?;
                            r.varint()?;
                        }
                        _ => return Ok(false),
                    }
                    Ok(true)
                })?;
            }
            16 => {
                expect(wire, FIXED32)?;
                r.fixed32()?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    if trace_id == 16 && span_id == 8 {
        walked.spans += 1;
    }
    Ok(())
}

/// An event's fields (its name interned); its attributes.
fn event<'a>(buf: &'a [u8], table: &mut Table<'a>) -> Result<usize> {
    let mut attributes = 0;
    fields(buf, 4, |r, field, wire| {
        match field {
            1 => {
                expect(wire, FIXED64)?;
                r.fixed64()?;
            }
            2 => {
                expect(wire, LEN)?;
                table.intern(r.bytes()?)?;
            }
            3 => {
                expect(wire, LEN)?;
                attributes += key_value(r.bytes()?, table, 5)?;
            }
            4 => {
                expect(wire, VARINT)?;
                r.varint()?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(attributes)
}

/// A link's fields; its attributes.
fn link<'a>(buf: &'a [u8], table: &mut Table<'a>) -> Result<usize> {
    let mut attributes = 0;
    fields(buf, 4, |r, field, wire| {
        match field {
            1 | 2 => {
                expect(wire, LEN)?;
                r.bytes()?;
            }
            3 => {
                expect(wire, LEN)?;
                r.string()?;
            }
            4 => {
                expect(wire, LEN)?;
                attributes += key_value(r.bytes()?, table, 5)?;
            }
            5 => {
                expect(wire, VARINT)?;
                r.varint()?;
            }
            6 => {
                expect(wire, FIXED32)?;
                r.fixed32()?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(attributes)
}

/// A `KeyValue`: its key and its value's strings interned; 1, or 0 when it has no value.
fn key_value<'a>(buf: &'a [u8], table: &mut Table<'a>, depth: u32) -> Result<usize> {
    let mut counted = 0;
    fields(buf, depth, |r, field, wire| {
        match field {
            1 => {
                expect(wire, LEN)?;
                table.intern(r.bytes()?)?;
            }
            2 => {
                expect(wire, LEN)?;
                counted = any_value(r.bytes()?, table, depth + 1)?.into();
            }
            3 => {
                expect(wire, VARINT)?;
                r.varint()?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(counted)
}

/// An `AnyValue`: whether it holds one.
fn any_value<'a>(buf: &'a [u8], table: &mut Table<'a>, depth: u32) -> Result<bool> {
    let mut some = false;
    fields(buf, depth, |r, field, wire| {
        some = true;
        match field {
            1 => {
                expect(wire, LEN)?;
                table.intern(r.bytes()?)?;
            }
            2 | 3 => {
                expect(wire, VARINT)?;
                r.varint()?;
            }
            4 => {
                expect(wire, FIXED64)?;
                r.fixed64()?;
            }
            5 | 6 => {
                expect(wire, LEN)?;
                fields(r.bytes()?, depth + 1, |r, inner, wire| {
                    if inner != 1 {
                        return Ok(false);
                    }
                    expect(wire, LEN)?;
                    if field == 5 {
                        any_value(r.bytes()?, table, depth + 2)?;
                    } else {
                        key_value(r.bytes()?, table, depth + 2)?;
                    }
                    Ok(true)
                })?;
            }
            7 => {
                expect(wire, LEN)?;
                r.bytes()?;
            }
            8 => {
                expect(wire, VARINT)?;
                r.varint()?;
                some = false;
            }
            _ => {
                some = false;
                return Ok(false);
            }
        }
        Ok(true)
    })?;
    Ok(some)
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;
    use crate::model::Interner;

    /// The walk sees what the decoder keeps: as many spans, attributes and distinct strings.
    #[test]
    fn the_walk_sees_every_span_attribute_and_string_the_decoder_keeps() {
        let bytes = crate::synth::shop_batch(512, 3).encode_to_vec();
        let interner = Interner::new();
        let decoded = super::super::decode(&bytes, &interner).unwrap();
        let walked = walk(&bytes).unwrap();
        assert_eq!(walked.spans, decoded.spans.len());
        let attributes: usize = (decoded.spans.iter())
            .map(|s| {
                s.attributes.len()
                    + s.events.iter().map(|e| e.attributes.len()).sum::<usize>()
                    + s.links.iter().map(|l| l.attributes.len()).sum::<usize>()
            })
            .sum();
        assert_eq!(walked.attributes, attributes);
        assert!(walked.strings > 10 && walked.strings <= interner.len() + 16);
    }

    /// A truncated request fails the walk as it fails the decoder.
    #[test]
    fn a_truncated_request_fails() {
        let bytes = crate::synth::shop_batch(8, 3).encode_to_vec();
        for cut in [1, bytes.len() / 3, bytes.len() - 1] {
            assert!(walk(&bytes[..cut]).is_err(), "cut at {cut}");
            assert!(super::super::decode(&bytes[..cut], &Interner::new()).is_err());
        }
    }
}
