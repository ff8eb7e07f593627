//! The `lab` command: parse the command line, build, run.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use lab::replay::{ReplayOptions, Speed};
use lab::shop::{RunningShop, ShopOptions};
use shop_common::{ShopState, serve};
use tokio_util::sync::CancellationToken;

/// The observability lab: a deliberately broken shop, its traffic, and the trace collector to investigate it
/// (the dashboard comes next), all offline on one machine.
#[derive(Parser, Debug)]
#[command(version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the shop (storefront on :3000, discounts on :5001, ads on :5002) with recorded traffic replaying
    /// against it in a loop. Ctrl-C stops everything.
    Up(UpArgs),
    /// Replay a GoReplay file against a target, then print a summary.
    Replay(ReplayArgs),
    /// Record traffic: a proxy that forwards to the target and appends every request to a GoReplay file.
    Record(RecordArgs),
    /// Run the collector alone: receive spans over OTLP (HTTP and gRPC) and the Datadog agent API, keep them in a bounded store, optionally record
    /// them. Ctrl-C prints what was accepted, stored, evicted and rejected.
    Collect(CollectArgs),
    /// Benchmarks: `lab bench ingest` loads a running collector (`lab collect`) over loopback.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Subcommand, Debug)]
enum BenchCommand {
    /// Send shop-like OTLP/HTTP protobuf batches (10 attributes a span) as fast as the collector takes them.
    Ingest(BenchIngestArgs),
}

#[derive(Args, Debug)]
struct BenchIngestArgs {
    /// The collector's OTLP/HTTP endpoint.
    #[arg(long, default_value = "http://127.0.0.1:4318/v1/traces")]
    endpoint: String,

    /// Requests in flight at once.
    #[arg(long, default_value_t = 4)]
    connections: usize,

    /// Spans in each request.
    #[arg(long, default_value_t = 512)]
    batch: usize,

    /// Stop after the collector has accepted this many spans.
    #[arg(long, default_value_t = 1_000_000)]
    spans: u64,

    /// Stop after this many seconds at most.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
}

#[derive(Args, Debug)]
struct CollectArgs {
    /// Where the OTLP/HTTP receiver listens (`POST /v1/traces`, protobuf or JSON, gzip or not).
    #[arg(long, default_value = "127.0.0.1:4318")]
    otlp_http: SocketAddr,

    /// Where the OTLP/gRPC receiver listens (`TraceService/Export`, gzip or not).
    #[arg(long, default_value = "127.0.0.1:4317")]
    otlp_grpc: SocketAddr,

    /// Where the Datadog agent API receiver listens, for apps traced with Datadog's libraries
    /// (`DD_TRACE_AGENT_URL=http://127.0.0.1:8126`).
    #[arg(long, default_value = "127.0.0.1:8126")]
    datadog: SocketAddr,

    /// Most spans kept; past it the oldest whole traces are evicted.
    #[arg(long, env = "LAB_MAX_SPANS", default_value_t = collector::store::DEFAULT_CAPACITY)]
    max_spans: usize,

    /// Largest request body accepted, after decompression, in bytes.
    #[arg(long, default_value_t = collector::receivers::otlp_http::DEFAULT_MAX_BODY)]
    max_body: usize,

    /// Append every accepted batch to this OTLP JSON-lines file (the OpenTelemetry Collector's file format).
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,

    /// Where the query API listens (`GET /api/services`, `/api/map`, `/api/traces`, `/api/errors`,
    /// `/api/insights`, `/api/deployments`, `/api/stats`).
    #[arg(long, default_value = "127.0.0.1:8787")]
    api: SocketAddr,

    /// N+1 threshold: a statement repeated at least this many times in a loop…
    #[arg(long, default_value_t = 5)]
    n_plus_one_repeats: usize,

    /// …taking at least this many milliseconds together.
    #[arg(long, default_value_t = 50)]
    n_plus_one_ms: u64,

    /// Store spans without analysing them (the API's stats, map, errors and insights stay empty): only to
    /// measure what the analyses cost.
    #[arg(long)]
    no_analysis: bool,
}

#[derive(Args, Debug)]
struct UpArgs {
    /// Which faults start switched on: broken (the workshop's start), broken-no-instrumentation, or fixed.
    #[arg(long, env = "LAB_STATE", default_value = "broken")]
    state: ShopState,

    /// PostgreSQL database for the three services (each keeps its tables in a schema of its own) instead of
    /// SQLite files in --data-dir.
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,

