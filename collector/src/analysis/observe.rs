//! Observing a batch: each span counted into the stats, the map and the deployments as it arrives, and the
//! traces that may hold errors or repeats noted for settling.

use std::time::Instant;

use rustc_hash::FxHashMap;

use super::{Analysis, MAX_ENDPOINTS, State, remember, service_of};
use crate::model::{Span, SpanId, Str};
use crate::semconv::{self, Peer};

/// Client spans and server spans waiting for their counterpart, to learn which address is which service.
const MAX_WAITING: usize = 50_000;
/// Spans ending further than this in the future (by the collector's clock) do not move the windows' end: a
/// sender whose clock is off by minutes, or one span stamped an hour ahead, would otherwise empty every window
/// of a shared collector. A few seconds cover clocks that disagree a little and spans that are still arriving.
pub(crate) const MAX_SKEW_NS: u64 = 30_000_000_000;

/// The scope the Datadog receiver gives the spans it converts.
const DATADOG_SCOPE: &str = "datadog";

impl Analysis {
    /// Counts a batch of spans into the stats, the map and the deployments, and notes the traces that may
    /// hold errors or repeats for [`Analysis::settle`].
    pub fn observe(&self, spans: &[Span]) {
        let now = Instant::now();
        // Datadog's tracers name a client span after what it calls (`sqlite`, `postgres`), so its caller is
        // its parent's service. Their payloads carry whole traces, so the parent is in the same batch.
        let datadog = spans.iter().any(|span| &*span.scope.name == DATADOG_SCOPE);
        let services: FxHashMap<SpanId, &Str> = if datadog {
            spans
                .iter()
                .filter_map(|span| Some((span.span_id, service_of(span)?)))
                .collect()
        } else {
            FxHashMap::default()
        };
        let horizon_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            .saturating_add(MAX_SKEW_NS);
        let mut state = self.state.lock();
        for span in spans {
            let caller = match span.parent_span_id {
                Some(parent) if datadog && &*span.scope.name == DATADOG_SCOPE => {
                    services.get(&parent).copied()
                }
                _ => None,
            };
            state.observe(span, caller, now, horizon_ns);
        }
    }
}

impl State {
    /// Counts one span; `caller` overrides its own service as the caller of what it calls.
    fn observe(&mut self, span: &Span, caller: Option<&Str>, now: Instant, horizon_ns: u64) {
        if span.end_ns <= horizon_ns {
            self.newest_ns = self.newest_ns.max(span.end_ns);
        } else {
            self.future_spans += 1;
        }
        let service = match service_of(span) {
            Some(name) => name.clone(),
            None => self.unknown_service.clone(),
        };
        let error = semconv::is_error(span);
        let duration = span.duration_ns();
        if semconv::is_entry(span) {
            let mut endpoint = self.names.endpoint(span);
            let version = self.version_of(span);
            let entry = self.services.entry(service.clone()).or_default();
            entry.overall.record(span.end_ns, duration, error);
            if entry.endpoints.len() >= MAX_ENDPOINTS && !entry.endpoints.contains_key(&endpoint) {
                endpoint = self.other_endpoints.clone();
            }
            entry
                .endpoints
                .entry(endpoint)
                .or_default()
                .record(span.end_ns, duration, error);
            entry.record_version(version, span, duration, error);
            if let Some(parent) = span.parent_span_id {
                self.learn_from_server(parent, &service);
            }
        }
        let peer = self.names.peer(span);
        let repeatable = matches!(peer, Some(Peer::Database(_)))
            || (peer.is_some() && semconv::http_method(span).is_some());
        if let Some(peer) = peer {
            let service = caller.cloned().unwrap_or(service);
            if let Peer::Address(address) = &peer {
                self.learn_from_client(span.span_id, &service, address);
            }
            self.edges
                .entry((service, peer))
                .or_default()
                .record(span.end_ns, duration, error);
        }
        let root = span.parent_span_id.is_none();
        let late = self.done.contains_key(&span.trace_id);
        if error || repeatable || late {
            let pending = self.pending.entry(span.trace_id).or_default();
            pending.touched = Some(now);
            pending.error |= error;
            // A trace analysed before had its root then (or waited long enough for it).
            pending.root |= root || late;
            pending.late |= late;
            if repeatable && let Some(parent) = span.parent_span_id {
                match pending.fan_out.iter_mut().find(|(p, _, _)| *p == parent) {
                    Some((_, count, total)) => {
                        *count += 1;
                        *total += duration;
                    }
                    None => pending.fan_out.push((parent, 1, duration)),
                }
            }
        } else if let Some(pending) = self.pending.get_mut(&span.trace_id) {
            pending.touched = Some(now);
            pending.root |= root;
        }
    }

    fn learn_from_server(&mut self, parent: SpanId, service: &Str) {
        match self.waiting_clients.remove(&parent) {
            Some((caller, address)) if caller != *service => {
                self.addresses.insert(address, service.clone());
            }
            Some(_) => {}
            None => remember(
                &mut self.waiting_servers,
                &mut self.waiting_servers_order,
                parent,
                service.clone(),
                MAX_WAITING,
            ),
        }
    }

    fn learn_from_client(&mut self, span_id: SpanId, service: &Str, address: &Str) {
        match self.waiting_servers.remove(&span_id) {
            Some(callee) if callee != *service => {
                self.addresses.insert(address.clone(), callee);
            }
            Some(_) => {}
            None => remember(
                &mut self.waiting_clients,
                &mut self.waiting_clients_order,
                span_id,
                (service.clone(), address.clone()),
                MAX_WAITING,
            ),
        }
    }
}
