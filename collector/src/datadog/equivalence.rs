//! The msgpack decoders give exactly what the former serde ones ([`super::reference`]) gave: the same spans,
//! rejections, error text for a rejected span and charge against the budget, and the same refusals (reason,
//! and cause: the format, a string index, the budget) — on the golden ddtrace payloads, the synthetic shop
//! payloads, payloads generated from arbitrary spans with rmp-serde, the same cut and changed byte by byte, and
//! hand-made corner cases of the format. The decoding for the store ([`super::decode_v04_for_store`],
//! [`super::decode_v05_for_store`]) is held to the same on every one of them: its staged spans read back equal
//! the model decoding's, with the same rejections, error text and charge, or it refuses alike; and its batch
//! stored gives the same traces as the model spans stored.

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;
use serde::Serialize;
use serde::ser::SerializeMap;

use super::{Converted, DecodeError, ForStore, reference};
use crate::ingest::{Batch, Ingest};
use crate::model::Interner;
use crate::staged::Staged;
use crate::store::Store;
use crate::wire::tests::stored_alike;

type Decode = fn(&[u8], &Interner) -> Result<Converted, DecodeError>;
type DecodeForStore = fn(&[u8], &Interner) -> Result<ForStore, DecodeError>;

const V04: &[u8] = include_bytes!("../../testdata/ddtrace-v0.4.msgpack");
const V05: &[u8] = include_bytes!("../../testdata/ddtrace-v0.5.msgpack");

/// What a decoding gave, comparable: the spans (with which of them share a resource), or the refusal.
fn outcome(decoded: Result<Converted, DecodeError>) -> Result<String, String> {
    match decoded {
        Ok(converted) => {
            let shared: Vec<bool> = (converted.spans.windows(2))
                .map(|pair| Arc::ptr_eq(&pair[0].resource, &pair[1].resource))
                .collect();
            Ok(format!(
                "{:?} rejected {} {:?} charged {} shared {shared:?}",
                converted.spans, converted.rejected, converted.error, converted.charged
            ))
        }
        Err(err) => Err(match err {
            DecodeError::Msgpack(_) => format!("{} (format)", err.reason()),
            DecodeError::StringIndex(_) | DecodeError::OverBudget { .. } => {
                format!("{}: {err}", err.reason())
            }
            DecodeError::Json(_) => unreachable!("msgpack only"),
        }),
    }
}

/// The decoding for the store as [`outcome`] puts it (a staged batch's spans read back as model spans), and its
/// staged batch if it made one.
fn for_store_outcome(
    decoded: Result<ForStore, DecodeError>,
) -> (Result<String, String>, Option<Staged>) {
    let ForStore { decoded, charged } = match decoded {
        Ok(for_store) => for_store,
        Err(err) => return (outcome(Err(err)), None),
    };
    let (spans, staged) = match decoded.batch {
        Batch::Spans(spans) => (spans, None),
        Batch::Staged(staged) => (staged.to_spans(), Some(*staged)),
    };
    let converted = Converted {
        spans,
        rejected: decoded.rejected,
        error: decoded.error,
        charged,
    };
    (outcome(Ok(converted)), staged)
}

/// Both decoders, each with an interner of its own, give the same outcome, and so does the decoding for the
/// store, whose staged batch is stored as the model spans are; returns whether it was a success.
fn same(body: &[u8], new: Decode, old: Decode, for_store: DecodeForStore) -> bool {
    let got = new(body, &Interner::new());
    let spans = got.as_ref().ok().map(|converted| converted.spans.clone());
    let got = outcome(got);
    let want = outcome(old(body, &Interner::new()));
    assert_eq!(got, want, "payload {body:02x?}");
    let (staged_outcome, staged) = for_store_outcome(for_store(body, &Interner::new()));
    assert_eq!(staged_outcome, got, "for the store: payload {body:02x?}");
    if let (Some(staged), Some(spans)) = (staged, spans) {
        stored_alike(staged, spans);
    }
    got.is_ok()
}

