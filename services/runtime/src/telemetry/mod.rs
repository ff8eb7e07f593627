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

mod buffered;
mod error;
mod propagation;
mod records;
mod scope;
mod server;
mod sql;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{InstrumentationScope, Key, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use parking_lot::{Mutex, RwLock};
use tracing::{Dispatch, Level};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

use crate::faults::Faults;

pub use buffered::{BufferedSpanProcessor, EXPORT_EVERY, batch_provider};
pub use error::record_error;
pub use propagation::{current_trace_id, inject};
pub use scope::{outside, outside_requests};
pub use server::instrument;
pub use sql::summarize_sql;

/// Builds the tracer provider of one deployment from its resource.
pub type ProviderFactory = Arc<dyn Fn(Resource) -> SdkTracerProvider + Send + Sync>;

/// Builds the logger provider of one deployment from its resource: where its `tracing` events go as
/// OpenTelemetry log records.
pub type LogProviderFactory = Arc<dyn Fn(Resource) -> SdkLoggerProvider + Send + Sync>;

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
    /// Spans and log records to providers these functions build.
    Providers {
        traces: ProviderFactory,
        logs: LogProviderFactory,
    },
}

impl std::fmt::Debug for Export {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Export::Off => "Off",
            Export::Otlp => "Otlp",
            Export::Provider(_) => "Provider",
            Export::Providers { .. } => "Providers",
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
    log_factory: Option<LogProviderFactory>,
    /// The deployment requests start under: its version's generation and its subscriber.
    current: RwLock<(u32, Dispatch)>,
    /// Held while a new deployment is built, so that racing requests build and install it once.
    deploying: Mutex<()>,
    /// Every provider not yet shut down, with when it was replaced.
    providers: Mutex<Vec<(Providers, Option<Instant>)>>,
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
        let (factory, log_factory, service_name): (
            ProviderFactory,
            Option<LogProviderFactory>,
            String,
        ) = match export {
            Export::Off => return Ok(Telemetry::off()),
            Export::Provider(factory) => (factory, None, faults.service().to_owned()),
            Export::Providers { traces, logs } => (traces, Some(logs), faults.service().to_owned()),
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
                // Log records go where the spans go (`OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`, or `/v1/logs` of the
                // same endpoint).
                let log_factory: LogProviderFactory = Arc::new(|resource| {
                    let mut builder = SdkLoggerProvider::builder().with_resource(resource);
                    match opentelemetry_otlp::LogExporter::builder()
                        .with_http()
                        .build()
                    {
                        Ok(exporter) => builder = builder.with_batch_exporter(exporter),
                        Err(err) => {
                            tracing::error!(error = %err, "no OTLP log exporter: log records are dropped")
                        }
                    }
                    builder.build()
                });
                (factory, Some(log_factory), name)
            }
        };
        let providers = Providers::build(
            (&factory, log_factory.as_ref()),
            resource(&service_name, &faults.version()),
        );
        let dispatch = subscriber(&providers);
        Ok(Telemetry {
            inner: Some(Arc::new(Inner {
                faults: faults.clone(),
                service_name,
                factory,
                log_factory,
                current: RwLock::new((faults.generation(), dispatch)),
                deploying: Mutex::new(()),
                providers: Mutex::new(vec![(providers, None)]),
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
        let provider = Providers::build(
            (&inner.factory, inner.log_factory.as_ref()),
            resource(&inner.service_name, &inner.faults.version()),
        );
        let dispatch = subscriber(&provider);
        *inner.current.write() = (generation, dispatch.clone());
        // Said under the new deployment, so its log record carries the new version.
        tracing::dispatcher::with_default(&dispatch, || {
            let faults = &inner.faults;
            let broken: Vec<&str> = (faults.names().into_iter())
                .filter(|name| faults.is_on(name))
                .collect();
            tracing::info!(
                service = inner.service_name,
                version = %faults.version(),
                "deployed version {} ({})",
                faults.version(),
                if broken.is_empty() {
                    "no fault on".to_owned()
                } else {
                    format!("faults on: {}", broken.join(", "))
                }
            );
        });
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
                    provider.shutdown();
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
            provider.shutdown();
        }
    }
}

/// One deployment's providers: its spans', and its log records' when they are exported.
#[derive(Clone)]
struct Providers {
    traces: SdkTracerProvider,
    logs: Option<SdkLoggerProvider>,
}

impl Providers {
    fn build(
        (traces, logs): (&ProviderFactory, Option<&LogProviderFactory>),
        resource: Resource,
    ) -> Providers {
        Providers {
            logs: logs.map(|logs| logs(resource.clone())),
            traces: traces(resource),
        }
    }

    /// Exports what they hold and stops them. Blocks.
    fn shutdown(&self) {
        let _ = self.traces.force_flush();
        let _ = self.traces.shutdown();
        if let Some(logs) = &self.logs {
            let _ = logs.force_flush();
            let _ = logs.shutdown();
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

/// The subscriber of one deployment: its spans to its tracer provider, its events to the log and, as
/// OpenTelemetry log records written in the current span, to its logger provider.
fn subscriber(providers: &Providers) -> Dispatch {
    let tracer = providers.traces.tracer_with_scope(
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
        // Not on entering a span (a span started then keeps the name it had, and a request's is named once
        // its route is known): a log record is given its span's context when it is written (`records`).
        .with_context_activation(false)
        .with_error_events_to_status(false)
        .with_error_events_to_exceptions(false)
        .with_filter(traced.clone());
    let dispatcher = records::Dispatcher::default();
    let records = providers.logs.as_ref().map(|logs| {
        records::InSpan::new(
            opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge::new(logs),
            dispatcher.clone(),
        )
        .with_filter(traced)
    });
    let dispatch = Dispatch::new(
        tracing_subscriber::registry()
            .with(spans)
            .with(records)
            .with(crate::serve::log_layer()),
    );
    dispatcher.set(&dispatch);
    dispatch
}
