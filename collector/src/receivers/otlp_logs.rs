//! Log records over HTTP, on the OTLP/HTTP listener: `POST /v1/logs` (OTLP, protobuf or JSON, gzip, answered as
//! OTLP answers: partial success for refused records, 4xx with a message for bad input) and `POST /api/v2/logs`
//! (JSON log lines carrying Datadog's `dd.trace_id`, as an array or one object a line, gzip). Refused payloads
//! and records are counted in the log store's accounting.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use prost::Message as _;

use super::otlp_http::{
    Encoding, Refusal, answer, error_response, gunzip, gzipped, read, read_body,
};
use crate::logs::{self, Converted, LogStore};

#[derive(Clone, Debug)]
struct Receiver {
    logs: LogStore,
    max_body: usize,
    /// Large bodies are decoded on blocking threads, this many at a time (see [`super::decode_aside`]).
    decoders: std::sync::Arc<tokio::sync::Semaphore>,
}

/// The log routes.
pub fn router(logs: LogStore, max_body: usize) -> Router {
    Router::new()
        .route("/v1/logs", post(otlp))
        .route("/api/v2/logs", post(json_lines))
        .layer(DefaultBodyLimit::disable())
        .with_state(Receiver {
            logs,
            max_body,
            decoders: super::decoders(),
        })
}

/// Whether the content type must be OTLP's (protobuf or JSON), or any.
#[derive(Clone, Copy)]
enum Typed {
    Otlp,
    Any,
}

/// The body read and inflated, decoded by `decode` off the async workers when large.
async fn decoded<T: Send + 'static>(
    receiver: &Receiver,
    (headers, decode_type): (&HeaderMap, Typed),
    body: Body,
    decode: impl FnOnce(&[u8], Encoding) -> Result<T, Refusal> + Send + 'static,
) -> Result<(Encoding, T), (Encoding, Refusal)> {
    let (encoding, body) = match decode_type {
        // JSON lines come as application/json, x-ndjson or plain text alike.
        Typed::Any => (
            Encoding::Json,
            read_body(body, receiver.max_body)
                .await
                .map_err(|refusal| (Encoding::Json, refusal))?,
        ),
        Typed::Otlp => read(headers, body, receiver.max_body).await?,
    };
    let gzip = gzipped(headers).map_err(|refusal| (encoding, refusal))?;
    let max_body = receiver.max_body;
    let work = move |body: Bytes| -> Result<T, Refusal> {
        if gzip {
            decode(&gunzip(&body, max_body)?, encoding)
        } else {
            decode(&body, encoding)
        }
    };
    let result = if body.len() < super::DECODE_ASIDE && !gzip {
        work(body)
    } else {
        // Large (or inflating) bodies on blocking threads, a few at a time, as for spans.
        super::decode_aside(&receiver.decoders, move || work(body)).await
    };
    result.map(|t| (encoding, t)).map_err(|r| (encoding, r))
}

/// Stores what was converted; refuses a payload whose every record was refused.
/// The refusal is to be answered as it is (`error_response`): `accept` counted it.
fn keep(receiver: &Receiver, converted: Converted) -> Result<(u64, Option<String>), Refusal> {
    receiver
        .logs
        .accept(converted)
        .map_err(|message| Refusal::new(StatusCode::BAD_REQUEST, "invalid_log_record", message))
}

fn refuse(receiver: &Receiver, encoding: Encoding, refusal: Refusal) -> Response {
    receiver.logs.reject(refusal.reason);
    error_response(encoding, refusal)
}

async fn otlp(State(receiver): State<Receiver>, headers: HeaderMap, body: Body) -> Response {
    let interner = receiver.logs.interner().clone();
    let decoded = decoded(
        &receiver,
        (&headers, Typed::Otlp),
        body,
        move |body, encoding| {
            let request = match encoding {
                Encoding::Protobuf => ExportLogsServiceRequest::decode(body).map_err(|e| {
                    Refusal::new(
                        StatusCode::BAD_REQUEST,
                        "malformed_protobuf",
                        format!("not an OTLP logs request: {e}"),
                    )
                })?,
                Encoding::Json => {
                    // Refused before decoding when its objects would take too much memory, as for spans.
                    crate::otlp::check_json_budget(body).map_err(|e| {
                        Refusal::new(StatusCode::PAYLOAD_TOO_LARGE, e.reason(), e.to_string())
                    })?;
                    serde_json::from_slice(body).map_err(|e| {
                        Refusal::new(
                            StatusCode::BAD_REQUEST,
                            "malformed_json",
                            format!("not an OTLP logs request: {e}"),
                        )
                    })?
                }
            };
            Ok(logs::from_request(&request, &interner, logs::now_ns()))
        },
    )
    .await;
    let (encoding, converted) = match decoded {
        Ok(decoded) => decoded,
        Err((encoding, refusal)) => return refuse(&receiver, encoding, refusal),
    };
    match keep(&receiver, converted) {
        Ok((rejected, error)) => {
            let partial_success = (rejected > 0).then(|| ExportLogsPartialSuccess {
                rejected_log_records: rejected as i64,
                error_message: error.unwrap_or_default(),
            });
            answer(
                StatusCode::OK,
                encoding,
                &ExportLogsServiceResponse { partial_success },
            )
        }
        Err(counted) => error_response(encoding, counted),
    }
}

async fn json_lines(State(receiver): State<Receiver>, headers: HeaderMap, body: Body) -> Response {
    let interner = receiver.logs.interner().clone();
    let decoded = decoded(&receiver, (&headers, Typed::Any), body, move |body, _| {
        // Refused before parsing when its objects would take too much memory, as for OTLP JSON.
        crate::otlp::check_json_budget(body)
            .map_err(|e| Refusal::new(StatusCode::PAYLOAD_TOO_LARGE, e.reason(), e.to_string()))?;
        Ok(logs::decode_lines(body, &interner, logs::now_ns()))
    })
    .await;
    let converted = match decoded {
        Ok((_, converted)) => converted,
        Err((_, refusal)) => return refuse(&receiver, Encoding::Json, refusal),
    };
    match keep(&receiver, converted) {
        Ok((rejected, error)) => (
            StatusCode::ACCEPTED,
            axum::Json(serde_json::json!({
                "rejected": rejected,
                "error": error.unwrap_or_default(),
            })),
        )
            .into_response(),
        Err(counted) => error_response(Encoding::Json, counted),
    }
}
