//! The analyses through the query API, on spans shaped like the instrumented workshop shop's
//! (`collector::workshop::generate`), in the broken and the fixed state.

use std::time::Duration;

use collector::server::{CollectorOptions, RunningCollector};
use collector::workshop::{self, Workshop};
use serde_json::Value;

const START_NS: u64 = 1_790_000_000_000_000_000;

async fn collector_with(state: Workshop, requests: usize) -> RunningCollector {
    let running = RunningCollector::start(&CollectorOptions {
        otlp_http: None,
        otlp_grpc: None,
        datadog: None,
        api: Some("127.0.0.1:0".parse().unwrap()),
        ..CollectorOptions::default()
    })
    .await
    .unwrap();
    let spans = workshop::generate(state, requests, START_NS);
    let total = spans.len() as u64;
    // Several batches, split mid-trace, as exporters do.
    for batch in spans.chunks(97) {
        running.ingest.submit_waiting(batch.to_vec()).await.unwrap();
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while running.store.accounting().accepted < total {
        assert!(tokio::time::Instant::now() < deadline, "spans not stored");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    running.analysis.flush(&running.store);
    running
}

async fn get(running: &RunningCollector, path: &str) -> (u16, Value) {
    let url = format!("http://{}{path}", running.api.unwrap());
    let response = reqwest::get(&url).await.unwrap();
    let status = response.status().as_u16();
    let body = response.bytes().await.unwrap();
    (status, serde_json::from_slice(&body).unwrap())
}

fn find<'a>(list: &'a Value, key: &str, name: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|item| item[key] == name)
        .unwrap_or_else(|| panic!("no {key} = {name} in {list:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broken_shop_shows_its_errors_bottlenecks_and_n_plus_one() {
    let running = collector_with(Workshop::Broken, 40).await;

    let (status, body) = get(&running, "/api/services?sort=errors&window=all").await;
    assert_eq!(status, 200);
    let services = &body["services"];
    let names: Vec<&str> = services
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names[0], "store-frontend", "most errors first: {names:?}");
    let front = find(services, "name", "store-frontend");
    assert_eq!(
        (front["requests"].as_u64(), front["errors"].as_u64()),
        (Some(40), Some(20))
    );
    assert!((front["error_rate"].as_f64().unwrap() - 0.5).abs() < 1e-9);
    for slow in ["advertisements-service", "discounts-service"] {
        let service = find(services, "name", slow);
        assert!(service["p50_ms"].as_f64().unwrap() >= 2500.0, "{service}");
        assert_eq!(service["kind"], "service");
    }
    for service in [
        "store-frontend",
        "advertisements-service",
        "discounts-service",
    ] {
        let database = format!("{service}.db (sqlite)");
        assert_eq!(find(services, "name", &database)["kind"], "database");
    }

    // Every row's quantiles are ordered and none passes the maximum beside it, in every window.
    for window in ["1m", "5m", "15m", "all"] {
        let (_, body) = get(&running, &format!("/api/services?window={window}")).await;
        let mut rows: Vec<Value> = body["services"].as_array().unwrap().clone();
        let services = body["services"].as_array().unwrap();
        for service in services.iter().filter(|s| s["kind"] == "service") {
            let name = service["name"].as_str().unwrap().replace('/', "%2F");
            let path = format!("/api/services/{name}/endpoints?window={window}");
            let (_, endpoints) = get(&running, &path).await;
            rows.extend(endpoints["endpoints"].as_array().unwrap().iter().cloned());
        }
        for row in &rows {
            let figures: Vec<f64> = ["p50_ms", "p75_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms"]
                .iter()
                .map(|key| row[key].as_f64().unwrap())
                .collect();
            assert!(
                figures.windows(2).all(|pair| pair[0] <= pair[1]),
                "{window}: {row}"
            );
        }
    }

    let (_, body) = get(&running, "/api/services?sort=latency").await;
    // The home page waits for both 2.5 s sleeps, so the frontend's p95 is the highest, the database's the lowest.
    let by_latency: Vec<&str> = body["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        by_latency[0], "store-frontend",
        "slowest first: {by_latency:?}"
    );
    assert!(
        by_latency.last().unwrap().ends_with(".db (sqlite)"),
        "{by_latency:?}"
    );
    let p95: Vec<f64> = body["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["p95_ms"].as_f64().unwrap())
        .collect();
    assert!(p95.windows(2).all(|w| w[0] >= w[1]), "{p95:?}");

    let (status, body) = get(&running, "/api/services/store-frontend/endpoints").await;
    assert_eq!(status, 200);
    let taxon = find(&body["endpoints"], "name", "GET /t/{*permalink}");
    assert_eq!(
        (taxon["requests"].as_u64(), taxon["errors"].as_u64()),
        (Some(10), Some(10))
    );
    let home = find(&body["endpoints"], "name", "GET /");
    assert_eq!(home["errors"], 0);

    // The map: the frontend calls both services (learned from the client spans' addresses), each service
    // its database.
    let (_, map) = get(&running, "/api/map").await;
    let edges: Vec<(String, String)> = map["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["from"].as_str().unwrap().to_owned(),
                e["to"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for (from, to) in [
        ("store-frontend", "advertisements-service"),
        ("store-frontend", "discounts-service"),
        (
            "advertisements-service",
            "advertisements-service.db (sqlite)",
        ),
        ("discounts-service", "discounts-service.db (sqlite)"),
        ("store-frontend", "store-frontend.db (sqlite)"),
    ] {
        assert!(
            edges.contains(&(from.to_owned(), to.to_owned())),
            "{from} → {to} missing from {edges:?}"
        );
    }
    assert!(
        !edges.iter().any(|(_, to)| to.starts_with("127.0.0.1")),
        "addresses resolved to services: {edges:?}"
    );
    let rank = |name: &str| find(&map["nodes"], "name", name)["rank"].as_u64().unwrap();
    assert_eq!(rank("store-frontend"), 0);
    assert_eq!(rank("discounts-service"), 1);
    assert_eq!(rank("discounts-service.db (sqlite)"), 2);
    let to_ads = map["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["to"] == "advertisements-service")
        .unwrap();
    assert_eq!(to_ads["calls"], 20);
    assert!(to_ads["p95_ms"].as_f64().unwrap() >= 2500.0);

    // One error group, where the misplaced banner call is.
    let (_, body) = get(&running, "/api/errors").await;
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let group = &errors[0];
    assert_eq!(group["service"], "store-frontend");
    assert_eq!(group["type"], "MissingAdError");
    assert_eq!(group["file"], workshop::BANNER_FILE);
    assert_eq!(group["line"], workshop::BANNER_LINE);
    assert_eq!(group["count"], 20);
    let example = group["example_trace_id"].as_str().unwrap().to_owned();

    // One N+1 finding: discounts' GET /discount loop.
    let (_, body) = get(&running, "/api/insights").await;
    let findings = body["n_plus_one"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let finding = &findings[0];
    assert_eq!(finding["service"], "discounts-service");
    assert_eq!(finding["endpoint"], "GET /discount");
    assert_eq!(
        finding["query"],
        "SELECT id, name, discount_query, influencer_id FROM discount_type WHERE id = ?"
    );
    assert_eq!(finding["repeats"], 103);
    assert_eq!(finding["count"], 10, "one per home page");
    assert_eq!(finding["statements"].as_array().unwrap().len(), 2);
    // One loop time: the latest trace's is its statements' sum, and the mean per request averages those.
    let statements_ms: f64 = (finding["statements"].as_array().unwrap().iter())
        .map(|s| s["total_ms"].as_f64().unwrap())
        .sum();
    let latest_ms = finding["latest_ms"].as_f64().unwrap();
    assert!((latest_ms - statements_ms).abs() < 1e-6, "{finding:#}");
    assert!(latest_ms > 0.0 && finding["total_ms"].as_f64().unwrap() > 0.0);
    assert!(finding["total_ms"].as_f64().unwrap() >= 100.0);
    let share = finding["share"].as_f64().unwrap();
    assert!(share > 0.0 && share < 0.2, "the sleep dominates: {share}");

    // Trace search, and the failing trace in full with its critical path.
    let (_, body) = get(
        &running,
        "/api/traces?service=store-frontend&endpoint=GET%20/t/%7B*permalink%7D&error=true&limit=5",
    )
    .await;
    let traces = body["traces"].as_array().unwrap();
    assert_eq!(traces.len(), 5);
    assert!(
        traces
            .iter()
            .all(|t| t["error"] == true && t["root_name"] == "GET /t/{*permalink}")
    );
    let starts: Vec<u64> = traces
        .iter()
        .map(|t| t["start_unix_nano"].as_u64().unwrap())
        .collect();
    assert!(
        starts.windows(2).all(|w| w[0] > w[1]),
        "latest first: {starts:?}"
    );
    let (_, body) = get(
        &running,
        "/api/traces?sort=duration&limit=3&min_duration_ms=2000",
    )
    .await;
    let slow = body["traces"].as_array().unwrap();
    assert_eq!(slow.len(), 3);
    assert!(
        slow.iter()
            .all(|t| t["duration_ms"].as_f64().unwrap() >= 2000.0)
    );
    assert_eq!(slow[0]["root_name"], "GET /", "home waits for both sleeps");

    let (status, trace) = get(&running, &format!("/api/traces/{example}")).await;
    assert_eq!(status, 200);
    let spans = trace["spans"].as_array().unwrap();
    let failing = spans
        .iter()
        .find(|s| s["status"] == "error" && s["kind"] == "internal")
        .unwrap();
    assert_eq!(
        failing["attributes"]["code.line.number"],
        workshop::BANNER_LINE
    );
    assert_eq!(
        failing["events"][0]["attributes"]["exception.type"],
        "MissingAdError"
    );
    assert!(!trace["critical_path"].as_array().unwrap().is_empty());

    // The home page's critical path runs through the discounts call and its server span.
    let (_, body) = get(&running, "/api/traces?sort=duration&limit=1").await;
    let slowest = body["traces"][0]["trace_id"].as_str().unwrap().to_owned();
    let (_, trace) = get(&running, &format!("/api/traces/{slowest}")).await;
    let path: Vec<&str> = trace["critical_path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let names: Vec<String> = path
        .iter()
        .map(|id| {
            find(&trace["spans"], "span_id", id)["name"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(names[0], "GET /");
    assert!(names.contains(&"GET /discount".to_owned()), "{names:?}");
    assert!(names.contains(&"GET /ads".to_owned()), "{names:?}");

    let (_, body) = get(&running, "/api/deployments").await;
    let front = find(&body["deployments"], "service", "store-frontend");
    assert_eq!(
        (front["version"].as_str(), front["requests"].as_u64()),
        (Some("1.0"), Some(40))
    );
    // Every discount request ran the loop; none of the storefront's did.
    let discounts = find(&body["deployments"], "service", "discounts-service");
    assert!(discounts["requests"].as_u64().unwrap() > 0, "{discounts}");
    assert_eq!(
        discounts["n_plus_one"], discounts["requests"],
        "{discounts}"
    );
    assert_eq!(front["n_plus_one"], 0, "{front}");

    let (_, stats) = get(&running, "/api/stats").await;
    assert_eq!(stats["accepted"], stats["stored"]);
    assert_eq!(stats["rejected_payloads"], 0);
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fixed_shop_has_no_errors_no_n_plus_one_and_is_fast() {
    let running = collector_with(Workshop::Fixed, 40).await;
    let (_, body) = get(&running, "/api/errors").await;
    assert_eq!(body["errors"].as_array().unwrap().len(), 0);
    let (_, body) = get(&running, "/api/insights").await;
    assert_eq!(body["n_plus_one"].as_array().unwrap().len(), 0);
    let (_, body) = get(&running, "/api/services").await;
    for service in body["services"].as_array().unwrap() {
        assert_eq!(service["errors"], 0, "{service}");
        assert!(service["p95_ms"].as_f64().unwrap() < 1000.0, "{service}");
    }
    let (_, body) = get(&running, "/api/deployments").await;
    let discounts = find(&body["deployments"], "service", "discounts-service");
    assert_eq!(discounts["version"], "1.1");
    assert_eq!(discounts["n_plus_one"], 0, "{discounts}");
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_parameters_are_400s_that_name_them() {
    let running = collector_with(Workshop::Fixed, 4).await;
    for (path, names) in [
        ("/api/services?sort=speed", "`sort`"),
        ("/api/services?window=2m", "`window`"),
        ("/api/services?windw=5m", "`windw`"),
        ("/api/traces?limit=lots", "`limit`"),
        ("/api/traces?limit=100000", "`limit`"),
        ("/api/traces?min_duration_ms=-1", "`min_duration_ms`"),
        ("/api/traces?error=maybe", "`error`"),
        ("/api/traces?since=yesterday", "`since`"),
        ("/api/traces?since=5%C3%A9", "`since`"),
        ("/api/traces?sort=name", "`sort`"),
        ("/api/traces/not-hex", "trace id"),
        ("/api/map?window=1d", "`window`"),
        ("/api/errors?x=1", "`x`"),
    ] {
        let (status, body) = get(&running, path).await;
        assert_eq!(status, 400, "{path}: {body}");
        let message = body["error"].as_str().unwrap();
        assert!(message.contains(names), "{path}: {message}");
    }
    for path in [
        "/api/traces/0123456789abcdef0123456789abcdef",
        "/api/services/nobody/endpoints",
        "/api/nothing",
    ] {
        let (status, body) = get(&running, path).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert!(body["error"].is_string());
    }
    // Windows end at the newest span: the last minute of a 4-second run is all of it.
    let (_, all) = get(&running, "/api/services?window=all&sort=name").await;
    let (_, recent) = get(&running, "/api/services?window=1m&sort=name").await;
    assert_eq!(all, recent);
    let (_, body) = get(&running, "/api/traces?since=2s").await;
    let recent = body["traces"].as_array().unwrap().len();
    assert!((1..4).contains(&recent), "{recent} of 4 in the last 2 s");
    running.stop().await.unwrap();
}

/// An analysis that works traces out 50 ms after their last span, and a store, fed as the collector's writer
/// feeds them.
struct Settling {
    analysis: collector::analysis::Analysis,
    store: collector::store::Store,
    settle: Duration,
}

impl Settling {
    fn new() -> Settling {
        let settle = Duration::from_millis(50);
        Settling {
            analysis: collector::analysis::Analysis::new(collector::analysis::Settings {
                settle,
                ..Default::default()
            }),
            store: collector::store::Store::new(100_000),
            settle,
        }
    }

    fn feed(&self, spans: Vec<collector::Span>) {
        self.analysis.observe(&spans);
        self.store.insert(spans);
    }

    /// Waits until what was fed is quiet, then settles; how many traces were read.
    fn settle_when_quiet(&self) -> usize {
        std::thread::sleep(self.settle * 2);
        self.analysis.settle(&self.store)
    }
}

#[test]
fn a_trace_arriving_in_pieces_is_analysed_once_its_root_is_in_and_again_for_late_spans() {
    let lab = Settling::new();
    // One home page: discounts' queries first (its exporter flushed them mid-request), the rest later.
    let spans = workshop::generate(Workshop::Broken, 1, START_NS);
    let (queries, rest): (Vec<_>, Vec<_>) = spans
        .into_iter()
        .partition(|s| s.service_name() == "discounts-service" && s.name.starts_with("SELECT"));
    assert!(queries.len() > 200);
    lab.feed(queries);
    assert_eq!(
        lab.settle_when_quiet(),
        0,
        "no root yet: more spans are likely"
    );
    assert!(lab.analysis.n_plus_one().is_empty());
    lab.feed(rest);
    assert_eq!(lab.settle_when_quiet(), 1);
    let findings = lab.analysis.n_plus_one();
    assert_eq!(findings.len(), 1);
    assert_eq!(
        (findings[0].endpoint.as_str(), findings[0].count),
        ("GET /discount", 1)
    );

    // A late failing span of the same trace: read again, counted once, the finding not twice.
    let mut late = workshop::generate(Workshop::Broken, 3, START_NS)
        .into_iter()
        .find(|s| s.name.as_ref() == "render layout" && s.status.message.is_some())
        .unwrap();
    late.trace_id = collector::TraceId::from_hex(&findings[0].traces[0]).unwrap();
    late.span_id = collector::SpanId::from_u64(0xdead);
    lab.feed(vec![late]);
    assert_eq!(lab.settle_when_quiet(), 1);
    let errors = lab.analysis.errors();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].count, 1);
    assert_eq!(
        lab.analysis.n_plus_one()[0].count,
        1,
        "the same trace counts once"
    );
}

/// The broken shop's home pages among `requests`, each split into discounts' queries and the rest of its
/// spans (the discounts server span among them), as an exporter flushing mid-request sends them.
fn home_pages(requests: usize) -> Vec<(Vec<collector::Span>, Vec<collector::Span>)> {
    let mut pages = Vec::new();
    let mut spans = workshop::generate(Workshop::Broken, requests, START_NS);
    while let Some(first) = spans.first() {
        let id = first.trace_id;
        let (trace, others): (Vec<_>, Vec<_>) = spans.into_iter().partition(|s| s.trace_id == id);
        spans = others;
        let (queries, rest): (Vec<_>, Vec<_>) = trace
            .into_iter()
            .partition(|s| s.service_name() == "discounts-service" && s.name.starts_with("SELECT"));
        if queries.len() > 200 {
            pages.push((queries, rest));
        }
    }
    pages
}

impl Settling {
    /// The N+1 findings as (endpoint, traces counted).
    fn findings(&self) -> Vec<(String, u64)> {
        self.analysis
            .n_plus_one()
            .into_iter()
            .map(|f| (f.endpoint, f.count))
            .collect()
    }

    /// The discounts service's (requests, requests with an N+1).
    fn discounts_deployed(&self) -> (u64, u64) {
        let deployments = self.analysis.deployments();
        let d = deployments
            .iter()
            .find(|d| d.service == "discounts-service")
            .expect("a discounts deployment");
        (d.requests, d.n_plus_one)
    }
}

#[test]
fn an_n_plus_one_read_before_its_services_entry_span_is_not_a_finding_of_its_own() {
    let lab = Settling::new();
    let mut pages = home_pages(5);
    assert_eq!(pages.len(), 2, "the generated traffic holds two home pages");
    let (second, first) = (pages.pop().unwrap(), pages.pop().unwrap());

    // The first page's queries alone, worked out at once (a report at the end of a run): nowhere better to
    // file the loop than under no endpoint.
    lab.feed(first.0);
    lab.analysis.flush(&lab.store);
    assert_eq!(lab.findings(), [(String::new(), 1)]);
    // The rest of it comes in: the loop's endpoint is known, and that finding replaces the one without.
    lab.feed(first.1);
    assert_eq!(lab.settle_when_quiet(), 1);
    assert_eq!(lab.findings(), [("GET /discount".to_owned(), 1)]);
    assert_eq!(lab.discounts_deployed(), (1, 1));

    // The second page's queries alone: counted with the same loop found before, not as a finding of its own.
    lab.feed(second.0);
    lab.analysis.flush(&lab.store);
    assert_eq!(lab.findings(), [("GET /discount".to_owned(), 2)]);
    lab.feed(second.1);
    assert_eq!(lab.settle_when_quiet(), 1);
    assert_eq!(
        lab.findings(),
        [("GET /discount".to_owned(), 2)],
        "counted once"
    );
    assert_eq!(lab.discounts_deployed(), (2, 2), "each request once");
}

#[test]
fn loops_read_in_halves_are_refiled_under_their_endpoint_and_counted_once() {
    let lab = Settling::new();
    let pages = home_pages(5);
    assert_eq!(pages.len(), 2);
    let (queries, rests): (Vec<_>, Vec<_>) = pages.into_iter().unzip();
    // Both pages' queries alone, worked out at once: one finding without an endpoint, two traces in it.
    for spans in queries {
        lab.feed(spans);
    }
    lab.analysis.flush(&lab.store);
    assert_eq!(lab.findings(), [(String::new(), 2)]);
    // The rest of both: both move under their endpoint; nothing stays behind, nothing counts twice.
    for spans in rests {
        lab.feed(spans);
    }
    assert_eq!(lab.settle_when_quiet(), 2);
    assert_eq!(lab.findings(), [("GET /discount".to_owned(), 2)]);
    assert_eq!(lab.discounts_deployed(), (2, 2));
}

/// One span stamped an hour ahead (a sender with a wrong clock) neither empties the windows nor hides the
/// traces a `since` search finds: it is stored and counted, and the windows still end at the present.
#[test]
fn a_far_future_span_does_not_empty_any_window() {
    use collector::analysis::{Analysis, Settings, Sort, Window};
    use collector::query::Query;
    use collector::store::Store;
    use collector::testing::{Build as _, span};
    use protocol::TraceSearch;
    use protocol::query::Since;

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let query = Query::new(
        Store::new(collector::store::DEFAULT_CAPACITY),
        Analysis::new(Settings::default()),
    );
    let mut spans = workshop::generate(Workshop::Broken, 10, now - 40_000_000_000);
    let ahead = now + 55 * 60_000_000_000;
    spans.push(
        span(0xfeed, 1)
            .name("GET /from-the-future")
            .kind(collector::model::SpanKind::Server)
            .service("skewed-clock")
            .at(ahead, ahead + 1_000_000),
    );
    query.analysis.observe(&spans);
    query.store.insert(spans);
    query.analysis.flush(&query.store);

    for window in ["1m", "5m", "15m"] {
        let services = query.services(Window::parse(window).unwrap(), Sort::Latency);
        assert!(
            services
                .services
                .iter()
                .any(|s| s.name == "store-frontend" && s.requests > 0),
            "{window}: {services:?}"
        );
    }
    let recent = query.traces(&TraceSearch {
        since: Some(Since::Ago(60_000_000_000)),
        limit: 100,
        ..TraceSearch::default()
    });
    assert!(recent.traces.len() >= 10, "{recent:?}");
    let stats = query.stats();
    assert_eq!(stats.future_spans, 1);
    assert_eq!(stats.accepted, stats.stored);
    assert!(query.analysis.newest_ns() < now + 60_000_000_000);
}

/// Searching by text finds the traces with a span that mentions it (a statement's words, an error's message),
/// case aside; a longest duration leaves out the slower ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_are_found_by_the_text_of_their_spans_and_a_longest_duration() {
    let running = collector_with(Workshop::Broken, 40).await;
    let (status, all) = get(&running, "/api/traces?limit=1000").await;
    assert_eq!(status, 200);
    let all = all["traces"].as_array().unwrap().len();
    let (_, loops) = get(&running, "/api/traces?text=FROM%20discount_type&limit=1000").await;
    let loops = loops["traces"].as_array().unwrap();
    assert!(
        !loops.is_empty() && loops.len() < all,
        "{} of {all}",
        loops.len()
    );
    let (_, lower) = get(&running, "/api/traces?text=from%20discount_type&limit=1000").await;
    assert_eq!(
        lower["traces"].as_array().unwrap().len(),
        loops.len(),
        "case aside"
    );
    // Every one of them is a trace the N+1 runs in: the home page, through the discounts service.
    for trace in loops {
        let id = trace["trace_id"].as_str().unwrap();
        let (_, view) = get(&running, &format!("/api/traces/{id}")).await;
        assert!(
            view["spans"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["statement"]
                    .as_str()
                    .is_some_and(|q| q.contains("discount_type"))),
            "{id}"
        );
    }
    let (_, fast) = get(&running, "/api/traces?max_duration_ms=100&limit=1000").await;
    let fast = fast["traces"].as_array().unwrap();
    assert!(!fast.is_empty() && fast.len() < all);
    assert!(
        fast.iter()
            .all(|t| t["duration_ms"].as_f64().unwrap() <= 100.0)
    );
    let (_, none) = get(&running, "/api/traces?text=no-span-says-this").await;
    assert!(none["traces"].as_array().unwrap().is_empty());
    let (status, _) = get(&running, "/api/traces?max_duration_ms=-1").await;
    assert_eq!(status, 400);
}

/// A waiting trace tallies its calls under a bounded number of parents: one calling out from more (here a
/// loop under its hundredth parent, after 99 parents that query once each) is still read once quiet, and
/// its loop found.
#[test]
fn a_loop_under_a_parent_past_the_tallied_ones_is_still_found() {
    use collector::model::SpanKind;
    use collector::testing::{Build as _, span};

    let lab = Settling::new();
    let trace = 0x5eed;
    let query = |id: u64, parent: u64, statement: &str, at: u64| {
        span(trace, id)
            .parent(parent)
            .service("shop")
            .kind(SpanKind::Client)
            .name(statement)
            .text("db.system.name", "sqlite")
            .text("db.query.text", statement)
            .at(at, at + 200_000)
    };
    let mut spans = Vec::new();
    for parent in 0..100u64 {
        let parent_id = 1000 + parent;
        spans.push(
            span(trace, parent_id)
                .parent(1)
                .service("shop")
                .name("step")
                .at(parent * 10_000_000, parent * 10_000_000 + 9_000_000),
        );
        let statements = if parent == 99 { 20 } else { 1 };
        for i in 0..statements {
            let id = 10_000 + parent * 100 + i;
            let statement = if parent == 99 {
                "SELECT price FROM prices WHERE id = ?".to_owned()
            } else {
                format!("SELECT step{parent} FROM steps")
            };
            spans.push(query(
                id,
                parent_id,
                &statement,
                parent * 10_000_000 + i * 300_000,
            ));
        }
    }
    spans.push(
        span(trace, 1)
            .service("shop")
            .kind(SpanKind::Server)
            .name("GET /steps")
            .text("http.request.method", "GET")
            .text("http.route", "/steps")
            .at(0, 1_000_000_000),
    );
    lab.feed(spans);
    assert_eq!(lab.settle_when_quiet(), 1, "the trace is read once quiet");
    let findings = lab.analysis.n_plus_one();
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0].query, "SELECT price FROM prices WHERE id = ?");
    assert_eq!(findings[0].endpoint, "GET /steps");
}

/// Traces wait to settle only while few do: past `MAX_PENDING` waiting, they are all worked out at once, quiet
/// or not (the writer asks after every batch), so the waiting table stays bounded under any load and nothing
/// is left out.
#[test]
fn past_the_most_that_may_wait_every_waiting_trace_is_worked_out_at_once() {
    use collector::analysis::MAX_PENDING;
    use collector::testing::{Build as _, span};

    let failing = |trace: u128| {
        span(trace, 1)
            .service("shop")
            .name("GET /")
            .failed("boom")
            .at(1_000, 2_000)
    };
    let lab = Settling::new();
    lab.feed((1..=10).map(failing).collect());
    assert_eq!(
        lab.analysis.settle(&lab.store),
        0,
        "few wait: not quiet yet"
    );

    assert_eq!(lab.analysis.settle_if_crowded(&lab.store), 0, "not crowded");
    let crowd = MAX_PENDING as u128 + 1;
    lab.feed((11..=10 + crowd).map(failing).collect());
    assert_eq!(
        lab.analysis.settle_if_crowded(&lab.store),
        10 + crowd as usize,
        "all worked out at once"
    );
    assert_eq!(lab.analysis.settle(&lab.store), 0, "none left waiting");
    let errors = lab.analysis.errors();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].count, 10 + crowd as u64);
}
