//! The telemetry module's tests: the SQL summaries, the stack capture, the span processor, the server spans and
//! recorded errors, sharing one collecting exporter.

use std::panic::Location;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use opentelemetry::InstrumentationScope;
use opentelemetry::trace::Status;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use parking_lot::Mutex;

use super::error::stacktrace;
use super::server::{KNOWN_METHODS, known_method};
use super::*;

fn check(sql: &str, operation: Option<&str>, collection: Option<&str>) {
    let (op, coll) = summarize_sql(sql);
    assert_eq!(
        (op.as_deref(), coll.as_deref()),
        (operation, collection),
        "{sql}"
    );
}

#[test]
fn statements_are_summarized_by_operation_and_first_table() {
    check(
        "SELECT id, name FROM discount_type WHERE id = $1",
        Some("SELECT"),
        Some("discount_type"),
    );
    check(
        "select d.id FROM discount d LEFT OUTER JOIN influencer i ON i.id = d.x",
        Some("SELECT"),
        Some("discount"),
    );
    check(
        "SELECT COUNT(*) AS n FROM advertisement",
        Some("SELECT"),
        Some("advertisement"),
    );
    check(
        "INSERT INTO line_item (order_id, variant_id) VALUES ($1, $2)",
        Some("INSERT"),
        Some("line_item"),
    );
    check(
        "UPDATE \"order\" SET total = $1",
        Some("UPDATE"),
        Some("order"),
    );
    check(
        "DELETE FROM line_item WHERE id = $1",
        Some("DELETE"),
        Some("line_item"),
    );
    check("PRAGMA foreign_keys = ON", Some("PRAGMA"), None);
    check("SELECT 1", Some("SELECT"), None);
    check("SELECT * FROM (SELECT 1)", Some("SELECT"), None);
    check(
        "INSERT INTO t(a, b) VALUES ($1, $2)",
        Some("INSERT"),
        Some("t"),
    );
    check("", None, None);
}

#[test]
fn stack_traces_start_past_the_capture_and_name_files_in_the_workspace_relatively() {
    let trace = stacktrace();
    assert!(
        !trace.contains("src/telemetry/"),
        "the capture's own frames (this test included, in this folder) are left out:\n{trace}"
    );
    let first = trace.lines().next().unwrap();
    assert!(first.starts_with("   0: "), "{trace}");
    assert!(trace.lines().count() > 2, "{trace}");
}

/// An exporter that keeps what it gets; while `hold` is set, an export waits (a hung exporter).
#[derive(Debug, Clone, Default)]
struct Collect {
    spans: Arc<Mutex<Vec<opentelemetry_sdk::trace::SpanData>>>,
    exporting: Arc<std::sync::atomic::AtomicBool>,
    hold: Arc<std::sync::atomic::AtomicBool>,
}

impl opentelemetry_sdk::trace::SpanExporter for Collect {
    async fn export(
        &self,
        batch: Vec<opentelemetry_sdk::trace::SpanData>,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        use std::sync::atomic::Ordering;
        self.exporting.store(true, Ordering::SeqCst);
        while self.hold.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.spans.lock().extend(batch);
        Ok(())
    }
}

impl Collect {
    fn held() -> Collect {
        let collect = Collect::default();
        collect
            .hold
            .store(true, std::sync::atomic::Ordering::SeqCst);
        collect
    }

