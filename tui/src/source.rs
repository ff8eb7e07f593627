//! Where the dashboard's data comes from: one small trait, [`DataSource`], and its three implementations —
//! the collector in this process (`lab up`), a collector elsewhere through its query API
//! ([`Remote`], `lab tui --connect`), and a recording loaded into a store of its own (`lab tui FILE`). The dashboard never does network or file I/O except through this trait (and reading
//! source files for the trace screen).
//!
//! Calls block: the dashboard makes them from its own fetching thread, never from the thread that draws.

use std::time::Duration;

use anyhow::{Context as _, bail};
use protocol::query::LogSearch;
use protocol::{
    Deployment, DeploymentsResponse, EndpointsResponse, ErrorGroup, ErrorsResponse, ExportStats,
    InsightsResponse, LatencyResponse, LogView, LogsResponse, NPlusOne, RumErrorGroup,
    RumErrorsResponse, RumPage, RumPagesResponse, RumSession, RumSessionSummary,
    RumSessionsResponse, ServiceMap, ServiceStats, ServicesResponse, SourceResponse, Stats,
    TraceSearch, TraceSummary, TraceView, TracesResponse, Window,
};

/// Everything the tabs but Traces and Trace show, fetched together at each refresh.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Overview {
    /// Services, databases and peers, slowest p95 first.
    pub services: Vec<ServiceStats>,
    pub map: ServiceMap,
    pub errors: Vec<ErrorGroup>,
    pub n_plus_one: Vec<NPlusOne>,
    pub deployments: Vec<Deployment>,
    /// What the browser's events came to (real user monitoring).
    pub browser: Browser,
    pub counts: Counts,
    /// The collector's exporters (`--export-datadog`, `--export-otlp`), each on or off, with its counts.
    pub exports: Vec<ExportStats>,
}

/// The Browser tab's lists, as the collector answers them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Browser {
    /// Pages, slowest p75 load first.
    pub pages: Vec<RumPage>,
    /// Front-end errors, most frequent first.
    pub errors: Vec<RumErrorGroup>,
    /// Sessions, newest first (at most [`SESSION_LIMIT`]).
    pub sessions: Vec<RumSessionSummary>,
}

/// Sessions the Browser tab lists.
pub const SESSION_LIMIT: usize = 50;

/// What happened to the spans sent to the collector, as the status line counts them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub accepted: u64,
    pub stored: u64,
    pub evicted: u64,
    /// Payloads refused.
    pub rejected: u64,
    /// Failed traces not grouped yet (see [`Stats::settling_errors`]).
    pub settling_errors: u64,
}

impl From<&Stats> for Counts {
    fn from(stats: &Stats) -> Counts {
        Counts {
            accepted: stats.accepted,
            stored: stats.stored,
            evicted: stats.evicted,
            rejected: stats.rejected_payloads,
            settling_errors: stats.settling_errors,
        }
    }
}

/// Log records shown with one trace, at most.
pub const TRACE_LOGS: usize = protocol::query::MAX_LOG_LIMIT;

/// Traces the Traces tab lists.
pub const TRACE_LIMIT: usize = 200;

/// The Traces tab's search before any filter is typed: the latest [`TRACE_LIMIT`] traces.
pub fn default_filter() -> TraceSearch {
    TraceSearch {
        limit: TRACE_LIMIT,
        ..TraceSearch::default()
    }
}

/// Sparkline points per service: the last 5 minutes in 10-second buckets.
pub const LATENCY_BUCKETS: usize = 30;

/// A collector the dashboard reads. Every call answers from the collector's running figures, cheap enough
/// to make every second.
pub trait DataSource: Send {
    /// What the status line says the data comes from.
    fn describe(&self) -> String;
    /// Whether the data changes (a collector receiving spans) or not (a recording).
    fn is_live(&self) -> bool;
    fn overview(&self, window: Window) -> anyhow::Result<Overview>;
    /// The endpoints of a service over `window`, slowest first.
    fn endpoints(&self, service: &str, window: Window) -> anyhow::Result<Vec<ServiceStats>>;
    /// The p95 latency of a service in its last [`LATENCY_BUCKETS`] 10-second buckets, oldest first.
    fn latency(&self, service: &str) -> anyhow::Result<Vec<f64>>;
    fn traces(&self, filter: &TraceSearch) -> anyhow::Result<Vec<TraceSummary>>;
    /// `None` for a trace the collector does not hold (never received, or evicted).
    fn trace(&self, trace_id: &str) -> anyhow::Result<Option<TraceView>>;
    /// A browser session as a journey; `None` when the collector does not hold it.
    fn session(&self, _id: &str) -> anyhow::Result<Option<RumSession>> {
        Ok(None)
    }

