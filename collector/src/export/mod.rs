//! The way out: every span the collector accepts, from any receiver or in-process, offered to each exporter
//! that is switched on (`--export-otlp`, `--export-datadog`), which sends it on to a backend in batches.
//!
//! The ingest writer calls [`Exports::offer`] with each batch it stores: that copies the batch once into a
//! shared [`queue::Batch`] and pushes it onto each enabled exporter's bounded [`queue::ExportQueue`], which
//! drops its oldest batches (counted) when the backend is slow or down — the writer never waits on a backend.
//! Each exporter runs as a task of its own ([`run`]): it takes up to a batch of spans, encodes them
//! ([`otlp`], [`datadog`]) and posts them, retrying only what the OTLP specification says to retry (429,
//! 502, 503, 504 and failed connections), after `Retry-After` when the backend says, else after an
//! exponential back-off with jitter. Every span offered is accounted for: queued, in flight, sent, rejected
//! by the backend, failed or dropped ([`protocol::ExportStats`]).
//!
//! The browser's batches take the same way out ([`rum`], `--export-rum`): the RUM intake offers each batch it
//! receives, as the browser sent it, to the `datadog-rum` exporter ([`Exports::offer_browser`]), which posts it
//! to Datadog's browser intake as Datadog's proxy guide says, one batch a request, counted in batches.
//! `https://` is sent with rustls (the system's roots, and any `--export-certificate` beside them).

pub mod datadog;
pub mod otlp;
pub mod queue;
pub mod rum;

use std::hash::{BuildHasher as _, Hasher as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use protocol::ExportStats;
use reqwest::header::HeaderMap;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::model::Span;
use queue::{Batch, ExportQueue, Item};

/// Spans an exporter's queue holds before it drops its oldest, by default.
pub const DEFAULT_QUEUE_SPANS: usize = 100_000;
/// About the most bytes of spans an exporter's queue holds before it drops its oldest, by default.
pub const DEFAULT_QUEUE_BYTES: usize = 128 << 20;
/// Spans sent in one request, at most (a single larger batch is sent whole), by default.
pub const DEFAULT_BATCH_SPANS: usize = 2_048;
/// About the most bytes of spans in one request (a single larger batch is sent whole), by default: well under
/// the 50 MB an Agent takes, even for spans at the span limits.
pub const DEFAULT_BATCH_BYTES: usize = 8 << 20;

/// When and how long to retry, as the OTLP exporters' defaults: 5 s doubling up to 30 s, for at most a minute.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub initial: Duration,
    pub max: Duration,
    /// A batch still failing this long after its first attempt is given up (counted `failed`).
    pub max_elapsed: Duration,
}

impl Default for Retry {
    fn default() -> Retry {
        Retry {
            initial: Duration::from_secs(5),
            max: Duration::from_secs(30),
            max_elapsed: Duration::from_secs(60),
        }
    }
}

impl Retry {
    /// The wait before retry number `attempt` (0 for the first retry): the interval doubled per attempt,
    /// capped, then jittered uniformly between half and one and a half of itself.
    fn backoff(&self, attempt: u32) -> Duration {
        let interval = self
            .initial
            .saturating_mul(1 << attempt.min(16))
            .min(self.max);
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(attempt);
        let jitter = (hasher.finish() % 1_000) as f64 / 1_000.0;
        interval.mul_f64(0.5 + jitter)
    }
}

