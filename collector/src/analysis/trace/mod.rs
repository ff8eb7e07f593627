//! Analyses of the spans of one trace: N+1 detection ([`find_repeats`]), the critical path ([`critical_path`]),
//! each span's self time ([`self_times`]) and a service's entry span ([`entry_span`]).
//!
//! Spans come in arrival order, not sorted. The data is taken as it is: span ids may repeat, parents may be
//! missing (a partial trace) and parent links may even form cycles. Nothing here panics or loops on such data;
//! where a span id repeats, parent lookups use its first occurrence.
//!
//! The work is cut by job: `repeats` finds the N+1 runs, `call` says what a call is (its kind and statement,
//! and the line it was made at), `critical` walks the critical path and works out self times. This module holds
//! the N+1 rules and findings and the lookups they share, and finds a service's entry span.

mod call;
mod critical;
mod repeats;
#[cfg(test)]
mod test_spans;

pub use call::call_site;
pub use critical::{CRITICAL_SHARE, OnPath, critical_path, self_times};
pub use repeats::find_repeats;

use rustc_hash::{FxHashMap, FxHashSet};

use crate::model::{Span, SpanId, Str};

/// Thresholds of the N+1 detection: two rules, a run being reported when either holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// A statement counts as repeated when it runs at least this many times in one run…
    pub min_repeats: usize,
    /// …and a run is reported when its repeated statements' durations add up to at least this.
    pub min_total_ns: u64,
    /// The rule for fast, local databases, as (repeats, total): many repeats that take little time together.
    /// `None` leaves only the first rule.
    pub many: Option<(usize, u64)>,
}

/// Five repeats taking 50 ms together, the common definition (Sentry's), which finds the loops real clients
/// make against a database over the network (six lookups of 12 ms each); or ten repeats taking 1 ms, for a
/// local SQLite file, where a statement takes 10–50 µs, so the workshop's N+1, about 200 statements a request,
/// adds up to only a few milliseconds on a fast laptop, yet is the same bug that costs seconds on a remote
/// database. A page's handful of similar fast lookups meets neither: fewer than ten, far under 50 ms. The time
/// is the loop's, all its repeated statements together: one statement's share would move with the machine's
/// speed, and with it which statement leads the finding (the fingerprint).
impl Default for Config {
    fn default() -> Config {
        Config {
            min_repeats: 5,
            min_total_ns: 50_000_000,
            many: Some((10, 1_000_000)),
        }
    }
}

impl Config {
    /// The rules, as (repeats, total).
    fn rules(&self) -> impl Iterator<Item = (usize, u64)> {
        std::iter::once((self.min_repeats, self.min_total_ns)).chain(self.many)
    }

    /// Whether `count` calls under one parent taking `total_ns` together may hold a finding (a cheap test
    /// before the trace is read: every call counted, repeated or not).
    pub fn may_find(&self, count: usize, total_ns: u64) -> bool {
        self.rules()
            .any(|(repeats, total)| count >= repeats && total_ns >= total)
    }
}

/// What kind of call repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RepeatKind {
    /// Database client spans (`db.system.name` and a query text).
    Database,
    /// HTTP client spans (kind Client with `http.request.method`).
    Http,
}

/// One statement repeated inside a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepeatedStatement {
    /// The normalised query, or `"{METHOD} {target}"` for HTTP.
    pub statement: String,
    pub repeats: usize,
    /// The durations of its spans, added up.
    pub total_ns: u64,
    /// Its spans, in start order.
    pub span_ids: Vec<SpanId>,
}

/// One N+1 finding in one trace: a run of consecutive sibling spans under one parent that repeats statements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repeat {
    pub kind: RepeatKind,
    /// The service of the repeated spans.
    pub service: Str,
    pub parent_span_id: SpanId,
    /// The entry span of that service above the run (see [`entry_span`]); `None` when the run's parent is
    /// missing from the trace or belongs to another service.
    pub entry_span_id: Option<SpanId>,
    /// `db.system.name` (or the older `db.system`), for [`RepeatKind::Database`].
    pub db_system: Option<Str>,
    /// Most repeats first (ties: most time first, then first seen); only those repeated `min_repeats` times.
    pub statements: Vec<RepeatedStatement>,
    /// The sum of `statements`' `total_ns`.
    pub total_ns: u64,
    /// Where the loop makes its calls: the [`call_site`] of the first span of its most repeated statement.
    pub location: Option<(String, u32)>,
}

