//! How the store keeps spans: each batch's spans of one trace as one [`Chunk`] of bytes, with every string,
//! resource and scope replaced by an index into a table shared by all chunks of that batch.
//!
//! A decoded [`Span`] is about 180 bytes plus 40 for each attribute, most of it pointers to interned strings that
//! repeat from span to span. Encoded, a shop span with ten attributes takes about 40 bytes: the chunk's span
//! ids first, raw, then each span's record: its parent as the index of a span of the same chunk when it is
//! one (else raw), times as varint deltas (start from the chunk's earliest start, end from the span's start),
//! strings as varint table indexes, and each attribute whose value is a string, integer, boolean or double as
//! the index of its key and value together in the table (attributes repeat far more than they vary); other
//! values are written out, integers as zigzag varints. Readers get [`Span`]s back by decoding
//! ([`Chunk::spans`]), which is cheap next to anything a reader does with a span; the analyses that need every
//! span see them before they are encoded.
//!
//! Decoding reads only bytes this module wrote, from spans already in memory: it is never given input from
//! outside the process.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::model::{
    Dropped, Event, KeyValue, Link, Resource, Scope, Span, SpanId, SpanKind, Status, StatusCode,
    Str, TraceId, Value,
};

/// The strings, attributes, resources and scopes of one batch, which its chunks refer to by index.
#[derive(Debug, Default)]
pub struct Table {
    strings: Vec<Str>,
    /// Attributes with a scalar value, key and value together, each shared with every other table that has
    /// it ([`Pairs`]).
    pairs: Box<[Arc<KeyValue>]>,
    resources: Vec<Arc<Resource>>,
    scopes: Vec<Arc<Scope>>,
    /// Every chunk's bytes, one after the other: one allocation a batch, not one a trace.
    bytes: Box<[u8]>,
}

/// Builds a [`Table`] while a batch's spans are encoded. Entries are found by the address of their shared
/// allocation: interned strings and a batch's shared resources hit; a string that was not interned merely gets
/// an entry of its own.
#[derive(Default)]
pub struct TableBuilder {
    table: Table,
    strings: FxHashMap<usize, u32>,
    /// By the key's address, the value's kind, and the value (a string's address, or its bits).
    pairs: FxHashMap<(usize, u8, u64), u32>,
    /// The table's pairs, shared with other tables' by [`TableBuilder::finish`].
    building: Vec<KeyValue>,
    resources: FxHashMap<usize, u32>,
    scopes: FxHashMap<usize, u32>,
    /// The chunks' bytes, written one after the other, copied out at their exact size by
    /// [`TableBuilder::finish`].
    bytes: Vec<u8>,
}

fn index_of<T: ?Sized>(
    seen: &mut FxHashMap<usize, u32>,
    entries: &mut Vec<Arc<T>>,
    item: &Arc<T>,
) -> u32 {
    // The table keeps every entry alive until it is dropped, so no address is reused meanwhile.
    let address = Arc::as_ptr(item) as *const u8 as usize;
    *seen.entry(address).or_insert_with(|| {
        entries.push(item.clone());
        (entries.len() - 1) as u32
    })
}

impl TableBuilder {
    pub fn new() -> TableBuilder {
        TableBuilder::default()
    }

    /// The string at index `i` (given by [`TableBuilder::string`]).
    pub(crate) fn string_at(&self, i: u32) -> &Str {
        &self.table.strings[i as usize]
    }

    /// The pair at index `i` (given by [`TableBuilder::pair`]).
    pub(crate) fn pair_at(&self, i: u32) -> &KeyValue {
        &self.building[i as usize]
    }

    pub(crate) fn resource_at(&self, i: u32) -> &Arc<Resource> {
        &self.table.resources[i as usize]
    }

    pub(crate) fn scope_at(&self, i: u32) -> &Arc<Scope> {
        &self.table.scopes[i as usize]
    }

    pub(crate) fn string(&mut self, s: &Str) -> u32 {
        index_of(&mut self.strings, &mut self.table.strings, s)
    }

