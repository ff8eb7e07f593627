//! The bounded log store: records in arrival order, the oldest evicted past a count or a byte budget, indexed
//! by the low 64 bits of their trace id (which both OpenTelemetry's whole ids and Datadog's halves have).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;
use rustc_hash::FxHashMap;

use super::LogRecord;
use crate::model::{Interner, SpanId, TraceId};
use crate::record::SharedRecorder;

/// Records kept at most, by default.
pub const DEFAULT_CAPACITY: usize = 200_000;

/// Bytes the kept records hold at most (about), by default.
pub const DEFAULT_MAX_BYTES: u64 = 64 << 20;

/// A search of the store; every field narrows it.
#[derive(Clone, Debug, Default)]
pub struct LogQuery {
    pub trace_id: Option<TraceId>,
    pub span_id: Option<SpanId>,
    pub service: Option<String>,
    /// The lowest severity number shown.
    pub min_severity: i32,
    /// Text in the body or an attribute's value, case aside.
    pub text: Option<String>,
    /// Records at or after this time (unix nanoseconds).
    pub since_ns: u64,
    pub limit: usize,
}

impl LogQuery {
    /// The store's search for an API search (`since` a duration back from `newest_ns`), or what is wrong
    /// with it, for a 400.
    pub fn from_search(
        search: &protocol::query::LogSearch,
        newest_ns: u64,
    ) -> Result<LogQuery, String> {
        fn given(value: &Option<String>) -> Option<&str> {
            value.as_deref().filter(|v| !v.is_empty())
        }
        let trace_id = match given(&search.trace_id) {
            None => None,
            Some(id) => Some(
                protocol::parse_trace_id(id)
                    .map(TraceId::from_u128)
                    .ok_or_else(|| {
                        format!("bad trace_id {id:?}: 32 hex digits or a decimal number")
                    })?,
            ),
        };
        let span_id = match given(&search.span_id) {
            None => None,
            Some(id) => Some(
                SpanId::from_hex(id).ok_or_else(|| format!("bad span_id {id:?}: 16 hex digits"))?,
            ),
        };
        let min_severity = match given(&search.severity) {
            None => 0,
            Some(name) => protocol::query::severity_number(name).ok_or_else(|| {
                format!("bad severity {name:?}: TRACE, DEBUG, INFO, WARN, ERROR, FATAL or 0-24")
            })?,
        };
        let max = protocol::query::MAX_LOG_LIMIT;
        if !(1..=max).contains(&search.limit) {
            return Err(format!("limit must be 1 to {max}"));
        }
        Ok(LogQuery {
            trace_id,
            span_id,
            service: given(&search.service).map(str::to_owned),
            min_severity,
            text: given(&search.text).map(str::to_owned),
            since_ns: search.since.map_or(0, |since| since.unix_nano(newest_ns)),
            limit: search.limit,
        })
    }
}

/// The log records, shared by the receivers that add them and the API that reads them. Cheap to clone.
#[derive(Clone, Debug)]
pub struct LogStore {
    shared: Arc<Mutex<Inner>>,
    /// Where accepted records are also written, when the collector records.
    recorder: Arc<Mutex<Option<SharedRecorder>>>,
    /// The strings the records share (keys, services, severities, short values): every receiver of log
    /// records interns through this one, pruned as records are evicted so it stays as bounded as the store.
    interner: Interner,
}

/// Records evicted between two prunings of the interner.
const PRUNE_AFTER_EVICTED: u64 = 50_000;

#[derive(Debug)]
struct Inner {
    capacity: usize,
    max_bytes: u64,
    /// Oldest first; `records[k]` has sequence number `first + k`.
    records: VecDeque<(LogRecord, u64)>,
    first: u64,
    bytes: u64,
    /// Sequence numbers by the low 64 bits of the record's trace id, oldest first.
    by_trace: FxHashMap<u64, VecDeque<u64>>,
    accepted: u64,
    evicted: u64,
    /// `evicted` when the interner was last pruned.
    pruned_at: u64,
    /// The interner's strings just after it was last pruned.
    interned_after_prune: usize,
    rejected: BTreeMap<String, u64>,
    rejected_records: u64,
}

impl Default for LogStore {
    fn default() -> LogStore {
        LogStore::bounded(DEFAULT_CAPACITY, DEFAULT_MAX_BYTES)
    }
}

impl LogStore {
    /// An empty store keeping at most `capacity` records holding about `max_bytes` bytes.
    pub fn bounded(capacity: usize, max_bytes: u64) -> LogStore {
        LogStore {
            recorder: Arc::default(),
            interner: Interner::new(),
            shared: Arc::new(Mutex::new(Inner {
                capacity: capacity.max(1),
                max_bytes,
                records: VecDeque::new(),
                first: 0,
                bytes: 0,
                by_trace: FxHashMap::default(),
                accepted: 0,
                evicted: 0,
                pruned_at: 0,
                interned_after_prune: 0,
                rejected: BTreeMap::new(),
                rejected_records: 0,
            })),
        }
    }

