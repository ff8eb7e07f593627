use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{self as pb, any_value};
use opentelemetry_proto::tonic::trace::v1 as tr;
use proptest::prelude::*;
use prost::Message as _;

use super::*;
use crate::ingest::Batch;
use crate::otlp;
use crate::staged::Staged;
use crate::store::Store;

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

/// The prost path, this decoder and the decoder into the store's form give the same answer: all errors, or the
/// same spans and rejections; and a staged batch is stored as the same spans would be.
fn check(bytes: &[u8]) {
    let interner = Interner::new();
    let slow = otlp::decode_protobuf(bytes).map(|request| otlp::from_request(&request, &interner));
    let fast = decode(bytes, &interner);
    let staged = decode_for_store(bytes, &interner);
    match (slow, fast, staged) {
        (Ok(slow), Ok(fast), Ok(staged)) => {
            assert_eq!(format!("{:?}", fast.spans), format!("{:?}", slow.spans));
            assert_eq!((fast.rejected, &fast.error), (slow.rejected, &slow.error));
            assert_eq!(
                (staged.rejected, &staged.error),
                (slow.rejected, &slow.error)
            );
            match staged.batch {
                Batch::Spans(spans) => {
                    assert_eq!(format!("{spans:?}"), format!("{:?}", slow.spans));
                }
                Batch::Staged(staged) => {
                    assert_eq!(
                        format!("{:?}", staged.to_spans()),
                        format!("{:?}", slow.spans)
                    );
                    stored_alike(*staged, slow.spans);
                }
            }
        }
        (Err(_), Err(_), Err(_)) => {}
        (slow, fast, staged) => panic!(
            "prost: {:?}\nwire: {:?}\nstaged: {:?}",
            slow.map(|c| c.spans.len()),
            fast.map(|c| c.spans.len()),
            staged.map(|d| d.batch.len())
        ),
    }
}

/// A staged batch and the same spans as model spans make stores that hold the same traces.
pub(crate) fn stored_alike(staged: Staged, spans: Vec<Span>) {
    let (from_staged, from_spans) = (Store::new(100_000), Store::new(100_000));
    let inserted = from_staged.insert_staged(staged);
    assert_eq!(inserted, from_spans.insert(spans));
    // The tables' weights may differ a little: a staged batch shares what the model path copies (a status
    // message, a long value), and keeps the strings of spans it rejected.
    let accounting = |store: &Store| crate::store::Accounting {
        stored_bytes: 0,
        ..store.accounting()
    };
    assert_eq!(accounting(&from_staged), accounting(&from_spans));
    let (a, b) = (from_staged.snapshot(), from_spans.snapshot());
    assert_eq!(a.len(), b.len());
    for (a, b) in a.iter().zip(&b) {
        assert_eq!(format!("{:?}", a.to_vec()), format!("{:?}", b.to_vec()));
        assert_eq!(
            (
                a.id(),
                a.start_ns(),
                a.end_ns(),
                a.services(),
                a.root_summary()
            ),
            (
                b.id(),
                b.start_ns(),
                b.end_ns(),
                b.services(),
                b.root_summary()
            )
        );
        assert_eq!(
            (a.error_count(), a.entries()),
            (b.error_count(), b.entries())
        );
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

fn staged(bytes: &[u8]) -> Option<Staged> {
    match decode_for_store(bytes, &Interner::new()).unwrap().batch {
        Batch::Staged(staged) => Some(*staged),
        Batch::Spans(_) => None,
    }
}

#[test]
fn shop_batches_go_straight_into_the_stores_form_and_share_their_attributes() {
    let staged = staged(&crate::synth::shop_batch(512, 5).encode_to_vec())
        .expect("a shop batch is within the span limits");
    assert_eq!(staged.len(), 512);
    // Ten attributes a span, but far fewer distinct ones: each is read once a batch.
    let attributes: usize = staged.views().iter().map(|v| v.attributes().count()).sum();
    assert!(attributes >= 512 * 5, "{attributes} attributes");
    assert!(
        staged.parts.others.is_empty(),
        "shop attributes are scalars"
    );
}

#[test]
fn a_batch_over_the_span_limits_is_left_to_the_model_path() {
    let limits = crate::limits::SpanLimits::default();
    let mut request = crate::synth::shop_batch(4, 9);
    let mut over = request.clone();
    over.resource_spans[0].scope_spans[0].spans[0]
        .attributes
        .extend((0..=limits.attributes).map(|i| pb::KeyValue {
            key: format!("k{i}"),
            value: Some(pb::AnyValue {
                value: Some(any_value::Value::IntValue(i as i64)),
            }),
            ..Default::default()
        }));
    assert!(
        staged(&over.encode_to_vec()).is_none(),
        "too many attributes"
    );
    check(&over.encode_to_vec());
    request.resource_spans[0].scope_spans[0].spans[0].name = "n".repeat(limits.value_bytes + 1);
    assert!(
        staged(&request.encode_to_vec()).is_none(),
        "a name too long"
    );
    check(&request.encode_to_vec());
    // Cut by the ingest queue as any model batch is.
    let ingest_store = Store::new(100);
    let (ingest, writer) = crate::ingest::Ingest::new(ingest_store.clone(), 4, None).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let decoded = decode_for_store(&request.encode_to_vec(), ingest.interner()).unwrap();
        ingest.submit_batch(decoded.batch).unwrap();
        drop(ingest);
        writer.run().await.unwrap();
    });
    assert_eq!(ingest_store.accounting().limited_spans, 1);
    assert_eq!(ingest_store.len(), 4);
}

#[test]
fn the_analyses_read_a_staged_batch_as_they_read_its_spans() {
    use crate::analysis::{Analysis, Sort, Window};
    let (from_views, from_spans) = (Analysis::default(), Analysis::default());
    let (store_a, store_b) = (Store::new(100_000), Store::new(100_000));
    for seed in 0..8 {
        let bytes = crate::synth::shop_batch(256, seed).encode_to_vec();
        let staged = staged(&bytes).unwrap();
        let spans = staged.to_spans();
        from_views.observe(&staged.views());
        store_a.insert_staged(staged);
        from_spans.observe(&spans);
        store_b.insert(spans);
    }
    from_views.flush(&store_a);
    from_spans.flush(&store_b);
    let services = |a: &Analysis| format!("{:?}", a.services(Window::All, Sort::Name));
    assert_eq!(services(&from_views), services(&from_spans));
    assert!(services(&from_views).contains("store-frontend"));
    assert_eq!(
        format!("{:?}", from_views.map(Window::All)),
        format!("{:?}", from_spans.map(Window::All))
    );
    assert_eq!(
        format!("{:?}", from_views.errors()),
        format!("{:?}", from_spans.errors())
    );
    assert_eq!(
        format!("{:?}", from_views.n_plus_one()),
        format!("{:?}", from_spans.n_plus_one())
    );
}