fn same_v04(body: &[u8]) -> bool {
    same(
        body,
        super::decode_v04_msgpack,
        reference::decode_v04_msgpack,
        super::decode_v04_for_store,
    )
}

fn same_v05(body: &[u8]) -> bool {
    same(
        body,
        super::decode_v05,
        reference::decode_v05,
        super::decode_v05_for_store,
    )
}

/// The batch a payload is decoded into for the store.
fn batch(body: &[u8], for_store: DecodeForStore) -> Batch {
    for_store(body, &Interner::new()).unwrap().decoded.batch
}

/// The payload with some bytes changed, then cut: `changes` are (position, byte) pairs, positions taken modulo
/// the length.
fn mutated(body: &[u8], changes: &[(usize, u8)], cut: Option<usize>) -> Vec<u8> {
    let mut body = body.to_vec();
    for &(at, byte) in changes {
        if !body.is_empty() {
            let at = at % body.len();
            body[at] = byte;
        }
    }
    if let Some(cut) = cut {
        body.truncate(body.len() - cut % (body.len() + 1));
    }
    body
}

#[test]
fn golden_and_synthetic_payloads_decode_as_before() {
    assert!(same_v04(V04));
    assert!(same_v05(V05));
    for seed in [1, 7, 10_000] {
        assert!(same_v04(&crate::synth::datadog_v04(512, seed)));
        assert!(same_v05(&crate::synth::datadog_v05(512, seed)));
    }
    // Every cut of the golden payloads.
    for cut in 0..V04.len() {
        same_v04(&V04[..cut]);
    }
    for cut in 0..V05.len() {
        same_v05(&V05[..cut]);
    }
}

/// msgpack array header.
fn array(len: u32) -> Vec<u8> {
    let mut out = Vec::new();
    rmp::encode::write_array_len(&mut out, len).unwrap();
    out
}

fn map(len: u32) -> Vec<u8> {
    let mut out = Vec::new();
    rmp::encode::write_map_len(&mut out, len).unwrap();
    out
}

