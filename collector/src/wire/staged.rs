//! The OTLP/protobuf decoder into the store's form ([`Staged`]): the same walk as [`super::decode`], but a span
//! becomes a record of table indexes rather than a model span. An attribute is resolved once per distinct
//! encoding per batch: its bytes are compared first with the attribute at the same place of the span before,
//! then looked up among the batch's, and only a new one is read and interned. The span limits are checked on
//! the way; a batch that breaks one (rare) or that is malformed is decoded again by [`super::decode`], which
//! gives the model's answer and error, so both paths agree by construction where this one gives up.

use rustc_hash::FxHashMap;

use super::{
    FIXED32, FIXED64, LEN, Result, Strings, VARINT, WireError, event, expect, fields, key_value,
    link, request, resource_spans, scope_spans,
};
use crate::ingest::Batch;
use crate::limits::SpanLimits;
use crate::model::{Dropped, Interner, Link, SpanKind, StatusCode};
use crate::otlp::{parse_span_id, parse_trace_id};
use crate::staged::{SpanExtra, Staged, StagedSpan};

/// What a request brings: its spans, in the store's form when they could be, and OTLP's partial success for
/// spans whose ids are malformed.
pub struct Decoded {
    pub batch: Batch,
    pub rejected: u64,
    pub error: Option<String>,
}

impl From<crate::otlp::Converted> for Decoded {
    fn from(converted: crate::otlp::Converted) -> Decoded {
        Decoded {
            batch: Batch::Spans(converted.spans),
            rejected: converted.rejected,
            error: converted.error,
        }
    }
}

/// Decodes a protobuf `ExportTraceServiceRequest` for the store: into a [`Staged`] batch when its spans are
/// within the span limits, else into model spans (which the ingest queue cuts down to the limits).
pub fn decode_for_store(body: &[u8], interner: &Interner) -> Result<Decoded> {
    if let Ok(decoded) = stage(body, interner, SpanLimits::default()) {
        return Ok(decoded);
    }
    Ok(super::decode(body, interner)?.into())
}

/// Attributes whose place in a span is remembered (see [`Stager::recent`]).
const PLACES: usize = 32;

