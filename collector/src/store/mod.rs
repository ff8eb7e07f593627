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
//!
//! The work is cut by job: this module has the [`Store`] handle, its accounting and its reads; `group` splits a
//! batch by trace and encodes it, outside the lock; `index` is what the lock guards, with insertion and
//! eviction; `search` answers a [`TraceQuery`]; `trace` is the [`Trace`] snapshot.

mod group;
mod index;
mod search;
mod trace;

pub use search::TraceQuery;
pub use trace::Trace;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::ops::Bound;
use std::sync::Arc;

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};

use crate::compact::Chunk;
use crate::model::{Span, Str, TraceId};
use crate::semconv::Names;
use crate::staged::Staged;
use group::Group;
use index::Index;

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
    /// The scalar attributes the batches' tables share.
    pairs: crate::compact::Pairs,
    /// The browser's events, kept beside the spans with an accounting of their own.
    rum: crate::rum::RumStore,
    /// The log records written beside the spans.
    logs: crate::logs::LogStore,
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
                pairs: crate::compact::Pairs::default(),
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
        self.insert_chunks(groups, accepted)
    }

    /// [`Store::insert`] of a batch decoded straight into the store's form: its spans are grouped by trace
    /// through views and encoded from the table indexes they already are.
    pub fn insert_staged(&self, staged: Staged) -> Inserted {
        if staged.is_empty() {
            return Inserted::default();
        }
        let accepted = staged.len();
        let (groups, members): (Vec<Group>, Vec<Vec<u32>>) =
            self.groups(&staged.views()).into_iter().unzip();
        let (table, table_weight, encoded) = staged.encode(&members, &self.shared.pairs);
        let chunks = group::chunks(groups, encoded, &table, table_weight, accepted);
        self.insert_chunks(chunks, accepted)
    }

    /// Stores one batch's chunks under the write lock, then evicts; spans of evicted traces are dropped after
    /// it is released.
    fn insert_chunks(&self, groups: Vec<(Group, Chunk)>, accepted: usize) -> Inserted {
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

    /// Forgets the attribute pairs no stored batch holds any more (their spans were evicted), so a long-running
    /// collector keeps only the pairs its stored spans use; before pruning the interner, as the pairs hold
    /// interned strings. Returns how many were dropped.
    pub fn prune_pairs(&self) -> usize {
        self.shared.pairs.prune()
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
