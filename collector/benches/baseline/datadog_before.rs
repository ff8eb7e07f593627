//! The Datadog decoder as it was before it decoded straight to the model under a memory budget (commit d712110):
//! msgpack or JSON into `DdSpan`s with their maps, then mapped onto the model. Kept only as the benchmark's
//! baseline, so before and after are measured in one run; nothing else uses it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;

use serde::Deserialize;

use collector::model::{
    Event, Interner, KeyValue, Resource, Scope, Span, SpanId, SpanKind, Status, StatusCode,
    TraceId, Value,
};

/// Why a payload could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("malformed msgpack trace payload: {0}")]
    Msgpack(#[from] rmp_serde::decode::Error),
    #[error("malformed JSON trace payload: {0}")]
    Json(#[from] serde_json::Error),
    #[error("malformed v0.5 payload: string index {0} is outside the string table")]
    StringIndex(u32),
}

impl DecodeError {
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::Msgpack(_) | DecodeError::StringIndex(_) => "malformed_msgpack",
            DecodeError::Json(_) => "malformed_json",
        }
    }
}

/// A span as Datadog's tracers send it.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct DdSpan {
    pub service: String,
    pub name: String,
    pub resource: String,
    pub trace_id: u64,
    pub span_id: u64,
    pub parent_id: u64,
    pub start: i64,
    pub duration: i64,
    pub error: i32,
    pub meta: HashMap<String, String>,
    pub metrics: HashMap<String, f64>,
    #[serde(rename = "type")]
    pub kind: String,
}

/// `/v0.3` and `/v0.4`: an array of traces, each an array of spans, in msgpack.
pub fn decode_v04_msgpack(body: &[u8]) -> Result<Vec<Vec<DdSpan>>, DecodeError> {
    Ok(rmp_serde::from_slice(body)?)
}

/// `/v0.3` and `/v0.4` in JSON.
pub fn decode_v04_json(body: &[u8]) -> Result<Vec<Vec<DdSpan>>, DecodeError> {
    Ok(serde_json::from_slice(body)?)
}

/// One v0.5 span: twelve fields in order, strings as indexes into the payload's string table.
type V05Span = (
    u32,
    u32,
    u32,
    u64,
    u64,
    u64,
    i64,
    i64,
    i32,
    HashMap<u32, u32>,
    HashMap<u32, f64>,
    u32,
);

/// `/v0.5`: `[string table, traces]`.
pub fn decode_v05(body: &[u8]) -> Result<Vec<Vec<DdSpan>>, DecodeError> {
    let (strings, traces): (Vec<String>, Vec<Vec<V05Span>>) = rmp_serde::from_slice(body)?;
    let s = |i: u32| {
        strings
            .get(i as usize)
            .cloned()
            .ok_or(DecodeError::StringIndex(i))
    };
    traces
        .into_iter()
        .map(|trace| {
            trace
                .into_iter()
                .map(
                    |(
                        service,
                        name,
                        resource,
                        trace_id,
                        span_id,
                        parent_id,
                        start,
                        duration,
                        error,
                        meta,
                        metrics,
                        kind,
                    )| {
                        Ok(DdSpan {
                            service: s(service)?,
                            name: s(name)?,
                            resource: s(resource)?,
                            trace_id,
                            span_id,
                            parent_id,
                            start,
                            duration,
                            error,
                            meta: meta
                                .into_iter()
                                .map(|(k, v)| Ok((s(k)?, s(v)?)))
                                .collect::<Result<_, DecodeError>>()?,
                            metrics: metrics
                                .into_iter()
                                .map(|(k, v)| Ok((s(k)?, v)))
                                .collect::<Result<_, DecodeError>>()?,
                            kind: s(kind)?,
                        })
                    },
                )
                .collect()
        })
        .collect()
}

/// The result of mapping a payload: spans, and the spans that could not be taken.
#[derive(Debug, Default)]
pub struct Converted {
    pub spans: Vec<Span>,
    pub rejected: u64,
    pub error: Option<String>,
}

/// Maps Datadog spans onto the model. Spans of one service, version and env share one resource.
pub fn convert(traces: Vec<Vec<DdSpan>>, interner: &Interner) -> Converted {
    let mut out = Converted::default();
    let mut resources: HashMap<(String, Option<String>, Option<String>), Arc<Resource>> =
        HashMap::new();
    let scope = Arc::new(Scope {
        name: interner.intern("datadog"),
        version: None,
    });
    for trace in traces {
        // Tracers put `_dd.p.tid` (the upper 64 bits of a 128-bit trace id) on the chunk's first span only.
        let high = trace
            .iter()
            .find_map(|span| span.meta.get("_dd.p.tid"))
            .and_then(|hex| u64::from_str_radix(hex, 16).ok())
            .unwrap_or(0);
        for span in trace {
            if span.trace_id == 0 || span.span_id == 0 {
                out.rejected += 1;
                out.error
                    .get_or_insert_with(|| "a span has a zero trace_id or span_id".to_owned());
                continue;
            }
            let version = span.meta.get("version").cloned();
            let env = span.meta.get("env").cloned();
            let resource = resources
                .entry((span.service.clone(), version.clone(), env.clone()))
                .or_insert_with(|| {
                    let mut attributes = vec![kv(
                        interner,
                        "service.name",
                        Value::Str(interner.intern(&span.service)),
                    )];
                    if let Some(version) = &version {
                        attributes.push(kv(
                            interner,
                            "service.version",
                            Value::Str(interner.intern(version)),
                        ));
                    }
                    if let Some(env) = &env {
                        attributes.push(kv(
                            interner,
                            "deployment.environment.name",
                            Value::Str(interner.intern(env)),
                        ));
                    }
                    Arc::new(Resource { attributes })
                })
                .clone();
            out.spans
                .push(convert_span(span, high, resource, scope.clone(), interner));
        }
    }
    out
}

