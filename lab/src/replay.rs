//! Replays recorded requests against a target at their recorded pace (or faster), the way
//! `gor --input-file ... --output-http ...` does, and summarises how the target answered.
//!
//! Each request keeps its method, path and query, headers and body. `Host` is rewritten to
//! the target, hop-by-hop headers are dropped and the client frames the body itself. The
//! recorded trace context (`traceparent`, `tracestate`, `baggage`) is dropped too: it names
//! the recorded trace, and a replayed request starts a trace of its own.
//! Redirects are not followed and compressed responses are not decoded: every response is
//! read to its last byte, which is where its latency is measured.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};
use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Client, Method, Url};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::gor::Request;

/// Headers that describe one connection, not the request, so a proxy or replayer must not
/// pass them on (RFC 9110 section 7.6.1, plus the common non-standard ones).
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Recorded headers a replay does not send, besides hop-by-hop ones: `Host` and
/// `Content-Length` are the client's to set, and the W3C trace context and baggage name the
/// recorded trace, which every replayed request (on every pass) would otherwise join.
const NOT_REPLAYED: [&str; 5] = [
    "host",
    "content-length",
    "traceparent",
    "tracestate",
    "baggage",
];

/// Longest wait before one request; slower paces are capped rather than overflowing.
const MAX_DELAY: Duration = Duration::from_secs(365 * 24 * 3600);

/// How often the progress line is redrawn.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);

/// How fast to replay.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// Recorded gaps divided by this factor: 1 is the recorded pace, 10 is ten times faster.
    Factor(f64),
    /// No waiting at all; only the concurrency limit holds requests back.
    Max,
}

impl Default for Speed {
    fn default() -> Self {
        Speed::Factor(1.0)
    }
}

/// Why a speed could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid speed {0:?}: expected a positive factor such as 1, 10x or 0.5x, or \"max\"")]
pub struct ParseSpeedError(String);

impl FromStr for Speed {
    type Err = ParseSpeedError;

    /// Accepts `max`, or a positive number with an optional `x` suffix (`10`, `10x`, `0.5x`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("max") {
            return Ok(Speed::Max);
        }
        let number = s.strip_suffix(['x', 'X']).unwrap_or(s);
        match number.parse::<f64>() {
            Ok(factor) if factor.is_finite() && factor > 0.0 => Ok(Speed::Factor(factor)),
            _ => Err(ParseSpeedError(s.to_owned())),
        }
    }
}

impl fmt::Display for Speed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Speed::Factor(factor) => write!(f, "{factor}x"),
            Speed::Max => f.write_str("max"),
        }
    }
}

impl Speed {
    /// How long after the start of a pass to send a request recorded `offset_ns` after the
    /// first one; `None` means at once.
    fn delay(self, offset_ns: u64) -> Option<Duration> {
        match self {
            Speed::Max => None,
            Speed::Factor(factor) => {
                let secs = offset_ns as f64 / 1e9 / factor;
                Some(Duration::try_from_secs_f64(secs).map_or(MAX_DELAY, |d| d.min(MAX_DELAY)))
            }
        }
    }
}

/// Where and how to replay.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// Base URL of the target, such as `http://127.0.0.1:3000`; recorded paths are appended.
    pub target: Url,
    pub speed: Speed,
    /// Most requests in flight at once.
    pub concurrency: usize,
    /// Start again after each pass, like `gor --input-file-loop`, until cancelled.
    pub loop_forever: bool,
    /// Limit for each request, from connecting to the last byte of the response.
    pub timeout: Duration,
    /// Show a progress line on stderr, redrawn a few times a second.
    pub progress: bool,
}

impl ReplayOptions {
    /// One pass at recorded speed, 16 requests in flight at most, 30 s timeout, no progress.
    pub fn new(target: Url) -> Self {
        ReplayOptions {
            target,
            speed: Speed::default(),
            concurrency: 16,
            loop_forever: false,
            timeout: Duration::from_secs(30),
            progress: false,
        }
    }
}

/// What happened to one sent request.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Index of the request in the replayed slice.
    pub index: usize,
    /// Which pass over the requests sent it, from 0.
    pub pass: u64,
    pub method: String,
    /// The request target as recorded.
    pub target: String,
    /// The response status; `None` when no response arrived (see `error`).
    pub status: Option<u16>,
    /// Why the request failed: connection, timeout or body errors, or an unsendable request.
    pub error: Option<String>,
    /// From sending the request to the last byte of the response (or to the failure).
    pub latency: Duration,
}

