//! Synthetic, shop-like OTLP batches for benchmarks and load generation: traces of a storefront request calling
//! the ads and discounts services and their databases, every span with 10 attributes; log records as the
//! shop's services write them; browser (RUM) events. Only with the `fixtures` feature.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
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

/// A batch of about `records` log records (a multiple of three) of the shop's three services, numbered from
/// `seed`, as a service writes them: a line of text, four attributes, the trace and span it was written in;
/// one in ten an ERROR, the rest INFO.
pub fn log_batch(records: usize, seed: u64) -> ExportLogsServiceRequest {
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};

    let resource_logs = [
        "store-frontend",
        "advertisements-service",
        "discounts-service",
    ]
    .iter()
    .map(|service| ResourceLogs {
        resource: Some(Resource {
            attributes: vec![
                text("service.name", service),
                text("service.version", "1.0"),
            ],
            ..Default::default()
        }),
        scope_logs: vec![ScopeLogs {
            scope: Some(InstrumentationScope {
                name: "observability-lab-shop".to_owned(),
                ..Default::default()
            }),
            log_records: (0..(records as u64).div_ceil(3))
                .map(|i| {
                    let n = seed * 1_000 + i;
                    LogRecord {
                        time_unix_nano: 1_790_000_000_000_000_000 + n * 1_000_000,
                        severity_number: if n.is_multiple_of(10) { 17 } else { 9 },
                        severity_text: if n.is_multiple_of(10) {
                            "ERROR"
                        } else {
                            "INFO"
                        }
                        .to_owned(),
                        body: Some(AnyValue {
                            value: Some(any_value::Value::StringValue(format!(
                                "slow answer from /ads: {} ms (over 1000 ms), request {n}",
                                2500 + n % 7
                            ))),
                        }),
                        attributes: vec![
                            text("code.file.path", "services/storefront/src/upstream.rs"),
                            text("url.template", "/ads"),
                            text("order.id", &n.to_string()),
                            text("http.route", "/products/{slug}"),
                        ],
                        trace_id: (u128::from(n) << 64 | u128::from(n) | 1)
                            .to_be_bytes()
                            .to_vec(),
                        span_id: (n | 1).to_be_bytes().to_vec(),
                        ..Default::default()
                    }
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    })
    .collect();
    ExportLogsServiceRequest { resource_logs }
}

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

/// A batch of `events` browser events as Datadog's browser SDK sends them to its intake (newline-delimited
/// JSON with the SDK's usual fields, about 800 bytes an event): per page view, its view, document, four
/// assets, two calls with their trace ids, a click and, every fifth view, an error. Sessions, views and
/// trace ids are distinct per `seed`.
pub fn rum_batch(events: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(events * 900);
    let base = "http://127.0.0.1:3000";
    let pages = [
        "/",
        "/products/datadog-mug",
        "/products?keywords=mug",
        "/cart",
    ];
    for i in 0..events {
        let n = i as u64;
        let view_no = seed * 1_000_000 + n / 9;
        let page = pages[(view_no % 4) as usize];
        let date = 1_790_000_000_000 + seed * 1_000_000 + n * 10;
        let common = format!(
            r#""date":{date},"application":{{"id":"00000000-0000-4000-8000-00000000000b"}},"service":"store-frontend","version":"1.0","source":"browser","session":{{"id":"s-{seed}-{}","type":"user","has_replay":false}},"connectivity":{{"status":"connected","interfaces":["wifi"],"effective_type":"4g"}},"display":{{"viewport":{{"width":1280,"height":900}}}},"usr":{{"anonymous_id":"a-{seed}"}},"context":{{}},"ddtags":"sdk_version:7.16.0,env:lab,service:store-frontend,version:1.0""#,
            n / 90
        );
        let view =
            format!(r#""view":{{"id":"v-{view_no}","url":"{base}{page}","referrer":"{base}/"}}"#);
        let dd = |extra: &str| {
            format!(
                r#""_dd":{{"format_version":2,"drift":0,"configuration":{{"session_sample_rate":100,"session_replay_sample_rate":0}},"browser_sdk_version":"7.16.0"{extra}}}"#
            )
        };
        let event = match n % 9 {
            0 => format!(
                r#"{{"type":"view",{common},"view":{{"id":"v-{view_no}","url":"{base}{page}","loading_type":"initial_load","loading_time":{},"time_spent":4000000000,"first_contentful_paint":{},"largest_contentful_paint":{},"cumulative_layout_shift":0.01,"dom_complete":900000000,"dom_content_loaded":700000000,"load_event":950000000,"action":{{"count":1}},"error":{{"count":0}},"resource":{{"count":7}},"long_task":{{"count":0}},"is_active":false}},{}}}"#,
                900_000_000 + n * 1_000,
                600_000_000 + n * 1_000,
                850_000_000 + n * 1_000,
                dd(&format!(r#","document_version":{}"#, 1 + n % 3))
            ),
            1 => format!(
                r#"{{"type":"resource",{common},{view},"resource":{{"id":"r-{seed}-{n}","type":"document","url":"{base}{page}","status_code":200,"duration":850000000,"size":12000,"protocol":"http/1.1","delivery_type":"other","render_blocking_status":"non-blocking"}},{}}}"#,
                dd(&format!(
                    r#","trace_id":"{}","span_id":"1","rule_psr":1"#,
                    seed << 20 | n
                ))
            ),
            2..=5 => format!(
                r#"{{"type":"resource",{common},{view},"resource":{{"id":"r-{seed}-{n}","type":"image","url":"{base}/assets/products/datadog-mug-{n}.svg","status_code":200,"duration":3000000,"size":900,"protocol":"http/1.1","delivery_type":"other","render_blocking_status":"non-blocking"}},{}}}"#,
                dd("")
            ),
            6 | 7 => format!(
                r#"{{"type":"resource",{common},{view},"resource":{{"id":"r-{seed}-{n}","type":"xhr","method":"POST","url":"{base}/api/v2/storefront/cart/add_item","status_code":200,"duration":35000000,"size":300}},{}}}"#,
                dd(&format!(
                    r#","trace_id":"{}","span_id":"{n}","rule_psr":1"#,
                    seed << 20 | n
                ))
            ),
            _ if view_no.is_multiple_of(5) => format!(
                r#"{{"type":"error",{common},{view},"error":{{"id":"e-{seed}-{n}","source":"source","type":"TypeError","handling":"unhandled","message":"Cannot set properties of null (setting 'textContent')","stack":"TypeError: Cannot set properties of null (setting 'textContent')\n  at updateCartBadge @ {base}/assets/storefront.js:21:57\n  at xhr.onload @ {base}/assets/storefront.js:49:9","source_type":"browser"}},{}}}"#,
                dd("")
            ),
            _ => format!(
                r#"{{"type":"action",{common},{view},"action":{{"id":"a-{seed}-{n}","type":"click","target":{{"name":"Add to cart"}},"loading_time":60000000,"frustration":{{"type":[]}},"error":{{"count":0}},"resource":{{"count":1}},"long_task":{{"count":0}}}},{}}}"#,
                dd("")
            ),
        };
        out.extend_from_slice(event.as_bytes());
        out.push(b'\n');
    }
    out
}

/// The spans of `shop_batch(spans, seed)` as a Datadog tracer would send them to the Agent API's
/// `/v0.4/traces`, in msgpack: mapped as the collector's Datadog exporter maps OpenTelemetry spans, grouped by
/// trace.
pub fn datadog_v04(spans: usize, seed: u64) -> Vec<u8> {
    let model = crate::otlp::from_request(&shop_batch(spans, seed), &crate::model::Interner::new());
    let traces = crate::export::datadog::to_traces(&model.spans);
    rmp_serde::to_vec_named(&traces).expect("Datadog spans encode")
}

/// A v0.5 span as it is serialised: indexes into the payload's string table for its texts, in the Agent API's
/// order (service, name, resource, trace id, span id, parent id, start, duration, error, meta, metrics, type);
/// the maps are ordered by index unless a test writes them otherwise.
pub type SpanV05<
    Meta = std::collections::BTreeMap<u32, u32>,
    Metrics = std::collections::BTreeMap<u32, f64>,
> = (
    u32,
    u32,
    u32,
    u64,
    u64,
    u64,
    i64,
    i64,
    i32,
    Meta,
    Metrics,
    u32,
);

/// The same spans as [`datadog_v04`], as the Agent API's `/v0.5/traces` carries them: one string table for the
/// payload (its first entry the empty string), then the traces, each span an array of twelve.
pub fn datadog_v05(spans: usize, seed: u64) -> Vec<u8> {
    let model = crate::otlp::from_request(&shop_batch(spans, seed), &crate::model::Interner::new());
    let mut table: Vec<String> = vec![String::new()];
    let mut index = rustc_hash::FxHashMap::<String, u32>::default();
    let mut string = |s: &str| -> u32 {
        if s.is_empty() {
            return 0;
        }
        *index.entry(s.to_owned()).or_insert_with(|| {
            table.push(s.to_owned());
            (table.len() - 1) as u32
        })
    };
    let traces: Vec<Vec<SpanV05>> = crate::export::datadog::to_traces(&model.spans)
        .into_iter()
        .map(|trace| {
            (trace.iter())
                .map(|dd| {
                    (
                        string(&dd.service),
                        string(&dd.name),
                        string(&dd.resource),
                        dd.trace_id,
                        dd.span_id,
                        dd.parent_id,
                        dd.start,
                        dd.duration,
                        dd.error,
                        (dd.meta.iter())
                            .map(|(k, v)| (string(k), string(v)))
                            .collect(),
                        (dd.metrics.iter()).map(|(k, v)| (string(k), *v)).collect(),
                        string(&dd.span_type),
                    )
                })
                .collect()
        })
        .collect();
    rmp_serde::to_vec(&(table, traces)).expect("Datadog spans encode")
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

    /// The Datadog payloads carry the OTLP batch's spans, every one taken by the collector's own decoders.
    #[test]
    fn datadog_payloads_hold_the_shop_batch_spans() {
        let interner = Interner::new();
        let v04 = crate::datadog::decode_v04_msgpack(&datadog_v04(512, 7), &interner).unwrap();
        let v05 = crate::datadog::decode_v05(&datadog_v05(512, 7), &interner).unwrap();
        for decoded in [&v04, &v05] {
            assert_eq!((decoded.spans.len(), decoded.rejected), (512, 0));
        }
        assert_eq!(format!("{:?}", v04.spans), format!("{:?}", v05.spans));
        let otlp = crate::otlp::from_request(&shop_batch(512, 7), &interner);
        let services = |spans: &[crate::model::Span]| {
            let mut names: Vec<String> =
                spans.iter().map(|s| s.service_name().to_owned()).collect();
            names.sort();
            names
        };
        assert_eq!(services(&v04.spans), services(&otlp.spans));
        let ids = |spans: &[crate::model::Span]| {
            let mut ids: Vec<u64> = spans.iter().map(|s| s.span_id.to_u64()).collect();
            ids.sort();
            ids
        };
        assert_eq!(ids(&v04.spans), ids(&otlp.spans));
    }
}

#[cfg(test)]
mod rum_tests {
    #[test]
    fn a_synthetic_rum_batch_is_read_whole() {
        let store = crate::rum::RumStore::default();
        let batch = super::rum_batch(900, 7);
        let taken = store.take(&batch);
        assert_eq!(
            (taken.accepted, taken.rejected, taken.ignored),
            (900, 0, 0),
            "{taken:?}"
        );
        assert!(
            (600..1200).contains(&(batch.len() / 900)),
            "{} bytes an event",
            batch.len() / 900
        );
    }
}
