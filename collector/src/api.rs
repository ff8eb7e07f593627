//! The query API: HTTP JSON on 127.0.0.1:8787 by default, for the dashboard's remote mode, the headless
//! report and any script. Every answer comes from the analyses' running figures or the store's trace
//! summaries, so none of them walks the spans of the whole store.
//!
//! | request | answer |
//! |---|---|
//! | `GET /api/services?sort=latency\|errors\|requests\|name&window=1m\|5m\|15m\|all` | `{"services": [ServiceStats]}` |
//! | `GET /api/services/{name}/endpoints?sort=&window=` | `{"endpoints": [ServiceStats]}` |
//! | `GET /api/services/{name}/latency?buckets=` | `{"bucket_ms": 10000, "p95_ms": [..]}`, oldest first |
//! | `GET /api/map?window=` | `{"nodes": [...], "edges": [...]}` |
//! | `GET /api/traces?service=&endpoint=&error=&min_duration_ms=&max_duration_ms=&text=&since=&limit=&sort=start\|duration` | `{"traces": [...]}` |
//! | `GET /api/traces/{trace_id}` | the trace's spans, self times and critical path |
//! | `GET /api/errors` | `{"errors": [ErrorGroup]}` |
//! | `GET /api/insights` | `{"n_plus_one": [NPlusOne]}` |
//! | `GET /api/deployments` | `{"deployments": [Deployment]}` |
//! | `GET /api/stats` | the store's accounting, the log store's (`logs`), the browser events' (`rum`), and each exporter's |
//! | `POST /api/export/{name}` with `{"enabled": true\|false}` | switches the `otlp` or `datadog` exporter on or off: its `ExportStats` |
//! | `GET /api/logs?trace_id=&span_id=&service=&severity=&q=&since=&limit=` | `{"logs": [LogView]}`, newest first: a trace's (or span's) log records, a service's, those at a severity or above, those with `q` in the body or an attribute value |
//! | `GET /api/source?file=&line=` | `{"file", "line", "lines": [{"number", "text"}]}`: the lines around it, from the source tree the collector was given, under the dashboard's sandbox rules; a 404 says why not |
//! | `GET /api/rum/pages?sort=latency\|errors\|requests\|name` | `{"pages": [RumPage]}` |
//! | `GET /api/rum/errors` | `{"errors": [RumErrorGroup]}` |
//! | `GET /api/rum/sessions?limit=` | `{"sessions": [RumSessionSummary]}`, newest first |
//! | `GET /api/rum/sessions/{id}` | the session's journey |
//!
//! A program embedding the collector may add routes of its own beside these ([`Extension`]): `lab workshop`
//! serves its guide's `/api/workshop` and `/api/class` that way, answering from the same [`Query`].
//!
//! A bad parameter is a 400 naming it; an unknown trace or service a 404. Every answer is a type of the
//! contract (`protocol`), computed by [`crate::query::Query`]; this module only speaks HTTP.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::Json;
use axum::extract::{Path, Query as UrlQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use protocol::query::{only, parse, sort, window};
use protocol::{Sort, TraceSearch};
use serde::Serialize;

use crate::analysis::Analysis;
use crate::model::TraceId;
use crate::query::Query;
use crate::store::Store;

/// The query API's default address.
pub const DEFAULT_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8787);

/// The API's routes over `store` and `analysis`, serving no source lines.
pub fn router(store: Store, analysis: Analysis) -> axum::Router {
    serve(Query::new(store, analysis))
}

/// The API's routes answering `query` (its source lines and exporters included).
pub fn serve(query: Query) -> axum::Router {
    axum::Router::new()
        .route("/api/services", get(services))
        .route("/api/services/{name}/endpoints", get(endpoints))
        .route("/api/services/{name}/latency", get(latency))
        .route("/api/map", get(map))
        .route("/api/traces", get(traces))
        .route("/api/traces/{trace_id}", get(trace))
        .route("/api/errors", get(errors))
        .route("/api/insights", get(insights))
        .route("/api/deployments", get(deployments))
        .route("/api/stats", get(stats))
        .route("/api/source", get(source))
        .route("/api/export/{name}", axum::routing::post(set_export))
        .route("/api/logs", get(logs))
        .route("/api/rum/pages", get(rum_pages))
        .route("/api/rum/errors", get(rum_errors))
        .route("/api/rum/sessions", get(rum_sessions))
        .route("/api/rum/sessions/{id}", get(rum_session))
        .fallback(|| async {
            bad(
                StatusCode::NOT_FOUND,
                "no such endpoint: see GET /api/services, /api/map, /api/traces, /api/errors, \
                 /api/insights, /api/deployments, /api/stats, /api/source, /api/logs, /api/rum/pages, \
                 /api/rum/errors, /api/rum/sessions",
            )
        })
        .with_state(query)
}

