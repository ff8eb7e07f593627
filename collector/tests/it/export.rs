//! The exporters against real receivers: a collector exporting over OTLP/HTTP and over the Datadog Agent API to
//! a second collector on loopback (the same code `lab collect` runs), which must hold the same spans; and a
//! local stub backend scripted with the failures the OTLP specification names (503 with `Retry-After`, 429,
//! 400, partial success, then gone), against which the exporter must retry, give up and drop exactly as the
//! specification says, every span counted, while the collector's own store and API carry on.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use collector::Span;
use collector::export::datadog::DatadogTarget;
use collector::export::otlp::OtlpTarget;
use collector::export::{ExportOptions, Retry};
use collector::model::{SpanId, TraceId};
use collector::server::{CollectorOptions, RunningCollector};
use collector::store::Store;
use collector::testing::{Build as _, span};
use collector::workshop::{Workshop, generate};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use parking_lot::Mutex;
use prost::Message as _;
use protocol::ExportStats;

const LOCAL: &str = "127.0.0.1:0";

/// A collector on loopback ports of its own, with only the receivers a test names.
async fn collector(
    otlp_http: bool,
    datadog: bool,
    api: bool,
    export: ExportOptions,
) -> RunningCollector {
    let local = |on: bool| on.then(|| LOCAL.parse().unwrap());
    RunningCollector::start(&CollectorOptions {
        otlp_http: local(otlp_http),
        otlp_grpc: None,
        datadog: local(datadog),
        api: local(api),
        export,
        ..CollectorOptions::default()
    })
    .await
    .unwrap()
}

/// OTLP export to `addr`, with `headers`.
fn otlp_to(addr: SocketAddr, headers: &[(&str, &str)]) -> ExportOptions {
    ExportOptions {
        otlp: Some(OtlpTarget {
            endpoint: format!("http://{addr}"),
            headers: (headers.iter())
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }),
        ..ExportOptions::default()
    }
}

fn spans_by_id(store: &Store) -> BTreeMap<(TraceId, SpanId), Span> {
    let mut spans = BTreeMap::new();
    for trace in store.snapshot() {
        for span in trace.spans() {
            spans.insert((span.trace_id, span.span_id), span);
        }
    }
    spans
}

