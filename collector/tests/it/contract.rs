//! The query API and the contract (`protocol`) agree, endpoint by endpoint: what the server sends reads into
//! the contract's type and writes back as the same JSON (no field renamed, dropped or added on either side),
//! and is what the collector's in-process answer ([`Query`]) serialises to.

use std::collections::HashMap;

use collector::analysis::{Analysis, Settings};
use collector::query::Query;
use collector::store::Store;
use collector::workshop::{self, Workshop};
use protocol::query::Since;
use protocol::{
    ApiError, DeploymentsResponse, EndpointsResponse, ErrorsResponse, InsightsResponse,
    LatencyResponse, ServiceMap, ServicesResponse, Sort, Stats, TraceSearch, TraceSort, TraceView,
    TracesResponse, Window,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

const START_NS: u64 = 1_790_000_000_000_000_000;

/// The broken shop, then the fixed one an hour later: every answer has something in it.
fn query() -> Query {
    let store = Store::new(collector::store::DEFAULT_CAPACITY);
    let analysis = Analysis::new(Settings::default());
    for (i, state) in [Workshop::Broken, Workshop::Fixed].into_iter().enumerate() {
        let spans = workshop::generate(state, 30, START_NS + i as u64 * 3_600_000_000_000);
        for batch in spans.chunks(97) {
            analysis.observe(batch);
            store.insert(batch.to_vec());
        }
    }
    analysis.flush(&store);
    Query::new(store, analysis)
}

struct Server {
    base: String,
    query: Query,
}

impl Server {
    async fn start() -> Server {
        let query = query();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let router = collector::api::router(query.store.clone(), query.analysis.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Server { base, query }
    }

    /// GETs `path`, checks its status, reads the body as `T` and checks that `T` writes it back unchanged.
    async fn get<T: DeserializeOwned + Serialize>(&self, path: &str, status: u16) -> T {
        let response = reqwest::get(format!("{}{path}", self.base)).await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{path}");
        let raw: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        let typed: T = serde_json::from_value(raw.clone())
            .unwrap_or_else(|e| panic!("{path}: not the contract's type: {e}\n{raw:#}"));
        assert_eq!(
            serde_json::to_value(&typed).unwrap(),
            raw,
            "{path}: the contract's type does not write back what the server sent"
        );
        typed
    }
}

/// Both answers as JSON: equal to the digit, since both are the same figures serialised by the same code.
fn same<T: Serialize>(over_http: &T, in_process: &T) {
    assert_eq!(
        serde_json::to_value(over_http).unwrap(),
        serde_json::to_value(in_process).unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_reads_into_the_contract_and_back() {
    let server = Server::start().await;
    let query = &server.query;

    for window in [Window::All, Window::parse("5m").unwrap()] {
        for sort in [Sort::Latency, Sort::Errors, Sort::Requests, Sort::Name] {
            let path = format!(
                "/api/services?window={}&sort={}",
                window.param(),
                sort.param()
            );
            let services: ServicesResponse = server.get(&path, 200).await;
            same(&services, &query.services(window, sort));
        }
        let map: ServiceMap = server
            .get(&format!("/api/map?window={}", window.param()), 200)
            .await;
        assert!(!map.nodes.is_empty() && !map.edges.is_empty());
        same(&map, &query.map(window));
    }
    let services: ServicesResponse = server.get("/api/services", 200).await;
    assert!(services.services.len() >= 3, "{services:?}");

    let endpoints: EndpointsResponse = server
        .get(
            "/api/services/discounts-service/endpoints?sort=requests",
            200,
        )
        .await;
    assert!(!endpoints.endpoints.is_empty());
    same(
        &endpoints,
        &query
            .endpoints("discounts-service", Window::All, Sort::Requests)
            .unwrap(),
    );

    let latency: LatencyResponse = server
        .get(
            "/api/services/advertisements-service/latency?buckets=12",
            200,
        )
        .await;
    assert_eq!(latency.p95_ms.len(), 12);
    same(
        &latency,
        &query.latency("advertisements-service", 12).unwrap(),
    );

    let errors: ErrorsResponse = server.get("/api/errors", 200).await;
    assert!(!errors.errors.is_empty());
    same(&errors, &query.errors());
    let insights: InsightsResponse = server.get("/api/insights", 200).await;
    assert!(!insights.n_plus_one.is_empty());
    same(&insights, &query.insights());
    let deployments: DeploymentsResponse = server.get("/api/deployments", 200).await;
    assert!(deployments.deployments.len() >= 6, "{deployments:?}");
    same(&deployments, &query.deployments());
    let stats: Stats = server.get("/api/stats", 200).await;
    assert!(stats.accepted > 0 && stats.accepted == stats.stored + stats.evicted);
    same(&stats, &query.stats());
    // Log records written in one of the stored traces.
    let trace_id = query.traces(&TraceSearch::default()).traces[0]
        .trace_id
        .clone();
    let id = collector::model::TraceId::from_hex(&trace_id).unwrap();
    let lines = format!(
        "{{\"message\": \"written in the trace\", \"status\": \"error\", \"dd.trace_id\": \"{}\"}}",
        id.to_u128() as u64
    );
    query.store.logs().insert(
        collector::logs::decode_lines(lines.as_bytes(), &collector::model::Interner::new(), 1)
            .records,
    );
    let logs: protocol::LogsResponse = server
        .get(&format!("/api/logs?trace_id={trace_id}"), 200)
        .await;
    assert_eq!(logs.logs.len(), 1, "{logs:?}");
    assert_eq!(logs.logs[0].trace_id, trace_id);

    // Searches: every parameter the contract writes, read back by the server as the same search.
    let searches = [
        TraceSearch::default(),
        TraceSearch {
            service: Some("store-frontend".to_owned()),
            error: Some(true),
            since: Some(Since::Ago(2 * 3_600_000_000_000)),
            limit: 5,
            ..TraceSearch::default()
        },
        TraceSearch {
            service: Some("discounts-service".to_owned()),
            endpoint: Some("GET /discount".to_owned()),
            min_duration_ms: 1.5,
            sort: TraceSort::Duration,
            limit: 3,
            ..TraceSearch::default()
        },
        TraceSearch {
            error: Some(false),
            since: Some(Since::UnixNano(START_NS + 10_000_000_000)),
            limit: 1000,
            ..TraceSearch::default()
        },
    ];
    for search in searches {
        let pairs: HashMap<String, String> = search
            .params()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        let url = reqwest::Url::parse_with_params("http://x/api/traces", &pairs).unwrap();
        let path = format!("/api/traces?{}", url.query().unwrap());
        let traces: TracesResponse = server.get(&path, 200).await;
        assert!(!traces.traces.is_empty(), "{path}");
        if let Some(since) = search.since {
            let from = since.unix_nano(query.analysis.newest_ns());
            assert!(
                traces.traces.iter().all(|t| t.start_unix_nano >= from),
                "{path}"
            );
        }
        assert!(traces.traces.len() <= search.limit, "{path}");
        same(&traces, &query.traces(&search));

        // And each trace listed, whole.
        let id = &traces.traces[0].trace_id;
        let trace: TraceView = server.get(&format!("/api/traces/{id}"), 200).await;
        assert_eq!(&trace.trace_id, id);
        same(
            &trace,
            &query
                .trace(collector::TraceId::from_hex(id).unwrap())
                .unwrap(),
        );
    }

    // The N+1's trace: its repeats are one group, as the finding counts them.
    let finding = &insights.n_plus_one[0];
    let trace: TraceView = server
        .get(&format!("/api/traces/{}", finding.traces[0]), 200)
        .await;
    let group = trace
        .repeat_groups
        .iter()
        .find(|g| g.query == finding.query)
        .expect("the finding's statement is a repeat group");
    assert_eq!(group.members.len() as u64, finding.repeats);
    assert!(
        group
            .members
            .iter()
            .all(|&m| trace.spans[m].repeat_group.is_some())
    );

    // Refusals are the contract's error envelope.
    for (path, status, says) in [
        ("/api/services?window=2m", 400, "`window`"),
        ("/api/traces?limit=5000", 400, "`limit`"),
        ("/api/traces/xyz", 400, "trace id"),
        (
            "/api/traces/0123456789abcdef0123456789abcdef",
            404,
            "not stored",
        ),
        ("/api/services/nobody/endpoints", 404, "no service"),
        ("/api/nothing", 404, "no such endpoint"),
    ] {
        let error: ApiError = server.get(path, status).await;
        assert!(error.error.contains(says), "{path}: {}", error.error);
    }
}

/// Datadog shows a trace id in decimal, its low 64 bits only (its tracers send the high half apart): pasted
/// so, or as 16 hex digits, it opens the trace stored under the whole 128-bit id; so does the whole id.
#[tokio::test]
async fn a_datadog_id_in_decimal_or_its_low_half_opens_the_whole_trace() {
    use collector::testing::{Build as _, span};
    let whole = 0x6b14_d25d_0000_0000_d417_9780_7235_5f68_u128;
    let store = Store::new(1000);
    store.insert(vec![
        span(whole, 1).service("dd-shop"),
        span(7, 1).service("other"),
    ]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = collector::api::router(store, Analysis::new(Settings::default()));
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    for pasted in [
        "6b14d25d00000000d417978072355f68",
        "15282850438432776040",
        "d417978072355f68",
    ] {
        let response = reqwest::get(format!("{base}/api/traces/{pasted}"))
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{pasted}");
        let view: protocol::TraceView =
            serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        assert_eq!(
            view.trace_id, "6b14d25d00000000d417978072355f68",
            "{pasted}"
        );
    }
    let unknown = reqwest::get(format!("{base}/api/traces/12345"))
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let bad = reqwest::get(format!("{base}/api/traces/not-an-id"))
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn source_lines_are_served_from_the_tree_given_under_the_sandbox_rules() {
    let tree = tempfile::tempdir().unwrap();
    let write = |file: &str, text: &str| {
        let path = tree.path().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("Cargo.toml", "[workspace]\n");
    write(
        "src/shop.rs",
        "fn a() {}\nfn b() {\n\tpanic!()\n}\nfn c() {}\n",
    );
    write(".env", "SECRET=1\n");
    let serve = |root: Option<&std::path::Path>| {
        let query =
            Query::new(Store::new(10), Analysis::new(Settings::default())).with_source_root(root);
        async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let base = format!("http://{}", listener.local_addr().unwrap());
            tokio::spawn(async move {
                axum::serve(listener, collector::api::serve(query))
                    .await
                    .unwrap()
            });
            base
        }
    };
    let get = |base: String, query: &'static str| async move {
        let response = reqwest::get(format!("{base}/api/source?{query}"))
            .await
            .unwrap();
        let status = response.status().as_u16();
        (
            status,
            serde_json::from_slice::<Value>(&response.bytes().await.unwrap()).unwrap(),
        )
    };

    let base = serve(Some(tree.path())).await;
    let (status, body) = get(base.clone(), "file=src/shop.rs&line=3").await;
    assert_eq!(status, 200, "{body}");
    let served: protocol::SourceResponse = serde_json::from_value(body).unwrap();
    let lines: Vec<(u32, &str)> = served
        .lines
        .iter()
        .map(|l| (l.number, l.text.as_str()))
        .collect();
    assert_eq!(
        lines,
        [
            (1, "fn a() {}"),
            (2, "fn b() {"),
            (3, "    panic!()"),
            (4, "}"),
            (5, "fn c() {}")
        ]
    );
    for (query, status, says) in [
        ("file=.env&line=1", 404, "not a source file"),
        (
            "file=../../etc/passwd.rs&line=1",
            404,
            "not in this workspace",
        ),
        ("file=src/shop.rs&line=99", 404, "has no line 99"),
        ("file=src/shop.rs&line=0", 400, "line must be 1 or more"),
        ("file=src/shop.rs", 400, "line is required"),
        ("line=3", 400, "file is required"),
        ("file=src/shop.rs&line=x", 400, "line"),
        ("file=src/shop.rs&line=3&extra=1", 400, "extra"),
    ] {
        let (got, body) = get(base.clone(), query).await;
        let error = body["error"].as_str().unwrap_or_default();
        assert_eq!(got, status, "{query}: {body}");
        assert!(error.contains(says), "{query}: {error}");
    }

    // Not given a tree: says so, and how to give one.
    let base = serve(None).await;
    let (status, body) = get(base, "file=src/shop.rs&line=3").await;
    assert_eq!(status, 404);
    assert!(
        body["error"].as_str().unwrap().contains("--workspace DIR"),
        "{body}"
    );
}
