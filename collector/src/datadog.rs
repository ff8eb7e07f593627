//! Decoding of the Datadog agent's trace payloads (`/v0.3`, `/v0.4` in msgpack or JSON, `/v0.5` msgpack with
//! a string table) straight onto the model, one span at a time: service → `service.name`, resource, operation
//! and type kept, `meta` and `metrics` → attributes, `error: 1` → an error status with an exception event,
//! 64-bit ids widened with `_dd.p.tid`, parent 0 = root.
//!
//! Decoding is streaming and borrows strings from the body: msgpack by a walk of its own over the bytes
//! ([`msgpack`], with `rmp`'s markers), which accepts and refuses exactly what rmp-serde with this module's
//! former visitors did (proven against them, kept in tests as `reference`), JSON by serde visitors over
//! serde_json. It validates as it goes: every span is checked as Datadog's agent checks it (see
//! [`Builder::finish_span`]) and everything the decoder keeps (spans, attributes, strings, the v0.5 string
//! table) is charged against a budget proportional to the body ([`budget`]: 12 times a v0.4 body, 24 times a
//! v0.5 one, plus 1 MiB), so a payload built to expand (a megabyte of one-byte empty span maps, millions of tiny
//! spans, a meta map of repeated keys) is refused before it takes more memory than a fixed multiple of its own
//! size. No collection is presized from a length the payload claims. A payload's repeated strings are found in
//! a cache of its own by their bytes (checked as UTF-8 once), and the meta keys the checks read are known by
//! that cache, so a span's checks look nothing up by name.
//!
//! The receiver decodes msgpack for the store ([`decode_v04_for_store`], [`decode_v05_for_store`]): the same
//! walk and the same builder, but each span goes straight into a [`crate::staged::Staged`] batch, a record of
//! table indexes ([`staged`]), as the OTLP receivers' spans do; a payload with a span the span limits would cut
//! is decoded again onto the model, which the ingest queue cuts. Both are proven to give the same spans,
//! rejections, charge and refusals (`equivalence`).

use std::borrow::{Borrow, Cow};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::mem::size_of;
use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHashSet};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::ingest::Batch;
use crate::limits::SpanLimits;
use crate::model::{
    Event, Interner, KeyValue, Resource, Scope, Span, SpanId, SpanKind, Status, StatusCode, Str,
    TraceId, Value,
};

#[cfg(test)]
mod equivalence;
mod msgpack;
#[cfg(test)]
mod reference;
mod staged;

use staged::StagedOut;

/// A v0.4 payload (msgpack or JSON) may take this many times its size in memory once decoded, plus
/// [`BUDGET_BASE`]. ddtrace's take about 2 times theirs; the smallest spans a payload can hold (20 bytes) would
/// take over 20 times theirs.
pub const V04_BUDGET_FACTOR: usize = 12;
/// The same for v0.5, whose string table makes spans several times smaller on the wire than in memory:
/// ddtrace's take about 10 times their size; the smallest spans (13 bytes) would take over 30 times theirs.
pub const V05_BUDGET_FACTOR: usize = 24;
/// What any payload may take besides.
pub const BUDGET_BASE: usize = 1024 * 1024;

/// The bytes of memory a payload of `body_len` bytes may take once decoded, at `factor` times its size.
pub fn budget(body_len: usize, factor: usize) -> usize {
    body_len.saturating_mul(factor).saturating_add(BUDGET_BASE)
}

/// Why a payload could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("malformed msgpack trace payload: {0}")]
    Msgpack(#[from] rmp_serde::decode::Error),
    #[error("malformed JSON trace payload: {0}")]
    Json(#[from] serde_json::Error),
    #[error("malformed v0.5 payload: string index {0} is outside the string table")]
    StringIndex(u32),
    #[error(
        "the payload would take more than {budget} bytes of memory decoded ({factor} times its {body} \
         bytes plus {BUDGET_BASE}): send fewer spans per payload"
    )]
    OverBudget {
        budget: usize,
        body: usize,
        factor: usize,
    },
}

impl DecodeError {
    /// The reason the refusal is counted under.
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::Msgpack(_) | DecodeError::StringIndex(_) => "malformed_msgpack",
            DecodeError::Json(_) => "malformed_json",
            DecodeError::OverBudget { .. } => "over_budget",
        }
    }
}

/// The result of decoding a payload: spans, and the spans that could not be taken.
#[derive(Debug, Default)]
pub struct Converted {
    pub spans: Vec<Span>,
    /// Spans refused one by one (no trace or span id), as Datadog's agent drops them.
    pub rejected: u64,
    pub error: Option<String>,
    /// The bytes charged against the payload's [`budget`]: about what the spans take in memory.
    pub charged: usize,
}

/// `/v0.3` and `/v0.4`: an array of traces, each an array of span maps, in msgpack.
pub fn decode_v04_msgpack(body: &[u8], interner: &Interner) -> Result<Converted, DecodeError> {
    let mut builder = Builder::new(interner, body.len(), V04_BUDGET_FACTOR);
    let decoded = msgpack::v04(body, &mut builder);
    builder.finish(decoded)
}

/// A msgpack payload decoded for the store: its spans, in the store's form when they are within the span limits
/// (else model spans, which the ingest queue cuts down to them), and what the budget charged.
pub struct ForStore {
    pub decoded: crate::wire::Decoded,
    /// As [`Converted::charged`].
    pub charged: usize,
}

impl From<Converted> for ForStore {
    fn from(converted: Converted) -> ForStore {
        ForStore {
            decoded: crate::wire::Decoded {
                batch: Batch::Spans(converted.spans),
                rejected: converted.rejected,
                error: converted.error,
            },
            charged: converted.charged,
        }
    }
}

/// [`decode_v04_msgpack`] for the store.
pub fn decode_v04_for_store(body: &[u8], interner: &Interner) -> Result<ForStore, DecodeError> {
    for_store(
        body,
        interner,
        V04_BUDGET_FACTOR,
        msgpack::v04,
        decode_v04_msgpack,
    )
}

/// [`decode_v05`] for the store.
pub fn decode_v05_for_store(body: &[u8], interner: &Interner) -> Result<ForStore, DecodeError> {
    for_store(body, interner, V05_BUDGET_FACTOR, msgpack::v05, decode_v05)
}

