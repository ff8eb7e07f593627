//! `lab collect`: the collector alone.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use shop_runtime::serve;

use super::export::{ExportArgs, describe};

/// Where the collector listens (port 0 lets the system pick).
#[derive(Args, Debug)]
pub(crate) struct ListenArgs {
    /// Where the OTLP/HTTP receiver listens (`POST /v1/traces`, protobuf or JSON, gzip or not), with the
    /// browser intake (`POST /api/v2/rum`).
    #[arg(long, default_value = "127.0.0.1:4318")]
    pub(crate) otlp_http: SocketAddr,

    /// A web origin whose pages may send to the OTLP/HTTP listener (CORS), repeatable; `*` allows any
    /// [default: the shop's, http://127.0.0.1:3000 and http://localhost:3000].
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    pub(crate) cors_origins: Vec<String>,

    /// Where the OTLP/gRPC receiver listens (`TraceService/Export`, gzip or not).
    #[arg(long, default_value = "127.0.0.1:4317")]
    pub(crate) otlp_grpc: SocketAddr,

    /// Where the Datadog agent API receiver listens, for apps traced with Datadog's libraries
    /// (`DD_TRACE_AGENT_URL=http://127.0.0.1:8126`).
    #[arg(long, default_value = "127.0.0.1:8126")]
    pub(crate) datadog: SocketAddr,

    /// Where the query API listens (`GET /api/services`, `/api/map`, `/api/traces`, `/api/errors`,
    /// `/api/insights`, `/api/deployments`, `/api/stats`).
    #[arg(long, default_value = "127.0.0.1:8787")]
    pub(crate) api: SocketAddr,
}

impl ListenArgs {
    /// The CORS origins asked for, else the shop's.
    pub(crate) fn cors_origins(&self) -> Vec<String> {
        if self.cors_origins.is_empty() {
            collector::server::CollectorOptions::default().cors_origins
        } else {
            self.cors_origins.clone()
        }
    }

    /// A Datadog Agent on this machine owns 8126: at that default the lab's Datadog receiver steps aside
    /// when the port is taken, rather than fail.
    pub(crate) fn datadog_steps_aside(&self) -> bool {
        self.datadog == collector::receivers::datadog::DEFAULT_ADDR
    }
}

#[derive(Args, Debug)]
pub(crate) struct CollectArgs {
    #[command(flatten)]
    listen: ListenArgs,

    #[command(flatten)]
    export: ExportArgs,

    /// Most spans kept; past it the oldest whole traces are evicted.
    #[arg(long, env = "LAB_MAX_SPANS", default_value_t = collector::store::DEFAULT_CAPACITY)]
    max_spans: usize,

    /// Most MiB the stored spans may hold (about); past it, as past --max-spans, the oldest whole traces are
    /// evicted. Binds when spans are large: a million shop spans hold about 150 MiB.
    #[arg(long, value_name = "MIB", env = "LAB_MAX_STORE_MB", default_value_t = collector::store::DEFAULT_MAX_BYTES >> 20, value_parser = clap::value_parser!(u64).range(1..))]
    max_store_mb: u64,

    /// Largest request body accepted, after decompression, in bytes.
    #[arg(long, default_value_t = collector::receivers::otlp_http::DEFAULT_MAX_BODY)]
    max_body: usize,

    /// Append every accepted batch to this OTLP JSON-lines file (the OpenTelemetry Collector's file format).
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,

    /// Rotate the recording when it reaches this many MiB: it becomes FILE.1 (replacing an older one) and a
    /// new FILE starts, so it takes at most twice this on disk and keeps the newest spans.
    #[arg(long, value_name = "MIB", default_value_t = collector::record::DEFAULT_MAX_BYTES >> 20, value_parser = clap::value_parser!(u64).range(1..))]
    record_max_mb: u64,

    /// N+1 rule: a statement counts as repeated when it runs at least this many times in a loop…
    #[arg(long, default_value_t = collector::analysis::trace::Config::default().min_repeats)]
    n_plus_one_repeats: usize,