    pub(crate) fn resource(&mut self, r: &Arc<Resource>) -> u32 {
        index_of(&mut self.resources, &mut self.table.resources, r)
    }

    pub(crate) fn scope(&mut self, s: &Arc<Scope>) -> u32 {
        index_of(&mut self.scopes, &mut self.table.scopes, s)
    }

    /// The index of an attribute in the table, when its value is a scalar (a string found by address, like
    /// the key).
    pub(crate) fn pair(&mut self, kv: &KeyValue) -> Option<u32> {
        // The table keeps every pair's key and value alive until it is dropped, so no address is reused.
        let key = pair_key(kv)?;
        let pairs = &mut self.building;
        Some(*self.pairs.entry(key).or_insert_with(|| {
            pairs.push(kv.clone());
            (pairs.len() - 1) as u32
        }))
    }

    /// Encodes spans that all belong to one trace (the first span's) into bytes for a [`Chunk`].
    pub fn encode<S: std::borrow::Borrow<Span>>(&mut self, spans: &[S]) -> Encoded {
        self.encode_with(
            spans,
            |s| (s.borrow().span_id, s.borrow().start_ns),
            |table, span, base_ns, ids, out| table.encode_span(span.borrow(), base_ns, ids, out),
        )
    }

    /// Encodes one trace's spans, whatever form they come in: `id` gives a span's id and start, `write` its
    /// record (with [`TableBuilder::write_record`]).
    pub(crate) fn encode_with<T>(
        &mut self,
        spans: &[T],
        id: impl Fn(&T) -> (SpanId, u64),
        mut write: impl FnMut(&mut TableBuilder, &T, u64, &Ids, &mut Vec<u8>),
    ) -> Encoded {
        let base_ns = spans.iter().map(|s| id(s).1).min().unwrap_or(0);
        let mut out = std::mem::take(&mut self.bytes);
        let start = out.len();
        for span in spans {
            out.extend_from_slice(&id(span).0.0);
        }
        let ids = Ids::new(spans.len(), spans.iter().map(|s| id(s).0));
        for span in spans {
            write(self, span, base_ns, &ids, &mut out);
        }
        let end = out.len();
        self.bytes = out;
        // A batch's spans came in one request body, which is far smaller than that.
        let offset = |at: usize| u32::try_from(at).expect("a batch's chunks take less than 4 GiB");
        Encoded {
            base_ns,
            len: spans.len() as u32,
            start: offset(start),
            end: offset(end),
        }
    }

    fn encode_span(&mut self, span: &Span, base_ns: u64, ids: &Ids, out: &mut Vec<u8>) {
        let record = Record {
            parent: span.parent_span_id,
            kind: span.kind,
            status: span.status.code,
            start_ns: span.start_ns,
            end_ns: span.end_ns,
            name: self.string(&span.name),
            resource: self.resource(&span.resource),
            scope: self.scope(&span.scope),
            message: span.status.message.as_ref().map(|m| self.string(m)),
            extra: Extra::of(&span.events, &span.links, span.dropped),
        };
        self.write_record(&record, base_ns, ids, out, |table, out| {
            table.encode_attributes(&span.attributes, out);
        });
    }