/// Which exporters to start, and how they send.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    pub otlp: Option<otlp::OtlpTarget>,
    pub datadog: Option<datadog::DatadogTarget>,
    /// Where the browser's batches go on to: Datadog's browser intake (`--export-rum`).
    pub rum: Option<rum::RumTarget>,
    /// Root certificates (PEM files) trusted beside the system's for `https://` (`--export-certificate`).
    pub root_certificates: Vec<PathBuf>,
    /// Each span exporter's queue, in spans.
    pub queue_spans: usize,
    /// The RUM forward's queue, in browser batches.
    pub rum_queue_batches: usize,
    /// Each exporter's queue, in bytes the spans hold (about).
    pub queue_bytes: usize,
    /// Spans a request carries, at most.
    pub batch_spans: usize,
    /// Bytes of spans a request carries, at most (about).
    pub batch_bytes: usize,
    /// How long to gather spans into one request once some are waiting.
    pub linger: Duration,
    pub retry: Retry,
    /// How long one request may take.
    pub timeout: Duration,
    /// How long a stopping collector lets its exporters send what they hold; what is left is `dropped`.
    pub grace: Duration,
    /// Whether the exporters start switched on.
    pub enabled: bool,
}

impl Default for ExportOptions {
    fn default() -> ExportOptions {
        ExportOptions {
            otlp: None,
            datadog: None,
            rum: None,
            root_certificates: Vec::new(),
            rum_queue_batches: rum::QUEUE_BATCHES,
            queue_spans: DEFAULT_QUEUE_SPANS,
            queue_bytes: DEFAULT_QUEUE_BYTES,
            batch_spans: DEFAULT_BATCH_SPANS,
            batch_bytes: DEFAULT_BATCH_BYTES,
            linger: Duration::from_millis(200),
            retry: Retry::default(),
            timeout: Duration::from_secs(10),
            grace: Duration::from_secs(5),
            enabled: true,
        }
    }
}

impl ExportOptions {
    pub fn is_empty(&self) -> bool {
        self.otlp.is_none() && self.datadog.is_none() && self.rum.is_none()
    }
}

/// The URL to post to: `path` after the base URL `flag` was given, `http://` or `https://`.
fn endpoint(flag: &str, base: &str, path: &str) -> anyhow::Result<reqwest::Url> {
    let url: reqwest::Url = format!("{}/{path}", base.trim_end_matches('/'))
        .parse()
        .map_err(|err| anyhow::anyhow!("{flag} {base:?} is not a URL: {err}"))?;
    match url.scheme() {
        "http" | "https" if url.host_str().is_some() => Ok(url),
        "http" | "https" => anyhow::bail!("{flag} {base}: no host"),
        other => anyhow::bail!("{flag} {base}: {other}:// is neither http:// nor https://"),
    }
}

/// A request ready to post: its body and headers, made once and sent again as it is on a retry.
pub(crate) struct Payload {
    pub body: Bytes,
    pub headers: HeaderMap,
    /// Spans the format cannot carry, left out (counted `failed`), and why.
    pub unsendable: (u64, Option<String>),
    /// Where this request goes, when not to [`Backend::url`] (a browser batch names its own query).
    pub url: Option<reqwest::Url>,
}

/// What an exporter speaks: how spans (or a browser batch) become a request, and what an accepted answer says
/// was refused.
pub(crate) trait Backend: Send + Sync + 'static {
    fn url(&self) -> &reqwest::Url;
    /// Whether it sends the browser's batches, one a request, rather than spans.
    fn browser(&self) -> bool {
        false
    }
    fn encode(&self, items: &[Item], count: usize) -> Result<Payload, String>;
    /// Spans an accepted (2xx) answer says the backend refused, and why.
    fn rejected(&self, body: &[u8]) -> (u64, Option<String>);
}

