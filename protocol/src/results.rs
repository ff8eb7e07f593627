//! What the analyses answer: stats, the service map, error groups, N+1 findings and deployments.

use serde::{Deserialize, Serialize};

/// Requests, errors and latency of a service, database, peer or endpoint over a window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceStats {
    pub name: String,
    /// `service` (sends spans), `database` or `external` (known from the calls made to it), or `endpoint`.
    pub kind: String,
    pub requests: u64,
    pub errors: u64,
    pub error_rate: f64,
    /// Requests a second over the time the window's data covers.
    pub rps: f64,
    pub p50_ms: f64,
    pub p75_ms: f64,
    pub p90_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// A box on the service map.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MapNode {
    pub id: String,
    pub name: String,
    /// `service`, `database` or `external`.
    pub kind: String,
    /// The layer, 0 for callers nobody calls.
    pub rank: usize,
    /// The position within the layer.
    pub order: usize,
}

/// Calls from one node to another.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MapEdge {
    pub from: String,
    pub to: String,
    pub calls: u64,
    /// Calls a second over the time the window's data covers.
    #[serde(default)]
    pub rps: f64,
    pub errors: u64,
    pub p95_ms: f64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceMap {
    pub nodes: Vec<MapNode>,
    pub edges: Vec<MapEdge>,
}

/// Errors of one service with the same type, message (normalised) and code location.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorGroup {
    pub service: String,
    pub r#type: String,
    /// The latest occurrence's message.
    pub message: String,
    /// Where in the code, as the span or its stack trace says; empty when unknown.
    pub file: String,
    /// 0 when unknown.
    pub line: u32,
    pub count: u64,
    pub first_seen: u64,
    pub last_seen: u64,
    pub example_trace_id: String,
    pub example_span_id: String,
    /// The latest occurrence's stack trace, when it had one.
    pub stack: String,
    /// The log line the service wrote about it in the example trace (its most severe record there, at
    /// WARN or above), when it wrote one.
    #[serde(default)]
    pub log_line: Option<String>,
}

impl DependencyChange {
    /// The deployments it judges, as a person reads them: `discounts-service 1.1 and advertisements-service
    /// 1.1` (sender text: escape it before a terminal shows it).
    pub fn deployed(&self) -> String {
        std::iter::once(format!("{} {}", self.service, self.version))
            .chain(self.with.iter().cloned())
            .collect::<Vec<_>>()
            .join(" and ")
    }
}

/// How many log records a service wrote at a severity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogCount {
    pub service: String,
    pub severity: String,
    pub count: u64,
}

/// One statement of an N+1 loop.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    pub query: String,
    pub repeats: u64,
    pub total_ms: f64,
}

/// Sibling database (or HTTP) calls repeating one statement in a loop, grouped across traces by fingerprint
/// (service, endpoint, the most repeated statement).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NPlusOne {
    pub fingerprint: String,
    /// `database` or `http`.
    pub kind: String,
    pub service: String,
    pub endpoint: String,
    /// The most repeated statement, normalised.
    pub query: String,
    pub db_system: Option<String>,
    /// The most times it repeated in one trace.
    pub repeats: u64,
    /// The loop's time per request: its repeated statements' durations added up in each trace, averaged over
    /// the traces it was found in.
    pub total_ms: f64,
    /// The loop's time in the latest trace it was found in (the first of `traces`): the sum of `statements`'
    /// times.
    #[serde(default)]
    pub latest_ms: f64,
    /// The mean share of its trace's duration that time was.
    pub share: f64,
    /// Traces it was found in.
    pub count: u64,
    /// Example trace ids, newest first.
    pub traces: Vec<String>,
    /// Every statement the loop repeats, with its repeats and time in the latest trace.
    pub statements: Vec<Statement>,
    /// The line that runs the loop's statements (their `code.file.path` and `code.line.number`), in the latest
    /// trace; `None` when its spans do not say.
    #[serde(default)]
    pub location: Option<crate::trace::CodeLocation>,
}

/// A service's version, with its stats, so a fix can be compared with what it replaced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    pub service: String,
    pub version: String,
    pub first_seen: u64,
    pub last_seen: u64,
    pub requests: u64,
    pub errors: u64,
    pub error_rate: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    /// Of its requests, those in which an N+1 loop was found (known once their trace is worked out, a few
    /// seconds after it ends).
    #[serde(default)]
    pub n_plus_one: u64,
    /// Of its requests, those whose trace is still being worked out (whether it loops is not known yet): the
    /// N+1 share is of the others.
    #[serde(default)]
    pub settling: u64,
    /// `n_plus_one` of the requests worked out (`requests - settling`): 1 when every one of them looped.
    #[serde(default)]
    pub n_plus_one_share: f64,
    /// How it compares with the version its service ran before; `None` for a service's first version.
    #[serde(default)]
    pub change: Option<VersionChange>,
    /// How its endpoints changed when a service it calls deployed a new version while it ran (a fix
    /// downstream shows where its callers' users felt it), oldest first.
    #[serde(default)]
    pub dependencies: Vec<DependencyChange>,
}

/// A caller's endpoints before and after a service it calls changed version: its requests that started
/// since the deployment before (of any service it calls, or its own start) against those that started
/// after, until the next such deployment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DependencyChange {
    /// The service called.
    pub service: String,
    /// Its new version; the one it replaced is `change.against`.
    pub version: String,
    /// When its new version was first seen (unix nanoseconds).
    pub first_seen: u64,
    /// Other deployments too close after it to tell apart (fewer than five requests between), judged with
    /// it: `advertisements-service 1.1`.
    #[serde(default)]
    pub with: Vec<String>,
    /// The caller's endpoints, judged as [`Deployment::change`] is.
    pub change: VersionChange,
}

/// A version against the one its service ran before, endpoint by endpoint (so a change of traffic mix is not
/// taken for a change of speed), claiming only what is beyond the noise of the two samples.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VersionChange {
    /// The version it is compared with.
    pub against: String,
    /// `better`, `worse`, `mixed`, `no change`, or `too few requests to tell`.
    pub verdict: String,
    /// What changed, as a person reads it: `GET / p50 5.07 s → 22 ms`, `GET /cart errors 100 % → 0 %`,
    /// `N+1 gone`.
    pub changes: Vec<String>,
}
