//! The services' traces: `tracing` spans exported through tracing-opentelemetry and the OpenTelemetry SDK,
//! named and attributed after the OpenTelemetry semantic conventions.
//!
//! Each service has a subscriber of its own (a [`Dispatch`]) that its request futures run under, so the three
//! services of `lab up` share one process and still report as three services, each with its own resource.
//! A fault flip deploys a new version: the next request builds a tracer provider whose resource says so, and
//! requests already running finish under the version they started with.
//!
//! What makes spans here: [`instrument`] (a server span per request, its parent taken from the W3C
//! `traceparent` header), [`Db`](crate::Db) (a span per SQL statement), the storefront's upstream calls (client
//! spans, [`inject`]ing the context) and its rendering. Errors are recorded with [`record_error`].

use std::borrow::Cow;
use std::fmt::Write as _;
use std::future::Future;
use std::panic::Location;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderMap;
use axum::middleware::{self, Next};
use axum::response::Response;
use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::{Status, TracerProvider as _};
use opentelemetry::{InstrumentationScope, Key, KeyValue};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use parking_lot::{Mutex, RwLock};
use tracing::field::Empty;
use tracing::instrument::Instrument as _;
use tracing::{Dispatch, Level};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

use crate::faults::Faults;

/// Builds the tracer provider of one deployment from its resource.
pub type ProviderFactory = Arc<dyn Fn(Resource) -> SdkTracerProvider + Send + Sync>;

/// `deployment.environment.name` unless `OTEL_RESOURCE_ATTRIBUTES` names another.
pub const DEFAULT_ENVIRONMENT: &str = "lab";

/// The instrumentation scope of every span the shop makes.
const SCOPE: &str = "observability-lab-shop";

/// The crates whose spans and events become telemetry; dependencies' own `tracing` output stays in the logs.
const TRACED_TARGETS: [&str; 4] = [
    "shop_runtime",
    "storefront",
    "ads_service",
    "discounts_service",
];

/// Retired deployments' providers are shut down this long after the next deployment, once every request
/// that started under them has long finished.
const RETIRE_AFTER: Duration = Duration::from_secs(60);

/// Where a service's spans go.
#[derive(Clone, Default)]
pub enum Export {
    /// Nowhere: no span is made at all (the `broken-no-instrumentation` shop).
    #[default]
    Off,
    /// OTLP over HTTP, configured by the standard variables: `OTEL_EXPORTER_OTLP_ENDPOINT` (default
    /// `http://localhost:4318`), `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_EXPORTER_OTLP_HEADERS`,
    /// `OTEL_EXPORTER_OTLP_PROTOCOL` (`http/protobuf` or `http/json`), `OTEL_BSP_*`, `OTEL_SERVICE_NAME`,
    /// `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_SDK_DISABLED`.
    Otlp,
    /// To providers this function builds: the lab's in-process collector.
    Provider(ProviderFactory),
}

impl std::fmt::Debug for Export {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Export::Off => "Off",
            Export::Otlp => "Otlp",
            Export::Provider(_) => "Provider",
        })
    }
}

impl Export {
    /// OTLP unless `OTEL_SDK_DISABLED=true`.
    pub fn from_env() -> Export {
        if std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.eq_ignore_ascii_case("true")) {
            Export::Off
        } else {
            Export::Otlp
        }
    }
}

/// A provider that hands finished spans to `exporter` through a [`BufferedSpanProcessor`].
pub fn batch_provider(
    exporter: impl opentelemetry_sdk::trace::SpanExporter + 'static,
    resource: Resource,
) -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_span_processor(BufferedSpanProcessor::new(exporter))
        .with_resource(resource)
        .build()
}

/// How often a [`BufferedSpanProcessor`] exports what it holds.
pub const EXPORT_EVERY: Duration = Duration::from_millis(250);
/// How many spans make it export at once rather than at the next tick.
const EXPORT_AT: usize = 4_096;
/// Most spans it holds; past it spans are dropped, and counted.
const MAX_BUFFERED: usize = 131_072;
/// Longest a [`BufferedSpanProcessor::force_flush`] waits for the exports it asked for. Generous: the lab's
/// exporter waits for room in the collector's queue, which a busy small machine may take seconds to make.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(30);

/// A span processor for an exporter in the same process: a finished span is pushed onto a buffer under a
/// lock, and a thread exports the buffer every [`EXPORT_EVERY`] (sooner when it fills). The SDK's batch
/// processor instead sends each span through a channel to its thread and wakes it every time, which on a
/// small machine costs the shop a fifth of its throughput.
///
/// Only that thread exports, so an exporter that hangs holds up no one else: `force_flush` and `shutdown`
/// wait for it a bounded time, then give up with [`OTelSdkError::Timeout`]. Spans that find the buffer full,
/// or end after shutdown, are dropped and counted ([`BufferedSpanProcessor::dropped`]).
///
/// [`OTelSdkError::Timeout`]: opentelemetry_sdk::error::OTelSdkError::Timeout
#[derive(Debug)]
pub struct BufferedSpanProcessor<E: opentelemetry_sdk::trace::SpanExporter> {
    shared: Arc<Buffered<E>>,
}