    /// Waits until the exporting thread has started an export.
    fn wait_exporting(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.exporting.load(std::sync::atomic::Ordering::SeqCst) {
            assert!(Instant::now() < deadline, "no export started");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn release(&self) {
        self.hold.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

fn one_span(provider: &SdkTracerProvider) {
    use opentelemetry::trace::{Span as _, Tracer as _};
    provider.tracer("test").start("one").end();
}

#[test]
fn force_flush_waits_for_the_batch_being_exported() {
    let collect = Collect::held();
    let provider = batch_provider(collect.clone(), Resource::builder().build());
    one_span(&provider);
    collect.wait_exporting();
    let release = {
        let collect = collect.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            collect.release();
        })
    };
    provider.force_flush().unwrap();
    assert_eq!(
        collect.spans.lock().len(),
        1,
        "flushed means exported, the batch already taken included"
    );
    release.join().unwrap();
    provider.shutdown().unwrap();
}

#[test]
fn shutdown_gives_up_on_a_hung_exporter() {
    let collect = Collect::held();
    let provider = batch_provider(collect.clone(), Resource::builder().build());
    one_span(&provider);
    collect.wait_exporting();
    let started = Instant::now();
    let result = provider.shutdown_with_timeout(Duration::from_millis(200));
    assert!(result.is_err(), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    collect.release();
}

#[test]
fn spans_ending_after_shutdown_are_counted_as_dropped() {
    use opentelemetry::trace::{SpanContext, SpanId, SpanKind};
    use opentelemetry_sdk::trace::SpanProcessor as _;
    let collect = Collect::default();
    let processor = BufferedSpanProcessor::new(collect.clone());
    let span = |name: &'static str| opentelemetry_sdk::trace::SpanData {
        span_context: SpanContext::empty_context(),
        parent_span_id: SpanId::INVALID,
        parent_span_is_remote: false,
        span_kind: SpanKind::Internal,
        name: name.into(),
        start_time: std::time::SystemTime::now(),
        end_time: std::time::SystemTime::now(),
        attributes: Vec::new(),
        dropped_attributes_count: 0,
        events: Default::default(),
        links: Default::default(),
        status: Status::Unset,
        instrumentation_scope: InstrumentationScope::builder("test").build(),
    };
    processor.on_end(span("in time"));
    processor.shutdown().unwrap();
    processor.on_end(span("late"));
    assert_eq!(processor.dropped(), 1);
    let names: Vec<_> = collect
        .spans
        .lock()
        .iter()
        .map(|s| s.name.clone())
        .collect();
    assert_eq!(names, ["in time"], "shutdown exported what it held");
}

/// A service's telemetry exporting to `collect`.
fn telemetry(collect: &Collect) -> Telemetry {
    let collect = collect.clone();
    let faults = Faults::new("test-service", &[], true);
    Telemetry::new(
        &faults,
        Export::Provider(Arc::new(move |resource| {
            batch_provider(collect.clone(), resource)
        })),
    )
    .unwrap()
}

fn attributes<'a>(
    span: &'a opentelemetry_sdk::trace::SpanData,
    key: &str,
) -> Vec<&'a opentelemetry::Value> {
    span.attributes
        .iter()
        .filter(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
        .collect()
}

#[test]
fn only_the_semantic_conventions_methods_are_known() {
    for method in KNOWN_METHODS {
        assert_eq!(known_method(method), Some(method));
    }
    for other in ["PURGE", "get", "PROPFIND", ""] {
        assert_eq!(known_method(other), None, "{other:?}");
    }
}

#[tokio::test]
async fn an_unknown_method_is_recorded_as_other_with_the_original_beside_it() {
    let collect = Collect::default();
    let telemetry = telemetry(&collect);
    let router = instrument(
        Router::new().route("/things/{id}", axum::routing::any(|| async { "ok" })),
        telemetry.clone(),
    );
    for method in ["PURGE", "GET"] {
        let response = crate::testing::call(&router, method, "/things/7", None).await;
        assert_eq!(response.status, 200);
    }
    telemetry.shutdown();

    let spans = collect.spans.lock().clone();
    let [purge, get] = &spans[..] else {
        panic!("two server spans: {spans:#?}")
    };
    assert_eq!(purge.name, "HTTP /things/{id}");
    assert_eq!(
        attributes(purge, "http.request.method"),
        [&opentelemetry::Value::from("_OTHER")]
    );
    assert_eq!(
        attributes(purge, "http.request.method_original"),
        [&opentelemetry::Value::from("PURGE")]
    );
    assert_eq!(get.name, "GET /things/{id}");
    assert_eq!(
        attributes(get, "http.request.method"),
        [&opentelemetry::Value::from("GET")]
    );
    assert!(attributes(get, "http.request.method_original").is_empty());
}

/// A request dropped before it is answered (its client gone, or the service stopping) is marked failed and
/// `cancelled`, not recorded as an ok request with a cut-short duration.
#[tokio::test]
async fn a_request_cut_off_before_its_answer_is_marked_cancelled() {
    use tower::ServiceExt as _;
    let collect = Collect::default();
    let telemetry = telemetry(&collect);
    let router = instrument(
        Router::new().route(
            "/slow",
            axum::routing::get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "late"
            }),
        ),
        telemetry.clone(),
    );
    let request = axum::http::Request::get("/slow")
        .body(axum::body::Body::empty())
        .unwrap();
    let cut = tokio::time::timeout(Duration::from_millis(100), router.oneshot(request)).await;
    assert!(cut.is_err(), "the request was still running");
    telemetry.shutdown();

    let spans = collect.spans.lock().clone();
    let [span] = &spans[..] else {
        panic!("one server span: {spans:#?}")
    };
    assert_eq!(span.name, "GET /slow");
    assert!(matches!(span.status, Status::Error { .. }), "{span:#?}");
    assert_eq!(
        attributes(span, "error.type"),
        [&opentelemetry::Value::from("cancelled")]
    );
    assert!(attributes(span, "http.response.status_code").is_empty());
}

#[test]
fn recorded_errors_add_each_code_attribute_once() {
    let collect = Collect::default();
    let telemetry = telemetry(&collect);
    let dispatch = telemetry.dispatch().unwrap();
    let here = Location::caller();
    tracing::dispatcher::with_default(&dispatch, || {
        let declared = tracing::info_span!(
            "declared",
            code.file.path = here.file(),
            code.line.number = i64::from(here.line())
        );
        record_error(&declared, "Declared", "failed", here);
        let undeclared = tracing::info_span!("undeclared");
        record_error(&undeclared, "Undeclared", "failed", here);
    });
    drop(dispatch);
    telemetry.shutdown();

    let spans = collect.spans.lock().clone();
    assert_eq!(spans.len(), 2, "{spans:#?}");
    for span in &spans {
        assert_eq!(
            attributes(span, "code.file.path"),
            [&opentelemetry::Value::from(here.file())],
            "{}",
            span.name
        );
        assert_eq!(
            attributes(span, "code.line.number"),
            [&opentelemetry::Value::from(i64::from(here.line()))],
            "{}",
            span.name
        );
        assert_eq!(attributes(span, "error.type").len(), 1, "{}", span.name);
    }
}
