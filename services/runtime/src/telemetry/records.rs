//! The services' `tracing` events as OpenTelemetry log records, each with the trace and span it was written in.
//!
//! OpenTelemetry's appender for `tracing` writes a record through the SDK's logger, which takes the trace and span
//! ids from the current OpenTelemetry context. The services' spans do not make their context current when they
//! are entered (see `subscriber`), so [`InSpan`] makes the event's span's context current just for the record.
//! It finds that context through the subscriber it is part of, which it is told once that is made: while an event
//! is handled, `tracing` answers any other question about the current subscriber with "none".

use std::sync::{Arc, OnceLock};

use tracing::Subscriber;
use tracing::dispatcher::WeakDispatch;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// A layer (the appender) whose events are handled under the OpenTelemetry context of the span they are in.
pub(super) struct InSpan<L> {
    inner: L,
    dispatch: Dispatcher,
}

/// The subscriber a layer is part of, told once it is made (see [`Dispatcher::set`]).
#[derive(Clone, Default)]
pub(super) struct Dispatcher(Arc<OnceLock<WeakDispatch>>);

impl Dispatcher {
    /// Tells the layers made with this what subscriber they are part of.
    pub(super) fn set(&self, dispatch: &tracing::Dispatch) {
        let _ = self.0.set(dispatch.downgrade());
    }
}

impl<L> InSpan<L> {
    pub(super) fn new(inner: L, dispatch: Dispatcher) -> InSpan<L> {
        InSpan { inner, dispatch }
    }
}

impl<S, L> Layer<S> for InSpan<L>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
    L: Layer<S>,
{
    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        let context = ctx.event_span(event).and_then(|span| {
            let dispatch = self.dispatch.0.get()?.upgrade()?;
            tracing_opentelemetry::get_otel_context(&span.id(), &dispatch)
        });
        let _attached = context.map(opentelemetry::Context::attach);
        self.inner.on_event(event, ctx);
    }
}