#[derive(Debug)]
struct Buffered<E> {
    exporter: RwLock<E>,
    state: Mutex<BufferState>,
    /// Wakes the exporting thread: the buffer filled, a flush was asked for, or shutdown began.
    wake: parking_lot::Condvar,
    /// Wakes those waiting for the exporting thread: an export (or a tick with nothing to export) is done.
    done: parking_lot::Condvar,
    dropped: std::sync::atomic::AtomicU64,
}

/// Everything the span-ending threads and the exporting thread share, under one lock: checking `stopping`
/// and pushing a span are one step, so no span gets in after shutdown took the last batch.
#[derive(Debug, Default)]
struct BufferState {
    spans: Vec<opentelemetry_sdk::trace::SpanData>,
    stopping: bool,
    /// The exporting thread, started with the first span.
    worker: Option<std::thread::JoinHandle<()>>,
    /// Flushes asked for, and the last one the exporting thread has done: it takes the buffer after seeing a
    /// request and answers it once that batch (and any it was exporting before) has been exported.
    flush_requested: u64,
    flushed: u64,
    /// The exporting thread has exported its last batch and ended.
    finished: bool,
}

impl<E: opentelemetry_sdk::trace::SpanExporter + 'static> BufferedSpanProcessor<E> {
    pub fn new(exporter: E) -> BufferedSpanProcessor<E> {
        BufferedSpanProcessor {
            shared: Arc::new(Buffered {
                exporter: RwLock::new(exporter),
                state: Mutex::new(BufferState::default()),
                wake: parking_lot::Condvar::new(),
                done: parking_lot::Condvar::new(),
                dropped: std::sync::atomic::AtomicU64::new(0),
            }),
        }
    }

    /// Spans dropped: the buffer was full, or they ended after shutdown.
    pub fn dropped(&self) -> u64 {
        self.shared
            .dropped
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    fn spawn_worker(&self) -> std::thread::JoinHandle<()> {
        let shared = self.shared.clone();
        std::thread::Builder::new()
            .name("span-export".to_owned())
            .spawn(move || shared.run())
            .expect("spawning the span exporter's thread")
    }

    /// Counts a span that could not be buffered; the first one is logged, the total at shutdown.
    fn drop_span(&self) {
        if self
            .shared
            .dropped
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            == 0
        {
            log(|| tracing::warn!("dropping spans: the export buffer is full or shut down"));
        }
    }
}

/// Logs under the log's subscriber: span processing runs inside a service's subscriber, whose spans must not
/// get events about their own export.
fn log(event: impl FnOnce()) {
    tracing::dispatcher::with_default(&outside_requests(), event);
}

impl<E: opentelemetry_sdk::trace::SpanExporter> Buffered<E> {
    /// The exporting thread: takes the buffer at every tick (sooner when it fills or a flush is asked for),
    /// exports it, says so, and after shutdown exports what is left and ends.
    fn run(&self) {
        loop {
            let (batch, flush, stop) = {
                let mut state = self.state.lock();
                if state.spans.len() < EXPORT_AT
                    && !state.stopping
                    && state.flush_requested == state.flushed
                {
                    self.wake.wait_for(&mut state, EXPORT_EVERY);
                }
                (
                    std::mem::take(&mut state.spans),
                    state.flush_requested,
                    state.stopping,
                )
            };
            if !batch.is_empty() {
                self.export(batch);
            }
            {
                let mut state = self.state.lock();
                state.flushed = flush;
                state.finished = stop;
            }
            self.done.notify_all();
            if stop {
                return;
            }
        }
    }

    fn export(&self, batch: Vec<opentelemetry_sdk::trace::SpanData>) {
        let exporter = self.exporter.read();
        if let Err(err) = futures::executor::block_on(exporter.export(batch)) {
            log(|| tracing::warn!(error = %err, "exporting spans failed"));
        }
    }
}

