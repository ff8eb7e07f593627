//! The Datadog agent API receiver (port 8126), so apps traced with Datadog's own libraries (`ddtrace-run`,
//! `DD_AGENT_HOST`) report here unchanged: `GET /info`, and `PUT|POST /v0.3|v0.4|v0.5/traces`, answered
//! with `rate_by_service` like the agent. Bodies of 1 MiB or more are decoded on a blocking thread
//! ([`super::decode_aside`]); a payload whose decoding would outgrow its memory budget is refused with 413
//! (`over_budget`), one with no span that can be taken with 400 (`invalid_span`). msgpack bodies are decoded
//! straight into the store's form ([`datadog::decode_v04_for_store`], [`datadog::decode_v05_for_store`]); JSON
//! ones into model spans.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rustc_hash::FxHashSet;
use serde_json::json;

use crate::datadog;
use crate::ingest::{Batch, Ingest};
use crate::model::{Interner, Resource, SpanRead as _};
use crate::wire::Decoded;

/// The agent's default port.
pub const DEFAULT_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8126);

#[derive(Clone, Debug)]
struct Receiver {
    ingest: Ingest,
    max_body: usize,
    /// Large bodies are decoded on blocking threads, this many at a time (see [`super::decode_aside`]).
    decoders: Arc<tokio::sync::Semaphore>,
}

#[derive(Clone, Copy, Debug)]
enum Version {
    V03,
    V04,
    V05,
}

/// The receiver's routes.
pub fn router(ingest: Ingest, max_body: usize) -> Router {
    Router::new()
        .route("/info", get(info))
        .route("/v0.3/traces", post(v03).put(v03))
        .route("/v0.4/traces", post(v04).put(v04))
        .route("/v0.5/traces", post(v05).put(v05))
        .layer(DefaultBodyLimit::disable())
        .with_state(Receiver {
            ingest,
            max_body,
            decoders: super::decoders(),
        })
}

async fn info() -> axum::Json<serde_json::Value> {
    axum::Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "endpoints": ["/v0.3/traces", "/v0.4/traces", "/v0.5/traces"],
        "client_drop_p0s": false,
        "span_meta_structs": false,
        "long_running_spans": false,
        "config": { "default_env": "none" },
    }))
}

async fn v03(state: State<Receiver>, headers: HeaderMap, body: Body) -> Response {
    traces(state, headers, body, Version::V03).await
}

async fn v04(state: State<Receiver>, headers: HeaderMap, body: Body) -> Response {
    traces(state, headers, body, Version::V04).await
}

async fn v05(state: State<Receiver>, headers: HeaderMap, body: Body) -> Response {
    traces(state, headers, body, Version::V05).await
}

fn refuse(receiver: &Receiver, status: StatusCode, reason: &str, message: String) -> Response {
    if reason != "queue_full" {
        receiver.ingest.reject(reason);
    }
    let mut response = (status, message).into_response();
    if status == StatusCode::TOO_MANY_REQUESTS {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    }
    response
}

async fn traces(
    State(receiver): State<Receiver>,
    headers: HeaderMap,
    body: Body,
    version: Version,
) -> Response {
    let body = match axum::body::to_bytes(body, receiver.max_body).await {
        Ok(body) => body,
        Err(_) => {
            let message = format!(
                "the payload is larger than {} bytes (or was cut off)",
                receiver.max_body
            );
            return refuse(
                &receiver,
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                message,
            );
        }
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/msgpack")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let decode: Decoder = match (version, content_type.as_str()) {
        (Version::V05, "application/msgpack") => datadog::decode_v05_for_store,
        (Version::V03 | Version::V04, "application/msgpack") => datadog::decode_v04_for_store,
        // JSON stays on model spans.
        (Version::V03 | Version::V04, "application/json" | "text/json") => {
            |body, interner| datadog::decode_v04_json(body, interner).map(datadog::ForStore::from)
        }
        (_, other) => {
            let message = format!(
                "unsupported content type {other:?} for this endpoint: send application/msgpack"
            );
            return refuse(
                &receiver,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_content_type",
                message,
            );
        }
    };
    let accepted = if body.len() < super::DECODE_ASIDE {
        accept(&receiver, &body, decode)
    } else {
        let aside = receiver.clone();
        super::decode_aside(&receiver.decoders, move || accept(&aside, &body, decode)).await
    };
    match accepted {
        Ok(response) => response,
        Err((status, reason, message)) => refuse(&receiver, status, reason, message),
    }
}

type Decoder = fn(&[u8], &Interner) -> Result<datadog::ForStore, datadog::DecodeError>;