fn str(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    rmp::encode::write_str(&mut out, text).unwrap();
    out
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// A v0.4 payload of one trace of one span map holding `fields` (already encoded, `count` of them).
fn v04_span(count: u32, fields: &[u8]) -> Vec<u8> {
    cat(&[&array(1), &array(1), &map(count), fields])
}

fn ids() -> Vec<u8> {
    cat(&[&str("trace_id"), &[0x01], &str("span_id"), &[0x02]])
}

#[test]
fn golden_and_synthetic_payloads_take_the_staged_path() {
    let staged = |batch: Batch, spans: usize| match batch {
        Batch::Staged(staged) => assert_eq!(staged.len(), spans),
        Batch::Spans(_) => panic!("within the span limits: staged"),
    };
    staged(batch(V04, super::decode_v04_for_store), 4);
    staged(batch(V05, super::decode_v05_for_store), 4);
    for seed in [1, 7] {
        let v04 = crate::synth::datadog_v04(512, seed);
        staged(batch(&v04, super::decode_v04_for_store), 512);
        let v05 = crate::synth::datadog_v05(512, seed);
        staged(batch(&v05, super::decode_v05_for_store), 512);
    }
}

/// A span of the given meta entries and resource: the others fixed.
fn span(meta: Vec<(String, String)>, resource: &str) -> SpanData {
    SpanData {
        service: Some("svc".to_owned()),
        name: Some("op".to_owned()),
        resource: Some(resource.to_owned()),
        trace_id: Some(1),
        span_id: Some(2),
        parent_id: None,
        start: Some(1),
        duration: Some(1),
        error: Some(1),
        meta,
        metrics: Vec::new(),
        kind: None,
        other: None,
        order: 0,
    }
}

#[test]
fn payloads_past_the_string_cache_decode_alike() {
    // More distinct strings than the payload's cache keeps (`MAX_SEEN`), each used by two spans: past the
    // cache, a string is charged or not by whether anything holds it already.
    let traces: Vec<Vec<SpanData>> = (0..3000)
        .map(|i| {
            let meta = vec![(format!("key {i}"), format!("value {i}"))];
            let first = SpanData {
                trace_id: Some(i + 1),
                ..span(meta, &format!("resource {i}"))
            };
            let second = SpanData {
                span_id: Some(3),
                ..first.clone()
            };
            vec![first, second]
        })
        .collect();
    assert!(same_v04(&v04_payload(&traces)));
    assert!(same_v05(&v05_payload(&traces)));
}

#[test]
fn payloads_over_the_span_limits_take_the_model_path_and_are_cut_by_the_queue() {
    let long = "x".repeat(40 * 1024);
    let over = [
        // 200 meta entries; a value, a key and a resource (the span's name) past 32 KiB.
        span(
            (0..200)
                .map(|i| (format!("k{i}"), "v".to_owned()))
                .collect(),
            "GET /",
        ),
        span(vec![("error.stack".to_owned(), long.clone())], "GET /"),
        span(vec![(long.clone(), "v".to_owned())], "GET /"),
        span(Vec::new(), &long),
        // An env (a resource attribute) and an error message (the status message) past 32 KiB.
        span(vec![("env".to_owned(), long.clone())], "GET /"),
        span(vec![("error.msg".to_owned(), long.clone())], "GET /"),
    ];
    let store = Store::new(100);
    let (ingest, _writer) = Ingest::new(store.clone(), 64, None).unwrap();
    for (i, span) in over.into_iter().enumerate() {
        // After a span within the limits, in the same chunk.
        let within = SpanData {
            span_id: Some(3),
            resource: Some("GET /".to_owned()),
            meta: Vec::new(),
            ..span.clone()
        };
        let traces = vec![vec![span, within]];
        for (body, for_store) in [
            (
                v04_payload(&traces),
                super::decode_v04_for_store as DecodeForStore,
            ),
            (v05_payload(&traces), super::decode_v05_for_store),
        ] {
            assert!(same_v04(&v04_payload(&traces)) && same_v05(&v05_payload(&traces)));
            let batch = batch(&body, for_store);
            assert!(matches!(batch, Batch::Spans(_)), "case {i}: the model path");
            let limited = store.accounting().limited_spans;
            ingest.submit_batch(batch).unwrap();
            assert_eq!(
                store.accounting().limited_spans,
                limited + 1,
                "case {i}: cut"
            );
        }
    }
}

#[test]
fn corner_cases_of_the_format_decode_as_before() {
    let nested = |depth: usize| {
        let mut value = vec![0x91; depth];
        value.push(0xc0);
        v04_span(3, &cat(&[&ids(), &str("x"), &value]))
    };
    let cases = vec![
        // Empty bins where arrays are expected; a bin of bytes; a bin span.
        b"\xc4\x00".to_vec(),
        b"\x91\xc4\x00".to_vec(),
        b"\xc4\x01\x01".to_vec(),
        b"\x91\xc4\x02\x01\x02".to_vec(),
        // Bytes after the payload.
        cat(&[&v04_span(2, &ids()), b"\xc1\xc1garbage"]),
        // Unknown fields holding anything: nil, floats, ext, bin, nested maps, invalid UTF-8, a reserved byte.
        v04_span(3, &cat(&[&ids(), &str("x"), b"\xc0"])),
        v04_span(3, &cat(&[&ids(), &str("x"), b"\xcb\x40\x09\x21\xfb\x54\x44\x2d\x18"])),
        v04_span(3, &cat(&[&ids(), &str("x"), b"\xd4\x05\x01"])),
        v04_span(3, &cat(&[&ids(), &str("x"), b"\xc7\x03\x05abc"])),
        v04_span(3, &cat(&[&ids(), &str("x"), b"\xc4\x02\xff\xfe"])),
        v04_span(3, &cat(&[&ids(), &str("x"), b"\x81\x01\x92\xa1\xff\xc3"])),
        v04_span(3, &cat(&[&ids(), &str("x"), b"\xa2\xff\xfe"])),
        v04_span(3, &cat(&[&ids(), &str("x"), b"\xc1"])),
        // Keys and values of the wrong kind or not UTF-8.
        v04_span(3, &cat(&[&ids(), b"\x01\x02"])),
        v04_span(3, &cat(&[&ids(), b"\xa2\xff\xfe\x02"])),
        v04_span(3, &cat(&[&ids(), &str("service"), b"\xa2\xff\xfe"])),
        v04_span(3, &cat(&[&ids(), &str("service"), b"\xc4\x01a"])),
        v04_span(3, &cat(&[&ids(), &str("meta"), b"\xc0"])),
        v04_span(3, &cat(&[&ids(), &str("meta"), b"\x90"])),
        v04_span(3, &cat(&[&ids(), &str("meta"), b"\x81\xa1k\x01"])),
        v04_span(3, &cat(&[&ids(), &str("meta"), b"\x81\xa1k\xa2\xff\xfe"])),
        v04_span(3, &cat(&[&ids(), &str("metrics"), b"\x81\xa1k\xa1v"])),
        v04_span(3, &cat(&[&ids(), &str("metrics"), b"\x81\xa1k\xc3"])),
        // Numbers of every width, in range and out, signed and not, and floats where integers go.
        v04_span(3, &cat(&[&ids(), &str("start"), b"\xcf\xff\xff\xff\xff\xff\xff\xff\xff"])),
        v04_span(3, &cat(&[&ids(), &str("start"), b"\xd3\x80\x00\x00\x00\x00\x00\x00\x00"])),
        v04_span(3, &cat(&[&ids(), &str("parent_id"), b"\xd0\x05"])),
        v04_span(3, &cat(&[&ids(), &str("parent_id"), b"\xff"])),
        v04_span(3, &cat(&[&ids(), &str("parent_id"), b"\xca\x3f\x80\x00\x00"])),
        v04_span(3, &cat(&[&ids(), &str("error"), b"\xce\x80\x00\x00\x00"])),
        v04_span(3, &cat(&[&ids(), &str("error"), b"\xd2\x80\x00\x00\x00"])),
        v04_span(3, &cat(&[&ids(), &str("error"), b"\xc2"])),
        v04_span(3, &cat(&[&ids(), &str("metrics"), b"\x83\xa1a\xca\xff\xc0\x00\x00\xa1b\xd3\x80\x00\x00\x00\x00\x00\x00\x01\xa1c\xcf\xff\xff\xff\xff\xff\xff\xff\xff"])),
        // A known field twice; an unknown one twice.
        v04_span(3, &cat(&[&ids(), &str("span_id"), b"\x03"])),
        v04_span(4, &cat(&[&ids(), &str("x"), b"\x01", &str("x"), b"\x02"])),
        // Claimed lengths far beyond the body.
        v04_span(3, &cat(&[&ids(), &str("x"), b"\xdd\xff\xff\xff\xff"])),
        v04_span(3, &cat(&[&ids(), &str("x"), b"\xdb\xff\xff\xff\xff"])),
    ];
    for case in &cases {
        same_v04(case);
    }
    // Nesting around rmp-serde's depth limit (on a stack deep enough for an unoptimised rmp-serde).
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(move || {
            for depth in [1018, 1019, 1022, 1023] {
                same_v04(&nested(depth));
            }
            assert!(same_v04(&nested(1020)), "deep but within the limit");
            assert!(
                !same_v04(&nested(1021)),
                "one level deeper than rmp-serde takes"
            );
        })
        .unwrap()
        .join()
        .unwrap();

    let span = |fields: &[u8]| cat(&[b"\x92\x92\xa0\xa3svc\x91\x91", fields]);
    let v05_cases = [
        // The payload, the table, the traces and a chunk as bins; a span as a bin, short and long.
        b"\xc4\x00".to_vec(),
        b"\x92\xc4\x00\xc4\x00".to_vec(),
        b"\x92\xc4\x01\x00\x90".to_vec(),
        b"\x92\x91\xa0\x91\xc4\x00".to_vec(),
        span(b"\xc4\x02\x00\x01"),
        span(b"\xc4\x0c\x01\x01\x00\x01\x02\x00\x01\x01\x00\x00\x00\x00"),
        span(b"\xc4\x0c\x01\x07\x00\x01\x02\x00\x01\x01\x00\x00\x00\x00"),
        span(b"\xc4\x05\x01\x01\x00\x01\x02"),
        // A payload of one and of three elements; spans of 11 and 13 fields.
        b"\x91\x90".to_vec(),
        b"\x93\x90\x90\x90".to_vec(),
        span(b"\x9b\x01\x01\x00\x01\x02\x00\x01\x01\x00\x80\x80"),
        span(b"\x9d\x01\x01\x00\x01\x02\x00\x01\x01\x00\x80\x80\x00\x00"),
        span(b"\x9c\x01\x01\x00\x01\x02\x00\x01\x01\x00\x80\x80\x00"),
        // Indexes out of the table, before a malformed field and after.
        span(b"\x9c\x09\x01\xa1x\x01\x02\x00\x01\x01\x00\x80\x80\x00"),
        span(b"\x9c\x01\x01\x00\x01\x02\x00\x01\x01\x00\x81\x09\x00\x80\x00"),
        span(b"\x9c\x01\x01\x00\x01\x02\x00\x01\x01\x00\x81\x00\xa1x\x80\x00"),
        span(b"\x9c\x01\x01\x00\x01\x02\x00\x01\x01\x00\x80\x81\x00\xcb\x00\x00\x00\x00\x00\x00\x00\x00\x07"),
        // Table entries that are not strings, or not UTF-8.
        b"\x92\x91\x01\x90".to_vec(),
        b"\x92\x91\xa2\xff\xfe\x90".to_vec(),
        // Bytes after the payload.
        b"\x92\x90\x90\xc1\xc1".to_vec(),
    ];
    for case in &v05_cases {
        same_v05(case);
    }
}

#[test]
fn budget_refusals_are_the_same() {
    // Tiny spans past the budget, and a meta map of one repeated key.
    let tiny = cat(&[&map(2), &ids()]);
    let mut body = cat(&[&array(1), &array(200_000)]);
    for _ in 0..200_000 {
        body.extend_from_slice(&tiny);
    }
    assert!(!same_v04(&body));
    let mut v05 = b"\x92\x91\xa0\x91\x91\x9c\x00\x00\x00\x01\x01\x00\x01\x01\x00".to_vec();
    v05.extend(map(400_000));
    for _ in 0..400_000 {
        v05.extend_from_slice(&[0, 0]);
    }
    v05.extend_from_slice(&[0x80, 0]);
    assert!(!same_v05(&v05));
}

/// A map written in the order given, repeats and all.
struct Entries<K, V>(Vec<(K, V)>);

impl<K: Serialize, V: Serialize> Serialize for Entries<K, V> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// A span's fields, any of them missing, in any order, with unknown ones among them.
#[derive(Debug, Clone)]
struct SpanData {
    service: Option<String>,
    name: Option<String>,
    resource: Option<String>,
    trace_id: Option<u64>,
    span_id: Option<u64>,
    parent_id: Option<u64>,
    start: Option<i64>,
    duration: Option<i64>,
    error: Option<i32>,
    meta: Vec<(String, String)>,
    metrics: Vec<(String, f64)>,
    kind: Option<String>,
    other: Option<(String, u8)>,
    order: u64,
}

enum FieldValue<'a> {
    Text(&'a str),
    U64(u64),
    I64(i64),
    I32(i32),
    Meta(&'a [(String, String)]),
    Metrics(&'a [(String, f64)]),
    Other(u8),
}

impl Serialize for FieldValue<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            FieldValue::Text(text) => s.serialize_str(text),
            FieldValue::U64(v) => s.serialize_u64(*v),
            FieldValue::I64(v) => s.serialize_i64(*v),
            FieldValue::I32(v) => s.serialize_i32(*v),
            FieldValue::Meta(entries) => Entries(entries.to_vec()).serialize(s),
            FieldValue::Metrics(entries) => Entries(entries.to_vec()).serialize(s),
            FieldValue::Other(n) => vec![*n; usize::from(*n % 4)].serialize(s),
        }
    }
}

