//! The Datadog exporter: the Agent's trace API v0.4 (msgpack, grouped by trace, with the headers an Agent
//! expects), each span mapped as Datadog's own OpenTelemetry mapping maps it (the Agent's OTLP ingest, v2
//! names): service, operation name, resource (`GET /route`, the SQL text), type (`web`, `http`, `sql`, …),
//! `meta` and `metrics` from the attributes and the resource, the unified service tags (`env`, `service`,
//! `version`), the exception as `error.type`, `error.message` and `error.stack`, `_sampling_priority_v1`,
//! top-level marks by span kind and the trace id's upper 64 bits as `_dd.p.tid`. Spans that came in over the
//! Datadog API go out as they came.

use std::borrow::Cow;
use std::collections::BTreeMap;

use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use rustc_hash::FxHashMap;
use serde::Serialize;

use super::queue::Item;
use super::{Backend, Payload};
use crate::model::{Span, SpanKind, StatusCode, Value};
use crate::semconv;

/// Where Datadog's libraries send when nothing says otherwise.
pub const DEFAULT_AGENT_URL: &str = "http://127.0.0.1:8126";

/// The Agent to send to.
#[derive(Debug, Clone)]
pub struct DatadogTarget {
    /// The Agent's base URL (`http://127.0.0.1:8126`); `/v0.4/traces` is appended.
    pub url: String,
}

impl DatadogTarget {
    /// The Agent's URL as Datadog's libraries find it: `DD_TRACE_AGENT_URL`, else `DD_AGENT_HOST` and
    /// `DD_TRACE_AGENT_PORT` (each defaulting to `127.0.0.1` and 8126), else [`DEFAULT_AGENT_URL`]. `env`
    /// reads a variable.
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> DatadogTarget {
        let set = |name: &str| env(name).filter(|value| !value.trim().is_empty());
        let url = match (
            set("DD_TRACE_AGENT_URL"),
            set("DD_AGENT_HOST"),
            set("DD_TRACE_AGENT_PORT"),
        ) {
            (Some(url), _, _) => url,
            (None, None, None) => DEFAULT_AGENT_URL.to_owned(),
            (None, host, port) => {
                let host = host.unwrap_or_else(|| "127.0.0.1".to_owned());
                let host = if host.contains(':') && !host.starts_with('[') {
                    format!("[{host}]")
                } else {
                    host
                };
                format!("http://{host}:{}", port.as_deref().unwrap_or("8126"))
            }
        };
        DatadogTarget { url }
    }
}

/// The Agent API exporter.
pub(crate) struct Datadog {
    url: reqwest::Url,
}

impl Datadog {
    pub(crate) fn new(target: &DatadogTarget) -> anyhow::Result<Datadog> {
        Ok(Datadog {
            url: super::endpoint("--export-datadog", &target.url, "v0.4/traces")?,
        })
    }
}

impl Backend for Datadog {
    fn url(&self) -> &reqwest::Url {
        &self.url
    }

    fn encode(&self, items: &[Item], _spans: usize) -> Result<Payload, String> {
        // Datadog's ids are 64 bits, and zero means none: a span whose span id or trace id's low half is zero
        // cannot be sent (the Agent would drop it).
        let (sendable, unsendable): (Vec<&Span>, Vec<&Span>) = items
            .iter()
            .flat_map(Item::spans)
            .partition(|span| span.trace_id.to_u128() as u64 != 0 && !span.span_id.is_zero());
        let traces = to_traces(sendable);
        let body = rmp_serde::to_vec_named(&traces)
            .map_err(|err| format!("encoding a Datadog payload: {err}"))?;
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/msgpack"),
        );
        headers.insert("X-Datadog-Trace-Count", HeaderValue::from(traces.len()));
        // The top-level marks are ours (`_top_level`, by span kind, as the Agent's OTLP ingest computes them).
        for (name, value) in [
            ("Datadog-Meta-Lang", "rust"),
            ("Datadog-Meta-Lang-Version", env!("CARGO_PKG_RUST_VERSION")),
            ("Datadog-Meta-Lang-Interpreter", "observability-lab"),
            ("Datadog-Meta-Tracer-Version", env!("CARGO_PKG_VERSION")),
            ("Datadog-Client-Computed-Top-Level", "yes"),
        ] {
            headers.insert(name, HeaderValue::from_static(value));
        }
        let why = unsendable.first().map(|span| {
            format!(
                "{} spans not sent to Datadog: a trace id whose low 64 bits are zero ({}) has no Datadog id",
                unsendable.len(),
                span.trace_id
            )
        });
        Ok(Payload {
            body: Bytes::from(body),
            headers,
            unsendable: (unsendable.len() as u64, why),
            url: None,
        })
    }

    fn rejected(&self, _body: &[u8]) -> (u64, Option<String>) {
        // The Agent answers sampling rates, never refused spans.
        (0, None)
    }
}

