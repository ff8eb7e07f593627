//! The browser intake (`POST /api/v2/rum` on the OTLP/HTTP listener) against a started collector over real
//! sockets: batches as Datadog's browser SDK sends them (plain, deflate, gzip; direct or through a proxy),
//! each bad input answered and counted, CORS preflights, and what the query API makes of the events.

use std::io::Write as _;

use collector::model::SpanKind;
use collector::server::{CollectorOptions, RunningCollector};
use collector::testing::{Build as _, span};
use protocol::{RumErrorsResponse, RumPagesResponse, RumSession, RumSessionsResponse, Stats};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

const DATE_MS: u64 = 1_790_000_000_000;
const ORIGIN: &str = "http://127.0.0.1:3000";
/// What the SDK's `proxy` option appends.
const FORWARD: &str = "ddforward=%2Fapi%2Fv2%2Frum%3Fddsource%3Dbrowser%26dd-api-key%3Dpub0%26dd-evp-origin%3Dbrowser";

struct Lab {
    running: RunningCollector,
    client: reqwest::Client,
}

impl Lab {
    async fn start() -> Lab {
        Lab::with(CollectorOptions::default()).await
    }

    async fn with(options: CollectorOptions) -> Lab {
        let local = Some("127.0.0.1:0".parse().unwrap());
        let running = RunningCollector::start(&CollectorOptions {
            otlp_http: local,
            otlp_grpc: None,
            datadog: None,
            api: local,
            ..options
        })
        .await
        .unwrap();
        Lab {
            running,
            client: reqwest::Client::new(),
        }
    }

    fn intake(&self, path_and_query: &str) -> String {
        format!("http://{}{path_and_query}", self.running.otlp_http.unwrap())
    }

    /// POSTs a batch to the intake in the proxy form, as text/plain (what the SDK sends), encoded as asked.
    async fn send(&self, body: Vec<u8>, encoding: Option<&str>) -> (u16, Value) {
        let mut request = self
            .client
            .post(self.intake(&format!("/api/v2/rum?{FORWARD}")))
            .header("content-type", "text/plain;charset=UTF-8");
        if let Some(encoding) = encoding {
            request = request.header("content-encoding", encoding);
        }
        let response = request.body(body).send().await.unwrap();
        let status = response.status().as_u16();
        (
            status,
            serde_json::from_slice(&response.bytes().await.unwrap()).unwrap(),
        )
    }

    /// GETs a query API path, checks its status, reads it as the contract's `T` and checks that `T` writes
    /// it back unchanged.
    async fn get<T: DeserializeOwned + Serialize>(&self, path: &str) -> T {
        let url = format!("http://{}{path}", self.running.api.unwrap());
        let response = self.client.get(url).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let raw: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        let typed: T = serde_json::from_value(raw.clone())
            .unwrap_or_else(|e| panic!("{path}: not the contract's type: {e}\n{raw:#}"));
        assert_eq!(serde_json::to_value(&typed).unwrap(), raw, "{path}");
        typed
    }
}

/// An event as the SDK writes it: the common fields, then `extra` merged in.
fn event(kind: &str, session: &str, view: &str, url: &str, at_ms: u64, extra: Value) -> Value {
    let mut event = json!({
        "type": kind,
        "date": DATE_MS + at_ms,
        "application": { "id": "00000000-0000-0000-0000-000000000000" },
        "service": "store-frontend",
        "version": "1.0",
        "source": "browser",
        "session": { "id": session, "type": "user" },
        "view": { "id": view, "url": url, "referrer": "" },
        "_dd": { "format_version": 2 },
    });
    merge(&mut event, extra);
    event
}

fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(into), Value::Object(from)) => {
            for (key, value) in from {
                merge(into.entry(key).or_insert(Value::Null), value);
            }
        }
        (into, from) => *into = from,
    }
}

fn view(session: &str, view: &str, url: &str, at_ms: u64, version: u64, load_ms: f64) -> Value {
    event(
        "view",
        session,
        view,
        url,
        at_ms,
        json!({
            "view": {
                "loading_type": "initial_load",
                "loading_time": (load_ms * 1e6) as u64,
                "time_spent": 5_000_000_000u64,
                "largest_contentful_paint": (load_ms * 0.9 * 1e6) as u64,
                "cumulative_layout_shift": 0.02,
                "action": { "count": 1 }, "error": { "count": 0 }, "resource": { "count": 1 },
            },
            "_dd": { "document_version": version },
        }),
    )
}