    /// The interner log records are made with.
    pub fn interner(&self) -> &Interner {
        &self.interner
    }

    /// Writes every record accepted from now on to `recorder` too.
    pub fn record_to(&self, recorder: SharedRecorder) {
        *self.recorder.lock() = Some(recorder);
    }

    /// Stores `records`, evicting the oldest past the bounds (and records them, when recording).
    pub fn insert(&self, records: Vec<LogRecord>) {
        if records.is_empty() {
            return;
        }
        {
            let mut recorder = self.recorder.lock();
            let recorded = (recorder.as_ref()).map(|writer| writer.lock().append_logs(&records));
            if let Some(Err(err)) = recorded {
                tracing::error!(error = %err, "recording log records failed: recording stops");
                *recorder = None;
            }
        }
        let mut inner = self.shared.lock();
        for record in records {
            inner.accepted += 1;
            let seq = inner.first + inner.records.len() as u64;
            if let Some(low) = record.trace.low() {
                inner.by_trace.entry(low).or_default().push_back(seq);
            }
            let bytes = record.bytes();
            inner.bytes += bytes;
            inner.records.push_back((record, bytes));
            while inner.records.len() > inner.capacity
                || (inner.bytes > inner.max_bytes && inner.records.len() > 1)
            {
                inner.evict_oldest();
            }
        }
        // Evicted records may have held the last use of some strings.
        if inner.evicted >= inner.pruned_at + PRUNE_AFTER_EVICTED {
            inner.pruned_at = inner.evicted;
            drop(inner);
            self.interner.prune();
            self.shared.lock().interned_after_prune = self.interner.len();
        }
    }

    /// Takes what a receiver converted from one payload: stores its records and counts those it refused (a
    /// payload with any refused is counted under `invalid_log_record`, as spans count theirs); `Err` with the
    /// first reason when every record was refused. (rejected records, the first reason) otherwise.
    pub fn accept(&self, converted: super::Converted) -> Result<(u64, Option<String>), String> {
        // Strings are interned as a payload is converted, before its records are judged: a stream of refused
        // payloads must not grow the interner either.
        self.prune_if_grown();
        self.reject_records(converted.rejected);
        if converted.rejected > 0 {
            self.reject("invalid_log_record");
        }
        if converted.records.is_empty() && converted.rejected > 0 {
            return Err(converted.error.unwrap_or_default());
        }
        self.insert(converted.records);
        Ok((converted.rejected, converted.error))
    }

    /// Prunes the interner once it has doubled since it was last pruned (or made).
    fn prune_if_grown(&self) {
        let strings = self.interner.len();
        let mut inner = self.shared.lock();
        if strings > 2 * inner.interned_after_prune + 10_000 {
            drop(inner);
            self.interner.prune();
            let left = self.interner.len();
            inner = self.shared.lock();
            inner.interned_after_prune = left;
        }
    }

    /// Counts a refused payload under `reason`.
    pub fn reject(&self, reason: &str) {
        *self
            .shared
            .lock()
            .rejected
            .entry(reason.to_owned())
            .or_default() += 1;
    }

    /// Counts records refused one by one inside a payload whose others were taken.
    pub fn reject_records(&self, records: u64) {
        self.shared.lock().rejected_records += records;
    }

    /// The records `query` asks for, newest first.
    pub fn search(&self, query: &LogQuery) -> Vec<LogRecord> {
        let inner = self.shared.lock();
        let text = query.text.as_ref().map(|t| t.to_lowercase());
        let matches = |record: &LogRecord| {
            record.time_ns >= query.since_ns
                && record.severity_number >= query.min_severity
                && query.trace_id.is_none_or(|id| record.trace.is(id))
                && query.span_id.is_none_or(|id| record.span_id == Some(id))
                && query
                    .service
                    .as_deref()
                    .is_none_or(|s| record.service() == s)
                && text.as_deref().is_none_or(|t| contains(record, t))
        };
        // (record, its sequence number): records of the same time come newest-arrived first.
        let mut found: Vec<(&LogRecord, u64)> = match query.trace_id {
            // A trace's records, from the index: a trace has few of the store's records.
            Some(id) => inner
                .by_trace
                .get(&(id.to_u128() as u64))
                .into_iter()
                .flatten()
                .filter_map(|&seq| {
                    let (record, _) = inner.records.get((seq - inner.first) as usize)?;
                    Some((record, seq))
                })
                .filter(|(record, _)| matches(record))
                .collect(),
            // The newest `limit` by time over every match (records arrive out of time order): a bounded heap,
            // so still one linear pass.
            None => {
                let limit = query.limit.max(1);
                let mut newest: BinaryHeap<Reverse<(u64, u64, usize)>> = BinaryHeap::new();
                for (k, (record, _)) in inner.records.iter().enumerate() {
                    if !matches(record) {
                        continue;
                    }
                    newest.push(Reverse((record.time_ns, inner.first + k as u64, k)));
                    if newest.len() > limit {
                        newest.pop();
                    }
                }
                newest
                    .into_iter()
                    .map(|Reverse((_, seq, k))| (&inner.records[k].0, seq))
                    .collect()
            }
        };
        found.sort_by_key(|(record, seq)| std::cmp::Reverse((record.time_ns, *seq)));
        found.truncate(query.limit.max(1));
        found
            .into_iter()
            .map(|(record, _)| record.clone())
            .collect()
    }

