use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{self as pb, any_value};
use opentelemetry_proto::tonic::trace::v1 as tr;
use proptest::prelude::*;
use prost::Message as _;

use super::*;
use crate::otlp;

/// A request of one span with one attribute whose `AnyValue` is `value` as raw bytes.
fn with_value(value: &[u8]) -> Vec<u8> {
    fn field(out: &mut Vec<u8>, number: u64, bytes: &[u8]) {
        prost::encoding::encode_varint(number << 3 | 2, out);
        prost::encoding::encode_varint(bytes.len() as u64, out);
        out.extend_from_slice(bytes);
    }
    let mut key_value = Vec::new();
    field(&mut key_value, 1, b"k");
    field(&mut key_value, 2, value);
    let mut span = tr::Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        name: "op".into(),
        ..Default::default()
    }
    .encode_to_vec();
    field(&mut span, 9, &key_value);
    let mut scope_spans = Vec::new();
    field(&mut scope_spans, 2, &span);
    let mut resource_spans = Vec::new();
    field(&mut resource_spans, 2, &scope_spans);
    let mut request = Vec::new();
    field(&mut request, 1, &resource_spans);
    request
}

/// An `AnyValue` whose list member (`array_value`, or `kvlist_value`) is repeated `n` times, one item each:
/// protobuf merges the repeats into one list of `n` items.
pub(crate) fn repeated_list(n: usize, kvlist: bool) -> Vec<u8> {
    let one = pb::AnyValue {
        value: Some(any_value::Value::IntValue(1)),
    };
    let (number, member) = if kvlist {
        let list = pb::KeyValueList {
            values: vec![pb::KeyValue {
                key: "i".into(),
                value: Some(one),
                ..Default::default()
            }],
        };
        (6, list.encode_to_vec())
    } else {
        (5, pb::ArrayValue { values: vec![one] }.encode_to_vec())
    };
    let mut value = Vec::new();
    for _ in 0..n {
        prost::encoding::encode_varint(number << 3 | 2, &mut value);
        prost::encoding::encode_varint(member.len() as u64, &mut value);
        value.extend_from_slice(&member);
    }
    with_value(&value)
}

#[test]
fn repeated_list_members_merge_as_prost_does_in_linear_time() {
    for kvlist in [false, true] {
        check(&repeated_list(1_000, kvlist));
        // About 1.2 MB (kvlist: 1.8 MB) of repeats: copying the list at each repeat, as the decoder once did,
        // takes 200,000²/2 item copies (hours); merging in place takes milliseconds, even in a debug build.
        let body = repeated_list(200_000, kvlist);
        let started = std::time::Instant::now();
        let decoded = decode(&body, &Interner::new()).unwrap();
        let took = started.elapsed();
        let items = match &decoded.spans[0].attributes[0].value {
            Value::Array(items) => items.len(),
            Value::Map(entries) => entries.len(),
            other => panic!("{other:?}"),
        };
        assert_eq!(items, 200_000);
        assert!(took.as_secs() < 10, "{} bytes took {took:?}", body.len());
    }
}

/// The prost path and this decoder give the same answer: both errors, or the same spans and rejections.
fn check(bytes: &[u8]) {
    let interner = Interner::new();
    let slow = otlp::decode_protobuf(bytes).map(|request| otlp::from_request(&request, &interner));
    let fast = decode(bytes, &interner);
    match (slow, fast) {
        (Ok(slow), Ok(fast)) => {
            assert_eq!(format!("{:?}", fast.spans), format!("{:?}", slow.spans));
            assert_eq!((fast.rejected, &fast.error), (slow.rejected, &slow.error));
        }
        (Err(_), Err(_)) => {}
        (slow, fast) => panic!(
            "prost: {:?}\nwire: {:?}",
            slow.map(|c| c.spans.len()),
            fast.map(|c| c.spans.len())
        ),
    }
}

