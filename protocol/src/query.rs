//! The query API's parameters: the window a figure covers, how services are ordered, and a trace search. Each
//! knows how it is written in a URL ([`Window::param`], [`TraceSearch::params`]) and read back from one
//! ([`Window::parse`], [`TraceSearch::from_params`]), so the server and its clients write them alike.

use std::collections::HashMap;

const MINUTE_NS: u64 = 60_000_000_000;

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
        match text {
            "all" => Some(Window::All),
            "1m" => Some(Window::Last(MINUTE_NS)),
            "5m" => Some(Window::Last(5 * MINUTE_NS)),
            "15m" => Some(Window::Last(15 * MINUTE_NS)),
            _ => None,
        }
    }

    /// The window as the `window` parameter writes it (`5m`, `all`).
    pub fn param(self) -> String {
        match self {
            Window::All => "all".to_owned(),
            Window::Last(ns) => format!("{}m", ns / MINUTE_NS),
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
    /// `latency`, `errors`, `requests` or `name`.
    pub fn parse(text: &str) -> Option<Sort> {
        match text {
            "latency" => Some(Sort::Latency),
            "errors" => Some(Sort::Errors),
            "requests" => Some(Sort::Requests),
            "name" => Some(Sort::Name),
            _ => None,
        }
    }

    pub fn param(self) -> &'static str {
        match self {
            Sort::Latency => "latency",
            Sort::Errors => "errors",
            Sort::Requests => "requests",
            Sort::Name => "name",
        }
    }
}

/// The order of a trace search's answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TraceSort {
    /// Latest start first.
    #[default]
    Start,
    /// Longest first.
    Duration,
}

/// Where a trace search starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Since {
    /// At this time (unix nanoseconds).
    UnixNano(u64),
    /// So many nanoseconds before the newest span received.
    Ago(u64),
}

impl Since {
    /// Unix nanoseconds, or a duration back from the newest span (`30s`, `5m`, `2h`).
    pub fn parse(text: &str) -> Option<Since> {
        if let Ok(ns) = text.parse::<u64>() {
            return Some(Since::UnixNano(ns));
        }
        let (number, scale) = [
            ('s', 1_000_000_000u64),
            ('m', MINUTE_NS),
            ('h', 60 * MINUTE_NS),
        ]
        .iter()
        .find_map(|(unit, scale)| Some((text.strip_suffix(*unit)?, *scale)))?;
        Some(Since::Ago(
            number.parse::<u64>().ok()?.saturating_mul(scale),
        ))
    }

    pub fn param(self) -> String {
        match self {
            Since::UnixNano(ns) => ns.to_string(),
            Since::Ago(ns) if ns % (60 * MINUTE_NS) == 0 => format!("{}h", ns / (60 * MINUTE_NS)),
            Since::Ago(ns) if ns % MINUTE_NS == 0 => format!("{}m", ns / MINUTE_NS),
            Since::Ago(ns) => format!("{}s", ns / 1_000_000_000),
        }
    }

    /// The time it names, given the newest span's.
    pub fn unix_nano(self, newest_ns: u64) -> u64 {
        match self {
            Since::UnixNano(ns) => ns,
            Since::Ago(ns) => newest_ns.saturating_sub(ns),
        }
    }
}

/// A search of the log records (`GET /api/logs`), newest first: every field given narrows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogSearch {
    /// 32 hex digits, or a Datadog id (16 hex digits or a decimal number) matched by its low 64 bits.
    pub trace_id: Option<String>,
    /// 16 hex digits.
    pub span_id: Option<String>,
    pub service: Option<String>,
    /// The lowest severity shown, as [`severity_number`] reads it (`warn`, `ERROR`, `13`).
    pub severity: Option<String>,
    /// Text looked for in the body or an attribute's value, case aside.
    pub text: Option<String>,
    pub since: Option<Since>,
    pub limit: usize,
}

/// Log records a search lists when it names no `limit`, and the most it may ask for.
pub const DEFAULT_LOG_LIMIT: usize = 100;
pub const MAX_LOG_LIMIT: usize = 1000;

impl Default for LogSearch {
    fn default() -> LogSearch {
        LogSearch {
            trace_id: None,
            span_id: None,
            service: None,
            severity: None,
            text: None,
            since: None,
            limit: DEFAULT_LOG_LIMIT,
        }
    }
}

impl LogSearch {
    /// The search as `GET /api/logs` query pairs.
    pub fn params(&self) -> Vec<(&'static str, String)> {
        let mut params = vec![("limit", self.limit.to_string())];
        let fields = [
            ("trace_id", &self.trace_id),
            ("span_id", &self.span_id),
            ("service", &self.service),
            ("severity", &self.severity),
            ("q", &self.text),
        ];
        for (key, value) in fields {
            if let Some(value) = value {
                params.push((key, value.clone()));
            }
        }
        if let Some(since) = self.since {
            params.push(("since", since.param()));
        }
        params
    }
}

