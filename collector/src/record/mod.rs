//! Recording: every accepted batch appended to an OTLP JSON-lines file (one `ExportTraceServiceRequest` per
//! line, the OpenTelemetry Collector's file exporter format), and loading such a file back.
//!
//! The two sides sit on either side of the ingest path: `writer` ([`Recorder`]) is used by the ingest writer and
//! does not import `ingest`; `reader` ([`feed`], [`analyse`]) sends a recording through an `Ingest`.

pub(crate) mod reader;
pub(crate) mod writer;

pub use reader::{Loaded, analyse, feed, load};
pub use writer::Recorder;
