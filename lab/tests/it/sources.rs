//! The dashboard's three data sources answer alike: the in-process store, a recording of the same spans,
//! and the query API of a collector holding them (here a collector in this process on 127.0.0.1:0).

use collector::analysis::{Analysis, Settings};
use collector::server::{CollectorOptions, RunningCollector};
use collector::store::Store;
use collector::workshop::{self, Workshop};
use lab::dashboard::InProcess;
use protocol::{TraceSearch, TraceSort, Window};
use tui::source::{DataSource, Remote};

/// 2026-09-21 12:00:00 UTC.
const START_NS: u64 = 1_790_000_000_000_000_000;

/// The broken shop's spans after 40 storefront requests, stored and analysed synchronously, the way the
/// collector's writer does it.
fn broken() -> InProcess {
    let store = Store::new(collector::store::DEFAULT_CAPACITY);
    let analysis = Analysis::new(Settings::default());
    // Split mid-trace, as exporters do.
    for batch in workshop::generate(Workshop::Broken, 40, START_NS).chunks(97) {
        analysis.observe(batch);
        store.insert(batch.to_vec());
    }
    analysis.flush(&store);
    InProcess::live(store, analysis, "fixture")
}

fn check_broken_shop(source: &dyn DataSource) {
    let overview = source.overview(Window::All).unwrap();
    let names: Vec<&str> = overview.services.iter().map(|s| s.name.as_str()).collect();
    for service in [
        "store-frontend",
        "advertisements-service",
        "discounts-service",
    ] {
        assert!(names.contains(&service), "{names:?}");
    }
    let front = overview
        .services
        .iter()
        .find(|s| s.name == "store-frontend")
        .unwrap();
    assert!(front.errors > 0);
    assert_eq!(overview.errors.len(), 1, "{:?}", overview.errors);
    assert_eq!(overview.errors[0].file, workshop::BANNER_FILE);
    assert_eq!(overview.n_plus_one.len(), 1);
    assert!(
        overview
            .map
            .edges
            .iter()
            .any(|e| e.from == "store-frontend" && e.to == "discounts-service")
    );
    assert!(overview.counts.accepted > 0 && overview.counts.accepted == overview.counts.stored);

    let endpoints = source.endpoints("discounts-service", Window::All).unwrap();
    assert!(
        endpoints.iter().any(|e| e.name == "GET /discount"),
        "{endpoints:?}"
    );
    assert!(
        source
            .endpoints("no-such-service", Window::All)
            .unwrap()
            .is_empty()
    );
    let latency = source.latency("advertisements-service").unwrap();
    assert_eq!(latency.len(), tui::source::LATENCY_BUCKETS);
    assert!(
        latency.iter().any(|p95| *p95 >= 2400.0),
        "the 2.5 s sleep: {latency:?}"
    );

    let errors_only = source
        .traces(&TraceSearch {
            error: Some(true),
            limit: 200,
            ..TraceSearch::default()
        })
        .unwrap();
    assert!(!errors_only.is_empty() && errors_only.iter().all(|t| t.error));
    let longest = source
        .traces(&TraceSearch {
            sort: TraceSort::Duration,
            limit: 3,
            ..TraceSearch::default()
        })
        .unwrap();
    assert_eq!(longest.len(), 3);
    assert!(longest[0].duration_ms >= longest[2].duration_ms);

    let trace = source
        .trace(&errors_only[0].trace_id)
        .unwrap()
        .expect("a listed trace is held");
    assert!(trace.spans.iter().any(|s| s.status == "error"));
    assert!(
        source
            .trace("0123456789abcdef0123456789abcdef")
            .unwrap()
            .is_none()
    );
    assert!(source.trace("not-an-id").is_err());
}

#[test]
fn in_process() {
    let source = broken();
    assert!(source.is_live());
    check_broken_shop(&source);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recording() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spans.jsonl");
    let mut recorder = collector::record::Recorder::create(&path).unwrap();
    for batch in workshop::generate(Workshop::Broken, 40, START_NS).chunks(97) {
        recorder.append(batch).unwrap();
    }
    recorder.close().unwrap();
    let (source, problems) = InProcess::recording(&path).await.unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    assert!(!source.is_live());
    assert!(source.describe().contains("spans.jsonl"));
    tokio::task::spawn_blocking(move || check_broken_shop(&source))
        .await
        .unwrap();

    let missing = InProcess::recording(&dir.path().join("missing.jsonl")).await;
    assert!(missing.is_err());
}

#[test]
fn remote_answers_what_the_collector_holds() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (running, total) = runtime.block_on(async {
        let running = RunningCollector::start(&CollectorOptions {
            otlp_http: None,
            otlp_grpc: None,
            datadog: None,
            api: Some("127.0.0.1:0".parse().unwrap()),
            ..CollectorOptions::default()
        })
        .await
        .unwrap();
        let spans = workshop::generate(Workshop::Broken, 40, START_NS);
        for batch in spans.chunks(97) {
            running.ingest.submit_waiting(batch.to_vec()).await.unwrap();
        }
        (running, spans.len() as u64)
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    // Every span stored before the trace-level analyses are flushed, or a trace would be analysed in halves.
    while running.store.accounting().stored < total {
        assert!(std::time::Instant::now() < deadline, "spans not stored");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    running.analysis.flush(&running.store);

    let url = format!("http://{}", running.api.unwrap());
    let remote = Remote::connect(&url).unwrap();
    assert_eq!(remote.describe(), format!("remote {url}"));
    check_broken_shop(&remote);
    // The same figures as the store it reads (floats to within JSON's printing).
    let local = InProcess::live(running.store.clone(), running.analysis.clone(), "local");
    assert_eq!(
        format!("{:.9?}", remote.overview(Window::All).unwrap()),
        format!("{:.9?}", local.overview(Window::All).unwrap())
    );

    drop(remote);
    runtime.block_on(running.stop()).unwrap();
    let error = Remote::connect(&url).unwrap_err();
    assert!(
        format!("{error:#}").contains("no collector query API answers"),
        "{error:#}"
    );
}
