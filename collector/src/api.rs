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
//! | `GET /api/traces?service=&endpoint=&error=&min_duration_ms=&since=&limit=&sort=start\|duration` | `{"traces": [...]}` |
//! | `GET /api/traces/{trace_id}` | the trace's spans, self times and critical path |
//! | `GET /api/errors` | `{"errors": [ErrorGroup]}` |
//! | `GET /api/insights` | `{"n_plus_one": [NPlusOne]}` |
//! | `GET /api/deployments` | `{"deployments": [Deployment]}` |
//! | `GET /api/stats` | the store's accounting |
//!
//! A bad parameter is a 400 naming it; an unknown trace or service a 404.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::analysis::{Analysis, Sort, Window, trace as trace_analysis};
use crate::model::{KeyValue, Span, SpanKind, StatusCode as SpanStatus, TraceId, Value};
use crate::store::{Store, Trace, TraceQuery};

/// The query API's default address.
pub const DEFAULT_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8787);

/// Traces listed when no `limit` is given, and the most a request may ask for.
const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 1000;

#[derive(Clone)]
struct Api {
    store: Store,
    analysis: Analysis,
}

/// The API's routes over `store` and `analysis`.
pub fn router(store: Store, analysis: Analysis) -> axum::Router {
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
        .fallback(|| async {
            bad(
                StatusCode::NOT_FOUND,
                "no such endpoint: see GET /api/services, /api/map, /api/traces, /api/errors, \
                 /api/insights, /api/deployments, /api/stats",
            )
        })
        .with_state(Api { store, analysis })
}

/// A refused query: its status and a message saying what was wrong, answered as `{"error": message}`.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

fn bad(status: StatusCode, message: impl Into<String>) -> ApiError {
    ApiError {
        status,
        message: message.into(),
    }
}

type Params = Query<HashMap<String, String>>;

/// Checks that only `known` parameters were given, so a typo is an error rather than silently ignored.
fn only(params: &HashMap<String, String>, known: &[&str]) -> Result<(), ApiError> {
    let mut unknown: Vec<&str> = params
        .keys()
        .map(String::as_str)
        .filter(|key| !known.contains(key))
        .collect();
    unknown.sort_unstable();
    match unknown.first() {
        Some(key) => Err(bad(
            StatusCode::BAD_REQUEST,
            format!(
                "unknown parameter `{key}`; this endpoint takes: {}",
                known.join(", ")
            ),
        )),
        None => Ok(()),
    }
}

fn window(params: &HashMap<String, String>) -> Result<Window, ApiError> {
    match params.get("window") {
        None => Ok(Window::All),
        Some(text) => Window::parse(text).ok_or_else(|| {
            bad(
                StatusCode::BAD_REQUEST,
                format!("bad `window` {text:?}: use 1m, 5m, 15m or all"),
            )
        }),
    }
}

fn sort(params: &HashMap<String, String>, default: Sort) -> Result<Sort, ApiError> {
    match params.get("sort") {
        None => Ok(default),
        Some(text) => Sort::parse(text).ok_or_else(|| {
            bad(
                StatusCode::BAD_REQUEST,
                format!("bad `sort` {text:?}: use latency, errors, requests or name"),
            )
        }),
    }
}

type Answer = Result<Response, ApiError>;

async fn services(State(api): State<Api>, Query(params): Params) -> Answer {
    only(&params, &["sort", "window"])?;
    let services = api
        .analysis
        .services(window(&params)?, sort(&params, Sort::Latency)?);
    Ok(Json(json!({ "services": services })).into_response())
}

async fn endpoints(
    State(api): State<Api>,
    Path(name): Path<String>,
    Query(params): Params,
) -> Answer {
    only(&params, &["sort", "window"])?;
    let (window, sort) = (window(&params)?, sort(&params, Sort::Latency)?);
    let endpoints = api
        .analysis
        .endpoints(&name, window, sort)
        .ok_or_else(|| bad(StatusCode::NOT_FOUND, format!("no service named {name:?}")))?;
    Ok(Json(json!({ "endpoints": endpoints })).into_response())
}

