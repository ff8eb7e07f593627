//! Synthetic, shop-like OTLP batches for benchmarks and load generation: traces of a storefront request calling
//! the ads and discounts services and their databases, every span with 10 attributes. Only with the `fixtures`
//! feature.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

const SERVICES: [&str; 3] = [
    "store-frontend",
    "advertisements-service",
    "discounts-service",
];
const ROUTES: [&str; 6] = [
    "/",
    "/products/{slug}",
    "/t/{permalink}",
    "/cart",
    "/ads",
    "/discount",
];
const QUERIES: [&str; 4] = [
    "SELECT id, name, code, value, discount_type_id FROM discount ORDER BY id",
    "SELECT id, name, discount_query, influencer_id FROM discount_type WHERE id = $1",
    "SELECT id, name FROM influencer WHERE id = $1",
    "SELECT p.id, p.name, p.slug FROM product p WHERE p.slug = $1",
];

/// A string attribute of OTLP's own types.
pub fn text(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..Default::default()
    }
}

fn int(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(value)),
        }),
        ..Default::default()
    }
}

/// SplitMix64, so batches are the same on every run.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// One request of `spans` spans (grouped 8 to a trace, one resource per service), unique ids from `seed`.
pub fn shop_batch(spans: usize, seed: u64) -> ExportTraceServiceRequest {
    let mut state = seed;
    let mut per_service: [Vec<Span>; 3] = Default::default();
    let base_ns = 1_790_000_000_000_000_000u64 + (seed % 1_000_000) * 1_000_000_000;
    let mut trace_id = [0u8; 16];
    let mut root_id = [0u8; 8];
    for i in 0..spans {
        let in_trace = i % 8;
        if in_trace == 0 {
            trace_id[..8].copy_from_slice(&next(&mut state).to_be_bytes());
            trace_id[8..].copy_from_slice(&next(&mut state).to_be_bytes());
        }
        let span_id = next(&mut state).to_be_bytes();
        let service = if in_trace == 0 { 0 } else { 1 + (in_trace % 2) };
        let start = base_ns + (i as u64) * 1_000_000 + next(&mut state) % 1000;
        let duration = 100_000 + next(&mut state) % 5_000_000;
        let route = ROUTES[(next(&mut state) % ROUTES.len() as u64) as usize];
        let is_db = in_trace >= 2;
        let attributes = if is_db {
            vec![
                text("db.system.name", "sqlite"),
                text(
                    "db.query.text",
                    QUERIES[(next(&mut state) % QUERIES.len() as u64) as usize],
                ),
                text("db.operation.name", "SELECT"),
                text("db.collection.name", "discount_type"),
                text("server.address", "localhost"),
                int("db.response.returned_rows", (next(&mut state) % 100) as i64),
                text("code.function.name", "load_lazily"),
                text("code.file.path", "services/discounts/src/discounts.rs"),
                int("code.line.number", 59),
                text("thread.name", "tokio-runtime-worker"),
            ]
        } else {
            vec![
                text("http.request.method", "GET"),
                text("http.route", route),
                text("url.path", route),
                text("url.scheme", "http"),
                int(
                    "http.response.status_code",
                    if next(&mut state).is_multiple_of(20) {
                        500
                    } else {
                        200
                    },
                ),
                text("server.address", "127.0.0.1"),
                int("server.port", 3000),
                text("network.protocol.version", "1.1"),
                text(
                    "user_agent.original",
                    "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0",
                ),
                text("client.address", "127.0.0.1"),
            ]
        };
        per_service[service].push(Span {
            trace_id: trace_id.to_vec(),
            span_id: span_id.to_vec(),
            parent_span_id: if in_trace == 0 {
                Vec::new()
            } else {
                root_id.to_vec()
            },
            name: if is_db {
                "SELECT discount_type".to_owned()
            } else {
                format!("GET {route}")
            },
            kind: if in_trace == 0 { 2 } else { 3 },
            start_time_unix_nano: start,
            end_time_unix_nano: start + duration,
            attributes,
            status: Some(Status::default()),
            ..Default::default()
        });
        if in_trace == 0 {
            root_id = span_id;
        }
    }
    ExportTraceServiceRequest {
        resource_spans: per_service
            .into_iter()
            .zip(SERVICES)
            .filter(|(spans, _)| !spans.is_empty())
            .map(|(spans, service)| ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![
                        text("service.name", service),
                        text("service.version", "1.0"),
                        text("deployment.environment.name", "lab"),
                    ],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "lab".to_owned(),
                        version: "0.1.0".to_owned(),
                        ..Default::default()
                    }),
                    spans,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;
    use crate::model::Interner;

    #[test]
    fn batches_are_deterministic_valid_and_shop_like() {
        let batch = shop_batch(512, 7);
        assert_eq!(batch, shop_batch(512, 7));
        let converted = crate::otlp::from_request(&batch, &Interner::new());
        assert_eq!((converted.spans.len(), converted.rejected), (512, 0));
        assert!(converted.spans.iter().all(|s| s.attributes.len() == 10));
        let bytes = batch.encode_to_vec().len();
        assert!(
            (300 * 512..700 * 512).contains(&bytes),
            "about 480 bytes a span, not {}",
            bytes / 512
        );
    }
}
