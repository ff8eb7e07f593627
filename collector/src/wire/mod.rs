//! A decoder for OTLP/protobuf trace requests that goes straight from the request's bytes to the model: it
//! borrows every string from the buffer and interns it, instead of building prost's owned message tree first
//! and converting that. It gives exactly what `otlp::from_request(&otlp::decode_protobuf(bytes)?)` gives (the
//! tests check it on golden and randomly generated payloads, and on corrupted ones), in about half the time.

use std::cell::RefCell;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::model::{
    Dropped, Event, Interner, KeyValue, Link, Resource, Scope, Span, SpanId, SpanKind, Status,
    StatusCode, Str, TraceId, Value,
};
use crate::otlp::{Converted, parse_span_id, parse_trace_id};

/// The bytes are not a well-formed OTLP trace request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed OTLP protobuf: {0}")]
pub struct WireError(&'static str);

type Result<T> = std::result::Result<T, WireError>;

/// Nesting deeper than this is refused, as prost does.
const MAX_DEPTH: u32 = 100;

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const START_GROUP: u8 = 3;
const END_GROUP: u8 = 4;
const FIXED32: u8 = 5;

/// A cursor over one message's bytes.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    fn varint(&mut self) -> Result<u64> {
        let mut value = 0u64;
        for i in 0..10 {
            let (&byte, rest) = self
                .buf
                .split_first()
                .ok_or(WireError("truncated varint"))?;
            self.buf = rest;
            if i == 9 && byte > 1 {
                return Err(WireError("varint overflows 64 bits"));
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(WireError("varint longer than 10 bytes"))
    }

    fn fixed64(&mut self) -> Result<u64> {
        let (bytes, rest) = self
            .buf
            .split_first_chunk::<8>()
            .ok_or(WireError("truncated fixed64"))?;
        self.buf = rest;
        Ok(u64::from_le_bytes(*bytes))
    }

    fn fixed32(&mut self) -> Result<u32> {
        let (bytes, rest) = self
            .buf
            .split_first_chunk::<4>()
            .ok_or(WireError("truncated fixed32"))?;
        self.buf = rest;
        Ok(u32::from_le_bytes(*bytes))
    }

    fn bytes(&mut self) -> Result<&'a [u8]> {
        let len = usize::try_from(self.varint()?).map_err(|_| WireError("length too large"))?;
        if len > self.buf.len() {
            return Err(WireError("length past the end of the buffer"));
        }
        let (field, rest) = self.buf.split_at(len);
        self.buf = rest;
        Ok(field)
    }

    fn string(&mut self) -> Result<&'a str> {
        utf8(self.bytes()?)
    }

    /// The next field's number and wire type, or `None` at the end.
    fn key(&mut self) -> Result<Option<(u32, u8)>> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        // As prost: a key is a 32-bit varint.
        if key > u64::from(u32::MAX) {
            return Err(WireError("invalid key"));
        }
        let wire = (key & 7) as u8;
        let field = u32::try_from(key >> 3).map_err(|_| WireError("field number too large"))?;
        if field == 0 {
            return Err(WireError("field number 0"));
        }
        Ok(Some((field, wire)))
    }

    fn skip(&mut self, field: u32, wire: u8, depth: u32) -> Result<()> {
        match wire {
            VARINT => self.varint().map(drop),
            FIXED64 => self.fixed64().map(drop),
            LEN => self.bytes().map(drop),
            FIXED32 => self.fixed32().map(drop),
            START_GROUP => {
                if depth >= MAX_DEPTH {
                    return Err(WireError("recursion limit reached"));
                }
                loop {
                    let (inner, inner_wire) = self.key()?.ok_or(WireError("unterminated group"))?;
                    if inner_wire == END_GROUP {
                        return if inner == field {
                            Ok(())
                        } else {
                            Err(WireError("unexpected end group tag"))
                        };
                    }
                    self.skip(inner, inner_wire, depth + 1)?;
                }
            }
            END_GROUP => Err(WireError("unexpected end group tag")),
            _ => Err(WireError("invalid wire type")),
        }
    }
}

fn expect(wire: u8, want: u8) -> Result<()> {
    if wire == want {
        Ok(())
    } else {
        Err(WireError("invalid wire type for a known field"))
    }
}