    /// The log line `service` wrote in trace `trace_id` about an error: its most severe record there at WARN
    /// or above (the earliest of those), if any.
    pub fn log_line(&self, trace_id: TraceId, service: &str) -> Option<String> {
        let records = self.search(&LogQuery {
            trace_id: Some(trace_id),
            service: Some(service.to_owned()),
            min_severity: 13,
            // Every such record of the trace (the index finds them; a trace has few).
            limit: usize::MAX,
            ..LogQuery::default()
        });
        // Newest first: the earliest of the most severe is the last of them.
        let most = records.iter().map(|r| r.severity_number).max()?;
        records
            .into_iter()
            .rev()
            .find(|r| r.severity_number == most)
            .map(|r| r.body)
    }

    /// How many stored records each service wrote at each severity, by service then severity number.
    pub fn counts(&self) -> Vec<protocol::LogCount> {
        let inner = self.shared.lock();
        let mut counts: BTreeMap<(String, i32, String), u64> = BTreeMap::new();
        for (record, _) in &inner.records {
            *counts
                .entry((
                    record.service().to_owned(),
                    record.severity_number,
                    record.severity(),
                ))
                .or_default() += 1;
        }
        counts
            .into_iter()
            .map(|((service, _, severity), count)| protocol::LogCount {
                service,
                severity,
                count,
            })
            .collect()
    }

    /// The accounting, as `/api/stats` shows it.
    pub fn stats(&self) -> protocol::LogStats {
        let inner = self.shared.lock();
        protocol::LogStats {
            capacity: inner.capacity as u64,
            accepted: inner.accepted,
            stored: inner.records.len() as u64,
            evicted: inner.evicted,
            rejected: inner.rejected.clone(),
            rejected_records: inner.rejected_records,
        }
    }
}

impl Inner {
    fn evict_oldest(&mut self) {
        let Some((record, bytes)) = self.records.pop_front() else {
            return;
        };
        if let Some(low) = record.trace.low()
            && let Some(seqs) = self.by_trace.get_mut(&low)
        {
            seqs.pop_front();
            if seqs.is_empty() {
                self.by_trace.remove(&low);
            }
        }
        self.first += 1;
        self.bytes -= bytes;
        self.evicted += 1;
    }
}

