//! One stored trace, as readers get it: an immutable snapshot ([`Trace`]).

use crate::compact::Chunk;
use crate::model::{Span, Str, TraceId};

/// One stored trace: an immutable snapshot of the spans received for it since its entry was created, in
/// arrival order.
#[derive(Clone, Debug)]
pub struct Trace {
    pub(super) id: TraceId,
    pub(super) seq: u64,
    pub(super) start_ns: u64,
    pub(super) end_ns: u64,
    pub(super) span_count: u32,
    /// About the bytes it holds: its chunks, its share of their batches' tables, and
    /// [`TRACE_WEIGHT`](super::TRACE_WEIGHT).
    pub(super) weight: u64,
    /// Distinct service names, in order of first appearance.
    pub(super) services: Box<[Str]>,
    /// The service and name of the first root span received.
    pub(super) root: Option<(Str, Str)>,
    /// Spans that failed (see [`crate::semconv::is_error`]).
    pub(super) errors: u32,
    /// Distinct (service, endpoint) of its entry spans, for searching by endpoint.
    pub(super) entries: Box<[(Str, Str)]>,
    /// One chunk per batch that brought spans of this trace, encoded compactly. Boxed slices, not vectors:
    /// most traces never get another chunk, service or entry, and a store holds a million of them.
    pub(super) chunks: Box<[Chunk]>,
}

impl Trace {
    pub fn id(&self) -> TraceId {
        self.id
    }

    /// The entry's sequence number: its age in the store (lower is older). Unique per entry, so a trace
    /// evicted and started again gets a new one.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The earliest span start.
    pub fn start_ns(&self) -> u64 {
        self.start_ns
    }

    /// The latest span end.
    pub fn end_ns(&self) -> u64 {
        self.end_ns
    }

    /// From the earliest start to the latest end.
    pub fn duration_ns(&self) -> u64 {
        self.end_ns.saturating_sub(self.start_ns)
    }

    /// The number of spans.
    pub fn len(&self) -> usize {
        self.span_count as usize
    }

    /// Always false for a stored trace; here for clippy's sake.
    pub fn is_empty(&self) -> bool {
        self.span_count == 0
    }

    /// The services that sent spans of this trace, in order of first appearance.
    pub fn services(&self) -> &[Str] {
        &self.services
    }

    /// The service and name of its root span, once that has arrived.
    pub fn root_summary(&self) -> Option<(&Str, &Str)> {
        self.root.as_ref().map(|(service, name)| (service, name))
    }

    /// How many of its spans failed.
    pub fn error_count(&self) -> usize {
        self.errors as usize
    }

    /// The (service, endpoint) pairs of its entry spans.
    pub fn entries(&self) -> &[(Str, Str)] {
        &self.entries
    }

    /// The spans, decoded from their compact form, in arrival order.
    pub fn spans(&self) -> impl Iterator<Item = Span> + '_ {
        self.chunks.iter().flat_map(|chunk| chunk.spans(self.id))
    }

    /// The first root span (one without a parent), if one has arrived.
    pub fn root(&self) -> Option<Span> {
        self.spans().find(|span| span.is_root())
    }

    /// The spans, decoded, in arrival order.
    pub fn to_vec(&self) -> Vec<Span> {
        self.spans().collect()
    }
}