    /// Directory for the SQLite files, created and seeded on first start.
    #[arg(long, env = "LAB_DATA_DIR", default_value = "lab-data")]
    data_dir: PathBuf,

    /// Address the services listen on (127.0.0.1 keeps the shop on this machine).
    #[arg(long, default_value = "127.0.0.1")]
    host: std::net::IpAddr,

    /// GoReplay file to replay [default: the project's own recording, built into the binary].
    #[arg(long, value_name = "FILE")]
    replay: Option<PathBuf>,

    /// Replay speed: 1 is the recorded pace, 10 (or 10x) ten times faster, max no waiting.
    #[arg(long, default_value = "1")]
    speed: Speed,

    /// Most replayed requests in flight at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,

    /// Leave the traffic out: only the shop runs.
    #[arg(long)]
    no_replay: bool,

    /// Where the collector's query API listens (its receivers use the standard ports: OTLP 4318/4317,
    /// Datadog 8126).
    #[arg(long, default_value = "127.0.0.1:8787")]
    api: SocketAddr,

    /// Most spans the collector keeps; past it the oldest whole traces are evicted.
    #[arg(long, env = "LAB_MAX_SPANS", default_value_t = collector::store::DEFAULT_CAPACITY)]
    max_spans: usize,
}

#[derive(Args, Debug)]
struct ReplayArgs {
    /// The GoReplay file (records separated by 🐵🙈🙉 lines, as `gor --output-file` writes them).
    file: PathBuf,

    /// Where to send the requests; the Host header is rewritten to it.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    target: String,

    /// Start again after the last request, until Ctrl-C (like gor's --input-file-loop).
    #[arg(long = "loop")]
    loop_forever: bool,

    /// 1 is the recorded pace, 10 (or 10x) ten times faster, 0.5 half as fast, max no waiting.
    #[arg(long, default_value = "1")]
    speed: Speed,

    /// Most requests in flight at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,

    /// Give up on a request after this many seconds.
    #[arg(long, default_value_t = 30)]
    timeout: u64,

    /// No progress line, only the summary.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Args, Debug)]
struct RecordArgs {
    /// The GoReplay file to append to (created when missing).
    #[arg(long, short)]
    output: PathBuf,

    /// Where the proxy listens: point the browser or the load here.
    #[arg(long, default_value = "127.0.0.1:3080")]
    listen: SocketAddr,

    /// Where requests are forwarded.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    target: String,
}

/// The project's own recording of a visitor browsing the shop, made with `lab record`.
const RECORDING: &[u8] = include_bytes!("../../recordings/storedog.gor");

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    serve::init_logging();
    match Cli::parse().command {
        Command::Up(args) => up(args).await,
        Command::Replay(args) => replay(args).await,
        Command::Record(args) => record(args).await,
        Command::Collect(args) => collect(args).await,
        Command::Bench(BenchCommand::Ingest(args)) => {
            let report = lab::bench::ingest(&lab::bench::IngestBench {
                endpoint: args.endpoint,
                connections: args.connections,
                spans_per_batch: args.batch,
                spans: args.spans,
                duration: Duration::from_secs(args.seconds),
            })
            .await?;
            println!("{report}");
            Ok(())
        }
    }
}

/// Reads and parses a GoReplay file, reporting the records it skips.
fn load(name: &str, bytes: &[u8]) -> anyhow::Result<Vec<lab::gor::Request>> {
    let parsed = lab::gor::parse(bytes);
    for problem in &parsed.problems {
        eprintln!(
            "{name}: skipped the record at byte {}: {}",
            problem.offset, problem.message
        );
    }
    anyhow::ensure!(!parsed.requests.is_empty(), "{name} holds no requests");
    Ok(parsed.requests)
}

fn read(path: &PathBuf) -> anyhow::Result<Vec<lab::gor::Request>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    load(&path.display().to_string(), &bytes)
}