/// A span of the Agent API, v0.4.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DdSpan<'a> {
    pub service: Cow<'a, str>,
    pub name: Cow<'a, str>,
    pub resource: Cow<'a, str>,
    pub trace_id: u64,
    pub span_id: u64,
    pub parent_id: u64,
    pub start: i64,
    pub duration: i64,
    pub error: i32,
    pub meta: BTreeMap<Cow<'a, str>, Cow<'a, str>>,
    pub metrics: BTreeMap<Cow<'a, str>, f64>,
    #[serde(rename = "type")]
    pub span_type: Cow<'a, str>,
}

/// Spans grouped by trace, in the order their traces first appear, each a v0.4 trace chunk. OpenTelemetry spans
/// each carry `_sampling_priority_v1` (kept: the lab samples nothing away) and the upper half of the trace id
/// in `_dd.p.tid`, whichever chunk they are sent in; a chunk of spans that came in over the Datadog API gets
/// either on its first span only when none of its spans has it (as a tracer sends them).
pub fn to_traces<'a>(spans: impl IntoIterator<Item = &'a Span>) -> Vec<Vec<DdSpan<'a>>> {
    let mut index: FxHashMap<crate::model::TraceId, usize> = FxHashMap::default();
    let mut traces: Vec<Vec<&Span>> = Vec::new();
    for span in spans {
        let at = *index.entry(span.trace_id).or_insert_with(|| {
            traces.push(Vec::new());
            traces.len() - 1
        });
        traces[at].push(span);
    }
    traces
        .into_iter()
        .map(|chunk| {
            let first = chunk[0];
            let mut out: Vec<DdSpan> = chunk.into_iter().map(to_dd_span).collect();
            if !out.iter().any(|dd| dd.metrics.contains_key(PRIORITY)) {
                out[0].metrics.insert(PRIORITY.into(), 1.0);
            }
            if !out.iter().any(|dd| dd.meta.contains_key("_dd.p.tid")) {
                add_high_bits(first, &mut out[0]);
            }
            out
        })
        .collect()
}

/// The sampling decision, kept (`1`, auto keep), as tracers send it.
const PRIORITY: &str = "_sampling_priority_v1";

/// Whether a span came in over the Datadog API (its decoder's scope).
fn from_datadog(span: &Span) -> bool {
    &*span.scope.name == "datadog"
}

/// One span as the Agent API carries it.
pub fn to_dd_span(span: &Span) -> DdSpan<'_> {
    if from_datadog(span) {
        return as_it_came(span);
    }
    let mut dd = mapped(span);
    add_high_bits(span, &mut dd);
    dd
}

/// The trace id's upper 64 bits as `_dd.p.tid`, when they are not zero.
fn add_high_bits(span: &Span, dd: &mut DdSpan<'_>) {
    let high = (span.trace_id.to_u128() >> 64) as u64;
    if high != 0 {
        dd.meta
            .insert("_dd.p.tid".into(), format!("{high:016x}").into());
    }
}

fn ids(span: &Span) -> (u64, u64, u64, i64, i64) {
    (
        span.trace_id.to_u128() as u64,
        span.span_id.to_u64(),
        span.parent_span_id.map_or(0, |p| p.to_u64()),
        i64::try_from(span.start_ns).unwrap_or(i64::MAX),
        i64::try_from(span.duration_ns()).unwrap_or(i64::MAX),
    )
}

