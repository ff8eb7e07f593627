//! OTLP trace requests: `arbitrary` structures turned into real `ExportTraceServiceRequest`s, encoded with prost
//! (the protobuf target) or serde (the JSON target, the spec's JSON mapping), then changed structurally.

use arbitrary::{Arbitrary, Unstructured};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{self as pb, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1 as tr;
use prost::Message as _;

use crate::proto::{len_field, varint};
use crate::rng::Rng;

pub const GOLDEN_JSON: &[u8] = include_bytes!("../../../collector/testdata/otlp-trace.json");

/// Text as senders write it: the names the analyses look for, anything at all, or one piece repeated.
#[derive(Debug, Arbitrary)]
pub enum Text {
    Known(u8),
    Any(String),
    Long(u8, u16),
}

const KNOWN: &[&str] = &[
    "",
    "service.name",
    "service.version",
    "http.request.method",
    "http.route",
    "db.statement",
    "db.query.text",
    "SELECT * FROM products WHERE id = ?",
    "exception",
    "exception.stacktrace",
    "GET /",
    "\u{202e}evil",
    "\u{1b}[31m",
    "😀",
];

impl Text {
    pub fn text(&self) -> String {
        match self {
            Text::Known(i) => KNOWN[usize::from(*i) % KNOWN.len()].to_owned(),
            Text::Any(s) => s.clone(),
            Text::Long(piece, times) => KNOWN[usize::from(*piece) % KNOWN.len()]
                .repeat(usize::from(*times).min(4096))
                .to_string(),
        }
    }
}

/// An id: mostly the right length and random, sometimes all zeroes or of the wrong length.
#[derive(Debug, Arbitrary)]
struct Id {
    kind: u8,
    bytes: [u8; 16],
    wrong: Vec<u8>,
}

impl Id {
    fn bytes(&self, len: usize) -> Vec<u8> {
        match self.kind {
            0..=219 => self.bytes[..len].to_vec(),
            220..=234 => vec![0; len],
            _ => self.wrong.clone(),
        }
    }
}

#[derive(Debug, Arbitrary)]
enum Scalar {
    Str(Text),
    Bool(bool),
    Int(i64),
    Double(f64),
    Bytes(Vec<u8>),
    Empty,
    StrIndex(i32),
}

/// An attribute value, two levels of lists deep at most (deeper nesting comes from the tree mutations).
#[derive(Debug, Arbitrary)]
enum Any {
    Scalar(Scalar),
    Array(Vec<Inner>),
    Map(Vec<(Text, Option<Inner>)>),
}

#[derive(Debug, Arbitrary)]
enum Inner {
    Scalar(Scalar),
    Array(Vec<Scalar>),
    Map(Vec<(Text, Option<Scalar>)>),
}

fn scalar(s: &Scalar) -> pb::AnyValue {
    pb::AnyValue {
        value: match s {
            Scalar::Str(t) => Some(any_value::Value::StringValue(t.text())),
            Scalar::Bool(b) => Some(any_value::Value::BoolValue(*b)),
            Scalar::Int(i) => Some(any_value::Value::IntValue(*i)),
            Scalar::Double(d) => Some(any_value::Value::DoubleValue(*d)),
            Scalar::Bytes(b) => Some(any_value::Value::BytesValue(b.clone())),
            Scalar::Empty => None,
            Scalar::StrIndex(i) => Some(any_value::Value::StringValueStrindex(*i)),
        },
    }
}

fn list(values: Vec<pb::AnyValue>) -> pb::AnyValue {
    pb::AnyValue {
        value: Some(any_value::Value::ArrayValue(pb::ArrayValue { values })),
    }
}

fn kvlist(values: Vec<pb::KeyValue>) -> pb::AnyValue {
    pb::AnyValue {
        value: Some(any_value::Value::KvlistValue(pb::KeyValueList { values })),
    }
}

fn kv(key: &Text, value: Option<pb::AnyValue>) -> pb::KeyValue {
    pb::KeyValue {
        key: key.text(),
        value,
        ..Default::default()
    }
}

fn inner(v: &Inner) -> pb::AnyValue {
    match v {
        Inner::Scalar(s) => scalar(s),
        Inner::Array(items) => list(items.iter().map(scalar).collect()),
        Inner::Map(entries) => kvlist(
            entries
                .iter()
                .map(|(k, v)| kv(k, v.as_ref().map(scalar)))
                .collect(),
        ),
    }
}

fn any(v: &Any) -> pb::AnyValue {
    match v {
        Any::Scalar(s) => scalar(s),
        Any::Array(items) => list(items.iter().map(inner).collect()),
        Any::Map(entries) => kvlist(
            entries
                .iter()
                .map(|(k, v)| kv(k, v.as_ref().map(inner)))
                .collect(),
        ),
    }
}

type Attributes = Vec<(Text, Option<Any>)>;

fn attributes(list: &Attributes) -> Vec<pb::KeyValue> {
    list.iter()
        .map(|(k, v)| kv(k, v.as_ref().map(any)))
        .collect()
}

#[derive(Debug, Arbitrary)]
struct Span {
    trace_id: Id,
    span_id: Id,
    parent: Option<Id>,
    trace_state: Option<Text>,
    name: Text,
    kind: i32,
    start: u64,
    duration: u64,
    attributes: Attributes,
    events: Vec<(u64, Text, Attributes)>,
    links: Vec<(Id, Id, Attributes)>,
    status: Option<(i32, Text)>,
    flags: u32,
    dropped: u32,
}

#[derive(Debug, Arbitrary)]
struct Scope {
    name: Text,
    version: Option<Text>,
    attributes: Attributes,
    spans: Vec<Span>,
}

#[derive(Debug, Arbitrary)]
struct ResourceSpans {
    attributes: Option<Attributes>,
    scopes: Vec<Scope>,
    schema_url: Option<Text>,
}

#[derive(Debug, Arbitrary)]
struct Request {
    resources: Vec<ResourceSpans>,
}

impl Span {
    fn build(&self) -> tr::Span {
        tr::Span {
            trace_id: self.trace_id.bytes(16),
            span_id: self.span_id.bytes(8),
            parent_span_id: self.parent.as_ref().map_or_else(Vec::new, |p| p.bytes(8)),
            trace_state: self
                .trace_state
                .as_ref()
                .map_or_else(String::new, Text::text),
            name: self.name.text(),
            kind: self.kind,
            start_time_unix_nano: self.start,
            end_time_unix_nano: self.start.wrapping_add(self.duration),
            attributes: attributes(&self.attributes),
            events: self
                .events
                .iter()
                .map(|(time, name, attrs)| tr::span::Event {
                    time_unix_nano: *time,
                    name: name.text(),
                    attributes: attributes(attrs),
                    dropped_attributes_count: 0,
                })
                .collect(),
            links: self
                .links
                .iter()
                .map(|(trace, span, attrs)| tr::span::Link {
                    trace_id: trace.bytes(16),
                    span_id: span.bytes(8),
                    attributes: attributes(attrs),
                    ..Default::default()
                })
                .collect(),
            status: self.status.as_ref().map(|(code, message)| tr::Status {
                code: *code,
                message: message.text(),
            }),
            flags: self.flags,
            dropped_attributes_count: self.dropped,
            ..Default::default()
        }
    }
}

impl Request {
    fn build(&self) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: self
                .resources
                .iter()
                .map(|r| tr::ResourceSpans {
                    resource: r.attributes.as_ref().map(|attrs| Resource {
                        attributes: attributes(attrs),
                        ..Default::default()
                    }),
                    scope_spans: r
                        .scopes
                        .iter()
                        .map(|s| tr::ScopeSpans {
                            scope: Some(pb::InstrumentationScope {
                                name: s.name.text(),
                                version: s.version.as_ref().map_or_else(String::new, Text::text),
                                attributes: attributes(&s.attributes),
                                ..Default::default()
                            }),
                            spans: s.spans.iter().map(Span::build).collect(),
                            ..Default::default()
                        })
                        .collect(),
                    schema_url: r.schema_url.as_ref().map_or_else(String::new, Text::text),
                })
                .collect(),
        }
    }
}