/// Walks the payload with a builder that stages its spans; when a span would be cut by the span limits, the
/// payload is decoded again onto the model (`model`), once the first decoding let go of everything it held (so
/// that the second is charged as if it were the first).
fn for_store<'de>(
    body: &'de [u8],
    interner: &Interner,
    factor: usize,
    walk: fn(&'de [u8], &mut Builder<'_, 'de>) -> Result<(), DecodeError>,
    model: fn(&[u8], &Interner) -> Result<Converted, DecodeError>,
) -> Result<ForStore, DecodeError> {
    let mut builder = Builder::new(interner, body.len(), factor);
    builder.staged = Some(Box::new(StagedOut::new(
        &builder.scope,
        SpanLimits::default(),
    )));
    let walked = walk(body, &mut builder);
    let staged = builder.staged.take().expect("staged above");
    if staged.over {
        drop((staged, builder));
        return model(body, interner).map(ForStore::from);
    }
    let converted = builder.finish(walked)?;
    Ok(ForStore {
        decoded: crate::wire::Decoded {
            batch: Batch::Staged(Box::new(staged.staged)),
            rejected: converted.rejected,
            error: converted.error,
        },
        charged: converted.charged,
    })
}

/// `/v0.3` and `/v0.4` in JSON.
pub fn decode_v04_json(body: &[u8], interner: &Interner) -> Result<Converted, DecodeError> {
    let mut builder = Builder::new(interner, body.len(), V04_BUDGET_FACTOR);
    let mut de = serde_json::Deserializer::from_slice(body);
    let decoded = Traces(&mut builder)
        .deserialize(&mut de)
        .and_then(|()| de.end());
    builder.finish(decoded.map_err(DecodeError::from))
}

/// `/v0.5`: `[string table, traces]`, each span an array of twelve fields whose strings are indexes into the
/// table: service, name, resource, trace_id, span_id, parent_id, start, duration, error, meta, metrics, type.
pub fn decode_v05(body: &[u8], interner: &Interner) -> Result<Converted, DecodeError> {
    let mut builder = Builder::new(interner, body.len(), V05_BUDGET_FACTOR);
    let decoded = msgpack::v05(body, &mut builder);
    builder.finish(decoded)
}

/// Strings up to this long are interned; longer ones (SQL, stacks, messages) are shared within the payload only.
const MAX_INTERNED: usize = 128;
/// Service and operation names and span types are cut to this many bytes, as Datadog's agent cuts them.
const MAX_NAME: usize = 100;
/// The most distinct strings a payload's own cache of interned strings keeps (about 100 KB), so it needs no
/// charge of its own: past them, strings are looked up in the shared interner.
const MAX_SEEN: usize = 4096;
/// What interning a string may cost beyond its text: the shared allocation's header and the table's slot.
const INTERN_COST: usize = 64;
/// What one more resource (service, version and env) costs: the `Resource`, its attributes and its map entry.
const RESOURCE_COST: usize = 256;

/// Stops decoding: the cause is kept in [`Ctx::failure`].
struct Stop;

/// The meta keys a span's checks read, each a slot of [`Fields::special`]; any other key is [`Special::NONE`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Special(u8);

impl Special {
    const NONE: Special = Special(0);
    const TID: Special = Special(1);
    const VERSION: Special = Special(2);
    const ENV: Special = Special(3);
    const SPAN_KIND: Special = Special(4);
    const DB_SYSTEM: Special = Special(5);
    const DB_TYPE: Special = Special(6);
    const DB_QUERY_TEXT: Special = Special(7);
    const HTTP_STATUS_CODE: Special = Special(8);
    const ERROR_TYPE: Special = Special(9);
    const ERROR_KIND: Special = Special(10);
    const ERROR_MSG: Special = Special(11);
    const ERROR_MESSAGE: Special = Special(12);
    const ERROR_STACK: Special = Special(13);
    const COUNT: usize = 14;

    fn of(key: &str) -> Special {
        match key {
            "_dd.p.tid" => Special::TID,
            "version" => Special::VERSION,
            "env" => Special::ENV,
            "span.kind" => Special::SPAN_KIND,
            "db.system" => Special::DB_SYSTEM,
            "db.type" => Special::DB_TYPE,
            "db.query.text" => Special::DB_QUERY_TEXT,
            "http.status_code" => Special::HTTP_STATUS_CODE,
            "error.type" => Special::ERROR_TYPE,
            "error.kind" => Special::ERROR_KIND,
            "error.msg" => Special::ERROR_MSG,
            "error.message" => Special::ERROR_MESSAGE,
            "error.stack" => Special::ERROR_STACK,
            _ => Special::NONE,
        }
    }
}

/// An interned string of the payload's cache, found by its bytes, with what it is as a meta key.
struct Seen {
    text: Str,
    special: Special,
}

impl Borrow<[u8]> for Seen {
    fn borrow(&self) -> &[u8] {
        self.text.as_bytes()
    }
}

impl Hash for Seen {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.text.as_bytes().hash(state);
    }
}

impl PartialEq for Seen {
    fn eq(&self, other: &Seen) -> bool {
        self.text == other.text
    }
}

impl Eq for Seen {}

/// The budget, the interner and why decoding stopped.
struct Ctx<'i> {
    interner: &'i Interner,
    /// The payload's strings already interned, up to [`MAX_SEEN`] of them: a repeat is found here by its
    /// bytes, without the shared interner's lock (and, in msgpack, without checking its UTF-8 again).
    seen: FxHashSet<Seen>,
    left: usize,
    body: usize,
    factor: usize,
    failure: Option<DecodeError>,
}

