//! The OTLP/HTTP receiver (`POST /v1/traces`, port 4318): protobuf and JSON bodies, gzip, the spec's answers —
//! partial success for rejected spans, 4xx with a message for bad input, 429 with Retry-After when full.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use prost::Message as _;

use crate::ingest::Ingest;
use crate::otlp;

/// OTLP/HTTP's default port.
pub const DEFAULT_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 4318);

/// Largest request body, after decompression, by default.
pub const DEFAULT_MAX_BODY: usize = 16 * 1024 * 1024;

/// How long a client told to back off should wait, in seconds.
const RETRY_AFTER_SECS: &str = "1";

#[derive(Clone, Debug)]
struct Receiver {
    ingest: Ingest,
    max_body: usize,
    /// Large bodies are decoded on blocking threads, this many at a time (see [`super::decode_aside`]).
    decoders: Arc<tokio::sync::Semaphore>,
}

/// The receiver's routes: spans, and log records beside them (`super::otlp_logs`).
pub fn router(ingest: Ingest, max_body: usize) -> Router {
    let logs = super::otlp_logs::router(ingest.store().logs().clone(), max_body);
    Router::new()
        .route("/v1/traces", post(export))
        // The handler reads the body with the limit itself, so an oversized one is answered and counted alike.
        .layer(DefaultBodyLimit::disable())
        .with_state(Receiver {
            ingest,
            max_body,
            decoders: super::decoders(),
        })
        .merge(logs)
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Encoding {
    Protobuf,
    Json,
}

/// A refusal: status, the reason it is counted under, and the message for the client.
pub(super) struct Refusal {
    pub(super) status: StatusCode,
    pub(super) reason: &'static str,
    pub(super) message: String,
}

impl Refusal {
    pub(super) fn new(
        status: StatusCode,
        reason: &'static str,
        message: impl Into<String>,
    ) -> Refusal {
        Refusal {
            status,
            reason,
            message: message.into(),
        }
    }
}

async fn export(State(receiver): State<Receiver>, headers: HeaderMap, body: Body) -> Response {
    let (encoding, body) = match read(&headers, body, receiver.max_body).await {
        Ok(read) => read,
        Err((encoding, refusal)) => return refuse(&receiver, encoding, refusal),
    };
    let gzipped = match gzipped(&headers) {
        Ok(gzipped) => gzipped,
        Err(refusal) => return refuse(&receiver, encoding, refusal),
    };
    // Small bodies are decoded here; a gzip body is small when it inflates to less than DECODE_ASIDE, so one
    // that is small on the wire but inflates to megabytes is decoded aside like a large one.
    let small = match (body.len() < super::DECODE_ASIDE, gzipped) {
        (false, _) => None,
        (true, false) => Some(Ok(body.clone())),
        (true, true) => gunzip_at_most(&body, super::DECODE_ASIDE - 1)
            .map(|inflated| inflated.map(Bytes::from))
            .transpose(),
    };
    let accepted = match small {
        Some(Ok(plain)) => accept(&receiver, &plain, encoding),
        Some(Err(refusal)) => Err(refusal),
        None => {
            let aside = receiver.clone();
            super::decode_aside(&receiver.decoders, move || {
                if gzipped {
                    accept(&aside, &gunzip(&body, aside.max_body)?, encoding)
                } else {
                    accept(&aside, &body, encoding)
                }
            })
            .await
        }
    };
    match accepted {
        Ok(response) => response,
        Err(refusal) => refuse(&receiver, encoding, refusal),
    }
}

/// A request's encoding and its body as sent (maybe gzip), read up to `max_body` bytes; else the refusal, with
/// the encoding to answer it in.
pub(super) async fn read(
    headers: &HeaderMap,
    body: Body,
    max_body: usize,
) -> Result<(Encoding, Bytes), (Encoding, Refusal)> {
    let encoding = content_type(headers).map_err(|refusal| (Encoding::Json, refusal))?;
    let body = read_body(body, max_body)
        .await
        .map_err(|refusal| (encoding, refusal))?;
    Ok((encoding, body))
}

/// A body as sent (maybe gzip), read up to `max_body` bytes.
pub(super) async fn read_body(body: Body, max_body: usize) -> Result<Bytes, Refusal> {
    // The compressed body may not exceed the decompressed limit either; decompression checks the rest.
    match axum::body::to_bytes(body, max_body).await {
        Ok(body) => Ok(body),
        Err(e) if listener::timed_out(&e) => {
            // The listener answers 408 and closes the connection; the body read so far is dropped here.
            let message = "the body was not received in time".to_owned();
            Err(Refusal::new(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                message,
            ))
        }
        Err(_) => {
            let message = format!("the body is larger than {max_body} bytes (or was cut off)");
            Err(Refusal::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                message,
            ))
        }
    }
}

