//! The lab's trace collector: a plain-data span model, a bounded span store with exact accounting, and (in
//! the collector issues still open) the receivers and analyses that fill and read it.
//!
//! Only the model and the store exist so far; nothing outside this crate uses it yet.

pub mod datadog;
pub mod ingest;
pub mod model;
pub mod otlp;
pub mod receivers;
pub mod record;
pub mod server;
pub mod store;

pub use model::{Interner, Span, SpanId, Str, TraceId};
