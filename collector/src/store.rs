//! The collector's bounded in-memory span store: it keeps the most recent traces within a span budget, indexes
//! them by trace id, service and time for the dashboard and the API, and accounts exactly for every span.
//!
//! # Model
//!
//! Spans are grouped by trace. A trace's *entry* is created when the first span of that trace arrives and
//! gets the next value of a sequence number; that number is the trace's age. When the spans stored exceed
//! the capacity, whole traces are dropped in order of that number, oldest first, until the store is within
//! capacity again — a trace is never partially evicted. A trace bigger than the capacity on its own ends up
//! evicted entirely (together with every trace older than it). Spans that arrive later for a trace that was
//! already evicted start a new entry for it, with a new sequence number.
//!
//! # Accounting
//!
//! Every span handed to [`Store::insert`] is *accepted*, and is at every moment either stored or counted as
//! evicted: `accepted == stored + evicted` holds in every [`Accounting`] snapshot, because the counters
//! change together inside one critical section and are read together. Payloads a receiver refuses never
//! reach the store as spans; the receiver counts them by reason with [`Store::reject`].
//!
//! # Concurrency
//!
//! A [`Store`] is a cheap handle (an [`Arc`] inside): clone it for every receiver and reader. One
//! read-write lock guards the indexes. Ingest takes the write lock once per batch and does only index
//! updates under it: grouping the batch by trace and encoding the span chunks happen before, and
//! dropping evicted traces after. Readers hold the read lock only to clone [`Arc`]s: a [`Trace`] is an
//! immutable, shared snapshot, so a reader can keep and walk it for as long as it likes without holding up
//! ingest (a later append to that trace makes a new snapshot, copy-on-write, sharing the span chunks).
//!
//! # Indexes
//!
//! * trace id → the trace ([`Store::trace`]);
//! * service name → the traces with at least one span of that service, by age
//!   ([`Store::trace_ids_for_service`], [`Store::traces_for_service`], [`Store::services`]);
//! * trace start time (the earliest span start) → trace ([`Store::traces_between`], [`Store::latest`]);
//! * age → trace, which is the eviction order ([`Store::snapshot`], [`Store::for_each_trace`]).
//!
//! Spans are stored as given: duplicate span ids are kept, and nothing is checked about parents. They are
//! kept encoded (see [`crate::compact`]): about 70 bytes a shop span instead of 600 decoded, which is what lets
//! a million spans fit in a few hundred megabytes. Readers get decoded [`Span`]s from [`Trace::spans`].

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::ops::Bound;
use std::sync::Arc;

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};

use crate::compact::{Chunk, TableBuilder};
use crate::model::{Resource, Span, Str, TraceId, attribute_str};
use crate::semconv::{self, Names};

/// The number of spans a store keeps unless told otherwise.
pub const DEFAULT_CAPACITY: usize = 1_000_000;

/// The bytes a store's spans may hold unless told otherwise: a million shop-like spans take about 150 MB, so
/// the span count is what usually binds; this binds when spans are large (long statements, big attributes).
pub const DEFAULT_MAX_BYTES: u64 = 512 * 1024 * 1024;

/// What a stored trace costs besides its chunks: the trace itself and its entries in the indexes.
const TRACE_WEIGHT: u64 = 320;

/// The service name of spans whose resource has no string `service.name` (as [`Span::service_name`] says).
const UNKNOWN_SERVICE: &str = "unknown_service";

/// The bounded span store. Cloning is cheap; clones share one store.
#[derive(Clone)]
pub struct Store {
    shared: Arc<Shared>,
}

struct Shared {
    capacity: usize,
    max_bytes: u64,
    index: RwLock<Index>,
    /// Rejected payloads by reason. Apart from the index so that rejecting never contends with ingest.
    rejected: Mutex<BTreeMap<String, u64>>,
    /// Spans refused one by one inside payloads that were otherwise taken (OTLP's partial success).
    rejected_spans: AtomicU64,
    /// Spans accepted after being cut down to the span limits.
    limited_spans: AtomicU64,
    unknown_service: Str,
    /// Endpoint names, made once each (only the inserting writer uses it).
    names: Mutex<Names>,
    /// The browser's events, kept beside the spans with an accounting of their own.
    rum: crate::rum::RumStore,
    /// The log records written beside the spans.
    logs: crate::logs::LogStore,
}