impl<E: opentelemetry_sdk::trace::SpanExporter + 'static> opentelemetry_sdk::trace::SpanProcessor
    for BufferedSpanProcessor<E>
{
    fn on_start(&self, _span: &mut opentelemetry_sdk::trace::Span, _cx: &opentelemetry::Context) {}

    fn on_end(&self, span: opentelemetry_sdk::trace::SpanData) {
        let mut state = self.shared.state.lock();
        if state.stopping || state.spans.len() >= MAX_BUFFERED {
            drop(state);
            self.drop_span();
            return;
        }
        state.spans.push(span);
        let full = state.spans.len() == EXPORT_AT;
        if state.worker.is_none() {
            // Once per processor; the thread waits for this lock before it looks at the buffer.
            state.worker = Some(self.spawn_worker());
        }
        drop(state);
        if full {
            self.shared.wake.notify_one();
        }
    }

    /// Waits until every span that ended before the call has been exported, the batch the exporting thread
    /// was already exporting included; an error after `FLUSH_TIMEOUT`.
    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        let deadline = Instant::now() + FLUSH_TIMEOUT;
        let mut state = self.shared.state.lock();
        if state.worker.is_none() || state.finished {
            // No span ever, or shut down with everything exported.
            return Ok(());
        }
        state.flush_requested += 1;
        let asked = state.flush_requested;
        self.shared.wake.notify_one();
        while state.flushed < asked && !state.finished {
            if self
                .shared
                .done
                .wait_until(&mut state, deadline)
                .timed_out()
                && state.flushed < asked
                && !state.finished
            {
                return Err(opentelemetry_sdk::error::OTelSdkError::Timeout(
                    FLUSH_TIMEOUT,
                ));
            }
        }
        Ok(())
    }

    /// Refuses spans from now on, waits (at most `timeout`) for the exporting thread to export what is left,
    /// then shuts the exporter down.
    fn shutdown_with_timeout(&self, timeout: Duration) -> opentelemetry_sdk::error::OTelSdkResult {
        use opentelemetry_sdk::error::OTelSdkError;
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.state.lock();
        if state.stopping {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        state.stopping = true;
        self.shared.wake.notify_one();
        if state.worker.is_some() {
            while !state.finished {
                if self
                    .shared
                    .done
                    .wait_until(&mut state, deadline)
                    .timed_out()
                    && !state.finished
                {
                    // The thread is stuck in the exporter: leave it be rather than hang with it.
                    return Err(OTelSdkError::Timeout(timeout));
                }
            }
        }
        let worker = state.worker.take();
        drop(state);
        if let Some(worker) = worker {
            let _ = worker.join();
        }
        let dropped = self.dropped();
        if dropped > 0 {
            log(|| tracing::warn!(dropped, "spans dropped: the export buffer was full"));
        }
        // A read lock: the exporter's `shutdown` takes `&self`, and a writer would wait behind an export.
        self.shared.exporter.read().shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.shared.exporter.write().set_resource(resource);
    }
}

/// A service's telemetry: the subscriber of its current deployment, rebuilt when a fault flip deploys a new
/// version. Cheap to clone; clones share the deployments.
#[derive(Clone, Default)]
pub struct Telemetry {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    faults: Faults,
    service_name: String,
    factory: ProviderFactory,
    /// The deployment requests start under: its version's generation and its subscriber.
    current: RwLock<(u32, Dispatch)>,
    /// Held while a new deployment is built, so that racing requests build and install it once.
    deploying: Mutex<()>,
    /// Every provider not yet shut down, with when it was replaced.
    providers: Mutex<Vec<(SdkTracerProvider, Option<Instant>)>>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            None => f.write_str("Telemetry(off)"),
            Some(inner) => write!(
                f,
                "Telemetry({} generation {})",
                inner.service_name,
                inner.current.read().0
            ),
        }
    }
}

impl Telemetry {
    /// No spans at all.
    pub fn off() -> Telemetry {
        Telemetry::default()
    }

    /// The telemetry of the service whose switches are `faults`, exporting as `export` says.
    pub fn new(faults: &Faults, export: Export) -> anyhow::Result<Telemetry> {
        outside_requests();
        let (factory, service_name): (ProviderFactory, String) = match export {
            Export::Off => return Ok(Telemetry::off()),
            Export::Provider(factory) => (factory, faults.service().to_owned()),
            Export::Otlp => {
                if [
                    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
                    "OTEL_EXPORTER_OTLP_PROTOCOL",
                ]
                .iter()
                .any(|name| std::env::var(name).is_ok_and(|v| v == "grpc"))
                {
                    tracing::warn!(
                        "the shop's services export OTLP over HTTP only: ignoring OTEL_EXPORTER_OTLP_PROTOCOL=grpc"
                    );
                }
                // Fail now, at start, rather than on the first deployment.
                opentelemetry_otlp::SpanExporter::builder()
                    .with_http()
                    .build()
                    .map_err(|err| anyhow::anyhow!("configuring the OTLP exporter: {err}"))?;
                let factory: ProviderFactory = Arc::new(|resource| {
                    let mut builder = SdkTracerProvider::builder().with_resource(resource);
                    match opentelemetry_otlp::SpanExporter::builder()
                        .with_http()
                        .build()
                    {
                        Ok(exporter) => builder = builder.with_batch_exporter(exporter),
                        Err(err) => {
                            tracing::error!(error = %err, "no OTLP exporter: spans are dropped")
                        }
                    }
                    builder.build()
                });
                let name = std::env::var("OTEL_SERVICE_NAME")
                    .ok()
                    .filter(|name| !name.is_empty())
                    .unwrap_or_else(|| faults.service().to_owned());
                (factory, name)
            }
        };
        let provider = factory(resource(&service_name, &faults.version()));
        let dispatch = subscriber(&provider);
        Ok(Telemetry {
            inner: Some(Arc::new(Inner {
                faults: faults.clone(),
                service_name,
                factory,
                current: RwLock::new((faults.generation(), dispatch)),
                deploying: Mutex::new(()),
                providers: Mutex::new(vec![(provider, None)]),
            })),
        })
    }

