//! The plain-data span model every receiver converts into and every consumer (store, analyses, dashboard)
//! reads. Strings that repeat — attribute keys, service names, span names, routes — are interned [`Str`]s.

use std::fmt;
use std::sync::{Arc, Mutex};

/// An interned string: clones share one allocation.
pub type Str = Arc<str>;

/// Hands out one shared [`Str`] per distinct text. Cheap to clone; clones share the table.
#[derive(Clone, Default)]
pub struct Interner {
    // FxHash: interning hashes every string of every span, and the keys are not attacker-chosen in a way that
    // matters for a bounded, local collector.
    table: Arc<Mutex<rustc_hash::FxHashSet<Str>>>,
}

impl Interner {
    pub fn new() -> Interner {
        Interner::default()
    }

    /// The shared copy of `text`, made on first sight.
    pub fn intern(&self, text: &str) -> Str {
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(found) = table.get(text) {
            return found.clone();
        }
        let shared: Str = Arc::from(text);
        table.insert(shared.clone());
        shared
    }

    /// Forgets the strings nothing else holds any more (their spans were evicted), so a long-running collector
    /// keeps only the strings its stored spans use. Returns how many were dropped.
    pub fn prune(&self) -> usize {
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        let before = table.len();
        table.retain(|s| Arc::strong_count(s) > 1);
        before - table.len()
    }

    /// How many distinct strings are held.
    pub fn len(&self) -> usize {
        self.table.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for Interner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Interner")
            .field("strings", &self.len())
            .finish()
    }
}

/// A 128-bit trace id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TraceId(pub [u8; 16]);

/// A 64-bit span id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SpanId(pub [u8; 8]);

impl TraceId {
    pub fn from_u128(id: u128) -> TraceId {
        TraceId(id.to_be_bytes())
    }

    pub fn to_u128(self) -> u128 {
        u128::from_be_bytes(self.0)
    }

    pub fn is_zero(self) -> bool {
        self.0 == [0; 16]
    }

    /// Parses 32 hex digits.
    pub fn from_hex(hex: &str) -> Option<TraceId> {
        let mut out = [0; 16];
        decode_hex(hex, &mut out).then_some(TraceId(out))
    }
}

impl SpanId {
    pub fn from_u64(id: u64) -> SpanId {
        SpanId(id.to_be_bytes())
    }

    pub fn to_u64(self) -> u64 {
        u64::from_be_bytes(self.0)
    }

    pub fn is_zero(self) -> bool {
        self.0 == [0; 8]
    }

    /// Parses 16 hex digits.
    pub fn from_hex(hex: &str) -> Option<SpanId> {
        let mut out = [0; 8];
        decode_hex(hex, &mut out).then_some(SpanId(out))
    }
}

fn decode_hex(hex: &str, out: &mut [u8]) -> bool {
    let bytes = hex.as_bytes();
    if bytes.len() != out.len() * 2 {
        return false;
    }
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let digit = |b: u8| (b as char).to_digit(16);
        match (digit(pair[0]), digit(pair[1])) {
            (Some(hi), Some(lo)) => out[i] = (hi * 16 + lo) as u8,
            _ => return false,
        }
    }
    true
}

fn write_hex(bytes: &[u8], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    for b in bytes {
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(&self.0, f)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(&self.0, f)
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({self})")
    }
}

/// What a span represents, as in OpenTelemetry (the numbers are OTLP's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum SpanKind {
    #[default]
    Unspecified = 0,
    Internal = 1,
    Server = 2,
    Client = 3,
    Producer = 4,
    Consumer = 5,
}

impl SpanKind {
    pub fn from_otlp(value: i32) -> SpanKind {
        match value {
            1 => SpanKind::Internal,
            2 => SpanKind::Server,
            3 => SpanKind::Client,
            4 => SpanKind::Producer,
            5 => SpanKind::Consumer,
            _ => SpanKind::Unspecified,
        }
    }
}

/// A span's status code, as in OpenTelemetry (the numbers are OTLP's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum StatusCode {
    #[default]
    Unset = 0,
    Ok = 1,
    Error = 2,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Status {
    pub code: StatusCode,
    pub message: Option<Str>,
}

/// An attribute value: OTLP's `AnyValue`.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Str(Str),
    Bool(bool),
    Int(i64),
    Double(f64),
    Bytes(Arc<[u8]>),
    Array(Arc<[Value]>),
    Map(Arc<[KeyValue]>),
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Double(d) if d.fract() == 0.0 => Some(*d as i64),
            Value::Str(s) => s.parse().ok(),
            _ => None,
        }
    }
}