/// A span the Datadog receiver decoded, back as it was sent: its operation, resource and type from the
/// attributes the decoder kept them in, `meta` its text attributes, `metrics` its numbers.
fn as_it_came(span: &Span) -> DdSpan<'_> {
    let (trace_id, span_id, parent_id, start, duration) = ids(span);
    let text = |key: &str| span.attribute(key).and_then(Value::as_str);
    let mut meta = BTreeMap::new();
    let mut metrics = BTreeMap::new();
    for kv in &span.attributes {
        match (&*kv.key, &kv.value) {
            // What the decoder made of the span's fields, or added for the analyses.
            ("resource.name" | "operation.name" | "span.type" | "db.system.name", _) => {}
            ("db.query.text", Value::Str(query)) if **query == *span.name => {}
            ("http.response.status_code", Value::Int(_)) => {}
            (key, Value::Str(value)) => {
                meta.insert(Cow::Borrowed(key), Cow::Borrowed(&**value));
            }
            (key, value) => {
                if let Some(number) = number(value) {
                    metrics.insert(Cow::Borrowed(key), number);
                }
            }
        }
    }
    DdSpan {
        service: Cow::Borrowed(span.service_name()),
        name: Cow::Borrowed(text("operation.name").unwrap_or(&span.name)),
        resource: Cow::Borrowed(text("resource.name").unwrap_or(&span.name)),
        trace_id,
        span_id,
        parent_id,
        start,
        duration,
        error: i32::from(span.status.code == StatusCode::Error),
        meta,
        metrics,
        span_type: Cow::Borrowed(text("span.type").unwrap_or("")),
    }
}

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Int(i) => Some(*i as f64),
        Value::Double(d) if d.is_finite() => Some(*d),
        _ => None,
    }
}

/// An attribute's value as a meta string (numbers go to metrics instead).
fn meta_text(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::Str(s) => Some(Cow::Borrowed(&**s)),
        Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        Value::Bytes(_) => None,
        Value::Array(_) => Some(Cow::Owned(json(value).to_string())),
        Value::Map(_) | Value::Int(_) | Value::Double(_) => None,
    }
}

/// A value as JSON: arrays and maps nested, bytes as null.
fn json(value: &Value) -> serde_json::Value {
    match value {
        Value::Str(s) => serde_json::Value::from(&**s),
        Value::Bool(b) => (*b).into(),
        Value::Int(i) => (*i).into(),
        Value::Double(d) => (*d).into(),
        Value::Bytes(_) => serde_json::Value::Null,
        Value::Array(items) => items.iter().map(json).collect(),
        Value::Map(list) => json_object(list),
    }
}

