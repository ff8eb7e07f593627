//! The lab's trace collector: receivers (in-process, OTLP, Datadog agent API), a bounded span store and the
//! analyses the dashboard reads.
//!
//! Nothing is here yet. The collector issues build it; until then no crate depends on this one, so nothing can
//! mistake it for a working collector.