    /// Whether this service makes spans.
    pub fn is_on(&self) -> bool {
        self.inner.is_some()
    }

    /// The subscriber a request starting now runs under; `None` when the service makes no spans.
    pub fn dispatch(&self) -> Option<Dispatch> {
        let inner = self.inner.as_ref()?;
        let generation = inner.faults.generation();
        {
            let current = inner.current.read();
            if current.0 == generation {
                return Some(current.1.clone());
            }
        }
        // One deployment at a time, built outside `current`: every request reads that lock, and building a
        // provider (an exporter, perhaps a thread) must not hold them all up.
        let _deploying = inner.deploying.lock();
        {
            // Another request may have deployed it while this one waited.
            let current = inner.current.read();
            if current.0 >= generation {
                return Some(current.1.clone());
            }
        }
        let provider = (inner.factory)(resource(&inner.service_name, &inner.faults.version()));
        let dispatch = subscriber(&provider);
        *inner.current.write() = (generation, dispatch.clone());
        let now = Instant::now();
        let mut providers = inner.providers.lock();
        let mut expired = Vec::new();
        providers.retain_mut(|(old, retired)| {
            let retired = *retired.get_or_insert(now);
            if retired + RETIRE_AFTER <= now {
                expired.push(old.clone());
                false
            } else {
                true
            }
        });
        providers.push((provider, None));
        if !expired.is_empty() {
            // Shutting down waits for the exporter: never on a request's thread.
            std::thread::spawn(move || {
                for provider in expired {
                    let _ = provider.shutdown();
                }
            });
        }
        Some(dispatch)
    }

    /// Exports every span still buffered and stops the providers. Blocks: call it off the async runtime
    /// (`tokio::task::spawn_blocking`).
    pub fn shutdown(&self) {
        let Some(inner) = &self.inner else { return };
        let providers = std::mem::take(&mut *inner.providers.lock());
        for (provider, _) in providers {
            let _ = provider.force_flush();
            let _ = provider.shutdown();
        }
    }
}

/// `service.name`, `service.version`, `deployment.environment.name` and the SDK's own attributes; what
/// `OTEL_RESOURCE_ATTRIBUTES` says is kept unless it names the service or its version.
fn resource(service_name: &str, version: &str) -> Resource {
    let environment = Key::from_static_str("deployment.environment.name");
    let detected = Resource::builder().build();
    let mut builder = Resource::builder()
        .with_service_name(service_name.to_owned())
        .with_attribute(KeyValue::new("service.version", version.to_owned()));
    if detected.get(&environment).is_none() {
        builder = builder.with_attribute(KeyValue::new(environment, DEFAULT_ENVIRONMENT));
    }
    builder.build()
}

/// The subscriber of one deployment: its spans to `provider`, its events to the log.
fn subscriber(provider: &SdkTracerProvider) -> Dispatch {
    let tracer = provider.tracer_with_scope(
        InstrumentationScope::builder(SCOPE)
            .with_version(env!("CARGO_PKG_VERSION"))
            .build(),
    );
    let traced = TRACED_TARGETS
        .iter()
        .fold(Targets::new(), |targets, target| {
            targets.with_target(*target, Level::INFO)
        });
    let spans = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_location(false)
        .with_threads(false)
        .with_target(false)
        .with_tracked_inactivity(false)
        .with_context_activation(false)
        .with_error_events_to_status(false)
        .with_error_events_to_exceptions(false)
        .with_filter(traced);
    Dispatch::new(
        tracing_subscriber::registry()
            .with(spans)
            .with(crate::serve::log_layer()),
    )
}