/// Everything behind the lock.
#[derive(Default)]
struct Index {
    /// Trace id → the trace's current snapshot.
    traces: HashMap<TraceId, Arc<Trace>>,
    /// Trace ids by sequence number, oldest first: the eviction order. New entries always get the highest
    /// sequence number and eviction always takes the lowest, so a queue is enough; and as every new entry
    /// gets the next number, the numbers in it follow each other: the newest is `next_seq - 1`, and a number
    /// finds its entry by position ([`Index::id_at`]).
    by_age: VecDeque<TraceId>,
    /// (trace start, sequence number) → trace id.
    by_time: BTreeMap<(u64, u64), TimeEntry>,
    /// Service name → the sequence numbers of the traces with a span of that service. A service without
    /// stored traces has no key.
    by_service: HashMap<Str, BTreeSet<u64>>,
    /// The sequence number the next new entry gets.
    next_seq: u64,
    /// Spans stored (the sum of the traces' span counts).
    stored: u64,
    /// About the bytes the stored traces hold (the sum of their weights).
    stored_bytes: u64,
    accepted: u64,
    evicted: u64,
    evicted_traces: u64,
}

/// What the time index keeps of a trace besides its start and sequence number (which find its id,
/// [`Index::id_at`]): enough to filter a search by duration and errors without reading the trace itself.
#[derive(Clone, Copy, Debug)]
struct TimeEntry {
    end_ns: u64,
    errors: u32,
    /// One bit per service name and per endpoint name (a 64-bit Bloom filter each): a clear bit rules the
    /// trace out of a search for that name without reading it.
    services: u64,
    endpoints: u64,
}

/// The Bloom bit of a name.
fn bit(name: &str) -> u64 {
    use std::hash::BuildHasher as _;
    1 << (rustc_hash::FxBuildHasher.hash_one(name) >> 58)
}

impl TimeEntry {
    fn of(trace: &Trace) -> TimeEntry {
        TimeEntry {
            end_ns: trace.end_ns,
            errors: trace.errors,
            services: trace.services.iter().fold(0, |bits, s| bits | bit(s)),
            endpoints: trace.entries.iter().fold(0, |bits, (_, e)| bits | bit(e)),
        }
    }
}

/// One stored trace: an immutable snapshot of the spans received for it since its entry was created, in
/// arrival order.
#[derive(Clone, Debug)]
pub struct Trace {
    id: TraceId,
    seq: u64,
    start_ns: u64,
    end_ns: u64,
    span_count: u32,
    /// About the bytes it holds: its chunks, its share of their batches' tables, and [`TRACE_WEIGHT`].
    weight: u64,
    /// Distinct service names, in order of first appearance.
    services: Box<[Str]>,
    /// The service and name of the first root span received.
    root: Option<(Str, Str)>,
    /// Spans that failed (see [`crate::semconv::is_error`]).
    errors: u32,
    /// Distinct (service, endpoint) of its entry spans, for searching by endpoint.
    entries: Box<[(Str, Str)]>,
    /// One chunk per batch that brought spans of this trace, encoded compactly. Boxed slices, not vectors:
    /// most traces never get another chunk, service or entry, and a store holds a million of them.
    chunks: Box<[Chunk]>,
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

/// What one [`Store::insert`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Inserted {
    /// Spans in the batch (all of them are accepted).
    pub accepted: usize,
    /// Spans of the batch that are stored after the call: `accepted` less those whose trace was evicted by
    /// this same call.
    pub stored: usize,
    /// Spans evicted by this call, from this batch or older ones.
    pub evicted: usize,
    /// Traces evicted by this call.
    pub evicted_traces: usize,
}

