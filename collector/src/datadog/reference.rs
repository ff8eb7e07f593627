//! The Datadog decoder as it was at 7e86591 — serde visitors over rmp-serde, and the `Builder` before its
//! checks were made cheaper — kept as it was (but for this header, its shared types taken from the parent and
//! its JSON entry left out) as the oracle the msgpack decoders are proven equal to, in tests only.

#![allow(dead_code)]

use std::borrow::Cow;
use std::fmt;
use std::mem::size_of;
use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::model::{
    Event, Interner, KeyValue, Resource, Scope, Span, SpanId, SpanKind, Status, StatusCode, Str,
    TraceId, Value,
};

use super::{Converted, DecodeError, V04_BUDGET_FACTOR, V05_BUDGET_FACTOR, budget};

/// `/v0.3` and `/v0.4`: an array of traces, each an array of span maps, in msgpack.
pub(super) fn decode_v04_msgpack(
    body: &[u8],
    interner: &Interner,
) -> Result<Converted, DecodeError> {
    let mut builder = Builder::new(interner, body.len(), V04_BUDGET_FACTOR);
    let mut de = rmp_serde::Deserializer::from_read_ref(body);
    let decoded = Traces(&mut builder).deserialize(&mut de);
    builder.finish(decoded.map_err(DecodeError::from))
}

/// `/v0.5`: `[string table, traces]`, each span an array of twelve fields whose strings are indexes into the
/// table: service, name, resource, trace_id, span_id, parent_id, start, duration, error, meta, metrics, type.
pub(super) fn decode_v05(body: &[u8], interner: &Interner) -> Result<Converted, DecodeError> {
    let mut builder = Builder::new(interner, body.len(), V05_BUDGET_FACTOR);
    let mut de = rmp_serde::Deserializer::from_read_ref(body);
    let decoded = de::Deserializer::deserialize_seq(&mut de, V05Payload(&mut builder));
    builder.finish(decoded.map_err(DecodeError::from))
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

/// The budget, the interner and why decoding stopped.
struct Ctx<'i> {
    interner: &'i Interner,
    /// The payload's strings already interned, up to [`MAX_SEEN`] of them: a repeat is found here, without
    /// the shared interner's lock.
    seen: rustc_hash::FxHashSet<Str>,
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

    /// Interned, charged when it is (probably) new: nothing else but the table and this answer holds it.
    fn intern(&mut self, text: &str) -> Result<Str, Stop> {
        if let Some(seen) = self.seen.get(text) {
            return Ok(seen.clone());
        }
        let shared = self.interner.intern(text);
        if Arc::strong_count(&shared) <= 2 {
            self.charge(text.len() + INTERN_COST)?;
        }
        if self.seen.len() < MAX_SEEN {
            self.seen.insert(shared.clone());
        }
        Ok(shared)
    }

    /// Interned when short, else a copy of its own.
    fn text(&mut self, text: &str) -> Result<Str, Stop> {
        if text.len() <= MAX_INTERNED {
            self.intern(text)
        } else {
            self.charge(text.len() + 16)?;
            Ok(Arc::from(text))
        }
    }

    /// A name cut to [`MAX_NAME`] bytes (on a character boundary), interned.
    fn name(&mut self, text: &str) -> Result<Str, Stop> {
        self.intern(cut(text, MAX_NAME))
    }

    /// `vec.push(item)`, its growth charged before it is allocated: the whole new block, as the old one is
    /// held while it is copied (so what a vector was ever charged bounds its peak, not only its size).
    fn push<T>(&mut self, vec: &mut Vec<T>, item: T) -> Result<(), Stop> {
        if vec.len() == vec.capacity() {
            let more = vec.capacity().max(4);
            self.charge((vec.capacity() + more) * size_of::<T>())?;
            vec.reserve_exact(more);
        }
        vec.push(item);
        Ok(())
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
#[derive(Default)]
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
    }

    fn meta(&self, key: &str) -> Option<&Str> {
        self.meta
            .binary_search_by(|(k, _)| (**k).cmp(key))
            .ok()
            .map(|i| &self.meta[i].1)
    }
}

/// Sorts entries by key and keeps the last value of a repeated key, as a map read in order would.
fn sort_dedup<V>(entries: &mut Vec<(Str, V)>) {
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
    Ready(Str),
}

type ResourceKey = (Str, Option<Str>, Option<Str>);

