//! Datadog agent payloads: `arbitrary` spans encoded with rmp-serde (v0.3/v0.4 msgpack, as named maps; v0.5 as
//! its string table and twelve-element arrays) or serde_json (v0.4 JSON), then changed structurally.

use std::collections::BTreeMap;

use arbitrary::{Arbitrary, Unstructured};
use serde::Serialize;

use super::otlp::Text;
use crate::msgpack::{Mp, write};
use crate::rng::Rng;

pub const GOLDEN_V04: &[u8] = include_bytes!("../../../collector/testdata/ddtrace-v0.4.msgpack");
pub const GOLDEN_V05: &[u8] = include_bytes!("../../../collector/testdata/ddtrace-v0.5.msgpack");

#[derive(Debug, Arbitrary)]
struct Span {
    service: Text,
    name: Text,
    resource: Text,
    trace_id: u64,
    span_id: u64,
    parent_id: u64,
    start: i64,
    duration: i64,
    error: i32,
    meta: Vec<(Text, Text)>,
    metrics: Vec<(Text, f64)>,
    kind: Text,
}

/// A span as a tracer writes it in v0.4.
#[derive(Debug, Serialize)]
struct V04Span {
    service: String,
    name: String,
    resource: String,
    trace_id: u64,
    span_id: u64,
    parent_id: u64,
    start: i64,
    duration: i64,
    error: i32,
    meta: BTreeMap<String, String>,
    metrics: BTreeMap<String, f64>,
    #[serde(rename = "type")]
    kind: String,
}

impl Span {
    fn v04(&self) -> V04Span {
        V04Span {
            service: self.service.text(),
            name: self.name.text(),
            resource: self.resource.text(),
            trace_id: self.trace_id,
            span_id: self.span_id,
            parent_id: self.parent_id,
            start: self.start,
            duration: self.duration,
            error: self.error,
            meta: self
                .meta
                .iter()
                .map(|(k, v)| (k.text(), v.text()))
                .collect(),
            metrics: self.metrics.iter().map(|(k, v)| (k.text(), *v)).collect(),
            kind: self.kind.text(),
        }
    }
}

type Traces = Vec<Vec<Span>>;

fn traces(rng: &mut Rng, room: usize) -> Traces {
    let entropy = {
        let n = rng.between(16, (room / 4).clamp(64, 16 << 10));
        rng.bytes(n)
    };
    Traces::arbitrary(&mut Unstructured::new(&entropy)).unwrap_or_default()
}

fn v04(traces: &Traces) -> Vec<Vec<V04Span>> {
    traces
        .iter()
        .map(|t| t.iter().map(Span::v04).collect())
        .collect()
}

/// `n` empty span maps in one trace: one byte of body each (issue 13's amplification payload).
fn empty_maps(n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    write(
        &Mp::Array(vec![Mp::Array(vec![Mp::Map(Vec::new()); n])]),
        &mut out,
    );
    out
}

fn nested_arrays(depth: usize) -> Vec<u8> {
    let mut out = vec![0x91; depth];
    out.push(0x90);
    out
}

/// A header claiming four billion traces, then nothing.
const HUGE_CLAIM: &[u8] = &[0xdd, 0xff, 0xff, 0xff, 0xff, 0x90];

pub fn v04_msgpack_seeds() -> Vec<Vec<u8>> {
    vec![
        GOLDEN_V04.to_vec(),
        vec![0x90],
        Vec::new(),
        empty_maps(200_000),
        nested_arrays(10_000),
        HUGE_CLAIM.to_vec(),
        GOLDEN_V05.to_vec(),
    ]
}

pub fn generate_v04_msgpack(rng: &mut Rng, room: usize) -> Vec<u8> {
    let traces = traces(rng, room);
    let mut bytes = rmp_serde::to_vec_named(&v04(&traces)).expect("spans serialise");
    if rng.one_in(20) {
        bytes = empty_maps(rng.count(room));
    }
    bytes.truncate(room);
    bytes
}

