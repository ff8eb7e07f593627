//! The replay's tests, against a test server on 127.0.0.1:0.

use std::sync::atomic::AtomicU64;

use reqwest::Method;
use reqwest::header::HeaderName;

use super::report::percentile;
use super::*;

use std::net::SocketAddr;
use std::sync::Mutex;

use axum::extract::State;
use axum::http::{HeaderMap as Headers, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use bytes::Bytes;

use crate::gor;

/// A request as the test server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    uri: String,
    headers: Headers,
    body: Bytes,
    at: Instant,
}

#[derive(Default)]
struct Target {
    seen: Mutex<Vec<Seen>>,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
}

/// Records every request; `/slow` takes 50 ms, `/stuck` ten seconds, `/redirect` redirects.
async fn start_target() -> (SocketAddr, Arc<Target>) {
    async fn record(
        State(target): State<Arc<Target>>,
        method: Method,
        uri: Uri,
        headers: Headers,
        body: Bytes,
    ) -> impl IntoResponse {
        let now = target.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        target.max_in_flight.fetch_max(now, Ordering::SeqCst);
        target.seen.lock().unwrap().push(Seen {
            method: method.to_string(),
            uri: uri.to_string(),
            headers,
            body: body.clone(),
            at: Instant::now(),
        });
        match uri.path() {
            "/slow" => tokio::time::sleep(Duration::from_millis(50)).await,
            "/long" => tokio::time::sleep(Duration::from_millis(400)).await,
            "/stuck" => tokio::time::sleep(Duration::from_secs(10)).await,
            _ => {}
        }
        target.in_flight.fetch_sub(1, Ordering::SeqCst);
        (StatusCode::OK, body)
    }
    let target = Arc::new(Target::default());
    let app = axum::Router::new()
        .route("/redirect", get(|| async { Redirect::to("/elsewhere") }))
        .fallback(record)
        .with_state(target.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, target)
}

fn request(method: &str, target: &str, at_ms: u64) -> gor::Request {
    gor::Request {
        id: gor::new_id(),
        timestamp_ns: 1_568_139_746_437_296_000 + at_ms * 1_000_000,
        method: method.to_owned(),
        target: target.to_owned(),
        headers: vec![("Host".to_owned(), "localhost:3000".to_owned())],
        body: Bytes::new(),
        offset: 0,
    }
}

fn options(addr: SocketAddr, speed: Speed) -> ReplayOptions {
    ReplayOptions {
        speed,
        ..ReplayOptions::new(format!("http://{addr}").parse().unwrap())
    }
}

#[test]
fn speeds_parse() {
    assert_eq!("10".parse(), Ok(Speed::Factor(10.0)));
    assert_eq!("10x".parse(), Ok(Speed::Factor(10.0)));
    assert_eq!("0.5X".parse(), Ok(Speed::Factor(0.5)));
    assert_eq!("max".parse(), Ok(Speed::Max));
    assert_eq!("MAX".parse(), Ok(Speed::Max));
    for bad in ["", "x", "0", "-2", "fast", "inf", "NaN", "1e999"] {
        assert!(bad.parse::<Speed>().is_err(), "{bad:?}");
    }
    assert_eq!(Speed::Factor(2.5).to_string(), "2.5x");
    assert_eq!(Speed::Max.to_string().parse(), Ok(Speed::Max));
}

#[test]
fn nearest_rank_percentiles() {
    let ms = |n: u64| Duration::from_millis(n);
    let sorted: Vec<Duration> = (1..=20).map(ms).collect();
    assert_eq!(percentile(&sorted, 50), Some(ms(10)));
    assert_eq!(percentile(&sorted, 95), Some(ms(19)));
    assert_eq!(percentile(&sorted, 100), Some(ms(20)));
    assert_eq!(percentile(&[ms(7)], 50), Some(ms(7)));
    assert_eq!(percentile(&[ms(1), ms(2), ms(3)], 50), Some(ms(2)));
    assert_eq!(percentile(&[], 50), None);
}

