//! The spans the tests of one trace's analyses are written with: a `discounts` service's, its statements and
//! calls.

use crate::model::{Span, SpanKind, Value};
use crate::testing::{self, Build as _};

pub(super) const US: u64 = 1_000;
pub(super) const MS: u64 = 1_000_000;

pub(super) const LIST: &str = "SELECT id, name, code FROM discount ORDER BY id";
pub(super) const DISCOUNT_TYPE: &str =
    "SELECT id, name, discount_query, influencer_id FROM discount_type WHERE id = ?";
pub(super) const INFLUENCER: &str = "SELECT id, name FROM influencer WHERE id = ?";

/// An internal span of the `discounts` service.
pub(super) fn span(id: u64, parent: Option<u64>, start_ns: u64, end_ns: u64) -> Span {
    let span = testing::span(7, id)
        .name("work")
        .service("discounts")
        .at(start_ns, end_ns);
    match parent {
        Some(parent) => span.parent(parent),
        None => span,
    }
}

pub(super) fn query(id: u64, parent: u64, start: u64, duration: u64, sql: &str) -> Span {
    span(id, Some(parent), start, start + duration)
        .kind(SpanKind::Client)
        .text("db.system.name", "postgresql")
        .text("db.query.text", sql)
}

pub(super) fn get(id: u64, parent: u64, start: u64, duration: u64, path: &str) -> Span {
    span(id, Some(parent), start, start + duration)
        .kind(SpanKind::Client)
        .text("http.request.method", "GET")
        .text("server.address", "catalog")
        .attr("server.port", Value::Int(8080))
        .text("url.path", path)
}