fn json_object(list: &[crate::model::KeyValue]) -> serde_json::Value {
    (list.iter())
        .map(|kv| (kv.key.to_string(), json(&kv.value)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// The span's events as the mapping carries them: `meta.events`, a JSON array of `name`, `time_unix_nano` and
/// `attributes`.
fn events_json(span: &Span) -> String {
    let events: Vec<serde_json::Value> = (span.events.iter())
        .map(|event| {
            serde_json::json!({
                "name": &*event.name,
                "time_unix_nano": event.time_ns,
                "attributes": json_object(&event.attributes),
            })
        })
        .collect();
    serde_json::Value::from(events).to_string()
}

/// The span type, as the mapping reads it: `span.type` if set, else `web` for a server, for a client `http`
/// or the database's type (`sql` for SQL systems), else `custom`.
fn span_type(span: &Span) -> Cow<'_, str> {
    if let Some(kind) = span.attribute("span.type").and_then(Value::as_str) {
        return Cow::Borrowed(kind);
    }
    Cow::Borrowed(match span.kind {
        SpanKind::Server => "web",
        SpanKind::Client => match semconv::db_system(span).map(|s| &**s) {
            None => "http",
            Some(system) => db_type(system),
        },
        _ => "custom",
    })
}

fn db_type(system: &str) -> &'static str {
    match system {
        "cassandra" => "cassandra",
        "redis" => "redis",
        "memcached" => "memcached",
        "mongodb" => "mongodb",
        "elasticsearch" => "elasticsearch",
        "opensearch" => "opensearch",
        "hive" | "hbase" | "neo4j" | "couchbase" | "couchdb" | "cosmosdb" | "dynamodb"
        | "geode" => "db",
        "other_sql" | "mssql" | "mysql" | "oracle" | "db2" | "postgresql" | "redshift"
        | "cloudscape" | "hsqldb" | "maxdb" | "ingres" | "firstsql" | "edb" | "cache"
        | "firebird" | "derby" | "informix" | "mariadb" | "sqlite" | "sybase" | "teradata"
        | "vertica" | "h2" | "coldfusion" | "cockroachdb" | "progress" | "hanadb" | "adabas"
        | "filemaker" | "instantdb" | "interbase" | "netezza" | "pervasive" | "pointbase"
        | "clickhouse" => "sql",
        _ => "db",
    }
}

/// The operation name: `operation.name` if set; `http.server.request` / `http.client.request` for HTTP;
/// `<db.system>.query` for a database client; else by kind (`server.request`, `client.request`, `internal`…).
fn operation_name(span: &Span) -> Cow<'_, str> {
    if let Some(name) = span.attribute("operation.name").and_then(Value::as_str) {
        return Cow::Borrowed(name);
    }
    let (server, client) = (span.kind == SpanKind::Server, span.kind == SpanKind::Client);
    if semconv::http_method(span).is_some() {
        if server {
            return Cow::Borrowed("http.server.request");
        }
        if client {
            return Cow::Borrowed("http.client.request");
        }
    }
    if client && let Some(system) = semconv::db_system(span) {
        return Cow::Owned(format!("{}.query", system.to_lowercase()));
    }
    Cow::Borrowed(match span.kind {
        SpanKind::Server => "server.request",
        SpanKind::Client => "client.request",
        SpanKind::Producer => "producer",
        SpanKind::Consumer => "consumer",
        SpanKind::Internal => "internal",
        SpanKind::Unspecified => "unspecified",
    })
}

/// The resource: `resource.name` if set; `METHOD route` for an HTTP server (the method alone for a client);
/// the statement for a database call; else the span's name. Cut to 5,000 bytes, as the Agent does.
fn resource(span: &Span) -> Cow<'_, str> {
    let text = if let Some(name) = span.attribute("resource.name").and_then(Value::as_str) {
        Cow::Borrowed(name)
    } else if let Some(method) = semconv::http_method(span) {
        let method = if method == "_OTHER" { "HTTP" } else { method };
        match span.attribute("http.route").and_then(Value::as_str) {
            Some(route) if span.kind == SpanKind::Server => Cow::Owned(format!("{method} {route}")),
            _ => Cow::Borrowed(method),
        }
    } else if semconv::db_system(span).is_some()
        && let Some(query) = semconv::query_text(span)
    {
        Cow::Borrowed(query)
    } else {
        Cow::Borrowed(&*span.name)
    };
    const MAX_RESOURCE: usize = 5_000;
    if text.len() <= MAX_RESOURCE {
        return text;
    }
    let mut cut = MAX_RESOURCE;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    Cow::Owned(text[..cut].to_owned())
}