/// Everything a replay did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// One entry per sent request, ordered by pass and index. Requests still in flight when
    /// the replay was cancelled are left out.
    pub outcomes: Vec<Outcome>,
    /// Wall-clock time of the whole replay.
    pub elapsed: Duration,
}

/// Counts and latencies of a [`Report`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub requests: usize,
    pub status_2xx: usize,
    pub status_3xx: usize,
    pub status_4xx: usize,
    pub status_5xx: usize,
    /// Responses with a status outside 200..=599.
    pub status_other: usize,
    /// Requests that got no response.
    pub transport_errors: usize,
    /// Nearest-rank percentiles and maximum of the latencies of requests that got a
    /// response; `None` when none did.
    pub p50: Option<Duration>,
    pub p95: Option<Duration>,
    pub max: Option<Duration>,
    pub elapsed: Duration,
}

impl Report {
    pub fn summary(&self) -> Summary {
        let mut summary = Summary {
            requests: self.outcomes.len(),
            elapsed: self.elapsed,
            ..Summary::default()
        };
        let mut latencies = Vec::with_capacity(self.outcomes.len());
        for outcome in &self.outcomes {
            let Some(status) = outcome.status else {
                summary.transport_errors += 1;
                continue;
            };
            *match status / 100 {
                2 => &mut summary.status_2xx,
                3 => &mut summary.status_3xx,
                4 => &mut summary.status_4xx,
                5 => &mut summary.status_5xx,
                _ => &mut summary.status_other,
            } += 1;
            latencies.push(outcome.latency);
        }
        latencies.sort_unstable();
        summary.p50 = percentile(&latencies, 50);
        summary.p95 = percentile(&latencies, 95);
        summary.max = latencies.last().copied();
        summary
    }
}

impl Summary {
    /// Requests per second of wall-clock time.
    pub fn requests_per_second(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.requests as f64 / secs
        } else {
            0.0
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |d: Option<Duration>| {
            d.map_or("-".to_owned(), |d| {
                format!("{:.1} ms", d.as_secs_f64() * 1e3)
            })
        };
        writeln!(
            f,
            "requests   {} in {:.2} s, {:.1} req/s",
            self.requests,
            self.elapsed.as_secs_f64(),
            self.requests_per_second()
        )?;
        write!(
            f,
            "responses  2xx {}, 3xx {}, 4xx {}, 5xx {}",
            self.status_2xx, self.status_3xx, self.status_4xx, self.status_5xx
        )?;
        if self.status_other > 0 {
            write!(f, ", other {}", self.status_other)?;
        }
        writeln!(f)?;
        writeln!(f, "errors     {} without a response", self.transport_errors)?;
        write!(
            f,
            "latency    p50 {}, p95 {}, max {}",
            ms(self.p50),
            ms(self.p95),
            ms(self.max)
        )
    }
}

