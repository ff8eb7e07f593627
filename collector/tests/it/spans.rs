//! Spans made up for the tests.

use std::sync::Arc;

use collector::model::{KeyValue, Resource, Scope, Span, SpanKind, Status, Value};
use collector::{SpanId, TraceId};

/// A resource whose `service.name` is `service`.
pub fn resource(service: &str) -> Arc<Resource> {
    Arc::new(Resource {
        attributes: vec![KeyValue {
            key: "service.name".into(),
            value: Value::Str(service.into()),
        }],
    })
}

/// A span of trace `trace` with id `span`, from `resource`, starting at `start_ns` and lasting 10 ns.
pub fn span(trace: u128, span: u64, resource: &Arc<Resource>, start_ns: u64) -> Span {
    Span {
        trace_id: TraceId::from_u128(trace),
        span_id: SpanId::from_u64(span),
        parent_span_id: None,
        name: "GET /".into(),
        kind: SpanKind::Server,
        start_ns,
        end_ns: start_ns + 10,
        status: Status::default(),
        attributes: Vec::new(),
        events: Vec::new(),
        links: Vec::new(),
        resource: resource.clone(),
        scope: Arc::new(Scope::default()),
    }
}

/// The span ids of `spans`, in order.
pub fn ids<S: std::borrow::Borrow<Span>>(spans: impl IntoIterator<Item = S>) -> Vec<u64> {
    spans
        .into_iter()
        .map(|span| span.borrow().span_id.to_u64())
        .collect()
}
