//! The envelopes the query API answers with, one per endpoint (`GET /api/map` answers a bare
//! [`ServiceMap`](crate::ServiceMap), `GET /api/traces/{id}` a bare [`TraceView`](crate::TraceView)).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::results::{Deployment, ErrorGroup, NPlusOne, ServiceStats};
use crate::trace::TraceSummary;

/// `GET /api/services`: services, databases and peers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServicesResponse {
    pub services: Vec<ServiceStats>,
}

/// `GET /api/services/{name}/endpoints`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EndpointsResponse {
    pub endpoints: Vec<ServiceStats>,
}

/// `GET /api/services/{name}/latency`: a service's p95 per bucket, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyResponse {
    pub bucket_ms: u64,
    pub p95_ms: Vec<f64>,
}

/// `GET /api/traces`: a trace search's answer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TracesResponse {
    pub traces: Vec<TraceSummary>,
}

/// `GET /api/errors`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorsResponse {
    pub errors: Vec<ErrorGroup>,
}

/// `GET /api/insights`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InsightsResponse {
    pub n_plus_one: Vec<NPlusOne>,
}

/// `GET /api/deployments`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DeploymentsResponse {
    pub deployments: Vec<Deployment>,
}

/// `GET /api/stats`: what happened to the spans sent to the collector.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// The store's capacity, in spans.
    pub capacity: u64,
    /// The store's capacity, in bytes the stored spans hold (about): past it or `capacity`, the oldest
    /// traces are evicted.
    #[serde(default)]
    pub max_bytes: u64,
    /// About the bytes the stored spans hold.
    #[serde(default)]
    pub stored_bytes: u64,
    /// Spans ever accepted: each is stored or counted as evicted.
    pub accepted: u64,
    pub stored: u64,
    pub evicted: u64,
    pub stored_traces: u64,
    pub evicted_traces: u64,
    /// Payloads refused, by reason.
    pub rejected: BTreeMap<String, u64>,
    /// Payloads refused, all reasons together.
    pub rejected_payloads: u64,
    /// Spans refused one by one inside payloads whose other spans were accepted.
    pub rejected_spans: u64,
    /// Error groups and N+1 findings not kept because their tables were full.
    pub analysis_groups_dropped: u64,
    /// Spans that ended too far ahead of the collector's clock to move the end of the windows (a sender's
    /// clock is wrong): stored, but the 1m/5m/15m figures end at the newest span before them.
    pub future_spans: u64,
    /// Spans counted under an overflow name (`(other services)`, `(other versions)`, `(other endpoints)`,
    /// `(other peers)`) because the collector already keeps that many apart.
    #[serde(default)]
    pub grouped: Grouped,
    /// Failed traces whose errors are not grouped yet: a trace's errors are grouped once it has been quiet for
    /// a moment (2 s), so for that long a service's error count is ahead of its error groups.
    #[serde(default)]
    pub settling_errors: u64,
    /// Spans the collector cut down to its span limits: attributes, events or links past the counts kept, or
    /// a value longer than the longest kept (cut, ending in `…`). The span's own `dropped_*` counts say how
    /// many of each.
    #[serde(default)]
    pub limited_spans: u64,
    /// The browser's events (real user monitoring), counted apart from spans.
    #[serde(default)]
    pub rum: crate::rum::RumStats,
    /// The log records' accounting.
    #[serde(default)]
    pub logs: LogStats,
    /// Each exporter the collector was started with (`--export-otlp`, `--export-datadog`), on or off.
    #[serde(default)]
    pub exports: Vec<ExportStats>,
}

/// One exporter's accounting. Every span offered to it while it is on ends up in exactly one of `queued`,
/// `in_flight`, `sent`, `rejected`, `failed` and `dropped`, so they add up to `offered`; `retried` counts the
/// spans sent again (a span retried twice counts twice). The RUM forward (`datadog-rum`) counts browser batches
/// where the others count spans.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportStats {
    /// `otlp`, `datadog` or `datadog-rum`.
    pub name: String,
    /// Where it sends: the full URL it posts to.
    pub endpoint: String,
    /// Whether accepted spans are offered to it now.
    pub enabled: bool,
    /// Spans offered to it while it was on.
    pub offered: u64,
    /// Spans waiting in its queue.
    pub queued: u64,
    /// Spans in a request not yet answered (or waiting to be sent again).
    pub in_flight: u64,
    /// Spans the backend took.
    pub sent: u64,
    /// Spans sent again after a 429, 502, 503, 504 or a failed connection.
    pub retried: u64,
    /// Spans given up on: refused with another status, or still failing when the retries ran out.
    pub failed: u64,
    /// Spans the backend answered as rejected inside an accepted request (OTLP's partial success).
    pub rejected: u64,
    /// Spans dropped from a full queue, oldest first, while the backend was slow or down, or left queued when
    /// the collector stopped.
    pub dropped: u64,
    /// The last failure, when there was one: what the backend answered, or why it could not be reached.
    pub last_error: Option<String>,
}

/// `POST /api/export/{name}`: switches an exporter on or off; answered with its [`ExportStats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportToggle {
    pub enabled: bool,
}

/// Spans counted under an overflow name because a cardinality cap was reached, by what was capped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grouped {
    pub services: u64,
    pub versions: u64,
    pub endpoints: u64,
    pub peers: u64,
}

/// `GET /api/source?file=&line=`: the lines around line `line` of `file`, from the source tree the collector
/// was given (a 404 says why not, as an [`ApiError`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceResponse {
    pub file: String,
    pub line: u32,
    /// The lines as written (tabs as four spaces), escaped by whoever shows them.
    pub lines: Vec<SourceLine>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceLine {
    pub number: u32,
    pub text: String,
}

/// `GET /api/logs`: log records, newest first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LogsResponse {
    pub logs: Vec<LogView>,
}

/// One log record as the API shows it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LogView {
    /// When it happened (unix nanoseconds; when it was observed, if the sender did not say).
    pub time_unix_nano: u64,
    pub service: String,
    /// `TRACE` … `FATAL` as the sender wrote it, or the name of its severity number.
    pub severity: String,
    /// OpenTelemetry's severity number (1–24; 0 unspecified): 9 is INFO, 13 WARN, 17 ERROR.
    pub severity_number: i32,
    pub body: String,
    /// The trace and span it was written in (32 and 16 hex digits), empty when none. A Datadog line gives
    /// only the trace id's low 64 bits: the whole id when the search named the trace, else those bits with
    /// the upper half zero (which `/api/traces/{id}` also opens, as the trace ending in them).
    pub trace_id: String,
    pub span_id: String,
    pub attributes: std::collections::BTreeMap<String, serde_json::Value>,
}

/// What happened to the log records sent to the collector: each accepted one is stored or counted as evicted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogStats {
    /// The log store's capacity, in records.
    pub capacity: u64,
    pub accepted: u64,
    pub stored: u64,
    pub evicted: u64,
    /// Payloads refused, by reason; a payload some of whose records were refused counts under
    /// `invalid_log_record` too, as spans count theirs.
    pub rejected: BTreeMap<String, u64>,
    /// Records refused one by one (bad ids), in payloads taken in part or refused whole.
    pub rejected_records: u64,
}

/// Any refused query (4xx): what was wrong.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    pub error: String,
}