/// Routes a program embedding the collector serves on the query API's listener, beside the API's own: built
/// from the collector's [`Query`] once it exists, merged before the API's fallback (so they must not set one
/// of their own), served under the same timeouts and connection cap.
#[derive(Clone)]
pub struct Extension(std::sync::Arc<dyn Fn(Query) -> axum::Router + Send + Sync>);

impl Extension {
    pub fn new(routes: impl Fn(Query) -> axum::Router + Send + Sync + 'static) -> Extension {
        Extension(std::sync::Arc::new(routes))
    }

    /// The API's own routes over `query`, with this extension's beside them.
    pub fn serve(&self, query: Query) -> axum::Router {
        serve(query.clone()).merge((self.0)(query))
    }
}

impl std::fmt::Debug for Extension {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Extension(..)")
    }
}

/// A refused query: its status and a message saying what was wrong, answered as `{"error": message}`.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = protocol::ApiError {
            error: self.message,
        };
        (self.status, Json(body)).into_response()
    }
}

fn bad(status: StatusCode, message: impl Into<String>) -> ApiError {
    ApiError {
        status,
        message: message.into(),
    }
}

/// A parameter the contract refused: a 400 with its message.
fn bad_request(message: String) -> ApiError {
    bad(StatusCode::BAD_REQUEST, message)
}

type Params = UrlQuery<HashMap<String, String>>;

type Answer = Result<Response, ApiError>;

fn answer(body: impl Serialize) -> Answer {
    Ok(Json(body).into_response())
}

fn no_service(name: &str) -> ApiError {
    bad(StatusCode::NOT_FOUND, format!("no service named {name:?}"))
}

/// Log records a response holds when no `limit` is given.
use protocol::query::DEFAULT_LOG_LIMIT as DEFAULT_LOGS;

async fn logs(State(query): State<Query>, UrlQuery(params): Params) -> Answer {
    only(
        &params,
        &[
            "trace_id", "span_id", "service", "severity", "q", "since", "limit",
        ],
    )
    .map_err(bad_request)?;
    let text = |key: &str| params.get(key).filter(|v| !v.is_empty()).cloned();
    let since = match text("since") {
        None => None,
        Some(since) => Some(protocol::query::Since::parse(&since).ok_or_else(|| {
            bad_request(format!(
                "bad since {since:?}: unix nanoseconds or a duration back (30s, 5m, 2h)"
            ))
        })?),
    };
    let limit: usize = parse(&params, "limit", "a number of records")
        .map_err(bad_request)?
        .unwrap_or(DEFAULT_LOGS);
    let search = protocol::query::LogSearch {
        trace_id: text("trace_id"),
        span_id: text("span_id"),
        service: text("service"),
        severity: text("severity"),
        text: text("q"),
        since,
        limit,
    };
    // A scan of up to the whole log store: off the async workers.
    let found = tokio::task::spawn_blocking(move || query.search_logs(&search))
        .await
        .map_err(|_| {
            bad(
                StatusCode::INTERNAL_SERVER_ERROR,
                "searching the logs failed",
            )
        })?
        .map_err(bad_request)?;
    answer(found)
}

async fn source(State(query): State<Query>, UrlQuery(params): Params) -> Answer {
    only(&params, &["file", "line"]).map_err(bad_request)?;
    let file = params
        .get("file")
        .filter(|file| !file.is_empty())
        .ok_or_else(|| bad_request("file is required (a path relative to the source tree)".into()))?
        .clone();
    let line: u32 = parse(&params, "line", "a line number")
        .map_err(bad_request)?
        .ok_or_else(|| bad_request("line is required".into()))?;
    if line == 0 {
        return Err(bad_request("line must be 1 or more".into()));
    }
    // A file read (at most 8 MiB, up to the line): off the async workers.
    let read = tokio::task::spawn_blocking(move || query.source(&file, line))
        .await
        .map_err(|_| {
            bad(
                StatusCode::INTERNAL_SERVER_ERROR,
                "reading the source failed",
            )
        })?;
    answer(read.map_err(|why| bad(StatusCode::NOT_FOUND, why))?)
}

async fn services(State(query): State<Query>, UrlQuery(params): Params) -> Answer {
    only(&params, &["sort", "window"]).map_err(bad_request)?;
    let window = window(&params).map_err(bad_request)?;
    let sort = sort(&params, Sort::Latency).map_err(bad_request)?;
    answer(query.services(window, sort))
}

async fn endpoints(
    State(query): State<Query>,
    Path(name): Path<String>,
    UrlQuery(params): Params,
) -> Answer {
    only(&params, &["sort", "window"]).map_err(bad_request)?;
    let window = window(&params).map_err(bad_request)?;
    let sort = sort(&params, Sort::Latency).map_err(bad_request)?;
    answer(
        query
            .endpoints(&name, window, sort)
            .ok_or_else(|| no_service(&name))?,
    )
}