/// One exporter: its switch, its queue and its counts.
#[derive(Debug)]
pub struct Exporter {
    name: &'static str,
    endpoint: String,
    target: Option<SocketAddr>,
    enabled: AtomicBool,
    /// Whether it takes the browser's batches rather than spans.
    browser: bool,
    queue: ExportQueue,
    wake: Notify,
    offered: AtomicU64,
    in_flight: AtomicU64,
    sent: AtomicU64,
    retried: AtomicU64,
    failed: AtomicU64,
    rejected: AtomicU64,
    dropped: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl Exporter {
    fn new(name: &'static str, backend: &dyn Backend, options: &ExportOptions) -> Exporter {
        let url = backend.url();
        let queue = if backend.browser() {
            ExportQueue::new(options.rum_queue_batches, rum::QUEUE_BYTES)
        } else {
            ExportQueue::new(options.queue_spans, options.queue_bytes)
        };
        Exporter {
            name,
            endpoint: url.to_string(),
            target: loopback_target(url),
            enabled: AtomicBool::new(options.enabled),
            browser: backend.browser(),
            queue,
            wake: Notify::new(),
            offered: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            retried: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            last_error: Mutex::new(None),
        }
    }

    fn offer(&self, batch: Item, bytes: usize) {
        self.offered.fetch_add(batch.count() as u64, Relaxed);
        let dropped = self.queue.push(batch, bytes);
        if dropped > 0 {
            self.dropped.fetch_add(dropped as u64, Relaxed);
        }
        self.wake.notify_one();
    }

    pub fn stats(&self) -> ExportStats {
        ExportStats {
            name: self.name.to_owned(),
            endpoint: self.endpoint.clone(),
            enabled: self.enabled.load(Relaxed),
            offered: self.offered.load(Relaxed),
            queued: self.queue.len() as u64,
            in_flight: self.in_flight.load(Relaxed),
            sent: self.sent.load(Relaxed),
            retried: self.retried.load(Relaxed),
            failed: self.failed.load(Relaxed),
            rejected: self.rejected.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            last_error: self.last_error.lock().clone(),
        }
    }

    /// What its counts count.
    fn unit(&self) -> &'static str {
        if self.browser {
            "browser batches"
        } else {
            "spans"
        }
    }

    fn fail(&self, spans: u64, why: String) {
        self.failed.fetch_add(spans, Relaxed);
        self.note(why);
    }

    fn note(&self, why: String) {
        tracing::warn!(exporter = self.name, "{why}");
        *self.last_error.lock() = Some(why);
    }
}

/// The address a URL names when it is this machine's (a loopback address or `localhost`), to refuse an
/// exporter that would send the lab's spans back to itself.
fn loopback_target(url: &reqwest::Url) -> Option<SocketAddr> {
    let port = url.port_or_known_default()?;
    let host = url
        .host_str()?
        .trim_start_matches('[')
        .trim_end_matches(']');
    let ip: std::net::IpAddr = if host.eq_ignore_ascii_case("localhost") {
        std::net::Ipv4Addr::LOCALHOST.into()
    } else {
        host.parse().ok()?
    };
    (ip.is_loopback() || ip.is_unspecified()).then_some(SocketAddr::new(ip, port))
}

/// The collector's exporters, as the ingest writer, the query API and the dashboard hold them. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Exports {
    exporters: Arc<[Arc<Exporter>]>,
}

impl Exports {
    /// No exporter: offering does nothing.
    pub fn none() -> Exports {
        Exports::default()
    }

    pub fn is_empty(&self) -> bool {
        self.exporters.is_empty()
    }

    /// Whether any span exporter is switched on (and so wants the batches).
    pub fn wants(&self) -> bool {
        self.exporters
            .iter()
            .any(|e| !e.browser && e.enabled.load(Relaxed))
    }

    /// Offers a browser batch, as the browser sent it, to the RUM forward when it is switched on. Never waits on
    /// a backend: a full queue drops its oldest batch, counted.
    pub fn offer_browser(&self, forward: rum::Forward) {
        let mut forward = Some(forward);
        for exporter in self.exporters.iter() {
            if exporter.browser && exporter.enabled.load(Relaxed) {
                let Some(forward) = forward.take() else {
                    return;
                };
                let bytes = forward.weight();
                exporter.offer(Item::Browser(Arc::new(forward)), bytes);
            }
        }
    }