impl Ctx<'_> {
    fn charge(&mut self, bytes: usize) -> Result<(), Stop> {
        match self.left.checked_sub(bytes) {
            Some(left) => {
                self.left = left;
                Ok(())
            }
            None => {
                self.failure = Some(DecodeError::OverBudget {
                    budget: budget(self.body, self.factor),
                    body: self.body,
                    factor: self.factor,
                });
                Err(Stop)
            }
        }
    }

    /// The cached string of these bytes, if the payload interned it already: what [`Ctx::intern`] would
    /// answer, at no charge.
    fn cached(&self, bytes: &[u8]) -> Option<(Str, Special)> {
        self.seen
            .get(bytes)
            .map(|seen| (seen.text.clone(), seen.special))
    }

    /// Interned, charged when it is (probably) new: nothing else but the table and this answer holds it.
    fn intern(&mut self, text: &str) -> Result<Str, Stop> {
        self.key(text).map(|(shared, _)| shared)
    }

    /// [`Ctx::intern`], with what the string is as a meta key.
    fn key(&mut self, text: &str) -> Result<(Str, Special), Stop> {
        if let Some(found) = self.cached(text.as_bytes()) {
            return Ok(found);
        }
        let shared = self.interner.intern(text);
        if Arc::strong_count(&shared) <= 2 {
            self.charge(text.len() + INTERN_COST)?;
        }
        let special = Special::of(text);
        if self.seen.len() < MAX_SEEN {
            self.seen.insert(Seen {
                text: shared.clone(),
                special,
            });
        }
        Ok((shared, special))
    }

    /// Interned when short, else a copy of its own.
    fn text(&mut self, text: &str) -> Result<Str, Stop> {
        self.text_key(text).map(|(shared, _)| shared)
    }

    /// [`Ctx::text`], with what the string is as a meta key (a long one is none).
    fn text_key(&mut self, text: &str) -> Result<(Str, Special), Stop> {
        if text.len() <= MAX_INTERNED {
            self.key(text)
        } else {
            self.charge(text.len() + 16)?;
            Ok((Arc::from(text), Special::NONE))
        }
    }

    /// A name cut to [`MAX_NAME`] bytes (on a character boundary), interned.
    fn name(&mut self, text: &str) -> Result<Str, Stop> {
        self.intern(cut(text, MAX_NAME))
    }

    /// `vec.push(item)`, its growth charged before it is allocated: the whole new block, as the old one is
    /// held while it is copied (so what a vector was ever charged bounds its peak, not only its size).
    fn push<T>(&mut self, vec: &mut Vec<T>, item: T) -> Result<(), Stop> {
        let more = self.grow::<T>(vec.len(), vec.capacity())?;
        vec.reserve_exact(more);
        vec.push(item);
        Ok(())
    }

    /// What a vector of `T`s of `len` and `capacity` grows by to take one more (charged), or 0.
    fn grow<T>(&mut self, len: usize, capacity: usize) -> Result<usize, Stop> {
        if len < capacity {
            return Ok(0);
        }
        let more = capacity.max(4);
        self.charge((capacity + more) * size_of::<T>())?;
        Ok(more)
    }
}

fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The fields of the span being read, reused from span to span.
struct Fields {
    service: Option<Str>,
    name: Option<Str>,
    resource: Option<Str>,
    kind: Option<Str>,
    trace_id: u64,
    span_id: u64,
    parent_id: u64,
    start: i64,
    duration: i64,
    error: i32,
    meta: Vec<(Str, Str)>,
    metrics: Vec<(Str, f64)>,
    /// Where in `meta` each [`Special`] key's value is (the last one read, as a map read in order keeps it),
    /// or [`ABSENT`].
    special: [u32; Special::COUNT],
}

impl Default for Fields {
    fn default() -> Fields {
        Fields {
            service: None,
            name: None,
            resource: None,
            kind: None,
            trace_id: 0,
            span_id: 0,
            parent_id: 0,
            start: 0,
            duration: 0,
            error: 0,
            meta: Vec::new(),
            metrics: Vec::new(),
            special: [ABSENT; Special::COUNT],
        }
    }
}

impl Fields {
    fn clear(&mut self) {
        self.service = None;
        self.name = None;
        self.resource = None;
        self.kind = None;
        self.trace_id = 0;
        self.span_id = 0;
        self.parent_id = 0;
        self.start = 0;
        self.duration = 0;
        self.error = 0;
        self.meta.clear();
        self.metrics.clear();
        self.special = [ABSENT; Special::COUNT];
    }

    fn meta(&self, key: Special) -> Option<&Str> {
        let at = self.special[usize::from(key.0)];
        self.meta.get(at as usize).map(|(_, value)| value)
    }

    /// Where the special keys are once `meta` was sorted.
    fn find_special(&mut self) {
        self.special = [ABSENT; Special::COUNT];
        for (at, (key, _)) in self.meta.iter().enumerate() {
            self.special[usize::from(Special::of(key).0)] = at as u32;
        }
    }
}

/// No such key in the span's `meta`.
const ABSENT: u32 = u32::MAX;