/// Traces every request of `router`: a server span each, run under the service's current deployment.
pub fn instrument(router: Router, telemetry: Telemetry) -> Router {
    if !telemetry.is_on() {
        return router;
    }
    router
        .route_layer(middleware::from_fn(name_after_route))
        .layer(middleware::from_fn_with_state(telemetry, trace_request))
}

fn propagator() -> &'static TraceContextPropagator {
    static PROPAGATOR: std::sync::OnceLock<TraceContextPropagator> = std::sync::OnceLock::new();
    PROPAGATOR.get_or_init(TraceContextPropagator::new)
}

/// Writes `span`'s context into `headers` (`traceparent`), so the called service's spans join the trace.
pub fn inject(span: &tracing::Span, headers: &mut HeaderMap) {
    if span.is_disabled() {
        return;
    }
    propagator().inject_context(&span.context(), &mut HeaderInjector(headers));
}

async fn trace_request(
    State(telemetry): State<Telemetry>,
    request: Request,
    next: Next,
) -> Response {
    let Some(dispatch) = telemetry.dispatch() else {
        return next.run(request).await;
    };
    let traced = async move {
        let method = request.method().as_str();
        let known = known_method(method);
        let uri = request.uri();
        let span = tracing::info_span!(
            target: "shop_runtime::telemetry",
            "request",
            otel.name = known.unwrap_or("HTTP"),
            otel.kind = "server",
            http.request.method = known.unwrap_or("_OTHER"),
            http.request.method_original = known.is_none().then_some(method),
            http.route = Empty,
            url.path = uri.path(),
            url.query = uri.query(),
            url.scheme = "http",
            user_agent.original = request
                .headers()
                .get(axum::http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok()),
            http.response.status_code = Empty,
            error.type = Empty,
        );
        let parent = propagator().extract(&HeaderExtractor(request.headers()));
        let _ = span.set_parent(parent);
        let response = next.run(request).instrument(span.clone()).await;
        let status = response.status();
        span.record("http.response.status_code", status.as_u16());
        if status.is_server_error() {
            span.record("error.type", status.as_str());
            span.set_status(Status::error(
                status.canonical_reason().unwrap_or("server error"),
            ));
        }
        response
    };
    Scoped {
        dispatch,
        future: Some(Box::pin(traced)),
    }
    .await
}

/// A future run under a given subscriber while it is polled *and* while it is dropped (a client that hangs up
/// drops a request future half-way). tracing's `WithDispatch` covers only the polls, and a span whose last
/// reference goes while another subscriber is the default panics the registry.
struct Scoped<'a, T> {
    dispatch: Dispatch,
    future: Option<Pin<Box<dyn Future<Output = T> + Send + 'a>>>,
}

impl<T> Future for Scoped<'_, T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<T> {
        let this = &mut *self;
        let (dispatch, slot) = (&this.dispatch, &mut this.future);
        tracing::dispatcher::with_default(dispatch, || {
            let Some(future) = slot.as_mut() else {
                panic!("a scoped future polled after it completed");
            };
            let poll = future.as_mut().poll(cx);
            if poll.is_ready() {
                *slot = None;
            }
            poll
        })
    }
}

impl<T> Drop for Scoped<'_, T> {
    fn drop(&mut self) {
        if let Some(future) = self.future.take() {
            tracing::dispatcher::with_default(&self.dispatch, || drop(future));
        }
    }
}

/// Runs a dependency's future (a query, an HTTP call) under the log's subscriber, polled and dropped, so that
/// the dependency never sees one of a service's spans as the current one. See [`outside_requests`].
pub fn outside<'a, T: 'a>(
    future: impl Future<Output = T> + Send + 'a,
) -> impl Future<Output = T> + Send + 'a {
    Scoped {
        dispatch: outside_requests(),
        future: Some(Box::pin(future)),
    }
}

/// The subscriber that is the default outside any request: the log. Dependencies run under it inside
/// requests too (see [`Db`](crate::Db)), so that a library that hands `Span::current()` to a thread of its
/// own (sqlx's SQLite workers do) never gets one of a service's spans.
pub fn outside_requests() -> Dispatch {
    static LOG: std::sync::OnceLock<Dispatch> = std::sync::OnceLock::new();
    LOG.get_or_init(|| tracing::dispatcher::get_default(Dispatch::clone))
        .clone()
}

/// The methods the HTTP semantic conventions know. Any other (`PURGE`, or `get` in lower case) is recorded as
/// `_OTHER`, with the method as sent in `http.request.method_original`, and names its span `HTTP`: methods are
/// whatever a client sends, and an attribute and a span name must not take every value a client makes up.
const KNOWN_METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

/// `method` if the semantic conventions know it (case-sensitively, as they say).
fn known_method(method: &str) -> Option<&'static str> {
    KNOWN_METHODS.into_iter().find(|known| *known == method)
}