/// The name of OpenTelemetry severity number `number`.
pub fn severity_name(number: i32) -> &'static str {
    match number {
        1..=4 => "TRACE",
        5..=8 => "DEBUG",
        9..=12 => "INFO",
        13..=16 => "WARN",
        17..=20 => "ERROR",
        21..=24 => "FATAL",
        _ => "UNSPECIFIED",
    }
}

/// The lowest severity number a name (`error`, `WARN`, `warning`, `7`) stands for, as the API's
/// `severity=` takes it.
pub fn severity_number(name: &str) -> Option<i32> {
    if let Ok(number) = name.parse::<i32>() {
        return (0..=24).contains(&number).then_some(number);
    }
    Some(match name.to_ascii_uppercase().as_str() {
        "TRACE" => 1,
        "DEBUG" => 5,
        "INFO" | "INFORMATION" | "NOTICE" => 9,
        "WARN" | "WARNING" => 13,
        "ERROR" | "ERR" => 17,
        "FATAL" | "CRITICAL" | "CRIT" | "EMERGENCY" | "ALERT" | "PANIC" => 21,
        _ => return None,
    })
}

/// Traces a search lists when it names no `limit`, and the most it may ask for.
pub const DEFAULT_TRACE_LIMIT: usize = 20;
pub const MAX_TRACE_LIMIT: usize = 1000;

/// A trace search: `GET /api/traces?service=&endpoint=&error=&min_duration_ms=&since=&limit=&sort=`.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceSearch {
    /// With a span of this service.
    pub service: Option<String>,
    /// With an entry span serving this endpoint (of `service`, when given).
    pub endpoint: Option<String>,
    /// With (true) or without (false) a failed span.
    pub error: Option<bool>,
    /// Lasting at least this long.
    pub min_duration_ms: f64,
    /// Lasting at most this long.
    pub max_duration_ms: Option<f64>,
    /// With a span whose name, status message or any text attribute (its events' too: an exception's
    /// message) contains this, case aside: a statement's words, a URL, an error message.
    pub text: Option<String>,
    pub since: Option<Since>,
    /// At most this many, up to [`MAX_TRACE_LIMIT`].
    pub limit: usize,
    pub sort: TraceSort,
}

impl Default for TraceSearch {
    fn default() -> TraceSearch {
        TraceSearch {
            service: None,
            endpoint: None,
            error: None,
            min_duration_ms: 0.0,
            max_duration_ms: None,
            text: None,
            since: None,
            limit: DEFAULT_TRACE_LIMIT,
            sort: TraceSort::Start,
        }
    }
}

/// The parameters a trace search takes.
pub const TRACE_SEARCH_PARAMS: [&str; 9] = [
    "service",
    "endpoint",
    "error",
    "min_duration_ms",
    "max_duration_ms",
    "text",
    "since",
    "limit",
    "sort",
];

impl TraceSearch {
    /// The search as URL query pairs; parameters left at their default are left out.
    pub fn params(&self) -> Vec<(&'static str, String)> {
        let mut params = vec![("limit", self.limit.to_string())];
        if self.sort == TraceSort::Duration {
            params.push(("sort", "duration".to_owned()));
        }
        if let Some(service) = &self.service {
            params.push(("service", service.clone()));
        }
        if let Some(endpoint) = &self.endpoint {
            params.push(("endpoint", endpoint.clone()));
        }
        if let Some(error) = self.error {
            params.push(("error", error.to_string()));
        }
        if self.min_duration_ms > 0.0 {
            params.push(("min_duration_ms", self.min_duration_ms.to_string()));
        }
        if let Some(max) = self.max_duration_ms {
            params.push(("max_duration_ms", max.to_string()));
        }
        if let Some(text) = &self.text {
            params.push(("text", text.clone()));
        }
        if let Some(since) = self.since {
            params.push(("since", since.param()));
        }
        params
    }