/// Builds model spans from decoded fields, one span at a time, charging what it keeps.
struct Builder<'i, 'de> {
    ctx: Ctx<'i>,
    keys: Keys,
    scope: Arc<Scope>,
    fields: Fields,
    out: Converted,
    /// Spans of one service, version and env share one resource.
    resources: FxHashMap<ResourceKey, Arc<Resource>>,
    /// Where the current trace chunk's spans start in `out.spans`, and its `_dd.p.tid`.
    chunk_start: usize,
    chunk_high: Option<u64>,
    table: Vec<Slot<'de>>,
}

impl<'i, 'de> Builder<'i, 'de> {
    fn new(interner: &'i Interner, body: usize, factor: usize) -> Builder<'i, 'de> {
        Builder {
            ctx: Ctx {
                interner,
                seen: rustc_hash::FxHashSet::default(),
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
            chunk_start: 0,
            chunk_high: None,
            table: Vec::new(),
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
        self.chunk_start = self.out.spans.len();
        self.chunk_high = None;
    }

    /// Tracers put `_dd.p.tid` (the upper 64 bits of a 128-bit trace id) on a chunk's first span only: the
    /// chunk's spans get it once the chunk is read.
    fn finish_chunk(&mut self) {
        if let Some(high) = self.chunk_high.filter(|&high| high != 0) {
            for span in &mut self.out.spans[self.chunk_start..] {
                let low = span.trace_id.to_u128() as u64;
                span.trace_id = TraceId::from_u128((u128::from(high) << 64) | u128::from(low));
            }
        }
    }

    /// The string at `index` of the v0.5 table, made shared on first use.
    fn string(&mut self, index: u32) -> Result<Str, Stop> {
        let Some(slot) = self.table.get_mut(index as usize) else {
            self.ctx.failure = Some(DecodeError::StringIndex(index));
            return Err(Stop);
        };
        match slot {
            Slot::Ready(shared) => Ok(shared.clone()),
            Slot::Raw(text) => {
                let shared = self.ctx.text(text)?;
                *slot = Slot::Ready(shared.clone());
                Ok(shared)
            }
        }
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

    /// Checks and fixes the span read into `fields` as Datadog's agent does (`pkg/trace/agent/normalizer.go`),
    /// then maps it onto the model. Dropped: a zero (or missing) trace or span id — the agent drops the whole
    /// chunk, the lab only the span, and counts it. Fixed: an empty service or operation name gets the agent's
    /// fallback, an empty resource takes the operation name, names and types are cut to 100 bytes, a parent
    /// equal to both ids means a root, a negative or overflowing duration becomes 0, and an `http.status_code`
    /// that is not a status (100–599) is dropped. Unlike the agent, a start before 2000 is kept.
    fn finish_span(&mut self) -> Result<(), Stop> {
        let f = &mut self.fields;
        sort_dedup(&mut f.meta);
        sort_dedup(&mut f.metrics);
        if self.chunk_high.is_none() {
            self.chunk_high = f
                .meta("_dd.p.tid")
                .and_then(|hex| u64::from_str_radix(hex, 16).ok());
        }
        if f.trace_id == 0 || f.span_id == 0 {
            self.out.rejected += 1;
            self.out.error.get_or_insert_with(|| {
                "a span has no trace_id or span_id (or a zero one): Datadog's agent drops it too".to_owned()
            });
            return Ok(());
        }
        let keys = &self.keys;
        let ctx = &mut self.ctx;
        let service = f
            .service
            .clone()
            .unwrap_or_else(|| keys.unnamed_service.clone());
        let operation = f
            .name
            .clone()
            .unwrap_or_else(|| keys.unnamed_operation.clone());
        let resource_name = f.resource.clone().unwrap_or_else(|| operation.clone());
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

        let resource = {
            let key = (
                service.clone(),
                f.meta("version").cloned(),
                f.meta("env").cloned(),
            );
            match self.resources.get(&key) {
                Some(resource) => resource.clone(),
                None => {
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
                    self.resources.insert(key, resource.clone());
                    resource
                }
            }
        };

        let span_type = f.kind.as_deref().unwrap_or("");
        let kind = match f.meta("span.kind").map(|k| &**k) {
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
        let system = f.meta("db.system").or_else(|| f.meta("db.type")).cloned();
        let query = (system.is_some()
            && matches!(span_type, "sql" | "db")
            && f.meta("db.query.text").is_none())
        .then(|| resource_name.clone());
        let status_text = f.meta("http.status_code");
        let status_code = status_text
            .and_then(|code| code.parse::<i64>().ok())
            .filter(|code| (100..600).contains(code));
        let drop_status = status_text.is_some() && status_code.is_none();

        let count = 2
            + usize::from(f.kind.is_some())
            + usize::from(system.is_some())
            + usize::from(query.is_some())
            + usize::from(status_code.is_some())
            + f.meta.len()
            - usize::from(drop_status)
            + f.metrics.len();
        ctx.charge(count * size_of::<KeyValue>())?;
        let mut attributes = Vec::with_capacity(count);
        let mut attribute = |key: &Str, value: Value| {
            attributes.push(KeyValue {
                key: key.clone(),
                value,
            })
        };
        attribute(&keys.resource_name, Value::Str(resource_name.clone()));
        attribute(&keys.operation_name, Value::Str(operation.clone()));
        if let Some(span_type) = &f.kind {
            attribute(&keys.span_type, Value::Str(span_type.clone()));
        }
        if let Some(system) = system {
            attribute(&keys.db_system_name, Value::Str(system));
        }
        if let Some(query) = query {
            attribute(&keys.db_query_text, Value::Str(query));
        }
        if let Some(code) = status_code {
            attribute(&keys.http_status, Value::Int(code));
        }
        for (key, value) in &f.meta {
            if drop_status && &**key == "http.status_code" {
                continue;
            }
            attribute(key, Value::Str(value.clone()));
        }
        for (key, value) in &f.metrics {
            let value = if value.fract() == 0.0 && value.abs() < 9.0e15 {
                Value::Int(*value as i64)
            } else {
                Value::Double(*value)
            };
            attribute(key, value);
        }

        let mut events = Vec::new();
        let status = if f.error != 0 {
            let error_type = f.meta("error.type").or_else(|| f.meta("error.kind"));
            let message = f.meta("error.msg").or_else(|| f.meta("error.message"));
            let stack = f.meta("error.stack");
            let found = [
                (&keys.exception_type, error_type),
                (&keys.exception_message, message),
                (&keys.exception_stacktrace, stack),
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
                message: message.cloned(),
            }
        } else {
            Status::default()
        };
        let span = Span {
            trace_id: TraceId::from_u128(u128::from(f.trace_id)),
            span_id: SpanId::from_u64(f.span_id),
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
    /// v0.4: the payload, an array of trace chunks.
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
    fn of(key: &str) -> Field {
        match key {
            "service" => Field::Service,
            "name" => Field::Name,
            "resource" => Field::Resource,
            "trace_id" => Field::TraceId,
            "span_id" => Field::SpanId,
            "parent_id" => Field::ParentId,
            "start" => Field::Start,
            "duration" => Field::Duration,
            "error" => Field::Error,
            "meta" => Field::Meta,
            "metrics" => Field::Metrics,
            "type" => Field::Type,
            _ => Field::Other,
        }
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
            let field = Field::of(&key);
            if field != Field::Other {
                let bit = 1 << field as u16;
                if seen & bit != 0 {
                    return Err(de::Error::custom(format_args!("duplicate field `{key}`")));
                }
                seen |= bit;
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
            let key = b.ctx.intern(&key).map_err(stop)?;
            let value = b.ctx.text(&value).map_err(stop)?;
            b.ctx.push(&mut b.fields.meta, (key, value)).map_err(stop)?;
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
            b.ctx
                .push(&mut b.fields.metrics, (key, value))
                .map_err(stop)?;
        }
        Ok(())
    }
}

/// v0.5: the payload, `[string table, traces]`.
struct V05Payload<'b, 'i, 'de>(&'b mut Builder<'i, 'de>);

impl<'de> Visitor<'de> for V05Payload<'_, '_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a v0.5 payload: [strings, traces]")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let expected = &"a v0.5 payload: [strings, traces]";
        if seq.next_element_seed(V05Table(&mut *self.0))?.is_none() {
            return Err(de::Error::invalid_length(0, expected));
        }
        if seq.next_element_seed(V05Traces(&mut *self.0))?.is_none() {
            return Err(de::Error::invalid_length(1, expected));
        }
        Ok(())
    }
}

seed! {
    /// v0.5: the string table, kept as slices of the body; each entry is charged.
    V05Table, deserialize_seq
}

impl<'de> Visitor<'de> for V05Table<'_, '_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of strings")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let b = self.0;
        while let Some(text) = seq.next_element_seed(Text)? {
            let slot = match text {
                Cow::Borrowed(text) => Slot::Raw(text),
                Cow::Owned(text) => Slot::Ready(b.ctx.text(&text).map_err(stop)?),
            };
            b.ctx.push(&mut b.table, slot).map_err(stop)?;
        }
        Ok(())
    }
}

seed! {
    /// v0.5: the traces, an array of arrays of spans.
    V05Traces, deserialize_seq
}

impl<'de> Visitor<'de> for V05Traces<'_, '_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of traces")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(V05Chunk(&mut *self.0))?.is_some() {}
        Ok(())
    }
}