    /// Whether the RUM forward is switched on (and so wants the browser's batches).
    pub fn wants_browser(&self) -> bool {
        self.exporters
            .iter()
            .any(|e| e.browser && e.enabled.load(Relaxed))
    }

    /// Offers an accepted batch to every exporter switched on: copied once, whatever their number, and only
    /// when one is on. Never waits on a backend.
    pub fn offer(&self, batch: &[Span]) {
        if !batch.is_empty() && self.wants() {
            self.offer_shared(&Arc::from(batch));
        }
    }

    /// Offers a batch already shared (the ingest writer moves its batch into one, so nothing is copied) to
    /// every exporter switched on, weighed once.
    pub fn offer_shared(&self, batch: &Batch) {
        if batch.is_empty() {
            return;
        }
        let mut bytes = None;
        for exporter in self.exporters.iter() {
            if !exporter.browser && exporter.enabled.load(Relaxed) {
                let bytes = *bytes.get_or_insert_with(|| queue::weight(batch));
                exporter.offer(Item::Spans(batch.clone()), bytes);
            }
        }
    }

    /// Every exporter's accounting, in the order they were configured (OTLP, Datadog, then the RUM forward).
    pub fn stats(&self) -> Vec<ExportStats> {
        self.exporters.iter().map(|e| e.stats()).collect()
    }

    /// Switches the exporter called `name` on or off, and with `datadog` everything that goes to Datadog
    /// (`datadog-rum` too); `None` when there is none. Switched off, it takes nothing new; what it already holds
    /// is still sent. Answers with the exporter called `name`, else the first switched.
    pub fn set_enabled(&self, name: &str, enabled: bool) -> Option<ExportStats> {
        let family = |e: &&Arc<Exporter>| {
            e.name == name
                || e.name
                    .strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with('-'))
        };
        let mut answer = None;
        for exporter in self.exporters.iter().filter(family) {
            if exporter.enabled.swap(enabled, Relaxed) != enabled {
                tracing::info!(
                    exporter = exporter.name,
                    "export {}",
                    if enabled { "on" } else { "off" }
                );
            }
            if answer.is_none() || exporter.name == name {
                answer = Some(exporter.stats());
            }
        }
        answer
    }

    /// The names of the exporters there are.
    pub fn names(&self) -> Vec<&'static str> {
        self.exporters.iter().map(|e| e.name).collect()
    }

    /// Refuses an exporter pointed at one of this collector's own receivers (`own`: a name and the address it
    /// listens on), which would send every span back in, and out again, for ever.
    pub fn check_no_loop(&self, own: &[(&str, SocketAddr)]) -> anyhow::Result<()> {
        for exporter in self.exporters.iter() {
            let Some(target) = exporter.target else {
                continue;
            };
            for (receiver, addr) in own {
                let same_host = addr.ip() == target.ip()
                    || addr.ip().is_unspecified()
                    || target.ip().is_unspecified();
                if same_host && addr.port() == target.port() {
                    anyhow::bail!(
                        "the {} exporter would send to {}, where this lab's own {receiver} receiver listens \
                         ({addr}): every span would come back in and go out again. Point it at another \
                         address, or move the receiver (for a Datadog Agent on this machine: start the Agent \
                         first, and the lab's Datadog receiver steps aside from 8126; or --datadog \
                         127.0.0.1:PORT)",
                        exporter.name,
                        exporter.endpoint
                    );
                }
            }
        }
        Ok(())
    }
}

/// The exporters' thread, to be stopped with the collector.
#[derive(Debug)]
pub struct ExportTasks {
    stop: watch::Sender<bool>,
    done: Option<tokio::sync::oneshot::Receiver<()>>,
}

impl ExportTasks {
    /// Lets each exporter send what it holds, for at most its grace period, then counts what is left as
    /// dropped.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(done) = self.done.take() {
            let _ = done.await;
        }
    }
}