struct Stager<'a> {
    strings: Strings<'a>,
    staged: Staged,
    limits: SpanLimits,
    /// Each distinct span attribute's bytes, and what they became (`None`: an attribute with no value, which
    /// the model leaves out).
    seen: FxHashMap<&'a [u8], Option<u32>>,
    /// The bytes of the attribute at each place of the span before, and what they became.
    recent: [Option<(&'a [u8], Option<u32>)>; PLACES],
    /// The span name before, and its index.
    recent_name: Option<(&'a [u8], u32)>,
    rejected: u64,
    error: Option<String>,
}

/// Over a span limit: the batch goes the model's way.
const OVER_LIMITS: WireError = WireError("over the span limits");

fn stage(body: &[u8], interner: &Interner, limits: SpanLimits) -> Result<Decoded> {
    let mut stager = Stager {
        strings: Strings::new(interner),
        staged: Staged::default(),
        limits,
        seen: FxHashMap::default(),
        recent: [None; PLACES],
        recent_name: None,
        rejected: 0,
        error: None,
    };
    for buf in request(body)? {
        let (resource, scopes) = resource_spans(buf, &stager.strings)?;
        if !limits.resource_fits(&resource) {
            return Err(OVER_LIMITS);
        }
        let resource = stager.staged.table.resource(&resource);
        for buf in scopes {
            let (scope, spans) = scope_spans(buf, &stager.strings)?;
            let scope = stager.staged.table.scope(&scope);
            for buf in spans {
                stager.span(buf, resource, scope)?;
            }
        }
    }
    Ok(Decoded {
        batch: Batch::Staged(Box::new(stager.staged)),
        rejected: stager.rejected,
        error: stager.error,
    })
}

impl<'a> Stager<'a> {
    /// A string's index in the batch's table.
    fn string(&mut self, bytes: &'a [u8]) -> Result<u32> {
        let shared = self.strings.intern(bytes)?;
        Ok(self.staged.table.string(&shared))
    }

    /// The attribute (a span's `place`th) whose `KeyValue` message is `bytes`.
    fn attribute(&mut self, place: usize, bytes: &'a [u8]) -> Result<Option<u32>> {
        if let Some(Some((seen, attribute))) = self.recent.get(place)
            && *seen == bytes
        {
            return Ok(*attribute);
        }
        let attribute = match self.seen.get(bytes) {
            Some(&attribute) => attribute,
            None => {
                let attribute = match key_value(bytes, &self.strings, 4, super::NOWHERE)? {
                    Some(kv) if !self.limits.fits(&kv) => return Err(OVER_LIMITS),
                    Some(kv) => Some(self.staged.attribute(kv)),
                    None => None,
                };
                self.seen.insert(bytes, attribute);
                attribute
            }
        };
        if let Some(slot) = self.recent.get_mut(place) {
            *slot = Some((bytes, attribute));
        }
        Ok(attribute)
    }

    fn span(&mut self, buf: &'a [u8], resource: u32, scope: u32) -> Result<()> {
        let (mut trace_id, mut span_id, mut parent): (&[u8], &[u8], &[u8]) = (&[], &[], &[]);
        let (mut name, mut named): (&[u8], bool) = (&[], false);
        let (mut kind, mut start_ns, mut end_ns) = (0i32, 0u64, 0u64);
        let first = self.staged.parts.attributes.len();
        let mut places = 0;
        let (mut events, mut links) = (Vec::new(), Vec::new());
        let mut status: Option<(i32, &[u8])> = None;
        // The span's own dropped attributes (last wins, as for any scalar field), and its events' and links'.
        let (mut dropped, mut nested_dropped) = (Dropped::default(), 0u32);
        fields(buf, 3, |r, field, wire| {
            match field {
                1 => {
                    expect(wire, LEN)?;
                    trace_id = r.bytes()?;
                }
                2 => {
                    expect(wire, LEN)?;
                    span_id = r.bytes()?;
                }
                3 => {
                    expect(wire, LEN)?;
                    r.string()?;
                }
                4 => {
                    expect(wire, LEN)?;
                    parent = r.bytes()?;
                }
                5 => {
                    expect(wire, LEN)?;
                    // Every occurrence of a repeated field is checked for UTF-8, as prost does: an earlier
                    // one here, the one kept once the span is read (and only once a batch for each name).
                    if named {
                        super::utf8(name)?;
                    }
                    name = r.bytes()?;
                    named = true;
                }
                6 => {
                    expect(wire, VARINT)?;
                    kind = r.varint()? as i32;
                }
                7 => {
                    expect(wire, FIXED64)?;
                    start_ns = r.fixed64()?;
                }
                8 => {
                    expect(wire, FIXED64)?;
                    end_ns = r.fixed64()?;
                }
                9 => {
                    expect(wire, LEN)?;
                    let bytes = r.bytes()?;
                    if let Some(attribute) = self.attribute(places, bytes)? {
                        self.staged.parts.attributes.push(attribute);
                    }
                    places += 1;
                }
                10 | 12 | 14 => {
                    expect(wire, VARINT)?;
                    let count = u32::try_from(r.varint()?).unwrap_or(u32::MAX);
                    match field {
                        10 => dropped.attributes = count,
                        12 => dropped.events = count,
                        _ => dropped.links = count,
                    }
                }
                11 => {
                    expect(wire, LEN)?;
                    let (event, dropped_attributes) = event(r.bytes()?, &self.strings)?;
                    nested_dropped = nested_dropped.saturating_add(dropped_attributes);
                    events.push(event);
                }
                13 => {
                    expect(wire, LEN)?;
                    links.push(link(r.bytes()?, &self.strings)?);
                }
                15 => {
                    expect(wire, LEN)?;
                    let (code, message) = status.get_or_insert((0, &[]));
                    fields(r.bytes()?, 4, |r, field, wire| match field {
                        2 => {
                            expect(wire, LEN)?;
                            *message = r.string()?.as_bytes();
                            Ok(true)
                        }
                        3 => {
                            expect(wire, VARINT)?;
                            *code = r.varint()? as i32;
                            Ok(true)
                        }
                        _ => Ok(false),
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
        let attributes = (first as u32, self.staged.parts.attributes.len() as u32);
        let message = status.map_or(&[][..], |(_, message)| message);
        if (attributes.1 - attributes.0) as usize > self.limits.attributes
            || name.len() > self.limits.value_bytes
            || message.len() > self.limits.value_bytes
        {
            return Err(OVER_LIMITS);
        }
        let name = match self.recent_name {
            Some((seen, index)) if seen == name => index,
            _ => {
                let index = self.string(name)?;
                self.recent_name = Some((name, index));
                index
            }
        };
        let message = match message {
            [] => None,
            message => Some(self.string(message)?),
        };
        let checked = (|| -> std::result::Result<StagedSpan, String> {
            let trace_id = parse_trace_id(trace_id, "trace_id")?;
            let span_id = parse_span_id(span_id, "span_id")?;
            let parent = match parent {
                [] => None,
                bytes => Some(parse_span_id(bytes, "parent_span_id")?),
            };
            let mut model_links = Vec::with_capacity(links.len());
            for link in links {
                nested_dropped = nested_dropped.saturating_add(link.dropped_attributes);
                model_links.push(Link {
                    trace_id: parse_trace_id(link.trace_id, "link trace_id")?,
                    span_id: parse_span_id(link.span_id, "link span_id")?,
                    attributes: link.attributes,
                });
            }
            let dropped = Dropped {
                attributes: dropped.attributes.saturating_add(nested_dropped),
                ..dropped
            };
            let extra = (!events.is_empty() || !model_links.is_empty() || !dropped.is_none())
                .then_some(SpanExtra {
                    events,
                    links: model_links,
                    dropped,
                });
            Ok(StagedSpan {
                trace_id,
                span_id,
                parent,
                start_ns,
                end_ns,
                name,
                resource,
                scope,
                message,
                attributes,
                extra: extra.map(|extra| {
                    self.staged.parts.extras.push(extra);
                    (self.staged.parts.extras.len() - 1) as u32
                }),
                kind: SpanKind::from_otlp(kind),
                status: match status.map_or(0, |(code, _)| code) {
                    1 => StatusCode::Ok,
                    2 => StatusCode::Error,
                    _ => StatusCode::Unset,
                },
            })
        })();
        match checked {
            Ok(span) => {
                if let Some(extra) = span.extra {
                    let extra = &self.staged.parts.extras[extra as usize];
                    if !self.limits.extras_fit(&extra.events, &extra.links) {
                        return Err(OVER_LIMITS);
                    }
                }
                self.staged.parts.spans.push(span);
            }
            Err(message) => {
                self.staged.parts.attributes.truncate(first);
                self.rejected += 1;
                self.error.get_or_insert(message);
            }
        }
        Ok(())
    }
}