seed! {
    /// v0.5: one trace chunk.
    V05Chunk, deserialize_seq
}

impl<'de> Visitor<'de> for V05Chunk<'_, '_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a trace: an array of spans")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.0.start_chunk();
        while seq.next_element_seed(V05Span(&mut *self.0))?.is_some() {}
        self.0.finish_chunk();
        Ok(())
    }
}

seed! {
    /// v0.5: one span, an array of twelve fields.
    V05Span, deserialize_seq
}

impl<'de> Visitor<'de> for V05Span<'_, '_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a v0.5 span: an array of 12 fields")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let b = self.0;
        b.fields.clear();
        let service: u32 = required(&mut seq, 0)?;
        let name: u32 = required(&mut seq, 1)?;
        let resource: u32 = required(&mut seq, 2)?;
        b.fields.service = non_empty(b.string_name(service).map_err(stop)?);
        b.fields.name = non_empty(b.string_name(name).map_err(stop)?);
        b.fields.resource = non_empty(b.string(resource).map_err(stop)?);
        b.fields.trace_id = required(&mut seq, 3)?;
        b.fields.span_id = required(&mut seq, 4)?;
        b.fields.parent_id = required(&mut seq, 5)?;
        b.fields.start = required(&mut seq, 6)?;
        b.fields.duration = required(&mut seq, 7)?;
        b.fields.error = required(&mut seq, 8)?;
        if seq.next_element_seed(V05Meta(&mut *b))?.is_none() {
            return Err(missing(9));
        }
        if seq.next_element_seed(V05Metrics(&mut *b))?.is_none() {
            return Err(missing(10));
        }
        let kind: u32 = required(&mut seq, 11)?;
        b.fields.kind = non_empty(b.string_name(kind).map_err(stop)?);
        b.finish_span().map_err(stop)
    }
}