/// One attribute.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyValue {
    pub key: Str,
    pub value: Value,
}

/// Looks an attribute up by key.
pub fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attributes
        .iter()
        .find(|kv| &*kv.key == key)
        .map(|kv| &kv.value)
}

/// Looks a string attribute up by key, as the shared string itself (no copy is made).
pub fn attribute_str<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Str> {
    match attribute(attributes, key) {
        Some(Value::Str(s)) => Some(s),
        _ => None,
    }
}

/// Something that happened during a span; an exception is an event named `exception`.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub name: Str,
    pub time_ns: u64,
    pub attributes: Vec<KeyValue>,
}

/// A reference to a span in another (or the same) trace.
#[derive(Clone, Debug, PartialEq)]
pub struct Link {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub attributes: Vec<KeyValue>,
}

/// The entity that produced spans: `service.name`, `service.version`, `deployment.environment.name`, …
/// Shared by every span of a batch.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Resource {
    pub attributes: Vec<KeyValue>,
}

impl Resource {
    fn get_str(&self, key: &str) -> Option<&str> {
        attribute(&self.attributes, key).and_then(Value::as_str)
    }

    /// `service.name`, or OpenTelemetry's default for a resource without one.
    pub fn service_name(&self) -> &str {
        self.get_str("service.name").unwrap_or("unknown_service")
    }

    pub fn service_version(&self) -> Option<&str> {
        self.get_str("service.version")
    }

    /// `deployment.environment.name`, or the older `deployment.environment`.
    pub fn environment(&self) -> Option<&str> {
        self.get_str("deployment.environment.name")
            .or_else(|| self.get_str("deployment.environment"))
    }
}

/// The library that made the spans.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Scope {
    pub name: Str,
    pub version: Option<Str>,
}

/// One finished span.
#[derive(Clone, Debug, PartialEq)]
pub struct Span {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    /// `None` for a root span.
    pub parent_span_id: Option<SpanId>,
    pub name: Str,
    pub kind: SpanKind,
    pub start_ns: u64,
    pub end_ns: u64,
    pub status: Status,
    pub attributes: Vec<KeyValue>,
    pub events: Vec<Event>,
    pub links: Vec<Link>,
    pub resource: Arc<Resource>,
    pub scope: Arc<Scope>,
    /// What was left out of it, by its sender or by the collector's span limits.
    pub dropped: Dropped,
}

/// How many attributes, events and links a span had that it no longer carries, as OTLP's
/// `dropped_attributes_count`, `dropped_events_count` and `dropped_links_count` say: left out by the sender's
/// span limits, or by the collector's ([`crate::limits`]). Attributes count the span's own and its events' and
/// links'.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Dropped {
    pub attributes: u32,
    pub events: u32,
    pub links: u32,
}

impl Dropped {
    pub fn is_none(&self) -> bool {
        *self == Dropped::default()
    }
}

impl Span {
    pub fn duration_ns(&self) -> u64 {
        self.end_ns.saturating_sub(self.start_ns)
    }

    pub fn attribute(&self, key: &str) -> Option<&Value> {
        attribute(&self.attributes, key)
    }

    pub fn service_name(&self) -> &str {
        self.resource.service_name()
    }

    pub fn is_root(&self) -> bool {
        self.parent_span_id.is_none()
    }
}

/// Read access to one span, so that the analyses and the store's grouping take owned [`Span`]s and lighter
/// views of a span (a decoder's, borrowing its payload) alike. Each method answers as the [`Span`] field or
/// method of the same name.
pub trait SpanRead {
    fn trace_id(&self) -> TraceId;
    fn span_id(&self) -> SpanId;
    fn parent_span_id(&self) -> Option<SpanId>;
    fn name(&self) -> &Str;
    fn kind(&self) -> SpanKind;
    fn status_code(&self) -> StatusCode;
    fn start_ns(&self) -> u64;
    fn end_ns(&self) -> u64;
    #[inline]
    fn duration_ns(&self) -> u64 {
        self.end_ns().saturating_sub(self.start_ns())
    }
    /// The span's own attribute `key` (the first with that key), as [`Span::attribute`].
    fn attribute(&self, key: &str) -> Option<&Value>;
    /// The span's own attribute `key` when it is a string, as [`attribute_str`] of its attributes.
    fn attribute_str(&self, key: &str) -> Option<&Str>;
    fn resource(&self) -> &Arc<Resource>;
    fn scope(&self) -> &Arc<Scope>;
}