#[test]
fn the_golden_request_decodes_as_prost_decodes_it() {
    let request = otlp::decode_json(include_bytes!("../../testdata/otlp-trace.json")).unwrap();
    check(&request.encode_to_vec());
    let converted = decode(&request.encode_to_vec(), &Interner::new()).unwrap();
    assert_eq!(converted.spans.len(), 2);
}

#[test]
fn shop_batches_decode_as_prost_decodes_them() {
    for seed in 0..20 {
        check(&crate::synth::shop_batch(64, seed).encode_to_vec());
    }
}

#[test]
fn truncated_and_corrupted_batches_fail_or_agree() {
    let bytes = crate::synth::shop_batch(8, 3).encode_to_vec();
    for cut in 0..bytes.len() {
        check(&bytes[..cut]);
    }
    let mut state = 1u64;
    for _ in 0..3000 {
        let mut corrupted = bytes.clone();
        for _ in 0..3 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let at = (state >> 33) as usize % corrupted.len();
            corrupted[at] = (state >> 17) as u8;
        }
        check(&corrupted);
    }
}

/// Found by the fuzz harness (`fuzz/`, target `otlp-proto`): fields the decoder does not keep (schema URLs,
/// dropped counts, entity references) are still checked for wire type and UTF-8, as prost checks them.
#[test]
fn fields_that_are_not_kept_are_checked_as_prost_checks_them() {
    fn len(number: u64, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        prost::encoding::encode_varint(number << 3 | 2, &mut out);
        prost::encoding::encode_varint(payload.len() as u64, &mut out);
        out.extend_from_slice(payload);
        out
    }
    let request = |resource_spans: &[u8]| len(1, resource_spans);
    let not_utf8 = [0xff, 0xfe];
    let cases = [
        // ResourceSpans.schema_url: a fixed64, then not UTF-8.
        request(&[0x19, 0, 0, 0, 0, 0, 0, 0, 0]),
        request(&len(3, &not_utf8)),
        // Resource.dropped_attributes_count as bytes; Resource.entity_refs as a varint, then with a key that
        // is not UTF-8.
        request(&len(1, &len(2, b""))),
        request(&len(1, &[0x18, 0x01])),
        request(&len(1, &len(3, &len(3, &not_utf8)))),
        // ScopeSpans.schema_url not UTF-8; InstrumentationScope.dropped_attributes_count as bytes.
        request(&len(2, &len(3, &not_utf8))),
        request(&len(2, &len(1, &len(4, b"")))),
    ];
    for case in cases {
        assert!(otlp::decode_protobuf(&case).is_err(), "{case:?}");
        check(&case);
    }
    // A key past 32 bits, whatever field number it gives.
    let mut wide_key = Vec::new();
    prost::encoding::encode_varint(14_227_079_168, &mut wide_key);
    wide_key.push(0);
    assert!(otlp::decode_protobuf(&wide_key).is_err());
    check(&wide_key);
    // The same fields, well formed, are accepted and ignored.
    let mut entity = len(1, b"https://schema");
    entity.extend(len(3, b"service.name"));
    let mut resource = len(3, &entity);
    resource.extend([0x10, 0x02]);
    let mut resource_spans = len(1, &resource);
    resource_spans.extend(len(3, b"https://schema"));
    let fine = request(&resource_spans);
    assert!(decode(&fine, &Interner::new()).is_ok());
    check(&fine);
}

fn any_value_strategy() -> impl Strategy<Value = pb::AnyValue> {
    let leaf = prop_oneof![
        "[a-z ]{0,12}".prop_map(any_value::Value::StringValue),
        "[a-z]{129,140}".prop_map(any_value::Value::StringValue),
        any::<bool>().prop_map(any_value::Value::BoolValue),
        any::<i64>().prop_map(any_value::Value::IntValue),
        (-1e9f64..1e9).prop_map(any_value::Value::DoubleValue),
        prop::collection::vec(any::<u8>(), 0..6).prop_map(any_value::Value::BytesValue),
        any::<i32>().prop_map(any_value::Value::StringValueStrindex),
    ]
    .prop_map(|v| pb::AnyValue { value: Some(v) });
    let leaf = prop_oneof![leaf, Just(pb::AnyValue { value: None })];
    leaf.prop_recursive(3, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|values| pb::AnyValue {
                value: Some(any_value::Value::ArrayValue(pb::ArrayValue { values })),
            }),
            prop::collection::vec(("[a-c]{1,3}", prop::option::of(inner)), 0..4).prop_map(|kvs| {
                pb::AnyValue {
                    value: Some(any_value::Value::KvlistValue(pb::KeyValueList {
                        values: kvs
                            .into_iter()
                            .map(|(key, value)| pb::KeyValue {
                                key,
                                value,
                                ..Default::default()
                            })
                            .collect(),
                    })),
                }
            }),
        ]
    })
}