fn content_type(headers: &HeaderMap) -> Result<Encoding, Refusal> {
    let value = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/x-protobuf" | "application/protobuf" => Ok(Encoding::Protobuf),
        "application/json" => Ok(Encoding::Json),
        _ => Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_content_type",
            format!(
                "unsupported content type {value:?}: send application/x-protobuf or application/json"
            ),
        )),
    }
}

/// Whether the body is gzip (or not encoded at all); any other encoding is refused.
pub(super) fn gzipped(headers: &HeaderMap) -> Result<bool, Refusal> {
    let content_encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity")
        .trim()
        .to_ascii_lowercase();
    match content_encoding.as_str() {
        "" | "identity" => Ok(false),
        "gzip" => Ok(true),
        other => Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_content_encoding",
            format!("unsupported content encoding {other:?}: send gzip or none"),
        )),
    }
}

/// Decodes a plain (decompressed) body and submits its spans.
fn accept(receiver: &Receiver, body: &[u8], encoding: Encoding) -> Result<Response, Refusal> {
    let interner = receiver.ingest.interner();
    let decoded = match encoding {
        // The hot path: straight from the bytes to the store's form.
        Encoding::Protobuf => crate::wire::decode_for_store(body, interner).map_err(|err| {
            Refusal::new(
                StatusCode::BAD_REQUEST,
                "malformed_protobuf",
                err.to_string(),
            )
        })?,
        Encoding::Json => otlp::decode_json(body)
            .map(|request| otlp::from_request(&request, interner).into())
            .map_err(|err| {
                let status = match err {
                    otlp::DecodeError::OverBudget { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                    _ => StatusCode::BAD_REQUEST,
                };
                Refusal::new(status, err.reason(), err.to_string())
            })?,
    };
    receiver.ingest.reject_spans(decoded.rejected);
    if decoded.batch.is_empty() && decoded.rejected > 0 {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "invalid_span",
            decoded.error.unwrap_or_default(),
        ));
    }
    if decoded.rejected > 0 {
        receiver.ingest.reject("invalid_span");
    }
    receiver
        .ingest
        .submit_batch(decoded.batch)
        .map_err(|overloaded| {
            Refusal::new(
                StatusCode::TOO_MANY_REQUESTS,
                "queue_full",
                overloaded.to_string(),
            )
        })?;
    let partial_success = (decoded.rejected > 0).then(|| ExportTracePartialSuccess {
        rejected_spans: decoded.rejected as i64,
        error_message: decoded.error.unwrap_or_default(),
    });
    Ok(answer(
        StatusCode::OK,
        encoding,
        &ExportTraceServiceResponse { partial_success },
    ))
}

/// Decompresses at most `limit` bytes, every gzip member of the body one after the other (as `gunzip` does:
/// two protobuf messages end to end are one, merged); a body that inflates past the limit is refused as soon as
/// it does.
pub(super) fn gunzip(body: &[u8], limit: usize) -> Result<Vec<u8>, Refusal> {
    gunzip_at_most(body, limit)?.ok_or_else(|| {
        Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the body decompresses to more than {limit} bytes"),
        )
    })
}

/// The body inflated, or `None` as soon as it inflates past `limit` bytes.
fn gunzip_at_most(body: &[u8], limit: usize) -> Result<Option<Vec<u8>>, Refusal> {
    super::read_at_most(flate2::read::MultiGzDecoder::new(body), limit).map_err(|err| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            "malformed_gzip",
            format!("malformed gzip body: {err}"),
        )
    })
}

fn refuse(receiver: &Receiver, encoding: Encoding, refusal: Refusal) -> Response {
    if refusal.reason != "queue_full" {
        // A full queue counted itself.
        receiver.ingest.reject(refusal.reason);
    }
    error_response(encoding, refusal)
}

/// A refusal as OTLP answers it.
pub(super) fn error_response(encoding: Encoding, refusal: Refusal) -> Response {
    let mut response = match encoding {
        // OTLP answers errors with a google.rpc.Status; its message is what clients log.
        Encoding::Json => (
            refusal.status,
            axum::Json(serde_json::json!({ "code": grpc_code(refusal.status), "message": refusal.message })),
        )
            .into_response(),
        Encoding::Protobuf => (
            refusal.status,
            [(header::CONTENT_TYPE, "application/x-protobuf")],
            RpcStatus {
                code: grpc_code(refusal.status),
                message: refusal.message,
            }
            .encode_to_vec(),
        )
            .into_response(),
    };
    if refusal.status == StatusCode::TOO_MANY_REQUESTS {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            header::HeaderValue::from_static(RETRY_AFTER_SECS),
        );
    }
    response
}