/// The store's counters, all taken at one moment. Span counts satisfy `accepted == stored + evicted`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Accounting {
    /// The capacity, in spans.
    pub capacity: u64,
    /// The capacity, in bytes the stored spans hold (about).
    pub max_bytes: u64,
    /// Spans ever handed to [`Store::insert`].
    pub accepted: u64,
    /// Spans stored now.
    pub stored: u64,
    /// About the bytes the stored spans hold.
    pub stored_bytes: u64,
    /// Spans ever evicted.
    pub evicted: u64,
    /// Trace entries stored now.
    pub stored_traces: u64,
    /// Trace entries ever evicted.
    pub evicted_traces: u64,
    /// Payloads refused by the receivers, by reason (see [`Store::reject`]).
    pub rejected: BTreeMap<String, u64>,
    /// Spans refused one by one (malformed ids, say), inside payloads whose other spans were accepted or that
    /// were refused for them (see [`Store::reject_spans`]). Never part of `accepted`.
    pub rejected_spans: u64,
    /// Spans accepted after being cut down to the span limits (see [`Store::count_limited`]).
    pub limited_spans: u64,
}

impl Accounting {
    /// Payloads refused, all reasons together.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }
}

/// What [`Store::insert`] notes, outside the lock, about a batch's spans of one trace.
struct Group {
    id: TraceId,
    start_ns: u64,
    end_ns: u64,
    /// Distinct, in order of first appearance.
    services: Vec<Str>,
    root: Option<(Str, Str)>,
    errors: u32,
    entries: Vec<(Str, Str)>,
    /// The chunk's weight with its share of the batch's table.
    weight: u64,
}

/// Which traces [`Store::search`] finds.
#[derive(Clone, Debug)]
pub struct TraceQuery {
    /// With a span of this service.
    pub service: Option<String>,
    /// With an entry span serving this endpoint (of `service`, when given).
    pub endpoint: Option<String>,
    /// With (true) or without (false) a failed span.
    pub error: Option<bool>,
    /// Lasting at least this long.
    pub min_duration_ns: u64,
    /// Lasting at most this long.
    pub max_duration_ns: u64,
    /// Starting at or after this time (unix nanoseconds).
    pub since_ns: u64,
    /// At most this many (0: none).
    pub limit: usize,
    /// Longest first instead of latest start first.
    pub by_duration: bool,
}

impl Default for TraceQuery {
    fn default() -> TraceQuery {
        TraceQuery {
            service: None,
            endpoint: None,
            error: None,
            min_duration_ns: 0,
            max_duration_ns: u64::MAX,
            since_ns: 0,
            limit: 0,
            by_duration: false,
        }
    }
}

impl TraceQuery {
    fn matches(&self, trace: &Trace) -> bool {
        trace.start_ns >= self.since_ns
            && trace.duration_ns() >= self.min_duration_ns
            && trace.duration_ns() <= self.max_duration_ns
            && self.error.is_none_or(|error| error == (trace.errors > 0))
            && self.endpoint.as_deref().is_none_or(|endpoint| {
                trace.entries.iter().any(|(service, name)| {
                    **name == *endpoint
                        && self
                            .service
                            .as_deref()
                            .is_none_or(|wanted| **service == *wanted)
                })
            })
    }
}

impl Default for Store {
    fn default() -> Store {
        Store::new(DEFAULT_CAPACITY)
    }
}

impl Store {
    /// An empty store that keeps at most `capacity` spans (0 keeps none: everything is evicted at once) and
    /// [`DEFAULT_MAX_BYTES`].
    pub fn new(capacity: usize) -> Store {
        Store::bounded(capacity, DEFAULT_MAX_BYTES)
    }

    /// An empty store that keeps at most `capacity` spans holding about `max_bytes` bytes: past either, the
    /// oldest whole traces are evicted.
    pub fn bounded(capacity: usize, max_bytes: u64) -> Store {
        Store {
            shared: Arc::new(Shared {
                capacity,
                max_bytes,
                index: RwLock::new(Index::default()),
                rejected: Mutex::new(BTreeMap::new()),
                rejected_spans: AtomicU64::new(0),
                limited_spans: AtomicU64::new(0),
                unknown_service: Str::from(UNKNOWN_SERVICE),
                names: Mutex::new(Names::default()),
                rum: crate::rum::RumStore::default(),
                logs: crate::logs::LogStore::default(),
            }),
        }
    }

