//! The answers a workshop asks of its traces, computed as spans arrive: request, error and latency stats per
//! service, endpoint and version; the service map; grouped errors with their code location; N+1 findings.
//!
//! Per-span figures (stats, map edges, deployments) are updated by [`Analysis::observe`] from each batch
//! before it is stored. Figures that need a whole trace (which error span of a service is the cause, whether
//! sibling queries repeat) wait until the trace has been quiet for a moment ([`Analysis::settle`]), then read
//! it back from the store — only traces that may hold a finding, as noted while observing. Results are plain
//! data in [`results`], the same field names as the query API.

pub mod layout;
pub mod normalize;
pub mod results;
pub mod stats;
pub mod trace;

/// The span vocabulary, which lives beside the model (the store reads it too); re-exported at its old path.
pub use crate::semconv;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::model::{Span, SpanId, Str, TraceId, Value, attribute_str};
use crate::semconv::{Names, Peer};
use crate::store::Store;
use results::{
    Deployment, ErrorGroup, MapEdge, MapNode, NPlusOne, ServiceMap, ServiceStats, Statement,
};
use stats::{Series, Summary};

/// How long a trace must go without new spans before its errors and N+1 findings are worked out.
pub const DEFAULT_SETTLE: Duration = Duration::from_secs(2);

/// Thresholds, all configurable.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The N+1 thresholds.
    pub n_plus_one: trace::Config,
    /// See [`DEFAULT_SETTLE`].
    pub settle: Duration,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            n_plus_one: trace::Config::default(),
            settle: DEFAULT_SETTLE,
        }
    }
}

/// The window a figure covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Window {
    /// Everything the store holds (give or take the oldest 10-second bucket).
    All,
    /// The last so many nanoseconds up to the newest span received.
    Last(u64),
}

impl Window {
    /// `1m`, `5m`, `15m` or `all`.
    pub fn parse(text: &str) -> Option<Window> {
        const MINUTE: u64 = 60_000_000_000;
        match text {
            "all" => Some(Window::All),
            "1m" => Some(Window::Last(MINUTE)),
            "5m" => Some(Window::Last(5 * MINUTE)),
            "15m" => Some(Window::Last(15 * MINUTE)),
            _ => None,
        }
    }
}

/// How to order services and endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sort {
    /// Slowest p95 first.
    Latency,
    /// Most errors first.
    Errors,
    /// Most requests first.
    Requests,
    /// By name.
    Name,
}

impl Sort {
    pub fn parse(text: &str) -> Option<Sort> {
        match text {
            "latency" => Some(Sort::Latency),
            "errors" => Some(Sort::Errors),
            "requests" => Some(Sort::Requests),
            "name" => Some(Sort::Name),
            _ => None,
        }
    }
}

/// The shared analysis state: the ingest writer updates it, readers (the API, the dashboard, the report)
/// query it. Cheap to clone; clones share one state.
#[derive(Clone)]
pub struct Analysis {
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for Analysis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state.lock();
        f.debug_struct("Analysis")
            .field("services", &state.services.len())
            .field("pending_traces", &state.pending.len())
            .finish()
    }
}

impl Default for Analysis {
    fn default() -> Analysis {
        Analysis::new(Settings::default())
    }
}

#[derive(Default)]
struct ServiceEntry {
    overall: Series,
    endpoints: FxHashMap<Str, Series>,
    versions: FxHashMap<Str, VersionEntry>,
}

struct VersionEntry {
    series: Series,
    /// Its requests in which an N+1 loop was found, at their end (no durations).
    n_plus_one: Series,
    first_seen: u64,
    last_seen: u64,
}

/// A trace worked out already: how many of its spans were read, and the (service, version) pairs it counted
/// as requests with an N+1, so that reading it again for late spans counts nothing twice.
#[derive(Default)]
struct Done {
    spans: usize,
    n_plus_one: Vec<(Str, Str)>,
}

/// A trace seen recently, that may hold errors or repeats once whole.
#[derive(Default)]
struct Pending {
    touched: Option<Instant>,
    error: bool,
    /// Whether its root span has arrived: the root ends last, so until then more spans are likely to come.
    root: bool,
    /// Spans arrived for a trace already analysed.
    late: bool,
    /// Database and HTTP client spans per parent: (parent, count, total duration).
    fan_out: Vec<(SpanId, u32, u64)>,
}

