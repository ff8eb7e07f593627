//! The answers a workshop asks of its traces, computed as spans arrive: request, error and latency stats per
//! service, endpoint and version; the service map; grouped errors with their code location; N+1 findings.
//!
//! Per-span figures (stats, map edges, deployments) are updated by [`Analysis::observe`] from each batch
//! before it is stored. Figures that need a whole trace (which error span of a service is the cause, whether
//! sibling queries repeat) wait until the trace has been quiet for a moment ([`Analysis::settle`]), then read
//! it back from the store — only traces that may hold a finding, as noted while observing. Results are plain
//! data in [`results`], the same field names as the query API.
//!
//! The work is cut by job: `observe` counts each span, `settle` reads quiet traces back and files their N+1
//! findings, [`errors`] groups errors (and says where one was raised), `deployments` keeps the per-version
//! figures. This module holds the shared state and answers the queries.

mod deployments;
pub mod errors;
pub mod layout;
pub mod normalize;
mod observe;
pub mod results;
mod settle;
pub use settle::MAX_PENDING;
pub mod stats;
mod timeline;
pub mod trace;

/// The span vocabulary, which lives beside the model (the store reads it too); re-exported at its old path.
pub use crate::semconv;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rustc_hash::FxHashMap;

use crate::model::{SpanId, SpanRead, Str, TraceId, attribute_str};
use crate::semconv::{Names, Peer};
use results::{Deployment, ErrorGroup, MapEdge, MapNode, NPlusOne, ServiceMap, ServiceStats};
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

pub use protocol::{Sort, Window};

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
    /// Its requests per endpoint (at most [`deployments::MAX_VERSION_ENDPOINTS`]), to compare versions
    /// endpoint by endpoint.
    endpoints: FxHashMap<Str, Series>,
    /// Its requests in which an N+1 loop was found, at their end (no durations).
    n_plus_one: Series,
    /// Its requests per endpoint between deployments of any service, to show what a fix downstream did.
    timeline: timeline::Timeline,
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
    /// Whether some parent's calls may hold a repeat ([`trace::Config::may_find`]): it is read once quiet.
    repeats: bool,
    /// Database and HTTP client spans per parent, (parent, count, total duration), until `repeats` is known
    /// (then freed), for at most [`MAX_FAN_OUT`] parents.
    fan_out: Vec<(SpanId, u32, u64)>,
    /// The (service, version) of each of its requests observed while it waits: whether they loop is not
    /// known until it settles.
    requests: Vec<(Str, Str)>,
}

struct FindingEntry {
    finding: NPlusOne,
    /// Traces already counted, newest last, so a trace read twice (late spans) counts once.
    seen: VecDeque<TraceId>,
}

/// Error groups and findings kept at most; past it new ones are not opened (counted as dropped).
const MAX_GROUPS: usize = 10_000;

// Cardinality caps. Every name kept apart costs a few series of sketches (about 10 KB), and a sender that puts
// an id in a service name, a version or a resource name would otherwise grow the figures, and every answer
// listing them, without bound. Past a cap a new name's spans are counted under one overflow name per kind (as
// OpenTelemetry's metric SDKs do with `otel.metric.overflow`), and how many were is in [`Grouped`].

/// Services kept apart; past it new ones count under [`OTHER_SERVICES`].
const MAX_SERVICES: usize = 1000;
const OTHER_SERVICES: &str = "(other services)";
/// Versions kept apart per service; past it new ones count under [`OTHER_VERSIONS`].
const MAX_VERSIONS: usize = 100;
const OTHER_VERSIONS: &str = "(other versions)";
/// Endpoints kept apart per service; past it new ones count under [`OTHER_ENDPOINTS`].
const MAX_ENDPOINTS: usize = 1000;
const OTHER_ENDPOINTS: &str = "(other endpoints)";
/// Calls kept apart on the map (caller and callee); past it calls to new callees count under
/// [`OTHER_PEERS`].
const MAX_EDGES: usize = 10_000;
const OTHER_PEERS: &str = "(other peers)";
/// Addresses known to be a service, at most.
const MAX_ADDRESSES: usize = 10_000;

pub use protocol::Grouped;

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
    /// The services of recent Datadog spans, for their children in later payloads (a partial flush).
    datadog_services: FxHashMap<SpanId, Str>,
    datadog_services_order: VecDeque<SpanId>,
    /// Datadog integration calls waiting for their parent (by its id) to say whose they are.
    datadog_orphans: FxHashMap<SpanId, Vec<observe::Orphan>>,
    datadog_orphans_order: VecDeque<SpanId>,
    pending: FxHashMap<TraceId, Pending>,
    done: FxHashMap<TraceId, Done>,
    done_order: VecDeque<TraceId>,
    errors: FxHashMap<(Str, String, String, String, u32), ErrorGroup>,
    findings: FxHashMap<(Str, Str, String), FindingEntry>,
    /// The end of the newest span observed: the end of every window.
    newest_ns: u64,
    /// When each version of each service was first seen: where versions' timelines are cut.
    version_starts: std::collections::BTreeSet<u64>,
    /// The requests every version's timeline holds one by one.
    fresh: timeline::Fresh,
    dropped_groups: u64,
    /// Spans that ended too far in the future to move the windows' end.
    future_spans: u64,
    grouped: Grouped,
    /// The bucket of the oldest stored time at the last expiry.
    expired_bucket: u64,
    unversioned: Str,
    unknown_service: Str,
    other_services: Str,
    other_versions: Str,
    other_endpoints: Str,
    other_peers: Str,
}