/// A request built from `rng`'s bytes through `arbitrary`: from a few hundred bytes of entropy to many KiB.
pub fn request(rng: &mut Rng, room: usize) -> ExportTraceServiceRequest {
    let entropy = {
        let n = rng.between(16, (room / 4).clamp(64, 16 << 10));
        rng.bytes(n)
    };
    let mut u = Unstructured::new(&entropy);
    Request::arbitrary(&mut u).map_or_else(|_| ExportTraceServiceRequest::default(), |r| r.build())
}

pub fn golden() -> ExportTraceServiceRequest {
    collector::otlp::decode_json(GOLDEN_JSON).expect("the golden request reads")
}

/// A request of one span with one attribute whose `AnyValue` is the bytes `value`.
pub fn with_value(value: &[u8]) -> Vec<u8> {
    let mut key_value = Vec::new();
    len_field(1, b"k", &mut key_value);
    len_field(2, value, &mut key_value);
    let mut span = tr::Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        name: "op".into(),
        ..Default::default()
    }
    .encode_to_vec();
    len_field(9, &key_value, &mut span);
    let mut scope_spans = Vec::new();
    len_field(2, &span, &mut scope_spans);
    let mut resource_spans = Vec::new();
    len_field(2, &scope_spans, &mut resource_spans);
    let mut request = Vec::new();
    len_field(1, &resource_spans, &mut request);
    request
}

/// An `AnyValue` whose `array_value` (or `kvlist_value`) member is repeated `n` times with one item each: the
/// quadratic case of issue 13.
pub fn repeated_list(n: usize, kvlist: bool) -> Vec<u8> {
    let one = pb::AnyValue {
        value: Some(any_value::Value::IntValue(1)),
    };
    let member = if kvlist {
        pb::KeyValueList {
            values: vec![pb::KeyValue {
                key: "i".into(),
                value: Some(one),
                ..Default::default()
            }],
        }
        .encode_to_vec()
    } else {
        pb::ArrayValue { values: vec![one] }.encode_to_vec()
    };
    let mut value = Vec::new();
    for _ in 0..n {
        len_field(if kvlist { 6 } else { 5 }, &member, &mut value);
    }
    value
}