/// Buckets of the latency series when no `buckets` is given, and the most a request may ask for (15 minutes).
const DEFAULT_BUCKETS: usize = 30;
const MAX_BUCKETS: usize = 90;

async fn latency(
    State(api): State<Api>,
    Path(name): Path<String>,
    Query(params): Params,
) -> Answer {
    only(&params, &["buckets"])?;
    let buckets: usize =
        parse(&params, "buckets", "a number of 10-second buckets")?.unwrap_or(DEFAULT_BUCKETS);
    if !(1..=MAX_BUCKETS).contains(&buckets) {
        return Err(bad(
            StatusCode::BAD_REQUEST,
            format!("buckets must be 1 to {MAX_BUCKETS}"),
        ));
    }
    let p95 = api
        .analysis
        .latency_series(&name, buckets)
        .ok_or_else(|| bad(StatusCode::NOT_FOUND, format!("no service named {name:?}")))?;
    Ok(
        Json(json!({ "bucket_ms": crate::analysis::stats::BUCKET_NS / 1_000_000, "p95_ms": p95 }))
            .into_response(),
    )
}

async fn map(State(api): State<Api>, Query(params): Params) -> Answer {
    only(&params, &["window"])?;
    Ok(Json(api.analysis.map(window(&params)?)).into_response())
}

/// One line of a trace search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceSummary {
    pub trace_id: String,
    /// The root span's service and name; empty while the root has not arrived.
    pub root_service: String,
    pub root_name: String,
    pub start_unix_nano: u64,
    pub duration_ms: f64,
    pub spans: usize,
    pub error: bool,
}

/// A stored trace as a line of a search.
pub fn trace_summary(trace: &Trace) -> TraceSummary {
    let (root_service, root_name) = trace
        .root_summary()
        .map(|(s, n)| (s.to_string(), n.to_string()))
        .unwrap_or_default();
    TraceSummary {
        trace_id: trace.id().to_string(),
        root_service,
        root_name,
        start_unix_nano: trace.start_ns(),
        duration_ms: trace.duration_ns() as f64 / 1e6,
        spans: trace.len(),
        error: trace.error_count() > 0,
    }
}

fn parse<T: std::str::FromStr>(
    params: &HashMap<String, String>,
    key: &str,
    what: &str,
) -> Result<Option<T>, ApiError> {
    params
        .get(key)
        .map(|text| {
            text.parse().map_err(|_| {
                bad(
                    StatusCode::BAD_REQUEST,
                    format!("bad `{key}` {text:?}: {what}"),
                )
            })
        })
        .transpose()
}

/// `since`: unix nanoseconds, or a duration back from the newest span (`30s`, `5m`, `2h`).
fn since(params: &HashMap<String, String>, newest_ns: u64) -> Result<u64, ApiError> {
    let Some(text) = params.get("since") else {
        return Ok(0);
    };
    if let Ok(ns) = text.parse::<u64>() {
        return Ok(ns);
    }
    let scaled = [
        ('s', 1_000_000_000u64),
        ('m', 60_000_000_000),
        ('h', 3_600_000_000_000),
    ]
    .iter()
    .find_map(|(unit, scale)| Some((text.strip_suffix(*unit)?, *scale)));
    match scaled.and_then(|(number, scale)| Some((number.parse::<u64>().ok()?, scale))) {
        Some((n, scale)) => Ok(newest_ns.saturating_sub(n.saturating_mul(scale))),
        None => Err(bad(
            StatusCode::BAD_REQUEST,
            format!(
                "bad `since` {text:?}: unix nanoseconds, or a duration back from the newest span such as 30s, 5m, 2h"
            ),
        )),
    }
}

