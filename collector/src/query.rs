//! Every answer the collector gives, as the contract's types: one function per question, over a store and its
//! analyses. The query API serialises these answers; the dashboard's in-process source hands them over as
//! they are; so a figure is computed in one place whoever asks.

use std::path::Path;
use std::sync::Arc;

use protocol::{
    DeploymentsResponse, EndpointsResponse, ErrorsResponse, InsightsResponse, LatencyResponse,
    LogView, LogsResponse, ServiceMap, ServicesResponse, Sort, SourceLine, SourceResponse, Stats,
    TraceSearch, TraceView, TracesResponse, Window,
};
use protocol::{RumErrorsResponse, RumPagesResponse, RumSession, RumSessionsResponse};

use crate::analysis::Analysis;
use crate::export::Exports;
use crate::model::TraceId;
use crate::store::{Store, TraceQuery};
use crate::view::{trace_summary, trace_view};

/// A store and its analyses, asked questions. Cheap to clone; clones share the collector.
#[derive(Clone, Debug)]
pub struct Query {
    pub store: Store,
    pub analysis: Analysis,
    /// The exporters, when the collector has any: their accounting is part of the stats.
    pub exports: Exports,
    /// The source tree `source` reads from, if the collector was given one.
    source_root: Option<Arc<Path>>,
}

impl Query {
    pub fn new(store: Store, analysis: Analysis) -> Query {
        Query {
            store,
            analysis,
            exports: Exports::none(),
            source_root: None,
        }
    }

    /// The same, with the collector's exporters.
    pub fn with_exports(mut self, exports: Exports) -> Query {
        self.exports = exports;
        self
    }

    /// The same, serving source lines from `root` (the services' source tree).
    pub fn with_source_root(mut self, root: Option<&Path>) -> Query {
        self.source_root = root.map(Arc::from);
        self
    }

    /// The log records an API search asks for, newest first (its `since` a duration back from the newest
    /// span received), or what is wrong with the search.
    pub fn search_logs(&self, search: &protocol::query::LogSearch) -> Result<LogsResponse, String> {
        let search = crate::logs::LogQuery::from_search(search, self.analysis.newest_ns())?;
        Ok(self.logs(&search))
    }

    /// The log records `search` asks for, newest first.
    pub fn logs(&self, search: &crate::logs::LogQuery) -> LogsResponse {
        let records = self.store.logs().search(search);
        LogsResponse {
            logs: records
                .into_iter()
                .map(|record| LogView {
                    time_unix_nano: record.time_ns,
                    service: record.service().to_owned(),
                    severity: record.severity(),
                    severity_number: record.severity_number,
                    trace_id: match (record.trace, search.trace_id) {
                        (crate::logs::TraceRef::None, _) => String::new(),
                        (crate::logs::TraceRef::Full(id), _) => id.to_string(),
                        (crate::logs::TraceRef::Low(_), Some(id)) => id.to_string(),
                        (crate::logs::TraceRef::Low(low), None) => format!("{low:032x}"),
                    },
                    span_id: record.span_id.map(|id| id.to_string()).unwrap_or_default(),
                    attributes: crate::view::attributes(&record.attributes),
                    body: record.body,
                })
                .collect(),
        }
    }

    /// The lines around line `line` of `file` (as a span named it, relative to the source tree), read under
    /// the sandbox's rules (`source_lines`); else why not.
    pub fn source(&self, file: &str, line: u32) -> Result<SourceResponse, String> {
        let Some(root) = &self.source_root else {
            return Err(
                "no source tree given to it (lab collect --workspace DIR gives one)".to_owned(),
            );
        };
        if line == 0 {
            return Err("line must be 1 or more".to_owned());
        }
        let lines = source_lines::read(Some(root), file, line)?;
        Ok(SourceResponse {
            file: file.to_owned(),
            line,
            lines: lines
                .into_iter()
                .map(|(number, text)| SourceLine { number, text })
                .collect(),
        })
    }

    pub fn services(&self, window: Window, sort: Sort) -> ServicesResponse {
        ServicesResponse {
            services: self.analysis.services(window, sort),
        }
    }

    /// `None` for a service the analyses never saw.
    pub fn endpoints(
        &self,
        service: &str,
        window: Window,
        sort: Sort,
    ) -> Option<EndpointsResponse> {
        Some(EndpointsResponse {
            endpoints: self.analysis.endpoints(service, window, sort)?,
        })
    }

    /// A service's p95 in its last `buckets` 10-second buckets; `None` for a service never seen.
    pub fn latency(&self, service: &str, buckets: usize) -> Option<LatencyResponse> {
        Some(LatencyResponse {
            bucket_ms: crate::analysis::stats::BUCKET_NS / 1_000_000,
            p95_ms: self.analysis.latency_series(service, buckets)?,
        })
    }

    /// The service map, with the browser in front of the services its pages call when RUM reported.
    pub fn map(&self, window: Window) -> ServiceMap {
        let mut map = self.analysis.map(window);
        self.store.rum().add_to_map(&mut map, window);
        map
    }