async fn up(args: UpArgs) -> anyhow::Result<()> {
    let requests = match (&args.replay, args.no_replay) {
        (_, true) => Vec::new(),
        (Some(path), false) => read(path)?,
        (None, false) => load("the built-in recording", RECORDING)?,
    };
    let mut options = ShopOptions::new(args.state, args.data_dir.clone());
    options.database_url = args.database_url.clone();
    options.host = args.host;
    let collector =
        collector::server::RunningCollector::start(&collector::server::CollectorOptions {
            api: Some(args.api),
            capacity: args.max_spans,
            ..Default::default()
        })
        .await?;
    println!("The collector is up:");
    for (what, addr) in [
        ("OTLP/HTTP", collector.otlp_http),
        ("OTLP/gRPC", collector.otlp_grpc),
        ("Datadog agent API", collector.datadog),
    ] {
        if let Some(addr) = addr {
            println!("  {what} receiver on {addr}");
        }
    }
    if let Some(addr) = collector.api {
        println!("  query API on http://{addr}/api/services");
    }
    let shop = RunningShop::start(&options).await?;
    println!("The shop is up ({} state):", args.state);
    print!("{}", shop.describe());
    println!("  browse it at http://{}/", shop.storefront);

    let cancel = CancellationToken::new();
    let replay = if requests.is_empty() {
        println!("No traffic replay (--no-replay).");
        None
    } else {
        let target = format!("http://{}", shop.storefront)
            .parse()
            .context("the storefront's URL")?;
        let mut opts = ReplayOptions::new(target);
        opts.speed = args.speed;
        opts.concurrency = args.concurrency;
        opts.loop_forever = true;
        opts.progress = false;
        println!(
            "Replaying {} ({} requests) in a loop at {} speed.",
            args.replay
                .as_ref()
                .map_or("the built-in recording".to_owned(), |p| p
                    .display()
                    .to_string()),
            requests.len(),
            args.speed
        );
        let cancel = cancel.clone();
        Some(tokio::spawn(async move {
            lab::replay::replay(&requests, &opts, &cancel).await
        }))
    };
    println!("Ctrl-C stops the lab.");

    serve::ctrl_c().await;
    eprintln!("\nStopping…");
    cancel.cancel();
    if let Some(replay) = replay {
        let report = replay.await.context("the replay task panicked")??;
        println!("Traffic replayed:\n{}", report.summary());
    }
    shop.stop().await?;
    let store = collector.stop().await?;
    let accounting = store.accounting();
    println!(
        "Collector: {} spans accepted, {} stored, {} evicted, {} payloads rejected.",
        accounting.accepted,
        accounting.stored,
        accounting.evicted,
        accounting.rejected_total()
    );
    Ok(())
}

async fn replay(args: ReplayArgs) -> anyhow::Result<()> {
    let requests = read(&args.file)?;
    let target = args
        .target
        .parse()
        .with_context(|| format!("--target {:?} is not a URL", args.target))?;
    let mut opts = ReplayOptions::new(target);
    opts.speed = args.speed;
    opts.concurrency = args.concurrency;
    opts.loop_forever = args.loop_forever;
    opts.timeout = Duration::from_secs(args.timeout);
    opts.progress = !args.quiet;
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    tokio::spawn(async move {
        serve::ctrl_c().await;
        stop.cancel();
    });
    let report = lab::replay::replay(&requests, &opts, &cancel).await?;
    println!("{}", report.summary());
    Ok(())
}

async fn record(args: RecordArgs) -> anyhow::Result<()> {
    let listener = serve::bind("the recording proxy", args.listen).await?;
    eprintln!(
        "Recording requests to {} into {}: send traffic to http://{}/ (Ctrl-C stops).",
        args.target,
        args.output.display(),
        listener.local_addr()?
    );
    let stats =
        lab::record::run_proxy(listener, args.target, args.output.clone(), serve::ctrl_c()).await?;
    eprintln!(
        "Recorded {} requests into {}.",
        stats.requests,
        args.output.display()
    );
    Ok(())
}

async fn collect(args: CollectArgs) -> anyhow::Result<()> {
    let options = collector::server::CollectorOptions {
        otlp_http: Some(args.otlp_http),
        otlp_grpc: Some(args.otlp_grpc),
        datadog: Some(args.datadog),
        capacity: args.max_spans,
        max_body: args.max_body,
        record: args.record.clone(),
        api: Some(args.api),
        analysis: collector::analysis::Settings {
            n_plus_one: collector::analysis::trace::Config {
                min_repeats: args.n_plus_one_repeats,
                min_total_ns: args.n_plus_one_ms * 1_000_000,
            },
            ..Default::default()
        },
        analyse: !args.no_analysis,
        ..Default::default()
    };
    let running = collector::server::RunningCollector::start(&options).await?;
    if let Some(addr) = running.api {
        println!(
            "Query API on http://{addr}/api/services (also /api/map, /api/traces, /api/errors, /api/insights, /api/deployments, /api/stats)"
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
    if let Some(path) = &args.record {
        println!("Recording every accepted batch to {}", path.display());
    }
    println!(
        "Keeping at most {} spans. Ctrl-C stops the collector.",
        args.max_spans
    );
    serve::ctrl_c().await;
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
    Ok(())
}