/// Names the server span after the matched route (`GET /products/{slug}`), once routing has found it.
async fn name_after_route(request: Request, next: Next) -> Response {
    if let Some(route) = request.extensions().get::<MatchedPath>() {
        let span = tracing::Span::current();
        span.record("http.route", route.as_str());
        let method = known_method(request.method().as_str()).unwrap_or("HTTP");
        span.record("otel.name", format!("{method} {}", route.as_str()));
    }
    next.run(request).await
}

/// Records an error on `span` the way the semantic conventions say: an `exception` event with its type,
/// message and stack trace (frames as repo-relative `file:line`), `code.file.path` and `code.line.number`
/// where it was raised (unless the span declares them as fields: their values stand), `error.type`, and an
/// error status. Does nothing, and captures no stack, when the service makes no spans.
pub fn record_error(
    span: &tracing::Span,
    kind: &'static str,
    message: &str,
    location: &'static Location<'static>,
) {
    if span.is_disabled() {
        return;
    }
    span.add_event(
        "exception",
        vec![
            KeyValue::new("exception.type", kind),
            KeyValue::new("exception.message", message.to_owned()),
            KeyValue::new("exception.stacktrace", stacktrace()),
        ],
    );
    // Spans that say where they run declare these fields (a query's calling line, the banner's caller), and
    // tracing-opentelemetry would add a second attribute of the same key: they keep their own.
    let declares = |key: &str| {
        span.metadata()
            .is_some_and(|metadata| metadata.fields().field(key).is_some())
    };
    if !declares("code.file.path") {
        span.set_attribute("code.file.path", location.file());
    }
    if !declares("code.line.number") {
        span.set_attribute("code.line.number", i64::from(location.line()));
    }
    span.set_attribute("error.type", kind);
    span.set_status(Status::error(message.to_owned()));
}

/// Most frames a recorded stack trace keeps.
const MAX_FRAMES: usize = 48;

/// The stack of the caller of [`record_error`], one `N: function` line and one `at file:line:column` line a
/// frame, as Rust prints backtraces; files under the workspace are given relative to it.
fn stacktrace() -> String {
    let root = workspace_root();
    let trace = backtrace::Backtrace::new();
    let mut out = String::new();
    let mut frames = 0;
    let mut started = false;
    for symbol in trace.frames().iter().flat_map(|frame| frame.symbols()) {
        let name = symbol.name().map_or(Cow::Borrowed("<unknown>"), |name| {
            Cow::Owned(format!("{name:#}"))
        });
        if !started {
            // Leave out the capture itself: the backtrace crate and this module.
            let here = symbol
                .filename()
                .is_some_and(|file| file.ends_with("services/runtime/src/telemetry.rs"));
            if name.starts_with("backtrace::") || here {
                continue;
            }
            started = true;
        }
        if frames == MAX_FRAMES {
            let _ = writeln!(out, "      …");
            break;
        }
        let _ = writeln!(out, "{frames:>4}: {name}");
        if let (Some(file), Some(line)) = (symbol.filename(), symbol.lineno()) {
            let file = root
                .and_then(|root| file.strip_prefix(root).ok())
                .unwrap_or(file);
            let _ = match symbol.colno() {
                Some(column) => writeln!(out, "             at {}:{line}:{column}", file.display()),
                None => writeln!(out, "             at {}:{line}", file.display()),
            };
        }
        frames += 1;
    }
    out
}

/// The workspace this crate was built in (`services/runtime` is two levels below it).
fn workspace_root() -> Option<&'static Path> {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent()?.parent()
}