/// Buckets of the latency series when no `buckets` is given, and the most a request may ask for (15 minutes).
const DEFAULT_BUCKETS: usize = 30;
const MAX_BUCKETS: usize = 90;

async fn latency(
    State(query): State<Query>,
    Path(name): Path<String>,
    UrlQuery(params): Params,
) -> Answer {
    only(&params, &["buckets"]).map_err(bad_request)?;
    let buckets: usize = parse(&params, "buckets", "a number of 10-second buckets")
        .map_err(bad_request)?
        .unwrap_or(DEFAULT_BUCKETS);
    if !(1..=MAX_BUCKETS).contains(&buckets) {
        return Err(bad_request(format!("buckets must be 1 to {MAX_BUCKETS}")));
    }
    answer(
        query
            .latency(&name, buckets)
            .ok_or_else(|| no_service(&name))?,
    )
}

async fn map(State(query): State<Query>, UrlQuery(params): Params) -> Answer {
    only(&params, &["window"]).map_err(bad_request)?;
    answer(query.map(window(&params).map_err(bad_request)?))
}

async fn traces(State(query): State<Query>, UrlQuery(params): Params) -> Answer {
    let search = TraceSearch::from_params(&params).map_err(bad_request)?;
    answer(query.traces(&search))
}

async fn trace(State(query): State<Query>, Path(trace_id): Path<String>) -> Answer {
    let id = protocol::parse_trace_id(&trace_id).map(TraceId::from_u128).ok_or_else(|| {
        bad_request(format!(
            "bad trace id {trace_id:?}: 32 hex digits, 16 (a 64-bit id) or a decimal number (as Datadog shows ids)"
        ))
    })?;
    answer(query.trace(id).ok_or_else(|| {
        bad(
            StatusCode::NOT_FOUND,
            format!("trace {trace_id} is not stored (never received, or evicted)"),
        )
    })?)
}

async fn errors(State(query): State<Query>, UrlQuery(params): Params) -> Answer {
    only(&params, &[]).map_err(bad_request)?;
    answer(query.errors())
}

async fn insights(State(query): State<Query>, UrlQuery(params): Params) -> Answer {
    only(&params, &[]).map_err(bad_request)?;
    answer(query.insights())
}

async fn deployments(State(query): State<Query>, UrlQuery(params): Params) -> Answer {
    only(&params, &[]).map_err(bad_request)?;
    answer(query.deployments())
}

async fn stats(State(query): State<Query>, UrlQuery(params): Params) -> Answer {
    only(&params, &[]).map_err(bad_request)?;
    answer(query.stats())
}

async fn rum_pages(State(query): State<Query>, UrlQuery(params): Params) -> Answer {
    only(&params, &["sort"]).map_err(bad_request)?;
    let sort = sort(&params, Sort::Latency).map_err(bad_request)?;
    answer(query.rum_pages(sort))
}

async fn rum_errors(State(query): State<Query>, UrlQuery(params): Params) -> Answer {
    only(&params, &[]).map_err(bad_request)?;
    answer(query.rum_errors())
}

/// Sessions listed when no `limit` is given, and the most a request may ask for.
const DEFAULT_SESSIONS: usize = 100;
const MAX_SESSIONS: usize = 1000;

async fn rum_sessions(State(query): State<Query>, UrlQuery(params): Params) -> Answer {
    only(&params, &["limit"]).map_err(bad_request)?;
    let limit: usize = parse(&params, "limit", "a number of sessions")
        .map_err(bad_request)?
        .unwrap_or(DEFAULT_SESSIONS);
    if !(1..=MAX_SESSIONS).contains(&limit) {
        return Err(bad_request(format!("limit must be 1 to {MAX_SESSIONS}")));
    }
    answer(query.rum_sessions(limit))
}

async fn rum_session(State(query): State<Query>, Path(id): Path<String>) -> Answer {
    answer(query.rum_session(&id).ok_or_else(|| {
        bad(
            StatusCode::NOT_FOUND,
            format!("session {id:?} is not held (never received, or evicted)"),
        )
    })?)
}

async fn set_export(
    State(query): State<Query>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Answer {
    let toggle: protocol::ExportToggle = serde_json::from_slice(&body).map_err(|err| {
        bad_request(format!(
            "the body must be {{\"enabled\": true}} or {{\"enabled\": false}}: {err}"
        ))
    })?;
    match query.exports.set_enabled(&name, toggle.enabled) {
        Some(stats) => answer(stats),
        None => Err(bad(
            StatusCode::NOT_FOUND,
            format!(
                "no exporter named {name:?}: this collector has {}",
                match query.exports.names() {
                    names if names.is_empty() => {
                        "none (start it with --export-otlp URL, --export-datadog or --export-rum)"
                            .to_owned()
                    }
                    names => names.join(", "),
                }
            ),
        )),
    }
}