pub(super) fn ndjson(events: &[Value]) -> Vec<u8> {
    let lines: Vec<String> = events.iter().map(|e| e.to_string()).collect();
    lines.join("\n").into_bytes()
}

pub(super) fn deflate(body: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(body).unwrap();
    encoder.finish().unwrap()
}

fn gzip(body: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(body).unwrap();
    encoder.finish().unwrap()
}

/// A shopper's session: home (3 s), a product page (2.6 s, an update of its view, a click, the add-to-cart
/// call that caused backend trace `trace`, and the script's own error), a search answering 500.
pub(super) fn session(trace: u128) -> Vec<Value> {
    let (s, home, product, search) = ("sess-1", "view-home", "view-product", "view-search");
    let base = "http://127.0.0.1:3000";
    let product_url = format!("{base}/products/datadog-mug");
    let search_url = format!("{base}/products?keywords=mug");
    vec![
        view(s, home, &format!("{base}/"), 0, 1, 0.0),
        view(s, home, &format!("{base}/"), 0, 4, 3000.0),
        view(s, product, &product_url, 10_000, 2, 2600.0),
        event(
            "resource",
            s,
            product,
            &product_url,
            10_001,
            json!({
                "resource": { "id": "r1", "type": "document", "url": product_url, "status_code": 200,
                              "duration": 2_600_000_000u64 },
                "_dd": { "trace_id": "1234", "span_id": "1" },
            }),
        ),
        event(
            "action",
            s,
            product,
            &product_url,
            12_000,
            json!({
                "action": { "id": "a1", "type": "click", "target": { "name": "Add To Cart" },
                            "loading_time": 80_000_000u64 },
            }),
        ),
        event(
            "resource",
            s,
            product,
            &product_url,
            12_010,
            json!({
                "resource": { "id": "r2", "type": "xhr", "method": "POST",
                              "url": format!("{base}/api/v2/storefront/cart/add_item"), "status_code": 200,
                              "duration": 40_000_000u64 },
                "_dd": { "trace_id": (trace as u64).to_string(), "span_id": "77", "rule_psr": 1 },
            }),
        ),
        event(
            "error",
            s,
            product,
            &product_url,
            12_100,
            json!({
                "error": { "id": "e1", "source": "source", "type": "TypeError", "handling": "unhandled",
                           "message": "Cannot set properties of null (setting 'textContent')",
                           "stack": "TypeError: Cannot set properties of null (setting 'textContent')\n  at updateCartBadge @ http://127.0.0.1:3000/assets/storefront.js:14:22\n  at <anonymous> @ http://127.0.0.1:3000/assets/storefront.js:30:5",
                           "source_type": "browser" },
            }),
        ),
        event(
            "long_task",
            s,
            product,
            &product_url,
            12_200,
            json!({
                "long_task": { "id": "l1", "duration": 120_000_000u64 },
            }),
        ),
        view(s, product, &product_url, 10_000, 5, 2700.0),
        view(s, search, &search_url, 20_000, 1, 40.0),
        event(
            "resource",
            s,
            search,
            &search_url,
            20_001,
            json!({
                "resource": { "id": "r3", "type": "document", "url": search_url, "status_code": 500,
                              "duration": 40_000_000u64 },
            }),
        ),
    ]
}

