//! Log records over HTTP: what the OTLP logs receiver and the JSON lines intake take, what they refuse (with a
//! message, counted by reason), and what the query API answers about them.

use std::io::Write as _;

use collector::server::{CollectorOptions, RunningCollector};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use prost::Message as _;
use serde_json::Value;

async fn start(max_body: usize) -> RunningCollector {
    RunningCollector::start(&CollectorOptions {
        otlp_http: Some("127.0.0.1:0".parse().unwrap()),
        otlp_grpc: None,
        datadog: None,
        api: Some("127.0.0.1:0".parse().unwrap()),
        max_body,
        ..CollectorOptions::default()
    })
    .await
    .unwrap()
}

fn record(body: &str, trace_id: Vec<u8>, severity: i32) -> LogRecord {
    LogRecord {
        time_unix_nano: 1_700_000_000_000_000_000,
        severity_number: severity,
        body: Some(AnyValue {
            value: Some(any_value::Value::StringValue(body.to_owned())),
        }),
        trace_id,
        ..LogRecord::default()
    }
}

fn request(records: Vec<LogRecord>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..ScopeLogs::default()
            }],
            ..ResourceLogs::default()
        }],
    }
}

async fn post(
    running: &RunningCollector,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
    gzip: bool,
) -> (u16, Vec<u8>) {
    let mut request = reqwest::Client::new()
        .post(format!("http://{}{path}", running.otlp_http.unwrap()))
        .header("content-type", content_type);
    let body = if gzip {
        request = request.header("content-encoding", "gzip");
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(&body).unwrap();
        encoder.finish().unwrap()
    } else {
        body
    };
    let response = request.body(body).send().await.unwrap();
    (
        response.status().as_u16(),
        response.bytes().await.unwrap().to_vec(),
    )
}

