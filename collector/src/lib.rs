//! The lab's trace collector: receivers for OTLP (HTTP, gRPC, in-process) and the Datadog agent API, a bounded
//! span store with exact accounting, and recording to OTLP JSON lines. The analyses and the query API come with
//! the next collector issue.

pub mod compact;
pub mod datadog;
pub mod ingest;
pub mod model;
pub mod otlp;
pub mod receivers;
pub mod record;
pub mod server;
pub mod store;
pub mod synth;
pub mod wire;

pub use model::{Interner, Span, SpanId, Str, TraceId};