/// The nearest-rank `p`th percentile of `sorted`: the smallest value with at least p% of
/// the values at or below it.
fn percentile(sorted: &[Duration], p: usize) -> Option<Duration> {
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

/// Sends `requests` to `opts.target`, each `(timestamp - first timestamp) / speed` after the
/// start of its pass, and reports every outcome.
///
/// A failed request is an [`Outcome`] without a status, not an error of the replay; errors
/// are only for unusable options. When looping, a pass starts as soon as the previous pass
/// has sent its last request. Cancelling `cancel` stops sending, abandons requests in
/// flight and returns the outcomes so far. A replay keeps its latest [`MAX_OUTCOMES`]
/// outcomes, so a `loop_forever` replay runs for days in bounded memory.
pub async fn replay(
    requests: &[Request],
    opts: &ReplayOptions,
    cancel: &CancellationToken,
) -> anyhow::Result<Report> {
    if opts.concurrency == 0 {
        bail!("concurrency must be at least 1");
    }
    if let Speed::Factor(factor) = opts.speed
        && !(factor.is_finite() && factor > 0.0)
    {
        bail!("speed factor must be a positive number, not {factor}");
    }
    check_target(&opts.target)?;
    let started = Instant::now();
    let Some(first) = requests.first() else {
        return Ok(Report::default());
    };

    let client = http_client()
        .timeout(opts.timeout)
        .connect_timeout(opts.timeout)
        .pool_max_idle_per_host(opts.concurrency)
        .build()
        .context("building the HTTP client")?;
    let jobs: Arc<[Job]> = requests
        .iter()
        .map(|req| Job {
            method: req.method.clone(),
            target: req.target.clone(),
            prepared: prepare(req, &opts.target),
        })
        .collect();
    let slots = Arc::new(Semaphore::new(opts.concurrency));
    let progress = Arc::new(Progress::default());
    let stop_progress = CancellationToken::new();
    let progress_task = opts
        .progress
        .then(|| tokio::spawn(progress.clone().show(started, stop_progress.clone())));

    let mut in_flight = JoinSet::new();
    let mut outcomes = Vec::new();
    let mut pass = 0;
    'passes: loop {
        let pass_started = Instant::now();
        progress.pass.store(pass, Ordering::Relaxed);
        for (index, req) in requests.iter().enumerate() {
            if let Some(delay) = opts
                .speed
                .delay(req.timestamp_ns.saturating_sub(first.timestamp_ns))
            {
                tokio::select! {
                    biased;
                    () = cancel.cancelled() => break 'passes,
                    () = tokio::time::sleep_until(pass_started + delay) => {}
                }
            }
            let slot = tokio::select! {
                biased;
                () = cancel.cancelled() => break 'passes,
                slot = slots.clone().acquire_owned() => slot.context("semaphore closed")?,
            };
            while let Some(done) = in_flight.try_join_next() {
                collect(done, &mut outcomes);
            }
            progress.sent.fetch_add(1, Ordering::Relaxed);
            let (client, jobs, progress) = (client.clone(), jobs.clone(), progress.clone());
            in_flight.spawn(async move {
                let outcome = send(&client, &jobs[index], index, pass).await;
                drop(slot);
                progress.finished(&outcome);
                outcome
            });
        }
        if !opts.loop_forever {
            break;
        }
        pass += 1;
    }
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => {
                in_flight.abort_all();
                while let Some(done) = in_flight.join_next().await {
                    collect(done, &mut outcomes);
                }
                break;
            }
            done = in_flight.join_next() => match done {
                Some(done) => collect(done, &mut outcomes),
                None => break,
            },
        }
    }

    if let Some(task) = progress_task {
        stop_progress.cancel();
        let _ = task.await;
    }
    outcomes.sort_by_key(|o| (o.pass, o.index));
    Ok(Report {
        outcomes,
        elapsed: started.elapsed(),
    })
}

/// The most outcomes a report keeps: past it, the older half is dropped.
pub const MAX_OUTCOMES: usize = 100_000;

/// Adds a finished task's outcome; tasks aborted by cancellation have none.
fn collect(done: Result<Outcome, tokio::task::JoinError>, outcomes: &mut Vec<Outcome>) {
    match done {
        Ok(outcome) => {
            if outcomes.len() >= MAX_OUTCOMES {
                outcomes.drain(..MAX_OUTCOMES / 2);
            }
            outcomes.push(outcome);
        }
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => {}
    }
}

/// One request, converted for sending once for all passes.
struct Job {
    method: String,
    target: String,
    prepared: Result<Prepared, String>,
}

struct Prepared {
    method: Method,
    url: Url,
    headers: HeaderMap,
    body: Option<Bytes>,
}

fn prepare(req: &Request, base: &Url) -> Result<Prepared, String> {
    let method = Method::from_bytes(req.method.as_bytes())
        .map_err(|_| format!("invalid method {:?}", req.method))?;
    let url = target_url(base, &req.target)?;
    let headers = forwardable_headers(
        req.headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes())),
        &NOT_REPLAYED,
    )?;
    // Send a body when there is one, and an empty one where the recording framed one.
    let body =
        (!req.body.is_empty() || req.header("content-length").is_some()).then(|| req.body.clone());
    Ok(Prepared {
        method,
        url,
        headers,
        body,
    })
}

async fn send(client: &Client, job: &Job, index: usize, pass: u64) -> Outcome {
    let started = Instant::now();
    let result = match &job.prepared {
        Ok(prepared) => {
            let mut request = client
                .request(prepared.method.clone(), prepared.url.clone())
                .headers(prepared.headers.clone());
            if let Some(body) = &prepared.body {
                request = request.body(body.clone());
            }
            match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    match response.bytes().await {
                        Ok(_) => Ok(status),
                        Err(e) => Err(format!("{:#}", anyhow::Error::from(e))),
                    }
                }
                Err(e) => Err(format!("{:#}", anyhow::Error::from(e))),
            }
        }
        Err(why) => Err(why.clone()),
    };
    Outcome {
        index,
        pass,
        method: job.method.clone(),
        target: job.target.clone(),
        status: result.as_ref().ok().copied(),
        error: result.err(),
        latency: started.elapsed(),
    }
}

