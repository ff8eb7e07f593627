//! The RUM forward (`--export-rum`) against a local stub of Datadog's browser intake, over plain HTTP and over
//! TLS with a self-signed certificate trusted through `--export-certificate`: what the stub receives must be
//! what Datadog's proxy guide asks (the `ddforward` path and query, the body byte for byte, no cookies,
//! `X-Forwarded-For` naming the browser), every batch counted, a 4xx given up, a 503 retried, a dead intake
//! costing the oldest batches — while the collector's own intake answers at once throughout. The span
//! exporters reach the TLS stub too.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use collector::export::otlp::OtlpTarget;
use collector::export::rum::RumTarget;
use collector::export::{ExportOptions, Retry};
use collector::server::{CollectorOptions, RunningCollector};
use parking_lot::Mutex;
use protocol::ExportStats;

use super::export::{assert_accounted, wait_for_exporter};
use super::rum::{deflate, ndjson, session};

/// A request the stub received.
#[derive(Debug)]
struct Received {
    path: String,
    query: Option<String>,
    headers: http::HeaderMap,
    body: bytes::Bytes,
}

struct Stub {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Received>>>,
    server: tokio::task::JoinHandle<()>,
}

/// A stub intake answering `script`'s statuses in turn, then 202; over TLS with `tls`'s certificate and key.
async fn stub(script: Vec<u16>, tls: Option<&rcgen::CertifiedKey<rcgen::KeyPair>>) -> Stub {
    use axum::response::IntoResponse as _;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::<Received>::new()));
    let log = seen.clone();
    let script = Arc::new(script);
    let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let (log, script) = (log.clone(), script.clone());
        async move {
            let (parts, body) = request.into_parts();
            let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
            let n = {
                let mut log = log.lock();
                log.push(Received {
                    path: parts.uri.path().to_owned(),
                    query: parts.uri.query().map(str::to_owned),
                    headers: parts.headers,
                    body,
                });
                log.len() - 1
            };
            let status = script.get(n).copied().unwrap_or(202);
            let mut answer = (
                http::StatusCode::from_u16(status).unwrap(),
                format!("stub answered {status}"),
            )
                .into_response();
            answer
                .headers_mut()
                .insert("retry-after", "0".parse().unwrap());
            answer
                .headers_mut()
                .insert("connection", "close".parse().unwrap());
            answer
        }
    });
    let acceptor = tls.map(|key| {
        let config = tokio_rustls::rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![key.cert.der().clone()],
                tokio_rustls::rustls::pki_types::PrivateKeyDer::Pkcs8(
                    key.signing_key.serialize_der().into(),
                ),
            )
            .unwrap();
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    });
    let server = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (app, acceptor) = (app.clone(), acceptor.clone());
            tokio::spawn(async move {
                let service = hyper_util::service::TowerToHyperService::new(app);
                let builder = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                );
                match acceptor {
                    Some(acceptor) => {
                        // A client that does not trust the certificate ends the handshake: nothing to serve.
                        if let Ok(stream) = acceptor.accept(tcp).await {
                            let io = hyper_util::rt::TokioIo::new(stream);
                            let _ = builder.serve_connection(io, service).await;
                        }
                    }
                    None => {
                        let io = hyper_util::rt::TokioIo::new(tcp);
                        let _ = builder.serve_connection(io, service).await;
                    }
                }
            });
        }
    });
    Stub { addr, seen, server }
}

/// A collector with its OTLP/HTTP listener (the browser intake) and query API, exporting as `export` says.
async fn collector(export: ExportOptions) -> RunningCollector {
    RunningCollector::start(&CollectorOptions {
        otlp_http: Some("127.0.0.1:0".parse().unwrap()),
        otlp_grpc: None,
        datadog: None,
        api: Some("127.0.0.1:0".parse().unwrap()),
        export,
        ..CollectorOptions::default()
    })
    .await
    .unwrap()
}

fn forward_to(origin: String) -> ExportOptions {
    ExportOptions {
        rum: Some(RumTarget { origin }),
        retry: Retry {
            initial: Duration::from_millis(50),
            max: Duration::from_millis(100),
            max_elapsed: Duration::from_millis(800),
        },
        timeout: Duration::from_secs(2),
        ..ExportOptions::default()
    }
}

/// The query the browser SDK puts in `ddforward`, with the page's client token.
const SDK_QUERY: &str = "ddsource=browser&dd-api-key=pub0123456789abcdef&dd-evp-origin-version=7.16.0\
                         &dd-evp-origin=browser&dd-request-id=5f1c3a&batch_time=1790000000000";

