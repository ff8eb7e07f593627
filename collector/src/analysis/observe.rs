//! Observing a batch: each span counted into the stats, the map and the deployments as it arrives, and the
//! traces that may hold errors or repeats noted for settling.

use std::time::Instant;

use rustc_hash::FxHashMap;

use super::{
    Analysis, DATADOG_SCOPE, MAX_ADDRESSES, MAX_EDGES, MAX_ENDPOINTS, MAX_SERVICES, MAX_VERSIONS,
    State, remember, service_of,
};
use crate::model::{SpanId, SpanRead, Str};
use crate::semconv::{self, Peer};

/// Client spans and server spans waiting for their counterpart, to learn which address is which service.
const MAX_WAITING: usize = 50_000;
/// Spans ending further than this in the future (by the collector's clock) do not move the windows' end: a
/// sender whose clock is off by minutes, or one span stamped an hour ahead, would otherwise empty every window
/// of a shared collector. A few seconds cover clocks that disagree a little and spans that are still arriving.
pub(crate) const MAX_SKEW_NS: u64 = 30_000_000_000;

impl Analysis {
    /// Counts a batch of spans into the stats, the map and the deployments, and notes the traces that may
    /// hold errors or repeats for [`Analysis::settle`].
    pub fn observe<S: SpanRead>(&self, spans: &[S]) {
        let now = Instant::now();
        // Datadog's tracers name a client span after what it calls (`sqlite`, `postgres`), so its caller is
        // its parent's service. Their payloads carry whole traces, so the parent is in the same batch.
        let datadog = spans
            .iter()
            .any(|span| &*span.scope().name == DATADOG_SCOPE);
        let services: FxHashMap<SpanId, &Str> = if datadog {
            spans
                .iter()
                .filter_map(|span| Some((span.span_id(), service_of(span)?)))
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
            let caller = match span.parent_span_id() {
                Some(parent) if datadog && &*span.scope().name == DATADOG_SCOPE => {
                    match services.get(&parent) {
                        Some(service) => Caller::Known((*service).clone()),
                        // A partial flush sends finished children before their parent: an earlier payload
                        // may have brought it, or a later one will.
                        None => match state.datadog_services.get(&parent) {
                            Some(service) => Caller::Known(service.clone()),
                            None if super::is_datadog_client(span) => Caller::Later(parent),
                            None => Caller::Own,
                        },
                    }
                }
                _ => Caller::Own,
            };
            state.observe(span, caller, now, horizon_ns);
        }
        if datadog {
            for span in spans.iter().filter(|s| &*s.scope().name == DATADOG_SCOPE) {
                let Some(service) = service_of(span) else {
                    continue;
                };
                state.adopt_orphans(span.span_id(), service);
                state.remember_datadog_service(span.span_id(), service.clone());
            }
        }
    }
}

/// Whose call a client span's is: its own service's, a known caller's, or (a Datadog integration span whose
/// parent has not arrived) its parent's, once the parent arrives.
pub(super) enum Caller {
    Own,
    Known(Str),
    Later(SpanId),
}

/// A Datadog integration's call waiting for its parent's service (see [`Caller::Later`]).
pub(super) struct Orphan {
    own: Str,
    peer: Peer,
    end_ns: u64,
    duration_ns: u64,
    error: bool,
    at: Instant,
}

/// Parents whose calls a waiting trace tallies; a trace calling out from more is read back whole when it
/// settles, whatever its tallies.
const MAX_FAN_OUT: usize = 64;

/// How long a call waits for its parent before it is counted as its own service's.
const ORPHAN_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