    /// Reads a search from URL query pairs; an unknown parameter or a bad value is an error naming it.
    pub fn from_params(params: &HashMap<String, String>) -> Result<TraceSearch, String> {
        only(params, &TRACE_SEARCH_PARAMS)?;
        let min_duration_ms: f64 =
            parse(params, "min_duration_ms", "a number of milliseconds")?.unwrap_or(0.0);
        if !(min_duration_ms.is_finite() && min_duration_ms >= 0.0) {
            return Err("bad `min_duration_ms`: a number of milliseconds, not negative".to_owned());
        }
        let max_duration_ms: Option<f64> =
            parse(params, "max_duration_ms", "a number of milliseconds")?;
        if max_duration_ms.is_some_and(|max| !(max.is_finite() && max >= 0.0)) {
            return Err("bad `max_duration_ms`: a number of milliseconds, not negative".to_owned());
        }
        let text = params.get("text").filter(|text| !text.is_empty()).cloned();
        let limit: usize = parse(params, "limit", "a whole number")?.unwrap_or(DEFAULT_TRACE_LIMIT);
        if limit > MAX_TRACE_LIMIT {
            return Err(format!("bad `limit` {limit}: at most {MAX_TRACE_LIMIT}"));
        }
        let sort = match params.get("sort").map(String::as_str) {
            None | Some("start") => TraceSort::Start,
            Some("duration") => TraceSort::Duration,
            Some(other) => return Err(format!("bad `sort` {other:?}: use start or duration")),
        };
        let since = match params.get("since") {
            None => None,
            Some(text) => Some(Since::parse(text).ok_or_else(|| {
                format!(
                    "bad `since` {text:?}: unix nanoseconds, or a duration back from the newest span such as 30s, 5m, 2h"
                )
            })?),
        };
        Ok(TraceSearch {
            service: params.get("service").cloned(),
            endpoint: params.get("endpoint").cloned(),
            error: parse(params, "error", "true or false")?,
            min_duration_ms,
            max_duration_ms,
            text,
            since,
            limit,
            sort,
        })
    }
}

/// Checks that only `known` parameters were given, so a typo is an error rather than silently ignored.
pub fn only(params: &HashMap<String, String>, known: &[&str]) -> Result<(), String> {
    let mut unknown: Vec<&str> = params
        .keys()
        .map(String::as_str)
        .filter(|key| !known.contains(key))
        .collect();
    unknown.sort_unstable();
    match unknown.first() {
        Some(key) => Err(format!(
            "unknown parameter `{key}`; this endpoint takes: {}",
            known.join(", ")
        )),
        None => Ok(()),
    }
}

/// The parameter `key` read as a `T`, or an error saying it should be `what`.
pub fn parse<T: std::str::FromStr>(
    params: &HashMap<String, String>,
    key: &str,
    what: &str,
) -> Result<Option<T>, String> {
    params
        .get(key)
        .map(|text| {
            text.parse()
                .map_err(|_| format!("bad `{key}` {text:?}: {what}"))
        })
        .transpose()
}

/// The `window` parameter, [`Window::All`] when absent.
pub fn window(params: &HashMap<String, String>) -> Result<Window, String> {
    match params.get("window") {
        None => Ok(Window::All),
        Some(text) => Window::parse(text)
            .ok_or_else(|| format!("bad `window` {text:?}: use 1m, 5m, 15m or all")),
    }
}

/// The `sort` parameter of services and endpoints, `default` when absent.
pub fn sort(params: &HashMap<String, String>, default: Sort) -> Result<Sort, String> {
    match params.get("sort") {
        None => Ok(default),
        Some(text) => Sort::parse(text)
            .ok_or_else(|| format!("bad `sort` {text:?}: use latency, errors, requests or name")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(search: &TraceSearch) -> HashMap<String, String> {
        search
            .params()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect()
    }

    #[test]
    fn windows_and_sorts_read_back_what_they_write() {
        for text in ["1m", "5m", "15m", "all"] {
            assert_eq!(Window::parse(text).unwrap().param(), text);
        }
        for sort in [Sort::Latency, Sort::Errors, Sort::Requests, Sort::Name] {
            assert_eq!(Sort::parse(sort.param()), Some(sort));
        }
        assert_eq!(Window::parse("2m"), None);
    }

    #[test]
    fn a_search_reads_back_what_it_writes() {
        let searches = [
            TraceSearch::default(),
            TraceSearch {
                service: Some("store-frontend".into()),
                endpoint: Some("GET /t/{id}".into()),
                error: Some(true),
                min_duration_ms: 2.5,
                max_duration_ms: Some(5000.0),
                text: Some("FROM discount_type".into()),
                since: Some(Since::Ago(5 * MINUTE_NS)),
                limit: 200,
                sort: TraceSort::Duration,
            },
            TraceSearch {
                error: Some(false),
                since: Some(Since::UnixNano(1_790_000_000_000_000_000)),
                ..TraceSearch::default()
            },
            TraceSearch {
                since: Some(Since::Ago(90_000_000_000)),
                ..TraceSearch::default()
            },
        ];
        for search in searches {
            assert_eq!(TraceSearch::from_params(&pairs(&search)), Ok(search));
        }
    }

    #[test]
    fn bad_parameters_are_named() {
        let one = |k: &str, v: &str| HashMap::from([(k.to_owned(), v.to_owned())]);
        for (key, value, says) in [
            ("limit", "1001", "`limit`"),
            ("limit", "x", "`limit`"),
            ("sort", "name", "`sort`"),
            ("since", "5d", "`since`"),
            ("min_duration_ms", "-1", "`min_duration_ms`"),
            ("error", "yes", "`error`"),
            ("servce", "x", "unknown parameter `servce`"),
        ] {
            let error = TraceSearch::from_params(&one(key, value)).unwrap_err();
            assert!(error.contains(says), "{key}={value}: {error}");
        }
    }
}
