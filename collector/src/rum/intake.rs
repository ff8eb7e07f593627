//! Datadog's browser intake on the OTLP/HTTP listener: `POST /api/v2/rum`, and the proxy form
//! (`?ddforward=/api/v2/rum?…`, as the SDK's `proxy` option sends it, on `/api/v2/rum` or `/`). The body is
//! newline-delimited event JSON, plain, deflate (zlib or raw) or gzip; at most `max_body` bytes either way.
//! A batch received whole is also offered, as it came, to the RUM forward when one is on (`--export-rum`,
//! [`crate::export::rum`]): a push onto its bounded queue, never a wait.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Serialize;

use super::RumStore;
use crate::export::Exports;
use crate::export::rum::Forward;

/// Largest batch, compressed or not, by default (Datadog's intake takes 5 MB).
pub const DEFAULT_MAX_BODY: usize = 5 * 1024 * 1024;

/// The intake's path, and the only one `ddforward` may name: Datadog's own.
pub const PATH: &str = crate::export::rum::PATH;

#[derive(Clone, Debug)]
struct Intake {
    rum: RumStore,
    max_body: usize,
    decoders: Arc<tokio::sync::Semaphore>,
    /// Where a batch is offered on to (the RUM forward, when there is one).
    exports: Exports,
}

/// The intake's routes; every batch received whole is offered to `exports`' RUM forward, if it has one.
pub fn router(rum: RumStore, max_body: usize, exports: Exports) -> Router {
    Router::new()
        .route(PATH, post(intake))
        .route("/", post(intake))
        // The handler reads the body with the limit itself, so an oversized one is answered and counted alike.
        .layer(DefaultBodyLimit::disable())
        .with_state(Intake {
            rum,
            max_body,
            decoders: crate::receivers::decoders(),
            exports,
        })
}

/// What a batch came to (Datadog's intake answers 202 too).
#[derive(Debug, Serialize)]
struct Answer {
    accepted: u64,
    ignored: u64,
    rejected: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Debug)]
struct Refusal {
    status: StatusCode,
    reason: &'static str,
    message: String,
}

fn refusal(status: StatusCode, reason: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        status,
        reason,
        message: message.into(),
    }
}

async fn intake(
    State(intake): State<Intake>,
    Query(params): Query<HashMap<String, String>>,
    request: axum::extract::Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let peer = (parts.extensions)
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip());
    let received = Received {
        path: parts.uri.path(),
        query: parts.uri.query(),
        headers: &parts.headers,
        peer,
    };
    match take(&intake, &params, &received, body).await {
        Ok(answer) => (StatusCode::ACCEPTED, axum::Json(answer)).into_response(),
        Err(refused) => {
            intake.rum.reject(refused.reason);
            let body = serde_json::json!({ "error": refused.message });
            (refused.status, axum::Json(body)).into_response()
        }
    }
}

/// What a request came with, beside its body.
struct Received<'a> {
    path: &'a str,
    query: Option<&'a str>,
    headers: &'a HeaderMap,
    peer: Option<std::net::IpAddr>,
}

async fn take(
    intake: &Intake,
    params: &HashMap<String, String>,
    received: &Received<'_>,
    body: Body,
) -> Result<Answer, Refusal> {
    let (path, headers) = (received.path, received.headers);
    match params.get("ddforward") {
        Some(forward) if !forward.starts_with(PATH) => {
            return Err(refusal(
                StatusCode::BAD_REQUEST,
                "unsupported_intake",
                format!("ddforward {forward:?}: only the RUM intake ({PATH}) is received here"),
            ));
        }
        None if path != PATH => {
            return Err(refusal(
                StatusCode::BAD_REQUEST,
                "unsupported_intake",
                format!("POST {PATH}, or the proxy form ?ddforward={PATH}…"),
            ));
        }
        _ => {}
    }
    let encoding = encoding(headers)?;
    let body: Bytes = match axum::body::to_bytes(body, intake.max_body).await {
        Ok(body) => body,
        Err(e) if listener::timed_out(&e) => {
            return Err(refusal(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                "the body was not received in time",
            ));
        }
        Err(_) => {
            return Err(refusal(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("the batch is larger than {} bytes", intake.max_body),
            ));
        }
    };
    if intake.exports.wants_browser() {
        // The proxy form names the intake's path and query; a batch posted to the intake itself carries them.
        let ddforward = match (params.get("ddforward"), received.query) {
            (Some(ddforward), _) => ddforward.clone(),
            (None, Some(query)) => format!("{PATH}?{query}"),
            (None, None) => PATH.to_owned(),
        };
        if let Some(forward) = Forward::new(&ddforward, body.clone(), headers, received.peer) {
            intake.exports.offer_browser(forward);
        }
    }
    let (rum, max_body) = (intake.rum.clone(), intake.max_body);
    let inline = body.len() < crate::receivers::DECODE_ASIDE && encoding == Encoding::Identity;
    let work = move || -> Result<Answer, Refusal> {
        let plain = inflate(&body, encoding, max_body)?;
        accept(&rum, &plain)
    };
    if inline {
        work()
    } else {
        crate::receivers::decode_aside(&intake.decoders, work).await
    }
}

fn accept(rum: &RumStore, plain: &[u8]) -> Result<Answer, Refusal> {
    let taken = rum.take(plain);
    let error = taken.first_error.map(|(_, message)| message);
    if taken.accepted == 0 && taken.ignored == 0 {
        return Err(refusal(
            StatusCode::BAD_REQUEST,
            "no_event",
            error.unwrap_or_else(|| "an empty batch: send newline-delimited event JSON".into()),
        ));
    }
    Ok(Answer {
        accepted: taken.accepted,
        ignored: taken.ignored,
        rejected: taken.rejected,
        error,
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Encoding {
    Identity,
    Deflate,
    Gzip,
}

fn encoding(headers: &HeaderMap) -> Result<Encoding, Refusal> {
    let value = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match value.as_str() {
        "" | "identity" => Ok(Encoding::Identity),
        "deflate" => Ok(Encoding::Deflate),
        "gzip" => Ok(Encoding::Gzip),
        other => Err(refusal(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_content_encoding",
            format!("unsupported content encoding {other:?}: send deflate, gzip or none"),
        )),
    }
}

/// The body decompressed, refused as soon as it passes `limit` bytes. `deflate` is zlib's format, as HTTP
/// says and the SDK sends; a raw deflate stream is read too.
fn inflate(body: &Bytes, encoding: Encoding, limit: usize) -> Result<Bytes, Refusal> {
    use crate::receivers::read_at_most as read;
    let inflated = match encoding {
        Encoding::Identity => return Ok(body.clone()),
        Encoding::Gzip => read(flate2::read::MultiGzDecoder::new(&body[..]), limit),
        Encoding::Deflate => read(flate2::read::ZlibDecoder::new(&body[..]), limit)
            .or_else(|_| read(flate2::read::DeflateDecoder::new(&body[..]), limit)),
    };
    match inflated {
        Ok(Some(plain)) => Ok(Bytes::from(plain)),
        Ok(None) => Err(refusal(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the batch decompresses to more than {limit} bytes"),
        )),
        Err(err) => Err(refusal(
            StatusCode::BAD_REQUEST,
            "malformed_compression",
            format!("the body does not decompress as {encoding:?}: {err}"),
        )),
    }
}