#[tokio::test]
async fn a_session_becomes_pages_errors_and_a_journey_linked_to_its_backend_trace() {
    let lab = Lab::start().await;
    // The backend trace the add-to-cart call caused, and the routes pages are templated by.
    let trace = 0x0af7_6519_16cd_43dd_8448_eb21_1c80_319c_u128;
    let server = |id, route: &str, method: &str| {
        span(trace + id as u128, id)
            .service("store-frontend")
            .kind(SpanKind::Server)
            .text("http.request.method", method)
            .text("http.route", route)
            .at(1, 2)
    };
    let spans = vec![
        server(1, "/products/{slug}", "GET"),
        server(2, "/products", "GET"),
        span(trace, 9)
            .service("store-frontend")
            .kind(SpanKind::Server)
            .text("http.request.method", "POST")
            .text("http.route", "/api/v2/storefront/cart/add_item")
            .at(1, 2),
    ];
    lab.running.ingest.submit(spans).unwrap();
    let (status, answer) = lab
        .send(deflate(&ndjson(&session(trace))), Some("deflate"))
        .await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["accepted"], 11);
    // The writer stores the spans in the background.
    for _ in 0..100 {
        if lab.running.store.trace_count() == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    let pages: RumPagesResponse = lab.get("/api/rum/pages").await;
    let names: Vec<&str> = pages.pages.iter().map(|p| p.page.as_str()).collect();
    assert_eq!(
        names,
        ["/", "/products/{slug}", "/products"],
        "slowest p75 first"
    );
    let home = &pages.pages[0];
    assert_eq!(
        (home.views, home.load_p75_ms, home.load_max_ms),
        (1, 3000.0, 3000.0)
    );
    let product = &pages.pages[1];
    assert_eq!(
        product.load_p95_ms, 2700.0,
        "the highest document version's"
    );
    assert_eq!(product.lcp_p75_ms, Some(2430.0));
    assert_eq!(product.cls_p75, Some(0.02));
    assert_eq!(product.inp_p75_ms, None, "not reported");
    assert_eq!((product.errors, product.error_rate), (1, 1.0));
    let search = &pages.pages[2];
    assert_eq!(
        (search.error_views, search.errors),
        (1, 0),
        "the page answered 500"
    );
    let by_errors: RumPagesResponse = lab.get("/api/rum/pages?sort=errors").await;
    assert_eq!(by_errors.pages[2].page, "/");

    let errors: RumErrorsResponse = lab.get("/api/rum/errors").await;
    assert_eq!(errors.errors.len(), 2, "{errors:#?}");
    let script = errors.errors.iter().find(|e| e.source == "source").unwrap();
    assert_eq!(script.file.as_deref(), Some("/assets/storefront.js"));
    assert_eq!((script.line, script.column), (Some(14), Some(22)));
    assert_eq!(script.r#type, "TypeError");
    assert_eq!(script.pages, ["/products/{slug}"]);
    assert_eq!(script.example_session, "sess-1");
    let document = errors
        .errors
        .iter()
        .find(|e| e.source == "document")
        .unwrap();
    assert_eq!(document.message, "GET /products answered 500");
    assert_eq!(document.pages, ["/products"]);

    let sessions: RumSessionsResponse = lab.get("/api/rum/sessions").await;
    let summary = &sessions.sessions[0];
    assert_eq!(
        (
            summary.views,
            summary.actions,
            summary.resources,
            summary.errors
        ),
        // The script's error and the search's document that answered 500.
        (3, 1, 3, 2)
    );
    assert_eq!(summary.pages, ["/", "/products/{slug}", "/products"]);

    let journey: RumSession = lab.get("/api/rum/sessions/sess-1").await;
    let product = &journey.views[1];
    assert_eq!(product.page, "/products/{slug}");
    assert_eq!((product.status, product.load_ms), (Some(200), Some(2700.0)));
    assert_eq!(
        product.trace_id.as_deref(),
        Some("00000000000004d2"),
        "not stored: 1234's 16 digits"
    );
    let kinds: Vec<&str> = product.events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["resource", "action", "resource", "error", "long_task"]
    );
    assert_eq!(product.events[1].name, "click on Add To Cart");
    let call = &product.events[2];
    assert_eq!(call.name, "xhr POST /api/v2/storefront/cart/add_item");
    assert_eq!(
        call.trace_id,
        Some(format!("{trace:032x}")),
        "linked to the stored trace"
    );
    assert_eq!(
        product.events[3].location.as_deref(),
        Some("/assets/storefront.js:14")
    );
    assert_eq!(journey.views[2].status, Some(500));

    let missing = lab
        .client
        .get(format!(
            "http://{}/api/rum/sessions/nope",
            lab.running.api.unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    // The service map: the browser in front of the storefront, with its documents and traced calls.
    let map: protocol::ServiceMap = lab.get("/api/map").await;
    let browser = map
        .nodes
        .iter()
        .find(|n| n.id == "browser")
        .expect("a browser node");
    assert_eq!((browser.kind.as_str(), browser.rank), ("browser", 0));
    assert!(
        map.nodes
            .iter()
            .filter(|n| n.id != "browser")
            .all(|n| n.rank >= 1)
    );
    let edge = map
        .edges
        .iter()
        .find(|e| e.from == "browser")
        .expect("an edge");
    assert_eq!(
        (edge.to.as_str(), edge.calls, edge.errors),
        ("store-frontend", 3, 1)
    );
    // A rate over the time the events cover (a second at least), as the services' edges have.
    assert!(edge.rps > 0.0 && edge.rps <= edge.calls as f64, "{edge:?}");

    let stats: Stats = lab.get("/api/stats").await;
    let rum = &stats.rum;
    assert_eq!(
        (rum.accepted, rum.stored, rum.merged, rum.evicted),
        (11, 9, 2, 0)
    );
    assert_eq!(rum.by_type["view"], 3);
    assert_eq!(rum.by_type["resource"], 3);
    assert_eq!(stats.accepted, 3, "spans are counted apart");
}

#[tokio::test]
async fn malformed_lines_are_refused_one_by_one_without_losing_the_rest() {
    let lab = Lab::start().await;
    let good = view("s", "v", "http://127.0.0.1:3000/", 0, 1, 100.0).to_string();
    let body = [
        good.as_str(),
        "{not json",
        r#"{"type":"view","session":{"id":"s"},"view":{"id":"v2"}}"#,
        r#"{"date":1790000000000}"#,
        "[1,2,3]",
        r#"{"type":"vital","date":1790000000000,"session":{"id":"s"},"view":{"id":"v"}}"#,
        "",
        r#"{"type":"view","date":1790000000000,"session":{"id":"s"},"view":{"id":"v3","loading_time":"slow"}}"#,
    ]
    .join("\n");
    let (status, answer) = lab.send(body.into_bytes(), None).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(
        (
            answer["accepted"].as_u64(),
            answer["ignored"].as_u64(),
            answer["rejected"].as_u64()
        ),
        (Some(1), Some(1), Some(5))
    );
    assert!(
        answer["error"].as_str().unwrap().contains("not an event"),
        "{answer}"
    );
    let stats: Stats = lab.get("/api/stats").await;
    assert_eq!(stats.rum.stored, 1);
    assert_eq!(
        stats.rum.ignored, 1,
        "an unknown type is ignored and counted"
    );
    assert_eq!(stats.rum.rejected_events["malformed_json"], 3);
    assert_eq!(stats.rum.rejected_events["missing_field"], 2);

    // A batch with nothing good in it is refused whole.
    let (status, answer) = lab.send(b"garbage\n\n".to_vec(), None).await;
    assert_eq!(status, 400);
    assert!(
        answer["error"].as_str().unwrap().contains("not an event"),
        "{answer}"
    );
    let stats: Stats = lab.get("/api/stats").await;
    assert_eq!(stats.rum.rejected["no_event"], 1);
}

#[tokio::test]
async fn oversized_undecodable_and_misdirected_batches_are_refused_with_a_reason() {
    let lab = Lab::with(CollectorOptions {
        rum_max_body: 64 * 1024,
        ..CollectorOptions::default()
    })
    .await;
    let event = view("s", "v", "http://127.0.0.1:3000/", 0, 1, 100.0).to_string();
    let big = vec![event.as_str(); 64 * 1024 / event.len() + 10].join("\n");
    let (status, answer) = lab.send(big.clone().into_bytes(), None).await;
    assert_eq!(status, 413, "{answer}");
    // Small on the wire, past the limit inflated.
    let (status, answer) = lab.send(deflate(big.as_bytes()), Some("deflate")).await;
    assert_eq!(status, 413, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("decompresses"),
        "{answer}"
    );
    // gzip is read too; a body that is not what it says is refused.
    let (status, answer) = lab.send(gzip(event.as_bytes()), Some("gzip")).await;
    assert_eq!((status, answer["accepted"].as_u64()), (202, Some(1)));
    let (status, _) = lab.send(b"plain text".to_vec(), Some("deflate")).await;
    assert_eq!(status, 400);
    let (status, _) = lab.send(event.clone().into_bytes(), Some("br")).await;
    assert_eq!(status, 415);
    // The SDK's other intakes are not received here.
    let response = lab
        .client
        .post(lab.intake("/?ddforward=%2Fapi%2Fv2%2Freplay%3Fddsource%3Dbrowser"))
        .body(event.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("only the RUM intake")
    );
    // The proxy form on the root works.
    let response = lab
        .client
        .post(lab.intake(&format!("/?{FORWARD}")))
        .body(event)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let stats: Stats = lab.get("/api/stats").await;
    let rejected = &stats.rum.rejected;
    assert_eq!(rejected["too_large"], 2);
    assert_eq!(rejected["malformed_compression"], 1);
    assert_eq!(rejected["unsupported_content_encoding"], 1);
    assert_eq!(rejected["unsupported_intake"], 1);
    assert_eq!(
        stats.rum.stored, 1,
        "the gzip batch and the root one: one view, updated"
    );
}

/// A browser's preflight of a POST from `origin` to `path`.
async fn preflight(lab: &Lab, path: &str, origin: &str) -> reqwest::Response {
    lab.client
        .request(reqwest::Method::OPTIONS, lab.intake(path))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn cors_preflights_are_answered_for_the_shops_origin_only() {
    let lab = Lab::start().await;
    for path in ["/v1/traces", "/api/v2/rum"] {
        let preflight = lab
            .client
            .request(reqwest::Method::OPTIONS, lab.intake(path))
            .header("origin", ORIGIN)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type,traceparent")
            .send()
            .await
            .unwrap();
        assert_eq!(preflight.status(), 204, "{path}");
        let headers = preflight.headers();
        assert_eq!(headers["access-control-allow-origin"], ORIGIN);
        assert_eq!(headers["access-control-allow-methods"], "POST, OPTIONS");
        assert_eq!(
            headers["access-control-allow-headers"],
            "content-type,traceparent"
        );
        assert!(headers.contains_key("access-control-max-age"));
    }
    let foreign = preflight(&lab, "/v1/traces", "http://evil.example").await;
    assert_eq!(foreign.status(), 403);
    assert!(
        foreign
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    assert!(
        foreign
            .text()
            .await
            .unwrap()
            .contains("http://evil.example")
    );
    // The answer to the request itself is readable by the page.
    let response = lab
        .client
        .post(lab.intake("/v1/traces"))
        .header("origin", ORIGIN)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["access-control-allow-origin"], ORIGIN);

    // Configurable: any origin.
    let open = Lab::with(CollectorOptions {
        cors_origins: vec!["*".into()],
        ..CollectorOptions::default()
    })
    .await;
    let answer = preflight(&open, "/v1/traces", "http://elsewhere:8080").await;
    assert_eq!(answer.status(), 204);
}

/// A recording keeps the browser's events beside the spans, as they came, and plays them back: `lab report
/// FILE` and `lab tui FILE` show the same Browser section the live collector did.
#[tokio::test]
async fn a_recording_keeps_the_browsers_events_and_plays_them_back_the_same() {
    use collector::report::Report;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lab.jsonl");
    let lab = Lab::with(CollectorOptions {
        record: Some(path.clone()),
        ..CollectorOptions::default()
    })
    .await;
    let trace = 0x51ed_u128;
    let route = |id: u64, route: &str| {
        span(trace + id as u128, id)
            .service("store-frontend")
            .kind(SpanKind::Server)
            .text("http.request.method", "GET")
            .text("http.route", route)
            .at(1, 2)
    };
    lab.running
        .ingest
        .submit(vec![route(1, "/products/{slug}"), route(2, "/products")])
        .unwrap();
    let (status, _) = lab
        .send(deflate(&ndjson(&session(trace))), Some("deflate"))
        .await;
    assert_eq!(status, 202);
    // A refused line is counted, not recorded.
    let mut body = b"{not json\n".to_vec();
    body.extend(ndjson(&[view(
        "sess-2",
        "view-2",
        &format!("{ORIGIN}/"),
        20_000,
        1,
        900.0,
    )]));
    let (status, answer) = lab.send(body, None).await;
    assert_eq!((status, &answer["rejected"]), (202, &json!(1)), "{answer}");
    for _ in 0..100 {
        if lab.running.store.trace_count() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let live = Report::build("live", &lab.running.store, &lab.running.analysis);
    assert!(!live.browser.pages.is_empty());
    lab.running.stop().await.unwrap();

    let (replayed, loaded) = Report::from_recording(&path, Default::default())
        .await
        .unwrap();
    assert_eq!(loaded.damaged, 0, "{:?}", loaded.problems);
    assert_eq!(
        loaded.rum_events, 12,
        "the session's 11 events and the view"
    );
    assert_eq!(replayed.browser.pages, live.browser.pages);
    assert_eq!(replayed.browser.errors, live.browser.errors);
    assert_eq!(replayed.browser.sessions, 2);
    assert_eq!(replayed.browser.accounting.rejected_events.len(), 0);
    let text = replayed.to_string();
    assert!(
        text.contains("Browser (what the shoppers saw)") && text.contains("/products/{slug}"),
        "{text}"
    );
    // What `lab tui FILE` reads: the same journeys.
    let (store, analysis, _) = collector::playback::analyse(&path, 10_000, Default::default())
        .await
        .unwrap();
    let query = collector::query::Query::new(store, analysis);
    let sessions = query.rum_sessions(10).sessions;
    assert_eq!(sessions.len(), 2);
    let journey = query.rum_session("sess-1").unwrap();
    assert_eq!(journey.views.len(), 3, "{journey:?}");
}