/// An `AnyValue` nested `depth` arrays deep.
pub fn nested_value(depth: usize) -> Vec<u8> {
    let mut value = pb::AnyValue {
        value: Some(any_value::Value::IntValue(7)),
    }
    .encode_to_vec();
    for _ in 0..depth {
        let mut array = Vec::new();
        len_field(1, &value, &mut array);
        let mut outer = Vec::new();
        len_field(5, &array, &mut outer);
        value = outer;
    }
    value
}

/// The protobuf seeds: the golden request, the shapes of issue 13's probes, and the edges of the format.
pub fn proto_seeds() -> Vec<Vec<u8>> {
    let golden = golden().encode_to_vec();
    let mut seeds = vec![golden.clone(), Vec::new()];
    seeds.push(with_value(&repeated_list(20_000, false)));
    seeds.push(with_value(&repeated_list(20_000, true)));
    seeds.push(with_value(&nested_value(98)));
    seeds.push(with_value(&nested_value(10_000)));
    // A length of 4 GiB claimed by the first field.
    let mut huge = Vec::new();
    huge.push(0x0a);
    varint(u64::from(u32::MAX), &mut huge);
    huge.extend_from_slice(&golden);
    seeds.push(huge);
    // 100,000 empty spans, and one span with 50,000 attributes.
    let mut scope = Vec::new();
    for _ in 0..100_000 {
        len_field(2, &[], &mut scope);
    }
    let mut resource = Vec::new();
    len_field(2, &scope, &mut resource);
    let mut many_spans = Vec::new();
    len_field(1, &resource, &mut many_spans);
    seeds.push(many_spans);
    let mut attrs = Vec::new();
    for i in 0..50_000u32 {
        let mut key_value = Vec::new();
        len_field(1, format!("k{i}").as_bytes(), &mut key_value);
        len_field(2, &[0x18, 0x01], &mut key_value);
        len_field(9, &key_value, &mut attrs);
    }
    let mut span = tr::Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        ..Default::default()
    }
    .encode_to_vec();
    span.extend_from_slice(&attrs);
    let mut scope = Vec::new();
    len_field(2, &span, &mut scope);
    let mut resource = Vec::new();
    len_field(2, &scope, &mut resource);
    let mut request = Vec::new();
    len_field(1, &resource, &mut request);
    seeds.push(request);
    // Groups nested 10,000 deep in an unknown field.
    let mut groups = Vec::new();
    for _ in 0..10_000 {
        varint(99 << 3 | 3, &mut groups);
    }
    for _ in 0..10_000 {
        varint(99 << 3 | 4, &mut groups);
    }
    seeds.push(groups);
    seeds
}

pub fn generate_proto(rng: &mut Rng, room: usize) -> Vec<u8> {
    let mut bytes = request(rng, room).encode_to_vec();
    // Now and then one of the known nasty shapes, at a size that fits.
    if rng.one_in(20) {
        let n = rng.count(room / 12);
        bytes = with_value(&repeated_list(n, rng.one_in(2)));
    } else if rng.one_in(20) {
        bytes = with_value(&nested_value(rng.between(90, 110)));
    }
    bytes.truncate(room);
    bytes
}

pub fn json_seeds() -> Vec<Vec<u8>> {
    let mut seeds = vec![GOLDEN_JSON.to_vec(), b"{}".to_vec(), Vec::new()];
    let mut deep = vec![b'['; 10_000];
    deep.extend(vec![b']'; 10_000]);
    seeds.push(deep);
    // Every protobuf seed that prost reads, as JSON.
    for seed in proto_seeds() {
        if let Ok(request) = collector::otlp::decode_protobuf(&seed) {
            let json = serde_json::to_vec(&request).expect("a request serialises");
            // Not the 100,000 empty spans, which are 26 MB as JSON.
            if json.len() <= 2 << 20 {
                seeds.push(json);
            }
        }
    }
    // 100,000 empty spans (each a prost `Span` before the ids are checked).
    let spans = vec!["{}"; 100_000].join(",");
    seeds.push(
        format!(r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{spans}]}}]}}]}}"#).into_bytes(),
    );
    // A value's member repeated as a duplicate key.
    let array = r#""arrayValue":{"values":[{"intValue":"1"}]}"#;
    let repeated = vec![array; 5_000].join(",");
    let text = String::from_utf8_lossy(GOLDEN_JSON).replacen(
        r#"{"stringValue":"GET"}"#,
        &format!("{{{repeated}}}"),
        1,
    );
    seeds.push(text.into_bytes());
    seeds
}

pub fn generate_json(rng: &mut Rng, room: usize) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(&request(rng, room)).expect("a request serialises");
    bytes.truncate(room);
    bytes
}
