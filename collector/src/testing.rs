//! Spans made up for tests, built by chained calls: `span(7, 2).parent(1).service("ads").kind(Client)
//! .text("db.query.text", "SELECT 1").at(0, 10)`. One builder for every test that needs a span of its own
//! (the workshop's whole traces are [`crate::workshop`]'s).

use std::sync::Arc;

use crate::model::{
    Event, KeyValue, Resource, Scope, Span, SpanId, SpanKind, Status, StatusCode, TraceId, Value,
};

/// An internal span named `op` with id `id` in trace `trace`, a root, from 0 to 1 ns, of no service.
pub fn span(trace: u128, id: u64) -> Span {
    Span {
        trace_id: TraceId::from_u128(trace),
        span_id: SpanId::from_u64(id),
        parent_span_id: None,
        name: "op".into(),
        kind: SpanKind::Internal,
        start_ns: 0,
        end_ns: 1,
        status: Status::default(),
        attributes: Vec::new(),
        events: Vec::new(),
        links: Vec::new(),
        resource: Arc::new(Resource::default()),
        scope: Arc::new(Scope::default()),
        dropped: Default::default(),
    }
}

/// A resource whose `service.name` is `service`.
pub fn resource(service: &str) -> Arc<Resource> {
    Arc::new(Resource {
        attributes: vec![text("service.name", service)],
    })
}

/// An attribute.
pub fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value,
    }
}

/// A text attribute.
pub fn text(key: &str, value: &str) -> KeyValue {
    kv(key, Value::Str(value.into()))
}

/// The chained calls that shape a test's span.
pub trait Build: Sized {
    fn parent(self, id: u64) -> Self;
    fn name(self, name: &str) -> Self;
    fn kind(self, kind: SpanKind) -> Self;
    /// From `start_ns` to `end_ns`.
    fn at(self, start_ns: u64, end_ns: u64) -> Self;
    fn service(self, name: &str) -> Self;
    fn resource(self, resource: &Arc<Resource>) -> Self;
    fn attr(self, key: &str, value: Value) -> Self;
    fn text(self, key: &str, value: &str) -> Self {
        self.attr(key, Value::Str(value.into()))
    }
    fn event(self, name: &str, time_ns: u64, attributes: Vec<KeyValue>) -> Self;
    /// Failed, with this status message.
    fn failed(self, message: &str) -> Self;
}

impl Build for Span {
    fn parent(mut self, id: u64) -> Span {
        self.parent_span_id = Some(SpanId::from_u64(id));
        self
    }
    fn name(mut self, name: &str) -> Span {
        self.name = name.into();
        self
    }
    fn kind(mut self, kind: SpanKind) -> Span {
        self.kind = kind;
        self
    }
    fn at(mut self, start_ns: u64, end_ns: u64) -> Span {
        (self.start_ns, self.end_ns) = (start_ns, end_ns);
        self
    }
    fn service(mut self, name: &str) -> Span {
        self.resource = resource(name);
        self
    }
    fn resource(mut self, resource: &Arc<Resource>) -> Span {
        self.resource = resource.clone();
        self
    }
    fn attr(mut self, key: &str, value: Value) -> Span {
        self.attributes.push(kv(key, value));
        self
    }
    fn event(mut self, name: &str, time_ns: u64, attributes: Vec<KeyValue>) -> Span {
        self.events.push(Event {
            name: name.into(),
            time_ns,
            attributes,
        });
        self
    }
    fn failed(mut self, message: &str) -> Span {
        self.status = Status {
            code: StatusCode::Error,
            message: Some(message.into()),
        };
        self
    }
}