struct FindingEntry {
    finding: NPlusOne,
    /// Traces already counted, newest last, so a trace read twice (late spans) counts once.
    seen: VecDeque<TraceId>,
}

/// How many traces each finding remembers as examples and as already counted.
const FINDING_MEMORY: usize = 256;
/// Error groups and findings kept at most; past it new ones are not opened (counted as dropped).
const MAX_GROUPS: usize = 10_000;
/// Client spans and server spans waiting for their counterpart, to learn which address is which service.
const MAX_WAITING: usize = 50_000;
/// Traces remembered as analysed, with the number of spans that were, so late spans are read alone.
const MAX_DONE: usize = 100_000;
/// A trace whose root has not arrived waits this many settle times before it is analysed anyway.
const ROOTLESS_WAIT: u32 = 5;
/// Endpoints kept apart per service; past it new ones count under [`OTHER_ENDPOINTS`], so that a
/// resource name with ids in it cannot grow the stats without bound.
const MAX_ENDPOINTS: usize = 1000;
const OTHER_ENDPOINTS: &str = "(other endpoints)";
/// Error messages and stack traces are kept up to this many bytes.
const MAX_TEXT: usize = 8 * 1024;
/// Spans ending further than this in the future (by the collector's clock) do not move the windows' end.
const MAX_SKEW_NS: u64 = 3_600_000_000_000;

struct State {
    settings: Settings,
    names: Names,
    services: FxHashMap<Str, ServiceEntry>,
    edges: FxHashMap<(Str, Peer), Series>,
    /// Address → the service that answered there, learned from client spans whose child is a server span.
    addresses: FxHashMap<Str, Str>,
    waiting_clients: FxHashMap<SpanId, (Str, Str)>,
    waiting_clients_order: VecDeque<SpanId>,
    waiting_servers: FxHashMap<SpanId, Str>,
    waiting_servers_order: VecDeque<SpanId>,
    pending: FxHashMap<TraceId, Pending>,
    done: FxHashMap<TraceId, Done>,
    done_order: VecDeque<TraceId>,
    errors: FxHashMap<(Str, String, String, String, u32), ErrorGroup>,
    findings: FxHashMap<(Str, Str, String), FindingEntry>,
    /// The end of the newest span observed: the end of every window.
    newest_ns: u64,
    dropped_groups: u64,
    /// The bucket of the oldest stored time at the last expiry.
    expired_bucket: u64,
    unversioned: Str,
    unknown_service: Str,
    other_endpoints: Str,
}

impl Analysis {
    pub fn new(settings: Settings) -> Analysis {
        Analysis {
            state: Arc::new(Mutex::new(State {
                settings,
                names: Names::default(),
                services: FxHashMap::default(),
                edges: FxHashMap::default(),
                addresses: FxHashMap::default(),
                waiting_clients: FxHashMap::default(),
                waiting_clients_order: VecDeque::new(),
                waiting_servers: FxHashMap::default(),
                waiting_servers_order: VecDeque::new(),
                pending: FxHashMap::default(),
                done: FxHashMap::default(),
                done_order: VecDeque::new(),
                errors: FxHashMap::default(),
                findings: FxHashMap::default(),
                newest_ns: 0,
                dropped_groups: 0,
                expired_bucket: 0,
                unversioned: Str::from("unversioned"),
                unknown_service: Str::from("unknown_service"),
                other_endpoints: Str::from(OTHER_ENDPOINTS),
            })),
        }
    }

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

    /// Works out errors and N+1 findings of the traces that have been quiet for the settle time, reading
    /// them from `store`. Returns how many traces were read.
    pub fn settle(&self, store: &Store) -> usize {
        self.settle_before(store, Instant::now())
    }

    /// Works out every noted trace now, quiet or not: for a report at the end of a run, and for tests.
    pub fn flush(&self, store: &Store) -> usize {
        self.settle_before(store, Instant::now() + Duration::from_secs(3600))
    }

