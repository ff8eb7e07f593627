//! Real OpenTelemetry clients (Python's SDK and its OTLP/HTTP and OTLP/gRPC exporters, from the venv `scripts/test` makes)
//! send to the collector that `lab collect` runs; the store must hold what they sent, as they sent it, and the
//! analyses must show it in the stats, the map and the error groups.

use std::path::PathBuf;
use std::process::Command;

use collector::model::{SpanId, SpanKind, StatusCode, TraceId, Value};
use collector::server::{CollectorOptions, RunningCollector};

/// The venv's Python, or `None` (with a note) when it is not set up, except under CI=true.
pub(crate) fn python() -> Option<PathBuf> {
    let path = std::env::var_os("LAB_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/bin/python"))
        });
    let works = Command::new(&path)
        .args([
            "-c",
            "import opentelemetry.sdk, opentelemetry.exporter.otlp.proto.http, \
             opentelemetry.exporter.otlp.proto.grpc",
        ])
        .output()
        .is_ok_and(|out| out.status.success());
    if works {
        return Some(path);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "CI=true but {} has no OpenTelemetry SDK: scripts/test makes the venv",
            path.display()
        );
    }
    eprintln!(
        "skipping: {} has no OpenTelemetry SDK (scripts/test sets up .venv)",
        path.display()
    );
    None
}