/// Parses a trace search's parameters.
fn trace_query(params: &HashMap<String, String>, newest_ns: u64) -> Result<TraceQuery, ApiError> {
    only(
        params,
        &[
            "service",
            "endpoint",
            "error",
            "min_duration_ms",
            "since",
            "limit",
            "sort",
        ],
    )?;
    let min_duration_ms: f64 =
        parse(params, "min_duration_ms", "a number of milliseconds")?.unwrap_or(0.0);
    if !(min_duration_ms.is_finite() && min_duration_ms >= 0.0) {
        return Err(bad(
            StatusCode::BAD_REQUEST,
            "bad `min_duration_ms`: a number of milliseconds, not negative",
        ));
    }
    let limit: usize = parse(params, "limit", "a whole number")?.unwrap_or(DEFAULT_LIMIT);
    if limit > MAX_LIMIT {
        return Err(bad(
            StatusCode::BAD_REQUEST,
            format!("bad `limit` {limit}: at most {MAX_LIMIT}"),
        ));
    }
    let by_duration = match params.get("sort").map(String::as_str) {
        None | Some("start") => false,
        Some("duration") => true,
        Some(other) => {
            return Err(bad(
                StatusCode::BAD_REQUEST,
                format!("bad `sort` {other:?}: use start or duration"),
            ));
        }
    };
    Ok(TraceQuery {
        service: params.get("service").cloned(),
        endpoint: params.get("endpoint").cloned(),
        error: parse(params, "error", "true or false")?,
        min_duration_ns: (min_duration_ms * 1e6) as u64,
        since_ns: since(params, newest_ns)?,
        limit,
        by_duration,
    })
}

async fn traces(State(api): State<Api>, Query(params): Params) -> Answer {
    let query = trace_query(&params, api.analysis.newest_ns())?;
    let traces: Vec<TraceSummary> = api
        .store
        .search(&query)
        .iter()
        .map(|trace| trace_summary(trace))
        .collect();
    Ok(Json(json!({ "traces": traces })).into_response())
}

/// A span as the API shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpanView {
    pub span_id: String,
    /// Empty for a root.
    pub parent_span_id: String,
    pub service: String,
    pub name: String,
    /// `server`, `client`, `internal`, `producer`, `consumer` or `unspecified`.
    pub kind: String,
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
    pub duration_ms: f64,
    /// Its duration less the time its children cover.
    pub self_ms: f64,
    /// `unset`, `ok` or `error`.
    pub status: String,
    pub status_message: String,
    pub attributes: BTreeMap<String, serde_json::Value>,
    pub events: Vec<EventView>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventView {
    pub name: String,
    pub time_unix_nano: u64,
    pub attributes: BTreeMap<String, serde_json::Value>,
}

/// A whole trace as the API shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceView {
    pub trace_id: String,
    pub start_unix_nano: u64,
    pub duration_ms: f64,
    /// In arrival order.
    pub spans: Vec<SpanView>,
    /// The span ids of the chain that determines the trace's duration, root first.
    pub critical_path: Vec<String>,
}

fn json_value(value: &Value) -> serde_json::Value {
    match value {
        Value::Str(s) => json!(&**s),
        Value::Bool(b) => json!(b),
        Value::Int(i) => json!(i),
        Value::Double(d) => json!(d),
        Value::Bytes(bytes) => json!(bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()),
        Value::Array(items) => serde_json::Value::Array(items.iter().map(json_value).collect()),
        Value::Map(entries) => serde_json::Value::Object(
            entries
                .iter()
                .map(|kv| (kv.key.to_string(), json_value(&kv.value)))
                .collect(),
        ),
    }
}

fn attributes(attributes: &[KeyValue]) -> BTreeMap<String, serde_json::Value> {
    attributes
        .iter()
        .map(|kv| (kv.key.to_string(), json_value(&kv.value)))
        .collect()
}

