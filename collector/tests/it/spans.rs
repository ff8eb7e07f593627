//! Spans made up for the tests.

use std::sync::Arc;

use collector::model::{Resource, Span, SpanKind};
use collector::testing::Build as _;

pub use collector::testing::resource;

/// A span of trace `trace` with id `span`, from `resource`, starting at `start_ns` and lasting 10 ns.
pub fn span(trace: u128, span: u64, resource: &Arc<Resource>, start_ns: u64) -> Span {
    collector::testing::span(trace, span)
        .name("GET /")
        .kind(SpanKind::Server)
        .resource(resource)
        .at(start_ns, start_ns + 10)
}

/// The span ids of `spans`, in order.
pub fn ids<S: std::borrow::Borrow<Span>>(spans: impl IntoIterator<Item = S>) -> Vec<u64> {
    spans
        .into_iter()
        .map(|span| span.borrow().span_id.to_u64())
        .collect()
}
