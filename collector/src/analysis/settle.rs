//! Settling: once a noted trace has been quiet for the settle time, it is read back from the store whole and its
//! errors and N+1 findings are worked out, counting nothing twice when late spans bring it back.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::results::{NPlusOne, Statement};
use super::{Analysis, Done, FindingEntry, MAX_GROUPS, State, remember, trace};
use crate::model::{Span, Str, TraceId};
use crate::store::Store;

/// How many traces each finding remembers as examples and as already counted.
const FINDING_MEMORY: usize = 256;
/// Traces remembered as analysed, with the number of spans that were, so late spans are read alone. Late
/// spans come seconds after their trace (a tracer's partial flush, an exporter's batch delay; a Datadog
/// integration's call waits 30 s for its parent): 25,000 traces cover half a minute at 800 traces a second, far
/// past a shop's rate. Each costs about 65 bytes (the map's and the queue's room), so
/// the 100,000 this was cost 8 bytes of each of a full store's million spans.
const MAX_DONE: usize = 25_000;
/// Traces that may wait to settle (each a hundred bytes or so, and its tallies): past it, all are worked out at
/// once ([`Analysis::settle_if_crowded`]). A shop's traces settle long before that many wait; a load test's
/// may be read before they are whole, and are read again when the rest comes, as late spans are.
pub const MAX_PENDING: usize = 10_000;
/// Traces the waiting table keeps room for however empty it is (about 100 bytes each).
const MIN_PENDING_ROOM: usize = 4096;
/// A trace whose root has not arrived waits this many settle times before it is analysed anyway.
const ROOTLESS_WAIT: u32 = 5;

impl Analysis {
    /// Works out errors and N+1 findings of the traces that have been quiet for the settle time, reading
    /// them from `store`. Returns how many traces were read.
    pub fn settle(&self, store: &Store) -> usize {
        self.settle_before(store, Instant::now())
    }

    /// [`Analysis::settle`] at once when more than [`MAX_PENDING`] traces wait, rather than at the next tick:
    /// the ingest writer calls it after every batch, so under any load the waiting table holds at most the
    /// cap and one batch's traces. Returns how many traces were read (0 when few wait).
    pub fn settle_if_crowded(&self, store: &Store) -> usize {
        if self.state.lock().pending.len() > MAX_PENDING {
            self.settle(store)
        } else {
            0
        }
    }

    /// Works out every noted trace now, quiet or not: for a report at the end of a run, and for tests.
    pub fn flush(&self, store: &Store) -> usize {
        self.settle_before(store, Instant::now() + Duration::from_secs(3600))
    }

    fn settle_before(&self, store: &Store, now: Instant) -> usize {
        let (due, n_plus_one) = {
            let mut state = self.state.lock();
            // Calls whose parent never came are counted as their own service's, in time for the map.
            state.release_orphans(now);
            let settle = state.settings.settle;
            let mut due = Vec::new();
            let n_plus_one = state.settings.n_plus_one;
            // Past the most that may wait, every trace is worked out now, quiet or not: one that was not whole
            // is read again when the rest comes, as any trace with late spans is.
            let crowded = state.pending.len() > MAX_PENDING;
            state.pending.retain(|id, pending| {
                let wait = if pending.root {
                    settle
                } else {
                    settle * ROOTLESS_WAIT
                };
                let quiet = crowded || pending.touched.is_none_or(|touched| touched + wait <= now);
                if !quiet {
                    return true;
                }
                if pending.error || pending.repeats || pending.late {
                    due.push(*id);
                }
                false
            });
            // A burst leaves the table as large as its peak: give the room back once it is mostly empty.
            let pending = &mut state.pending;
            if pending.capacity() > 4 * pending.len().max(MIN_PENDING_ROOM) {
                pending.shrink_to(2 * pending.len());
            }
            (due, n_plus_one)
        };
        // Reading and analysing happen without the lock; only the results are merged under it.
        let mut read = 0;
        for id in due {
            let Some(stored) = store.trace(&id) else {
                continue;
            };
            read += 1;
            let spans = stored.to_vec();
            let repeats = trace::find_repeats(&spans, &n_plus_one);
            let mut state = self.state.lock();
            state.analyse_trace(id, &spans, repeats);
        }
        read
    }
}