/// `script` of `tests/python` under ddtrace, sending to the Datadog agent API at `agent`, as the service
/// `dd-shop` 3.0 in `lab`, with nothing else phoned home.
pub(crate) fn ddtrace(
    python: &std::path::Path,
    script: &str,
    agent: std::net::SocketAddr,
) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(python);
    command
        .arg(format!(
            "{}/../tests/python/{script}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .env("DD_TRACE_AGENT_URL", format!("http://{agent}"))
        .env("DD_SERVICE", "dd-shop")
        .env("DD_ENV", "lab")
        .env("DD_VERSION", "3.0")
        .env("DD_INSTRUMENTATION_TELEMETRY_ENABLED", "false")
        .env("DD_REMOTE_CONFIGURATION_ENABLED", "false");
    command
}

/// Runs a client script and reads the ids it prints as JSON.
pub(crate) async fn ids_of(mut command: tokio::process::Command) -> serde_json::Value {
    let output = command.output().await.unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// A collector with every receiver and the query API, each on a port of its own.
pub(crate) async fn every_receiver() -> RunningCollector {
    RunningCollector::start(&CollectorOptions {
        otlp_http: Some("127.0.0.1:0".parse().unwrap()),
        otlp_grpc: Some("127.0.0.1:0".parse().unwrap()),
        datadog: Some("127.0.0.1:0".parse().unwrap()),
        api: Some("127.0.0.1:0".parse().unwrap()),
        ..CollectorOptions::default()
    })
    .await
    .unwrap()
}

/// A query API answer.
pub(crate) async fn api(running: &RunningCollector, path: &str) -> serde_json::Value {
    let url = format!("http://{}{path}", running.api.unwrap());
    let body = reqwest::get(&url).await.unwrap().bytes().await.unwrap();
    serde_json::from_slice(&body).unwrap()
}

/// Checks that the analyses saw what a client sent: `service` in the stats with one failed request, an edge
/// from it to the sqlite database on the map, the failure grouped by `error_type` with the line of `script`
/// that raised it, and its loop of six lookups (`loop_query`) as an N+1 finding.
async fn check_analyses(
    running: &RunningCollector,
    service: &str,
    (script, error_type): (&str, &str),
    loop_query: &str,
    spans: u64,
) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while running.store.accounting().accepted < spans {
        assert!(
            std::time::Instant::now() < deadline,
            "{service}: spans not stored"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    running.analysis.flush(&running.store);
    let services = api(running, "/api/services").await;
    let stats = services["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == service)
        .unwrap_or_else(|| panic!("{service} not in {services:#}"));
    assert_eq!(
        (stats["requests"].as_u64(), stats["errors"].as_u64()),
        (Some(1), Some(1))
    );
    let map = api(running, "/api/map").await;
    assert!(
        map["edges"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["from"] == service && e["to"] == "sqlite"),
        "{map:#}"
    );
    let errors = api(running, "/api/errors").await;
    let group = errors["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["service"] == service)
        .unwrap_or_else(|| panic!("no error group of {service}: {errors:#}"));
    assert_eq!(group["type"], error_type, "{group:#}");
    assert!(
        group["file"].as_str().unwrap().ends_with(script) && group["line"].as_u64().unwrap() > 0,
        "the raising line of {script}: {group:#}"
    );
    let insights = api(running, "/api/insights").await;
    let finding = insights["n_plus_one"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["query"] == loop_query)
        .unwrap_or_else(|| panic!("{service}: no N+1 finding of {loop_query}: {insights:#}"));
    assert_eq!(finding["repeats"], 6, "{finding:#}");
    assert!(finding["total_ms"].as_f64().unwrap() >= 72.0, "{finding:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_opentelemetry_sdk_over_otlp_http_and_grpc() {
    let Some(python) = python() else { return };
    for (protocol, compression) in [
        ("http", "none"),
        ("http", "gzip"),
        ("grpc", "none"),
        ("grpc", "gzip"),
    ] {
        let running = every_receiver().await;
        let endpoint = match protocol {
            "http" => format!("http://{}/v1/traces", running.otlp_http.unwrap()),
            _ => format!("http://{}", running.otlp_grpc.unwrap()),
        };
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/python/otlp_client.py"
        );
        let output = tokio::process::Command::new(&python)
            .args([script, &endpoint, protocol, compression])
            .output()
            .await
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let ids: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        check_analyses(
            &running,
            "python-shop",
            ("otlp_client.py", "ValueError"),
            "SELECT * FROM order_line WHERE order_id = ?",
            8,
        )
        .await;
        let store = running.stop().await.unwrap();

        let trace_id = TraceId::from_hex(ids["trace_id"].as_str().unwrap()).unwrap();
        let root_id = SpanId::from_hex(ids["root"].as_str().unwrap()).unwrap();
        let child_id = SpanId::from_hex(ids["child"].as_str().unwrap()).unwrap();
        let trace = store
            .trace(&trace_id)
            .expect("the trace is stored under the client's id");
        let spans = trace.to_vec();
        assert_eq!(spans.len(), 8, "{protocol} {compression}");
        let root = spans.iter().find(|s| s.span_id == root_id).unwrap();
        let child = spans.iter().find(|s| s.span_id == child_id).unwrap();

        assert_eq!(root.parent_span_id, None);
        assert_eq!(child.parent_span_id, Some(root_id));
        assert_eq!(
            (root.name.as_ref(), root.kind),
            ("GET /checkout", SpanKind::Server)
        );
        assert_eq!(child.kind, SpanKind::Client);
        assert_eq!(root.service_name(), "python-shop");
        assert_eq!(root.resource.service_version(), Some("2.1"));
        assert_eq!(root.resource.environment(), Some("lab"));
        assert_eq!(root.scope.name.as_ref(), "lab.tests");
        assert_eq!(
            root.attribute("http.route").and_then(Value::as_str),
            Some("/checkout")
        );
        assert_eq!(
            root.attribute("http.response.status_code"),
            Some(&Value::Int(500))
        );
        assert_eq!(
            child.attribute("db.system.name").and_then(Value::as_str),
            Some("sqlite")
        );
        assert_eq!(child.status.code, StatusCode::Error);
        assert_eq!(child.status.message.as_deref(), Some("no such order"));
        let exception = child
            .events
            .iter()
            .find(|e| e.name.as_ref() == "exception")
            .expect("the exception event");
        let attr = |key: &str| {
            collector::model::attribute(&exception.attributes, key).and_then(Value::as_str)
        };
        assert_eq!(attr("exception.type"), Some("ValueError"));
        assert_eq!(attr("exception.message"), Some("no such order"));
        let stack = attr("exception.stacktrace").unwrap();
        assert!(
            stack.contains("otlp_client.py") && stack.contains("raise ValueError"),
            "{stack}"
        );

        let accounting = store.accounting();
        assert_eq!(
            (
                accounting.accepted,
                accounting.stored,
                accounting.rejected_total()
            ),
            (8, 8, 0)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_ddtrace_over_the_datadog_agent_api() {
    let Some(python) = python() else { return };
    for api in ["v0.5", "v0.4"] {
        let running = RunningCollector::start(&CollectorOptions {
            otlp_http: None,
            otlp_grpc: None,
            datadog: Some("127.0.0.1:0".parse().unwrap()),
            api: Some("127.0.0.1:0".parse().unwrap()),
            ..CollectorOptions::default()
        })
        .await
        .unwrap();
        let mut client = ddtrace(&python, "ddtrace_client.py", running.datadog.unwrap());
        client.env("DD_TRACE_API_VERSION", api);
        let ids = ids_of(client).await;
        check_analyses(
            &running,
            "dd-shop",
            ("ddtrace_client.py", "builtins.KeyError"),
            "SELECT name, pause() FROM item WHERE id = ?",
            10,
        )
        .await;
        let store = running.stop().await.unwrap();

        let trace_id = TraceId::from_hex(ids["trace_id"].as_str().unwrap()).unwrap();
        let root_id = SpanId::from_hex(ids["root"].as_str().unwrap()).unwrap();
        let failing_id = SpanId::from_hex(ids["failing"].as_str().unwrap()).unwrap();
        let trace = store
            .trace(&trace_id)
            .unwrap_or_else(|| panic!("{api}: the trace is stored under ddtrace's 128-bit id"));
        let spans = trace.to_vec();
        assert_eq!(
            spans.len(),
            10,
            "{api}: the request, two queries, the failure and six lookups: {spans:#?}"
        );
        let root = spans.iter().find(|s| s.span_id == root_id).unwrap();
        let failing = spans.iter().find(|s| s.span_id == failing_id).unwrap();
        let query = spans
            .iter()
            .find(|s| s.name.starts_with("SELECT id, name FROM item"))
            .expect("the sqlite span");

        assert_eq!(root.parent_span_id, None);
        assert_eq!(
            (root.name.as_ref(), root.kind),
            ("GET /cart", SpanKind::Server)
        );
        assert_eq!(root.service_name(), "dd-shop");
        assert_eq!(root.resource.environment(), Some("lab"), "{api}");
        assert_eq!(root.resource.service_version(), Some("3.0"));
        assert_eq!(
            root.attribute("http.response.status_code"),
            Some(&Value::Int(500))
        );
        assert_eq!(query.parent_span_id, Some(root_id));
        assert_eq!(
            query.attribute("db.system.name").and_then(Value::as_str),
            Some("sqlite")
        );
        assert_eq!(
            query.attribute("db.query.text").and_then(Value::as_str),
            Some("SELECT id, name FROM item WHERE id = ?"),
            "{api}"
        );
        assert_eq!(failing.parent_span_id, Some(root_id));
        assert_eq!(failing.status.code, StatusCode::Error);
        let exception = failing
            .events
            .iter()
            .find(|e| e.name.as_ref() == "exception")
            .expect("exception");
        let attr = |key: &str| {
            collector::model::attribute(&exception.attributes, key).and_then(Value::as_str)
        };
        assert!(
            attr("exception.type").is_some_and(|t| t.contains("KeyError")),
            "{:?}",
            attr("exception.type")
        );
        assert!(attr("exception.message").is_some_and(|m| m.contains("cart 42")));
        assert!(attr("exception.stacktrace").is_some_and(|s| s.contains("ddtrace_client.py")));
        let accounting = store.accounting();
        assert_eq!(
            (accounting.accepted, accounting.rejected_total()),
            (10, 0),
            "{api}"
        );
    }
}