    /// Switches the collector's exporter `name` (`datadog`, `otlp`) on or off: its counts after.
    fn set_export(&self, name: &str, enabled: bool) -> anyhow::Result<ExportStats> {
        let _ = enabled;
        bail!("{} has no {name} exporter to switch", self.describe())
    }
    /// The log records `search` asks for, newest first (none when the source keeps no logs).
    fn logs(&self, _search: &LogSearch) -> anyhow::Result<Vec<LogView>> {
        Ok(Vec::new())
    }
    /// The log records written in trace `trace_id`, newest first.
    fn trace_logs(&self, trace_id: &str) -> anyhow::Result<Vec<LogView>> {
        self.logs(&LogSearch {
            trace_id: Some(trace_id.to_owned()),
            limit: TRACE_LOGS,
            ..LogSearch::default()
        })
    }
    /// The lines around line `line` of `file` from the collector's source tree, or why not; `None` when the
    /// source serves no files (the dashboard beside the lab reads its own).
    fn source(&self, _file: &str, _line: u32) -> Option<source_lines::Lines> {
        None
    }
}

/// A collector in another process (or on another machine: a class can share one), read through its query
/// API.
#[derive(Debug)]
pub struct Remote {
    base: reqwest::Url,
    client: reqwest::blocking::Client,
}

impl Remote {
    /// A source reading the query API at `base` (`http://127.0.0.1:8787`). Nothing is sent until the first call;
    /// [`Remote::connect`] checks the address answers.
    pub fn new(base: &str) -> anyhow::Result<Remote> {
        let base: reqwest::Url = base
            .parse()
            .with_context(|| format!("{base:?} is not a URL (like http://127.0.0.1:8787)"))?;
        if !matches!(base.scheme(), "http" | "https") {
            bail!("{base} is not an http:// URL");
        }
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .context("building the HTTP client")?;
        Ok(Remote { base, client })
    }

    /// A source reading the query API at `base`, once it has answered.
    pub fn connect(base: &str) -> anyhow::Result<Remote> {
        let remote = Remote::new(base)?;
        remote.stats().with_context(|| {
            format!(
                "no collector query API answers at {}: is `lab up` or `lab collect` running there?",
                remote.base
            )
        })?;
        Ok(remote)
    }

    pub(crate) fn get<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> anyhow::Result<Option<T>> {
        // Appended, not joined: a collector behind a proxy at http://host/lab/ keeps its /lab prefix.
        let mut url: reqwest::Url = format!("{}{path}", self.base.as_str().trim_end_matches('/'))
            .parse()
            .context("building the request URL")?;
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        let response = self
            .client
            .get(url.clone())
            .send()
            .with_context(|| format!("GET {url}"))?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            let text = response.text().unwrap_or_default();
            bail!("GET {url} answered {status}: {}", text.trim());
        }
        Ok(Some(response.json().with_context(|| {
            format!("GET {url}: not the query API's JSON")
        })?))
    }

    pub(crate) fn must<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> anyhow::Result<T> {
        self.get(path, query)?.with_context(|| {
            format!(
                "{}{path} answered 404: not a collector's query API",
                self.base.as_str().trim_end_matches('/')
            )
        })
    }

    /// POSTs `body` (JSON) to `path`; a refusal is an error with the API's message.
    pub(crate) fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &impl serde::Serialize,
    ) -> anyhow::Result<T> {
        let url = format!("{}{path}", self.base.as_str().trim_end_matches('/'));
        let response =
            (self.client.post(&url).json(body).send()).with_context(|| format!("POST {url}"))?;
        let status = response.status();
        if !status.is_success() {
            let refused = response.json::<protocol::ApiError>().map(|e| e.error);
            bail!(
                "{}",
                refused.unwrap_or_else(|_| format!("POST {url} answered {status}"))
            );
        }
        response
            .json()
            .with_context(|| format!("POST {url}: not the query API's JSON"))
    }

    fn stats(&self) -> anyhow::Result<Stats> {
        self.must::<Stats>("/api/stats", &[])
    }
}