#[test]
fn summary_counts_classes_and_prints() {
    let outcome = |status: Option<u16>, ms: u64| Outcome {
        index: 0,
        pass: 0,
        method: "GET".to_owned(),
        target: "/".to_owned(),
        status,
        error: status.is_none().then(|| "refused".to_owned()),
        latency: Duration::from_millis(ms),
    };
    let report = Report {
        outcomes: vec![
            outcome(Some(200), 10),
            outcome(Some(204), 20),
            outcome(Some(302), 30),
            outcome(Some(404), 40),
            outcome(Some(503), 50),
            outcome(None, 5000),
        ],
        elapsed: Duration::from_secs(2),
    };
    let summary = report.summary();
    assert_eq!(
        (summary.requests, summary.status_2xx, summary.status_3xx),
        (6, 2, 1)
    );
    assert_eq!((summary.status_4xx, summary.status_5xx), (1, 1));
    assert_eq!((summary.status_other, summary.transport_errors), (0, 1));
    assert_eq!(summary.p50, Some(Duration::from_millis(30)));
    assert_eq!(summary.max, Some(Duration::from_millis(50)));
    assert_eq!(summary.requests_per_second(), 3.0);
    let text = summary.to_string();
    assert!(text.contains("6 in 2.00 s, 3.0 req/s"), "{text}");
    assert!(text.contains("2xx 2, 3xx 1, 4xx 1, 5xx 1"), "{text}");
    assert!(text.contains("p50 30 ms, p95 50 ms, max 50 ms"), "{text}");
    assert!(Report::default().summary().to_string().contains("p50 -"));
}

#[test]
fn target_urls_keep_path_and_query() {
    let base: Url = "http://127.0.0.1:3000".parse().unwrap();
    let url = |base: &Url, target| target_url(base, target).unwrap().to_string();
    assert_eq!(url(&base, "/a/b?c=1&d"), "http://127.0.0.1:3000/a/b?c=1&d");
    assert_eq!(url(&base, "http://x.test/p?q"), "http://127.0.0.1:3000/p?q");
    let prefixed: Url = "http://h:1/api/?ignored".parse().unwrap();
    assert_eq!(url(&prefixed, "/v1"), "http://h:1/api/v1");
    assert!(target_url(&base, "*").is_err());
}

#[tokio::test]
async fn keeps_request_rewrites_host_and_does_not_follow_redirects() {
    let (addr, target) = start_target().await;
    let mut post = request("POST", "/api/cart/items?dry_run=1", 0);
    let body = br#"{"product":7,"quantity":2}"#;
    post.body = Bytes::from_static(body);
    post.headers.extend(
        [
            ("Content-Type", "application/json"),
            ("Content-Length", "999"),
            ("Connection", "keep-alive, X-Hop"),
            ("X-Hop", "dropped"),
            ("Keep-Alive", "timeout=5"),
            ("Cookie", "session=abc"),
            ("X-Repeated", "one"),
            ("X-Repeated", "two"),
        ]
        .map(|(n, v)| (n.to_owned(), v.to_owned())),
    );
    let requests = [post, request("GET", "/redirect", 0)];

    let report = replay(
        &requests,
        &options(addr, Speed::Max),
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    let statuses: Vec<_> = report.outcomes.iter().map(|o| o.status).collect();
    assert_eq!(statuses, [Some(200), Some(303)], "{:?}", report.outcomes);
    assert_eq!(report.outcomes[1].target, "/redirect");

    let seen = target.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "redirect must not be followed: {seen:?}");
    let seen = &seen[0];
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.uri, "/api/cart/items?dry_run=1");
    assert_eq!(seen.headers["host"], addr.to_string());
    assert_eq!(seen.headers["content-type"], "application/json");
    assert_eq!(seen.headers["cookie"], "session=abc");
    assert_eq!(seen.headers["content-length"], body.len().to_string());
    let repeated: Vec<_> = seen.headers.get_all("x-repeated").iter().collect();
    assert_eq!(repeated, ["one", "two"]);
    for dropped in ["x-hop", "keep-alive", "transfer-encoding"] {
        assert!(!seen.headers.contains_key(dropped), "{dropped}: {seen:?}");
    }
    assert_eq!(seen.headers.get_all("host").iter().count(), 1);
    assert_eq!(&seen.body[..], body);
}