    /// The browser's events (real user monitoring) kept beside the spans.
    pub fn rum(&self) -> &crate::rum::RumStore {
        &self.shared.rum
    }

    /// The log records kept beside the spans.
    pub fn logs(&self) -> &crate::logs::LogStore {
        &self.shared.logs
    }

    /// The most spans this store keeps.
    pub fn capacity(&self) -> usize {
        self.shared.capacity
    }

    /// Stores one batch, then evicts the oldest whole traces until the store is within capacity. Takes the
    /// write lock once; spans of evicted traces are dropped after it is released.
    pub fn insert(&self, spans: Vec<Span>) -> Inserted {
        self.insert_slice(&spans)
    }

    /// [`Store::insert`] of spans the caller keeps (the ingest writer shares a batch with the exporters): the
    /// store encodes them and holds nothing of theirs but shared strings.
    pub fn insert_slice(&self, spans: &[Span]) -> Inserted {
        if spans.is_empty() {
            return Inserted::default();
        }
        let accepted = spans.len();
        let groups = self.group(spans);
        let mut dropped = Vec::new();
        let result = {
            let mut index = self.shared.index.write();
            index.insert(
                groups,
                accepted,
                (self.shared.capacity, self.shared.max_bytes),
                &mut dropped,
            )
        };
        // Frees the spans of evicted traces that no reader holds, outside the lock.
        drop(dropped);
        result
    }

    /// Splits a batch by trace, in order of each trace's first span in the batch, notes each group's time
    /// span and services, and encodes each group's spans as one compact chunk; the chunks of the batch share
    /// one table of strings, resources and scopes.
    fn group(&self, spans: &[Span]) -> Vec<(Group, Chunk)> {
        let batch_spans = spans.len();
        let mut groups: Vec<(Group, Vec<&Span>)> = Vec::new();
        let mut position: HashMap<TraceId, usize> = HashMap::new();
        let mut names = self.shared.names.lock();
        // Batches usually share one resource per service; look each resource's service up once.
        let mut last_resource: Option<(Arc<Resource>, Str)> = None;
        for span in spans {
            let service = match &last_resource {
                Some((resource, service)) if Arc::ptr_eq(resource, &span.resource) => {
                    service.clone()
                }
                _ => {
                    let service = self.service_of(span);
                    last_resource = Some((span.resource.clone(), service.clone()));
                    service
                }
            };
            let at = *position.entry(span.trace_id).or_insert_with(|| {
                let group = Group {
                    id: span.trace_id,
                    start_ns: u64::MAX,
                    end_ns: 0,
                    services: Vec::new(),
                    root: None,
                    errors: 0,
                    entries: Vec::new(),
                    weight: 0,
                };
                groups.push((group, Vec::new()));
                groups.len() - 1
            });
            let (group, group_spans) = &mut groups[at];
            group.start_ns = group.start_ns.min(span.start_ns);
            group.end_ns = group.end_ns.max(span.end_ns);
            if semconv::is_error(span) {
                group.errors += 1;
            }
            if span.parent_span_id.is_none() && group.root.is_none() {
                group.root = Some((service.clone(), span.name.clone()));
            }
            if semconv::is_entry(span) {
                let endpoint = names.endpoint(span);
                if !group
                    .entries
                    .iter()
                    .any(|(s, e)| Arc::ptr_eq(s, &service) && Arc::ptr_eq(e, &endpoint))
                {
                    group.entries.push((service.clone(), endpoint));
                }
            }
            if !group.services.iter().any(|known| **known == *service) {
                group.services.push(service);
            }
            group_spans.push(span);
        }
        let mut table = TableBuilder::new();
        let encoded: Vec<_> = groups
            .into_iter()
            .map(|(group, spans)| (group, table.encode(&spans)))
            .collect();
        let (table_weight, batch_spans) = (table.weight() as u64, batch_spans.max(1) as u64);
        let table = table.finish();
        encoded
            .into_iter()
            .map(|(mut group, encoded)| {
                let chunk = encoded.into_chunk(table.clone());
                // Each chunk carries the table in proportion to its spans, so evicting every chunk of a batch
                // gives back the whole table.
                group.weight =
                    chunk.weight() as u64 + table_weight * chunk.len() as u64 / batch_spans;
                (group, chunk)
            })
            .collect()
    }