/// Sorts entries by key and keeps the last value of a repeated key, as a map read in order would; entries
/// already in order (a tracer's sorted map) are left as they are.
fn sort_dedup<V>(entries: &mut Vec<(Str, V)>) {
    if entries.windows(2).all(|pair| pair[0].0 < pair[1].0) {
        return;
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.dedup_by(|later, kept| {
        if later.0 == kept.0 {
            std::mem::swap(&mut later.1, &mut kept.1);
            true
        } else {
            false
        }
    });
}

/// Spans with more entries than this are put in order without [`Orders`].
const ORDERED_MAX: usize = 64;
/// The most key sequences [`Orders`] remembers a payload (with [`ORDERED_MAX`], about 150 KB at most).
const ORDERS_MAX: usize = 64;

/// The order a span's entries take — [`sort_dedup`]'s — found by the sequence of their keys (the very strings,
/// compared by address): spans of one kind repeat their sequence, so theirs are put in order without comparing a
/// string.
#[derive(Default)]
struct Orders {
    known: FxHashMap<Box<[usize]>, Order>,
    /// The sequence being looked up, and which entries were moved, reused from span to span.
    keys: Vec<usize>,
    moved: Vec<bool>,
}

/// How to put one sequence of keys in order.
struct Order {
    /// The entry each place takes: the kept ones in order, then the repeats dropped.
    from: Box<[u16]>,
    kept: usize,
    /// Where each entry goes, or [`ABSENT`] for a repeat dropped.
    to: Box<[u32]>,
    /// The keys, so that no other string takes one's address while this is remembered.
    _keys: Box<[Str]>,
}

impl Order {
    fn of<V>(entries: &[(Str, V)]) -> Order {
        let mut sorted: Vec<u16> = (0..entries.len() as u16).collect();
        // Stable: a repeated key's entries stay in the order read, and the last one is kept.
        sorted.sort_by(|&a, &b| entries[usize::from(a)].0.cmp(&entries[usize::from(b)].0));
        let key = |at: u16| &entries[usize::from(at)].0;
        let (mut from, mut dropped) = (Vec::with_capacity(entries.len()), Vec::new());
        for (i, &at) in sorted.iter().enumerate() {
            match sorted.get(i + 1) {
                Some(&next) if key(next) == key(at) => dropped.push(at),
                _ => from.push(at),
            }
        }
        let kept = from.len();
        from.extend(dropped);
        let mut to = vec![ABSENT; entries.len()];
        for (place, &at) in from[..kept].iter().enumerate() {
            to[usize::from(at)] = place as u32;
        }
        Order {
            from: from.into(),
            kept,
            to: to.into(),
            _keys: entries.iter().map(|(key, _)| key.clone()).collect(),
        }
    }

    /// Moves each entry to its place (following each cycle of the permutation), and drops the repeats.
    fn apply<V>(&self, entries: &mut Vec<(Str, V)>, moved: &mut Vec<bool>) {
        moved.clear();
        moved.resize(entries.len(), false);
        for start in 0..entries.len() {
            let mut at = start;
            while !moved[at] {
                moved[at] = true;
                let from = usize::from(self.from[at]);
                if from == start {
                    break;
                }
                entries.swap(at, from);
                at = from;
            }
        }
        entries.truncate(self.kept);
    }
}

impl Orders {
    /// Sorts `entries` as [`sort_dedup`] does; returns where each entry went ([`ABSENT`]: dropped), or none when
    /// there were too many to remember and [`sort_dedup`] did it.
    fn sort<V>(&mut self, entries: &mut Vec<(Str, V)>) -> Option<&[u32]> {
        if entries.len() > ORDERED_MAX {
            sort_dedup(entries);
            return None;
        }
        self.keys.clear();
        (self.keys).extend(
            entries
                .iter()
                .map(|(key, _)| Arc::as_ptr(key).cast::<u8>().addr()),
        );
        if !self.known.contains_key(&self.keys[..]) {
            let order = Order::of(entries);
            if self.known.len() >= ORDERS_MAX {
                order.apply(entries, &mut self.moved);
                return None;
            }
            self.known.insert(self.keys.clone().into(), order);
        }
        let order = &self.known[&self.keys[..]];
        order.apply(entries, &mut self.moved);
        Some(&order.to)
    }
}

/// Attribute keys every span may use, interned once a payload.
struct Keys {
    resource_name: Str,
    operation_name: Str,
    span_type: Str,
    db_system_name: Str,
    db_query_text: Str,
    http_status: Str,
    exception: Str,
    exception_type: Str,
    exception_message: Str,
    exception_stacktrace: Str,
    unnamed_operation: Str,
    unnamed_service: Str,
}

impl Keys {
    fn new(interner: &Interner) -> Keys {
        let i = |s: &str| interner.intern(s);
        Keys {
            resource_name: i("resource.name"),
            operation_name: i("operation.name"),
            span_type: i("span.type"),
            db_system_name: i("db.system.name"),
            db_query_text: i("db.query.text"),
            http_status: i("http.response.status_code"),
            exception: i("exception"),
            exception_type: i("exception.type"),
            exception_message: i("exception.message"),
            exception_stacktrace: i("exception.stacktrace"),
            unnamed_operation: i("unnamed_operation"),
            unnamed_service: i("unnamed-service"),
        }
    }
}

/// A v0.5 string-table entry: as it is in the body until a span first uses it.
enum Slot<'de> {
    Raw(&'de str),
    Ready(Str, Special),
}

type ResourceKey = (Str, Option<Str>, Option<Str>);

/// The resource of the last span, by the very strings its key was made of: the next span of the same
/// service, version and env (most are) takes it without hashing them.
struct LastResource {
    service: Str,
    version: Option<Str>,
    env: Option<Str>,
    resource: Arc<Resource>,
}

fn same(a: Option<&Str>, b: Option<&Str>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        _ => false,
    }
}

/// Builds model spans from decoded fields, one span at a time, charging what it keeps.
struct Builder<'i, 'de> {
    ctx: Ctx<'i>,
    keys: Keys,
    scope: Arc<Scope>,
    fields: Fields,
    out: Converted,
    /// Spans of one service, version and env share one resource.
    resources: FxHashMap<ResourceKey, Arc<Resource>>,
    last_resource: Option<LastResource>,
    orders: Orders,
    /// Where the current trace chunk's spans start in `out.spans`, and its `_dd.p.tid`.
    chunk_start: usize,
    chunk_high: Option<u64>,
    table: Vec<Slot<'de>>,
    /// Decoding for the store: the spans go there rather than into `out.spans`.
    staged: Option<Box<StagedOut>>,
}

impl<'i, 'de> Builder<'i, 'de> {
    fn new(interner: &'i Interner, body: usize, factor: usize) -> Builder<'i, 'de> {
        Builder {
            ctx: Ctx {
                interner,
                seen: FxHashSet::default(),
                left: budget(body, factor),
                body,
                factor,
                failure: None,
            },
            keys: Keys::new(interner),
            scope: Arc::new(Scope {
                name: interner.intern("datadog"),
                version: None,
            }),
            fields: Fields::default(),
            out: Converted::default(),
            resources: FxHashMap::default(),
            last_resource: None,
            orders: Orders::default(),
            chunk_start: 0,
            chunk_high: None,
            table: Vec::new(),
            staged: None,
        }
    }

    /// The decoding's outcome: a stop of ours is reported as its own cause, not as the format's error.
    fn finish(mut self, decoded: Result<(), DecodeError>) -> Result<Converted, DecodeError> {
        match (self.ctx.failure.take(), decoded) {
            (Some(failure), _) => Err(failure),
            (None, Err(err)) => Err(err),
            (None, Ok(())) => {
                self.out.charged = budget(self.ctx.body, self.ctx.factor) - self.ctx.left;
                Ok(self.out)
            }
        }
    }

    fn start_chunk(&mut self) {
        self.chunk_start = match &self.staged {
            Some(staged) => staged.len(),
            None => self.out.spans.len(),
        };
        self.chunk_high = None;
    }

    /// Tracers put `_dd.p.tid` (the upper 64 bits of a 128-bit trace id) on a chunk's first span only: the
    /// chunk's spans get it once the chunk is read.
    fn finish_chunk(&mut self) {
        let Some(high) = self.chunk_high.filter(|&high| high != 0) else {
            return;
        };
        let widen = |trace_id: &mut TraceId| {
            let low = trace_id.to_u128() as u64;
            *trace_id = TraceId::from_u128((u128::from(high) << 64) | u128::from(low));
        };
        match &mut self.staged {
            Some(staged) => staged.trace_ids(self.chunk_start).for_each(widen),
            None => (self.out.spans[self.chunk_start..].iter_mut())
                .for_each(|span| widen(&mut span.trace_id)),
        }
    }

    /// A `meta` entry of the span being read.
    fn push_meta(&mut self, key: Str, special: Special, value: Str) -> Result<(), Stop> {
        // Slot 0, `Special::NONE`'s, is never read.
        self.fields.special[usize::from(special.0)] = self.fields.meta.len() as u32;
        self.ctx.push(&mut self.fields.meta, (key, value))
    }

    /// A `metrics` entry of the span being read.
    fn push_metric(&mut self, key: Str, value: f64) -> Result<(), Stop> {
        self.ctx.push(&mut self.fields.metrics, (key, value))
    }

