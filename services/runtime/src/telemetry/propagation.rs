//! Context propagation: the W3C trace context a client request carries ([`inject`]) and a server span
//! continues.

use axum::http::HeaderMap;
use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry_http::HeaderInjector;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

pub(super) fn propagator() -> &'static TraceContextPropagator {
    static PROPAGATOR: std::sync::OnceLock<TraceContextPropagator> = std::sync::OnceLock::new();
    PROPAGATOR.get_or_init(TraceContextPropagator::new)
}

/// Writes `span`'s context into `headers` (`traceparent`), so the called service's spans join the trace.
pub fn inject(span: &tracing::Span, headers: &mut HeaderMap) {
    if span.is_disabled() {
        return;
    }
    propagator().inject_context(&span.context(), &mut HeaderInjector(headers));
}

/// The trace id of the request being served (32 hex digits), for a log line to name its trace; empty outside
/// a traced request.
pub fn current_trace_id() -> String {
    use opentelemetry::trace::TraceContextExt as _;
    let context = tracing::Span::current().context();
    let span = context.span();
    let span_context = span.span_context();
    if span_context.is_valid() {
        span_context.trace_id().to_string()
    } else {
        String::new()
    }
}
