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
    "shop_common",
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

/// A span processor for an exporter in the same process: a finished span is pushed onto a buffer under a
/// lock, and a thread exports the buffer every [`EXPORT_EVERY`] (sooner when it fills). The SDK's batch
/// processor instead sends each span through a channel to its thread and wakes it every time, which on a
/// small machine costs the shop a fifth of its throughput.
#[derive(Debug)]
pub struct BufferedSpanProcessor<E: opentelemetry_sdk::trace::SpanExporter> {
    shared: Arc<Buffered<E>>,
    worker: Mutex<Option<std::thread::JoinHandle<()>>>,
}

#[derive(Debug)]
struct Buffered<E> {
    exporter: RwLock<E>,
    spans: Mutex<Vec<opentelemetry_sdk::trace::SpanData>>,
    wake: parking_lot::Condvar,
    stopping: std::sync::atomic::AtomicBool,
    dropped: std::sync::atomic::AtomicU64,
}

impl<E: opentelemetry_sdk::trace::SpanExporter + 'static> BufferedSpanProcessor<E> {
    pub fn new(exporter: E) -> BufferedSpanProcessor<E> {
        BufferedSpanProcessor {
            shared: Arc::new(Buffered {
                exporter: RwLock::new(exporter),
                spans: Mutex::new(Vec::new()),
                wake: parking_lot::Condvar::new(),
                stopping: std::sync::atomic::AtomicBool::new(false),
                dropped: std::sync::atomic::AtomicU64::new(0),
            }),
            worker: Mutex::new(None),
        }
    }

    /// Spans dropped because the buffer was full.
    pub fn dropped(&self) -> u64 {
        self.shared
            .dropped
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    fn start_worker(&self) {
        let mut worker = self.worker.lock();
        if worker.is_some() {
            return;
        }
        let shared = self.shared.clone();
        *worker = Some(
            std::thread::Builder::new()
                .name("span-export".to_owned())
                .spawn(move || {
                    use std::sync::atomic::Ordering;
                    while !shared.stopping.load(Ordering::Acquire) {
                        {
                            let mut spans = shared.spans.lock();
                            if spans.len() < EXPORT_AT && !shared.stopping.load(Ordering::Acquire) {
                                shared.wake.wait_for(&mut spans, EXPORT_EVERY);
                            }
                        }
                        shared.export();
                    }
                })
                .expect("spawning the span exporter's thread"),
        );
    }
}

impl<E: opentelemetry_sdk::trace::SpanExporter> Buffered<E> {
    /// Exports what the buffer holds, on this thread.
    fn export(&self) {
        let batch = std::mem::take(&mut *self.spans.lock());
        if batch.is_empty() {
            return;
        }
        let exporter = self.exporter.read();
        if let Err(err) = futures::executor::block_on(exporter.export(batch)) {
            tracing::warn!(error = %err, "exporting spans failed");
        }
    }
}

impl<E: opentelemetry_sdk::trace::SpanExporter + 'static> opentelemetry_sdk::trace::SpanProcessor
    for BufferedSpanProcessor<E>
{
    fn on_start(&self, _span: &mut opentelemetry_sdk::trace::Span, _cx: &opentelemetry::Context) {}

    fn on_end(&self, span: opentelemetry_sdk::trace::SpanData) {
        use std::sync::atomic::Ordering;
        if self.shared.stopping.load(Ordering::Relaxed) {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let full = {
            let mut spans = self.shared.spans.lock();
            if spans.len() >= MAX_BUFFERED {
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            spans.push(span);
            spans.len() == EXPORT_AT
        };
        if self.worker.lock().is_none() {
            self.start_worker();
        }
        if full {
            self.shared.wake.notify_one();
        }
    }

    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        self.shared.export();
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> opentelemetry_sdk::error::OTelSdkResult {
        self.shared
            .stopping
            .store(true, std::sync::atomic::Ordering::Release);
        self.shared.wake.notify_one();
        if let Some(worker) = self.worker.lock().take() {
            let _ = worker.join();
        }
        self.shared.export();
        let dropped = self.dropped();
        if dropped > 0 {
            tracing::warn!(dropped, "spans dropped: the export buffer was full");
        }
        self.shared.exporter.write().shutdown()
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
        let mut current = inner.current.write();
        if current.0 != generation {
            let provider = (inner.factory)(resource(&inner.service_name, &inner.faults.version()));
            *current = (generation, subscriber(&provider));
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
        }
        Some(current.1.clone())
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
        let method = request.method().as_str().to_owned();
        let uri = request.uri();
        let span = tracing::info_span!(
            target: "shop_common::telemetry",
            "request",
            otel.name = %method,
            otel.kind = "server",
            http.request.method = %method,
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

/// Names the server span after the matched route (`GET /products/{slug}`), once routing has found it.
async fn name_after_route(request: Request, next: Next) -> Response {
    if let Some(route) = request.extensions().get::<MatchedPath>() {
        let span = tracing::Span::current();
        span.record("http.route", route.as_str());
        span.record(
            "otel.name",
            format!("{} {}", request.method(), route.as_str()),
        );
    }
    next.run(request).await
}

/// Records an error on `span` the way the semantic conventions say: an `exception` event with its type,
/// message and stack trace (frames as repo-relative `file:line`), `code.file.path` and `code.line.number`
/// where it was raised, `error.type`, and an error status. Does nothing, and captures no stack, when the
/// service makes no spans.
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
    span.set_attribute("code.file.path", location.file());
    span.set_attribute("code.line.number", i64::from(location.line()));
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
                .is_some_and(|file| file.ends_with("services/common/src/telemetry.rs"));
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

/// The workspace this crate was built in (`services/common` is two levels below it).
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
}