/// `google.rpc.Status`, the body of OTLP/HTTP error answers (details left out).
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

fn grpc_code(status: StatusCode) -> i32 {
    match status {
        StatusCode::TOO_MANY_REQUESTS => 8,      // RESOURCE_EXHAUSTED
        StatusCode::PAYLOAD_TOO_LARGE => 8,      // RESOURCE_EXHAUSTED
        StatusCode::UNSUPPORTED_MEDIA_TYPE => 3, // INVALID_ARGUMENT
        _ => 3,                                  // INVALID_ARGUMENT
    }
}

pub(super) fn answer<M: prost::Message + serde::Serialize>(
    status: StatusCode,
    encoding: Encoding,
    response: &M,
) -> Response {
    match encoding {
        Encoding::Protobuf => (
            status,
            [(header::CONTENT_TYPE, "application/x-protobuf")],
            response.encode_to_vec(),
        )
            .into_response(),
        Encoding::Json => (status, axum::Json(response)).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;
    use std::path::PathBuf;
    use std::time::Duration;

    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

    use super::*;
    use crate::server::{CollectorOptions, RunningCollector};
    use crate::store::Store;

    const GOLDEN_JSON: &[u8] = include_bytes!("../../testdata/otlp-trace.json");

    fn golden() -> ExportTraceServiceRequest {
        otlp::decode_json(GOLDEN_JSON).unwrap()
    }

    async fn collector(max_body: usize, record: Option<PathBuf>) -> RunningCollector {
        RunningCollector::start(&CollectorOptions {
            otlp_http: Some("127.0.0.1:0".parse().unwrap()),
            otlp_grpc: Some("127.0.0.1:0".parse().unwrap()),
            datadog: Some("127.0.0.1:0".parse().unwrap()),
            capacity: 1000,
            max_body,
            record,
            api: None,
            ..CollectorOptions::default()
        })
        .await
        .unwrap()
    }

    async fn post(
        addr: SocketAddr,
        content_type: &str,
        encoding: Option<&str>,
        body: Vec<u8>,
    ) -> reqwest::Response {
        let mut request = reqwest::Client::new()
            .post(format!("http://{addr}/v1/traces"))
            .header("content-type", content_type)
            .body(body);
        if let Some(encoding) = encoding {
            request = request.header("content-encoding", encoding);
        }
        request.send().await.unwrap()
    }

    async fn wait_for(store: &Store, spans: usize) {
        for _ in 0..200 {
            if store.len() >= spans {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the store holds {} spans, not {spans}", store.len());
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    #[tokio::test]
    async fn protobuf_json_and_gzip_bodies_are_stored() {
        let running = collector(DEFAULT_MAX_BODY, None).await;
        let addr = running.otlp_http.unwrap();
        let protobuf = golden().encode_to_vec();

        let response = post(addr, "application/x-protobuf", None, protobuf.clone()).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "application/x-protobuf");
        let answer = ExportTraceServiceResponse::decode(response.bytes().await.unwrap()).unwrap();
        assert_eq!(answer.partial_success, None);
        wait_for(&running.store, 2).await;

        let response = post(addr, "application/json", None, GOLDEN_JSON.to_vec()).await;
        assert_eq!(response.status(), 200);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        wait_for(&running.store, 4).await;

        let response = post(
            addr,
            "application/x-protobuf",
            Some("gzip"),
            gzip(&protobuf),
        )
        .await;
        assert_eq!(response.status(), 200);
        wait_for(&running.store, 6).await;

        let trace = crate::model::TraceId::from_hex("5b8efff798038103d269b633813fc60c").unwrap();
        let stored = running.store.trace(&trace).expect("the trace is stored");
        assert_eq!(stored.len(), 6);
        let accounting = running.store.accounting();
        assert_eq!(
            (accounting.accepted, accounting.stored, accounting.evicted),
            (6, 6, 0)
        );
        running.stop().await.unwrap();
    }

    /// Large bodies are decoded on blocking threads: while one decodes, the query API served by the same
    /// runtime (here a single thread, as a worker busy decoding would be) still answers. Large means large
    /// once inflated: a gzip body of a few kilobytes that inflates to megabytes goes aside too.
    #[tokio::test(flavor = "current_thread")]
    async fn decoding_large_bodies_leaves_the_query_api_answering() {
        let running = RunningCollector::start(&CollectorOptions {
            otlp_http: Some("127.0.0.1:0".parse().unwrap()),
            otlp_grpc: None,
            datadog: None,
            api: Some("127.0.0.1:0".parse().unwrap()),
            ..CollectorOptions::default()
        })
        .await
        .unwrap();
        let addr = running.otlp_http.unwrap();
        // A million merged list items, 6 MB, and how long decoding it takes on this machine.
        let plain = crate::wire::tests::repeated_list(1_000_000, false);
        let started = std::time::Instant::now();
        crate::wire::decode(&plain, &crate::model::Interner::new()).unwrap();
        let decode = started.elapsed();
        let compressed = gzip(&plain);
        assert!(compressed.len() < crate::receivers::DECODE_ASIDE / 10);

        for (stored, (encoding, body)) in [(None, plain), (Some("gzip"), compressed)]
            .into_iter()
            .enumerate()
        {
            let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let prober = crate::receivers::probe::every_20ms(
                format!("http://{}/api/stats", running.api.unwrap()),
                done.clone(),
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
            assert_eq!(
                post(addr, "application/x-protobuf", encoding, body)
                    .await
                    .status(),
                200
            );
            done.store(true, std::sync::atomic::Ordering::Release);
            // Joined off this thread, which must go on serving the probe still in flight.
            let (slowest, asked) = tokio::task::spawn_blocking(move || prober.join().unwrap())
                .await
                .unwrap();
            wait_for(&running.store, stored + 1).await;
            assert!(
                asked > 1,
                "{encoding:?}: the post ended before the API was asked"
            );
            assert!(
                slowest * 3 < decode,
                "{encoding:?}: the API took {slowest:?} to answer while a body that takes {decode:?} to \
                 decode was decoded"
            );
        }
        running.stop().await.unwrap();
    }

    #[tokio::test]
    async fn every_gzip_member_of_a_body_is_read() {
        let running = collector(DEFAULT_MAX_BODY, None).await;
        let addr = running.otlp_http.unwrap();
        let protobuf = golden().encode_to_vec();
        // Two members end to end (what `cat a.gz b.gz` makes): two requests' spans, none dropped.
        let mut body = gzip(&protobuf);
        body.extend(gzip(&protobuf));
        let response = post(addr, "application/x-protobuf", Some("gzip"), body).await;
        assert_eq!(response.status(), 200);
        wait_for(&running.store, 4).await;
        let accounting = running.store.accounting();
        assert_eq!((accounting.accepted, accounting.stored), (4, 4));
        assert_eq!(accounting.rejected_total(), 0);
        running.stop().await.unwrap();
    }

    #[tokio::test]
    async fn bad_input_is_refused_with_a_message_counted_and_survived() {
        let running = collector(64 * 1024, None).await;
        let addr = running.otlp_http.unwrap();

        let response = post(
            addr,
            "application/x-protobuf",
            None,
            b"\xff\xff\xff\xff".to_vec(),
        )
        .await;
        assert_eq!(response.status(), 400);
        let status = RpcStatus::decode(response.bytes().await.unwrap()).unwrap();
        assert!(
            status.message.contains("malformed OTLP protobuf"),
            "{}",
            status.message
        );

        let response = post(
            addr,
            "application/json",
            None,
            b"{\"resourceSpans\": [".to_vec(),
        )
        .await;
        assert_eq!(response.status(), 400);
        let body: serde_json::Value =
            serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("malformed OTLP JSON")
        );

        let response = post(addr, "text/plain", None, GOLDEN_JSON.to_vec()).await;
        assert_eq!(response.status(), 415);
        assert!(response.text().await.unwrap().contains("text/plain"));

        let response = post(addr, "application/json", Some("br"), GOLDEN_JSON.to_vec()).await;
        assert_eq!(response.status(), 415);

        let response = post(addr, "application/json", Some("gzip"), b"not gzip".to_vec()).await;
        assert_eq!(response.status(), 400);

        // A decompression bomb: 32 MiB of zeroes in a few kilobytes, stopped at the 64 KiB limit.
        let bomb = gzip(&vec![0u8; 32 * 1024 * 1024]);
        assert!(bomb.len() < 64 * 1024);
        let response = post(addr, "application/x-protobuf", Some("gzip"), bomb).await;
        assert_eq!(response.status(), 413);
        let response = post(addr, "application/x-protobuf", None, vec![0u8; 128 * 1024]).await;
        assert_eq!(
            response.status(),
            413,
            "an uncompressed body over the limit"
        );

        // A span with a short id is rejected; its sibling is kept (partial success).
        let mut request = golden();
        request.resource_spans[0].scope_spans[0].spans[1].span_id = vec![1, 2, 3];
        let response = post(
            addr,
            "application/x-protobuf",
            None,
            request.encode_to_vec(),
        )
        .await;
        assert_eq!(response.status(), 200);
        let answer = ExportTraceServiceResponse::decode(response.bytes().await.unwrap()).unwrap();
        let partial = answer.partial_success.unwrap();
        assert_eq!(partial.rejected_spans, 1);
        assert!(partial.error_message.contains("span_id must be 8 bytes"));

        // Still serving.
        let response = post(addr, "application/json", None, GOLDEN_JSON.to_vec()).await;
        assert_eq!(response.status(), 200);
        wait_for(&running.store, 3).await;

        let accounting = running.store.accounting();
        for reason in [
            "malformed_protobuf",
            "malformed_json",
            "unsupported_content_type",
            "unsupported_content_encoding",
            "malformed_gzip",
            "invalid_span",
        ] {
            assert_eq!(
                accounting.rejected.get(reason),
                Some(&1),
                "{reason}: {:?}",
                accounting.rejected
            );
        }
        assert_eq!(
            accounting.rejected.get("too_large"),
            Some(&2),
            "the bomb and the plain one"
        );
        assert_eq!(accounting.rejected_spans, 1, "the span with the short id");
        assert_eq!(accounting.accepted, accounting.stored + accounting.evicted);
        running.stop().await.unwrap();
    }

    #[tokio::test]
    async fn a_full_queue_answers_429_with_retry_after_and_loses_nothing_silently() {
        let store = Store::new(1000);
        let (ingest, writer) = Ingest::new(store.clone(), 1, None).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(
            axum::serve(listener, router(ingest.clone(), DEFAULT_MAX_BODY)).into_future(),
        );
        // The writer is not running yet: the first batch fills the queue.
        let body = golden().encode_to_vec();
        let mut statuses = Vec::new();
        for _ in 0..5 {
            let response = post(addr, "application/x-protobuf", None, body.clone()).await;
            statuses.push(response.status().as_u16());
            if response.status() == 429 {
                assert_eq!(response.headers()["retry-after"], "1");
                let status = RpcStatus::decode(response.bytes().await.unwrap()).unwrap();
                assert_eq!(status.code, 8, "RESOURCE_EXHAUSTED");
            }
        }
        assert_eq!(statuses, [200, 429, 429, 429, 429]);
        server.abort();
        drop(ingest);
        let _ = server.await;
        writer.run().await.unwrap();
        let accounting = store.accounting();
        assert_eq!(accounting.rejected.get("queue_full"), Some(&4));
        assert_eq!(
            (accounting.accepted, accounting.stored),
            (2, 2),
            "the one queued batch"
        );
    }

    #[tokio::test]
    async fn recordings_replay_into_a_store() {
        let path =
            std::env::temp_dir().join(format!("lab-collector-record-{}.jsonl", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let running = collector(DEFAULT_MAX_BODY, Some(path.clone())).await;
        let addr = running.otlp_http.unwrap();
        for _ in 0..3 {
            assert_eq!(
                post(addr, "application/json", None, GOLDEN_JSON.to_vec())
                    .await
                    .status(),
                200
            );
        }
        let live = running.stop().await.unwrap();
        assert_eq!(live.len(), 6);

        // A crash mid-write leaves a truncated last line: reported, skipped, the rest loaded.
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        file.write_all(&GOLDEN_JSON[..40]).unwrap();
        drop(file);
        let offline = Store::new(1000);
        let loaded =
            crate::playback::load(&path, &offline, &crate::model::Interner::new()).unwrap();
        assert_eq!((loaded.batches, loaded.spans), (3, 6));
        assert_eq!(loaded.problems.len(), 1);
        assert_eq!(loaded.problems[0].0, 4, "the fourth line");
        let trace = crate::model::TraceId::from_hex("5b8efff798038103d269b633813fc60c").unwrap();
        assert_eq!(
            offline.trace(&trace).unwrap().to_vec(),
            live.trace(&trace).unwrap().to_vec()
        );
        let _ = std::fs::remove_file(&path);
    }
}
