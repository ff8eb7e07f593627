//! Where the dashboard's data comes from: one small trait, [`DataSource`], and its three implementations —
//! the collector in this process ([`InProcess`], `lab up`), a collector elsewhere through its query API
//! ([`Remote`], `lab tui --connect`), and a recording loaded into a store of its own ([`InProcess::recording`],
//! `lab tui FILE`). The dashboard never does network or file I/O except through this trait (and reading
//! source files for the trace screen).
//!
//! Calls block: the dashboard makes them from its own fetching thread, never from the thread that draws.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, bail};
use collector::analysis::results::{Deployment, ErrorGroup, NPlusOne, ServiceMap, ServiceStats};
use collector::analysis::{Analysis, Sort, Window};
use collector::api::{TraceSummary, TraceView};
use collector::store::{Store, TraceQuery};
use serde::Deserialize;

/// Everything the tabs but Traces and Trace show, fetched together at each refresh.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Overview {
    /// Services, databases and peers, slowest p95 first.
    pub services: Vec<ServiceStats>,
    pub map: ServiceMap,
    pub errors: Vec<ErrorGroup>,
    pub n_plus_one: Vec<NPlusOne>,
    pub deployments: Vec<Deployment>,
    pub counts: Counts,
}

/// What happened to the spans sent to the collector.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Counts {
    pub accepted: u64,
    pub stored: u64,
    pub evicted: u64,
    /// Payloads refused.
    #[serde(rename = "rejected_payloads")]
    pub rejected: u64,
}

/// Which traces to list.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceFilter {
    pub service: Option<String>,
    pub endpoint: Option<String>,
    pub errors_only: bool,
    pub min_duration_ms: f64,
    /// Longest first instead of latest first.
    pub by_duration: bool,
    pub limit: usize,
}

impl Default for TraceFilter {
    fn default() -> TraceFilter {
        TraceFilter {
            service: None,
            endpoint: None,
            errors_only: false,
            min_duration_ms: 0.0,
            by_duration: false,
            limit: 200,
        }
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
    fn traces(&self, filter: &TraceFilter) -> anyhow::Result<Vec<TraceSummary>>;
    /// `None` for a trace the collector does not hold (never received, or evicted).
    fn trace(&self, trace_id: &str) -> anyhow::Result<Option<TraceView>>;
}

/// A store and its analyses in this process: the collector of `lab up`, or a recording loaded for
/// `lab tui FILE`.
#[derive(Clone, Debug)]
pub struct InProcess {
    store: Store,
    analysis: Analysis,
    label: String,
    live: bool,
}

impl InProcess {
    /// The collector of this process, receiving spans.
    pub fn live(store: Store, analysis: Analysis, label: impl Into<String>) -> InProcess {
        InProcess {
            store,
            analysis,
            label: label.into(),
            live: true,
        }
    }

    /// A recording (`lab up --record`, `lab collect --record`) read into a store of its own, as `lab report`
    /// reads it; lines that could not be read are returned with their number.
    pub async fn recording(path: &Path) -> anyhow::Result<(InProcess, Vec<(u64, String)>)> {
        let (store, analysis, loaded) = collector::record::analyse(
            path,
            collector::store::DEFAULT_CAPACITY,
            Default::default(),
        )
        .await?;
        let source = InProcess {
            store,
            analysis,
            label: format!("recording {}", path.display()),
            live: false,
        };
        Ok((source, loaded.problems))
    }
}

impl DataSource for InProcess {
    fn describe(&self) -> String {
        self.label.clone()
    }

    fn is_live(&self) -> bool {
        self.live
    }

    fn overview(&self, window: Window) -> anyhow::Result<Overview> {
        let accounting = self.store.accounting();
        Ok(Overview {
            services: self.analysis.services(window, Sort::Latency),
            map: self.analysis.map(window),
            errors: self.analysis.errors(),
            n_plus_one: self.analysis.n_plus_one(),
            deployments: self.analysis.deployments(),
            counts: Counts {
                accepted: accounting.accepted,
                stored: accounting.stored,
                evicted: accounting.evicted,
                rejected: accounting.rejected_total(),
            },
        })
    }

    fn endpoints(&self, service: &str, window: Window) -> anyhow::Result<Vec<ServiceStats>> {
        Ok(self
            .analysis
            .endpoints(service, window, Sort::Latency)
            .unwrap_or_default())
    }

    fn latency(&self, service: &str) -> anyhow::Result<Vec<f64>> {
        Ok(self
            .analysis
            .latency_series(service, LATENCY_BUCKETS)
            .unwrap_or_default())
    }

    fn traces(&self, filter: &TraceFilter) -> anyhow::Result<Vec<TraceSummary>> {
        let query = TraceQuery {
            service: filter.service.clone(),
            endpoint: filter.endpoint.clone(),
            error: filter.errors_only.then_some(true),
            min_duration_ns: (filter.min_duration_ms.max(0.0) * 1e6) as u64,
            since_ns: 0,
            limit: filter.limit,
            by_duration: filter.by_duration,
        };
        Ok(self
            .store
            .search(&query)
            .iter()
            .map(|trace| collector::api::trace_summary(trace))
            .collect())
    }

