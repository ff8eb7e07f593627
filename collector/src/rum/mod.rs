//! Real user monitoring: the browser's events (Datadog's browser SDK intake format) kept in a bounded store
//! beside the spans, with the same accounting, and what the collector works out from them per page, per
//! front-end error and per session.
//!
//! `decode` reads the intake's lines, `intake` is the HTTP receiver (on the OTLP/HTTP listener), `pages` the
//! per-page figures and error groups, `sessions` the journeys, `map` the browser's node on the service map,
//! `report` the report's section. Every answer is computed on demand from what
//! the store holds (at most [`DEFAULT_CAPACITY`] events), under its lock.

pub mod decode;
pub mod intake;
pub mod map;
pub mod pages;
pub mod report;
pub mod sessions;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;
use protocol::RumStats;

use crate::record::SharedRecorder;

/// Events kept before the oldest are evicted, by default.
pub const DEFAULT_CAPACITY: usize = 200_000;
/// About the bytes the kept events may hold before the oldest are evicted, by default.
pub const DEFAULT_MAX_BYTES: u64 = 128 * 1024 * 1024;

/// What an event is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    View,
    Action,
    Resource,
    Error,
    LongTask,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::View => "view",
            Kind::Action => "action",
            Kind::Resource => "resource",
            Kind::Error => "error",
            Kind::LongTask => "long_task",
        }
    }
}

/// One browser event, as kept.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub date_ns: u64,
    pub session: String,
    pub view_id: String,
    pub view_url: String,
    pub service: String,
    pub version: String,
    pub detail: Detail,
}

/// What a view's latest document version says.
#[derive(Clone, Debug, PartialEq)]
pub struct View {
    pub document_version: u64,
    pub load_ms: Option<f64>,
    pub time_spent_ms: Option<f64>,
    pub lcp_ms: Option<f64>,
    pub inp_ms: Option<f64>,
    pub cls: Option<f64>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Detail {
    View(View),
    Action {
        kind: String,
        target: String,
        duration_ms: Option<f64>,
    },
    Resource {
        kind: String,
        method: String,
        url: String,
        status: Option<u16>,
        duration_ms: Option<f64>,
        /// The low 64 bits of the backend trace it caused.
        trace_low: Option<u64>,
    },
    Error {
        source: String,
        kind: String,
        message: String,
        stack: Option<String>,
    },
    LongTask {
        duration_ms: Option<f64>,
    },
}

impl Event {
    pub fn kind(&self) -> Kind {
        match self.detail {
            Detail::View(_) => Kind::View,
            Detail::Action { .. } => Kind::Action,
            Detail::Resource { .. } => Kind::Resource,
            Detail::Error { .. } => Kind::Error,
            Detail::LongTask { .. } => Kind::LongTask,
        }
    }

    /// About the memory it holds.
    fn weight(&self) -> u64 {
        let texts = match &self.detail {
            Detail::View(_) | Detail::LongTask { .. } => 0,
            Detail::Action { kind, target, .. } => kind.len() + target.len(),
            Detail::Resource {
                kind, method, url, ..
            } => kind.len() + method.len() + url.len(),
            Detail::Error {
                source,
                kind,
                message,
                stack,
            } => source.len() + kind.len() + message.len() + stack.as_ref().map_or(0, String::len),
        };
        (std::mem::size_of::<Event>()
            + 32
            + self.session.len()
            + self.view_id.len()
            + self.view_url.len()
            + self.service.len()
            + self.version.len()
            + texts) as u64
    }
}

/// The bounded store of browser events. Cheap to clone; clones share one store.
#[derive(Clone, Debug)]
pub struct RumStore {
    inner: Arc<Mutex<Inner>>,
    /// Where accepted events are also written, when recording (the recording the spans go to).
    recorder: Arc<Mutex<Option<SharedRecorder>>>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    capacity: usize,
    max_bytes: u64,
    /// Kept events, oldest first. They leave only from the front: a view's updates change it in place.
    pub(crate) events: VecDeque<Event>,
    /// The sequence number of `events[0]`.
    first_seq: u64,
    /// View id → the sequence number of its event.
    views: HashMap<String, u64>,
    bytes: u64,
    accepted: u64,
    merged: u64,
    evicted: u64,
    ignored: u64,
    by_type: HashMap<Kind, u64>,
    rejected_events: BTreeMap<String, u64>,
    rejected: BTreeMap<String, u64>,
}

/// What one batch came to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Taken {
    pub accepted: u64,
    pub ignored: u64,
    pub rejected: u64,
    /// The first refused line's reason and message.
    pub first_error: Option<(&'static str, String)>,
}

impl Default for RumStore {
    fn default() -> Self {
        RumStore::new(DEFAULT_CAPACITY, DEFAULT_MAX_BYTES)
    }
}

impl RumStore {
    /// A store keeping at most `capacity` events holding about `max_bytes`.
    pub fn new(capacity: usize, max_bytes: u64) -> RumStore {
        RumStore {
            inner: Arc::new(Mutex::new(Inner {
                capacity,
                max_bytes,
                events: VecDeque::new(),
                first_seq: 0,
                views: HashMap::new(),
                bytes: 0,
                accepted: 0,
                merged: 0,
                evicted: 0,
                ignored: 0,
                by_type: HashMap::new(),
                rejected_events: BTreeMap::new(),
                rejected: BTreeMap::new(),
            })),
            recorder: Arc::default(),
        }
    }

