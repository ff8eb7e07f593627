//! The receivers: each turns one wire protocol into model spans and hands them to [`crate::ingest::Ingest`].
//! Transport is kept apart from decoding, which lives in [`crate::otlp`].

pub mod datadog;
pub mod in_process;
pub mod otlp_grpc;
pub mod otlp_http;