fn kind_name(kind: SpanKind) -> &'static str {
    match kind {
        SpanKind::Unspecified => "unspecified",
        SpanKind::Internal => "internal",
        SpanKind::Server => "server",
        SpanKind::Client => "client",
        SpanKind::Producer => "producer",
        SpanKind::Consumer => "consumer",
    }
}

/// A stored trace with its self times and critical path.
pub fn trace_view(id: TraceId, spans: &[Span]) -> TraceView {
    let self_times = trace_analysis::self_times(spans);
    let start = spans.iter().map(|s| s.start_ns).min().unwrap_or(0);
    let end = spans.iter().map(|s| s.end_ns).max().unwrap_or(0);
    TraceView {
        trace_id: id.to_string(),
        start_unix_nano: start,
        duration_ms: end.saturating_sub(start) as f64 / 1e6,
        spans: spans
            .iter()
            .zip(self_times)
            .map(|(span, self_ns)| SpanView {
                span_id: span.span_id.to_string(),
                parent_span_id: span
                    .parent_span_id
                    .map(|p| p.to_string())
                    .unwrap_or_default(),
                service: span.service_name().to_owned(),
                name: span.name.to_string(),
                kind: kind_name(span.kind).to_owned(),
                start_unix_nano: span.start_ns,
                end_unix_nano: span.end_ns,
                duration_ms: span.duration_ns() as f64 / 1e6,
                self_ms: self_ns as f64 / 1e6,
                status: match span.status.code {
                    SpanStatus::Unset => "unset",
                    SpanStatus::Ok => "ok",
                    SpanStatus::Error => "error",
                }
                .to_owned(),
                status_message: span.status.message.as_deref().unwrap_or("").to_owned(),
                attributes: attributes(&span.attributes),
                events: span
                    .events
                    .iter()
                    .map(|event| EventView {
                        name: event.name.to_string(),
                        time_unix_nano: event.time_ns,
                        attributes: attributes(&event.attributes),
                    })
                    .collect(),
            })
            .collect(),
        critical_path: trace_analysis::critical_path(spans)
            .iter()
            .map(|id| id.to_string())
            .collect(),
    }
}

async fn trace(State(api): State<Api>, Path(trace_id): Path<String>) -> Answer {
    let id = TraceId::from_hex(&trace_id).ok_or_else(|| {
        bad(
            StatusCode::BAD_REQUEST,
            format!("bad trace id {trace_id:?}: 32 hex digits"),
        )
    })?;
    let trace = api.store.trace(&id).ok_or_else(|| {
        bad(
            StatusCode::NOT_FOUND,
            format!("trace {trace_id} is not stored (never received, or evicted)"),
        )
    })?;
    Ok(Json(trace_view(id, &trace.to_vec())).into_response())
}

async fn errors(State(api): State<Api>, Query(params): Params) -> Answer {
    only(&params, &[])?;
    Ok(Json(json!({ "errors": api.analysis.errors() })).into_response())
}

async fn insights(State(api): State<Api>, Query(params): Params) -> Answer {
    only(&params, &[])?;
    Ok(Json(json!({ "n_plus_one": api.analysis.n_plus_one() })).into_response())
}

async fn deployments(State(api): State<Api>, Query(params): Params) -> Answer {
    only(&params, &[])?;
    Ok(Json(json!({ "deployments": api.analysis.deployments() })).into_response())
}

async fn stats(State(api): State<Api>, Query(params): Params) -> Answer {
    only(&params, &[])?;
    let accounting = api.store.accounting();
    Ok(Json(json!({
        "capacity": accounting.capacity,
        "accepted": accounting.accepted,
        "stored": accounting.stored,
        "evicted": accounting.evicted,
        "stored_traces": accounting.stored_traces,
        "evicted_traces": accounting.evicted_traces,
        "rejected": accounting.rejected,
        "rejected_payloads": accounting.rejected_total(),
        "rejected_spans": accounting.rejected_spans,
        "analysis_groups_dropped": api.analysis.dropped_groups(),
    }))
    .into_response())
}