/// An OpenTelemetry span, mapped as the Agent maps what it receives over OTLP.
fn mapped(span: &Span) -> DdSpan<'_> {
    let (trace_id, span_id, parent_id, start, duration) = ids(span);
    let mut meta: BTreeMap<Cow<str>, Cow<str>> = BTreeMap::new();
    let mut metrics: BTreeMap<Cow<str>, f64> = BTreeMap::new();
    // The resource's attributes first, so the span's own win.
    for kv in span.resource.attributes.iter().chain(&span.attributes) {
        if let Some(number) = number(&kv.value) {
            metrics.insert(Cow::Borrowed(&*kv.key), number);
        } else if let Some(text) = meta_text(&kv.value) {
            meta.insert(Cow::Borrowed(&*kv.key), text);
        }
    }
    // Unified service tags.
    if let Some(env) = span.resource.environment() {
        meta.insert("env".into(), Cow::Borrowed(env));
    }
    if let Some(version) = span.resource.service_version() {
        meta.insert("version".into(), Cow::Borrowed(version));
    }
    let kind = match span.kind {
        SpanKind::Server => "server",
        SpanKind::Client => "client",
        SpanKind::Producer => "producer",
        SpanKind::Consumer => "consumer",
        SpanKind::Internal => "internal",
        SpanKind::Unspecified => "unspecified",
    };
    meta.insert("span.kind".into(), kind.into());
    if let Some(code) = semconv::http_status(span) {
        meta.insert("http.status_code".into(), code.to_string().into());
    }
    if let Some(method) = semconv::http_method(span) {
        meta.insert("http.method".into(), Cow::Borrowed(method));
    }
    if !span.scope.name.is_empty() {
        meta.insert("otel.library.name".into(), Cow::Borrowed(&*span.scope.name));
    }
    if let Some(version) = &span.scope.version {
        meta.insert("otel.library.version".into(), Cow::Borrowed(&**version));
    }
    meta.insert("otel.trace_id".into(), span.trace_id.to_string().into());
    let status = match span.status.code {
        StatusCode::Unset => "Unset",
        StatusCode::Ok => "Ok",
        StatusCode::Error => "Error",
    };
    meta.insert("otel.status_code".into(), status.into());
    if let Some(message) = &span.status.message {
        meta.insert("otel.status_description".into(), Cow::Borrowed(&**message));
    }
    if !span.events.is_empty() {
        meta.insert("events".into(), events_json(span).into());
    }
    let error = semconv::is_error(span);
    if error {
        error_tags(span, &mut meta);
    }
    // Top level by kind, as the Agent's OTLP ingest computes it: a root, a server or a consumer span; a client
    // or producer span is measured (its own stats).
    if span.parent_span_id.is_none() || matches!(span.kind, SpanKind::Server | SpanKind::Consumer) {
        metrics.insert("_top_level".into(), 1.0);
    }
    if matches!(span.kind, SpanKind::Client | SpanKind::Producer) {
        metrics.insert("_dd.measured".into(), 1.0);
    }
    // On every span rather than the chunk's root: which spans share a chunk depends on how they were batched.
    metrics.insert(PRIORITY.into(), 1.0);
    DdSpan {
        service: Cow::Borrowed(span.service_name()),
        name: operation_name(span),
        resource: resource(span),
        trace_id,
        span_id,
        parent_id,
        start,
        duration,
        error: i32::from(error),
        meta,
        metrics,
        span_type: span_type(span),
    }
}

