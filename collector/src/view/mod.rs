//! Stored traces as the query API (and so the dashboard) shows them: a line of a search
//! ([`trace_summary`]) and a whole trace ([`trace_view`]) with its tree, errors, repeated calls, parsed
//! stacks, self times and critical path worked out here, once, by the collector's own rules.

mod frames;
mod repeats;
mod tree;

use std::collections::BTreeMap;

use protocol::trace::ServiceTime;
use protocol::{CodeLocation, EventView, ExceptionView, SpanView, TraceSummary, TraceView};
use rustc_hash::FxHashMap;
use serde_json::json;

use crate::analysis::errors::error_location;
use crate::analysis::normalize::normalize_query;
use crate::analysis::{semconv, trace as trace_analysis};
use crate::model::{KeyValue, Span, SpanKind, StatusCode, TraceId, Value};
use crate::store::Trace;

pub use frames::parse_stack;
pub use repeats::REPEAT_MIN;

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

/// A trace's spans (in arrival order) as the API shows them.
pub fn trace_view(id: TraceId, spans: &[Span]) -> TraceView {
    let self_times = trace_analysis::self_times(spans);
    let critical_path = trace_analysis::critical_path(spans);
    let tree = tree::Tree::of(spans);
    let start = spans.iter().map(|s| s.start_ns).min().unwrap_or(0);
    let end = spans.iter().map(|s| s.end_ns).max().unwrap_or(0);
    // What each span holds on the path (the walk takes a span id once, and the first span sent with it).
    let mut held: Vec<Option<trace_analysis::OnPath>> = vec![None; spans.len()];
    for on in &critical_path {
        held[on.span] = Some(*on);
    }
    let trace_ns = end.saturating_sub(start);
    let mut views: Vec<SpanView> = spans
        .iter()
        .zip(self_times)
        .enumerate()
        .map(|(i, (span, self_ns))| {
            let error = semconv::is_error(span);
            SpanView {
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
                    StatusCode::Unset => "unset",
                    StatusCode::Ok => "ok",
                    StatusCode::Error => "error",
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
                parent: tree.parent[i],
                depth: tree.depth[i],
                error,
                critical: held[i].is_some_and(|on| on.bounds(trace_ns)),
                critical_ms: held[i].map_or(0.0, |on| on.held_ns as f64 / 1e6),
                statement: semconv::query_text(span)
                    .map(normalize_query)
                    .unwrap_or_default(),
                repeat_group: None,
                exceptions: exceptions(span),
                location: error
                    .then(|| error_location(span))
                    .flatten()
                    .map(|(file, line)| CodeLocation { file, line }),
                dropped: protocol::trace::Dropped {
                    attributes: span.dropped.attributes,
                    events: span.dropped.events,
                    links: span.dropped.links,
                },
            }
        })
        .collect();
    let repeat_groups = repeats::groups(spans, &tree);
    for (g, group) in repeat_groups.iter().enumerate() {
        for &m in &group.members {
            views[m].repeat_group = Some(g);
        }
    }
    let services = service_times(&views);
    TraceView {
        trace_id: id.to_string(),
        start_unix_nano: start,
        duration_ms: trace_ns as f64 / 1e6,
        spans: views,
        critical_path: critical_path
            .iter()
            .map(|on| spans[on.span].span_id.to_string())
            .collect(),
        repeat_groups,
        services,
    }
}

/// Each service's spans' self times added up, most first (ties: in order of first appearance).
fn service_times(views: &[SpanView]) -> Vec<ServiceTime> {
    let mut out: Vec<ServiceTime> = Vec::new();
    let mut at: FxHashMap<&str, usize> = FxHashMap::default();
    for view in views {
        let k = *at.entry(&view.service).or_insert_with(|| {
            out.push(ServiceTime {
                service: view.service.clone(),
                ..ServiceTime::default()
            });
            out.len() - 1
        });
        out[k].self_ms += view.self_ms;
        out[k].spans += 1;
    }
    out.sort_by(|a, b| b.self_ms.total_cmp(&a.self_ms));
    out
}

fn exceptions(span: &Span) -> Vec<ExceptionView> {
    span.events
        .iter()
        .filter(|event| &*event.name == "exception")
        .map(|event| {
            let text = |key: &str| {
                crate::model::attribute(&event.attributes, key)
                    .map(value_text)
                    .unwrap_or_default()
            };
            let stack = crate::model::attribute(&event.attributes, "exception.stacktrace")
                .and_then(Value::as_str)
                .unwrap_or("");
            ExceptionView {
                r#type: text("exception.type"),
                message: text("exception.message"),
                frames: parse_stack(stack),
            }
        })
        .collect()
}

/// An attribute value as one line of text: strings bare, the rest as JSON.
pub(crate) fn value_text(value: &Value) -> String {
    match value {
        Value::Str(s) => s.to_string(),
        other => json_value(other).to_string(),
    }
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

pub(crate) fn attributes(attributes: &[KeyValue]) -> BTreeMap<String, serde_json::Value> {
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
