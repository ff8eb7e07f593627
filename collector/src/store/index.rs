//! What the store's lock guards: the traces and their indexes by age, time and service, with the store's
//! counts; a batch's groups inserted, the oldest traces evicted.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use crate::compact::Chunk;
use crate::model::{Str, TraceId};

use super::group::Group;
use super::{Inserted, TRACE_WEIGHT, Trace};

/// Everything behind the lock.
#[derive(Default)]
pub(super) struct Index {
    /// Trace id → the trace's current snapshot.
    pub(super) traces: HashMap<TraceId, Arc<Trace>>,
    /// Trace ids by sequence number, oldest first: the eviction order. New entries always get the highest
    /// sequence number and eviction always takes the lowest, so a queue is enough; and as every new entry
    /// gets the next number, the numbers in it follow each other: the newest is `next_seq - 1`, and a number
    /// finds its entry by position ([`Index::id_at`]).
    pub(super) by_age: VecDeque<TraceId>,
    /// (trace start, sequence number) → trace id.
    pub(super) by_time: BTreeMap<(u64, u64), TimeEntry>,
    /// Service name → the sequence numbers of the traces with a span of that service. A service without
    /// stored traces has no key.
    pub(super) by_service: HashMap<Str, Seqs>,
    /// The sequence number the next new entry gets.
    next_seq: u64,
    /// Spans stored (the sum of the traces' span counts).
    pub(super) stored: u64,
    /// About the bytes the stored traces hold (the sum of their weights).
    pub(super) stored_bytes: u64,
    pub(super) accepted: u64,
    pub(super) evicted: u64,
    pub(super) evicted_traces: u64,
}

/// What the time index keeps of a trace besides its start and sequence number (which find its id,
/// [`Index::id_at`]): enough to filter a search by duration and errors without reading the trace itself.
#[derive(Clone, Copy, Debug)]
pub(super) struct TimeEntry {
    pub(super) end_ns: u64,
    pub(super) errors: u32,
    /// One bit per service name and per endpoint name (a 64-bit Bloom filter each): a clear bit rules the
    /// trace out of a search for that name without reading it.
    pub(super) services: u64,
    pub(super) endpoints: u64,
}

/// The Bloom bit of a name.
pub(super) fn bit(name: &str) -> u64 {
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

impl Index {
    /// The critical section of [`Store::insert`]. Evicted traces go to `dropped`, to be freed by the caller
    /// after the lock is released.
    pub(super) fn insert(
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
    pub(super) fn id_at(&self, seq: u64) -> TraceId {
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
                traces.remove(seq);
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

/// Sequence numbers in ascending order. New entries take the highest number and eviction the lowest, so a
/// queue keeps them sorted at a few bytes each, where a tree set would take several times that: an entry
/// that gets a new service later goes in by binary search, near the back as it is recent.
#[derive(Debug, Default)]
pub(super) struct Seqs(VecDeque<u64>);

impl Seqs {
    pub(super) fn insert(&mut self, seq: u64) {
        // Mostly a new entry's, the highest.
        if self.0.back().is_none_or(|&last| last < seq) {
            self.0.push_back(seq);
        } else if let Err(at) = self.0.binary_search(&seq) {
            self.0.insert(at, seq);
        }
    }

    /// Removes `seq`, and gives back room once most of it is unused.
    pub(super) fn remove(&mut self, seq: u64) {
        // Mostly the oldest entry's, evicted.
        if self.0.front() == Some(&seq) {
            self.0.pop_front();
        } else if let Ok(at) = self.0.binary_search(&seq) {
            self.0.remove(at);
        }
        if self.0.capacity() > 64 && self.0.len() < self.0.capacity() / 4 {
            self.0.shrink_to(self.0.len() * 2);
        }
    }

    pub(super) fn len(&self) -> usize {
        self.0.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Oldest first.
    pub(super) fn iter(&self) -> impl DoubleEndedIterator<Item = &u64> {
        self.0.iter()
    }
}