/// Starts the exporters `options` asks for, on a thread of their own running at the lowest CPU priority: on
/// a busy machine the receivers, the writer and the query API go first, and an exporter that cannot keep up
/// drops its oldest spans (counted). Fails on a URL it cannot use.
pub fn start(options: &ExportOptions) -> anyhow::Result<(Exports, ExportTasks)> {
    let mut backends: Vec<(&'static str, Arc<dyn Backend>)> = Vec::new();
    if let Some(target) = &options.otlp {
        backends.push(("otlp", Arc::new(otlp::Otlp::new(target)?)));
    }
    if let Some(target) = &options.datadog {
        backends.push(("datadog", Arc::new(datadog::Datadog::new(target)?)));
    }
    if let Some(target) = &options.rum {
        backends.push((rum::NAME, Arc::new(rum::RumForward::new(target)?)));
    }
    let roots = root_certificates(&options.root_certificates)?;
    let (stop, stopped) = watch::channel(false);
    let exporters: Vec<Arc<Exporter>> = backends
        .iter()
        .map(|(name, backend)| Arc::new(Exporter::new(name, backend.as_ref(), options)))
        .collect();
    let exports = Exports {
        exporters: exporters.clone().into(),
    };
    if backends.is_empty() {
        return Ok((exports, ExportTasks { stop, done: None }));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (finished, done) = tokio::sync::oneshot::channel();
    let options = options.clone();
    std::thread::Builder::new()
        .name("lab-export".to_owned())
        .spawn(move || {
            lowest_priority();
            runtime.block_on(async move {
                let client = match reqwest::Client::builder()
                    .timeout(options.timeout)
                    .connect_timeout(options.timeout.min(Duration::from_secs(5)))
                    .pool_idle_timeout(Duration::from_secs(30))
                    .redirect(reqwest::redirect::Policy::none())
                    .tls_certs_merge(roots)
                    .build()
                {
                    Ok(client) => client,
                    Err(err) => {
                        tracing::error!("no HTTP client for the exporters: {err}");
                        return;
                    }
                };
                let mut tasks = JoinSet::new();
                for ((_, backend), exporter) in backends.into_iter().zip(exporters) {
                    let sender = Sender {
                        exporter,
                        backend,
                        client: client.clone(),
                        options: options.clone(),
                        stopped: stopped.clone(),
                        deadline: None,
                    };
                    tasks.spawn(sender.run());
                }
                while tasks.join_next().await.is_some() {}
            });
            let _ = finished.send(());
        })?;
    Ok((
        exports,
        ExportTasks {
            stop,
            done: Some(done),
        },
    ))
}

/// The root certificates in the PEM files `paths` name, trusted beside the system's.
fn root_certificates(paths: &[PathBuf]) -> anyhow::Result<Vec<reqwest::Certificate>> {
    let mut roots = Vec::new();
    for path in paths {
        let pem = std::fs::read(path)
            .map_err(|err| anyhow::anyhow!("--export-certificate {}: {err}", path.display()))?;
        let found = reqwest::Certificate::from_pem_bundle(&pem).map_err(|err| {
            anyhow::anyhow!(
                "--export-certificate {}: not PEM certificates: {err}",
                path.display()
            )
        })?;
        if found.is_empty() {
            anyhow::bail!(
                "--export-certificate {}: no certificate in it",
                path.display()
            );
        }
        roots.extend(found);
    }
    Ok(roots)
}

/// Lowers this thread's CPU priority as far as it goes (nice 19), where the system lets it; the exporters
/// then take only the CPU the rest of the lab leaves.
fn lowest_priority() {
    #[cfg(target_os = "linux")]
    if let Err(err) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), 19) {
        tracing::debug!("the exporters' thread keeps its priority: {err}");
    }
}

/// What an answer means for the spans it was about.
enum Outcome {
    Sent {
        rejected: u64,
        why: Option<String>,
    },
    Retry {
        after: Option<Duration>,
        why: String,
    },
    Fail {
        why: String,
    },
}