/// Waits until the exporter has nothing queued or in flight and has been offered `offered` spans.
async fn settled(running: &RunningCollector, offered: u64) -> ExportStats {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let stats = running.exports.stats().remove(0);
        if stats.offered >= offered && stats.queued == 0 && stats.in_flight == 0 {
            return stats;
        }
        assert!(
            Instant::now() < deadline,
            "the exporter never settled: {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every span offered is in exactly one of the exporter's counts.
pub(super) fn assert_accounted(stats: &ExportStats) {
    assert_eq!(
        stats.offered,
        stats.queued + stats.in_flight + stats.sent + stats.rejected + stats.failed + stats.dropped,
        "{stats:?}"
    );
}

async fn post(url: String, content_type: &str, body: Vec<u8>) -> reqwest::StatusCode {
    reqwest::Client::new()
        .post(url)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn otlp_export_reaches_a_second_collector_with_the_same_spans() {
    let second = collector(true, false, false, ExportOptions::default()).await;
    let first = collector(
        true,
        true,
        false,
        otlp_to(second.otlp_http.unwrap(), &[("x-class", "a")]),
    )
    .await;
    // From every way in: in-process (the workshop's traces, errors and events included), OTLP/HTTP and the
    // Datadog agent API.
    first
        .ingest
        .submit(generate(Workshop::Broken, 8, 1_790_000_000_000_000_000))
        .unwrap();
    let body = collector::synth::shop_batch(64, 7).encode_to_vec();
    let url = format!("http://{}/v1/traces", first.otlp_http.unwrap());
    assert!(post(url, "application/x-protobuf", body).await.is_success());
    let dd = serde_json::json!([[{"service": "checkout", "name": "flask.request", "resource": "GET /pay",
        "trace_id": 5u64, "span_id": 6u64, "parent_id": 0, "start": 1_000i64, "duration": 9i64,
        "meta": {"env": "lab"}}]]);
    let url = format!("http://{}/v0.4/traces", first.datadog.unwrap());
    assert!(
        post(url, "application/json", dd.to_string().into_bytes())
            .await
            .is_success()
    );

    let deadline = Instant::now() + Duration::from_secs(10);
    while first.store.accounting().accepted < 8 * 16 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let accepted = first.store.accounting().accepted;
    let stats = settled(&first, accepted).await;
    assert_eq!(
        (stats.sent, stats.failed, stats.dropped, stats.rejected),
        (accepted, 0, 0, 0)
    );
    assert_accounted(&stats);
    assert_eq!(
        stats.endpoint,
        format!("http://{}/v1/traces", second.otlp_http.unwrap())
    );

    let deadline = Instant::now() + Duration::from_secs(10);
    while second.store.accounting().accepted < accepted {
        assert!(
            Instant::now() < deadline,
            "the second collector got {} of {accepted}",
            second.store.accounting().accepted
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        second.store.accounting().accepted,
        accepted,
        "counted equal on both sides"
    );
    let (sent, got) = (spans_by_id(&first.store), spans_by_id(&second.store));
    assert_eq!(sent.len() as u64, accepted);
    assert_eq!(
        sent.keys().collect::<Vec<_>>(),
        got.keys().collect::<Vec<_>>()
    );
    for (id, span) in &sent {
        assert_eq!(
            span, &got[id],
            "the same span: ids, name, attributes, events, resource"
        );
    }
    assert!(
        sent.values()
            .any(|s| s.events.iter().any(|e| &*e.name == "exception"))
    );
    second.stop().await.unwrap();
    first.stop().await.unwrap();
}

#[tokio::test]
async fn datadog_export_reaches_the_labs_own_datadog_receiver() {
    let second = collector(false, true, false, ExportOptions::default()).await;
    let first = collector(
        false,
        true,
        false,
        ExportOptions {
            datadog: Some(DatadogTarget {
                url: format!("http://{}", second.datadog.unwrap()),
            }),
            ..ExportOptions::default()
        },
    )
    .await;
    // OpenTelemetry spans (the workshop's, 128-bit trace ids) and a Datadog tracer's.
    let workshop = generate(Workshop::Broken, 5, 1_790_000_000_000_000_000);
    // The fixture's first trace id has a zero low half, which Datadog cannot carry: counted as failed.
    let zero = workshop
        .iter()
        .filter(|s| s.trace_id.to_u128() as u64 == 0)
        .count() as u64;
    assert!(zero > 0);
    let otel = workshop.len() as u64;
    first.ingest.submit(workshop).unwrap();
    let dd = serde_json::json!([[
        {"service": "checkout", "name": "flask.request", "resource": "GET /pay", "type": "web",
         "trace_id": 5u64, "span_id": 6u64, "parent_id": 0, "start": 1_000i64, "duration": 90i64, "error": 1,
         "meta": {"env": "lab", "version": "2", "error.type": "KeyError", "error.message": "no card",
                  "error.stack": "pay.py:3", "_dd.p.tid": "00000000000000ff", "http.status_code": "500"},
         "metrics": {"_sampling_priority_v1": 1.0, "_top_level": 1.0, "ratio": 0.25}},
        {"service": "checkout", "name": "postgres.query", "resource": "SELECT 1", "type": "sql",
         "trace_id": 5u64, "span_id": 7u64, "parent_id": 6u64, "start": 1_010i64, "duration": 5i64,
         "meta": {"env": "lab", "db.type": "postgres"}}
    ]]);
    let url = format!("http://{}/v0.4/traces", first.datadog.unwrap());
    assert!(
        post(url, "application/json", dd.to_string().into_bytes())
            .await
            .is_success()
    );
    let accepted = otel + 2;
    let stats = settled(&first, accepted).await;
    assert_eq!(
        (stats.sent, stats.failed),
        (accepted - zero, zero),
        "{stats:?}"
    );
    assert!(
        stats
            .last_error
            .as_deref()
            .unwrap()
            .contains("low 64 bits are zero")
    );
    assert_accounted(&stats);
    let accepted = accepted - zero;

    let deadline = Instant::now() + Duration::from_secs(10);
    while second.store.accounting().accepted < accepted {
        assert!(
            Instant::now() < deadline,
            "the second collector: {:?}",
            second.store.accounting()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (mut sent, got) = (spans_by_id(&first.store), spans_by_id(&second.store));
    sent.retain(|(trace, _), _| trace.to_u128() as u64 != 0);
    assert_eq!(
        sent.keys().collect::<Vec<_>>(),
        got.keys().collect::<Vec<_>>(),
        "128-bit ids, via _dd.p.tid"
    );
    for (id, span) in &sent {
        let back = &got[id];
        if &*span.scope.name == "datadog" {
            assert_eq!(
                span, back,
                "came in over the Datadog API, went out as it came"
            );
            continue;
        }
        assert_eq!(back.parent_span_id, span.parent_span_id);
        assert_eq!((back.start_ns, back.end_ns), (span.start_ns, span.end_ns));
        assert_eq!(back.service_name(), span.service_name());
        assert_eq!(
            back.resource.service_version(),
            span.resource.service_version()
        );
        assert_eq!(back.resource.environment(), Some("lab"));
        assert_eq!(back.status.code, span.status.code);
        let http_route = span.attribute("http.route").and_then(|v| v.as_str());
        let query = collector::semconv::query_text(span);
        match (span.kind, http_route, query) {
            (collector::model::SpanKind::Server, Some(route), _) => {
                assert_eq!(*back.name, *format!("GET {route}"));
                assert_eq!(
                    back.attribute("span.type").and_then(|v| v.as_str()),
                    Some("web")
                );
            }
            (_, _, Some(query)) => {
                assert_eq!(&*back.name, query, "SQL text as the resource");
                assert_eq!(
                    back.attribute("span.type").and_then(|v| v.as_str()),
                    Some("sql")
                );
            }
            _ => {}
        }
        if let Some(exception) = span.events.iter().find(|e| &*e.name == "exception") {
            let field = |event: &collector::model::Event, key: &str| {
                collector::model::attribute(&event.attributes, key).cloned()
            };
            let back_exception = back
                .events
                .iter()
                .find(|e| &*e.name == "exception")
                .unwrap();
            for key in [
                "exception.type",
                "exception.message",
                "exception.stacktrace",
            ] {
                assert_eq!(field(back_exception, key), field(exception, key), "{key}");
            }
        }
    }
    second.stop().await.unwrap();
    first.stop().await.unwrap();
}

/// What the stub backend answers, request by request; past the script it answers 200.
#[derive(Clone, Copy, Debug)]
enum Answer {
    Unavailable { retry_after: u64 },
    TooMany,
    BadRequest,
    Partial { rejected: i64 },
}

/// A request the stub saw: when, its headers, and the span ids it carried.
#[derive(Debug)]
struct Seen {
    at: Instant,
    headers: http::HeaderMap,
    spans: Vec<SpanId>,
}

struct Stub {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    server: tokio::task::JoinHandle<()>,
}

async fn stub(script: Vec<Answer>) -> Stub {
    use axum::response::IntoResponse as _;
    let listener = tokio::net::TcpListener::bind(LOCAL).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::<Seen>::new()));
    let script = Arc::new(script);
    let log = seen.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |headers: http::HeaderMap, body: axum::body::Bytes| {
            let (log, script) = (log.clone(), script.clone());
            async move {
                let mut raw = Vec::new();
                std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&body[..]), &mut raw)
                    .unwrap();
                let request = ExportTraceServiceRequest::decode(&raw[..]).unwrap();
                let spans = request
                    .resource_spans
                    .iter()
                    .flat_map(|r| &r.scope_spans)
                    .flat_map(|s| &s.spans)
                    .map(|s| SpanId(s.span_id.clone().try_into().unwrap()))
                    .collect();
                let n = {
                    let mut log = log.lock();
                    log.push(Seen {
                        at: Instant::now(),
                        headers,
                        spans,
                    });
                    log.len() - 1
                };
                let ok = |rejected: i64| {
                    let answer = ExportTraceServiceResponse {
                        partial_success: (rejected > 0).then(|| ExportTracePartialSuccess {
                            rejected_spans: rejected,
                            error_message: "spans too old".into(),
                        }),
                    };
                    (http::StatusCode::OK, answer.encode_to_vec()).into_response()
                };
                match script.get(n) {
                    Some(Answer::Unavailable { retry_after }) => (
                        http::StatusCode::SERVICE_UNAVAILABLE,
                        [("retry-after", retry_after.to_string())],
                        "busy",
                    )
                        .into_response(),
                    Some(Answer::TooMany) => {
                        (http::StatusCode::TOO_MANY_REQUESTS, "slow down").into_response()
                    }
                    Some(Answer::BadRequest) => {
                        (http::StatusCode::BAD_REQUEST, "bad spans").into_response()
                    }
                    Some(Answer::Partial { rejected }) => ok(*rejected),
                    None => ok(0),
                }
            }
        }),
    );
    // Every answer closes its connection, so stopping the server leaves none open.
    let app = app.layer(axum::middleware::map_response(
        |mut response: axum::response::Response| async move {
            response.headers_mut().insert(
                http::header::CONNECTION,
                http::HeaderValue::from_static("close"),
            );
            response
        },
    ));
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Stub { addr, seen, server }
}