/// Posts `body` to the collector's intake as the storefront's `/rum` passes a browser's batch on: the proxy
/// form, deflated, with the visitor's cookie and the browser's address. Returns the status and how long the
/// intake took to answer.
async fn send(lab: &RunningCollector, body: &[u8]) -> (u16, Duration) {
    let ddforward = format!("/api/v2/rum?{SDK_QUERY}");
    let url = reqwest::Url::parse_with_params(
        &format!("http://{}/api/v2/rum", lab.otlp_http.unwrap()),
        [("ddforward", ddforward.as_str())],
    )
    .unwrap();
    let asked = Instant::now();
    let status = reqwest::Client::new()
        .post(url)
        .header("content-type", "text/plain;charset=UTF-8")
        .header("content-encoding", "deflate")
        .header("user-agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0")
        .header("cookie", "_session_id=secret; _dd_s=rum=1")
        .header("authorization", "Bearer not-for-datadog")
        .header("x-forwarded-for", "203.0.113.7")
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    (status, asked.elapsed())
}

fn rum_stats(lab: &RunningCollector) -> ExportStats {
    (lab.exports.stats().into_iter())
        .find(|e| e.name == "datadog-rum")
        .expect("the RUM forward is listed")
}

async fn wait_for(
    lab: &RunningCollector,
    what: &str,
    done: impl Fn(&ExportStats) -> bool,
) -> ExportStats {
    wait_for_exporter(lab, Some("datadog-rum"), what, done).await
}

#[tokio::test]
async fn browser_batches_reach_datadogs_intake_as_the_proxy_guide_says_and_failures_are_counted() {
    // 202, then 403 (a bad client token: given up), then 503 and 202 (retried once, sent).
    let stub = stub(vec![202, 403, 503], None).await;
    let lab = collector(forward_to(format!("http://{}", stub.addr))).await;
    let body = deflate(&ndjson(&session(0xabc)));

    let (status, _) = send(&lab, &body).await;
    assert_eq!(status, 202);
    let stats = wait_for(&lab, "the first batch", |s| s.sent == 1).await;
    assert_eq!(stats.endpoint, format!("http://{}/api/v2/rum", stub.addr));
    {
        let seen = stub.seen.lock();
        assert_eq!(seen.len(), 1);
        let got = &seen[0];
        assert_eq!(got.path, "/api/v2/rum");
        assert_eq!(
            got.query.as_deref(),
            Some(SDK_QUERY),
            "ddforward's query, unchanged"
        );
        assert_eq!(
            got.body[..],
            body[..],
            "the body byte for byte, still deflated"
        );
        assert_eq!(got.headers["content-encoding"], "deflate");
        assert_eq!(got.headers["content-type"], "text/plain;charset=UTF-8");
        assert_eq!(
            got.headers["user-agent"],
            "Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0"
        );
        assert_eq!(
            got.headers["x-forwarded-for"], "203.0.113.7, 127.0.0.1",
            "the browser first, then the proxy that passed it on"
        );
        assert!(got.headers.get("cookie").is_none(), "{:?}", got.headers);
        assert!(
            got.headers.get("authorization").is_none(),
            "{:?}",
            got.headers
        );
    }
    // The collector kept the batch for itself too.
    assert!(lab.store.rum().stats().accepted > 0);

    // 403: refused for good, counted failed with what the intake said, not retried.
    send(&lab, &body).await;
    let stats = wait_for(&lab, "the 403", |s| s.failed == 1).await;
    assert!(
        stats.last_error.as_deref().unwrap().contains("403"),
        "{stats:?}"
    );
    assert_eq!(stats.retried, 0);
    // 503: retried, then taken.
    send(&lab, &body).await;
    let stats = wait_for(&lab, "the 503 retried", |s| s.sent == 2).await;
    assert_eq!((stats.retried, stats.failed, stats.offered), (1, 1, 3));
    assert_eq!(stub.seen.lock().len(), 4, "202, 403, 503, 202");
    assert_accounted(&stats);

    // Switched off with Datadog's key (`x`, `lab export off datadog`): nothing more is offered.
    let api = format!("http://{}/api/export/datadog", lab.api.unwrap());
    let off: ExportStats = reqwest::Client::new()
        .post(&api)
        .json(&protocol::ExportToggle { enabled: false })
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((off.name.as_str(), off.enabled), ("datadog-rum", false));
    send(&lab, &body).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(rum_stats(&lab).offered, 3, "off: not offered");
    assert_eq!(stub.seen.lock().len(), 4);
    lab.stop().await.unwrap();
}