    fn settle_before(&self, store: &Store, now: Instant) -> usize {
        let (due, n_plus_one) = {
            let mut state = self.state.lock();
            let settle = state.settings.settle;
            let mut due = Vec::new();
            let n_plus_one = state.settings.n_plus_one;
            state.pending.retain(|id, pending| {
                let wait = if pending.root {
                    settle
                } else {
                    settle * ROOTLESS_WAIT
                };
                let quiet = pending.touched.is_none_or(|touched| touched + wait <= now);
                if !quiet {
                    return true;
                }
                let repeats = pending.fan_out.iter().any(|(_, count, total)| {
                    *count as usize >= n_plus_one.min_repeats && *total >= n_plus_one.min_total_ns
                });
                if pending.error || repeats || pending.late {
                    due.push(*id);
                }
                false
            });
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

    /// Lets the whole-store figures follow the store: forgets what ended before its oldest trace.
    pub fn expire(&self, oldest_ns: u64) {
        let mut state = self.state.lock();
        // Buckets end on bucket boundaries: nothing can expire until the oldest time crosses one.
        let bucket = oldest_ns / stats::BUCKET_NS;
        if bucket == state.expired_bucket {
            return;
        }
        state.expired_bucket = bucket;
        for entry in state.services.values_mut() {
            entry.overall.expire(oldest_ns);
            entry.endpoints.retain(|_, series| {
                series.expire(oldest_ns);
                !series.is_empty()
            });
            entry.versions.retain(|_, version| {
                version.series.expire(oldest_ns);
                version.n_plus_one.expire(oldest_ns);
                !version.series.is_empty()
            });
        }
        state.services.retain(|_, entry| !entry.overall.is_empty());
        state.edges.retain(|_, series| {
            series.expire(oldest_ns);
            !series.is_empty()
        });
    }

    fn since(state: &State, window: Window) -> u64 {
        match window {
            Window::All => 0,
            Window::Last(ns) => state.newest_ns.saturating_sub(ns),
        }
    }

    /// Services (and the databases and peers they call) with their stats over `window`.
    pub fn services(&self, window: Window, sort: Sort) -> Vec<ServiceStats> {
        let state = self.state.lock();
        let since = Self::since(&state, window);
        let now = state.newest_ns;
        let mut out: Vec<ServiceStats> = state
            .services
            .iter()
            .map(|(name, entry)| {
                ServiceStats::from_summary(name, "service", &entry.overall.summary(since, now))
            })
            .collect();
        // Databases and unresolved peers, from the calls made to them.
        let mut called: FxHashMap<(String, &'static str), Summary> = FxHashMap::default();
        for ((_, peer), series) in &state.edges {
            let (name, kind) = state.node_of(peer);
            if kind == "service" {
                continue;
            }
            called
                .entry((name.to_string(), kind))
                .or_default()
                .merge(&series.summary(since, now));
        }
        out.extend(
            called
                .iter()
                .map(|((name, kind), summary)| ServiceStats::from_summary(name, kind, summary)),
        );
        out.retain(|service| service.requests > 0 || window == Window::All);
        sort_stats(&mut out, sort);
        out
    }

    /// The p95 latency of `service` in each of the last `buckets` 10-second buckets ending at the newest span,
    /// oldest first (0 where it saw no request); `None` for a service never seen.
    pub fn latency_series(&self, service: &str, buckets: usize) -> Option<Vec<f64>> {
        let state = self.state.lock();
        let entry = state.services.get(service)?;
        Some(entry.overall.p95_series(state.newest_ns, buckets))
    }

    /// The endpoints of `service` with their stats over `window`; `None` for a service never seen.
    pub fn endpoints(
        &self,
        service: &str,
        window: Window,
        sort: Sort,
    ) -> Option<Vec<ServiceStats>> {
        let state = self.state.lock();
        let since = Self::since(&state, window);
        let now = state.newest_ns;
        let entry = state.services.get(service)?;
        let mut out: Vec<ServiceStats> = entry
            .endpoints
            .iter()
            .map(|(name, series)| {
                ServiceStats::from_summary(name, "endpoint", &series.summary(since, now))
            })
            .filter(|endpoint| endpoint.requests > 0)
            .collect();
        sort_stats(&mut out, sort);
        Some(out)
    }

    /// The service map over `window`: services, databases and peers, the calls between them, and a layered
    /// layout to draw them with.
    pub fn map(&self, window: Window) -> ServiceMap {
        let state = self.state.lock();
        let since = Self::since(&state, window);
        let now = state.newest_ns;
        let mut nodes: Vec<(String, &'static str)> = Vec::new();
        let mut index: FxHashMap<String, usize> = FxHashMap::default();
        let mut node = |name: &str, kind: &'static str, nodes: &mut Vec<(String, &'static str)>| {
            *index.entry(name.to_owned()).or_insert_with(|| {
                nodes.push((name.to_owned(), kind));
                nodes.len() - 1
            })
        };
        let mut services: Vec<&Str> = state.services.keys().collect();
        services.sort();
        for service in services {
            node(service, "service", &mut nodes);
        }
        let mut edges: FxHashMap<(usize, usize), Summary> = FxHashMap::default();
        let mut sorted: Vec<_> = state.edges.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(b.0));
        for ((from, peer), series) in sorted {
            let summary = series.summary(since, now);
            if summary.count == 0 {
                continue;
            }
            let from = node(from, "service", &mut nodes);
            let (name, kind) = state.node_of(peer);
            let to = node(&name, kind, &mut nodes);
            edges.entry((from, to)).or_default().merge(&summary);
        }
        let mut edges: Vec<((usize, usize), Summary)> = edges.into_iter().collect();
        edges.sort_by_key(|(key, _)| *key);
        let pairs: Vec<(usize, usize)> = edges.iter().map(|(key, _)| *key).collect();
        let places = layout::layered(nodes.len(), &pairs);
        ServiceMap {
            nodes: nodes
                .iter()
                .zip(places)
                .map(|((name, kind), place)| MapNode {
                    id: name.clone(),
                    name: name.clone(),
                    kind: (*kind).to_owned(),
                    rank: place.rank,
                    order: place.order,
                })
                .collect(),
            edges: edges
                .iter()
                .map(|((from, to), summary)| MapEdge {
                    from: nodes[*from].0.clone(),
                    to: nodes[*to].0.clone(),
                    calls: summary.count,
                    rps: summary.count as f64 / (summary.covered_ns as f64 / 1e9).max(1.0),
                    errors: summary.errors,
                    p95_ms: summary.quantile_ms(0.95),
                })
                .collect(),
        }
    }

    /// Error groups, most frequent first.
    pub fn errors(&self) -> Vec<ErrorGroup> {
        let state = self.state.lock();
        let mut out: Vec<ErrorGroup> = state.errors.values().cloned().collect();
        out.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then(b.last_seen.cmp(&a.last_seen))
                .then(a.service.cmp(&b.service))
        });
        out
    }