    /// Writes every event accepted from now on to `recorder` too, as the browser sent it.
    pub fn record_to(&self, recorder: SharedRecorder) {
        *self.recorder.lock() = Some(recorder);
    }

    /// Reads a (decompressed) batch and keeps its events: each line on its own, a refused line counted by
    /// reason without losing the others. Linear in the body; decoding happens before the lock is taken.
    pub fn take(&self, body: &[u8]) -> Taken {
        let mut taken = Taken::default();
        let mut events = Vec::new();
        let mut refused: Vec<&'static str> = Vec::new();
        let recording = self.recorder.lock().is_some();
        let mut kept: Vec<&[u8]> = Vec::new();
        for raw in decode::raw_lines(body) {
            match decode::read_line(raw) {
                decode::Line::Event(event) => {
                    events.push(*event);
                    if recording {
                        kept.push(raw);
                    }
                }
                decode::Line::Ignored => taken.ignored += 1,
                decode::Line::Rejected(reason, message) => {
                    refused.push(reason);
                    taken.first_error.get_or_insert((reason, message));
                }
            }
        }
        taken.accepted = events.len() as u64;
        taken.rejected = refused.len() as u64;
        if !kept.is_empty() {
            let mut recorder = self.recorder.lock();
            let recorded = (recorder.as_ref()).map(|writer| writer.lock().append_rum(&kept));
            if let Some(Err(err)) = recorded {
                tracing::error!(error = %err, "recording browser events failed: recording stops");
                *recorder = None;
            }
        }
        let mut inner = self.inner.lock();
        inner.ignored += taken.ignored;
        for reason in refused {
            *inner.rejected_events.entry(reason.to_owned()).or_default() += 1;
        }
        for event in events {
            inner.insert(event);
        }
        taken
    }

    /// Counts a batch refused whole.
    pub fn reject(&self, reason: &str) {
        *self
            .inner
            .lock()
            .rejected
            .entry(reason.to_owned())
            .or_default() += 1;
    }

    pub fn stats(&self) -> RumStats {
        let inner = self.inner.lock();
        RumStats {
            capacity: inner.capacity as u64,
            accepted: inner.accepted,
            stored: inner.events.len() as u64,
            merged: inner.merged,
            evicted: inner.evicted,
            by_type: (inner.by_type.iter())
                .filter(|(_, n)| **n > 0)
                .map(|(kind, n)| (kind.name().to_owned(), *n))
                .collect(),
            ignored: inner.ignored,
            rejected_events: inner.rejected_events.clone(),
            rejected: inner.rejected.clone(),
        }
    }

    /// The services the kept events name.
    pub fn services(&self) -> std::collections::BTreeSet<String> {
        self.with_events(|events| events.iter().map(|e| e.service.clone()).collect())
    }