    /// Writes a span's record: its head, its attributes (by `attributes`, which writes their count and each
    /// one as [`TableBuilder::encode_attributes`] does), and its events, links and dropped counts if any.
    pub(crate) fn write_record(
        &mut self,
        record: &Record<'_>,
        base_ns: u64,
        ids: &Ids,
        out: &mut Vec<u8>,
        attributes: impl FnOnce(&mut TableBuilder, &mut Vec<u8>),
    ) {
        // Events, links and dropped counts are rare: one flag says whether any follow.
        let flags = record.kind as u8
            | (record.status as u8) << 3
            | u8::from(record.parent.is_some()) << 5
            | u8::from(record.message.is_some()) << 6
            | u8::from(record.extra.is_some()) << 7;
        out.push(flags);
        if let Some(parent) = record.parent {
            // A span of the same chunk by its index, counted from 1; 0 and the id itself otherwise.
            match ids.find(parent) {
                Some(at) => put_varint(out, at as u64 + 1),
                None => {
                    out.push(0);
                    out.extend_from_slice(&parent.0);
                }
            }
        }
        put_varint(out, record.start_ns.wrapping_sub(base_ns));
        put_varint(out, record.end_ns.wrapping_sub(record.start_ns));
        put_varint(out, record.name.into());
        put_varint(out, record.resource.into());
        put_varint(out, record.scope.into());
        if let Some(message) = record.message {
            put_varint(out, message.into());
        }
        attributes(self, out);
        if let Some(extra) = &record.extra {
            put_varint(out, extra.events.len() as u64);
            for event in extra.events {
                let name = self.string(&event.name);
                put_varint(out, name.into());
                put_varint(out, event.time_ns.wrapping_sub(record.start_ns));
                self.encode_attributes(&event.attributes, out);
            }
            put_varint(out, extra.links.len() as u64);
            for link in extra.links {
                out.extend_from_slice(&link.trace_id.0);
                out.extend_from_slice(&link.span_id.0);
                self.encode_attributes(&link.attributes, out);
            }
            put_varint(out, extra.dropped.attributes.into());
            put_varint(out, extra.dropped.events.into());
            put_varint(out, extra.dropped.links.into());
        }
    }

    /// Writes one attribute that is not a pair of the table: 0, its key and its value.
    pub(crate) fn encode_other(&mut self, kv: &KeyValue, out: &mut Vec<u8>) {
        out.push(0);
        let key = self.string(&kv.key);
        put_varint(out, key.into());
        self.encode_value(&kv.value, out);
    }

    fn encode_attributes(&mut self, attributes: &[KeyValue], out: &mut Vec<u8>) {
        put_varint(out, attributes.len() as u64);
        for kv in attributes {
            // A pair by its index in the table, counted from 1; 0, the key and the value otherwise.
            match self.pair(kv) {
                Some(pair) => put_pair(out, pair),
                None => self.encode_other(kv, out),
            }
        }
    }

    fn encode_value(&mut self, value: &Value, out: &mut Vec<u8>) {
        match value {
            Value::Str(s) => {
                out.push(TAG_STR);
                let s = self.string(s);
                put_varint(out, s.into());
            }
            Value::Bool(false) => out.push(TAG_FALSE),
            Value::Bool(true) => out.push(TAG_TRUE),
            Value::Int(i) => {
                out.push(TAG_INT);
                put_varint(out, ((i << 1) ^ (i >> 63)) as u64);
            }
            Value::Double(d) => {
                out.push(TAG_DOUBLE);
                out.extend_from_slice(&d.to_bits().to_le_bytes());
            }
            Value::Bytes(bytes) => {
                out.push(TAG_BYTES);
                put_varint(out, bytes.len() as u64);
                out.extend_from_slice(bytes);
            }
            Value::Array(items) => {
                out.push(TAG_ARRAY);
                put_varint(out, items.len() as u64);
                for item in items.iter() {
                    self.encode_value(item, out);
                }
            }
            Value::Map(entries) => {
                out.push(TAG_MAP);
                self.encode_attributes(entries, out);
            }
        }
    }

    /// About how many bytes the table holds: its strings' text (counted whole, though interned ones are
    /// shared with other tables), and its resources' attributes.
    pub fn weight(&self) -> usize {
        let strings: usize = self.table.strings.iter().map(|s| s.len() + 16).sum();
        let pairs: usize = self.building.iter().map(weight_of).sum();
        let resources: usize = (self.table.resources.iter())
            .map(|r| 24 + r.attributes.iter().map(weight_of).sum::<usize>())
            .sum();
        strings + pairs + resources + self.table.scopes.len() * 64
    }