/// A path segment with the characters a service name may hold that a URL path may not, escaped.
pub(crate) fn segment(name: &str) -> String {
    let mut out = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl DataSource for Remote {
    fn describe(&self) -> String {
        format!("remote {}", self.base.as_str().trim_end_matches('/'))
    }

    fn is_live(&self) -> bool {
        true
    }

    fn overview(&self, window: Window) -> anyhow::Result<Overview> {
        let w = [("window", window.param())];
        let services: ServicesResponse = self.must("/api/services", &w)?;
        let stats = self.stats()?;
        Ok(Overview {
            services: services.services,
            map: self.must("/api/map", &w)?,
            errors: self.must::<ErrorsResponse>("/api/errors", &[])?.errors,
            n_plus_one: self
                .must::<InsightsResponse>("/api/insights", &[])?
                .n_plus_one,
            deployments: self
                .must::<DeploymentsResponse>("/api/deployments", &[])?
                .deployments,
            // A collector from before real user monitoring answers 404: no browser data.
            browser: Browser {
                pages: (self.get::<RumPagesResponse>("/api/rum/pages", &[])?)
                    .map_or_else(Vec::new, |r| r.pages),
                errors: (self.get::<RumErrorsResponse>("/api/rum/errors", &[])?)
                    .map_or_else(Vec::new, |r| r.errors),
                sessions: (self.get::<RumSessionsResponse>(
                    "/api/rum/sessions",
                    &[("limit", SESSION_LIMIT.to_string())],
                )?)
                .map_or_else(Vec::new, |r| r.sessions),
            },
            counts: Counts::from(&stats),
            exports: stats.exports,
        })
    }

    fn set_export(&self, name: &str, enabled: bool) -> anyhow::Result<ExportStats> {
        let url = self.base.join(&format!("api/export/{}", segment(name)))?;
        let response = self
            .client
            .post(url.clone())
            .json(&protocol::ExportToggle { enabled })
            .send()
            .with_context(|| format!("asking {url}"))?;
        let status = response.status();
        if !status.is_success() {
            let message = response
                .json::<protocol::ApiError>()
                .map(|e| e.error)
                .unwrap_or_default();
            bail!("{url}: {status}: {message}");
        }
        response.json().context("reading the exporter's counts")
    }

    fn endpoints(&self, service: &str, window: Window) -> anyhow::Result<Vec<ServiceStats>> {
        let path = format!("/api/services/{}/endpoints", segment(service));
        Ok(self
            .get::<EndpointsResponse>(&path, &[("window", window.param())])?
            .map(|doc| doc.endpoints)
            .unwrap_or_default())
    }

    fn latency(&self, service: &str) -> anyhow::Result<Vec<f64>> {
        let path = format!("/api/services/{}/latency", segment(service));
        Ok(self
            .get::<LatencyResponse>(&path, &[("buckets", LATENCY_BUCKETS.to_string())])?
            .map(|doc| doc.p95_ms)
            .unwrap_or_default())
    }

    fn traces(&self, filter: &TraceSearch) -> anyhow::Result<Vec<TraceSummary>> {
        let filter = TraceSearch {
            limit: filter.limit.clamp(1, protocol::query::MAX_TRACE_LIMIT),
            ..filter.clone()
        };
        let query = filter.params();
        Ok(self.must::<TracesResponse>("/api/traces", &query)?.traces)
    }

    fn logs(&self, search: &LogSearch) -> anyhow::Result<Vec<LogView>> {
        // A collector older than /api/logs has none.
        Ok(self
            .get::<LogsResponse>("/api/logs", &search.params())?
            .map(|doc| doc.logs)
            .unwrap_or_default())
    }

    fn source(&self, file: &str, line: u32) -> Option<source_lines::Lines> {
        let mut url: reqwest::Url =
            format!("{}/api/source", self.base.as_str().trim_end_matches('/'))
                .parse()
                .ok()?;
        url.query_pairs_mut()
            .append_pair("file", file)
            .append_pair("line", &line.to_string());
        let response = match self.client.get(url).send() {
            Ok(response) => response,
            Err(error) => return Some(Err(format!("no answer ({error})"))),
        };
        let status = response.status();
        if status.is_success() {
            return Some(match response.json::<SourceResponse>() {
                Ok(doc) => Ok(doc.lines.into_iter().map(|l| (l.number, l.text)).collect()),
                Err(_) => Err("not the query API's JSON".to_owned()),
            });
        }
        // Why not, as the collector says (a collector older than /api/source says it has no such endpoint).
        Some(Err(match response.json::<protocol::ApiError>() {
            Ok(refused) => refused.error,
            Err(_) => format!("answered {status}"),
        }))
    }

    fn trace(&self, trace_id: &str) -> anyhow::Result<Option<TraceView>> {
        if trace_id.len() != 32 || !trace_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            bail!("{trace_id:?} is not a trace id (32 hex digits)");
        }
        self.get(&format!("/api/traces/{trace_id}"), &[])
    }

    fn session(&self, id: &str) -> anyhow::Result<Option<RumSession>> {
        self.get(&format!("/api/rum/sessions/{}", segment(id)), &[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names_are_escaped_in_paths() {
        assert_eq!(segment("store-frontend"), "store-frontend");
        assert_eq!(segment("a b/c?"), "a%20b%2Fc%3F");
    }

    #[test]
    fn a_remote_needs_an_http_url() {
        assert!(Remote::new("ftp://x").is_err());
        assert!(Remote::new("not a url").is_err());
        assert!(Remote::new("http://127.0.0.1:8787").is_ok());
    }
}