impl SpanData {
    fn v04_fields<'a>(&'a self) -> Vec<(String, FieldValue<'a>)> {
        let mut fields = Vec::new();
        let mut add = |key: &str, value: Option<FieldValue<'a>>| {
            if let Some(value) = value {
                fields.push((key.to_owned(), value));
            }
        };
        add("service", self.service.as_deref().map(FieldValue::Text));
        add("name", self.name.as_deref().map(FieldValue::Text));
        add("resource", self.resource.as_deref().map(FieldValue::Text));
        add("trace_id", self.trace_id.map(FieldValue::U64));
        add("span_id", self.span_id.map(FieldValue::U64));
        add("parent_id", self.parent_id.map(FieldValue::U64));
        add("start", self.start.map(FieldValue::I64));
        add("duration", self.duration.map(FieldValue::I64));
        add("error", self.error.map(FieldValue::I32));
        add("meta", Some(FieldValue::Meta(&self.meta)));
        add("metrics", Some(FieldValue::Metrics(&self.metrics)));
        add("type", self.kind.as_deref().map(FieldValue::Text));
        if let Some((key, n)) = &self.other {
            fields.push((key.clone(), FieldValue::Other(*n)));
        }
        // Rotated by `order`: fields come in any order.
        let len = fields.len();
        fields.rotate_left(self.order as usize % len);
        fields
    }
}