async fn api(running: &RunningCollector, path: &str) -> (u16, Value) {
    let response = reqwest::get(format!("http://{}{path}", running.api.unwrap()))
        .await
        .unwrap();
    let status = response.status().as_u16();
    (
        status,
        serde_json::from_slice(&response.bytes().await.unwrap()).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_records_are_taken_refused_and_counted_as_otlp_says() {
    let running = start(64 * 1024).await;
    let trace = vec![7u8; 16];
    let proto = "application/x-protobuf";

    // Two good records and one with a 3-byte trace id: partial success, the good ones stored.
    let body = request(vec![
        record("first", trace.clone(), 9),
        record("bad id", vec![1, 2, 3], 17),
        record("second", trace.clone(), 17),
    ])
    .encode_to_vec();
    let (status, answer) = post(&running, "/v1/logs", proto, body.clone(), false).await;
    assert_eq!(status, 200);
    let answer = ExportLogsServiceResponse::decode(answer.as_slice()).unwrap();
    let partial = answer.partial_success.unwrap();
    assert_eq!(partial.rejected_log_records, 1);
    assert!(
        partial.error_message.contains("trace_id must be 16 bytes"),
        "{partial:?}"
    );
    // The same, gzip.
    let (status, _) = post(&running, "/v1/logs", proto, body, true).await;
    assert_eq!(status, 200);
    // OTLP JSON (ids in hex, as the JSON mapping writes them).
    let json = serde_json::json!({"resourceLogs": [{"scopeLogs": [{"logRecords": [{
        "timeUnixNano": "1700000000000000001", "severityNumber": 13, "severityText": "WARN",
        "body": {"stringValue": "from json"}, "traceId": "07070707070707070707070707070707"}]}]}]});
    let (status, _) = post(
        &running,
        "/v1/logs",
        "application/json",
        json.to_string().into_bytes(),
        false,
    )
    .await;
    assert_eq!(status, 200);

    // Refused whole, each with a message and its reason counted.
    for (body, content_type, gzip, status_wanted, says) in [
        (
            b"\xff\xff\xff".to_vec(),
            proto,
            false,
            400,
            "not an OTLP logs request",
        ),
        (
            b"{not json".to_vec(),
            "application/json",
            false,
            400,
            "not an OTLP logs request",
        ),
        (
            b"x".to_vec(),
            "text/plain",
            false,
            415,
            "unsupported content type",
        ),
        (vec![b'a'; 100_000], proto, false, 413, "larger than"),
        (b"not gzip".to_vec(), proto, true, 400, "gzip"),
        (
            request(vec![record("only bad", vec![9; 3], 9)]).encode_to_vec(),
            proto,
            false,
            400,
            "trace_id",
        ),
    ] {
        let (status, answer) = if gzip {
            // A body that claims gzip but is not.
            let response = reqwest::Client::new()
                .post(format!("http://{}/v1/logs", running.otlp_http.unwrap()))
                .header("content-type", content_type)
                .header("content-encoding", "gzip")
                .body(body)
                .send()
                .await
                .unwrap();
            (
                response.status().as_u16(),
                response.bytes().await.unwrap().to_vec(),
            )
        } else {
            post(&running, "/v1/logs", content_type, body, false).await
        };
        assert_eq!(
            status,
            status_wanted,
            "{says}: {}",
            String::from_utf8_lossy(&answer)
        );
        assert!(
            String::from_utf8_lossy(&answer).contains(says),
            "{says}: {}",
            String::from_utf8_lossy(&answer)
        );
    }

    let (_, stats) = api(&running, "/api/stats").await;
    let logs = &stats["logs"];
    assert_eq!(
        (&logs["accepted"], &logs["stored"]),
        (&Value::from(5), &Value::from(5)),
        "{logs}"
    );
    assert_eq!(logs["rejected_records"], 3, "{logs}");
    for reason in [
        "malformed_protobuf",
        "malformed_json",
        "unsupported_content_type",
        "too_large",
        "malformed_gzip",
    ] {
        assert_eq!(logs["rejected"][reason], 1, "{reason}: {logs}");
    }
    // Partial refusals count a payload under invalid_log_record too, and the whole refusal another.
    assert_eq!(logs["rejected"]["invalid_log_record"], 3, "{logs}");

    // The API: the trace's records, newest first; by severity; bad parameters named.
    let (status, answer) = api(
        &running,
        "/api/logs?trace_id=07070707070707070707070707070707",
    )
    .await;
    assert_eq!(status, 200);
    let bodies: Vec<&str> = answer["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["body"].as_str().unwrap())
        .collect();
    // Records of the same time: the latest to arrive first.
    assert_eq!(bodies, ["from json", "second", "first", "second", "first"]);
    let (_, warn) = api(&running, "/api/logs?severity=warn&limit=10").await;
    assert_eq!(warn["logs"].as_array().unwrap().len(), 3, "{warn}");
    for (query, says) in [
        ("severity=loud", "bad severity"),
        ("trace_id=xyz", "bad trace_id"),
        ("span_id=12", "bad span_id"),
        ("limit=0", "limit"),
        ("since=yesterday", "bad since"),
        ("colour=red", "colour"),
    ] {
        let (status, answer) = api(&running, &format!("/api/logs?{query}")).await;
        assert_eq!(status, 400, "{query}");
        assert!(
            answer["error"].as_str().unwrap().contains(says),
            "{query}: {answer}"
        );
    }
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_log_lines_keep_the_good_lines_of_a_bad_batch() {
    let running = start(1024 * 1024).await;
    let lines = "{\"message\": \"ok 1\", \"status\": \"info\", \"dd.trace_id\": \"12345\"}\nnot json\n[1]\n{\"message\": \"ok 2\", \"status\": \"error\", \"dd.trace_id\": \"12345\"}\n";
    let (status, answer) = post(
        &running,
        "/api/v2/logs",
        "application/x-ndjson",
        lines.as_bytes().to_vec(),
        true,
    )
    .await;
    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&answer));
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(answer["rejected"], 2, "{answer}");
    // A Datadog id in decimal, and a whole id ending in it (its upper half set), open the same records.
    let (_, whole) = api(
        &running,
        "/api/logs?trace_id=6b14f9f0000000000000000000003039",
    )
    .await;
    assert_eq!(whole["logs"].as_array().map_or(0, Vec::len), 2, "{whole}");
    let (_, found) = api(&running, "/api/logs?trace_id=12345").await;
    let bodies: Vec<&str> = found["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["ok 2", "ok 1"]);
    let (status, _) = post(
        &running,
        "/api/v2/logs",
        "application/json",
        b"nothing here\n".to_vec(),
        false,
    )
    .await;
    assert_eq!(status, 400);
    let (_, stats) = api(&running, "/api/stats").await;
    assert_eq!(stats["logs"]["accepted"], 2);
    assert_eq!(stats["logs"]["rejected_records"], 3);
    running.stop().await.unwrap();
}