    /// The span's service name as a shared string (the resource's own, so no copy is made).
    fn service_of(&self, span: &Span) -> Str {
        match attribute_str(&span.resource.attributes, "service.name") {
            Some(name) => name.clone(),
            None => self.shared.unknown_service.clone(),
        }
    }

    /// Counts `payloads` payloads refused for `reason` (e.g. "decode", "too_large", "unsupported_media").
    pub fn reject(&self, reason: &str, payloads: u64) {
        let mut rejected = self.shared.rejected.lock();
        match rejected.get_mut(reason) {
            Some(count) => *count += payloads,
            None => {
                rejected.insert(reason.to_owned(), payloads);
            }
        }
    }

    /// Counts `spans` spans a receiver refused one by one, such as spans with ids of the wrong length.
    pub fn reject_spans(&self, spans: u64) {
        self.shared
            .rejected_spans
            .fetch_add(spans, Ordering::Relaxed);
    }

    /// Counts `spans` spans that were cut down to the span limits ([`crate::limits`]) before being queued.
    pub fn count_limited(&self, spans: u64) {
        if spans > 0 {
            self.shared
                .limited_spans
                .fetch_add(spans, Ordering::Relaxed);
        }
    }

    /// All counters, the span counts taken together.
    pub fn accounting(&self) -> Accounting {
        let mut accounting = {
            let index = self.shared.index.read();
            Accounting {
                capacity: self.shared.capacity as u64,
                max_bytes: self.shared.max_bytes,
                accepted: index.accepted,
                stored: index.stored,
                stored_bytes: index.stored_bytes,
                evicted: index.evicted,
                stored_traces: index.traces.len() as u64,
                evicted_traces: index.evicted_traces,
                rejected: BTreeMap::new(),
                rejected_spans: 0,
                limited_spans: 0,
            }
        };
        accounting.rejected = self.shared.rejected.lock().clone();
        accounting.rejected_spans = self.shared.rejected_spans.load(Ordering::Relaxed);
        accounting.limited_spans = self.shared.limited_spans.load(Ordering::Relaxed);
        accounting
    }