/// Whether `text` (lower case) is in the record's body or one of its attributes' values.
fn contains(record: &LogRecord, text: &str) -> bool {
    record.body.to_lowercase().contains(text)
        || record.attributes.iter().any(|kv| {
            crate::view::value_text(&kv.value)
                .to_lowercase()
                .contains(text)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::logs::v1::{LogRecord as OtlpRecord, ResourceLogs, ScopeLogs};

    use crate::logs::TraceRef;
    use crate::model::Resource;

    fn record(time: u64, trace: TraceRef, body: &str) -> LogRecord {
        LogRecord {
            time_ns: time,
            severity_number: 17,
            severity_text: "".into(),
            body: body.to_owned(),
            attributes: Vec::new(),
            resource: Arc::new(Resource::default()),
            trace,
            span_id: None,
        }
    }

    #[test]
    fn every_record_is_stored_or_counted_evicted_and_the_index_follows() {
        let store = LogStore::bounded(100, u64::MAX);
        let id = |n: u128| TraceId::from_u128(n << 64 | n);
        for n in 0..1000u128 {
            store.insert(vec![record(n as u64, TraceRef::Full(id(n % 300)), "x")]);
        }
        let stats = store.stats();
        assert_eq!(
            (stats.accepted, stats.stored, stats.evicted),
            (1000, 100, 900)
        );
        // Only records 900 to 999 are kept: trace 299's (records 299, 599, 899) are all gone, trace 0 keeps
        // record 900 of its four, and the index holds the hundred traces left.
        let kept = |n: u128| {
            store
                .search(&LogQuery {
                    trace_id: Some(id(n)),
                    limit: 10,
                    ..LogQuery::default()
                })
                .len()
        };
        assert_eq!(kept(299), 0);
        assert_eq!(kept(0), 1);
        assert_eq!(store.shared.lock().by_trace.len(), 100);
        // A Datadog half matches the whole id.
        store.insert(vec![record(
            2000,
            TraceRef::Low(id(7).to_u128() as u64),
            "dd",
        )]);
        let found = store.search(&LogQuery {
            trace_id: Some(id(7)),
            limit: 10,
            ..LogQuery::default()
        });
        assert_eq!(
            found.iter().map(|r| r.body.as_str()).collect::<Vec<_>>(),
            ["dd", "x"]
        );
    }

    #[test]
    fn the_strings_of_evicted_records_are_forgotten() {
        use crate::model::{KeyValue, Value};
        let store = LogStore::bounded(1_000, u64::MAX);
        for n in 0..200_000u64 {
            let mut one = record(n, TraceRef::None, "x");
            // A value of its own on every record: kept only while its record is.
            one.attributes.push(KeyValue {
                key: store.interner().intern("order.id"),
                value: Value::Str(store.interner().intern(&n.to_string())),
            });
            store.insert(vec![one]);
        }
        let strings = store.interner().len();
        assert!(
            strings <= 1_000 + PRUNE_AFTER_EVICTED as usize + 10,
            "{strings}"
        );
    }

    #[test]
    fn the_newest_by_time_come_first_whatever_order_they_arrived_in() {
        let store = LogStore::bounded(100, u64::MAX);
        store.insert(vec![record(100, TraceRef::None, "late")]);
        for time in 1..=4 {
            store.insert(vec![record(time, TraceRef::None, "early")]);
        }
        let newest = store.search(&LogQuery {
            limit: 1,
            ..LogQuery::default()
        });
        assert_eq!(newest[0].time_ns, 100);
        let two = store.search(&LogQuery {
            limit: 2,
            ..LogQuery::default()
        });
        assert_eq!(two.iter().map(|r| r.time_ns).collect::<Vec<_>>(), [100, 4]);
    }

    #[test]
    fn refused_payloads_do_not_grow_the_interner() {
        let store = LogStore::bounded(1_000, u64::MAX);
        for n in 0..100_000u64 {
            // A payload's strings are interned as it is converted, then all its records refused.
            let _ = store.interner().intern(&format!("service-{n}"));
            let refused = crate::logs::Converted {
                records: Vec::new(),
                rejected: 1,
                error: Some("bad id".to_owned()),
            };
            assert!(store.accept(refused).is_err());
        }
        let strings = store.interner().len();
        assert!(strings <= 2 * 10_000 + 10_001, "{strings}");
        assert_eq!(store.stats().rejected_records, 100_000);
    }

    #[test]
    fn a_large_resource_or_severity_counts_against_the_byte_budget() {
        use crate::model::{KeyValue, Value};
        let store = LogStore::bounded(1_000_000, 10 << 20);
        // One resource of 100 attributes of 30 KB, shared by every record: 3 MB a record, counted.
        let resource = Arc::new(Resource {
            attributes: (0..100)
                .map(|k| KeyValue {
                    key: format!("k{k}").into(),
                    value: Value::Str("x".repeat(30_000).into()),
                })
                .collect(),
        });
        for n in 0..100 {
            let mut one = record(n, TraceRef::None, "x");
            one.resource = resource.clone();
            store.insert(vec![one]);
        }
        let stored = store.stats().stored;
        assert!((1..=4).contains(&stored), "{stored}");
        // A sender's severity text is cut as it is converted.
        let request = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                scope_logs: vec![ScopeLogs {
                    log_records: vec![OtlpRecord {
                        severity_text: "E".repeat(1 << 20),
                        ..OtlpRecord::default()
                    }],
                    ..ScopeLogs::default()
                }],
                ..ResourceLogs::default()
            }],
        };
        let converted = crate::logs::from_request(&request, store.interner(), 1);
        assert_eq!(converted.records[0].severity_text.len(), 32);
    }

    #[test]
    fn the_byte_budget_evicts_too() {
        let store = LogStore::bounded(1_000_000, 100_000);
        for n in 0..1000 {
            store.insert(vec![record(n, TraceRef::None, &"y".repeat(1000))]);
        }
        let stats = store.stats();
        assert!(stats.stored < 100, "{stats:?}");
        assert_eq!(stats.accepted, stats.stored + stats.evicted);
    }
}