/// `n` root spans of their own trace `trace`.
fn batch(trace: u128, n: u64) -> Vec<Span> {
    (1..=n)
        .map(|id| {
            span(trace, trace as u64 * 1_000 + id)
                .service("shop")
                .name("GET /")
                .text("http.route", "/")
                .at(1_790_000_000_000_000_000, 1_790_000_000_001_000_000)
        })
        .collect()
}

async fn wait_for(
    running: &RunningCollector,
    what: &str,
    done: impl Fn(&ExportStats) -> bool,
) -> ExportStats {
    wait_for_exporter(running, None, what, done).await
}

/// Waits until the exporter called `name` (the first without one) is `done`.
pub(super) async fn wait_for_exporter(
    running: &RunningCollector,
    name: Option<&str>,
    what: &str,
    done: impl Fn(&ExportStats) -> bool,
) -> ExportStats {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut all = running.exports.stats();
        let stats = match name {
            Some(name) => all.into_iter().find(|e| e.name == name).expect("listed"),
            None => all.remove(0),
        };
        if done(&stats) {
            return stats;
        }
        assert!(Instant::now() < deadline, "waiting for {what}: {stats:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_otlp_exporter_retries_gives_up_and_drops_as_the_specification_says() {
    let stub = stub(vec![
        Answer::Unavailable { retry_after: 1 },
        Answer::TooMany,
        Answer::BadRequest,
        Answer::Partial { rejected: 2 },
    ])
    .await;
    let lab = collector(
        false,
        false,
        true,
        ExportOptions {
            queue_spans: 20,
            batch_spans: 10,
            linger: Duration::from_millis(10),
            retry: Retry {
                initial: Duration::from_millis(100),
                max: Duration::from_millis(200),
                max_elapsed: Duration::from_millis(1_500),
            },
            timeout: Duration::from_secs(2),
            ..otlp_to(stub.addr, &[("api-key", "k1")])
        },
    )
    .await;

    // 503 with Retry-After: 1, then 429, then 400: retried twice, then failed, never retried after the 400.
    lab.ingest.submit(batch(1, 10)).unwrap();
    let stats = wait_for(&lab, "the first batch to fail", |s| s.failed == 10).await;
    assert_eq!((stats.retried, stats.sent), (20, 0));
    assert!(
        stats.last_error.as_deref().unwrap().contains("400"),
        "{stats:?}"
    );
    {
        let seen = stub.seen.lock();
        assert_eq!(seen.len(), 3, "503, 429, 400, and no retry after the 400");
        assert!(
            seen.iter()
                .all(|s| s.spans == seen[0].spans && s.spans.len() == 10),
            "the same batch each time"
        );
        let waited = seen[1].at - seen[0].at;
        assert!(
            waited >= Duration::from_millis(950),
            "Retry-After: 1 honoured, waited {waited:?}"
        );
        for s in seen.iter() {
            assert_eq!(s.headers["api-key"], "k1");
            assert_eq!(s.headers["content-encoding"], "gzip");
            assert_eq!(s.headers["content-type"], "application/x-protobuf");
        }
    }

    // Partial success: the spans the backend rejected are counted apart from those it took.
    lab.ingest.submit(batch(2, 10)).unwrap();
    let stats = wait_for(&lab, "the partial success", |s| s.sent + s.rejected == 10).await;
    assert_eq!((stats.sent, stats.rejected), (8, 2));
    assert!(
        stats
            .last_error
            .as_deref()
            .unwrap()
            .contains("spans too old")
    );

    // Gone: connections refused are retried with back-off until the retries run out; meanwhile the queue
    // keeps its newest spans and drops the oldest, counted.
    stub.server.abort();
    let _ = stub.server.await;
    let before = Instant::now();
    lab.ingest.submit(batch(3, 10)).unwrap();
    wait_for(&lab, "the batch to be in flight", |s| s.in_flight == 10).await;
    for trace in 4..=8 {
        lab.ingest.submit(batch(trace, 10)).unwrap();
    }
    // The lab carries on: its store took everything and its API answers at once.
    let deadline = Instant::now() + Duration::from_secs(5);
    while lab.store.accounting().accepted < 80 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let asked = Instant::now();
    let api: protocol::Stats = reqwest::get(format!("http://{}/api/stats", lab.api.unwrap()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        asked.elapsed() < Duration::from_millis(500),
        "the API waited on the exporter"
    );
    assert_eq!(api.accepted, 80);
    assert_eq!(api.exports.len(), 1);
    assert_eq!(api.exports[0].name, "otlp");
    assert!(api.exports[0].enabled);
    assert_eq!(
        api.exports[0].dropped, 30,
        "50 queued behind a queue of 20: the oldest 30 dropped"
    );

    let stats = wait_for(&lab, "everything to be given up", |s| {
        s.queued == 0 && s.in_flight == 0 && s.offered == 80
    })
    .await;
    assert!(
        before.elapsed() >= Duration::from_millis(1_400),
        "retried for max_elapsed"
    );
    assert_eq!(
        stats.failed,
        10 + 10 + 20,
        "the 400, the batch in flight, and the 20 kept"
    );
    assert_eq!(stats.dropped, 30);
    assert!(
        stats.retried > 20,
        "connection failures are retried: {stats:?}"
    );
    assert!(
        stats.last_error.as_deref().unwrap().contains("gave up"),
        "{stats:?}"
    );
    assert_accounted(&stats);
    assert_eq!(stats.offered, 80);
    // The queue kept the newest: traces 7 and 8 were the last tried, 4 to 6 were dropped.
    lab.stop().await.unwrap();
}

#[tokio::test]
async fn an_exporter_switched_off_takes_no_spans_until_switched_on() {
    let second = collector(true, false, false, ExportOptions::default()).await;
    let lab = collector(
        false,
        false,
        true,
        ExportOptions {
            enabled: false,
            ..otlp_to(second.otlp_http.unwrap(), &[])
        },
    )
    .await;
    let api = format!("http://{}/api/export/otlp", lab.api.unwrap());
    let client = reqwest::Client::new();
    lab.ingest.submit(batch(1, 5)).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(lab.exports.stats()[0].offered, 0, "off: nothing offered");

    let on: ExportStats = client
        .post(&api)
        .json(&serde_json::json!({"enabled": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(on.enabled);
    lab.ingest.submit(batch(2, 5)).unwrap();
    let stats = settled(&lab, 5).await;
    assert_eq!((stats.offered, stats.sent), (5, 5));

    let off = client
        .post(&api)
        .json(&serde_json::json!({"enabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(off.status(), 200);
    lab.ingest.submit(batch(3, 5)).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stats: protocol::Stats = reqwest::get(format!("http://{}/api/stats", lab.api.unwrap()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats.accepted, 15, "the lab keeps everything");
    assert_eq!(
        (
            stats.exports[0].enabled,
            stats.exports[0].offered,
            stats.exports[0].sent
        ),
        (false, 5, 5)
    );
    assert_eq!(second.store.accounting().accepted, 5);

    let unknown = client
        .post(format!("http://{}/api/export/jaeger", lab.api.unwrap()))
        .json(&serde_json::json!({"enabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    assert!(unknown.text().await.unwrap().contains("otlp"));
    let bad = client.post(&api).body("on").send().await.unwrap();
    assert_eq!(bad.status(), 400);
    second.stop().await.unwrap();
    lab.stop().await.unwrap();
}

#[tokio::test]
async fn an_exporter_pointed_at_its_own_receiver_is_refused() {
    // Bind a port, free it, and aim both the receiver and the exporter at it.
    let port = std::net::TcpListener::bind(LOCAL)
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let err = RunningCollector::start(&CollectorOptions {
        otlp_http: None,
        otlp_grpc: None,
        datadog: Some(addr),
        api: None,
        export: ExportOptions {
            datadog: Some(DatadogTarget {
                url: format!("http://localhost:{port}"),
            }),
            ..ExportOptions::default()
        },
        ..CollectorOptions::default()
    })
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("own Datadog agent API receiver"), "{err}");
    // The port is free again: the refused collector closed its receivers.
    std::net::TcpListener::bind(addr).unwrap();
}

#[tokio::test]
async fn the_datadog_receiver_steps_aside_from_a_port_an_agent_owns() {
    let agent = std::net::TcpListener::bind(LOCAL).unwrap();
    let taken = agent.local_addr().unwrap();
    let options = CollectorOptions {
        otlp_http: None,
        otlp_grpc: None,
        datadog: Some(taken),
        api: None,
        ..CollectorOptions::default()
    };
    assert!(
        RunningCollector::start(&options).await.is_err(),
        "taken, and not told to step aside"
    );
    let running = RunningCollector::start(&CollectorOptions {
        datadog_steps_aside: true,
        ..options
    })
    .await
    .unwrap();
    assert_eq!(
        (running.datadog, running.datadog_port_taken),
        (None, Some(taken))
    );
    running.stop().await.unwrap();
}
