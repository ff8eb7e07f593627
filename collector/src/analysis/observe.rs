//! Observing a batch: each span counted into the stats, the map and the deployments as it arrives, and the
//! traces that may hold errors or repeats noted for settling.

use std::time::Instant;

use rustc_hash::FxHashMap;

use super::{
    Analysis, MAX_ADDRESSES, MAX_EDGES, MAX_ENDPOINTS, MAX_SERVICES, MAX_VERSIONS, State, remember,
    service_of,
};
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
        let service = self.capped_service(service);
        let error = semconv::is_error(span);
        let duration = span.duration_ns();
        if semconv::is_entry(span) {
            let mut endpoint = self.names.endpoint(span);
            let mut version = self.version_of(span);
            let entry = self.services.entry(service.clone()).or_default();
            entry.overall.record(span.end_ns, duration, error);
            if entry.endpoints.len() >= MAX_ENDPOINTS && !entry.endpoints.contains_key(&endpoint) {
                endpoint = self.other_endpoints.clone();
                self.grouped.endpoints += 1;
            }
            if entry.versions.len() >= MAX_VERSIONS && !entry.versions.contains_key(&version) {
                version = self.other_versions.clone();
                self.grouped.versions += 1;
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
            let mut key = (service, peer);
            if self.edges.len() >= MAX_EDGES && !self.edges.contains_key(&key) {
                key.1 = Peer::Address(self.other_peers.clone());
                self.grouped.peers += 1;
            }
            self.edges
                .entry(key)
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

    /// `service`, or [`OTHER_SERVICES`] once [`MAX_SERVICES`] others are kept apart.
    fn capped_service(&mut self, service: Str) -> Str {
        if self.services.len() < MAX_SERVICES || self.services.contains_key(&service) {
            return service;
        }
        self.grouped.services += 1;
        self.other_services.clone()
    }

    /// Notes that `address` is where `service` answers.
    fn learn_address(&mut self, address: Str, service: Str) {
        if self.addresses.len() < MAX_ADDRESSES || self.addresses.contains_key(&address) {
            self.addresses.insert(address, service);
        }
    }

    fn learn_from_server(&mut self, parent: SpanId, service: &Str) {
        match self.waiting_clients.remove(&parent) {
            Some((caller, address)) if caller != *service => {
                self.learn_address(address, service.clone());
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
                self.learn_address(address.clone(), callee);
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

#[cfg(test)]
mod tests {
    use super::super::{Analysis, MAX_EDGES, MAX_VERSIONS, OTHER_PEERS, OTHER_VERSIONS};
    use crate::model::{Resource, SpanKind, Value};
    use crate::testing::{Build as _, span, text};
    use protocol::Window;
    use std::sync::Arc;

    #[test]
    fn versions_and_peers_past_their_caps_count_together_and_are_counted() {
        let analysis = Analysis::default();
        let mut spans = Vec::new();
        for v in 0..MAX_VERSIONS + 50 {
            let resource = Arc::new(Resource {
                attributes: vec![
                    text("service.name", "shop"),
                    text("service.version", &format!("1.{v}")),
                ],
            });
            spans.push(
                span(v as u128 + 1, 1)
                    .resource(&resource)
                    .kind(SpanKind::Server)
                    .text("http.route", "/")
                    .at(1_000, 2_000),
            );
        }
        for peer in 0..MAX_EDGES + 7 {
            spans.push(
                span(1, peer as u64 + 10)
                    .parent(1)
                    .service("shop")
                    .kind(SpanKind::Client)
                    .text("server.address", &format!("host-{peer}"))
                    .attr("server.port", Value::Int(80))
                    .text("http.request.method", "GET")
                    .at(1_000, 2_000),
            );
        }
        analysis.observe(&spans);
        let grouped = analysis.grouped();
        assert_eq!((grouped.versions, grouped.peers), (50, 7));
        let deployments = analysis.deployments();
        assert_eq!(deployments.len(), MAX_VERSIONS + 1);
        let other = deployments
            .iter()
            .find(|d| d.version == OTHER_VERSIONS)
            .unwrap();
        assert_eq!(other.requests, 50);
        let map = analysis.map(Window::All);
        let other = map.edges.iter().find(|e| e.to == OTHER_PEERS).unwrap();
        assert_eq!(other.calls, 7);
    }

    #[test]
    fn failed_traces_count_as_settling_until_their_errors_are_grouped() {
        let analysis = Analysis::default();
        let store = crate::store::Store::new(100);
        let failed: Vec<_> = (1..=2)
            .map(|trace| {
                span(trace, 1)
                    .service("shop")
                    .kind(SpanKind::Server)
                    .failed("boom")
                    .at(1_000, 2_000)
            })
            .collect();
        analysis.observe(&failed);
        store.insert(failed);
        assert_eq!(analysis.settling_errors(), 2);
        analysis.flush(&store);
        assert_eq!(analysis.settling_errors(), 0);
        assert_eq!(analysis.errors().iter().map(|g| g.count).sum::<u64>(), 2);
    }
}