impl SpanRead for Span {
    #[inline]
    fn trace_id(&self) -> TraceId {
        self.trace_id
    }
    #[inline]
    fn span_id(&self) -> SpanId {
        self.span_id
    }
    #[inline]
    fn parent_span_id(&self) -> Option<SpanId> {
        self.parent_span_id
    }
    #[inline]
    fn name(&self) -> &Str {
        &self.name
    }
    #[inline]
    fn kind(&self) -> SpanKind {
        self.kind
    }
    #[inline]
    fn status_code(&self) -> StatusCode {
        self.status.code
    }
    #[inline]
    fn start_ns(&self) -> u64 {
        self.start_ns
    }
    #[inline]
    fn end_ns(&self) -> u64 {
        self.end_ns
    }
    #[inline]
    fn attribute(&self, key: &str) -> Option<&Value> {
        attribute(&self.attributes, key)
    }
    #[inline]
    fn attribute_str(&self, key: &str) -> Option<&Str> {
        attribute_str(&self.attributes, key)
    }
    #[inline]
    fn resource(&self) -> &Arc<Resource> {
        &self.resource
    }
    #[inline]
    fn scope(&self) -> &Arc<Scope> {
        &self.scope
    }
}

impl<T: SpanRead + ?Sized> SpanRead for &T {
    #[inline]
    fn trace_id(&self) -> TraceId {
        T::trace_id(self)
    }
    #[inline]
    fn span_id(&self) -> SpanId {
        T::span_id(self)
    }
    #[inline]
    fn parent_span_id(&self) -> Option<SpanId> {
        T::parent_span_id(self)
    }
    #[inline]
    fn name(&self) -> &Str {
        T::name(self)
    }
    #[inline]
    fn kind(&self) -> SpanKind {
        T::kind(self)
    }
    #[inline]
    fn status_code(&self) -> StatusCode {
        T::status_code(self)
    }
    #[inline]
    fn start_ns(&self) -> u64 {
        T::start_ns(self)
    }
    #[inline]
    fn end_ns(&self) -> u64 {
        T::end_ns(self)
    }
    #[inline]
    fn duration_ns(&self) -> u64 {
        T::duration_ns(self)
    }
    #[inline]
    fn attribute(&self, key: &str) -> Option<&Value> {
        T::attribute(self, key)
    }
    #[inline]
    fn attribute_str(&self, key: &str) -> Option<&Str> {
        T::attribute_str(self, key)
    }
    #[inline]
    fn resource(&self) -> &Arc<Resource> {
        T::resource(self)
    }
    #[inline]
    fn scope(&self) -> &Arc<Scope> {
        T::scope(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interned_strings_share_one_allocation() {
        let interner = Interner::new();
        let a = interner.intern("service.name");
        let b = interner.intern(&String::from("service.name"));
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(interner.len(), 1);
        drop((a, b));
        let kept = interner.intern("kept");
        assert_eq!(interner.prune(), 1, "service.name is held by nothing else");
        assert_eq!(interner.len(), 1);
        assert!(Arc::ptr_eq(&kept, &interner.intern("kept")));
    }

    #[test]
    fn ids_round_trip_through_hex() {
        let trace = TraceId::from_hex("5b8efff798038103d269b633813fc60c").unwrap();
        assert_eq!(trace.to_string(), "5b8efff798038103d269b633813fc60c");
        assert_eq!(TraceId::from_u128(trace.to_u128()), trace);
        let span = SpanId::from_hex("eee19b7ec3c1b174").unwrap();
        assert_eq!(span.to_string(), "eee19b7ec3c1b174");
        assert_eq!(SpanId::from_hex("eee19b7ec3c1b1"), None, "wrong length");
        assert_eq!(SpanId::from_hex("zee19b7ec3c1b174"), None, "not hex");
        assert!(SpanId::default().is_zero());
    }

    #[test]
    fn resources_name_their_service() {
        let interner = Interner::new();
        let kv = |k: &str, v: &str| KeyValue {
            key: interner.intern(k),
            value: Value::Str(interner.intern(v)),
        };
        let resource = Resource {
            attributes: vec![
                kv("service.name", "discounts-service"),
                kv("deployment.environment", "lab"),
            ],
        };
        assert_eq!(resource.service_name(), "discounts-service");
        assert_eq!(resource.environment(), Some("lab"));
        assert_eq!(Resource::default().service_name(), "unknown_service");
    }
}