/// Counters behind the progress line.
#[derive(Default)]
struct Progress {
    pass: AtomicU64,
    sent: AtomicU64,
    done: AtomicU64,
    failed: AtomicU64,
}

impl Progress {
    fn finished(&self, outcome: &Outcome) {
        self.done.fetch_add(1, Ordering::Relaxed);
        if outcome.status.is_none() {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn line(&self, started: Instant) -> String {
        format!(
            "\rpass {}: {} sent, {} done, {} without response, {:.1} s ",
            self.pass.load(Ordering::Relaxed) + 1,
            self.sent.load(Ordering::Relaxed),
            self.done.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
            started.elapsed().as_secs_f64()
        )
    }

    /// Redraws the progress line until `stop`, then draws it a last time and ends it.
    async fn show(self: Arc<Self>, started: Instant, stop: CancellationToken) {
        let mut ticks = tokio::time::interval(PROGRESS_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = ticks.tick() => eprint!("{}", self.line(started)),
            }
        }
        eprintln!("{}", self.line(started));
    }
}

/// A client that sends requests as given: no redirects, no proxies, no decompression.
pub(crate) fn http_client() -> reqwest::ClientBuilder {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
}

/// Checks that `base` can be a replay or proxy target.
pub(crate) fn check_target(base: &Url) -> anyhow::Result<()> {
    if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
        bail!("target {base} is not an http:// URL with a host");
    }
    Ok(())
}

/// The URL for sending a request recorded with `target` (path and query, or an absolute
/// URL whose path and query are used) to `base`, appending to any path `base` has.
pub(crate) fn target_url(base: &Url, target: &str) -> Result<Url, String> {
    let path_and_query = if target.starts_with('/') {
        target.to_owned()
    } else if let Ok(absolute) = Url::parse(target) {
        match absolute.query() {
            Some(query) => format!("{}?{query}", absolute.path()),
            None => absolute.path().to_owned(),
        }
    } else {
        return Err(format!("request target {target:?} is not a path"));
    };
    let mut base = base.clone();
    base.set_query(None);
    base.set_fragment(None);
    let url = format!("{}{path_and_query}", base.as_str().trim_end_matches('/'));
    Url::parse(&url).map_err(|e| format!("bad URL {url:?}: {e}"))
}

