//! Memory is bounded by size as well as span count: the span limits cut what one span can carry (and say so
//! on the span), and the store evicts by bytes as well as by spans.

use std::time::Duration;

use collector::model::Value;
use collector::server::{CollectorOptions, RunningCollector};
use collector::store::Store;
use collector::testing::{Build as _, span};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message as _;

fn int(key: String, value: i64) -> KeyValue {
    KeyValue {
        key,
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(value)),
        }),
        ..Default::default()
    }
}

fn text(key: &str, value: String) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value)),
        }),
        ..Default::default()
    }
}

async fn get<T: serde::de::DeserializeOwned>(url: &str) -> T {
    let body = reqwest::get(url).await.unwrap().bytes().await.unwrap();
    serde_json::from_slice(&body).unwrap()
}

#[tokio::test]
async fn a_span_with_a_10_mib_value_and_200_000_attributes_is_cut_and_says_so() {
    let running = RunningCollector::start(&CollectorOptions {
        otlp_http: Some("127.0.0.1:0".parse().unwrap()),
        otlp_grpc: None,
        datadog: None,
        api: Some("127.0.0.1:0".parse().unwrap()),
        ..CollectorOptions::default()
    })
    .await
    .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut attributes = vec![text("blob", "é".repeat(5 << 20))];
    attributes.extend((0..200_000).map(|i| int(format!("k{i}"), i)));
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![text("service.name", "bloated".into())],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: vec![7; 16],
                    span_id: vec![1; 8],
                    name: "big".into(),
                    start_time_unix_nano: now - 1_000_000,
                    end_time_unix_nano: now,
                    attributes,
                    dropped_attributes_count: 3,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let body = request.encode_to_vec();
    assert!(body.len() < 16 << 20, "{} bytes", body.len());
    let client = reqwest::Client::new();
    let sent = client
        .post(format!("http://{}/v1/traces", running.otlp_http.unwrap()))
        .header("content-type", "application/x-protobuf")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200, "{:?}", sent.text().await);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while running.store.accounting().accepted < 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the span was not stored"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let api = format!("http://{}", running.api.unwrap());
    let trace: protocol::TraceView = get(&format!("{api}/api/traces/{}", "07".repeat(16))).await;
    let span = &trace.spans[0];
    assert_eq!(span.attributes.len(), 128);
    let blob = span.attributes["blob"].as_str().unwrap();
    assert!(blob.len() <= 32 * 1024, "{} bytes kept", blob.len());
    assert!(
        blob.starts_with("éé") && blob.ends_with('…'),
        "cut and marked"
    );
    assert_eq!(
        span.dropped,
        protocol::Dropped {
            attributes: 3 + 200_001 - 128,
            events: 0,
            links: 0
        },
        "the sender's own dropped attributes and the collector's"
    );
    let stats: protocol::Stats = get(&format!("{api}/api/stats")).await;
    assert_eq!(stats.limited_spans, 1);
    assert!(
        stats.stored_bytes < 64 * 1024,
        "the stored span holds {} bytes",
        stats.stored_bytes
    );
    running.stop().await.unwrap();
}

#[test]
fn the_store_evicts_the_oldest_traces_past_its_bytes_and_counts_every_span() {
    let store = Store::bounded(1_000_000, 4 << 20);
    for trace in 0..1000u64 {
        let spans = (0..3)
            .map(|i| {
                span(u128::from(trace) + 1, i + 1)
                    .service("statements")
                    .attr(
                        "db.query.text",
                        Value::Str(format!("{trace} {i} {}", "x".repeat(10_000)).into()),
                    )
                    .at(trace * 1000, trace * 1000 + 10)
            })
            .collect();
        store.insert(spans);
        let accounting = store.accounting();
        assert!(
            accounting.stored_bytes <= 4 << 20,
            "{} bytes stored after trace {trace}",
            accounting.stored_bytes
        );
        assert_eq!(accounting.accepted, accounting.stored + accounting.evicted);
    }
    let accounting = store.accounting();
    // 30 KB a trace: about 140 of them fit in 4 MiB.
    assert!(
        (100..200).contains(&accounting.stored_traces),
        "{accounting:?}"
    );
    assert!(
        store.trace(&collector::TraceId::from_u128(1000)).is_some(),
        "the newest is kept"
    );
    assert!(
        store.trace(&collector::TraceId::from_u128(1)).is_none(),
        "the oldest is evicted"
    );
}