    /// Spans stored.
    pub fn len(&self) -> usize {
        self.shared.index.read().stored as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Traces stored.
    pub fn trace_count(&self) -> usize {
        self.shared.index.read().traces.len()
    }

    /// The trace, if stored.
    pub fn trace(&self, id: &TraceId) -> Option<Arc<Trace>> {
        self.shared.index.read().traces.get(id).cloned()
    }

    /// The newest stored trace whose id's low 64 bits are `low` (a scan of the trace ids: for looking up an id
    /// a person pasted, not for a hot path).
    pub fn trace_ending_in(&self, low: u64) -> Option<Arc<Trace>> {
        let index = self.shared.index.read();
        (index.traces.values())
            .filter(|trace| trace.id.to_u128() as u64 == low)
            .max_by_key(|trace| trace.seq)
            .cloned()
    }

    /// For each of `lows`, the id of the newest stored trace whose low 64 bits it is: one pass over the trace
    /// ids however many are asked (a browser session's calls, say).
    pub fn traces_ending_in(&self, lows: &std::collections::HashSet<u64>) -> HashMap<u64, TraceId> {
        let mut found: HashMap<u64, (u64, TraceId)> = HashMap::new();
        if lows.is_empty() {
            return HashMap::new();
        }
        let index = self.shared.index.read();
        for trace in index.traces.values() {
            let low = trace.id.to_u128() as u64;
            if lows.contains(&low) && found.get(&low).is_none_or(|(seq, _)| trace.seq > *seq) {
                found.insert(low, (trace.seq, trace.id));
            }
        }
        found.into_iter().map(|(low, (_, id))| (low, id)).collect()
    }

    /// The names of the services with at least one stored trace, sorted.
    pub fn services(&self) -> Vec<Str> {
        let mut services: Vec<Str> = self
            .shared
            .index
            .read()
            .by_service
            .keys()
            .cloned()
            .collect();
        services.sort_unstable();
        services
    }

    /// Up to `limit` ids of the stored traces with a span of `service`, newest entry first.
    pub fn trace_ids_for_service(&self, service: &str, limit: usize) -> Vec<TraceId> {
        let index = self.shared.index.read();
        match index.by_service.get(service) {
            Some(traces) => (traces.iter().rev().take(limit))
                .map(|&seq| index.id_at(seq))
                .collect(),
            None => Vec::new(),
        }
    }

    /// Up to `limit` stored traces with a span of `service`, newest entry first.
    pub fn traces_for_service(&self, service: &str, limit: usize) -> Vec<Arc<Trace>> {
        let index = self.shared.index.read();
        match index.by_service.get(service) {
            Some(traces) => (traces.iter().rev().take(limit))
                .map(|&seq| index.traces[&index.id_at(seq)].clone())
                .collect(),
            None => Vec::new(),
        }
    }

    /// Up to `limit` stored traces that start in `[from_ns, to_ns)`, latest start first (ties: newest
    /// entry first).
    pub fn traces_between(&self, from_ns: u64, to_ns: u64, limit: usize) -> Vec<Arc<Trace>> {
        if from_ns >= to_ns {
            return Vec::new();
        }
        let index = self.shared.index.read();
        index
            .by_time
            .range((Bound::Included((from_ns, 0)), Bound::Excluded((to_ns, 0))))
            .rev()
            .take(limit)
            .map(|((_, seq), _)| index.traces[&index.id_at(*seq)].clone())
            .collect()
    }

    /// Up to `limit` stored traces with the latest starts, latest first.
    pub fn latest(&self, limit: usize) -> Vec<Arc<Trace>> {
        let index = self.shared.index.read();
        index
            .by_time
            .keys()
            .rev()
            .take(limit)
            .map(|(_, seq)| index.traces[&index.id_at(*seq)].clone())
            .collect()
    }

    /// The start of the oldest stored trace (by start time), if any.
    pub fn oldest_start_ns(&self) -> Option<u64> {
        let index = self.shared.index.read();
        index.by_time.keys().next().map(|(start, _)| *start)
    }

    /// The stored traces `query` asks for, latest start first (or longest first), at most `query.limit`.
    /// Reads only the traces' summaries, never their spans.
    pub fn search(&self, query: &TraceQuery) -> Vec<Arc<Trace>> {
        if query.limit == 0 {
            return Vec::new();
        }
        let index = self.shared.index.read();
        let service_traces = query
            .service
            .as_deref()
            .map(|service| index.by_service.get(service).map_or(0, BTreeSet::len));
        // A service with a small share of the traces is quicker to search through its own index.
        let rare_service = service_traces.is_some_and(|n| n < index.traces.len() / 8);
        // Everything but a rare service goes through the time index, whose entries answer the duration and
        // error filters, and rule most traces in or out of the service and endpoint ones, without reading
        // the trace.
        let service_bit = query.service.as_deref().map_or(0, bit);
        let endpoint_bit = query.endpoint.as_deref().map_or(0, bit);
        let candidates = || {
            index
                .by_time
                .range((Bound::Included((query.since_ns, 0)), Bound::Unbounded))
                .rev()
                .filter(move |((start, _), entry)| {
                    (query.min_duration_ns..=query.max_duration_ns)
                        .contains(&entry.end_ns.saturating_sub(*start))
                        && query.error.is_none_or(|error| error == (entry.errors > 0))
                        && entry.services & service_bit == service_bit
                        && entry.endpoints & endpoint_bit == endpoint_bit
                })
        };
        let exact = |trace: &&Arc<Trace>| {
            query
                .service
                .as_deref()
                .is_none_or(|wanted| trace.services.iter().any(|service| **service == *wanted))
                && query.matches(trace)
        };
        if !rare_service {
            if !query.by_duration {
                // Latest start first is the time index backwards: stop at the limit.
                return candidates()
                    .map(|((_, seq), _)| &index.traces[&index.id_at(*seq)])
                    .filter(exact)
                    .take(query.limit)
                    .cloned()
                    .collect();
            }
            // Longest first: order the candidates by their entries, then read only as many as it takes.
            let mut by_duration: Vec<(std::cmp::Reverse<(u64, u64)>, TraceId)> = candidates()
                .map(|((start, seq), entry)| {
                    (
                        std::cmp::Reverse((entry.end_ns.saturating_sub(*start), *seq)),
                        index.id_at(*seq),
                    )
                })
                .collect();
            by_duration.sort_unstable_by_key(|(key, _)| *key);
            return by_duration
                .iter()
                .map(|(_, id)| &index.traces[id])
                .filter(exact)
                .take(query.limit)
                .cloned()
                .collect();
        }
        let mut found: Vec<&Arc<Trace>> = match query
            .service
            .as_deref()
            .and_then(|service| index.by_service.get(service))
        {
            Some(traces) => traces
                .iter()
                .map(|&seq| &index.traces[&index.id_at(seq)])
                .filter(|trace| query.matches(trace))
                .collect(),
            None => Vec::new(),
        };
        let key = |trace: &&Arc<Trace>| {
            let primary = if query.by_duration {
                trace.duration_ns()
            } else {
                trace.start_ns
            };
            std::cmp::Reverse((primary, trace.seq))
        };
        if found.len() > query.limit {
            found.select_nth_unstable_by_key(query.limit, key);
            found.truncate(query.limit);
        }
        found.sort_unstable_by_key(key);
        found.into_iter().cloned().collect()
    }

    /// Every stored trace, oldest entry first (the eviction order). Costs one `Arc` clone per trace under
    /// the read lock; the traces can then be read at leisure.
    pub fn snapshot(&self) -> Vec<Arc<Trace>> {
        let index = self.shared.index.read();
        index
            .by_age
            .iter()
            .map(|id| index.traces[id].clone())
            .collect()
    }

    /// Calls `f` on every stored trace, oldest entry first, on a [`snapshot`](Store::snapshot): the lock is
    /// not held while `f` runs, so traces inserted or evicted meanwhile are not seen.
    pub fn for_each_trace(&self, mut f: impl FnMut(&Trace)) {
        for trace in self.snapshot() {
            f(&trace);
        }
    }
}

impl Index {
    /// The critical section of [`Store::insert`]. Evicted traces go to `dropped`, to be freed by the caller
    /// after the lock is released.
    fn insert(
        &mut self,
        groups: Vec<(Group, Chunk)>,
        accepted: usize,
        (capacity, max_bytes): (usize, u64),
        dropped: &mut Vec<Arc<Trace>>,
    ) -> Inserted {
        // The entry each group went to, with the number of the batch's spans it got.
        let mut targets: Vec<(u64, usize)> = Vec::with_capacity(groups.len());
        for (group, chunk) in groups {
            let spans = chunk.len();
            targets.push((self.append(group, chunk), spans));
        }
        self.accepted += accepted as u64;
        self.stored += accepted as u64;

        let mut evicted = 0;
        let mut evicted_traces = 0;
        while self.stored > capacity as u64 || self.stored_bytes > max_bytes {
            let Some(trace) = self.evict_oldest() else {
                break;
            };
            evicted += trace.len();
            evicted_traces += 1;
            dropped.push(trace);
        }

        // Eviction takes entries in sequence order, so the batch's spans that went to entries older than the
        // oldest one left are the ones this call evicted.
        let oldest_left = if self.by_age.is_empty() {
            u64::MAX
        } else {
            self.oldest_seq()
        };
        let lost: usize = targets
            .iter()
            .filter(|(seq, _)| *seq < oldest_left)
            .map(|(_, spans)| spans)
            .sum();
        Inserted {
            accepted,
            stored: accepted - lost,
            evicted,
            evicted_traces,
        }
    }