    /// The string at `index` of the v0.5 table, made shared on first use, with what it is as a meta key.
    fn string_key(&mut self, index: u32) -> Result<(Str, Special), Stop> {
        let Some(slot) = self.table.get_mut(index as usize) else {
            self.ctx.failure = Some(DecodeError::StringIndex(index));
            return Err(Stop);
        };
        match slot {
            Slot::Ready(shared, special) => Ok((shared.clone(), *special)),
            Slot::Raw(text) => {
                let (shared, special) = self.ctx.text_key(text)?;
                *slot = Slot::Ready(shared.clone(), special);
                Ok((shared, special))
            }
        }
    }

    /// The string at `index` of the v0.5 table.
    fn string(&mut self, index: u32) -> Result<Str, Stop> {
        self.string_key(index).map(|(shared, _)| shared)
    }

    /// A string of the table used as a name: cut to [`MAX_NAME`] bytes.
    fn string_name(&mut self, index: u32) -> Result<Str, Stop> {
        let shared = self.string(index)?;
        if shared.len() <= MAX_NAME {
            Ok(shared)
        } else {
            self.ctx.name(&shared)
        }
    }

    /// The resource of `service` and the span's `version` and `env`: the last span's when they are the very
    /// same strings, else the payload's one for those texts, made (and charged) on first sight.
    fn resource(&mut self, service: &Str) -> Result<Arc<Resource>, Stop> {
        let version = self.fields.meta(Special::VERSION);
        let env = self.fields.meta(Special::ENV);
        if let Some(last) = &self.last_resource
            && Arc::ptr_eq(&last.service, service)
            && same(last.version.as_ref(), version)
            && same(last.env.as_ref(), env)
        {
            return Ok(last.resource.clone());
        }
        let key = (service.clone(), version.cloned(), env.cloned());
        let resource = match self.resources.get(&key) {
            Some(resource) => resource.clone(),
            None => {
                let ctx = &mut self.ctx;
                ctx.charge(RESOURCE_COST)?;
                let (service, version, env) = key.clone();
                let mut attributes = vec![KeyValue {
                    key: ctx.intern("service.name")?,
                    value: Value::Str(service),
                }];
                if let Some(version) = version {
                    attributes.push(KeyValue {
                        key: ctx.intern("service.version")?,
                        value: Value::Str(version),
                    });
                }
                if let Some(env) = env {
                    attributes.push(KeyValue {
                        key: ctx.intern("deployment.environment.name")?,
                        value: Value::Str(env),
                    });
                }
                let resource = Arc::new(Resource { attributes });
                self.resources.insert(key.clone(), resource.clone());
                resource
            }
        };
        let (service, version, env) = key;
        self.last_resource = Some(LastResource {
            service,
            version,
            env,
            resource: resource.clone(),
        });
        Ok(resource)
    }