fn non_empty(text: Str) -> Option<Str> {
    (!text.is_empty()).then_some(text)
}

/// The v0.5 span's field `at`, which must be there.
fn required<'de, A: SeqAccess<'de>, T: de::Deserialize<'de>>(
    seq: &mut A,
    at: usize,
) -> Result<T, A::Error> {
    seq.next_element()?.ok_or_else(|| missing(at))
}

fn missing<E: de::Error>(at: usize) -> E {
    E::invalid_length(at, &"a v0.5 span: an array of 12 fields")
}

seed! {
    /// v0.5: a span's `meta`, string indexes to string indexes.
    V05Meta, deserialize_map
}

impl<'de> Visitor<'de> for V05Meta<'_, '_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a map of string indexes")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let b = self.0;
        while let Some(key) = map.next_key::<u32>()? {
            let value: u32 = map.next_value()?;
            let key = b.string(key).map_err(stop)?;
            let value = b.string(value).map_err(stop)?;
            b.ctx.push(&mut b.fields.meta, (key, value)).map_err(stop)?;
        }
        Ok(())
    }
}

seed! {
    /// v0.5: a span's `metrics`, string indexes to numbers.
    V05Metrics, deserialize_map
}

impl<'de> Visitor<'de> for V05Metrics<'_, '_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a map of string indexes to numbers")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let b = self.0;
        while let Some(key) = map.next_key::<u32>()? {
            let value: f64 = map.next_value()?;
            let key = b.string(key).map_err(stop)?;
            b.ctx
                .push(&mut b.fields.metrics, (key, value))
                .map_err(stop)?;
        }
        Ok(())
    }
}