/// One exporter's task.
struct Sender {
    exporter: Arc<Exporter>,
    backend: Arc<dyn Backend>,
    client: reqwest::Client,
    options: ExportOptions,
    stopped: watch::Receiver<bool>,
    /// Set once the collector stops: past it, nothing more is sent.
    deadline: Option<Instant>,
}

impl Sender {
    async fn run(mut self) {
        loop {
            self.check_stopped();
            let (batches, spans) = if self.exporter.browser {
                // A browser batch goes on as the browser sent it, alone.
                self.exporter.queue.take(1, usize::MAX)
            } else {
                (self.exporter.queue).take(self.options.batch_spans, self.options.batch_bytes)
            };
            if spans == 0 {
                if self.deadline.is_some() {
                    break;
                }
                tokio::select! {
                    () = self.exporter.wake.notified() => {
                        if self.exporter.queue.len() < self.options.batch_spans {
                            self.pause(self.options.linger).await;
                        }
                    }
                    changed = self.stopped.changed() => self.on_change(changed.is_err()),
                }
                continue;
            }
            let spans = spans as u64;
            self.exporter.in_flight.fetch_add(spans, Relaxed);
            self.deliver(&batches, spans).await;
            self.exporter.in_flight.fetch_sub(spans, Relaxed);
        }
        let left = self.exporter.queue.clear() as u64;
        if left > 0 {
            self.exporter.dropped.fetch_add(left, Relaxed);
            self.exporter.note(format!(
                "{left} {} were still queued when the collector stopped",
                self.exporter.unit()
            ));
        }
    }

    fn check_stopped(&mut self) {
        if self.deadline.is_none() && *self.stopped.borrow() {
            self.deadline = Some(Instant::now() + self.options.grace);
        }
    }

    /// The stop signal moved, or (`gone`) its sender was dropped: the collector is gone without saying so,
    /// which is stopping too.
    fn on_change(&mut self, gone: bool) {
        if gone {
            self.deadline
                .get_or_insert_with(|| Instant::now() + self.options.grace);
        }
        self.check_stopped();
    }

    /// Sleeps for `wait`, or until the collector stops.
    async fn pause(&mut self, wait: Duration) {
        let until = Instant::now() + wait;
        if let Some(deadline) = self.deadline {
            // Stopping already: nothing more to hear.
            return tokio::time::sleep_until(deadline.min(until)).await;
        }
        tokio::select! {
            () = tokio::time::sleep_until(until) => {}
            changed = self.stopped.changed() => self.on_change(changed.is_err()),
        }
    }

    /// Sends `spans` spans (in `batches`) until the backend takes them, refuses them, or the retries run out.
    async fn deliver(&mut self, batches: &[Item], spans: u64) {
        let exporter = self.exporter.clone();
        let payload = match self.backend.encode(batches, spans as usize) {
            Ok(payload) => payload,
            Err(why) => return exporter.fail(spans, why),
        };
        let spans = match payload.unsendable {
            (0, _) => spans,
            (left_out, ref why) => {
                let why = why.clone().unwrap_or_default();
                exporter.fail(left_out.min(spans), why);
                spans - left_out.min(spans)
            }
        };
        if spans == 0 {
            return;
        }
        let first = Instant::now();
        let mut attempt = 0;
        loop {
            let unit = self.exporter.unit();
            let (wait, why) =
                match self.post(&payload).await {
                    Outcome::Sent { rejected, why } => {
                        let rejected = rejected.min(spans);
                        exporter.sent.fetch_add(spans - rejected, Relaxed);
                        if rejected > 0 {
                            exporter.rejected.fetch_add(rejected, Relaxed);
                            exporter.note(why.unwrap_or_else(|| {
                                format!("the backend rejected {rejected} {unit}")
                            }));
                        }
                        return;
                    }
                    Outcome::Fail { why } => return exporter.fail(spans, why),
                    Outcome::Retry { after, why } => {
                        exporter.note(why.clone());
                        let wait = after.unwrap_or_else(|| self.options.retry.backoff(attempt));
                        (wait, why)
                    }
                };
            self.check_stopped();
            let mut give_up = first + self.options.retry.max_elapsed;
            if let Some(deadline) = self.deadline {
                give_up = give_up.min(deadline);
            }
            if Instant::now() + wait > give_up {
                return exporter.fail(
                    spans,
                    format!(
                        "gave up on {spans} {unit} after {} attempts: {why}",
                        attempt + 1
                    ),
                );
            }
            self.pause(wait).await;
            if self
                .deadline
                .is_some_and(|deadline| Instant::now() >= deadline)
            {
                return exporter.fail(
                    spans,
                    format!("{spans} {unit} were not sent before the collector stopped"),
                );
            }
            exporter.retried.fetch_add(spans, Relaxed);
            attempt += 1;
        }
    }