impl State {
    /// Errors and repeats of one whole trace. Spans read before (a trace that got late spans) are not
    /// counted again.
    fn analyse_trace(&mut self, id: TraceId, spans: &[Span], repeats: Vec<trace::Repeat>) {
        let (already, counted) = self
            .done
            .get(&id)
            .map(|done| (done.spans, done.n_plus_one.clone()))
            .unwrap_or_default();
        remember(
            &mut self.done,
            &mut self.done_order,
            id,
            Done {
                spans: spans.len(),
                n_plus_one: counted,
            },
            MAX_DONE,
        );
        let trace_start = spans.iter().map(|s| s.start_ns).min().unwrap_or(0);
        let trace_end = spans.iter().map(|s| s.end_ns).max().unwrap_or(0);
        let trace_ns = trace_end.saturating_sub(trace_start).max(1);

        self.record_errors(id, spans, already);

        // N+1.
        let repeats: Vec<(trace::Repeat, Option<&Span>, Str)> = repeats
            .into_iter()
            .filter(|repeat| !repeat.statements.is_empty())
            .map(|repeat| {
                let entry_span = repeat
                    .entry_span_id
                    .and_then(|entry| spans.iter().find(|s| s.span_id == entry));
                let endpoint = match entry_span {
                    Some(entry) => self.names.endpoint(entry),
                    None => Str::from(""),
                };
                (repeat, entry_span, endpoint)
            })
            .collect();
        if already > 0 {
            self.refile_loops(id, &repeats);
        }
        // The (service, version, end) of each request found with a loop, for the deployments.
        let mut requests: Vec<(Str, Str, u64)> = Vec::new();
        for (repeat, entry_span, mut endpoint) in repeats {
            let first = &repeat.statements[0];
            if endpoint.is_empty() {
                // No entry span of the service above the loop: most often one not in yet (a trace read before
                // all its spans, for a report at the end of a run). The same loop found with its endpoint is
                // the likelier place than a finding of its own; a later reading refiles it.
                if let Some(((_, known, _), _)) = self
                    .findings
                    .iter()
                    .filter(|((service, known, statement), _)| {
                        *service == repeat.service
                            && !known.is_empty()
                            && *statement == first.statement
                    })
                    .max_by(|(ka, a), (kb, b)| {
                        a.finding.count.cmp(&b.finding.count).then(kb.1.cmp(&ka.1))
                    })
                {
                    endpoint = known.clone();
                }
            }
            // The request: its service's entry span, or the loop's first statement without one.
            let request = entry_span.or_else(|| {
                let statement = first.span_ids.first()?;
                spans.iter().find(|s| s.span_id == *statement)
            });
            if let Some(span) = request {
                let version = self.version_of(span);
                if !requests
                    .iter()
                    .any(|(s, v, _)| *s == repeat.service && *v == version)
                {
                    requests.push((repeat.service.clone(), version, span.end_ns));
                }
            }
            let key = (
                repeat.service.clone(),
                endpoint.clone(),
                first.statement.clone(),
            );
            if !self.findings.contains_key(&key) && self.findings.len() >= MAX_GROUPS {
                self.dropped_groups += 1;
                continue;
            }
            let entry = self.findings.entry(key).or_insert_with(|| FindingEntry {
                finding: NPlusOne {
                    fingerprint: fingerprint(&repeat.service, &endpoint, &first.statement),
                    kind: match repeat.kind {
                        trace::RepeatKind::Database => "database".to_owned(),
                        trace::RepeatKind::Http => "http".to_owned(),
                    },
                    service: repeat.service.to_string(),
                    endpoint: endpoint.to_string(),
                    query: first.statement.clone(),
                    db_system: repeat.db_system.as_deref().map(str::to_owned),
                    repeats: 0,
                    total_ms: 0.0,
                    latest_ms: 0.0,
                    share: 0.0,
                    count: 0,
                    traces: Vec::new(),
                    statements: Vec::new(),
                    location: None,
                },
                seen: VecDeque::new(),
            });
            let total_ms = repeat.total_ns as f64 / 1e6;
            let share = (repeat.total_ns as f64 / trace_ns as f64).min(1.0);
            let finding = &mut entry.finding;
            if !entry.seen.contains(&id) {
                entry.seen.push_back(id);
                if entry.seen.len() > FINDING_MEMORY {
                    entry.seen.pop_front();
                }
                finding.count += 1;
                // Running means over the traces counted.
                let n = finding.count as f64;
                finding.total_ms += (total_ms - finding.total_ms) / n;
                finding.share += (share - finding.share) / n;
                finding.traces.retain(|t| *t != id.to_string());
                finding.traces.insert(0, id.to_string());
                finding.traces.truncate(10);
            }
            finding.repeats = finding.repeats.max(first.repeats as u64);
            finding.latest_ms = total_ms;
            finding.statements = repeat
                .statements
                .iter()
                .map(|s| Statement {
                    query: s.statement.clone(),
                    repeats: s.repeats as u64,
                    total_ms: s.total_ns as f64 / 1e6,
                })
                .collect();
            finding.location = repeat
                .location
                .clone()
                .map(|(file, line)| protocol::CodeLocation { file, line });
        }
        self.count_n_plus_one_requests(id, requests);
    }

    /// A trace read again: takes it out of the findings an earlier reading filed its loops under when their
    /// endpoint was not known yet (no endpoint, or the likeliest one), where this reading knows it otherwise.
    fn refile_loops(&mut self, id: TraceId, repeats: &[(trace::Repeat, Option<&Span>, Str)]) {
        let known: Vec<(&Str, &Str, &str)> = repeats
            .iter()
            .filter(|(_, _, endpoint)| !endpoint.is_empty())
            .map(|(repeat, _, endpoint)| {
                (
                    &repeat.service,
                    endpoint,
                    repeat.statements[0].statement.as_str(),
                )
            })
            .collect();
        if known.is_empty() {
            return;
        }
        let stale: Vec<(Str, Str, String)> = self
            .findings
            .iter()
            .filter(|((service, endpoint, statement), entry)| {
                entry.seen.contains(&id)
                    && known
                        .iter()
                        .any(|(s, _, q)| *s == service && *q == statement.as_str())
                    && !known.iter().any(|(s, e, q)| {
                        *s == service && *e == endpoint && *q == statement.as_str()
                    })
            })
            .map(|(key, _)| key.clone())
            .collect();
        let text = id.to_string();
        for key in stale {
            let Some(entry) = self.findings.get_mut(&key) else {
                continue;
            };
            entry.seen.retain(|t| *t != id);
            entry.finding.traces.retain(|t| *t != text);
            entry.finding.count = entry.finding.count.saturating_sub(1);
            if entry.finding.count == 0 {
                self.findings.remove(&key);
            }
        }
    }
}

/// A short, stable id for an N+1 finding.
fn fingerprint(service: &str, endpoint: &str, query: &str) -> String {
    // FNV-1a, written out so that the value never changes with a library's hasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in service
        .bytes()
        .chain([0])
        .chain(endpoint.bytes())
        .chain([0])
        .chain(query.bytes())
    {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}