    /// N+1 findings, the most costly first.
    pub fn n_plus_one(&self) -> Vec<NPlusOne> {
        let state = self.state.lock();
        let mut out: Vec<NPlusOne> = state
            .findings
            .values()
            .map(|entry| entry.finding.clone())
            .collect();
        out.sort_by(|a, b| {
            (b.total_ms * b.count as f64)
                .total_cmp(&(a.total_ms * a.count as f64))
                .then(a.fingerprint.cmp(&b.fingerprint))
        });
        out
    }

    /// Stats per (service, version), oldest version first within a service.
    pub fn deployments(&self) -> Vec<Deployment> {
        let state = self.state.lock();
        let mut out = Vec::new();
        for (service, entry) in &state.services {
            for (version, v) in &entry.versions {
                let summary = v.series.summary(0, state.newest_ns);
                out.push(Deployment {
                    service: service.to_string(),
                    version: version.to_string(),
                    first_seen: v.first_seen,
                    last_seen: v.last_seen,
                    requests: summary.count,
                    errors: summary.errors,
                    error_rate: summary.error_rate(),
                    p50_ms: summary.quantile_ms(0.5),
                    p95_ms: summary.quantile_ms(0.95),
                    n_plus_one: v.n_plus_one.summary(0, state.newest_ns).count,
                });
            }
        }
        out.sort_by(|a, b| {
            a.service
                .cmp(&b.service)
                .then(a.first_seen.cmp(&b.first_seen))
                .then(a.version.cmp(&b.version))
        });
        out
    }