    /// Checks and fixes the span read into `fields` as Datadog's agent does (`pkg/trace/agent/normalizer.go`),
    /// then maps it onto the model. Dropped: a zero (or missing) trace or span id — the agent drops the whole
    /// chunk, the lab only the span, and counts it. Fixed: an empty service or operation name gets the agent's
    /// fallback, an empty resource takes the operation name, names and types are cut to 100 bytes, a parent
    /// equal to both ids means a root, a negative or overflowing duration becomes 0, and an `http.status_code`
    /// that is not a status (100–599) is dropped. Unlike the agent, a start before 2000 is kept. The meta keys
    /// it reads were set aside as they were read ([`Fields::special`]); the span's strings move into it.
    fn finish_span(&mut self) -> Result<(), Stop> {
        let f = &mut self.fields;
        match self.orders.sort(&mut f.meta) {
            Some(to) => {
                for at in &mut f.special {
                    if let Some(&to) = to.get(*at as usize) {
                        *at = to;
                    }
                }
            }
            None => f.find_special(),
        }
        self.orders.sort(&mut f.metrics);
        if self.chunk_high.is_none() {
            self.chunk_high = f
                .meta(Special::TID)
                .and_then(|hex| u64::from_str_radix(hex, 16).ok());
        }
        if f.trace_id == 0 || f.span_id == 0 {
            self.out.rejected += 1;
            self.out.error.get_or_insert_with(|| {
                "a span has no trace_id or span_id (or a zero one): Datadog's agent drops it too".to_owned()
            });
            return Ok(());
        }
        let service = f
            .service
            .take()
            .unwrap_or_else(|| self.keys.unnamed_service.clone());
        let operation = f
            .name
            .take()
            .unwrap_or_else(|| self.keys.unnamed_operation.clone());
        let resource_name = f.resource.take().unwrap_or_else(|| operation.clone());
        let parent_id = if f.parent_id == f.trace_id && f.parent_id == f.span_id {
            0
        } else {
            f.parent_id
        };
        let duration = if f.duration < 0 || f.duration > i64::MAX - f.start.max(0) {
            0
        } else {
            f.duration
        };
        let start_ns = u64::try_from(f.start).unwrap_or(0);
        let end_ns = start_ns.saturating_add(duration as u64);
        let (trace_id, span_id, error) = (f.trace_id, f.span_id, f.error);

        let resource = self.resource(&service)?;
        drop(service);

        let f = &mut self.fields;
        let keys = &self.keys;
        let ctx = &mut self.ctx;
        let span_type = f.kind.as_deref().unwrap_or("");
        let kind = match f.meta(Special::SPAN_KIND).map(|k| &**k) {
            Some("server") => SpanKind::Server,
            Some("client") => SpanKind::Client,
            Some("producer") => SpanKind::Producer,
            Some("consumer") => SpanKind::Consumer,
            Some("internal") => SpanKind::Internal,
            _ => match span_type {
                "web" => SpanKind::Server,
                "http" | "sql" | "db" | "redis" | "cache" | "mongodb" | "cassandra"
                | "elasticsearch" => SpanKind::Client,
                _ => SpanKind::Internal,
            },
        };
        // Datadog's database spans name the system in `db.type`; the semantic conventions call it
        // `db.system.name`, and the query is the span's resource.
        let system = f
            .meta(Special::DB_SYSTEM)
            .or_else(|| f.meta(Special::DB_TYPE))
            .cloned();
        let query = (system.is_some()
            && matches!(span_type, "sql" | "db")
            && f.meta(Special::DB_QUERY_TEXT).is_none())
        .then(|| resource_name.clone());
        let status_text = f.meta(Special::HTTP_STATUS_CODE);
        let status_code = status_text
            .and_then(|code| code.parse::<i64>().ok())
            .filter(|code| (100..600).contains(code));
        let drop_status = status_text.is_some() && status_code.is_none();
        // What the exception event and the status take, before the meta values move into the attributes.
        let exception = (error != 0).then(|| {
            [
                f.meta(Special::ERROR_TYPE)
                    .or_else(|| f.meta(Special::ERROR_KIND))
                    .cloned(),
                f.meta(Special::ERROR_MSG)
                    .or_else(|| f.meta(Special::ERROR_MESSAGE))
                    .cloned(),
                f.meta(Special::ERROR_STACK).cloned(),
            ]
        });

        let count = 2
            + usize::from(f.kind.is_some())
            + usize::from(system.is_some())
            + usize::from(query.is_some())
            + usize::from(status_code.is_some())
            + f.meta.len()
            - usize::from(drop_status)
            + f.metrics.len();
        ctx.charge(count * size_of::<KeyValue>())?;
        let mut attributes = match &mut self.staged {
            Some(staged) => {
                staged.begin(count, &resource_name)?;
                Attributes::Staged(staged)
            }
            None => Attributes::Model(Vec::with_capacity(count)),
        };
        attributes.push(&keys.resource_name, Value::Str(resource_name.clone()))?;
        attributes.push(&keys.operation_name, Value::Str(operation))?;
        if let Some(span_type) = f.kind.take() {
            attributes.push(&keys.span_type, Value::Str(span_type))?;
        }
        if let Some(system) = system {
            attributes.push(&keys.db_system_name, Value::Str(system))?;
        }
        if let Some(query) = query {
            attributes.push(&keys.db_query_text, Value::Str(query))?;
        }
        if let Some(code) = status_code {
            attributes.push(&keys.http_status, Value::Int(code))?;
        }
        for (key, value) in f.meta.drain(..) {
            if drop_status && &*key == "http.status_code" {
                continue;
            }
            attributes.push_owned(key, Value::Str(value))?;
        }
        for (key, value) in f.metrics.drain(..) {
            let value = if value.fract() == 0.0 && value.abs() < 9.0e15 {
                Value::Int(value as i64)
            } else {
                Value::Double(value)
            };
            attributes.push_owned(key, value)?;
        }

        let mut events = Vec::new();
        let status = if let Some([error_type, message, stack]) = exception {
            let found = [
                (&keys.exception_type, error_type.as_ref()),
                (&keys.exception_message, message.as_ref()),
                (&keys.exception_stacktrace, stack.as_ref()),
            ];
            let present = found.iter().filter(|(_, v)| v.is_some()).count();
            if present > 0 {
                ctx.charge(size_of::<Event>() + present * size_of::<KeyValue>())?;
                let mut event_attributes = Vec::with_capacity(present);
                for (key, value) in found {
                    if let Some(value) = value {
                        event_attributes.push(KeyValue {
                            key: key.clone(),
                            value: Value::Str(value.clone()),
                        });
                    }
                }
                events = vec![Event {
                    name: keys.exception.clone(),
                    time_ns: end_ns,
                    attributes: event_attributes,
                }];
            }
            Status {
                code: StatusCode::Error,
                message,
            }
        } else {
            Status::default()
        };
        let attributes = match attributes {
            Attributes::Staged(staged) => {
                let head = staged::Head {
                    trace_id,
                    span_id,
                    parent_id,
                    start_ns,
                    end_ns,
                    kind,
                };
                return staged.finish(ctx, head, &resource_name, &resource, &status, events);
            }
            Attributes::Model(attributes) => attributes,
        };
        let span = Span {
            trace_id: TraceId::from_u128(u128::from(trace_id)),
            span_id: SpanId::from_u64(span_id),
            parent_span_id: (parent_id != 0).then(|| SpanId::from_u64(parent_id)),
            // The resource (`GET /checkout`, the SQL query) is what Datadog shows as the span; the operation
            // name (`flask.request`) stays in `operation.name`.
            name: resource_name,
            kind,
            start_ns,
            end_ns,
            status,
            attributes,
            events,
            links: Vec::new(),
            resource,
            scope: self.scope.clone(),
            dropped: Default::default(),
        };
        ctx.push(&mut self.out.spans, span)
    }
}

/// A span's attributes as they are read: a model span's, or a staged one's.
enum Attributes<'a> {
    Model(Vec<KeyValue>),
    Staged(&'a mut StagedOut),
}

impl Attributes<'_> {
    /// An attribute of one of [`Keys`]: its key is cloned only when kept.
    fn push(&mut self, key: &Str, value: Value) -> Result<(), Stop> {
        match self {
            Attributes::Model(_) => self.push_owned(key.clone(), value),
            Attributes::Staged(staged) => staged.attribute(key, &value),
        }
    }

    /// An attribute of the span's own.
    fn push_owned(&mut self, key: Str, value: Value) -> Result<(), Stop> {
        match self {
            Attributes::Model(attributes) => {
                attributes.push(KeyValue { key, value });
                Ok(())
            }
            Attributes::Staged(staged) => staged.attribute(&key, &value),
        }
    }
}

fn non_empty(text: Str) -> Option<Str> {
    (!text.is_empty()).then_some(text)
}

fn stop<E: de::Error>(_: Stop) -> E {
    E::custom("decoding stopped")
}

/// A seed over the builder whose value its own visitor reads, with the given `Deserializer` method.
macro_rules! seed {
    ($(#[$doc:meta])* $name:ident, $read:ident) => {
        $(#[$doc])*
        struct $name<'b, 'i, 'de>(&'b mut Builder<'i, 'de>);

        impl<'de> DeserializeSeed<'de> for $name<'_, '_, 'de> {
            type Value = ();

            fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
                d.$read(self)
            }
        }
    };
}

/// A string, borrowed from the body when it can be (JSON with escapes cannot).
struct Text;

impl<'de> DeserializeSeed<'de> for Text {
    type Value = Cow<'de, str>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Text {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

seed! {
    /// v0.4 in JSON: the payload, an array of trace chunks.
    Traces, deserialize_seq
}

impl<'de> Visitor<'de> for Traces<'_, '_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of traces")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Chunk(&mut *self.0))?.is_some() {}
        Ok(())
    }
}

seed! {
    /// v0.4: one trace chunk, an array of span maps.
    Chunk, deserialize_seq
}

impl<'de> Visitor<'de> for Chunk<'_, '_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a trace: an array of spans")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.0.start_chunk();
        while seq.next_element_seed(SpanMap(&mut *self.0))?.is_some() {}
        self.0.finish_chunk();
        Ok(())
    }
}

/// The fields of a v0.4 span.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    Service,
    Name,
    Resource,
    TraceId,
    SpanId,
    ParentId,
    Start,
    Duration,
    Error,
    Meta,
    Metrics,
    Type,
    Other,
}