    /// The table, to be shared by the chunks encoded with it; its pairs are shared through `shared`.
    pub fn finish(self, shared: &Pairs) -> Arc<Table> {
        let mut table = self.table;
        table.strings.shrink_to_fit();
        table.pairs = shared.share(self.building);
        table.resources.shrink_to_fit();
        table.scopes.shrink_to_fit();
        table.bytes = self.bytes.into_boxed_slice();
        Arc::new(table)
    }
}

/// A scalar attribute's identity: its key's address, its value's kind, and its value (a string's address, or its
/// bits); `None` for other values. Interned keys and values make equal pairs identical.
fn pair_key(kv: &KeyValue) -> Option<(usize, u8, u64)> {
    let value = match &kv.value {
        Value::Str(s) => (TAG_STR, Arc::as_ptr(s) as *const u8 as usize as u64),
        Value::Bool(b) => (TAG_TRUE, u64::from(*b)),
        Value::Int(i) => (TAG_INT, *i as u64),
        Value::Double(d) => (TAG_DOUBLE, d.to_bits()),
        Value::Bytes(_) | Value::Array(_) | Value::Map(_) => return None,
    };
    Some((Arc::as_ptr(&kv.key) as *const u8 as usize, value.0, value.1))
}

/// The scalar attributes of every table, each kept once: a batch's table holds a pointer to each of its pairs
/// (8 bytes) rather than the pair (40), and batches mostly repeat one another's pairs. A store holds one;
/// [`Pairs::prune`] forgets the pairs no table holds any more, as [`crate::model::Interner::prune`] does strings.
#[derive(Debug, Default)]
pub struct Pairs {
    // Found by [`pair_key`]: the map holds each pair, so no address in a key is reused while it is there.
    shared: parking_lot::Mutex<FxHashMap<(usize, u8, u64), Arc<KeyValue>>>,
}

impl Pairs {
    /// The shared copy of each of `pairs` (made on first sight), under one lock.
    fn share(&self, pairs: Vec<KeyValue>) -> Box<[Arc<KeyValue>]> {
        let mut shared = self.shared.lock();
        (pairs.into_iter())
            .map(|kv| match pair_key(&kv) {
                Some(key) => shared.entry(key).or_insert_with(|| Arc::new(kv)).clone(),
                None => Arc::new(kv),
            })
            .collect()
    }

    /// Forgets the pairs no table holds any more; returns how many were dropped.
    pub fn prune(&self) -> usize {
        let mut shared = self.shared.lock();
        let before = shared.len();
        shared.retain(|_, kv| Arc::strong_count(kv) > 1);
        shared.shrink_to_fit();
        before - shared.len()
    }

    /// How many pairs are held.
    pub fn len(&self) -> usize {
        self.shared.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A span's record, its strings, resource and scope as indexes of the table: what
/// [`TableBuilder::write_record`] writes.
pub(crate) struct Record<'s> {
    pub(crate) parent: Option<SpanId>,
    pub(crate) kind: SpanKind,
    pub(crate) status: StatusCode,
    pub(crate) start_ns: u64,
    pub(crate) end_ns: u64,
    pub(crate) name: u32,
    pub(crate) resource: u32,
    pub(crate) scope: u32,
    pub(crate) message: Option<u32>,
    pub(crate) extra: Option<Extra<'s>>,
}

/// A span's events, links and dropped counts, when it has any.
pub(crate) struct Extra<'s> {
    pub(crate) events: &'s [Event],
    pub(crate) links: &'s [Link],
    pub(crate) dropped: Dropped,
}

impl<'s> Extra<'s> {
    pub(crate) fn of(
        events: &'s [Event],
        links: &'s [Link],
        dropped: Dropped,
    ) -> Option<Extra<'s>> {
        (!events.is_empty() || !links.is_empty() || !dropped.is_none()).then_some(Extra {
            events,
            links,
            dropped,
        })
    }
}