    /// The end of the newest span observed (unix nanoseconds), 0 before any.
    pub fn newest_ns(&self) -> u64 {
        self.state.lock().newest_ns
    }

    /// Error groups and findings not opened because [`MAX_GROUPS`] were already open.
    pub fn dropped_groups(&self) -> u64 {
        self.state.lock().dropped_groups
    }
}

fn sort_stats(stats: &mut [ServiceStats], sort: Sort) {
    stats.sort_by(|a, b| {
        let primary = match sort {
            Sort::Latency => b.p95_ms.total_cmp(&a.p95_ms),
            Sort::Errors => b
                .errors
                .cmp(&a.errors)
                .then(b.error_rate.total_cmp(&a.error_rate)),
            Sort::Requests => b.requests.cmp(&a.requests),
            Sort::Name => std::cmp::Ordering::Equal,
        };
        primary.then_with(|| a.name.cmp(&b.name))
    });
}

fn remember<K: std::hash::Hash + Eq + Copy, V>(
    map: &mut FxHashMap<K, V>,
    order: &mut VecDeque<K>,
    key: K,
    value: V,
    cap: usize,
) {
    if map.insert(key, value).is_none() {
        order.push_back(key);
        while order.len() > cap {
            if let Some(old) = order.pop_front() {
                map.remove(&old);
            }
        }
    }
}

impl State {
    fn node_of(&self, peer: &Peer) -> (Str, &'static str) {
        match peer {
            Peer::Database(system) => (system.clone(), "database"),
            Peer::Service(name) => (name.clone(), "service"),
            Peer::Address(address) => match self.addresses.get(address) {
                Some(service) => (service.clone(), "service"),
                None => (address.clone(), "external"),
            },
        }
    }