impl Field {
    fn of(key: &[u8]) -> Field {
        match key {
            b"service" => Field::Service,
            b"name" => Field::Name,
            b"resource" => Field::Resource,
            b"trace_id" => Field::TraceId,
            b"span_id" => Field::SpanId,
            b"parent_id" => Field::ParentId,
            b"start" => Field::Start,
            b"duration" => Field::Duration,
            b"error" => Field::Error,
            b"meta" => Field::Meta,
            b"metrics" => Field::Metrics,
            b"type" => Field::Type,
            _ => Field::Other,
        }
    }

    /// Whether this known field was read already in the span (`seen`, a bit a field, marks it read).
    fn repeated(self, seen: &mut u16) -> bool {
        if self == Field::Other {
            return false;
        }
        let bit = 1 << self as u16;
        let repeated = *seen & bit != 0;
        *seen |= bit;
        repeated
    }
}

seed! {
    /// v0.4: one span, a map.
    SpanMap, deserialize_map
}

impl<'de> Visitor<'de> for SpanMap<'_, '_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a span: a map")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let b = self.0;
        b.fields.clear();
        let mut seen = 0u16;
        while let Some(key) = map.next_key_seed(Text)? {
            let field = Field::of(key.as_bytes());
            if field.repeated(&mut seen) {
                return Err(de::Error::custom(format_args!("duplicate field `{key}`")));
            }
            match field {
                Field::Service | Field::Name | Field::Type => {
                    let text = map.next_value_seed(Text)?;
                    let name = non_empty(b.ctx.name(&text).map_err(stop)?);
                    match field {
                        Field::Service => b.fields.service = name,
                        Field::Name => b.fields.name = name,
                        _ => b.fields.kind = name,
                    }
                }
                Field::Resource => {
                    let text = map.next_value_seed(Text)?;
                    if !text.is_empty() {
                        b.fields.resource = Some(b.ctx.text(&text).map_err(stop)?);
                    }
                }
                Field::TraceId => b.fields.trace_id = map.next_value()?,
                Field::SpanId => b.fields.span_id = map.next_value()?,
                Field::ParentId => b.fields.parent_id = map.next_value()?,
                Field::Start => b.fields.start = map.next_value()?,
                Field::Duration => b.fields.duration = map.next_value()?,
                Field::Error => b.fields.error = map.next_value()?,
                Field::Meta => map.next_value_seed(Meta(&mut *b))?,
                Field::Metrics => map.next_value_seed(Metrics(&mut *b))?,
                Field::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        b.finish_span().map_err(stop)
    }
}

seed! {
    /// v0.4: a span's `meta`, strings to strings.
    Meta, deserialize_map
}

impl<'de> Visitor<'de> for Meta<'_, '_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a map of strings")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let b = self.0;
        while let Some(key) = map.next_key_seed(Text)? {
            let value = map.next_value_seed(Text)?;
            let (key, special) = b.ctx.key(&key).map_err(stop)?;
            let value = b.ctx.text(&value).map_err(stop)?;
            b.push_meta(key, special, value).map_err(stop)?;
        }
        Ok(())
    }
}

seed! {
    /// v0.4: a span's `metrics`, strings to numbers.
    Metrics, deserialize_map
}

