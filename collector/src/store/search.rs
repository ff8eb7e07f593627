//! Searching the stored traces ([`Store::search`]) by what a [`TraceQuery`] asks, through the time index or a
//! service's.

use std::ops::Bound;
use std::sync::Arc;

use crate::model::TraceId;

use super::index::bit;
use super::{Store, Trace};

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

impl Store {
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
            .map(|service| index.by_service.get(service).map_or(0, |seqs| seqs.len()));
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
}