    /// Counts one span; `caller` overrides its own service as the caller of what it calls.
    fn observe(&mut self, span: &Span, caller: Option<&Str>, now: Instant, horizon_ns: u64) {
        if span.end_ns <= horizon_ns {
            self.newest_ns = self.newest_ns.max(span.end_ns);
        }
        let service = match service_of(span) {
            Some(name) => name.clone(),
            None => self.unknown_service.clone(),
        };
        let error = semconv::is_error(span);
        let duration = span.duration_ns();
        if semconv::is_entry(span) {
            let mut endpoint = self.names.endpoint(span);
            let version = match attribute_str(&span.resource.attributes, "service.version") {
                Some(version) => version.clone(),
                None => self.unversioned.clone(),
            };
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
            let v = entry
                .versions
                .entry(version)
                .or_insert_with(|| VersionEntry {
                    series: Series::default(),
                    n_plus_one: Series::default(),
                    first_seen: span.start_ns,
                    last_seen: span.end_ns,
                });
            v.series.record(span.end_ns, duration, error);
            v.first_seen = v.first_seen.min(span.start_ns);
            v.last_seen = v.last_seen.max(span.end_ns);
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

        // Errors: per error span that has no failing child of its own service, the cause.
        let failing_parents: FxHashSet<(SpanId, &str)> = spans
            .iter()
            .filter(|s| semconv::is_error(s))
            .filter_map(|s| Some((s.parent_span_id?, s.service_name())))
            .collect();
        for span in spans.iter().skip(already) {
            if semconv::is_error(span)
                && !failing_parents.contains(&(span.span_id, span.service_name()))
            {
                self.record_error(id, span);
            }
        }

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
                let version = attribute_str(&span.resource.attributes, "service.version")
                    .unwrap_or(&self.unversioned)
                    .clone();
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
                    share: 0.0,
                    count: 0,
                    traces: Vec::new(),
                    statements: Vec::new(),
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
            finding.statements = repeat
                .statements
                .iter()
                .map(|s| Statement {
                    query: s.statement.clone(),
                    repeats: s.repeats as u64,
                    total_ms: s.total_ns as f64 / 1e6,
                })
                .collect();
        }
        // Each request once, however often its trace is read.
        let Some(done) = self.done.get_mut(&id) else {
            return;
        };
        for (service, version, end_ns) in requests {
            if done
                .n_plus_one
                .iter()
                .any(|(s, v)| *s == service && *v == version)
            {
                continue;
            }
            // Counted where the version's requests are (its entry span may not be in yet: then a later
            // reading counts it).
            if let Some(v) = self
                .services
                .get_mut(&service)
                .and_then(|entry| entry.versions.get_mut(&version))
            {
                v.n_plus_one.record(end_ns, 0, false);
                done.n_plus_one.push((service, version));
            }
        }
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

    fn record_error(&mut self, trace_id: TraceId, span: &Span) {
        let exception = span
            .events
            .iter()
            .rev()
            .find(|event| &*event.name == "exception");
        let event_text = |key: &str| {
            exception
                .and_then(|event| crate::model::attribute(&event.attributes, key))
                .and_then(Value::as_str)
        };
        let span_text = |key: &str| span.attribute(key).and_then(Value::as_str);
        let kind = event_text("exception.type")
            .or_else(|| span_text("exception.type"))
            .or_else(|| span_text("error.type"))
            .map(str::to_owned)
            .or_else(|| semconv::http_status(span).map(|code| format!("HTTP {code}")))
            .unwrap_or_else(|| "error".to_owned());
        let message = event_text("exception.message")
            .or_else(|| span_text("exception.message"))
            .or(span.status.message.as_deref())
            .unwrap_or("");
        let message = truncate(message);
        let stack =
            event_text("exception.stacktrace").or_else(|| span_text("exception.stacktrace"));
        let line_of = |value: Option<&Value>| {
            value
                .and_then(Value::as_i64)
                .and_then(|l| u32::try_from(l).ok())
        };
        let event_value =
            |key: &str| exception.and_then(|e| crate::model::attribute(&e.attributes, key));
        let (file, line) = match (
            span_text("code.file.path")
                .or_else(|| span_text("code.filepath"))
                .or_else(|| event_value("code.file.path").and_then(Value::as_str)),
            line_of(span.attribute("code.line.number"))
                .or_else(|| line_of(span.attribute("code.lineno")))
                .or_else(|| line_of(event_value("code.line.number"))),
        ) {
            (Some(file), line) => (file.to_owned(), line.unwrap_or(0)),
            (None, _) => match stack.and_then(normalize::top_project_frame) {
                Some(location) => (location.file, location.line),
                None => (String::new(), 0),
            },
        };
        let service = service_of(span).unwrap_or(&self.unknown_service).clone();
        let key = (
            service.clone(),
            kind.clone(),
            normalize::normalize_message(&message),
            file.clone(),
            line,
        );
        if !self.errors.contains_key(&key) && self.errors.len() >= MAX_GROUPS {
            self.dropped_groups += 1;
            return;
        }
        let group = self.errors.entry(key).or_insert_with(|| ErrorGroup {
            service: service.to_string(),
            r#type: kind,
            message: message.clone(),
            file,
            line,
            count: 0,
            first_seen: span.end_ns,
            last_seen: span.end_ns,
            example_trace_id: trace_id.to_string(),
            example_span_id: span.span_id.to_string(),
            stack: String::new(),
        });
        group.count += 1;
        group.first_seen = group.first_seen.min(span.end_ns);
        if span.end_ns >= group.last_seen {
            group.last_seen = span.end_ns;
            group.message = message;
            group.example_trace_id = trace_id.to_string();
            group.example_span_id = span.span_id.to_string();
            group.stack = truncate(stack.unwrap_or(""));
        }
    }
}

/// `text` cut to at most [`MAX_TEXT`] bytes, on a character boundary.
fn truncate(text: &str) -> String {
    if text.len() <= MAX_TEXT {
        return text.to_owned();
    }
    let mut end = MAX_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// The scope the Datadog receiver gives the spans it converts.
const DATADOG_SCOPE: &str = "datadog";

/// The span's `service.name`, shared.
fn service_of(span: &Span) -> Option<&Str> {
    attribute_str(&span.resource.attributes, "service.name")
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