/// About how many bytes an attribute holds, its key and text included.
fn weight_of(kv: &KeyValue) -> usize {
    fn value(v: &Value) -> usize {
        match v {
            Value::Str(s) => s.len() + 16,
            Value::Bytes(b) => b.len() + 16,
            Value::Array(items) => 16 + items.iter().map(|i| 24 + value(i)).sum::<usize>(),
            Value::Map(entries) => 16 + entries.iter().map(weight_of).sum::<usize>(),
            Value::Bool(_) | Value::Int(_) | Value::Double(_) => 0,
        }
    }
    40 + kv.key.len() + value(&kv.value)
}

const TAG_STR: u8 = 0;
const TAG_FALSE: u8 = 1;
const TAG_TRUE: u8 = 2;
const TAG_INT: u8 = 3;
const TAG_DOUBLE: u8 = 4;
const TAG_BYTES: u8 = 5;
const TAG_ARRAY: u8 = 6;
const TAG_MAP: u8 = 7;

/// Writes an attribute that is a pair of the table, by its index.
pub(crate) fn put_pair(out: &mut Vec<u8>, pair: u32) {
    put_varint(out, u64::from(pair) + 1);
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Where each span id of a chunk is, to write a parent as its index: a look along the ids for a few spans, a
/// map for many (a chunk may hold a whole large trace).
pub(crate) enum Ids {
    Few(Vec<SpanId>),
    Many(FxHashMap<SpanId, u32>),
}

impl Ids {
    const FEW: usize = 32;

    fn new(len: usize, ids: impl Iterator<Item = SpanId>) -> Ids {
        if len <= Ids::FEW {
            return Ids::Few(ids.collect());
        }
        let mut map = FxHashMap::default();
        for (at, id) in ids.enumerate() {
            // The first of duplicate ids, as the look along them finds.
            map.entry(id).or_insert(at as u32);
        }
        Ids::Many(map)
    }

    fn find(&self, id: SpanId) -> Option<usize> {
        match self {
            Ids::Few(ids) => ids.iter().position(|&known| known == id),
            Ids::Many(map) => map.get(&id).map(|&at| at as usize),
        }
    }
}

/// A trace's spans from one batch, encoded, before the batch's table is finished.
pub struct Encoded {
    base_ns: u64,
    len: u32,
    /// Where its bytes are in the batch's.
    start: u32,
    end: u32,
}

impl Encoded {
    /// The chunk, reading its strings from `table` (the finished table of the builder that encoded it).
    pub fn into_chunk(self, table: Arc<Table>) -> Chunk {
        Chunk {
            table,
            base_ns: self.base_ns,
            len: self.len,
            start: self.start,
            end: self.end,
        }
    }
}

/// Spans of one trace from one batch, stored compactly: a range of the bytes its batch's table holds. It does
/// not keep their trace id (its trace does): readers pass it. Cloning shares the table.
#[derive(Clone)]
pub struct Chunk {
    table: Arc<Table>,
    base_ns: u64,
    len: u32,
    start: u32,
    end: u32,
}

impl std::fmt::Debug for Chunk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chunk")
            .field("spans", &self.len)
            .field("bytes", &self.bytes().len())
            .finish()
    }
}

impl Chunk {
    /// The number of spans.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Its encoded spans.
    fn bytes(&self) -> &[u8] {
        &self.table.bytes[self.start as usize..self.end as usize]
    }

    /// The bytes it holds itself (its table, shared with the other chunks of its batch, not counted).
    pub fn weight(&self) -> usize {
        self.bytes().len() + std::mem::size_of::<Chunk>()
    }

    /// The spans, decoded, in the order they were encoded, as spans of trace `trace_id`.
    pub fn spans(&self, trace_id: TraceId) -> impl Iterator<Item = Span> + '_ {
        let mut reader = Reader {
            chunk: self,
            bytes: self.bytes(),
            trace_id,
            at: self.len as usize * 8,
        };
        (0..self.len as usize).map(move |i| reader.span(i))
    }
}