/// Converts headers for forwarding, dropping hop-by-hop ones, those the `Connection`
/// header names, and those in `also_drop` (lowercase).
pub(crate) fn forwardable_headers<'a>(
    headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    also_drop: &[&str],
) -> Result<HeaderMap, String> {
    let headers: Vec<_> = headers.into_iter().collect();
    let named_by_connection: Vec<String> = headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("connection"))
        .flat_map(|(_, value)| {
            String::from_utf8_lossy(value)
                .split(',')
                .map(|token| token.trim().to_ascii_lowercase())
                .collect::<Vec<_>>()
        })
        .collect();
    let mut map = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        if HOP_BY_HOP.contains(&lower.as_str())
            || also_drop.contains(&lower.as_str())
            || named_by_connection.contains(&lower)
        {
            continue;
        }
        let name =
            HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("bad header {name:?}"))?;
        let value =
            HeaderValue::from_bytes(value).map_err(|_| format!("bad value for header {name:?}"))?;
        map.append(name, value);
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::net::SocketAddr;
    use std::sync::Mutex;

    use axum::extract::State;
    use axum::http::{HeaderMap as Headers, StatusCode, Uri};
    use axum::response::{IntoResponse, Redirect};
    use axum::routing::get;
    use bytes::Bytes;

    use crate::gor;

    /// A request as the test server saw it.
    #[derive(Debug, Clone)]
    struct Seen {
        method: String,
        uri: String,
        headers: Headers,
        body: Bytes,
        at: Instant,
    }

    #[derive(Default)]
    struct Target {
        seen: Mutex<Vec<Seen>>,
        in_flight: AtomicU64,
        max_in_flight: AtomicU64,
    }

    /// Records every request; `/slow` takes 50 ms, `/stuck` ten seconds, `/redirect` redirects.
    async fn start_target() -> (SocketAddr, Arc<Target>) {
        async fn record(
            State(target): State<Arc<Target>>,
            method: Method,
            uri: Uri,
            headers: Headers,
            body: Bytes,
        ) -> impl IntoResponse {
            let now = target.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            target.max_in_flight.fetch_max(now, Ordering::SeqCst);
            target.seen.lock().unwrap().push(Seen {
                method: method.to_string(),
                uri: uri.to_string(),
                headers,
                body: body.clone(),
                at: Instant::now(),
            });
            match uri.path() {
                "/slow" => tokio::time::sleep(Duration::from_millis(50)).await,
                "/stuck" => tokio::time::sleep(Duration::from_secs(10)).await,
                _ => {}
            }
            target.in_flight.fetch_sub(1, Ordering::SeqCst);
            (StatusCode::OK, body)
        }
        let target = Arc::new(Target::default());
        let app = axum::Router::new()
            .route("/redirect", get(|| async { Redirect::to("/elsewhere") }))
            .fallback(record)
            .with_state(target.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (addr, target)
    }

    fn request(method: &str, target: &str, at_ms: u64) -> gor::Request {
        gor::Request {
            id: gor::new_id(),
            timestamp_ns: 1_568_139_746_437_296_000 + at_ms * 1_000_000,
            method: method.to_owned(),
            target: target.to_owned(),
            headers: vec![("Host".to_owned(), "localhost:3000".to_owned())],
            body: Bytes::new(),
            offset: 0,
        }
    }

    fn options(addr: SocketAddr, speed: Speed) -> ReplayOptions {
        ReplayOptions {
            speed,
            ..ReplayOptions::new(format!("http://{addr}").parse().unwrap())
        }
    }

    #[test]
    fn speeds_parse() {
        assert_eq!("10".parse(), Ok(Speed::Factor(10.0)));
        assert_eq!("10x".parse(), Ok(Speed::Factor(10.0)));
        assert_eq!("0.5X".parse(), Ok(Speed::Factor(0.5)));
        assert_eq!("max".parse(), Ok(Speed::Max));
        assert_eq!("MAX".parse(), Ok(Speed::Max));
        for bad in ["", "x", "0", "-2", "fast", "inf", "NaN", "1e999"] {
            assert!(bad.parse::<Speed>().is_err(), "{bad:?}");
        }
        assert_eq!(Speed::Factor(2.5).to_string(), "2.5x");
        assert_eq!(Speed::Max.to_string().parse(), Ok(Speed::Max));
    }

    #[test]
    fn nearest_rank_percentiles() {
        let ms = |n: u64| Duration::from_millis(n);
        let sorted: Vec<Duration> = (1..=20).map(ms).collect();
        assert_eq!(percentile(&sorted, 50), Some(ms(10)));
        assert_eq!(percentile(&sorted, 95), Some(ms(19)));
        assert_eq!(percentile(&sorted, 100), Some(ms(20)));
        assert_eq!(percentile(&[ms(7)], 50), Some(ms(7)));
        assert_eq!(percentile(&[ms(1), ms(2), ms(3)], 50), Some(ms(2)));
        assert_eq!(percentile(&[], 50), None);
    }

    #[test]
    fn summary_counts_classes_and_prints() {
        let outcome = |status: Option<u16>, ms: u64| Outcome {
            index: 0,
            pass: 0,
            method: "GET".to_owned(),
            target: "/".to_owned(),
            status,
            error: status.is_none().then(|| "refused".to_owned()),
            latency: Duration::from_millis(ms),
        };
        let report = Report {
            outcomes: vec![
                outcome(Some(200), 10),
                outcome(Some(204), 20),
                outcome(Some(302), 30),
                outcome(Some(404), 40),
                outcome(Some(503), 50),
                outcome(None, 5000),
            ],
            elapsed: Duration::from_secs(2),
        };
        let summary = report.summary();
        assert_eq!(
            (summary.requests, summary.status_2xx, summary.status_3xx),
            (6, 2, 1)
        );
        assert_eq!((summary.status_4xx, summary.status_5xx), (1, 1));
        assert_eq!((summary.status_other, summary.transport_errors), (0, 1));
        assert_eq!(summary.p50, Some(Duration::from_millis(30)));
        assert_eq!(summary.max, Some(Duration::from_millis(50)));
        assert_eq!(summary.requests_per_second(), 3.0);
        let text = summary.to_string();
        assert!(text.contains("6 in 2.00 s, 3.0 req/s"), "{text}");
        assert!(text.contains("2xx 2, 3xx 1, 4xx 1, 5xx 1"), "{text}");
        assert!(
            text.contains("p50 30.0 ms, p95 50.0 ms, max 50.0 ms"),
            "{text}"
        );
        assert!(Report::default().summary().to_string().contains("p50 -"));
    }

    #[test]
    fn target_urls_keep_path_and_query() {
        let base: Url = "http://127.0.0.1:3000".parse().unwrap();
        let url = |base: &Url, target| target_url(base, target).unwrap().to_string();
        assert_eq!(url(&base, "/a/b?c=1&d"), "http://127.0.0.1:3000/a/b?c=1&d");
        assert_eq!(url(&base, "http://x.test/p?q"), "http://127.0.0.1:3000/p?q");
        let prefixed: Url = "http://h:1/api/?ignored".parse().unwrap();
        assert_eq!(url(&prefixed, "/v1"), "http://h:1/api/v1");
        assert!(target_url(&base, "*").is_err());
    }

    #[tokio::test]
    async fn keeps_request_rewrites_host_and_does_not_follow_redirects() {
        let (addr, target) = start_target().await;
        let mut post = request("POST", "/api/cart/items?dry_run=1", 0);
        let body = br#"{"product":7,"quantity":2}"#;
        post.body = Bytes::from_static(body);
        post.headers.extend(
            [
                ("Content-Type", "application/json"),
                ("Content-Length", "999"),
                ("Connection", "keep-alive, X-Hop"),
                ("X-Hop", "dropped"),
                ("Keep-Alive", "timeout=5"),
                ("Cookie", "session=abc"),
                ("X-Repeated", "one"),
                ("X-Repeated", "two"),
            ]
            .map(|(n, v)| (n.to_owned(), v.to_owned())),
        );
        let requests = [post, request("GET", "/redirect", 0)];

        let report = replay(
            &requests,
            &options(addr, Speed::Max),
            &CancellationToken::new(),
        )
        .await
        .unwrap();
        let statuses: Vec<_> = report.outcomes.iter().map(|o| o.status).collect();
        assert_eq!(statuses, [Some(200), Some(303)], "{:?}", report.outcomes);
        assert_eq!(report.outcomes[1].target, "/redirect");

        let seen = target.seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 1, "redirect must not be followed: {seen:?}");
        let seen = &seen[0];
        assert_eq!(seen.method, "POST");
        assert_eq!(seen.uri, "/api/cart/items?dry_run=1");
        assert_eq!(seen.headers["host"], addr.to_string());
        assert_eq!(seen.headers["content-type"], "application/json");
        assert_eq!(seen.headers["cookie"], "session=abc");
        assert_eq!(seen.headers["content-length"], body.len().to_string());
        let repeated: Vec<_> = seen.headers.get_all("x-repeated").iter().collect();
        assert_eq!(repeated, ["one", "two"]);
        for dropped in ["x-hop", "keep-alive", "transfer-encoding"] {
            assert!(!seen.headers.contains_key(dropped), "{dropped}: {seen:?}");
        }
        assert_eq!(seen.headers.get_all("host").iter().count(), 1);
        assert_eq!(&seen.body[..], body);
    }

    #[test]
    fn the_recorded_trace_context_is_not_replayed() {
        let mut recorded = request("GET", "/", 0);
        recorded.headers.extend(
            [
                (
                    "Traceparent",
                    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                ),
                ("tracestate", "vendor=recorded"),
                ("Baggage", "user=recorded"),
                ("Cookie", "session=abc"),
            ]
            .map(|(n, v)| (n.to_owned(), v.to_owned())),
        );
        let prepared = prepare(&recorded, &"http://127.0.0.1:3000".parse().unwrap()).unwrap();
        let names: Vec<&str> = prepared.headers.keys().map(HeaderName::as_str).collect();
        assert_eq!(names, ["cookie"], "{:?}", prepared.headers);
    }

    #[tokio::test]
    async fn keeps_recorded_pace_divided_by_speed() {
        let (addr, target) = start_target().await;
        let requests = [request("GET", "/first", 0), request("GET", "/second", 1000)];
        let report = replay(
            &requests,
            &options(addr, Speed::Factor(10.0)),
            &CancellationToken::new(),
        )
        .await
        .unwrap();
        assert_eq!(report.summary().status_2xx, 2);
        let seen = target.seen.lock().unwrap().clone();
        assert_eq!(seen[1].uri, "/second");
        let gap = seen[1].at - seen[0].at;
        assert!(gap >= Duration::from_millis(90), "{gap:?}");
        assert!(report.elapsed >= Duration::from_millis(90));
    }

    #[tokio::test]
    async fn respects_concurrency_limit() {
        let (addr, target) = start_target().await;
        let requests: Vec<_> = (0..20).map(|_| request("GET", "/slow", 0)).collect();
        let opts = ReplayOptions {
            concurrency: 3,
            ..options(addr, Speed::Max)
        };
        let report = replay(&requests, &opts, &CancellationToken::new())
            .await
            .unwrap();
        assert_eq!(report.summary().status_2xx, 20);
        let indexes: Vec<_> = report.outcomes.iter().map(|o| o.index).collect();
        assert_eq!(indexes, (0..20).collect::<Vec<_>>());
        let max = target.max_in_flight.load(Ordering::SeqCst);
        assert!((2..=3).contains(&max), "max in flight {max}");
    }

    #[tokio::test]
    async fn transport_errors_are_outcomes() {
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let requests = [request("GET", "/", 0), request("DELETE", "/x", 0)];
        let report = replay(
            &requests,
            &options(closed, Speed::Max),
            &CancellationToken::new(),
        )
        .await
        .unwrap();
        assert_eq!(report.outcomes.len(), 2);
        for outcome in &report.outcomes {
            assert_eq!(outcome.status, None);
            assert!(outcome.error.is_some());
        }
        assert_eq!(report.outcomes[1].method, "DELETE");
        assert_eq!(report.summary().transport_errors, 2);
    }

    #[tokio::test]
    async fn loops_until_cancelled_and_returns_promptly() {
        let (addr, target) = start_target().await;
        let requests = [request("GET", "/a", 0), request("GET", "/b", 20)];
        let opts = ReplayOptions {
            loop_forever: true,
            progress: true,
            ..options(addr, Speed::Factor(1.0))
        };
        let cancel = CancellationToken::new();
        let canceller = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            canceller.cancel();
        });
        let report =
            tokio::time::timeout(Duration::from_secs(5), replay(&requests, &opts, &cancel))
                .await
                .expect("replay did not stop when cancelled")
                .unwrap();
        assert!(report.outcomes.iter().any(|o| o.pass >= 2), "{report:?}");
        assert!(report.outcomes.iter().all(|o| o.status == Some(200)));
        // Requests in flight at cancellation reach the server but are abandoned without an outcome.
        let seen = target.seen.lock().unwrap().len();
        assert!(
            (report.outcomes.len()..=report.outcomes.len() + opts.concurrency).contains(&seen),
            "the server saw {seen} requests, the report has {}",
            report.outcomes.len()
        );
    }

    #[tokio::test]
    async fn cancel_abandons_requests_in_flight() {
        let (addr, _target) = start_target().await;
        let requests = [request("GET", "/stuck", 0)];
        let cancel = CancellationToken::new();
        let canceller = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            canceller.cancel();
        });
        let report = replay(&requests, &options(addr, Speed::Max), &cancel)
            .await
            .unwrap();
        assert!(report.outcomes.is_empty());
        assert!(
            report.elapsed < Duration::from_secs(5),
            "{:?}",
            report.elapsed
        );
    }

    #[tokio::test]
    async fn rejects_unusable_options() {
        let requests = [request("GET", "/", 0)];
        let cancel = CancellationToken::new();
        let base = options("127.0.0.1:9".parse().unwrap(), Speed::Max);
        let zero = ReplayOptions {
            concurrency: 0,
            ..base.clone()
        };
        assert!(replay(&requests, &zero, &cancel).await.is_err());
        let stopped = ReplayOptions {
            speed: Speed::Factor(0.0),
            ..base.clone()
        };
        assert!(replay(&requests, &stopped, &cancel).await.is_err());
        let ftp = ReplayOptions {
            target: "ftp://example.test".parse().unwrap(),
            ..base
        };
        assert!(replay(&requests, &ftp, &cancel).await.is_err());
    }
}