/// Runs `f` on each field of a message, skipping unknown ones it declines by returning `false`.
fn fields<'a>(
    buf: &'a [u8],
    depth: u32,
    mut f: impl FnMut(&mut Reader<'a>, u32, u8) -> Result<bool>,
) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(WireError("recursion limit reached"));
    }
    let mut reader = Reader::new(buf);
    while let Some((field, wire)) = reader.key()? {
        if !f(&mut reader, field, wire)? {
            reader.skip(field, wire, depth)?;
        }
    }
    Ok(())
}

/// Interns one request's strings: each distinct byte string is checked for UTF-8 and looked up in the shared
/// interner (under its lock) once per request, every later occurrence is one hash of borrowed bytes.
struct Strings<'a> {
    interner: &'a Interner,
    seen: RefCell<FxHashMap<&'a [u8], Str>>,
    /// The string last read at each place of a span ([`Strings::intern_at`]).
    recent: RefCell<Vec<Recent<'a>>>,
}

/// The bytes last read at a place, and their shared string.
type Recent<'a> = Option<(&'a [u8], Str)>;

/// A string's place in a span, for [`Strings::intern_at`]: the span's name is place 0, its attribute `i`'s
/// key `1 + 2i` and value `2 + 2i`, for the first [`MAX_ATTRIBUTES_HINT`] attributes; [`NOWHERE`] for every
/// other string.
type Place = usize;
const NAME: Place = 0;
const NOWHERE: Place = usize::MAX;
const PLACES: usize = 1 + 2 * MAX_ATTRIBUTES_HINT;

fn key_place(index: usize) -> Place {
    if index < MAX_ATTRIBUTES_HINT {
        1 + 2 * index
    } else {
        NOWHERE
    }
}

/// The most attributes room is made for before a span's are read.
const MAX_ATTRIBUTES_HINT: usize = 32;

/// Values longer than this are kept as they are rather than interned: they rarely repeat.
const MAX_INTERNED: usize = 128;

impl<'a> Strings<'a> {
    fn new(interner: &'a Interner) -> Strings<'a> {
        Strings {
            interner,
            seen: RefCell::new(FxHashMap::default()),
            recent: RefCell::new(vec![None; PLACES]),
        }
    }

    fn intern(&self, bytes: &'a [u8]) -> Result<Str> {
        if let Some(found) = self.seen.borrow().get(bytes) {
            return Ok(found.clone());
        }
        let text = utf8(bytes)?;
        let shared = self.interner.intern(text);
        self.seen.borrow_mut().insert(bytes, shared.clone());
        Ok(shared)
    }

    /// [`Strings::intern`] of a string at `place` in a span. Spans of one scope mostly repeat one another's
    /// name and attributes in the same order, so the string read at the same place of the span before is
    /// compared first: when the bytes are the same, so is the answer, without hashing them.
    fn intern_at(&self, place: Place, bytes: &'a [u8]) -> Result<Str> {
        if let Some(Some((seen, shared))) = self.recent.borrow().get(place)
            && *seen == bytes
        {
            return Ok(shared.clone());
        }
        let shared = self.intern(bytes)?;
        if let Some(slot) = self.recent.borrow_mut().get_mut(place) {
            *slot = Some((bytes, shared.clone()));
        }
        Ok(shared)
    }
}

fn utf8(bytes: &[u8]) -> Result<&str> {
    std::str::from_utf8(bytes).map_err(|_| WireError("string is not UTF-8"))
}

/// Decodes a protobuf `ExportTraceServiceRequest` into model spans, with OTLP's partial success for spans
/// whose ids are malformed.
pub fn decode(body: &[u8], interner: &Interner) -> Result<Converted> {
    let strings = Strings::new(interner);
    let interner = &strings;
    let mut out = Converted::default();
    for buf in request(body)? {
        let (resource, scopes) = resource_spans(buf, interner)?;
        for buf in scopes {
            let (scope, spans) = scope_spans(buf, interner)?;
            // Spans of one scope mostly carry as many attributes as the one before: room for as many is
            // made at once.
            let mut attributes_hint = 0;
            for buf in spans {
                decode_span(
                    buf,
                    &resource,
                    &scope,
                    interner,
                    &mut out,
                    &mut attributes_hint,
                )?;
            }
        }
    }
    Ok(out)
}

/// A request's `ResourceSpans` messages, unread.
fn request(body: &[u8]) -> Result<Vec<&[u8]>> {
    let mut resource_spans = Vec::new();
    fields(body, 0, |r, field, wire| {
        if field == 1 {
            expect(wire, LEN)?;
            resource_spans.push(r.bytes()?);
            return Ok(true);
        }
        Ok(false)
    })?;
    Ok(resource_spans)
}

/// A `ResourceSpans`' resource, and its `ScopeSpans` messages, unread.
fn resource_spans<'a>(
    buf: &'a [u8],
    interner: &Strings<'a>,
) -> Result<(Arc<Resource>, Vec<&'a [u8]>)> {
    let mut resource: Option<Vec<KeyValue>> = None;
    let mut scope_spans = Vec::new();
    fields(buf, 1, |r, field, wire| match field {
        1 => {
            expect(wire, LEN)?;
            let attrs = resource.get_or_insert_with(Vec::new);
            fields(r.bytes()?, 2, |r, field, wire| match field {
                1 => {
                    expect(wire, LEN)?;
                    if let Some(kv) = key_value(r.bytes()?, interner, 3, NOWHERE)? {
                        attrs.push(kv);
                    }
                    Ok(true)
                }
                2 => {
                    expect(wire, VARINT)?;
                    r.varint()?;
                    Ok(true)
                }
                3 => {
                    // Entity references are not kept, but prost still checks them.
                    expect(wire, LEN)?;
                    fields(r.bytes()?, 3, |r, field, wire| match field {
                        1..=4 => {
                            expect(wire, LEN)?;
                            r.string()?;
                            Ok(true)
                        }
                        _ => Ok(false),
                    })?;
                    Ok(true)
                }
                _ => Ok(false),
            })?;
            Ok(true)
        }
        2 => {
            expect(wire, LEN)?;
            scope_spans.push(r.bytes()?);
            Ok(true)
        }
        3 => {
            expect(wire, LEN)?;
            r.string()?;
            Ok(true)
        }
        _ => Ok(false),
    })?;
    let resource = Arc::new(Resource {
        attributes: resource.unwrap_or_default(),
    });
    Ok((resource, scope_spans))
}