/// A service's versions, oldest first.
fn versions_of(entry: &ServiceEntry) -> Vec<(&Str, &VersionEntry)> {
    let mut versions: Vec<(&Str, &VersionEntry)> = entry.versions.iter().collect();
    versions.sort_by(|a, b| a.1.first_seen.cmp(&b.1.first_seen).then(a.0.cmp(b.0)));
    versions
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
                datadog_services: FxHashMap::default(),
                datadog_services_order: VecDeque::new(),
                datadog_orphans: FxHashMap::default(),
                datadog_orphans_order: VecDeque::new(),
                pending: FxHashMap::default(),
                done: FxHashMap::default(),
                done_order: VecDeque::new(),
                errors: FxHashMap::default(),
                findings: FxHashMap::default(),
                newest_ns: 0,
                version_starts: Default::default(),
                fresh: Default::default(),
                dropped_groups: 0,
                future_spans: 0,
                grouped: Grouped::default(),
                expired_bucket: 0,
                unversioned: Str::from("unversioned"),
                unknown_service: Str::from("unknown_service"),
                other_services: Str::from(OTHER_SERVICES),
                other_versions: Str::from(OTHER_VERSIONS),
                other_endpoints: Str::from(OTHER_ENDPOINTS),
                other_peers: Str::from(OTHER_PEERS),
            })),
        }
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
        // The fresh requests of the timelines dropped here no longer count against every timeline's bound.
        let mut released = 0;
        for entry in state.services.values_mut() {
            entry.overall.expire(oldest_ns);
            entry.endpoints.retain(|_, series| {
                series.expire(oldest_ns);
                !series.is_empty()
            });
            entry.versions.retain(|_, version| {
                version.series.expire(oldest_ns);
                version.n_plus_one.expire(oldest_ns);
                let keep = !version.series.is_empty();
                if !keep {
                    released += version.timeline.fresh_held();
                }
                keep
            });
        }
        state.services.retain(|_, entry| {
            let keep = !entry.overall.is_empty();
            if !keep {
                released += (entry.versions.values())
                    .map(|v| v.timeline.fresh_held())
                    .sum::<usize>();
            }
            keep
        });
        state.fresh.held = state.fresh.held.saturating_sub(released);
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
            .map(|(name, entry)| entry.overall.summary(since, now).stats(name, "service"))
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
                .map(|((name, kind), summary)| summary.stats(name, kind)),
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
            .map(|(name, series)| series.summary(since, now).stats(name, "endpoint"))
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

    /// Stats per (service, version), oldest version first within a service, each compared with the version
    /// before it.
    pub fn deployments(&self) -> Vec<Deployment> {
        let state = self.state.lock();
        let mut settling: FxHashMap<(Str, Str), u64> = FxHashMap::default();
        for pending in state.pending.values() {
            for key in &pending.requests {
                *settling.entry(key.clone()).or_default() += 1;
            }
        }
        // The services each service calls, with their versions oldest first.
        let mut called: FxHashMap<&Str, Vec<deployments::Called>> = FxHashMap::default();
        for (caller, peer) in state.edges.keys() {
            let (name, kind) = state.node_of(peer);
            if kind != "service" || name == *caller {
                continue;
            }
            let Some((name, entry)) = state.services.get_key_value(&name) else {
                continue;
            };
            let list = called.entry(caller).or_default();
            if !list.iter().any(|(known, _)| *known == name) {
                list.push((name, versions_of(entry)));
            }
        }
        let mut out = Vec::new();
        for (service, entry) in &state.services {
            let versions = versions_of(entry);
            let mut before: Option<(&Str, &VersionEntry, u64)> = None;
            for (version, v) in versions {
                let summary = v.series.summary(0, state.newest_ns);
                let n_plus_one = v.n_plus_one.summary(0, state.newest_ns).count;
                let settling = (settling.get(&(service.clone(), version.clone())).copied())
                    .unwrap_or(0)
                    .min(summary.count);
                let worked_out = summary.count - settling;
                let change = before
                    .map(|before| deployments::compare(before, (v, worked_out), state.newest_ns));
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
                    n_plus_one,
                    settling,
                    n_plus_one_share: if worked_out == 0 {
                        0.0
                    } else {
                        (n_plus_one as f64 / worked_out as f64).min(1.0)
                    },
                    change,
                    dependencies: called.get(service).map_or_else(Vec::new, |called| {
                        deployments::dependency_changes(v, called, &state.version_starts)
                    }),
                });
                before = Some((version, v, worked_out));
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

    /// Spans that ended more than `MAX_SKEW_NS` after the collector's clock when they arrived: stored and
    /// counted, but they do not move the end of the windows (see `observe`).
    pub fn future_spans(&self) -> u64 {
        self.state.lock().future_spans
    }

    /// Failed traces waiting to settle before their errors are grouped.
    pub fn settling_errors(&self) -> u64 {
        self.state
            .lock()
            .pending
            .values()
            .filter(|p| p.error)
            .count() as u64
    }

    /// Spans counted under an overflow name (`(other services)`, …) because a cardinality cap was reached.
    pub fn grouped(&self) -> Grouped {
        self.state.lock().grouped
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
}

/// The scope the Datadog receiver gives the spans it converts.
const DATADOG_SCOPE: &str = "datadog";

/// Whether a span is one of a Datadog integration's (`sqlite`, `postgres`, `requests`): Datadog's tracers name
/// such a client span's service after what it calls, so what it does belongs to its parent's service.
fn is_datadog_client(span: &impl SpanRead) -> bool {
    &*span.scope().name == DATADOG_SCOPE && span.kind() == crate::model::SpanKind::Client
}

/// The span's `service.name`, shared.
fn service_of(span: &impl SpanRead) -> Option<&Str> {
    attribute_str(&span.resource().attributes, "service.name")
}