impl State {
    /// Counts one span; `caller` says whose call it is, when it calls something.
    fn observe(&mut self, span: &impl SpanRead, caller: Caller, now: Instant, horizon_ns: u64) {
        if span.end_ns() <= horizon_ns {
            self.newest_ns = self.newest_ns.max(span.end_ns());
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
            entry.overall.record(span.end_ns(), duration, error);
            if entry.endpoints.len() >= MAX_ENDPOINTS && !entry.endpoints.contains_key(&endpoint) {
                endpoint = self.other_endpoints.clone();
                self.grouped.endpoints += 1;
            }
            if entry.versions.len() >= MAX_VERSIONS && !entry.versions.contains_key(&version) {
                version = self.other_versions.clone();
                self.grouped.versions += 1;
            }
            entry.endpoints.entry(endpoint.clone()).or_default().record(
                span.end_ns(),
                duration,
                error,
            );
            entry.record_version(
                (version.clone(), &endpoint),
                span,
                (duration, error),
                (&mut self.version_starts, &mut self.fresh),
            );
            // A request whose trace is waiting to settle: whether it loops is not known yet.
            if let Some(pending) = self.pending.get_mut(&span.trace_id()) {
                pending.requests.push((service.clone(), version));
            }
            if let Some(parent) = span.parent_span_id() {
                self.learn_from_server(parent, &service);
            }
        }
        let peer = self.names.peer(span);
        let repeatable = matches!(peer, Some(Peer::Database(_)))
            || (peer.is_some() && semconv::http_method(span).is_some());
        if let Some(peer) = peer {
            let service = match caller {
                Caller::Own => service,
                Caller::Known(caller) => caller,
                Caller::Later(parent) => {
                    let orphan = Orphan {
                        own: service,
                        peer: peer.clone(),
                        end_ns: span.end_ns(),
                        duration_ns: duration,
                        error,
                        at: now,
                    };
                    self.datadog_orphans.entry(parent).or_default().push(orphan);
                    self.datadog_orphans_order.push_back(parent);
                    self.release_orphans(now);
                    return self.note_pending(span, error, repeatable, now);
                }
            };
            if let Peer::Address(address) = &peer {
                self.learn_from_client(span.span_id(), &service, address);
            }
            self.record_edge(service, peer, span.end_ns(), duration, error);
        }
        self.note_pending(span, error, repeatable, now);
    }

    /// Counts a call on the map.
    fn record_edge(&mut self, service: Str, peer: Peer, end_ns: u64, duration: u64, error: bool) {
        let mut key = (service, peer);
        if self.edges.len() >= MAX_EDGES && !self.edges.contains_key(&key) {
            key.1 = Peer::Address(self.other_peers.clone());
            self.grouped.peers += 1;
        }
        self.edges
            .entry(key)
            .or_default()
            .record(end_ns, duration, error);
    }

    fn remember_datadog_service(&mut self, span_id: SpanId, service: Str) {
        remember(
            &mut self.datadog_services,
            &mut self.datadog_services_order,
            span_id,
            service,
            MAX_WAITING,
        );
    }

    /// The calls waiting for `parent`, which has arrived: counted as its service's.
    fn adopt_orphans(&mut self, parent: SpanId, service: &Str) {
        for orphan in self.datadog_orphans.remove(&parent).unwrap_or_default() {
            self.record_edge(
                service.clone(),
                orphan.peer,
                orphan.end_ns,
                orphan.duration_ns,
                orphan.error,
            );
        }
    }

    /// Counts as their own service's the calls that waited too long for their parent, or past the most
    /// that may wait, so none is lost.
    pub(super) fn release_orphans(&mut self, now: Instant) {
        while let Some(&parent) = self.datadog_orphans_order.front() {
            let waiting = self.datadog_orphans.get(&parent);
            let overdue = waiting.is_none_or(|orphans| {
                orphans
                    .first()
                    .is_none_or(|o| now.duration_since(o.at) >= ORPHAN_WAIT)
            });
            if !overdue && self.datadog_orphans_order.len() <= MAX_WAITING {
                break;
            }
            self.datadog_orphans_order.pop_front();
            for orphan in self.datadog_orphans.remove(&parent).unwrap_or_default() {
                self.record_edge(
                    orphan.own,
                    orphan.peer,
                    orphan.end_ns,
                    orphan.duration_ns,
                    orphan.error,
                );
            }
        }
    }