/// A `ScopeSpans`' scope, and its spans, unread.
fn scope_spans<'a>(buf: &'a [u8], interner: &Strings<'a>) -> Result<(Arc<Scope>, Vec<&'a [u8]>)> {
    let (mut name, mut version) = ("", "");
    let mut spans = Vec::new();
    fields(buf, 2, |r, field, wire| match field {
        1 => {
            expect(wire, LEN)?;
            fields(r.bytes()?, 3, |r, field, wire| match field {
                1 => {
                    expect(wire, LEN)?;
                    name = r.string()?;
                    Ok(true)
                }
                2 => {
                    expect(wire, LEN)?;
                    version = r.string()?;
                    Ok(true)
                }
                3 => {
                    // The scope's attributes are not kept, but prost still checks them.
                    expect(wire, LEN)?;
                    key_value(r.bytes()?, interner, 4, NOWHERE)?;
                    Ok(true)
                }
                4 => {
                    expect(wire, VARINT)?;
                    r.varint()?;
                    Ok(true)
                }
                _ => Ok(false),
            })?;
            Ok(true)
        }
        2 => {
            expect(wire, LEN)?;
            spans.push(r.bytes()?);
            Ok(true)
        }
        3 => {
            expect(wire, LEN)?;
            r.string()?;
            Ok(true)
        }
        _ => Ok(false),
    })?;
    let scope = Arc::new(Scope {
        name: interner.intern(name.as_bytes())?,
        version: match version {
            "" => None,
            version => Some(interner.intern(version.as_bytes())?),
        },
    });
    Ok((scope, spans))
}

/// A link's fields as they come off the wire, checked once the span is complete.
struct RawLink<'a> {
    trace_id: &'a [u8],
    span_id: &'a [u8],
    attributes: Vec<KeyValue>,
    dropped_attributes: u32,
}

/// A span's fields as they come off the wire: its ids, name and status message borrowed (the name not yet
/// checked for UTF-8, but every earlier occurrence of it was, as prost checks them all), its events read, its ids
/// and links checked by [`RawSpan::check`].
struct RawSpan<'a> {
    trace_id: &'a [u8],
    span_id: &'a [u8],
    parent: &'a [u8],
    name: &'a [u8],
    kind: SpanKind,
    start_ns: u64,
    end_ns: u64,
    events: Vec<Event>,
    links: Vec<RawLink<'a>>,
    status: Option<(i32, &'a str)>,
    /// The span's own dropped attributes (last wins, as for any scalar field), and its events' and links'.
    dropped: Dropped,
    nested_dropped: u32,
}