    /// Adds one group's chunk to its trace's entry, creating the entry if there is none, and keeps the
    /// time and service indexes in step. Returns the entry's sequence number.
    fn append(&mut self, group: Group, chunk: Chunk) -> u64 {
        let Some(existing) = self.traces.get_mut(&group.id) else {
            let seq = self.next_seq;
            self.next_seq += 1;
            for service in &group.services {
                self.by_service
                    .entry(service.clone())
                    .or_default()
                    .insert(seq);
            }
            self.by_age.push_back(group.id);
            self.stored_bytes += group.weight + TRACE_WEIGHT;
            let trace = Trace {
                id: group.id,
                seq,
                start_ns: group.start_ns,
                end_ns: group.end_ns,
                span_count: chunk.len() as u32,
                weight: group.weight + TRACE_WEIGHT,
                services: group.services.into_boxed_slice(),
                root: group.root,
                errors: group.errors,
                entries: group.entries.into_boxed_slice(),
                chunks: Box::new([chunk]),
            };
            self.by_time
                .insert((trace.start_ns, seq), TimeEntry::of(&trace));
            self.traces.insert(group.id, Arc::new(trace));
            return seq;
        };
        // Copy-on-write: clones the small `Trace` (not the spans) only if a reader holds this snapshot.
        let trace = Arc::make_mut(existing);
        let seq = trace.seq;
        trace.end_ns = trace.end_ns.max(group.end_ns);
        trace.errors += group.errors;
        if group.start_ns < trace.start_ns {
            self.by_time.remove(&(trace.start_ns, seq));
            trace.start_ns = group.start_ns;
        }
        trace.span_count += chunk.len() as u32;
        trace.weight += group.weight;
        self.stored_bytes += group.weight;
        push(&mut trace.chunks, [chunk]);
        if trace.root.is_none() {
            trace.root = group.root;
        }
        let entries: Vec<_> = (group.entries.into_iter())
            .filter(|entry| !trace.entries.contains(entry))
            .collect();
        push(&mut trace.entries, entries);
        let services: Vec<_> = (group.services.into_iter())
            .filter(|service| !trace.services.contains(service))
            .collect();
        for service in &services {
            self.by_service
                .entry(service.clone())
                .or_default()
                .insert(seq);
        }
        push(&mut trace.services, services);
        self.by_time
            .insert((trace.start_ns, seq), TimeEntry::of(trace));
        seq
    }