struct V04Span<'a>(&'a SpanData);

impl Serialize for V04Span<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let fields = self.0.v04_fields();
        let mut map = s.serialize_map(Some(fields.len()))?;
        for (key, value) in &fields {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

fn v04_payload(traces: &[Vec<SpanData>]) -> Vec<u8> {
    let traces: Vec<Vec<V04Span<'_>>> = (traces.iter())
        .map(|trace| trace.iter().map(V04Span).collect())
        .collect();
    rmp_serde::to_vec(&traces).unwrap()
}

/// The same spans in v0.5: a table of their strings, missing fields as their zero.
fn v05_payload(traces: &[Vec<SpanData>]) -> Vec<u8> {
    let mut table: Vec<String> = vec![String::new()];
    let mut index = BTreeMap::<String, u32>::new();
    let mut string = |s: &str| -> u32 {
        *index.entry(s.to_owned()).or_insert_with(|| {
            table.push(s.to_owned());
            (table.len() - 1) as u32
        })
    };
    type V05 = crate::synth::SpanV05<Entries<u32, u32>, Entries<u32, f64>>;
    let traces: Vec<Vec<V05>> = (traces.iter())
        .map(|trace| {
            (trace.iter())
                .map(|s| {
                    (
                        string(s.service.as_deref().unwrap_or("")),
                        string(s.name.as_deref().unwrap_or("")),
                        string(s.resource.as_deref().unwrap_or("")),
                        s.trace_id.unwrap_or(0),
                        s.span_id.unwrap_or(0),
                        s.parent_id.unwrap_or(0),
                        s.start.unwrap_or(0),
                        s.duration.unwrap_or(0),
                        s.error.unwrap_or(0),
                        Entries(s.meta.iter().map(|(k, v)| (string(k), string(v))).collect()),
                        Entries(s.metrics.iter().map(|(k, v)| (string(k), *v)).collect()),
                        string(s.kind.as_deref().unwrap_or("")),
                    )
                })
                .collect()
        })
        .collect();
    rmp_serde::to_vec(&(table, traces)).unwrap()
}

/// Text of the kinds a span holds: names a tracer sends, the meta keys the checks read, empty, long, not ASCII.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "", "web", "db", "sql", "http", "redis", "custom", "server", "client", "producer", "consumer",
            "internal", "flask.request", "GET /cart", "SELECT 1", "200", "404", "999", "abc", "00000000000000ab",
            "lab", "3.0", "sqlite", "KeyError", "boom", "Traceback…", "ünïcödé",
        ])
        .prop_map(str::to_owned),
        1 => "[a-z.]{0,12}",
        1 => (0usize..3, prop::sample::select(vec!['x', 'é', '字'])).prop_map(|(n, c)| {
            c.to_string().repeat([99, 101, 130][n])
        }),
    ]
}