#[tokio::test]
async fn a_dead_intake_costs_the_oldest_batches_never_the_collectors_own_intake() {
    let stub = stub(vec![], None).await;
    let addr = stub.addr;
    stub.server.abort();
    let _ = stub.server.await;
    let lab = collector(ExportOptions {
        rum_queue_batches: 3,
        ..forward_to(format!("http://{addr}"))
    })
    .await;
    let body = deflate(&ndjson(&session(0xdef)));
    send(&lab, &body).await;
    wait_for(&lab, "the first batch in flight", |s| s.in_flight == 1).await;
    for _ in 0..5 {
        let (status, took) = send(&lab, &body).await;
        assert_eq!(status, 202, "the collector's own intake carries on");
        assert!(
            took < Duration::from_millis(500),
            "the intake waited on the forward: {took:?}"
        );
    }
    let stats = rum_stats(&lab);
    assert_eq!(
        (stats.offered, stats.in_flight, stats.queued, stats.dropped),
        (6, 1, 3, 2),
        "five behind a queue of three: the oldest two dropped"
    );
    let stats = wait_for(&lab, "everything given up", |s| {
        s.queued == 0 && s.in_flight == 0
    })
    .await;
    assert_eq!((stats.failed, stats.dropped, stats.sent), (4, 2, 0));
    let error = stats.last_error.clone().unwrap();
    assert!(
        stats.retried > 0 && error.contains("gave up on 1 browser batches"),
        "a refused connection is retried, then given up: {stats:?}"
    );
    assert!(error.contains("cannot send to"), "and says why: {error}");
    assert_accounted(&stats);
    lab.stop().await.unwrap();
}

#[tokio::test]
async fn https_reaches_a_tls_intake_whose_certificate_is_trusted_explicitly() {
    let key = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let stub = stub(vec![], Some(&key)).await;
    let origin = format!("https://localhost:{}", stub.addr.port());
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("stub-ca.pem");
    std::fs::write(&pem, key.cert.pem()).unwrap();
    let body = deflate(&ndjson(&session(0x123)));

    // Not trusted: the handshake fails, and the failure says why.
    let untrusting = collector(forward_to(origin.clone())).await;
    send(&untrusting, &body).await;
    let stats = wait_for(&untrusting, "the untrusted handshake to be given up", |s| {
        s.failed == 1
    })
    .await;
    let error = stats.last_error.unwrap();
    assert!(error.to_lowercase().contains("certificate"), "{error}");
    assert!(stub.seen.lock().is_empty());
    untrusting.stop().await.unwrap();

    // Trusted through the extra root: the browser batch and the spans (OTLP over https) both arrive.
    let lab = collector(ExportOptions {
        root_certificates: vec![pem],
        otlp: Some(OtlpTarget {
            endpoint: origin.clone(),
            headers: Vec::new(),
        }),
        linger: Duration::from_millis(10),
        ..forward_to(origin)
    })
    .await;
    send(&lab, &body).await;
    lab.ingest
        .submit(vec![collector::testing::span(7, 1)])
        .unwrap();
    let stats = wait_for(&lab, "the batch over TLS", |s| s.sent == 1).await;
    assert_eq!(stats.failed, 0, "{stats:?}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while lab.exports.stats()[0].sent < 1 {
        assert!(Instant::now() < deadline, "{:?}", lab.exports.stats());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seen = std::mem::take(&mut *stub.seen.lock());
    let rum = seen.iter().find(|r| r.path == "/api/v2/rum").unwrap();
    assert_eq!(rum.body[..], body[..]);
    assert!(
        seen.iter().any(|r| r.path == "/v1/traces"),
        "the spans came over TLS too"
    );
    lab.stop().await.unwrap();
}

#[tokio::test]
async fn unusable_forward_settings_are_refused_at_start() {
    for (options, says) in [
        (
            forward_to("ftp://browser-intake-datadoghq.com".into()),
            "neither http:// nor https://",
        ),
        (
            forward_to("https://browser-intake-datadoghq.com/elsewhere".into()),
            "origin only",
        ),
        (
            ExportOptions {
                root_certificates: vec!["/nonexistent/ca.pem".into()],
                ..forward_to("https://browser-intake-datadoghq.com".into())
            },
            "/nonexistent/ca.pem",
        ),
    ] {
        let err = RunningCollector::start(&CollectorOptions {
            otlp_http: None,
            otlp_grpc: None,
            datadog: None,
            api: None,
            export: options,
            ..CollectorOptions::default()
        })
        .await
        .unwrap_err();
        assert!(format!("{err:#}").contains(says), "{err:#}");
    }
}

/// A batch posted to the intake itself (no proxy in between) goes on with the query it came with.
#[tokio::test]
async fn a_batch_posted_to_the_intake_itself_goes_on_with_its_own_query() {
    let stub = stub(vec![], None).await;
    let lab = collector(forward_to(format!("http://{}", stub.addr))).await;
    let body = ndjson(&session(0x456));
    let status = reqwest::Client::new()
        .post(format!(
            "http://{}/api/v2/rum?{SDK_QUERY}",
            lab.otlp_http.unwrap()
        ))
        .header("content-type", "text/plain;charset=UTF-8")
        .body(body.clone())
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 202);
    wait_for(&lab, "the batch", |s| s.sent == 1).await;
    let seen = std::mem::take(&mut *stub.seen.lock());
    assert_eq!(seen[0].query.as_deref(), Some(SDK_QUERY));
    assert_eq!(seen[0].body[..], body[..]);
    assert_eq!(
        seen[0].headers["x-forwarded-for"], "127.0.0.1",
        "the browser, here the test"
    );
    lab.stop().await.unwrap();
}