pub fn v04_json_seeds() -> Vec<Vec<u8>> {
    let golden: serde_json::Value =
        rmp_serde::from_slice(GOLDEN_V04).expect("the golden v0.4 payload reads");
    let mut empty = b"[[".to_vec();
    empty.extend_from_slice(&vec!["{}"; 200_000].join(",").into_bytes());
    empty.extend_from_slice(b"]]");
    let mut deep = vec![b'['; 10_000];
    deep.extend(vec![b']'; 10_000]);
    vec![
        serde_json::to_vec(&golden).expect("a value serialises"),
        b"[]".to_vec(),
        empty,
        deep,
        br#"[[{"trace_id":18446744073709551616,"span_id":-1,"meta":{"a":1},"metrics":{"m":"x"}}]]"#
            .to_vec(),
    ]
}

pub fn generate_v04_json(rng: &mut Rng, room: usize) -> Vec<u8> {
    let traces = traces(rng, room);
    let mut bytes = serde_json::to_vec(&v04(&traces)).expect("spans serialise");
    bytes.truncate(room);
    bytes
}

/// One v0.5 span: string-table indexes where v0.4 has strings.
type V05Span = collector::synth::SpanV05;

fn v05(traces: &Traces, rng: &mut Rng) -> Vec<u8> {
    let mut strings: Vec<String> = vec![String::new()];
    let mut index = |text: &Text, rng: &mut Rng| -> u32 {
        if rng.one_in(50) {
            // Outside the table.
            return strings.len() as u32 + rng.below(3) as u32;
        }
        let text = text.text();
        match strings.iter().position(|s| *s == text) {
            Some(i) => i as u32,
            None => {
                strings.push(text);
                strings.len() as u32 - 1
            }
        }
    };
    let spans: Vec<Vec<V05Span>> = traces
        .iter()
        .map(|trace| {
            trace
                .iter()
                .map(|s| {
                    (
                        index(&s.service, rng),
                        index(&s.name, rng),
                        index(&s.resource, rng),
                        s.trace_id,
                        s.span_id,
                        s.parent_id,
                        s.start,
                        s.duration,
                        s.error,
                        s.meta
                            .iter()
                            .map(|(k, v)| (index(k, rng), index(v, rng)))
                            .collect(),
                        s.metrics.iter().map(|(k, v)| (index(k, rng), *v)).collect(),
                        index(&s.kind, rng),
                    )
                })
                .collect()
        })
        .collect();
    rmp_serde::to_vec(&(strings, spans)).expect("a v0.5 payload serialises")
}

pub fn v05_seeds() -> Vec<Vec<u8>> {
    let span = Mp::Array(vec![
        Mp::Int(0),
        Mp::Int(0),
        Mp::Int(0),
        Mp::Int(1),
        Mp::Int(2),
        Mp::Int(0),
        Mp::Int(0),
        Mp::Int(0),
        Mp::Int(0),
        Mp::Map(Vec::new()),
        Mp::Map(Vec::new()),
        Mp::Int(0),
    ]);
    let payload = |strings: Vec<Mp>, spans: Vec<Mp>| {
        let mut out = Vec::new();
        write(
            &Mp::Array(vec![Mp::Array(strings), Mp::Array(vec![Mp::Array(spans)])]),
            &mut out,
        );
        out
    };
    vec![
        GOLDEN_V05.to_vec(),
        Vec::new(),
        payload(vec![Mp::Str(Vec::new())], vec![span.clone(); 50_000]),
        payload(vec![Mp::Str(b"x".to_vec()); 100_000], vec![span]),
        payload(
            Vec::new(),
            vec![Mp::Array(vec![Mp::Int(u32::MAX.into()); 12])],
        ),
        [&[0x92][..], HUGE_CLAIM].concat(),
        nested_arrays(10_000),
    ]
}

pub fn generate_v05(rng: &mut Rng, room: usize) -> Vec<u8> {
    let traces = traces(rng, room);
    let mut bytes = v05(&traces, rng);
    bytes.truncate(room);
    bytes
}