/// `SELECT`, `INSERT`, … and the first table a statement names: the `db.operation.name` and
/// `db.collection.name` of its span, and its span name (`SELECT discount_type`).
pub fn summarize_sql(sql: &str) -> (Option<String>, Option<String>) {
    let mut words = sql.split_whitespace();
    let Some(first) = words.next() else {
        return (None, None);
    };
    let operation: String = first
        .chars()
        .take_while(char::is_ascii_alphabetic)
        .collect::<String>()
        .to_ascii_uppercase();
    if operation.is_empty() {
        return (None, None);
    }
    let table = match operation.as_str() {
        "UPDATE" => words.next(),
        "SELECT" | "DELETE" => words
            .find(|w| w.eq_ignore_ascii_case("FROM"))
            .and(words.next()),
        "INSERT" => words
            .find(|w| w.eq_ignore_ascii_case("INTO"))
            .and(words.next()),
        _ => None,
    };
    // A subquery (`FROM (SELECT …)`) names no table.
    let collection = table
        .filter(|table| !table.starts_with('('))
        .and_then(|table| table.split(['(', ')', ',', ';']).next())
        .map(|table| table.trim_matches('"').to_owned())
        .filter(|table| {
            !table.is_empty()
                && table
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
        });
    (Some(operation), collection)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(sql: &str, operation: Option<&str>, collection: Option<&str>) {
        let (op, coll) = summarize_sql(sql);
        assert_eq!(
            (op.as_deref(), coll.as_deref()),
            (operation, collection),
            "{sql}"
        );
    }

    #[test]
    fn statements_are_summarized_by_operation_and_first_table() {
        check(
            "SELECT id, name FROM discount_type WHERE id = $1",
            Some("SELECT"),
            Some("discount_type"),
        );
        check(
            "select d.id FROM discount d LEFT OUTER JOIN influencer i ON i.id = d.x",
            Some("SELECT"),
            Some("discount"),
        );
        check(
            "SELECT COUNT(*) AS n FROM advertisement",
            Some("SELECT"),
            Some("advertisement"),
        );
        check(
            "INSERT INTO line_item (order_id, variant_id) VALUES ($1, $2)",
            Some("INSERT"),
            Some("line_item"),
        );
        check(
            "UPDATE \"order\" SET total = $1",
            Some("UPDATE"),
            Some("order"),
        );
        check(
            "DELETE FROM line_item WHERE id = $1",
            Some("DELETE"),
            Some("line_item"),
        );
        check("PRAGMA foreign_keys = ON", Some("PRAGMA"), None);
        check("SELECT 1", Some("SELECT"), None);
        check("SELECT * FROM (SELECT 1)", Some("SELECT"), None);
        check(
            "INSERT INTO t(a, b) VALUES ($1, $2)",
            Some("INSERT"),
            Some("t"),
        );
        check("", None, None);
    }

    #[test]
    fn stack_traces_start_past_the_capture_and_name_files_in_the_workspace_relatively() {
        let trace = stacktrace();
        assert!(
            !trace.contains("telemetry.rs"),
            "the capture's own frames (this test included, in this file) are left out:\n{trace}"
        );
        let first = trace.lines().next().unwrap();
        assert!(first.starts_with("   0: "), "{trace}");
        assert!(trace.lines().count() > 2, "{trace}");
    }

    /// An exporter that keeps what it gets; while `hold` is set, an export waits (a hung exporter).
    #[derive(Debug, Clone, Default)]
    struct Collect {
        spans: Arc<Mutex<Vec<opentelemetry_sdk::trace::SpanData>>>,
        exporting: Arc<std::sync::atomic::AtomicBool>,
        hold: Arc<std::sync::atomic::AtomicBool>,
    }

    impl opentelemetry_sdk::trace::SpanExporter for Collect {
        async fn export(
            &self,
            batch: Vec<opentelemetry_sdk::trace::SpanData>,
        ) -> opentelemetry_sdk::error::OTelSdkResult {
            use std::sync::atomic::Ordering;
            self.exporting.store(true, Ordering::SeqCst);
            while self.hold.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(5));
            }
            self.spans.lock().extend(batch);
            Ok(())
        }
    }

    impl Collect {
        fn held() -> Collect {
            let collect = Collect::default();
            collect
                .hold
                .store(true, std::sync::atomic::Ordering::SeqCst);
            collect
        }

        /// Waits until the exporting thread has started an export.
        fn wait_exporting(&self) {
            let deadline = Instant::now() + Duration::from_secs(10);
            while !self.exporting.load(std::sync::atomic::Ordering::SeqCst) {
                assert!(Instant::now() < deadline, "no export started");
                std::thread::sleep(Duration::from_millis(5));
            }
        }

        fn release(&self) {
            self.hold.store(false, std::sync::atomic::Ordering::SeqCst);
        }
    }

    fn one_span(provider: &SdkTracerProvider) {
        use opentelemetry::trace::{Span as _, Tracer as _};
        provider.tracer("test").start("one").end();
    }

    #[test]
    fn force_flush_waits_for_the_batch_being_exported() {
        let collect = Collect::held();
        let provider = batch_provider(collect.clone(), Resource::builder().build());
        one_span(&provider);
        collect.wait_exporting();
        let release = {
            let collect = collect.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(100));
                collect.release();
            })
        };
        provider.force_flush().unwrap();
        assert_eq!(
            collect.spans.lock().len(),
            1,
            "flushed means exported, the batch already taken included"
        );
        release.join().unwrap();
        provider.shutdown().unwrap();
    }

    #[test]
    fn shutdown_gives_up_on_a_hung_exporter() {
        let collect = Collect::held();
        let provider = batch_provider(collect.clone(), Resource::builder().build());
        one_span(&provider);
        collect.wait_exporting();
        let started = Instant::now();
        let result = provider.shutdown_with_timeout(Duration::from_millis(200));
        assert!(result.is_err(), "{result:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
        collect.release();
    }

    #[test]
    fn spans_ending_after_shutdown_are_counted_as_dropped() {
        use opentelemetry::trace::{SpanContext, SpanId, SpanKind};
        use opentelemetry_sdk::trace::SpanProcessor as _;
        let collect = Collect::default();
        let processor = BufferedSpanProcessor::new(collect.clone());
        let span = |name: &'static str| opentelemetry_sdk::trace::SpanData {
            span_context: SpanContext::empty_context(),
            parent_span_id: SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Internal,
            name: name.into(),
            start_time: std::time::SystemTime::now(),
            end_time: std::time::SystemTime::now(),
            attributes: Vec::new(),
            dropped_attributes_count: 0,
            events: Default::default(),
            links: Default::default(),
            status: Status::Unset,
            instrumentation_scope: InstrumentationScope::builder("test").build(),
        };
        processor.on_end(span("in time"));
        processor.shutdown().unwrap();
        processor.on_end(span("late"));
        assert_eq!(processor.dropped(), 1);
        let names: Vec<_> = collect
            .spans
            .lock()
            .iter()
            .map(|s| s.name.clone())
            .collect();
        assert_eq!(names, ["in time"], "shutdown exported what it held");
    }

    /// A service's telemetry exporting to `collect`.
    fn telemetry(collect: &Collect) -> Telemetry {
        let collect = collect.clone();
        let faults = Faults::new("test-service", &[], true);
        Telemetry::new(
            &faults,
            Export::Provider(Arc::new(move |resource| {
                batch_provider(collect.clone(), resource)
            })),
        )
        .unwrap()
    }

    fn attributes<'a>(
        span: &'a opentelemetry_sdk::trace::SpanData,
        key: &str,
    ) -> Vec<&'a opentelemetry::Value> {
        span.attributes
            .iter()
            .filter(|kv| kv.key.as_str() == key)
            .map(|kv| &kv.value)
            .collect()
    }

    #[test]
    fn only_the_semantic_conventions_methods_are_known() {
        for method in KNOWN_METHODS {
            assert_eq!(known_method(method), Some(method));
        }
        for other in ["PURGE", "get", "PROPFIND", ""] {
            assert_eq!(known_method(other), None, "{other:?}");
        }
    }

    #[tokio::test]
    async fn an_unknown_method_is_recorded_as_other_with_the_original_beside_it() {
        let collect = Collect::default();
        let telemetry = telemetry(&collect);
        let router = instrument(
            Router::new().route("/things/{id}", axum::routing::any(|| async { "ok" })),
            telemetry.clone(),
        );
        for method in ["PURGE", "GET"] {
            let response = crate::testing::call(&router, method, "/things/7", None).await;
            assert_eq!(response.status, 200);
        }
        telemetry.shutdown();

        let spans = collect.spans.lock().clone();
        let [purge, get] = &spans[..] else {
            panic!("two server spans: {spans:#?}")
        };
        assert_eq!(purge.name, "HTTP /things/{id}");
        assert_eq!(
            attributes(purge, "http.request.method"),
            [&opentelemetry::Value::from("_OTHER")]
        );
        assert_eq!(
            attributes(purge, "http.request.method_original"),
            [&opentelemetry::Value::from("PURGE")]
        );
        assert_eq!(get.name, "GET /things/{id}");
        assert_eq!(
            attributes(get, "http.request.method"),
            [&opentelemetry::Value::from("GET")]
        );
        assert!(attributes(get, "http.request.method_original").is_empty());
    }

    #[test]
    fn recorded_errors_add_each_code_attribute_once() {
        let collect = Collect::default();
        let telemetry = telemetry(&collect);
        let dispatch = telemetry.dispatch().unwrap();
        let here = Location::caller();
        tracing::dispatcher::with_default(&dispatch, || {
            let declared = tracing::info_span!(
                "declared",
                code.file.path = here.file(),
                code.line.number = i64::from(here.line())
            );
            record_error(&declared, "Declared", "failed", here);
            let undeclared = tracing::info_span!("undeclared");
            record_error(&undeclared, "Undeclared", "failed", here);
        });
        drop(dispatch);
        telemetry.shutdown();

        let spans = collect.spans.lock().clone();
        assert_eq!(spans.len(), 2, "{spans:#?}");
        for span in &spans {
            assert_eq!(
                attributes(span, "code.file.path"),
                [&opentelemetry::Value::from(here.file())],
                "{}",
                span.name
            );
            assert_eq!(
                attributes(span, "code.line.number"),
                [&opentelemetry::Value::from(i64::from(here.line()))],
                "{}",
                span.name
            );
            assert_eq!(attributes(span, "error.type").len(), 1, "{}", span.name);
        }
    }
}