/// Lookups built once per call.
struct Index<'a> {
    spans: &'a [Span],
    /// The first occurrence of each span id.
    by_id: FxHashMap<SpanId, usize>,
    /// The spans naming each parent id, in arrival order.
    children: FxHashMap<SpanId, Vec<usize>>,
    /// The keys of `children` in order of first arrival, so results do not depend on hashing.
    parents: Vec<SpanId>,
}

impl<'a> Index<'a> {
    fn new(spans: &'a [Span]) -> Index<'a> {
        let mut children: FxHashMap<SpanId, Vec<usize>> = FxHashMap::default();
        let mut parents = Vec::new();
        for (i, span) in spans.iter().enumerate() {
            if let Some(parent) = span.parent_span_id {
                children
                    .entry(parent)
                    .or_insert_with(|| {
                        parents.push(parent);
                        Vec::new()
                    })
                    .push(i);
            }
        }
        Index {
            spans,
            by_id: ids(spans),
            children,
            parents,
        }
    }

    fn children_of(&self, id: SpanId) -> &[usize] {
        self.children.get(&id).map_or(&[], Vec::as_slice)
    }
}

fn ids(spans: &[Span]) -> FxHashMap<SpanId, usize> {
    let mut by_id = FxHashMap::default();
    for (i, span) in spans.iter().enumerate() {
        by_id.entry(span.span_id).or_insert(i);
    }
    by_id
}

/// The index of the entry span above `span`, or `None` when the walk cannot leave `span` (its parent is missing
/// or of another service). Stops at a span id already passed, so parent cycles end.
fn entry_index(spans: &[Span], by_id: &FxHashMap<SpanId, usize>, span: &Span) -> Option<usize> {
    let service = span.service_name();
    let mut passed = FxHashSet::default();
    passed.insert(span.span_id);
    let mut entry = None;
    let mut current = span;
    while let Some(parent_id) = current.parent_span_id
        && let Some(&parent) = by_id.get(&parent_id)
        && spans[parent].service_name() == service
        && passed.insert(spans[parent].span_id)
    {
        entry = Some(parent);
        current = &spans[parent];
    }
    entry
}

/// The service's entry span: walking up parents from `span` while the parent exists in `spans` and belongs to the
/// same service; the last one reached (`span` itself when its parent is missing or of another service).
pub fn entry_span<'a>(spans: &'a [Span], span: &'a Span) -> &'a Span {
    entry_index(spans, &ids(spans), span).map_or(span, |i| &spans[i])
}

#[cfg(test)]
mod tests {
    use super::test_spans::{INFLUENCER, query, span};
    use super::*;
    use crate::model::SpanKind;
    use crate::testing::Build as _;

    #[test]
    fn entry_spans() {
        let spans = vec![
            span(1, None, 0, 100)
                .service("storefront")
                .kind(SpanKind::Server),
            span(2, Some(1), 10, 90)
                .service("storefront")
                .kind(SpanKind::Client),
            span(3, Some(2), 20, 80).kind(SpanKind::Server),
            span(4, Some(3), 30, 70),
            query(5, 4, 40, 10, INFLUENCER),
            span(6, Some(99), 0, 10),
            span(7, Some(8), 0, 10),
            span(8, Some(7), 0, 10),
        ];
        for (from, expected) in [
            (5, 3),
            (4, 3),
            (3, 3),
            (2, 1),
            (1, 1),
            (6, 6),
            (7, 8),
            (8, 7),
        ] {
            let from = spans
                .iter()
                .find(|s| s.span_id == SpanId::from_u64(from))
                .unwrap();
            assert_eq!(entry_span(&spans, from).span_id, SpanId::from_u64(expected));
        }
    }
}