impl<'de> Visitor<'de> for Metrics<'_, '_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a map of numbers")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let b = self.0;
        while let Some(key) = map.next_key_seed(Text)? {
            let value: f64 = map.next_value()?;
            let key = b.ctx.intern(&key).map_err(stop)?;
            b.push_metric(key, value).map_err(stop)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// Payloads ddtrace 4.16 sent for `tests/python/ddtrace_client.py`: a web span, two sqlite queries and a
    /// span that raised `KeyError`.
    const V04: &[u8] = include_bytes!("../testdata/ddtrace-v0.4.msgpack");
    const V05: &[u8] = include_bytes!("../testdata/ddtrace-v0.5.msgpack");

    fn check(converted: Converted) {
        assert_eq!((converted.spans.len(), converted.rejected), (4, 0));
        let spans = &converted.spans;
        assert!(
            spans.iter().all(|s| s.trace_id == spans[0].trace_id),
            "one 128-bit trace id for the chunk"
        );
        assert_ne!(
            spans[0].trace_id.to_u128() >> 64,
            0,
            "widened with _dd.p.tid"
        );
        let root = spans.iter().find(|s| s.parent_span_id.is_none()).unwrap();
        assert_eq!(
            (root.name.as_ref(), root.kind),
            ("GET /cart", SpanKind::Server)
        );
        assert_eq!(root.service_name(), "dd-shop");
        assert_eq!(root.resource.service_version(), Some("3.0"));
        assert_eq!(
            root.attribute("operation.name").and_then(Value::as_str),
            Some("flask.request")
        );
        let query = spans.iter().find(|s| s.name.starts_with("SELECT")).unwrap();
        assert_eq!(query.parent_span_id, Some(root.span_id));
        assert_eq!(query.kind, SpanKind::Client);
        assert_eq!(
            query.attribute("db.system.name").and_then(Value::as_str),
            Some("sqlite")
        );
        assert_eq!(
            query.attribute("db.query.text").and_then(Value::as_str),
            Some("SELECT id, name FROM item WHERE id = ?")
        );
        let failing = spans
            .iter()
            .find(|s| s.status.code == StatusCode::Error)
            .unwrap();
        assert_eq!(failing.name.as_ref(), "load_cart");
        let exception = &failing.events[0];
        assert_eq!(exception.name.as_ref(), "exception");
        let attr =
            |k: &str| crate::model::attribute(&exception.attributes, k).and_then(Value::as_str);
        assert_eq!(attr("exception.type"), Some("builtins.KeyError"));
        assert!(
            attr("exception.stacktrace")
                .unwrap()
                .contains("raise KeyError")
        );
        assert!(
            spans
                .iter()
                .all(|s| s.end_ns >= s.start_ns && s.start_ns > 0)
        );
    }

    #[test]
    fn ddtraces_v04_payload_decodes() {
        check(decode_v04_msgpack(V04, &Interner::new()).unwrap());
    }

    #[test]
    fn ddtraces_v05_payload_decodes() {
        check(decode_v05(V05, &Interner::new()).unwrap());
    }

    #[test]
    fn v04_json_decodes_and_zero_ids_are_rejected() {
        let json = br#"[[{"service":"web","name":"rack.request","resource":"GET /","trace_id":12,"span_id":34,
            "parent_id":0,"start":1000,"duration":50,"error":0,"meta":{"env":"lab"},"metrics":{"_sampling_priority_v1":1},
            "type":"web"},{"service":"web","name":"x","trace_id":0,"span_id":1}]]"#;
        let converted = decode_v04_json(json, &Interner::new()).unwrap();
        assert_eq!((converted.spans.len(), converted.rejected), (1, 1));
        let span = &converted.spans[0];
        assert_eq!(span.trace_id, TraceId::from_u128(12));
        assert_eq!(span.span_id, SpanId::from_u64(34));
        assert_eq!((span.start_ns, span.end_ns), (1000, 1050));
        assert_eq!(span.resource.environment(), Some("lab"));
        assert_eq!(
            span.attribute("_sampling_priority_v1"),
            Some(&Value::Int(1))
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let i = Interner::new();
        assert_eq!(
            decode_v04_msgpack(b"\xc1\xff", &i).unwrap_err().reason(),
            "malformed_msgpack"
        );
        assert_eq!(
            decode_v05(b"\x92\x90\x91\x91\x9c", &i)
                .unwrap_err()
                .reason(),
            "malformed_msgpack"
        );
        assert_eq!(
            decode_v04_json(b"[[{", &i).unwrap_err().reason(),
            "malformed_json"
        );
        // A v0.5 string index past the table.
        let payload = rmp_serde::to_vec(&(
            vec!["svc"],
            vec![vec![(
                0u32,
                7u32,
                0u32,
                1u64,
                2u64,
                0u64,
                1i64,
                1i64,
                0i32,
                HashMap::<u32, u32>::new(),
                HashMap::<u32, f64>::new(),
                0u32,
            )]],
        ))
        .unwrap();
        assert!(matches!(
            decode_v05(&payload, &i),
            Err(DecodeError::StringIndex(7))
        ));
        for cut in 0..V05.len() {
            let _ = decode_v05(&V05[..cut], &i);
            let _ = decode_v04_msgpack(&V04[..cut.min(V04.len())], &i);
        }
    }

    /// One v0.4 JSON trace of the given spans, decoded.
    fn json(spans: &str) -> Converted {
        decode_v04_json(format!("[[{spans}]]").as_bytes(), &Interner::new()).unwrap()
    }

    #[test]
    fn spans_are_fixed_as_datadogs_agent_fixes_them() {
        let long = "t".repeat(150);
        let converted = json(&format!(
            r#"{{"trace_id":5,"span_id":5,"parent_id":5,"start":100,"duration":-3,"type":"{long}",
                "meta":{{"http.status_code":"999","k":"first","k":"last"}}}}"#
        ));
        let span = &converted.spans[0];
        assert_eq!(span.service_name(), "unnamed-service");
        assert_eq!(
            span.name.as_ref(),
            "unnamed_operation",
            "an empty resource takes the name"
        );
        assert_eq!(
            span.parent_span_id, None,
            "parent = trace = span id: a root"
        );
        assert_eq!(
            (span.start_ns, span.end_ns),
            (100, 100),
            "a negative duration is 0"
        );
        assert_eq!(
            span.attribute("http.status_code"),
            None,
            "not a status: dropped"
        );
        assert_eq!(span.attribute("http.response.status_code"), None);
        assert_eq!(
            span.attribute("span.type")
                .and_then(Value::as_str)
                .map(str::len),
            Some(100)
        );
        let k: Vec<_> = span.attributes.iter().filter(|a| &*a.key == "k").collect();
        assert_eq!(k.len(), 1, "a repeated meta key is one attribute");
        assert_eq!(k[0].value.as_str(), Some("last"));
    }

    #[test]
    fn the_trace_id_is_widened_from_any_span_of_the_chunk() {
        let converted = json(
            r#"{"trace_id":7,"span_id":1},{"trace_id":7,"span_id":2,"parent_id":1,
               "meta":{"_dd.p.tid":"00000000000000ab"}}"#,
        );
        assert!(
            converted
                .spans
                .iter()
                .all(|s| s.trace_id == TraceId::from_u128((0xab << 64) | 7))
        );
    }

    #[test]
    fn a_v05_string_is_shared_by_the_spans_that_use_it() {
        let stack = "x".repeat(10_000);
        let span = |id: u64| {
            (
                0u32,
                0u32,
                0u32,
                1u64,
                id,
                0u64,
                1i64,
                1i64,
                1i32,
                HashMap::from([(1u32, 2u32)]),
                HashMap::<u32, f64>::new(),
                0u32,
            )
        };
        let payload = rmp_serde::to_vec(&(
            vec!["", "error.stack", stack.as_str()],
            vec![vec![span(1), span(2)]],
        ))
        .unwrap();
        let converted = decode_v05(&payload, &Interner::new()).unwrap();
        let stacks: Vec<_> = converted
            .spans
            .iter()
            .map(|s| crate::model::attribute_str(&s.attributes, "error.stack").unwrap())
            .collect();
        assert!(Arc::ptr_eq(stacks[0], stacks[1]));
    }

    #[test]
    fn lengths_the_payload_claims_are_not_trusted() {
        let i = Interner::new();
        // Arrays, a map and a string table claiming 4 G elements, in a few bytes.
        for payload in [
            &b"\xdd\xff\xff\xff\xff"[..],
            b"\x91\xdd\xff\xff\xff\xff\x80",
            b"\x91\x91\xdf\xff\xff\xff\xff",
        ] {
            assert_eq!(
                decode_v04_msgpack(payload, &i).unwrap_err().reason(),
                "malformed_msgpack"
            );
        }
        let err = decode_v05(b"\x92\xdd\xff\xff\xff\xff\xa0\x90", &i).unwrap_err();
        assert_eq!(err.reason(), "malformed_msgpack");
    }

    #[test]
    fn a_payload_over_its_budget_is_refused_and_a_repeated_field_is_malformed() {
        let i = Interner::new();
        // 100,000 spans of 26 bytes: each takes more than 12 times that.
        let span = r#"{"trace_id":1,"span_id":1}"#;
        let body = format!("[[{}]]", vec![span; 100_000].join(","));
        let err = decode_v04_json(body.as_bytes(), &i).unwrap_err();
        assert!(
            matches!(err, DecodeError::OverBudget { factor: 12, .. }),
            "{err}"
        );
        assert_eq!(err.reason(), "over_budget");
        assert!(err.to_string().contains("send fewer spans"), "{err}");
        let err =
            decode_v04_json(br#"[[{"trace_id":1,"trace_id":2,"span_id":1}]]"#, &i).unwrap_err();
        assert_eq!(err.reason(), "malformed_json");
        assert!(err.to_string().contains("duplicate field"), "{err}");
    }
}