struct Reader<'a> {
    chunk: &'a Chunk,
    bytes: &'a [u8],
    trace_id: TraceId,
    at: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.bytes[self.at];
        self.at += 1;
        b
    }

    fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0; N];
        out.copy_from_slice(&self.bytes[self.at..self.at + N]);
        self.at += N;
        out
    }

    fn varint(&mut self) -> u64 {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let b = self.byte();
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return v;
            }
            shift += 7;
        }
    }

    fn string(&mut self) -> Str {
        let i = self.varint() as usize;
        self.chunk.table.strings[i].clone()
    }

    /// The span id at index `i` of the chunk's ids.
    fn id(&self, i: usize) -> SpanId {
        let mut id = [0; 8];
        id.copy_from_slice(&self.bytes[i * 8..i * 8 + 8]);
        SpanId(id)
    }

    /// The `i`th span's record.
    fn span(&mut self, i: usize) -> Span {
        let span_id = self.id(i);
        let flags = self.byte();
        let parent_span_id = (flags & 1 << 5 != 0).then(|| match self.varint() {
            0 => SpanId(self.array()),
            at => self.id(at as usize - 1),
        });
        let start_ns = self.chunk.base_ns.wrapping_add(self.varint());
        let end_ns = start_ns.wrapping_add(self.varint());
        let name = self.string();
        let resource = self.chunk.table.resources[self.varint() as usize].clone();
        let scope = self.chunk.table.scopes[self.varint() as usize].clone();
        let message = (flags & 1 << 6 != 0).then(|| self.string());
        let attributes = self.attributes();
        let (mut events, mut links, mut dropped) = (Vec::new(), Vec::new(), Dropped::default());
        if flags & 1 << 7 != 0 {
            for _ in 0..self.varint() {
                let name = self.string();
                let time_ns = start_ns.wrapping_add(self.varint());
                let attributes = self.attributes();
                events.push(Event {
                    name,
                    time_ns,
                    attributes,
                });
            }
            for _ in 0..self.varint() {
                let trace_id = TraceId(self.array());
                let span_id = SpanId(self.array());
                let attributes = self.attributes();
                links.push(Link {
                    trace_id,
                    span_id,
                    attributes,
                });
            }
            // Written from u32s.
            dropped = Dropped {
                attributes: self.varint() as u32,
                events: self.varint() as u32,
                links: self.varint() as u32,
            };
        }
        Span {
            trace_id: self.trace_id,
            span_id,
            parent_span_id,
            name,
            kind: SpanKind::from_otlp(i32::from(flags & 0b111)),
            start_ns,
            end_ns,
            status: Status {
                code: match (flags >> 3) & 0b11 {
                    1 => StatusCode::Ok,
                    2 => StatusCode::Error,
                    _ => StatusCode::Unset,
                },
                message,
            },
            attributes,
            events,
            links,
            resource,
            scope,
            dropped,
        }
    }

    fn attributes(&mut self) -> Vec<KeyValue> {
        let n = self.varint() as usize;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            match self.varint() {
                0 => {
                    let key = self.string();
                    let value = self.value();
                    out.push(KeyValue { key, value });
                }
                pair => out.push(KeyValue::clone(&self.chunk.table.pairs[pair as usize - 1])),
            }
        }
        out
    }

    fn value(&mut self) -> Value {
        match self.byte() {
            TAG_STR => Value::Str(self.string()),
            TAG_FALSE => Value::Bool(false),
            TAG_TRUE => Value::Bool(true),
            TAG_INT => {
                let z = self.varint();
                Value::Int((z >> 1) as i64 ^ -((z & 1) as i64))
            }
            TAG_DOUBLE => Value::Double(f64::from_bits(u64::from_le_bytes(self.array()))),
            TAG_BYTES => {
                let n = self.varint() as usize;
                let bytes = Arc::from(&self.bytes[self.at..self.at + n]);
                self.at += n;
                Value::Bytes(bytes)
            }
            TAG_ARRAY => {
                let n = self.varint() as usize;
                Value::Array((0..n).map(|_| self.value()).collect())
            }
            TAG_MAP => Value::Map(self.attributes().into()),
            tag => unreachable!("compact: unknown value tag {tag}, a bug in the encoder"),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::model::Interner;

    fn round_trip(spans: &[Span]) -> Vec<Span> {
        let mut builder = TableBuilder::new();
        let encoded = builder.encode(spans);
        let chunk = encoded.into_chunk(builder.finish(&Pairs::default()));
        assert_eq!(chunk.len(), spans.len());
        let trace_id = spans.first().map(|s| s.trace_id).unwrap_or_default();
        chunk.spans(trace_id).collect()
    }

    #[test]
    fn batches_share_their_pairs_until_none_holds_them() {
        let interner = Interner::new();
        let shared = Pairs::default();
        let tables: Vec<Arc<Table>> = (0..3)
            .map(|seed| {
                let request = crate::synth::shop_batch(64, seed);
                let spans = crate::otlp::from_request(&request, &interner).spans;
                let mut builder = TableBuilder::new();
                builder.encode(&spans);
                builder.finish(&shared)
            })
            .collect();
        let distinct = shared.len();
        assert!(distinct > 0 && distinct < tables.iter().map(|t| t.pairs.len()).sum::<usize>());
        let first = &tables[0].pairs[0];
        assert!(
            tables[1..]
                .iter()
                .any(|t| t.pairs.iter().any(|p| Arc::ptr_eq(p, first))),
            "a pair of two batches is one allocation"
        );
        assert_eq!(shared.prune(), 0, "every pair is still held");
        drop(tables);
        assert_eq!(shared.prune(), distinct);
        assert!(shared.is_empty());
    }

    #[test]
    fn shop_spans_round_trip_in_under_48_bytes_each() {
        let interner = Interner::new();
        let request = crate::synth::shop_batch(512, 11);
        let spans = crate::otlp::from_request(&request, &interner).spans;
        let mut builder = TableBuilder::new();
        let mut chunks = Vec::new();
        let mut encoded_bytes = 0;
        // Grouped by trace as the store groups a batch (a batch holds each trace's spans service by service).
        let mut traces: Vec<Vec<Span>> = Vec::new();
        for span in spans {
            match traces.iter_mut().find(|t| t[0].trace_id == span.trace_id) {
                Some(trace) => trace.push(span),
                None => traces.push(vec![span]),
            }
        }
        for trace in &traces {
            let encoded = builder.encode(trace);
            encoded_bytes += (encoded.end - encoded.start) as usize;
            chunks.push((trace, encoded));
        }
        let table = builder.finish(&Pairs::default());
        assert!(
            table.strings.len() < 60,
            "strings repeat: {}",
            table.strings.len()
        );
        assert_eq!(table.resources.len(), 3);
        for (trace, encoded) in chunks {
            let chunk = encoded.into_chunk(table.clone());
            assert_eq!(&chunk.spans(trace[0].trace_id).collect::<Vec<_>>(), trace);
        }
        // Ids 16 bytes, times about 7, ten attributes about 12 (BENCHMARKS.md: memory a stored span).
        assert!(encoded_bytes / 512 < 48, "{} a span", encoded_bytes / 512);
    }

    fn value_strategy() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            "[a-z.]{0,12}".prop_map(|s| Value::Str(Str::from(s))),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::Int),
            any::<f64>()
                .prop_filter("NaN is not equal to itself", |d| !d.is_nan())
                .prop_map(Value::Double),
            proptest::collection::vec(any::<u8>(), 0..20).prop_map(|b| Value::Bytes(b.into())),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4)
                    .prop_map(|items| Value::Array(items.into())),
                proptest::collection::vec(("[a-z]{1,5}", inner), 0..4).prop_map(|entries| {
                    Value::Map(
                        entries
                            .into_iter()
                            .map(|(key, value)| KeyValue {
                                key: Str::from(key),
                                value,
                            })
                            .collect(),
                    )
                }),
            ]
        })
    }

    fn attributes_strategy() -> impl Strategy<Value = Vec<KeyValue>> {
        proptest::collection::vec(("[a-z.]{1,10}", value_strategy()), 0..6).prop_map(|kvs| {
            kvs.into_iter()
                .map(|(key, value)| KeyValue {
                    key: Str::from(key),
                    value,
                })
                .collect()
        })
    }

    fn span_strategy(trace_id: TraceId) -> impl Strategy<Value = Span> {
        (
            (any::<u64>(), proptest::option::of(any::<u64>()), 0..6i32),
            (any::<u64>(), any::<u64>(), 0..3u8),
            proptest::option::of("[ -~]{0,10}"),
            attributes_strategy(),
            proptest::collection::vec(("[a-z]{1,8}", any::<u64>(), attributes_strategy()), 0..3),
            proptest::collection::vec((any::<u128>(), any::<u64>(), attributes_strategy()), 0..2),
            "[a-z]{1,8}",
        )
            .prop_map(
                move |(
                    (id, parent, kind),
                    (start_ns, end_ns, code),
                    message,
                    attributes,
                    events,
                    links,
                    service,
                )| Span {
                    trace_id,
                    span_id: SpanId::from_u64(id),
                    parent_span_id: parent.map(SpanId::from_u64),
                    name: Str::from(format!("op {id}")),
                    kind: SpanKind::from_otlp(kind),
                    start_ns,
                    end_ns,
                    status: Status {
                        code: [StatusCode::Unset, StatusCode::Ok, StatusCode::Error][code as usize],
                        message: message.map(Str::from),
                    },
                    attributes,
                    events: events
                        .into_iter()
                        .map(|(name, time_ns, attributes)| Event {
                            name: Str::from(name),
                            time_ns,
                            attributes,
                        })
                        .collect(),
                    links: links
                        .into_iter()
                        .map(|(trace, span, attributes)| Link {
                            trace_id: TraceId::from_u128(trace),
                            span_id: SpanId::from_u64(span),
                            attributes,
                        })
                        .collect(),
                    resource: Arc::new(Resource {
                        attributes: vec![KeyValue {
                            key: Str::from("service.name"),
                            value: Value::Str(Str::from(service)),
                        }],
                    }),
                    scope: Arc::new(Scope {
                        name: Str::from("test"),
                        version: None,
                    }),
                    dropped: Default::default(),
                },
            )
    }

    proptest! {
        #[test]
        fn any_spans_round_trip(trace in any::<u128>(), spans in proptest::collection::vec(
            span_strategy(TraceId::from_u128(0)), 0..6), parents in proptest::collection::vec(
            proptest::option::of(0..6usize), 6)
        ) {
            let mut spans: Vec<Span> = spans
                .into_iter()
                .map(|mut s| { s.trace_id = TraceId::from_u128(trace); s })
                .collect();
            // Some parents are spans of the same chunk, before or after their child (or the span itself).
            let ids: Vec<SpanId> = spans.iter().map(|s| s.span_id).collect();
            for (span, parent) in spans.iter_mut().zip(&parents) {
                if let Some(at) = parent.filter(|&at| at < ids.len()) {
                    span.parent_span_id = Some(ids[at]);
                }
            }
            prop_assert_eq!(round_trip(&spans), spans);
        }
    }

    proptest! {
        // Each case encodes dozens of spans: fewer cases keep it to seconds in a debug build.
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// A chunk past the few whose parents are looked for along the ids, so they are found by a map.
        #[test]
        fn a_large_chunk_round_trips(spans in proptest::collection::vec(
            span_strategy(TraceId::from_u128(7)), 33..80), parents in proptest::collection::vec(
            any::<prop::sample::Index>(), 80)
        ) {
            let mut spans = spans;
            let ids: Vec<SpanId> = spans.iter().map(|s| s.span_id).collect();
            for (span, parent) in spans.iter_mut().zip(&parents) {
                span.parent_span_id = Some(ids[parent.index(ids.len())]);
            }
            prop_assert_eq!(round_trip(&spans), spans);
        }
    }
}
