//! Decoding of the Datadog agent's trace payloads (`/v0.3`, `/v0.4` in msgpack or JSON, `/v0.5` msgpack with
//! a string table) and their mapping onto the model: service → `service.name`, resource, operation and type
//! kept, `meta` and `metrics` → attributes, `error: 1` → an error status with an exception event, 64-bit ids
//! widened with `_dd.p.tid`, parent 0 = root.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Deserialize;

use crate::model::{
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
        dropped: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Payloads ddtrace 4.16 sent for `tests/python/ddtrace_client.py`: a web span, two sqlite queries and a
    /// span that raised `KeyError`.
    const V04: &[u8] = include_bytes!("../testdata/ddtrace-v0.4.msgpack");
    const V05: &[u8] = include_bytes!("../testdata/ddtrace-v0.5.msgpack");

    fn check(traces: Vec<Vec<DdSpan>>) {
        let converted = convert(traces, &Interner::new());
        assert_eq!((converted.spans.len(), converted.rejected), (4, 0));
        let spans = &converted.spans;
        assert!(
            spans.iter().all(|s| s.trace_id == spans[0].trace_id),
            "one 128-bit trace id for the chunk"
        );
        assert_ne!(
            spans[0].trace_id.to_u128() >> 64,
            0,
            "widened with _dd.p.tid"
        );
        let root = spans.iter().find(|s| s.parent_span_id.is_none()).unwrap();
        assert_eq!(
            (root.name.as_ref(), root.kind),
            ("GET /cart", SpanKind::Server)
        );
        assert_eq!(root.service_name(), "dd-shop");
        assert_eq!(root.resource.service_version(), Some("3.0"));
        assert_eq!(
            root.attribute("operation.name").and_then(Value::as_str),
            Some("flask.request")
        );
        let query = spans.iter().find(|s| s.name.starts_with("SELECT")).unwrap();
        assert_eq!(query.parent_span_id, Some(root.span_id));
        assert_eq!(query.kind, SpanKind::Client);
        assert_eq!(
            query.attribute("db.system.name").and_then(Value::as_str),
            Some("sqlite")
        );
        assert_eq!(
            query.attribute("db.query.text").and_then(Value::as_str),
            Some("SELECT id, name FROM item WHERE id = ?")
        );
        let failing = spans
            .iter()
            .find(|s| s.status.code == StatusCode::Error)
            .unwrap();
        assert_eq!(failing.name.as_ref(), "load_cart");
        let exception = &failing.events[0];
        assert_eq!(exception.name.as_ref(), "exception");
        let attr =
            |k: &str| crate::model::attribute(&exception.attributes, k).and_then(Value::as_str);
        assert_eq!(attr("exception.type"), Some("builtins.KeyError"));
        assert!(
            attr("exception.stacktrace")
                .unwrap()
                .contains("raise KeyError")
        );
        assert!(
            spans
                .iter()
                .all(|s| s.end_ns >= s.start_ns && s.start_ns > 0)
        );
    }

    #[test]
    fn ddtraces_v04_payload_decodes() {
        check(decode_v04_msgpack(V04).unwrap());
    }

    #[test]
    fn ddtraces_v05_payload_decodes() {
        check(decode_v05(V05).unwrap());
    }

    #[test]
    fn v04_json_decodes_and_zero_ids_are_rejected() {
        let json = br#"[[{"service":"web","name":"rack.request","resource":"GET /","trace_id":12,"span_id":34,
            "parent_id":0,"start":1000,"duration":50,"error":0,"meta":{"env":"lab"},"metrics":{"_sampling_priority_v1":1},
            "type":"web"},{"service":"web","name":"x","trace_id":0,"span_id":1}]]"#;
        let converted = convert(decode_v04_json(json).unwrap(), &Interner::new());
        assert_eq!((converted.spans.len(), converted.rejected), (1, 1));
        let span = &converted.spans[0];
        assert_eq!(span.trace_id, TraceId::from_u128(12));
        assert_eq!(span.span_id, SpanId::from_u64(34));
        assert_eq!((span.start_ns, span.end_ns), (1000, 1050));
        assert_eq!(span.resource.environment(), Some("lab"));
        assert_eq!(
            span.attribute("_sampling_priority_v1"),
            Some(&Value::Int(1))
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert_eq!(
            decode_v04_msgpack(b"\xc1\xff").unwrap_err().reason(),
            "malformed_msgpack"
        );
        assert_eq!(
            decode_v05(b"\x92\x90\x91\x91\x9c").unwrap_err().reason(),
            "malformed_msgpack"
        );
        assert_eq!(
            decode_v04_json(b"[[{").unwrap_err().reason(),
            "malformed_json"
        );
        // A v0.5 string index past the table.
        let payload = rmp_serde::to_vec(&(
            vec!["svc"],
            vec![vec![(
                0u32,
                7u32,
                0u32,
                1u64,
                2u64,
                0u64,
                1i64,
                1i64,
                0i32,
                HashMap::<u32, u32>::new(),
                HashMap::<u32, f64>::new(),
                0u32,
            )]],
        ))
        .unwrap();
        assert!(matches!(
            decode_v05(&payload),
            Err(DecodeError::StringIndex(7))
        ));
        for cut in 0..V05.len() {
            let _ = decode_v05(&V05[..cut]);
            let _ = decode_v04_msgpack(&V04[..cut.min(V04.len())]);
        }
    }
}