/// Decodes a body and hands its spans to the ingest queue, or says why not (status, reason, message).
fn accept(
    receiver: &Receiver,
    body: &[u8],
    decode: Decoder,
) -> Result<Response, (StatusCode, &'static str, String)> {
    let Decoded {
        batch,
        rejected,
        error,
    } = match decode(body, receiver.ingest.interner()) {
        Ok(for_store) => for_store.decoded,
        Err(err) => {
            let status = match err {
                datadog::DecodeError::OverBudget { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                _ => StatusCode::BAD_REQUEST,
            };
            return Err((status, err.reason(), err.to_string()));
        }
    };
    receiver.ingest.reject_spans(rejected);
    if rejected > 0 && batch.is_empty() {
        // Nothing in the payload is a span: refused whole, and said so.
        let message = format!(
            "none of the payload's {rejected} spans can be taken: {}",
            error.unwrap_or_default()
        );
        return Err((StatusCode::BAD_REQUEST, "invalid_span", message));
    }
    if rejected > 0 {
        receiver.ingest.reject("invalid_span");
    }
    let services = services(&batch);
    if let Err(overloaded) = receiver.ingest.submit_batch(batch) {
        return Err((
            StatusCode::TOO_MANY_REQUESTS,
            "queue_full",
            overloaded.to_string(),
        ));
    }
    // The lab keeps every trace: a sample rate of 1 for every service.
    let mut rates = serde_json::Map::new();
    rates.insert("service:,env:".to_owned(), json!(1.0));
    for service in services {
        rates.insert(service, json!(1.0));
    }
    Ok(axum::Json(json!({ "rate_by_service": rates })).into_response())
}

/// The payload's services, as `rate_by_service` names them. Spans of one service, version and env share a
/// resource: each resource is named once.
fn services(batch: &Batch) -> BTreeSet<String> {
    let mut services = BTreeSet::new();
    let mut named = FxHashSet::<*const Resource>::default();
    let mut name = |resource: &Arc<Resource>| {
        if named.insert(Arc::as_ptr(resource)) {
            let env = resource.environment().unwrap_or("");
            services.insert(format!("service:{},env:{env}", resource.service_name()));
        }
    };
    match batch {
        Batch::Spans(spans) => spans.iter().for_each(|span| name(&span.resource)),
        Batch::Staged(staged) => (staged.views().iter()).for_each(|view| name(view.resource())),
    }
    services
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    const V05: &[u8] = include_bytes!("../../testdata/ddtrace-v0.5.msgpack");

    async fn start(ingest: Ingest) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(axum::serve(listener, router(ingest, 1024 * 1024)).into_future());
        addr
    }

    async fn put(
        addr: SocketAddr,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> (u16, String, Option<String>) {
        let response = reqwest::Client::new()
            .put(format!("http://{addr}{path}"))
            .header("content-type", content_type)
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let retry = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        (status, response.text().await.unwrap(), retry)
    }

    #[tokio::test]
    async fn the_agent_api_answers_like_the_agent_and_refuses_bad_payloads() {
        let store = Store::new(100);
        let (ingest, writer) = Ingest::new(store.clone(), 1, None).unwrap();
        let addr = start(ingest.clone()).await;

        let info: serde_json::Value = serde_json::from_str(
            &reqwest::get(format!("http://{addr}/info"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        )
        .unwrap();
        assert!(
            info["endpoints"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e == "/v0.5/traces")
        );

        let (status, body, _) = put(addr, "/v0.5/traces", "application/msgpack", V05).await;
        assert_eq!(status, 200);
        let rates: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(rates["rate_by_service"]["service:dd-shop,env:lab"], 1.0);
        assert_eq!(rates["rate_by_service"]["service:,env:"], 1.0);

        // The writer is not running: the queue (one batch) is full now.
        let (status, _, retry) = put(addr, "/v0.5/traces", "application/msgpack", V05).await;
        assert_eq!((status, retry.as_deref()), (429, Some("1")));

        let (status, body, _) =
            put(addr, "/v0.4/traces", "application/msgpack", b"\xc1garbage").await;
        assert_eq!(status, 400);
        assert!(body.contains("malformed msgpack"), "{body}");
        // Nothing in it is a span: refused whole, its spans counted one by one.
        let (status, body, _) = put(addr, "/v0.4/traces", "application/json", b"[[{},{}]]").await;
        assert_eq!(status, 400);
        assert!(body.contains("none of the payload's 2 spans"), "{body}");
        let (status, body, _) = put(addr, "/v0.5/traces", "application/json", b"[]").await;
        assert_eq!(status, 415);
        assert!(body.contains("application/json"));
        let (status, _, _) = put(
            addr,
            "/v0.4/traces",
            "application/msgpack",
            &vec![0x90; 2 * 1024 * 1024],
        )
        .await;
        assert_eq!(status, 413);

        drop(ingest);
        let accounting = store.accounting();
        assert_eq!(accounting.rejected.get("queue_full"), Some(&1));
        assert_eq!(accounting.rejected.get("malformed_msgpack"), Some(&1));
        assert_eq!(
            accounting.rejected.get("unsupported_content_type"),
            Some(&1)
        );
        assert_eq!(accounting.rejected.get("too_large"), Some(&1));
        assert_eq!(accounting.rejected.get("invalid_span"), Some(&1));
        assert_eq!(accounting.rejected_spans, 2);
        drop(writer);
    }
}