    /// Runs `f` over the kept events, oldest first, under the lock.
    pub(crate) fn with_events<T>(&self, f: impl FnOnce(&VecDeque<Event>) -> T) -> T {
        f(&self.inner.lock().events)
    }
}

impl Inner {
    fn insert(&mut self, event: Event) {
        self.accepted += 1;
        if let Detail::View(view) = &event.detail
            && let Some(&seq) = self.views.get(&event.view_id)
        {
            // An update of a view kept: the highest document version wins, wherever it arrives.
            self.merged += 1;
            let slot = &mut self.events[(seq - self.first_seq) as usize];
            let newer = match &slot.detail {
                Detail::View(kept) => view.document_version >= kept.document_version,
                _ => false,
            };
            if newer {
                let (old, new) = (slot.weight(), event.weight());
                // The view starts when it was first seen; the update brings its figures.
                let date_ns = slot.date_ns;
                *slot = event;
                slot.date_ns = date_ns.min(slot.date_ns);
                self.bytes = self.bytes - old + new;
            }
            self.evict();
            return;
        }
        let kind = event.kind();
        self.bytes += event.weight();
        if kind == Kind::View {
            let seq = self.first_seq + self.events.len() as u64;
            self.views.insert(event.view_id.clone(), seq);
        }
        self.events.push_back(event);
        *self.by_type.entry(kind).or_default() += 1;
        self.evict();
    }

    fn evict(&mut self) {
        while self.events.len() > self.capacity || self.bytes > self.max_bytes {
            let Some(event) = self.events.pop_front() else {
                break;
            };
            if event.kind() == Kind::View && self.views.get(&event.view_id) == Some(&self.first_seq)
            {
                self.views.remove(&event.view_id);
            }
            self.first_seq += 1;
            self.bytes -= event.weight();
            self.evicted += 1;
            *self.by_type.entry(event.kind()).or_default() -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(id: &str, version: u64, load_ns: u64) -> String {
        format!(
            r#"{{"type":"view","date":1790000000000,"session":{{"id":"s1"}},"view":{{"id":"{id}","url":"http://h/","loading_time":{load_ns}}},"_dd":{{"document_version":{version}}}}}"#
        )
    }

    #[test]
    fn views_are_upserted_and_the_highest_document_version_wins() {
        let store = RumStore::default();
        let body = [view("v1", 1, 1), view("v1", 3, 3_000_000), view("v1", 2, 2)].join("\n");
        let taken = store.take(body.as_bytes());
        assert_eq!((taken.accepted, taken.rejected), (3, 0));
        let stats = store.stats();
        assert_eq!((stats.accepted, stats.stored, stats.merged), (3, 1, 2));
        store.with_events(|events| match &events[0].detail {
            Detail::View(v) => assert_eq!((v.document_version, v.load_ms), (3, Some(3.0))),
            other => panic!("{other:?}"),
        });
    }

    #[test]
    fn past_its_capacity_the_oldest_events_are_evicted_and_counted() {
        let store = RumStore::new(2, u64::MAX);
        let body = (0..5)
            .map(|i| view(&format!("v{i}"), 1, 1))
            .collect::<Vec<_>>()
            .join("\n");
        store.take(body.as_bytes());
        // A view evicted and then updated is kept again as new.
        store.take(view("v0", 2, 1).as_bytes());
        let stats = store.stats();
        assert_eq!(
            (stats.accepted, stats.stored, stats.evicted, stats.merged),
            (6, 2, 4, 0)
        );
        assert_eq!(stats.accepted, stats.stored + stats.evicted + stats.merged);
        assert_eq!(stats.by_type["view"], 2);
    }

    #[test]
    fn a_byte_bound_evicts_too() {
        let store = RumStore::new(usize::MAX, 2_000);
        let body = (0..50)
            .map(|i| view(&format!("v{i}"), 1, 1))
            .collect::<Vec<_>>()
            .join("\n");
        store.take(body.as_bytes());
        let stats = store.stats();
        assert!(stats.stored < 50 && stats.stored > 0, "{stats:?}");
        assert_eq!(stats.accepted, stats.stored + stats.evicted);
    }
}