fn kv(interner: &Interner, key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: interner.intern(key),
        value,
    }
}

fn convert_span(
    span: DdSpan,
    high: u64,
    resource: Arc<Resource>,
    scope: Arc<Scope>,
    interner: &Interner,
) -> Span {
    let trace_id = TraceId::from_u128((u128::from(high) << 64) | u128::from(span.trace_id));
    let start_ns = u64::try_from(span.start).unwrap_or(0);
    let end_ns = start_ns.saturating_add(u64::try_from(span.duration).unwrap_or(0));
    let kind = match span.meta.get("span.kind").map(String::as_str) {
        Some("server") => SpanKind::Server,
        Some("client") => SpanKind::Client,
        Some("producer") => SpanKind::Producer,
        Some("consumer") => SpanKind::Consumer,
        Some("internal") => SpanKind::Internal,
        _ => match span.kind.as_str() {
            "web" => SpanKind::Server,
            "http" | "sql" | "db" | "redis" | "cache" | "mongodb" | "cassandra"
            | "elasticsearch" => SpanKind::Client,
            _ => SpanKind::Internal,
        },
    };
    let mut attributes = Vec::with_capacity(span.meta.len() + span.metrics.len() + 5);
    let text = |s: &str| Value::Str(interner.intern(s));
    attributes.push(kv(
        interner,
        "resource.name",
        Value::Str(Arc::from(span.resource.as_str())),
    ));
    attributes.push(kv(interner, "operation.name", text(&span.name)));
    if !span.kind.is_empty() {
        attributes.push(kv(interner, "span.type", text(&span.kind)));
    }
    // Datadog's database spans name the system in `db.type`; the semantic conventions call it `db.system.name`,
    // and the query is the span's resource.
    if let Some(system) = span
        .meta
        .get("db.system")
        .or_else(|| span.meta.get("db.type"))
    {
        attributes.push(kv(interner, "db.system.name", text(system)));
        if matches!(span.kind.as_str(), "sql" | "db") && !span.meta.contains_key("db.query.text") {
            attributes.push(kv(
                interner,
                "db.query.text",
                Value::Str(Arc::from(span.resource.as_str())),
            ));
        }
    }
    if let Some(code) = span
        .meta
        .get("http.status_code")
        .and_then(|c| c.parse::<i64>().ok())
    {
        attributes.push(kv(interner, "http.response.status_code", Value::Int(code)));
    }
    let mut meta: Vec<(String, String)> = span.meta.into_iter().collect();
    meta.sort_unstable();
    let mut error = (None, None, None);
    for (key, value) in meta {
        match key.as_str() {
            "error.type" | "error.kind" => error.0 = Some(value.clone()),
            "error.message" | "error.msg" => error.1 = Some(value.clone()),
            "error.stack" => error.2 = Some(value.clone()),
            _ => {}
        }
        let value = if value.len() <= 128 {
            text(&value)
        } else {
            Value::Str(Arc::from(value.as_str()))
        };
        attributes.push(kv(interner, &key, value));
    }
    let mut metrics: Vec<(String, f64)> = span.metrics.into_iter().collect();
    metrics.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    for (key, value) in metrics {
        let value = if value.fract() == 0.0 && value.abs() < 9.0e15 {
            Value::Int(value as i64)
        } else {
            Value::Double(value)
        };
        attributes.push(kv(interner, &key, value));
    }
    let mut events = Vec::new();
    let status = if span.error != 0 {
        let (kind, message, stack) = error;
        let mut event_attributes = Vec::new();
        if let Some(kind) = &kind {
            event_attributes.push(kv(interner, "exception.type", text(kind)));
        }
        if let Some(message) = &message {
            event_attributes.push(kv(
                interner,
                "exception.message",
                Value::Str(Arc::from(message.as_str())),
            ));
        }
        if let Some(stack) = stack {
            event_attributes.push(kv(
                interner,
                "exception.stacktrace",
                Value::Str(Arc::from(stack.as_str())),
            ));
        }
        if !event_attributes.is_empty() {
            events.push(Event {
                name: interner.intern("exception"),
                time_ns: end_ns,
                attributes: event_attributes,
            });
        }
        Status {
            code: StatusCode::Error,
            message: message.map(|m| Arc::from(m.as_str())),
        }
    } else {
        Status::default()
    };
    Span {
        trace_id,
        span_id: SpanId::from_u64(span.span_id),
        parent_span_id: (span.parent_id != 0).then(|| SpanId::from_u64(span.parent_id)),
        // The resource (`GET /checkout`, the SQL query) is what Datadog shows as the span; the operation name
        // (`flask.request`) stays in `operation.name`.
        name: interner.intern(if span.resource.is_empty() {
            &span.name
        } else {
            &span.resource
        }),
        kind,
        start_ns,
        end_ns,
        status,
        attributes,
        events,
        links: Vec::new(),
        resource,
        scope,
    }
}
