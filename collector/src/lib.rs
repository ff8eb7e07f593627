//! The lab's trace collector: receivers for OTLP (HTTP, gRPC, in-process) and the Datadog agent API, a bounded
//! span store with exact accounting, recording to OTLP JSON lines, the analyses a workshop needs (stats, service
//! map, errors, N+1, deployments), the browser's events (real user monitoring) and a query API over them.

pub mod analysis;
pub mod api;
pub mod compact;
pub mod datadog;
pub mod export;
pub mod ingest;
pub mod limits;
pub mod logs;
pub mod model;
pub mod otlp;
pub mod playback;
pub mod query;
pub mod receivers;
pub mod record;
pub mod report;
pub mod rum;
pub mod semconv;
pub mod server;
pub mod staged;
pub mod store;
#[cfg(any(test, feature = "fixtures"))]
pub mod synth;
#[cfg(any(test, feature = "fixtures"))]
pub mod testing;
pub mod view;
pub mod wire;
#[cfg(any(test, feature = "fixtures"))]
pub mod workshop;

pub use model::{Interner, Span, SpanId, Str, TraceId};