    async fn post(&self, payload: &Payload) -> Outcome {
        let url = payload.url.as_ref().unwrap_or(self.backend.url());
        let answer = self
            .client
            .post(url.clone())
            .headers(payload.headers.clone())
            .body(payload.body.clone())
            .send()
            .await;
        let response = match answer {
            Ok(response) => response,
            Err(err) => {
                return Outcome::Retry {
                    after: None,
                    why: format!("cannot send to {url}: {}", error_chain(&err)),
                };
            }
        };
        let status = response.status();
        let after = retry_after(response.headers());
        let body = response.bytes().await.unwrap_or_default();
        if status.is_success() {
            let (rejected, why) = self.backend.rejected(&body);
            return Outcome::Sent { rejected, why };
        }
        let text = String::from_utf8_lossy(&body[..body.len().min(300)]);
        let why = format!("{url} answered {status}: {}", text.trim());
        match status.as_u16() {
            429 | 502 | 503 | 504 => Outcome::Retry { after, why },
            _ => Outcome::Fail { why },
        }
    }
}

/// `Retry-After` in seconds (the HTTP date form is not honoured: the back-off applies).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    let seconds: u64 = value.trim().parse().ok()?;
    Some(Duration::from_secs(seconds.min(600)))
}

/// An error with its causes, `: `-separated (reqwest's own message leaves out why a connection failed).
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap_with_jitter() {
        let retry = Retry {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(1_000),
            max_elapsed: Duration::from_secs(10),
        };
        for (attempt, base) in [
            (0, 100),
            (1, 200),
            (2, 400),
            (3, 800),
            (4, 1_000),
            (30, 1_000),
        ] {
            let wait = retry.backoff(attempt).as_millis() as u64;
            assert!(
                (base / 2..=base * 3 / 2).contains(&wait),
                "attempt {attempt}: {wait} ms, not within half of {base} ms"
            );
        }
    }

    #[test]
    fn retry_after_reads_seconds_only() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(reqwest::header::RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert(
            reqwest::header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn an_exporter_aimed_at_a_receiver_of_its_own_lab_is_refused() {
        let options = ExportOptions {
            datadog: Some(datadog::DatadogTarget {
                url: "http://localhost:8126".into(),
            }),
            ..Default::default()
        };
        let (exports, _tasks) = start(&options).unwrap();
        let own = |port| {
            [(
                "Datadog agent API",
                SocketAddr::from(([127, 0, 0, 1], port)),
            )]
        };
        let err = exports.check_no_loop(&own(8126)).unwrap_err().to_string();
        assert!(err.contains("Datadog agent API receiver"), "{err}");
        exports.check_no_loop(&own(8136)).unwrap();
        let any = [("OTLP/HTTP", SocketAddr::from(([0, 0, 0, 0], 8126)))];
        assert!(
            exports.check_no_loop(&any).is_err(),
            "0.0.0.0 includes loopback"
        );
    }
}