fn attributes_strategy() -> impl Strategy<Value = Vec<pb::KeyValue>> {
    prop::collection::vec(
        ("[a-z.]{1,8}", prop::option::of(any_value_strategy())),
        0..5,
    )
    .prop_map(|kvs| {
        kvs.into_iter()
            .map(|(key, value)| pb::KeyValue {
                key,
                value,
                ..Default::default()
            })
            .collect()
    })
}

fn id(len: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => prop::collection::vec(any::<u8>(), len..=len),
        1 => prop::collection::vec(any::<u8>(), 0..20),
        1 => Just(vec![0; len]),
    ]
}

fn span_strategy() -> impl Strategy<Value = tr::Span> {
    (
        (id(16), id(8), prop_oneof![Just(Vec::new()), id(8)]),
        ("[A-Za-z /]{0,16}", 0i32..7, any::<u64>(), any::<u64>()),
        attributes_strategy(),
        prop::collection::vec((any::<u64>(), "[a-z]{0,8}", attributes_strategy()), 0..3),
        prop::collection::vec((id(16), id(8), attributes_strategy()), 0..2),
        prop::option::of((0i32..4, "[a-z ]{0,10}")),
    )
        .prop_map(
            |(
                (trace_id, span_id, parent_span_id),
                (name, kind, start, end),
                attributes,
                events,
                links,
                status,
            )| {
                tr::Span {
                    trace_id,
                    span_id,
                    parent_span_id,
                    name,
                    kind,
                    start_time_unix_nano: start,
                    end_time_unix_nano: end,
                    attributes,
                    events: events
                        .into_iter()
                        .map(|(time_unix_nano, name, attributes)| tr::span::Event {
                            time_unix_nano,
                            name,
                            attributes,
                            dropped_attributes_count: 0,
                        })
                        .collect(),
                    links: links
                        .into_iter()
                        .map(|(trace_id, span_id, attributes)| tr::span::Link {
                            trace_id,
                            span_id,
                            attributes,
                            ..Default::default()
                        })
                        .collect(),
                    status: status.map(|(code, message)| tr::Status { code, message }),
                    ..Default::default()
                }
            },
        )
}

fn request_strategy() -> impl Strategy<Value = ExportTraceServiceRequest> {
    let scope_spans = (
        prop::option::of(("[a-z]{0,6}", "[0-9.]{0,4}")),
        prop::collection::vec(span_strategy(), 0..4),
    )
        .prop_map(|(scope, spans)| tr::ScopeSpans {
            scope: scope.map(|(name, version)| pb::InstrumentationScope {
                name,
                version,
                ..Default::default()
            }),
            spans,
            schema_url: String::new(),
        });
    let resource_spans = (
        prop::option::of(attributes_strategy()),
        prop::collection::vec(scope_spans, 0..3),
    )
        .prop_map(|(resource, scope_spans)| tr::ResourceSpans {
            resource: resource.map(|attributes| {
                opentelemetry_proto::tonic::resource::v1::Resource {
                    attributes,
                    ..Default::default()
                }
            }),
            scope_spans,
            schema_url: String::new(),
        });
    prop::collection::vec(resource_spans, 0..3)
        .prop_map(|resource_spans| ExportTraceServiceRequest { resource_spans })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_requests_decode_as_prost_decodes_them(request in request_strategy()) {
        check(&request.encode_to_vec());
    }
}