    fn trace(&self, trace_id: &str) -> anyhow::Result<Option<TraceView>> {
        let Some(id) = collector::TraceId::from_hex(trace_id) else {
            bail!("{trace_id:?} is not a trace id (32 hex digits)");
        };
        Ok(self
            .store
            .trace(&id)
            .map(|trace| collector::api::trace_view(id, &trace.to_vec())))
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
        remote.counts().with_context(|| {
            format!(
                "no collector query API answers at {}: is `lab up` or `lab collect` running there?",
                remote.base
            )
        })?;
        Ok(remote)
    }

    fn get<T: serde::de::DeserializeOwned>(
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

    fn must<T: serde::de::DeserializeOwned>(
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

    fn counts(&self) -> anyhow::Result<Counts> {
        self.must("/api/stats", &[])
    }
}

fn window_param(window: Window) -> String {
    match window {
        Window::All => "all".to_owned(),
        Window::Last(ns) => format!("{}m", ns / 60_000_000_000),
    }
}

#[derive(Deserialize)]
struct ServicesDoc {
    services: Vec<ServiceStats>,
}

#[derive(Deserialize)]
struct EndpointsDoc {
    endpoints: Vec<ServiceStats>,
}

#[derive(Deserialize)]
struct LatencyDoc {
    p95_ms: Vec<f64>,
}

#[derive(Deserialize)]
struct TracesDoc {
    traces: Vec<TraceSummary>,
}

#[derive(Deserialize)]
struct ErrorsDoc {
    errors: Vec<ErrorGroup>,
}

#[derive(Deserialize)]
struct InsightsDoc {
    n_plus_one: Vec<NPlusOne>,
}

#[derive(Deserialize)]
struct DeploymentsDoc {
    deployments: Vec<Deployment>,
}

/// A path segment with the characters a service name may hold that a URL path may not, escaped.
fn segment(name: &str) -> String {
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
        let w = [("window", window_param(window))];
        let services: ServicesDoc = self.must("/api/services", &w)?;
        Ok(Overview {
            services: services.services,
            map: self.must("/api/map", &w)?,
            errors: self.must::<ErrorsDoc>("/api/errors", &[])?.errors,
            n_plus_one: self.must::<InsightsDoc>("/api/insights", &[])?.n_plus_one,
            deployments: self
                .must::<DeploymentsDoc>("/api/deployments", &[])?
                .deployments,
            counts: self.counts()?,
        })
    }

    fn endpoints(&self, service: &str, window: Window) -> anyhow::Result<Vec<ServiceStats>> {
        let path = format!("/api/services/{}/endpoints", segment(service));
        Ok(self
            .get::<EndpointsDoc>(&path, &[("window", window_param(window))])?
            .map(|doc| doc.endpoints)
            .unwrap_or_default())
    }

    fn latency(&self, service: &str) -> anyhow::Result<Vec<f64>> {
        let path = format!("/api/services/{}/latency", segment(service));
        Ok(self
            .get::<LatencyDoc>(&path, &[("buckets", LATENCY_BUCKETS.to_string())])?
            .map(|doc| doc.p95_ms)
            .unwrap_or_default())
    }

    fn traces(&self, filter: &TraceFilter) -> anyhow::Result<Vec<TraceSummary>> {
        let mut query = vec![
            ("limit", filter.limit.clamp(1, 1000).to_string()),
            (
                "sort",
                if filter.by_duration {
                    "duration"
                } else {
                    "start"
                }
                .to_owned(),
            ),
        ];
        if let Some(service) = &filter.service {
            query.push(("service", service.clone()));
        }
        if let Some(endpoint) = &filter.endpoint {
            query.push(("endpoint", endpoint.clone()));
        }
        if filter.errors_only {
            query.push(("error", "true".to_owned()));
        }
        if filter.min_duration_ms > 0.0 {
            query.push(("min_duration_ms", filter.min_duration_ms.to_string()));
        }
        Ok(self.must::<TracesDoc>("/api/traces", &query)?.traces)
    }

    fn trace(&self, trace_id: &str) -> anyhow::Result<Option<TraceView>> {
        if trace_id.len() != 32 || !trace_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            bail!("{trace_id:?} is not a trace id (32 hex digits)");
        }
        self.get(&format!("/api/traces/{trace_id}"), &[])
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
    fn windows_are_sent_as_the_api_names_them() {
        for text in ["1m", "5m", "15m", "all"] {
            assert_eq!(window_param(Window::parse(text).unwrap()), text);
        }
    }

    #[test]
    fn a_remote_needs_an_http_url() {
        assert!(Remote::new("ftp://x").is_err());
        assert!(Remote::new("not a url").is_err());
        assert!(Remote::new("http://127.0.0.1:8787").is_ok());
    }
}