/// A span's ids, links and dropped counts, checked.
struct Checked {
    trace_id: TraceId,
    span_id: SpanId,
    parent: Option<SpanId>,
    links: Vec<Link>,
    dropped: Dropped,
}

impl<'a> RawSpan<'a> {
    /// Reads a span's fields; each attribute's `KeyValue` message goes to `attribute` as it comes.
    fn read(
        buf: &'a [u8],
        interner: &Strings<'a>,
        mut attribute: impl FnMut(&'a [u8]) -> Result<()>,
    ) -> Result<RawSpan<'a>> {
        let mut span = RawSpan {
            trace_id: &[],
            span_id: &[],
            parent: &[],
            name: &[],
            kind: SpanKind::from_otlp(0),
            start_ns: 0,
            end_ns: 0,
            events: Vec::new(),
            links: Vec::new(),
            status: None,
            dropped: Dropped::default(),
            nested_dropped: 0,
        };
        let mut named = false;
        fields(buf, 3, |r, field, wire| {
            match field {
                1 => {
                    expect(wire, LEN)?;
                    span.trace_id = r.bytes()?;
                }
                2 => {
                    expect(wire, LEN)?;
                    span.span_id = r.bytes()?;
                }
                3 => {
                    expect(wire, LEN)?;
                    r.string()?;
                }
                4 => {
                    expect(wire, LEN)?;
                    span.parent = r.bytes()?;
                }
                5 => {
                    expect(wire, LEN)?;
                    // The one kept is checked when it is interned (once a batch for each distinct name).
                    if named {
                        utf8(span.name)?;
                    }
                    span.name = r.bytes()?;
                    named = true;
                }
                6 => {
                    expect(wire, VARINT)?;
                    span.kind = SpanKind::from_otlp(r.varint()? as i32);
                }
                7 => {
                    expect(wire, FIXED64)?;
                    span.start_ns = r.fixed64()?;
                }
                8 => {
                    expect(wire, FIXED64)?;
                    span.end_ns = r.fixed64()?;
                }
                9 => {
                    expect(wire, LEN)?;
                    attribute(r.bytes()?)?;
                }
                10 | 12 | 14 => {
                    expect(wire, VARINT)?;
                    let count = u32::try_from(r.varint()?).unwrap_or(u32::MAX);
                    match field {
                        10 => span.dropped.attributes = count,
                        12 => span.dropped.events = count,
                        _ => span.dropped.links = count,
                    }
                }
                11 => {
                    expect(wire, LEN)?;
                    let (event, dropped_attributes) = event(r.bytes()?, interner)?;
                    span.nested_dropped = span.nested_dropped.saturating_add(dropped_attributes);
                    span.events.push(event);
                }
                13 => {
                    expect(wire, LEN)?;
                    span.links.push(link(r.bytes()?, interner)?);
                }
                15 => {
                    expect(wire, LEN)?;
                    let (code, message) = span.status.get_or_insert((0, ""));
                    fields(r.bytes()?, 4, |r, field, wire| match field {
                        2 => {
                            expect(wire, LEN)?;
                            *message = r.string()?;
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
        Ok(span)
    }

    /// The status code.
    fn status_code(&self) -> StatusCode {
        match self.status.map_or(0, |(code, _)| code) {
            1 => StatusCode::Ok,
            2 => StatusCode::Error,
            _ => StatusCode::Unset,
        }
    }

    /// The status message, empty when there is none.
    fn message(&self) -> &'a str {
        self.status.map_or("", |(_, message)| message)
    }

    /// Its ids and links checked (a span with a malformed one is rejected, with the message), and its dropped
    /// counts with its events' and links'.
    fn check(&mut self) -> std::result::Result<Checked, String> {
        let trace_id = parse_trace_id(self.trace_id, "trace_id")?;
        let span_id = parse_span_id(self.span_id, "span_id")?;
        let parent = match self.parent {
            [] => None,
            bytes => Some(parse_span_id(bytes, "parent_span_id")?),
        };
        let mut nested_dropped = self.nested_dropped;
        let mut links = Vec::with_capacity(self.links.len());
        for link in std::mem::take(&mut self.links) {
            nested_dropped = nested_dropped.saturating_add(link.dropped_attributes);
            links.push(Link {
                trace_id: parse_trace_id(link.trace_id, "link trace_id")?,
                span_id: parse_span_id(link.span_id, "link span_id")?,
                attributes: link.attributes,
            });
        }
        Ok(Checked {
            trace_id,
            span_id,
            parent,
            links,
            dropped: Dropped {
                attributes: self.dropped.attributes.saturating_add(nested_dropped),
                ..self.dropped
            },
        })
    }
}

fn decode_span<'a>(
    buf: &'a [u8],
    resource: &Arc<Resource>,
    scope: &Arc<Scope>,
    interner: &Strings<'a>,
    out: &mut Converted,
    attributes_hint: &mut usize,
) -> Result<()> {
    let mut attributes = Vec::with_capacity(*attributes_hint);
    let mut raw = RawSpan::read(buf, interner, |bytes| {
        let place = key_place(attributes.len());
        if let Some(kv) = key_value(bytes, interner, 4, place)? {
            attributes.push(kv);
        }
        Ok(())
    })?;
    // At most a small number, so that one span of many attributes makes no room in all that follow it.
    *attributes_hint = attributes.len().min(MAX_ATTRIBUTES_HINT);
    let name = interner.intern_at(NAME, raw.name)?;
    match raw.check() {
        Ok(checked) => out.spans.push(Span {
            trace_id: checked.trace_id,
            span_id: checked.span_id,
            parent_span_id: checked.parent,
            name,
            kind: raw.kind,
            start_ns: raw.start_ns,
            end_ns: raw.end_ns,
            status: Status {
                code: raw.status_code(),
                message: match raw.message() {
                    "" => None,
                    message => Some(Arc::from(message)),
                },
            },
            attributes,
            events: raw.events,
            links: checked.links,
            resource: resource.clone(),
            scope: scope.clone(),
            dropped: checked.dropped,
        }),
        Err(message) => {
            out.rejected += 1;
            out.error.get_or_insert(message);
        }
    }
    Ok(())
}

/// An event, and how many attributes its sender dropped from it.
fn event<'a>(buf: &'a [u8], interner: &Strings<'a>) -> Result<(Event, u32)> {
    let (mut time_ns, mut name, mut attributes): (u64, Option<Str>, _) = (0, None, Vec::new());
    let mut dropped = 0;
    fields(buf, 4, |r, field, wire| {
        match field {
            1 => {
                expect(wire, FIXED64)?;
                time_ns = r.fixed64()?;
            }
            2 => {
                expect(wire, LEN)?;
                name = Some(interner.intern(r.bytes()?)?);
            }
            3 => {
                expect(wire, LEN)?;
                if let Some(kv) = key_value(r.bytes()?, interner, 5, NOWHERE)? {
                    attributes.push(kv);
                }
            }
            4 => {
                expect(wire, VARINT)?;
                dropped = u32::try_from(r.varint()?).unwrap_or(u32::MAX);
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    let event = Event {
        name: match name {
            Some(name) => name,
            None => interner.intern(&[])?,
        },
        time_ns,
        attributes,
    };
    Ok((event, dropped))
}

fn link<'a>(buf: &'a [u8], interner: &Strings<'a>) -> Result<RawLink<'a>> {
    let mut link = RawLink {
        trace_id: &[],
        span_id: &[],
        attributes: Vec::new(),
        dropped_attributes: 0,
    };
    fields(buf, 4, |r, field, wire| {
        match field {
            1 => {
                expect(wire, LEN)?;
                link.trace_id = r.bytes()?;
            }
            2 => {
                expect(wire, LEN)?;
                link.span_id = r.bytes()?;
            }
            3 => {
                expect(wire, LEN)?;
                r.string()?;
            }
            4 => {
                expect(wire, LEN)?;
                if let Some(kv) = key_value(r.bytes()?, interner, 5, NOWHERE)? {
                    link.attributes.push(kv);
                }
            }
            5 => {
                expect(wire, VARINT)?;
                link.dropped_attributes = u32::try_from(r.varint()?).unwrap_or(u32::MAX);
            }
            6 => {
                expect(wire, FIXED32)?;
                r.fixed32()?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(link)
}

/// A `KeyValue`; `None` when it has no value, which the model leaves out. Its key is at `place` in its span,
/// its value (when a string) at the next.
fn key_value<'a>(
    buf: &'a [u8],
    interner: &Strings<'a>,
    depth: u32,
    place: Place,
) -> Result<Option<KeyValue>> {
    let mut key: Option<Str> = None;
    let mut value: Option<Option<Partial>> = None;
    fields(buf, depth, |r, field, wire| {
        match field {
            1 => {
                expect(wire, LEN)?;
                key = Some(interner.intern_at(place, r.bytes()?)?);
            }
            2 => {
                expect(wire, LEN)?;
                let previous = value.take().flatten();
                let value_place = place.saturating_add(1);
                let merged = any_value(r.bytes()?, interner, (depth + 1, value_place), previous)?;
                value = Some(merged);
            }
            3 => {
                expect(wire, VARINT)?;
                r.varint()?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    let key = match key {
        Some(key) => key,
        None => interner.intern(&[])?,
    };
    Ok(value.flatten().map(|value| KeyValue {
        key,
        value: value.finish(),
    }))
}

/// An `AnyValue` being read: lists stay growable until the value is complete, so a list member repeated many
/// times (protobuf merges repeats into the previous one) costs each repeat its own items, not a copy of all
/// the earlier ones.
enum Partial {
    Scalar(Value),
    Array(Vec<Value>),
    Map(Vec<KeyValue>),
}

impl Partial {
    fn finish(self) -> Value {
        match self {
            Partial::Scalar(value) => value,
            Partial::Array(items) => Value::Array(items.into()),
            Partial::Map(entries) => Value::Map(entries.into()),
        }
    }
}

/// An `AnyValue`: the last member of its oneof wins; `None` for an empty one or a string-table index. A
/// repeated message member merges into the previous one, as protobuf says.
fn any_value<'a>(
    buf: &'a [u8],
    interner: &Strings<'a>,
    (depth, place): (u32, Place),
    previous: Option<Partial>,
) -> Result<Option<Partial>> {
    let mut value = previous;
    fields(buf, depth, |r, field, wire| {
        value = match field {
            1 => {
                expect(wire, LEN)?;
                let s = r.bytes()?;
                Some(Partial::Scalar(Value::Str(if s.len() <= MAX_INTERNED {
                    interner.intern_at(place, s)?
                } else {
                    Arc::from(utf8(s)?)
                })))
            }
            2 => {
                expect(wire, VARINT)?;
                Some(Partial::Scalar(Value::Bool(r.varint()? != 0)))
            }
            3 => {
                expect(wire, VARINT)?;
                Some(Partial::Scalar(Value::Int(r.varint()? as i64)))
            }
            4 => {
                expect(wire, FIXED64)?;
                Some(Partial::Scalar(Value::Double(f64::from_bits(r.fixed64()?))))
            }
            5 => {
                expect(wire, LEN)?;
                let mut items: Vec<Value> = match value.take() {
                    Some(Partial::Array(items)) => items,
                    _ => Vec::new(),
                };
                fields(r.bytes()?, depth + 1, |r, field, wire| {
                    if field == 1 {
                        expect(wire, LEN)?;
                        if let Some(item) =
                            any_value(r.bytes()?, interner, (depth + 2, NOWHERE), None)?
                        {
                            items.push(item.finish());
                        }
                        return Ok(true);
                    }
                    Ok(false)
                })?;
                Some(Partial::Array(items))
            }
            6 => {
                expect(wire, LEN)?;
                let mut entries: Vec<KeyValue> = match value.take() {
                    Some(Partial::Map(entries)) => entries,
                    _ => Vec::new(),
                };
                fields(r.bytes()?, depth + 1, |r, field, wire| {
                    if field == 1 {
                        expect(wire, LEN)?;
                        if let Some(kv) = key_value(r.bytes()?, interner, depth + 2, NOWHERE)? {
                            entries.push(kv);
                        }
                        return Ok(true);
                    }
                    Ok(false)
                })?;
                Some(Partial::Map(entries))
            }
            7 => {
                expect(wire, LEN)?;
                Some(Partial::Scalar(Value::Bytes(Arc::from(r.bytes()?))))
            }
            8 => {
                expect(wire, VARINT)?;
                r.varint()?;
                None
            }
            _ => return Ok(false),
        };
        Ok(true)
    })?;
    Ok(value)
}

mod staged;
#[cfg(test)]
pub(crate) mod tests;
#[cfg(any(test, feature = "fixtures"))]
pub mod walk;

pub use staged::{Decoded, decode_for_store};