    /// The sequence number of the oldest entry (of the next one, when there is none).
    fn oldest_seq(&self) -> u64 {
        self.next_seq - self.by_age.len() as u64
    }

    /// The id of the stored entry numbered `seq`: its place in `by_age` is its distance from the oldest.
    fn id_at(&self, seq: u64) -> TraceId {
        self.by_age[(seq - self.oldest_seq()) as usize]
    }

    /// Removes the oldest entry from the trace map and every index.
    fn evict_oldest(&mut self) -> Option<Arc<Trace>> {
        let seq = self.oldest_seq();
        let id = self.by_age.pop_front()?;
        let trace = self
            .traces
            .remove(&id)
            .expect("every entry in by_age is in traces");
        debug_assert_eq!(trace.seq, seq);
        self.by_time.remove(&(trace.start_ns, seq));
        for service in &trace.services {
            if let Some(traces) = self.by_service.get_mut(service) {
                traces.remove(&seq);
                if traces.is_empty() {
                    self.by_service.remove(service);
                }
            }
        }
        self.stored -= trace.span_count as u64;
        self.stored_bytes -= trace.weight;
        self.evicted += trace.span_count as u64;
        self.evicted_traces += 1;
        Some(trace)
    }
}

/// Appends `items` to a boxed slice (reallocating it at its new exact size; nothing when there are none).
fn push<T>(slice: &mut Box<[T]>, items: impl IntoIterator<Item = T>) {
    let mut items = items.into_iter().peekable();
    if items.peek().is_some() {
        let mut grown = std::mem::take(slice).into_vec();
        grown.extend(items);
        *slice = grown.into_boxed_slice();
    }
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let accounting = self.accounting();
        f.debug_struct("Store")
            .field("capacity", &accounting.capacity)
            .field("stored", &accounting.stored)
            .field("stored_traces", &accounting.stored_traces)
            .field("evicted", &accounting.evicted)
            .finish()
    }
}