    pub fn traces(&self, search: &TraceSearch) -> TracesResponse {
        let query = TraceQuery {
            service: search.service.clone(),
            endpoint: search.endpoint.clone(),
            error: search.error,
            min_duration_ns: (search.min_duration_ms.max(0.0) * 1e6) as u64,
            max_duration_ns: search
                .max_duration_ms
                .map_or(u64::MAX, |ms| (ms.max(0.0) * 1e6) as u64),
            since_ns: search
                .since
                .map_or(0, |since| since.unix_nano(self.analysis.newest_ns())),
            // Text is looked for in the spans themselves, outside the store's lock: every candidate first.
            limit: if search.text.is_some() {
                usize::MAX
            } else {
                search.limit
            },
            by_duration: search.sort == protocol::TraceSort::Duration,
        };
        let found = self.store.search(&query);
        let traces = match search.text.as_deref() {
            Some(text) => {
                let text = text.to_lowercase();
                (found.iter())
                    .filter(|trace| trace.spans().any(|span| span_mentions(&span, &text)))
                    .take(search.limit)
                    .map(|t| trace_summary(t))
                    .collect()
            }
            None => found.iter().map(|t| trace_summary(t)).collect(),
        };
        TracesResponse { traces }
    }

    /// `None` for a trace the store does not hold (never received, or evicted).
    /// The trace with this id; for an id of 64 bits (the high half zero, as a Datadog id pasted in decimal or
    /// 16 hex digits reads), the stored trace whose id ends in them, since Datadog's tracers send the high half
    /// apart (`_dd.p.tid`) and show only the low one.
    pub fn trace(&self, id: TraceId) -> Option<TraceView> {
        let trace = match self.store.trace(&id) {
            Some(trace) => trace,
            None if id.to_u128() >> 64 == 0 => self.store.trace_ending_in(id.to_u128() as u64)?,
            None => return None,
        };
        Some(trace_view(trace.id(), &trace.to_vec()))
    }

    pub fn errors(&self) -> ErrorsResponse {
        let mut errors = self.analysis.errors();
        crate::logs::attach_log_lines(self.store.logs(), &mut errors);
        ErrorsResponse { errors }
    }

    pub fn insights(&self) -> InsightsResponse {
        InsightsResponse {
            n_plus_one: self.analysis.n_plus_one(),
        }
    }

    pub fn deployments(&self) -> DeploymentsResponse {
        DeploymentsResponse {
            deployments: self.analysis.deployments(),
        }
    }

    pub fn stats(&self) -> Stats {
        let accounting = self.store.accounting();
        Stats {
            capacity: accounting.capacity,
            max_bytes: accounting.max_bytes,
            stored_bytes: accounting.stored_bytes,
            accepted: accounting.accepted,
            stored: accounting.stored,
            evicted: accounting.evicted,
            stored_traces: accounting.stored_traces,
            evicted_traces: accounting.evicted_traces,
            rejected_payloads: accounting.rejected_total(),
            rejected: accounting.rejected,
            rejected_spans: accounting.rejected_spans,
            analysis_groups_dropped: self.analysis.dropped_groups(),
            future_spans: self.analysis.future_spans(),
            grouped: self.analysis.grouped(),
            settling_errors: self.analysis.settling_errors(),
            limited_spans: accounting.limited_spans,
            rum: self.store.rum().stats(),
            exports: self.exports.stats(),
            logs: self.store.logs().stats(),
        }
    }

    /// The browser's pages, their load times, web vitals and error rates.
    pub fn rum_pages(&self, sort: Sort) -> RumPagesResponse {
        RumPagesResponse {
            pages: self.store.rum().pages(&self.rum_routes(), sort),
        }
    }

    /// Front-end errors, grouped.
    pub fn rum_errors(&self) -> RumErrorsResponse {
        RumErrorsResponse {
            errors: self.store.rum().errors(&self.rum_routes()),
        }
    }

    /// Browser sessions, newest first.
    pub fn rum_sessions(&self, limit: usize) -> RumSessionsResponse {
        RumSessionsResponse {
            sessions: self.store.rum().sessions(&self.rum_routes(), limit),
        }
    }

    /// One browser session as a journey, each document and call linked to the backend trace it caused (its
    /// full id when the store holds it); `None` for a session not held.
    pub fn rum_session(&self, id: &str) -> Option<RumSession> {
        self.store.rum().session(id, &self.rum_routes(), |lows| {
            (self.store.traces_ending_in(lows).into_iter())
                .map(|(low, id)| (low, format!("{:032x}", id.to_u128())))
                .collect()
        })
    }

    /// The routes pages are templated by: the `GET` endpoints of the services the browser events name.
    fn rum_routes(&self) -> crate::rum::pages::Routes {
        let mut endpoints = Vec::new();
        for service in self.store.rum().services() {
            if let Some(list) = self.analysis.endpoints(&service, Window::All, Sort::Name) {
                endpoints.extend(list.into_iter().map(|e| e.name));
            }
        }
        crate::rum::pages::Routes::from_endpoints(endpoints.iter().map(String::as_str))
    }
}

/// Whether `span`'s name, status message or any text attribute (its events' included) contains `lowercase`,
/// case aside.
fn span_mentions(span: &crate::model::Span, lowercase: &str) -> bool {
    use crate::model::{KeyValue, Value};
    let has = |text: &str| text.to_lowercase().contains(lowercase);
    fn any_text(attributes: &[KeyValue], has: &impl Fn(&str) -> bool) -> bool {
        attributes.iter().any(|kv| match &kv.value {
            Value::Str(text) => has(text),
            Value::Array(items) => items.iter().any(|item| item.as_str().is_some_and(has)),
            _ => false,
        })
    }
    has(&span.name)
        || span.status.message.as_deref().is_some_and(has)
        || any_text(&span.attributes, &has)
        || span
            .events
            .iter()
            .any(|event| any_text(&event.attributes, &has))
}