/// What Error Tracking reads: `error.type`, `error.message` (and the older `error.msg`) and `error.stack`, from
/// the span's last `exception` event, else its status message.
fn error_tags<'a>(span: &'a Span, meta: &mut BTreeMap<Cow<'a, str>, Cow<'a, str>>) {
    let exception = span.events.iter().rev().find(|e| &*e.name == "exception");
    let field = |key: &str| {
        exception.and_then(|e| crate::model::attribute(&e.attributes, key).and_then(Value::as_str))
    };
    if let Some(kind) = field("exception.type") {
        meta.insert("error.type".into(), Cow::Borrowed(kind));
    }
    let message = field("exception.message").or(span.status.message.as_deref());
    if let Some(message) = message {
        meta.insert("error.message".into(), Cow::Borrowed(message));
        meta.insert("error.msg".into(), Cow::Borrowed(message));
    }
    if let Some(stack) = field("exception.stacktrace") {
        meta.insert("error.stack".into(), Cow::Borrowed(stack));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Interner, TraceId};
    use crate::testing::{Build as _, span, text};
    use std::sync::Arc;

    fn shop_resource() -> Arc<crate::model::Resource> {
        Arc::new(crate::model::Resource {
            attributes: vec![
                text("service.name", "discounts-service"),
                text("service.version", "1.0"),
                text("deployment.environment.name", "lab"),
            ],
        })
    }

    #[test]
    fn a_server_span_is_web_named_by_method_and_route_with_the_unified_tags() {
        let server = span(0xab_0000_0000_0000_0000_0000_0000_0001, 7)
            .kind(SpanKind::Server)
            .resource(&shop_resource())
            .text("http.request.method", "GET")
            .text("http.route", "/discount")
            .attr("http.response.status_code", Value::Int(200))
            .at(1_000, 3_500);
        let dd = to_dd_span(&server);
        assert_eq!(dd.service, "discounts-service");
        assert_eq!(dd.name, "http.server.request");
        assert_eq!(dd.resource, "GET /discount");
        assert_eq!(dd.span_type, "web");
        assert_eq!((dd.trace_id, dd.span_id, dd.parent_id), (1, 7, 0));
        assert_eq!((dd.start, dd.duration, dd.error), (1_000, 2_500, 0));
        assert_eq!(dd.meta["env"], "lab");
        assert_eq!(dd.meta["version"], "1.0");
        assert_eq!(dd.meta["http.status_code"], "200");
        assert_eq!(dd.meta["_dd.p.tid"], "00ab000000000000");
        assert_eq!(dd.metrics["_top_level"], 1.0);
        assert_eq!(dd.metrics["http.response.status_code"], 200.0);
    }

    #[test]
    fn a_database_call_is_sql_with_its_statement_as_resource() {
        let query = span(1, 8)
            .parent(7)
            .kind(SpanKind::Client)
            .resource(&shop_resource())
            .text("db.system.name", "sqlite")
            .text("db.query.text", "SELECT * FROM discount_type WHERE id = ?");
        let dd = to_dd_span(&query);
        assert_eq!(dd.name, "sqlite.query");
        assert_eq!(dd.resource, "SELECT * FROM discount_type WHERE id = ?");
        assert_eq!(dd.span_type, "sql");
        assert_eq!(dd.parent_id, 7);
        assert_eq!(dd.metrics["_dd.measured"], 1.0);
        assert!(!dd.metrics.contains_key("_top_level"));
        assert!(!dd.meta.contains_key("_dd.p.tid"), "a 64-bit trace id");
        let call = span(1, 9)
            .parent(7)
            .kind(SpanKind::Client)
            .text("http.request.method", "GET");
        let dd = to_dd_span(&call);
        assert_eq!(
            (&*dd.name, &*dd.resource, &*dd.span_type),
            ("http.client.request", "GET", "http")
        );
        let inner = span(1, 10).parent(7).name("render home");
        let dd = to_dd_span(&inner);
        assert_eq!(
            (&*dd.name, &*dd.resource, &*dd.span_type),
            ("internal", "render home", "custom")
        );
    }

    #[test]
    fn the_exception_becomes_what_error_tracking_reads() {
        let failing = span(1, 3)
            .kind(SpanKind::Server)
            .resource(&shop_resource())
            .failed("no ad")
            .event(
                "exception",
                5,
                vec![
                    text("exception.type", "MissingAdError"),
                    text("exception.message", "the layout has no ad"),
                    text(
                        "exception.stacktrace",
                        "at services/storefront/src/layout.rs:42",
                    ),
                ],
            );
        let dd = to_dd_span(&failing);
        assert_eq!(dd.error, 1);
        assert_eq!(dd.meta["error.type"], "MissingAdError");
        assert_eq!(dd.meta["error.message"], "the layout has no ad");
        assert_eq!(dd.meta["error.msg"], "the layout has no ad");
        assert!(dd.meta["error.stack"].contains("layout.rs:42"));
        let events: serde_json::Value = serde_json::from_str(&dd.meta["events"]).unwrap();
        assert_eq!(events[0]["name"], "exception");
        assert_eq!(events[0]["time_unix_nano"], 5);
        assert_eq!(events[0]["attributes"]["exception.type"], "MissingAdError");
        assert_eq!(dd.meta["otel.status_code"], "Error");
    }

    #[test]
    fn traces_are_grouped_and_every_chunk_sampled() {
        let spans = [
            span(1, 1),
            span(2, 5),
            span(1, 2).parent(1),
            span(2, 6).parent(99),
        ];
        let traces = to_traces(&spans);
        assert_eq!(traces.len(), 2);
        assert_eq!(
            traces[0].iter().map(|s| s.span_id).collect::<Vec<_>>(),
            [1, 2]
        );
        assert_eq!(
            traces[1].iter().map(|s| s.span_id).collect::<Vec<_>>(),
            [5, 6]
        );
        let sampled = |s: &DdSpan| s.metrics.get(PRIORITY).copied();
        assert!(traces.iter().flatten().all(|s| sampled(s) == Some(1.0)));
        // A Datadog tracer's chunk without a decision gets one, on its first span only.
        let body = serde_json::json!([[
            {"service": "a", "name": "op", "trace_id": 3u64, "span_id": 4u64, "start": 1i64, "duration": 1i64},
            {"service": "a", "name": "op", "trace_id": 3u64, "span_id": 5u64, "parent_id": 4u64,
             "start": 1i64, "duration": 1i64}
        ]]);
        let decoded =
            crate::datadog::decode_v04_json(body.to_string().as_bytes(), &Interner::new()).unwrap();
        let traces = to_traces(&decoded.spans);
        assert_eq!(sampled(&traces[0][0]), Some(1.0));
        assert_eq!(sampled(&traces[0][1]), None);
    }

    #[test]
    fn spans_from_the_datadog_api_go_out_as_they_came() {
        let body = serde_json::json!([[{
            "service": "checkout", "name": "flask.request", "resource": "GET /checkout",
            "trace_id": 12u64, "span_id": 34u64, "parent_id": 0, "start": 1_000i64, "duration": 50i64,
            "error": 1, "type": "web",
            "meta": {"env": "prod", "version": "2.1", "http.status_code": "500", "error.type": "KeyError",
                     "error.message": "no key", "_dd.p.tid": "00000000000000ab"},
            "metrics": {"_sampling_priority_v1": 1.0, "_top_level": 1.0, "elapsed": 0.5}
        }]]);
        let decoded =
            crate::datadog::decode_v04_json(body.to_string().as_bytes(), &Interner::new()).unwrap();
        let span = &decoded.spans[0];
        assert_eq!(span.trace_id, TraceId::from_u128((0xab << 64) | 12));
        let dd = to_dd_span(span);
        assert_eq!(
            (&*dd.service, &*dd.name, &*dd.resource, &*dd.span_type),
            ("checkout", "flask.request", "GET /checkout", "web")
        );
        assert_eq!(
            (dd.trace_id, dd.span_id, dd.parent_id, dd.error),
            (12, 34, 0, 1)
        );
        assert_eq!((dd.start, dd.duration), (1_000, 50));
        let meta: Vec<(&str, &str)> = dd.meta.iter().map(|(k, v)| (&**k, &**v)).collect();
        assert_eq!(
            meta,
            [
                ("_dd.p.tid", "00000000000000ab"),
                ("env", "prod"),
                ("error.message", "no key"),
                ("error.type", "KeyError"),
                ("http.status_code", "500"),
                ("version", "2.1"),
            ]
        );
        let metrics: Vec<(&str, f64)> = dd.metrics.iter().map(|(k, v)| (&**k, *v)).collect();
        assert_eq!(
            metrics,
            [
                ("_sampling_priority_v1", 1.0),
                ("_top_level", 1.0),
                ("elapsed", 0.5)
            ]
        );
    }

    #[test]
    fn the_agent_is_found_as_datadogs_libraries_find_it() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(
            DatadogTarget::from_env(env(&[])).url,
            "http://127.0.0.1:8126"
        );
        assert_eq!(
            DatadogTarget::from_env(env(&[
                ("DD_AGENT_HOST", "agent"),
                ("DD_TRACE_AGENT_PORT", "9126")
            ]))
            .url,
            "http://agent:9126"
        );
        assert_eq!(
            DatadogTarget::from_env(env(&[("DD_TRACE_AGENT_PORT", "9126")])).url,
            "http://127.0.0.1:9126"
        );
        assert_eq!(
            DatadogTarget::from_env(env(&[
                ("DD_TRACE_AGENT_URL", "http://10.0.0.2:8126"),
                ("DD_AGENT_HOST", "ignored")
            ]))
            .url,
            "http://10.0.0.2:8126"
        );
        assert_eq!(
            DatadogTarget::from_env(env(&[("DD_AGENT_HOST", "::1")])).url,
            "http://[::1]:8126"
        );
        let https = DatadogTarget {
            url: "https://agent:8126".into(),
        };
        assert_eq!(
            Datadog::new(&https).unwrap().url.as_str(),
            "https://agent:8126/v0.4/traces"
        );
        let other = DatadogTarget {
            url: "unix:///var/run/datadog/apm.socket".into(),
        };
        assert!(Datadog::new(&other).is_err());
    }
}