    /// Notes a span's trace for settling when it may hold an error or a repeat, or arrived late.
    fn note_pending(&mut self, span: &impl SpanRead, error: bool, repeatable: bool, now: Instant) {
        let duration = span.duration_ns();
        let root = span.parent_span_id().is_none();
        let late = self.done.contains_key(&span.trace_id());
        if error || repeatable || late {
            let pending = self.pending.entry(span.trace_id()).or_default();
            pending.touched = Some(now);
            pending.error |= error;
            // A trace analysed before had its root then (or waited long enough for it).
            pending.root |= root || late;
            pending.late |= late;
            if repeatable
                && !pending.repeats
                && let Some(parent) = span.parent_span_id()
            {
                let tally = match pending
                    .fan_out
                    .iter_mut()
                    .position(|(p, _, _)| *p == parent)
                {
                    Some(at) => &mut pending.fan_out[at],
                    None => {
                        pending.fan_out.push((parent, 0, 0));
                        pending.fan_out.last_mut().expect("just pushed")
                    }
                };
                tally.1 += 1;
                tally.2 = tally.2.saturating_add(duration);
                let (count, total) = (tally.1 as usize, tally.2);
                // Once one parent may hold a repeat the trace is read anyway, so the tallies are done with;
                // a trace calling out from more parents than are tallied is read too (the search stays
                // linear in its spans).
                if self.settings.n_plus_one.may_find(count, total)
                    || pending.fan_out.len() > MAX_FAN_OUT
                {
                    pending.repeats = true;
                    pending.fan_out = Vec::new();
                }
            }
        } else if let Some(pending) = self.pending.get_mut(&span.trace_id()) {
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

    /// A partial flush sends a Datadog integration's span before its parent: its call is its parent's
    /// service's once the parent arrives, and its own if the parent never does (so none is lost).
    #[test]
    fn a_datadog_call_sent_before_its_parent_is_its_parents_call() {
        use crate::model::Scope;
        let datadog = Arc::new(Scope {
            name: "datadog".into(),
            version: None,
        });
        let call = |trace: u128, parent: u64| {
            let mut span = span(trace, 2)
                .parent(parent)
                .service("sqlite")
                .kind(SpanKind::Client)
                .text("db.system.name", "sqlite")
                .text("db.query.text", "SELECT 1")
                .at(1_000, 2_000);
            span.scope = datadog.clone();
            span
        };
        let mut web = span(1, 1)
            .service("dd-shop")
            .kind(SpanKind::Server)
            .at(0, 3_000);
        web.scope = datadog.clone();
        let analysis = Analysis::default();
        analysis.observe(&[call(1, 1), call(2, 99)]);
        analysis.observe(&[web]);
        let edges = |analysis: &Analysis| -> Vec<(String, String, u64)> {
            let mut edges: Vec<_> = (analysis.map(Window::All).edges.into_iter())
                .map(|e| (e.from, e.to, e.calls))
                .collect();
            edges.sort();
            edges
        };
        assert_eq!(edges(&analysis), [("dd-shop".into(), "sqlite".into(), 1)]);
        // The other call's parent never comes: once it has waited long enough, it counts as its own.
        analysis.flush(&crate::store::Store::new(10));
        assert_eq!(
            edges(&analysis),
            [
                ("dd-shop".into(), "sqlite".into(), 1),
                ("sqlite".into(), "sqlite".into(), 1)
            ]
        );
    }

    /// Every request of the broken discounts service loops: the share says 100 %, counting only requests
    /// whose trace has been worked out, and says how many are still being worked out.
    #[test]
    fn a_version_whose_every_request_loops_shows_100_percent() {
        use crate::workshop::{self, Workshop};
        let analysis = Analysis::default();
        let store = crate::store::Store::new(100_000);
        let spans = workshop::generate(Workshop::Broken, 20, 1_790_000_000_000_000_000);
        analysis.observe(&spans);
        store.insert(spans);
        let discounts = |analysis: &Analysis| {
            (analysis.deployments().into_iter())
                .find(|d| d.service == "discounts-service")
                .unwrap()
        };
        let waiting = discounts(&analysis);
        assert!(waiting.requests > 0);
        assert_eq!(waiting.settling, waiting.requests, "{waiting:?}");
        assert_eq!(waiting.n_plus_one, 0);
        analysis.flush(&store);
        let settled = discounts(&analysis);
        assert_eq!(settled.settling, 0);
        assert_eq!(settled.n_plus_one, settled.requests);
        assert_eq!(settled.n_plus_one_share, 1.0);
    }

    /// Observing spans through another [`crate::model::SpanRead`] type (here borrowed spans) counts the same.
    #[test]
    fn spans_read_through_references_count_the_same() {
        use crate::workshop::{self, Workshop};
        let spans = workshop::generate(Workshop::Broken, 20, 1_790_000_000_000_000_000);
        let owned = Analysis::default();
        owned.observe(&spans);
        let borrowed = Analysis::default();
        borrowed.observe(&spans.iter().collect::<Vec<_>>());
        let figures = |a: &Analysis| {
            format!(
                "{:?} {:?} {:?} {}",
                a.services(Window::All, protocol::Sort::Name),
                a.map(Window::All),
                a.deployments(),
                a.settling_errors()
            )
        };
        assert_eq!(figures(&owned), figures(&borrowed));
    }
}