    /// …and the loop is reported when its repeated statements take at least this many milliseconds together.
    #[arg(long, default_value_t = collector::analysis::trace::Config::default().min_total_ns / 1_000_000)]
    n_plus_one_ms: u64,

    /// The second N+1 rule, for fast local databases: a loop is also reported when its statements repeat at
    /// least this many times (0 turns the rule off)…
    #[arg(long, default_value_t = collector::analysis::trace::Config::default().many.map_or(0, |(repeats, _)| repeats))]
    n_plus_one_many_repeats: usize,

    /// …taking at least this many microseconds together.
    #[arg(long, default_value_t = collector::analysis::trace::Config::default().many.map_or(0, |(_, ns)| ns / 1_000))]
    n_plus_one_many_us: u64,

    /// Store spans without analysing them (the API's stats, map, errors and insights stay empty): only to
    /// measure what the analyses cost.
    #[arg(long)]
    no_analysis: bool,

    /// The services' source tree: the query API serves the lines around the file:line a span names (where
    /// an error was raised, where an N+1 loop runs) from it, to dashboards that have no copy (`lab tui
    /// --connect`), only from a project's source files. Without it none are served.
    #[arg(long, value_name = "DIR")]
    workspace: Option<std::path::PathBuf>,
}

pub(crate) async fn collect(args: CollectArgs) -> anyhow::Result<()> {
    let options = collector::server::CollectorOptions {
        otlp_http: Some(args.listen.otlp_http),
        otlp_grpc: Some(args.listen.otlp_grpc),
        datadog: Some(args.listen.datadog),
        capacity: args.max_spans,
        max_bytes: args.max_store_mb << 20,
        max_body: args.max_body,
        record: args.record.clone(),
        record_max_bytes: args.record_max_mb << 20,
        api: Some(args.listen.api),
        cors_origins: args.listen.cors_origins(),
        analysis: collector::analysis::Settings {
            n_plus_one: collector::analysis::trace::Config {
                min_repeats: args.n_plus_one_repeats,
                min_total_ns: args.n_plus_one_ms * 1_000_000,
                many: (args.n_plus_one_many_repeats > 0).then_some((
                    args.n_plus_one_many_repeats,
                    args.n_plus_one_many_us * 1_000,
                )),
            },
            ..Default::default()
        },
        analyse: !args.no_analysis,
        export: args.export.options()?,
        datadog_steps_aside: args.listen.datadog_steps_aside(),
        source_root: args.workspace.clone(),
        ..Default::default()
    };
    let running = collector::server::RunningCollector::start(&options).await?;
    if let Some(addr) = running.api {
        println!(
            "Query API on http://{addr}/api/services (also /api/map, /api/traces, /api/errors, /api/insights, /api/deployments, /api/stats, /api/source)"
        );
    }
    if let Some(addr) = running.otlp_http {
        println!("OTLP/HTTP receiver on http://{addr}/v1/traces");
    }
    if let Some(addr) = running.otlp_grpc {
        println!("OTLP/gRPC receiver on {addr}");
    }
    if let Some(addr) = running.datadog {
        println!("Datadog agent API on http://{addr} (/v0.3, /v0.4, /v0.5 traces)");
    }
    for line in describe(&running) {
        println!("{}", line.trim_start());
    }
    if let Some(path) = &args.record {
        println!("Recording every accepted batch to {}", path.display());
    }
    println!(
        "Keeping at most {} spans in {} MiB. Ctrl-C stops the collector.",
        args.max_spans, args.max_store_mb
    );
    serve::ctrl_c().await;
    let exports = running.exports.clone();
    let store = running.stop().await?;
    let accounting = store.accounting();
    println!(
        "accepted {} spans: {} stored, {} evicted; {} payloads rejected {:?}, {} spans refused for bad ids",
        accounting.accepted,
        accounting.stored,
        accounting.evicted,
        accounting.rejected_total(),
        accounting.rejected,
        accounting.rejected_spans
    );
    for e in exports.stats() {
        println!(
            "exported to {} ({}): {} sent, {} retried, {} failed, {} rejected, {} dropped",
            e.name, e.endpoint, e.sent, e.retried, e.failed, e.rejected, e.dropped
        );
    }
    Ok(())
}