#[test]
fn the_recorded_trace_context_is_not_replayed() {
    let mut recorded = request("GET", "/", 0);
    recorded.headers.extend(
        [
            (
                "Traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
            ("tracestate", "vendor=recorded"),
            ("Baggage", "user=recorded"),
            ("Cookie", "session=abc"),
        ]
        .map(|(n, v)| (n.to_owned(), v.to_owned())),
    );
    let prepared = prepare(&recorded, &"http://127.0.0.1:3000".parse().unwrap()).unwrap();
    let names: Vec<&str> = prepared.headers.keys().map(HeaderName::as_str).collect();
    assert_eq!(names, ["cookie"], "{:?}", prepared.headers);
}

#[tokio::test]
async fn keeps_recorded_pace_divided_by_speed() {
    let (addr, target) = start_target().await;
    let requests = [request("GET", "/first", 0), request("GET", "/second", 1000)];
    let report = replay(
        &requests,
        &options(addr, Speed::Factor(10.0)),
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(report.summary().status_2xx, 2);
    let seen = target.seen.lock().unwrap().clone();
    assert_eq!(seen[1].uri, "/second");
    let gap = seen[1].at - seen[0].at;
    assert!(gap >= Duration::from_millis(90), "{gap:?}");
    assert!(report.elapsed >= Duration::from_millis(90));
}

#[tokio::test]
async fn respects_concurrency_limit() {
    let (addr, target) = start_target().await;
    let requests: Vec<_> = (0..20).map(|_| request("GET", "/slow", 0)).collect();
    let opts = ReplayOptions {
        concurrency: 3,
        ..options(addr, Speed::Max)
    };
    let report = replay(&requests, &opts, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(report.summary().status_2xx, 20);
    let indexes: Vec<_> = report.outcomes.iter().map(|o| o.index).collect();
    assert_eq!(indexes, (0..20).collect::<Vec<_>>());
    let max = target.max_in_flight.load(Ordering::SeqCst);
    assert!((2..=3).contains(&max), "max in flight {max}");
}

#[tokio::test]
async fn transport_errors_are_outcomes() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let requests = [request("GET", "/", 0), request("DELETE", "/x", 0)];
    let report = replay(
        &requests,
        &options(closed, Speed::Max),
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(report.outcomes.len(), 2);
    for outcome in &report.outcomes {
        assert_eq!(outcome.status, None);
        assert!(outcome.error.is_some());
    }
    assert_eq!(report.outcomes[1].method, "DELETE");
    assert_eq!(report.summary().transport_errors, 2);
}

#[tokio::test]
async fn loops_until_cancelled_and_returns_promptly() {
    let (addr, target) = start_target().await;
    let requests = [request("GET", "/a", 0), request("GET", "/b", 20)];
    let opts = ReplayOptions {
        loop_forever: true,
        progress: true,
        ..options(addr, Speed::Factor(1.0))
    };
    let cancel = CancellationToken::new();
    let canceller = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        canceller.cancel();
    });
    let report = tokio::time::timeout(Duration::from_secs(5), replay(&requests, &opts, &cancel))
        .await
        .expect("replay did not stop when cancelled")
        .unwrap();
    assert!(report.outcomes.iter().any(|o| o.pass >= 2), "{report:?}");
    assert!(report.outcomes.iter().all(|o| o.status == Some(200)));
    // Requests in flight at cancellation reach the server but are abandoned without an outcome.
    let seen = target.seen.lock().unwrap().len();
    assert!(
        (report.outcomes.len()..=report.outcomes.len() + opts.concurrency).contains(&seen),
        "the server saw {seen} requests, the report has {}",
        report.outcomes.len()
    );
}

#[tokio::test]
async fn cancel_abandons_requests_in_flight() {
    let (addr, _target) = start_target().await;
    let requests = [request("GET", "/stuck", 0)];
    let cancel = CancellationToken::new();
    let canceller = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        canceller.cancel();
    });
    let report = replay(&requests, &options(addr, Speed::Max), &cancel)
        .await
        .unwrap();
    assert!(report.outcomes.is_empty());
    assert!(
        report.elapsed < Duration::from_secs(5),
        "{:?}",
        report.elapsed
    );
}

/// With a drain, cancelling lets the requests in flight finish (they get their outcome) and sends no more.
#[tokio::test]
async fn cancel_with_a_drain_lets_requests_in_flight_finish() {
    let (addr, target) = start_target().await;
    let requests = [
        request("GET", "/long", 0),
        request("GET", "/never", 10_000_000_000),
    ];
    let opts = ReplayOptions {
        drain: Duration::from_secs(5),
        ..options(addr, Speed::Factor(1.0))
    };
    let cancel = CancellationToken::new();
    let canceller = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        canceller.cancel();
    });
    let report = replay(&requests, &opts, &cancel).await.unwrap();
    assert_eq!(report.outcomes.len(), 1, "{report:?}");
    assert_eq!(report.outcomes[0].status, Some(200));
    assert!(
        report.elapsed >= Duration::from_millis(300),
        "{:?}",
        report.elapsed
    );
    assert_eq!(
        target.seen.lock().unwrap().len(),
        1,
        "nothing sent after the cancel"
    );
}

#[tokio::test]
async fn rejects_unusable_options() {
    let requests = [request("GET", "/", 0)];
    let cancel = CancellationToken::new();
    let base = options("127.0.0.1:9".parse().unwrap(), Speed::Max);
    let zero = ReplayOptions {
        concurrency: 0,
        ..base.clone()
    };
    assert!(replay(&requests, &zero, &cancel).await.is_err());
    let stopped = ReplayOptions {
        speed: Speed::Factor(0.0),
        ..base.clone()
    };
    assert!(replay(&requests, &stopped, &cancel).await.is_err());
    let ftp = ReplayOptions {
        target: "ftp://example.test".parse().unwrap(),
        ..base
    };
    assert!(replay(&requests, &ftp, &cancel).await.is_err());
}
