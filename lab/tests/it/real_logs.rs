//! Real clients' log records beside their traces: Python's OpenTelemetry logs SDK over OTLP/HTTP and gRPC, and
//! JSON log lines with ddtrace's log injection posted to the JSON intake while ddtrace sends the trace. The
//! query API returns each record under its trace and span, in time order.

use collector::server::RunningCollector;
use serde_json::Value;

use crate::real_clients::{api, ddtrace, every_receiver, ids_of, python};

/// The (trace, root span, child span) ids a client printed.
fn trio(ids: &Value) -> (String, String, String) {
    let id = |key: &str| ids[key].as_str().unwrap().to_owned();
    (id("trace_id"), id("root"), id("child"))
}

/// The records of `trace_id` (and of `span_id` when given), oldest first, as (severity, body, span id).
async fn records(
    running: &RunningCollector,
    trace_id: &str,
    span_id: Option<&str>,
) -> Vec<(String, String, String)> {
    let mut path = format!("/api/logs?trace_id={trace_id}");
    if let Some(span) = span_id {
        path.push_str(&format!("&span_id={span}"));
    }
    let answer = api(running, &path).await;
    let mut logs: Vec<(String, String, String)> = answer["logs"]
        .as_array()
        .unwrap_or_else(|| panic!("{answer}"))
        .iter()
        .map(|log| {
            assert_eq!(log["trace_id"], trace_id, "{log}");
            (
                log["severity"].as_str().unwrap().to_owned(),
                log["body"].as_str().unwrap().to_owned(),
                log["span_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    logs.reverse();
    logs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_opentelemetry_logs_over_otlp_http_and_grpc() {
    let Some(python) = python() else { return };
    for protocol in ["http", "grpc"] {
        let running = every_receiver().await;
        let endpoint = match protocol {
            "http" => format!("http://{}", running.otlp_http.unwrap()),
            _ => format!("http://{}", running.otlp_grpc.unwrap()),
        };
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/python/otlp_logs_client.py"
        );
        let mut client = tokio::process::Command::new(&python);
        client.args([script, &endpoint, protocol]);
        let (trace_id, root, child) = trio(&ids_of(client).await);
        let (trace_id, root, child) = (trace_id.as_str(), root.as_str(), child.as_str());
        assert_eq!(
            records(&running, trace_id, None).await,
            [
                (
                    "INFO".to_owned(),
                    "checkout started".to_owned(),
                    root.to_owned()
                ),
                (
                    "ERROR".to_owned(),
                    "card declined: insufficient funds".to_owned(),
                    child.to_owned()
                ),
                (
                    "WARN".to_owned(),
                    "checkout failed".to_owned(),
                    root.to_owned()
                ),
            ],
            "{protocol}"
        );
        assert_eq!(records(&running, trace_id, Some(child)).await.len(), 1);
        // By severity, by service, by text in an attribute; the attributes and the service come through.
        let errors = api(&running, "/api/logs?severity=error&service=python-shop").await;
        assert_eq!(errors["logs"].as_array().unwrap().len(), 1, "{errors}");
        let by_attribute = api(&running, "/api/logs?q=ACME-pay").await;
        assert_eq!(
            by_attribute["logs"].as_array().unwrap().len(),
            1,
            "{by_attribute}"
        );
        let first = &records_raw(&running, trace_id).await[2];
        assert_eq!(first["attributes"]["order.id"], 7, "{first}");
        assert_eq!(first["service"], "python-shop");
        let stats = api(&running, "/api/stats").await;
        assert_eq!(
            (
                &stats["logs"]["accepted"],
                &stats["logs"]["stored"],
                &stats["logs"]["evicted"]
            ),
            (&Value::from(3), &Value::from(3), &Value::from(0)),
            "{stats}"
        );
        // The trace came in too, under the same id.
        assert!(
            running
                .store
                .trace(&collector::model::TraceId::from_hex(trace_id).unwrap())
                .is_some()
        );
        running.stop().await.unwrap();
    }
}

async fn records_raw(running: &RunningCollector, trace_id: &str) -> Vec<Value> {
    api(running, &format!("/api/logs?trace_id={trace_id}")).await["logs"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ddtrace_log_injection_lines_join_their_trace() {
    let Some(python) = python() else { return };
    let running = every_receiver().await;
    let mut client = ddtrace(&python, "ddtrace_logs_client.py", running.datadog.unwrap());
    client
        .arg(format!("http://{}/api/v2/logs", running.otlp_http.unwrap()))
        .env("DD_LOGS_INJECTION", "true");
    let (trace_id, root, child) = trio(&ids_of(client).await);
    let (trace_id, root, child) = (trace_id.as_str(), root.as_str(), child.as_str());
    // Matched by the trace id's low 64 bits, which is all a Datadog log line carries.
    assert_eq!(
        records(&running, trace_id, None).await,
        [
            ("INFO".to_owned(), "cart opened".to_owned(), root.to_owned()),
            (
                "ERROR".to_owned(),
                "cart 42 not found".to_owned(),
                child.to_owned()
            ),
        ]
    );
    let first = &records_raw(&running, trace_id).await[1];
    assert_eq!(first["service"], "dd-shop", "{first}");
    running.stop().await.unwrap();
}

/// `lab bench ingest --signal logs` loads a real collector's OTLP/HTTP log receiver: every record it counts as
/// accepted the collector counts too, and the records are stored and searchable; `--signal traces` the same
/// for spans, over each `--protocol`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ingest_benchmark_sends_what_the_collector_keeps() {
    use lab::bench::{IngestBench, Protocol, Signal};
    let runs = [
        (Signal::Logs, Protocol::OtlpHttp),
        (Signal::Traces, Protocol::OtlpHttp),
        (Signal::Traces, Protocol::OtlpGrpc),
        (Signal::Traces, Protocol::DatadogV04),
        (Signal::Traces, Protocol::DatadogV05),
    ];
    for (signal, protocol) in runs {
        let running = every_receiver().await;
        let endpoint = match protocol {
            Protocol::OtlpHttp => format!("http://{}{}", running.otlp_http.unwrap(), signal.path()),
            Protocol::OtlpGrpc => format!("http://{}", running.otlp_grpc.unwrap()),
            Protocol::DatadogV04 => format!("http://{}/v0.4/traces", running.datadog.unwrap()),
            Protocol::DatadogV05 => format!("http://{}/v0.5/traces", running.datadog.unwrap()),
        };
        let report = lab::bench::ingest(&IngestBench {
            endpoint,
            signal,
            protocol,
            connections: 2,
            batch: 512,
            items: 5_000,
            duration: std::time::Duration::from_secs(60),
        })
        .await
        .unwrap();
        assert_eq!(report.unit, signal.unit());
        assert_eq!(report.failures, 0, "{protocol:?}: {report}");
        assert!(report.accepted >= 5_000, "{protocol:?}: {report}");
        let shown = report.to_string();
        assert!(
            shown.contains(&format!("accepted  {} {}", report.accepted, signal.unit())),
            "{shown}"
        );
        // The collector answers 200 once a batch is queued for its writer: wait for the writer to count it.
        let counted = |stats: &Value| match signal {
            Signal::Logs => stats["logs"]["accepted"].clone(),
            Signal::Traces => stats["accepted"].clone(),
        };
        let mut stats = api(&running, "/api/stats").await;
        for _ in 0..100 {
            if counted(&stats) == report.accepted {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            stats = api(&running, "/api/stats").await;
        }
        assert_eq!(counted(&stats), report.accepted, "{protocol:?}: {stats}");
        if signal == Signal::Traces {
            assert_eq!(stats["rejected_spans"], 0, "{protocol:?}: {stats}");
        }
        if signal == Signal::Logs {
            let found = api(&running, "/api/logs?severity=error&q=slow&limit=5").await;
            let logs = found["logs"].as_array().unwrap();
            assert_eq!(logs.len(), 5, "{found}");
            assert!(logs.iter().all(|log| log["severity"] == "ERROR"), "{found}");
        }
    }
}