fn meta_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "_dd.p.tid", "version", "env", "span.kind", "db.system", "db.type", "db.query.text",
            "http.status_code", "error.type", "error.kind", "error.msg", "error.message", "error.stack",
            "component", "http.url", "_dd.base_service",
        ])
        .prop_map(str::to_owned),
        1 => text(),
    ]
}

fn number() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(0.0),
        Just(1.0),
        Just(-2.0),
        Just(0.5),
        Just(1e16),
        Just(f64::NAN),
        Just(f64::INFINITY),
        any::<f64>(),
    ]
}

fn span_data() -> impl Strategy<Value = SpanData> {
    let id = || prop::option::weighted(0.95, prop_oneof![Just(0u64), 1u64..4, any::<u64>()]);
    let time = || prop::option::weighted(0.9, prop_oneof![Just(-5i64), 0i64..1000, any::<i64>()]);
    (
        (
            prop::option::weighted(0.8, text()),
            prop::option::weighted(0.8, text()),
            prop::option::weighted(0.8, text()),
            id(),
            id(),
            id(),
        ),
        (
            time(),
            time(),
            prop::option::of(prop_oneof![Just(0i32), Just(1i32), any::<i32>()]),
            prop::collection::vec((meta_key(), text()), 0..8),
            prop::collection::vec((meta_key(), number()), 0..3),
            prop::option::weighted(0.8, text()),
            prop::option::weighted(0.2, ("[a-z_]{1,6}", any::<u8>())),
            any::<u64>(),
        ),
    )
        .prop_map(
            |(
                (service, name, resource, trace_id, span_id, parent_id),
                (start, duration, error, meta, metrics, kind, other, order),
            )| SpanData {
                service,
                name,
                resource,
                trace_id,
                span_id,
                parent_id,
                start,
                duration,
                error,
                meta,
                metrics,
                kind,
                other,
                order,
            },
        )
}

fn traces() -> impl Strategy<Value = Vec<Vec<SpanData>>> {
    prop::collection::vec(prop::collection::vec(span_data(), 0..5), 0..4)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_payloads_decode_as_before(traces in traces()) {
        same_v04(&v04_payload(&traces));
        same_v05(&v05_payload(&traces));
        // Each span twice: the second finds its keys' order remembered.
        let twice: Vec<Vec<SpanData>> = (traces.iter())
            .map(|trace| trace.iter().flat_map(|span| [span.clone(), span.clone()]).collect())
            .collect();
        same_v04(&v04_payload(&twice));
        same_v05(&v05_payload(&twice));
    }

    #[test]
    fn changed_and_cut_payloads_decode_as_before(
        traces in traces(),
        changes in prop::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        cut in prop::option::of(any::<usize>()),
        golden in any::<bool>(),
    ) {
        let (v04, v05) = if golden {
            (V04.to_vec(), V05.to_vec())
        } else {
            (v04_payload(&traces), v05_payload(&traces))
        };
        same_v04(&mutated(&v04, &changes, cut));
        same_v05(&mutated(&v05, &changes, cut));
    }
}
