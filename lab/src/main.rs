//! The `lab` command: parse the command line, build, run.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use lab::control::ShopUrls;
use lab::replay::{ReplayOptions, Speed};
use lab::shop::ShopOptions;
use lab::up::{LabOptions, ReplaySettings, RunningLab};
use shop_runtime::{ShopState, serve};
use tokio_util::sync::CancellationToken;

/// The observability lab: a deliberately broken shop, its traffic, the trace collector and a terminal
/// dashboard to investigate it, all offline on one machine.
///
/// Start with `lab up`: the dashboard opens on the service map (`?` lists its keys, `f` flips faults). From
/// another terminal, `lab fix <fault>` deploys a fix and `lab tui` opens a second dashboard.
#[derive(Parser, Debug)]
#[command(version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the workshop: the collector (OTLP on 4318/4317, Datadog on 8126, query API on 8787), the
    /// instrumented shop reporting to it (storefront on :3000, discounts on :5001, ads on :5002) and recorded
    /// traffic replaying against it in a loop, and the dashboard over it all (or, with --headless, nothing
    /// on screen until Ctrl-C or --duration). Quitting stops everything and prints the report.
    Up(UpArgs),
    /// Fix a fault of the running lab (`frontend.ads-in-layout`, `ads.sleep`, `discounts.sleep`,
    /// `discounts.n-plus-one`), or all of them: each fix deploys a new version of its service.
    Fix(FaultArgs),
    /// Break a fault of the running lab again, or all of them: a new version too.
    Break(FaultArgs),
    /// Print the report of a recording (`lab up --record FILE`, `lab collect --record FILE`).
    Report(ReportArgs),
    /// Open the dashboard on a running collector (`--connect`, by default the local `lab up` or `lab collect`),
    /// or on a recording, offline: `lab tui spans.jsonl`.
    Tui(TuiArgs),
    /// Replay a GoReplay file against a target, then print a summary.
    Replay(ReplayArgs),
    /// Record traffic: a proxy that forwards to the target and appends every request to a GoReplay file.
    Record(RecordArgs),
    /// Run the collector alone: receive spans over OTLP (HTTP and gRPC) and the Datadog agent API, keep them in a bounded store, optionally record
    /// them. Ctrl-C prints what was accepted, stored, evicted and rejected.
    Collect(CollectArgs),
    /// Benchmarks: `lab bench ingest` loads a running collector (`lab collect`) over loopback; `lab bench shop`
    /// measures what instrumentation costs the storefront.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Subcommand, Debug)]
enum BenchCommand {
    /// Send shop-like OTLP/HTTP protobuf batches (10 attributes a span) as fast as the collector takes them.
    Ingest(BenchIngestArgs),
    /// What tracing costs the shop: the fixed storefront's home page throughput with instrumentation off, on
    /// (collector included, as in `lab up`) and on with the spans discarded, in turn in this process.
    Shop(BenchShopArgs),
}

#[derive(Args, Debug)]
struct BenchShopArgs {
    /// Rounds of each configuration; medians are reported.
    #[arg(long, default_value_t = 3)]
    rounds: usize,

    /// Seconds of load a round.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,

    /// Concurrent clients.
    #[arg(long, default_value_t = 8)]
    connections: usize,

    /// The page to load.
    #[arg(long, default_value = "/")]
    path: String,

    /// Run only one configuration (to profile it).
    #[arg(long)]
    only: Option<lab::bench::Instrumentation>,
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

/// Where the collector listens (port 0 lets the system pick).
#[derive(Args, Debug)]
struct ListenArgs {
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

    /// Where the query API listens (`GET /api/services`, `/api/map`, `/api/traces`, `/api/errors`,
    /// `/api/insights`, `/api/deployments`, `/api/stats`).
    #[arg(long, default_value = "127.0.0.1:8787")]
    api: SocketAddr,
}

#[derive(Args, Debug)]
struct CollectArgs {
    #[command(flatten)]
    listen: ListenArgs,

    /// Most spans kept; past it the oldest whole traces are evicted.
    #[arg(long, env = "LAB_MAX_SPANS", default_value_t = collector::store::DEFAULT_CAPACITY)]
    max_spans: usize,

    /// Largest request body accepted, after decompression, in bytes.
    #[arg(long, default_value_t = collector::receivers::otlp_http::DEFAULT_MAX_BODY)]
    max_body: usize,

    /// Append every accepted batch to this OTLP JSON-lines file (the OpenTelemetry Collector's file format).
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,

    /// N+1 threshold: a statement counts as repeated when it runs at least this many times in a loop…
    #[arg(long, default_value_t = collector::analysis::trace::Config::default().min_repeats)]
    n_plus_one_repeats: usize,

    /// …and the loop is reported when its repeated statements take at least this many milliseconds together.
    #[arg(long, default_value_t = collector::analysis::trace::Config::default().min_total_ns / 1_000_000)]
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

    #[command(flatten)]
    listen: ListenArgs,

    /// The storefront's port (the ads and discounts services take theirs from --ads-port and
    /// --discounts-port; 0 lets the system pick).
    #[arg(long, default_value_t = storefront::PORT)]
    storefront_port: u16,

    /// The advertisements service's port.
    #[arg(long, default_value_t = ads_service::PORT)]
    ads_port: u16,

    /// The discounts service's port.
    #[arg(long, default_value_t = discounts_service::PORT)]
    discounts_port: u16,

    /// Most spans the collector keeps; past it the oldest whole traces are evicted.
    #[arg(long, env = "LAB_MAX_SPANS", default_value_t = collector::store::DEFAULT_CAPACITY)]
    max_spans: usize,

    /// Append every span the collector accepts to this OTLP JSON-lines file, for `lab report FILE` later.
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,

    /// No dashboard: run for --duration (or until Ctrl-C), then print the report. Without it the dashboard
    /// takes the terminal (the log goes to lab.log in --data-dir) and the report prints when you quit.
    #[arg(long)]
    headless: bool,

    /// How long a headless run lasts: `60s`, `5m`, `1h 30m`.
    #[arg(long, value_parser = humantime::parse_duration, requires = "headless")]
    duration: Option<Duration>,

    /// The report's format: `text` for people, `json` for scripts (the JSON alone goes to stdout).
    #[arg(long, default_value = "text")]
    report: ReportFormat,
}

#[derive(Args, Debug)]
struct FaultArgs {
    /// The fault, as `lab fix --list` names it.
    #[arg(required_unless_present_any = ["all", "list"], conflicts_with = "all")]
    fault: Option<String>,

    /// Every fault.
    #[arg(long)]
    all: bool,

    /// List the faults and whether each is broken, and change nothing.
    #[arg(long, conflicts_with_all = ["fault", "all"])]
    list: bool,

    /// The storefront's base URL.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    storefront: String,

    /// The advertisements service's base URL.
    #[arg(long, default_value = "http://127.0.0.1:5002")]
    ads: String,

    /// The discounts service's base URL.
    #[arg(long, default_value = "http://127.0.0.1:5001")]
    discounts: String,
}

#[derive(Args, Debug)]
struct TuiArgs {
    /// A recording to browse offline (`lab up --record FILE`, `lab collect --record FILE`).
    #[arg(conflicts_with = "connect")]
    file: Option<PathBuf>,

    /// The query API of a running collector (`lab up`, `lab collect`), here or on another machine.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8787")]
    connect: String,

    /// Where the source files of error locations are read from [default: the current directory] (`lab up`
    /// reads the shop's own, from the tree it was built from).
    #[arg(long, value_name = "DIR")]
    workspace: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct ReportArgs {
    /// The OTLP JSON-lines recording.
    file: PathBuf,

    /// `text` for people, `json` for scripts.
    #[arg(long, default_value = "text")]
    report: ReportFormat,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum ReportFormat {
    Text,
    Json,
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

// glibc's allocator slows every thread down once spans are allocated on one thread and freed on another (the
// exporter's): a fifth of the shop's throughput in `lab bench shop`. mimalloc does not.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The project's own recording of a visitor browsing the shop, made with `lab record`.
const RECORDING: &[u8] = include_bytes!("../../recordings/storedog.gor");

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    serve::init_logging();
    match Cli::parse().command {
        Command::Up(args) => up(args).await,
        Command::Fix(args) => flip(args, false).await,
        Command::Break(args) => flip(args, true).await,
        Command::Report(args) => report(args).await,
        Command::Tui(args) => dashboard(args).await,
        Command::Replay(args) => replay(args).await,
        Command::Record(args) => record(args).await,
        Command::Collect(args) => collect(args).await,
        Command::Bench(BenchCommand::Shop(args)) => {
            let report = lab::bench::shop(&lab::bench::ShopBench {
                rounds: args.rounds,
                seconds: args.seconds,
                connections: args.connections,
                path: args.path,
                only: args.only,
            })
            .await?;
            println!("{report}");
            Ok(())
        }
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
    use std::io::IsTerminal as _;
    let terminal = std::io::stdout().is_terminal() && std::io::stdin().is_terminal();
    if !args.headless && !terminal {
        anyhow::bail!(
            "the dashboard needs a terminal: run `lab up` in one, or add --headless (with --duration) for scripts"
        );
    }
    let requests = match (&args.replay, args.no_replay) {
        (_, true) => Vec::new(),
        (Some(path), false) => read(path)?,
        (None, false) => load("the built-in recording", RECORDING)?,
    };
    let mut shop = ShopOptions::new(args.state, args.data_dir.clone());
    shop.database_url = args.database_url.clone();
    shop.host = args.host;
    shop.storefront_port = args.storefront_port;
    shop.ads_port = args.ads_port;
    shop.discounts_port = args.discounts_port;
    let replay_count = requests.len();
    let options = LabOptions {
        collector: collector::server::CollectorOptions {
            otlp_http: Some(args.listen.otlp_http),
            otlp_grpc: Some(args.listen.otlp_grpc),
            datadog: Some(args.listen.datadog),
            api: Some(args.listen.api),
            capacity: args.max_spans,
            record: args.record.clone(),
            ..Default::default()
        },
        shop,
        replay: (!requests.is_empty()).then(|| {
            (
                requests,
                ReplaySettings {
                    speed: args.speed,
                    concurrency: args.concurrency,
                    loop_forever: true,
                    timeout: Duration::from_secs(30),
                },
            )
        }),
        export: None,
    };
    let lab = RunningLab::start(options).await?;
    // Headless JSON output is for scripts: everything but the report goes to stderr.
    let say = |line: String| {
        if matches!(args.report, ReportFormat::Json) {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    };
    say("The collector is up:".to_owned());
    for (what, addr) in [
        ("OTLP/HTTP receiver", lab.collector.otlp_http),
        ("OTLP/gRPC receiver", lab.collector.otlp_grpc),
        ("Datadog agent API", lab.collector.datadog),
    ] {
        if let Some(addr) = addr {
            say(format!("  {what:<24} {addr}"));
        }
    }
    if let Some(addr) = lab.collector.api {
        say(format!("  {:<24} http://{addr}/api/services", "query API"));
    }
    if let Some(path) = &args.record {
        say(format!("  recording spans to {}", path.display()));
    }
    let traced = if args.state.instrumented() {
        "tracing to the collector"
    } else {
        "no tracing"
    };
    say(format!("The shop is up ({} state, {traced}):", args.state));
    say(lab.shop.describe().trim_end().to_owned());
    say(format!("  browse it at http://{}/", lab.shop.storefront));
    if replay_count == 0 {
        say("No traffic replay (--no-replay).".to_owned());
    } else {
        say(format!(
            "Replaying {} ({replay_count} requests) in a loop at {} speed.",
            args.replay
                .as_ref()
                .map_or("the built-in recording".to_owned(), |p| p
                    .display()
                    .to_string()),
            args.speed
        ));
    }
    say(
        "`lab fix <fault>` in another terminal deploys a fix; `lab fix --list` lists the faults."
            .to_owned(),
    );
    match (args.headless, args.duration) {
        (false, _) => {
            // Whatever happens to the dashboard, the lab stops and the report is printed.
            let dashboard = dashboard_in_lab(&args, &lab).await;
            let finished = stop_lab(lab, &args).await;
            serve::log_to_stderr();
            let printed = finished.and_then(|finished| print_report(&finished.report, args.report));
            return dashboard.and(printed);
        }
        (true, Some(duration)) => {
            say(format!(
                "Running for {}; Ctrl-C stops sooner.",
                humantime::format_duration(duration)
            ));
            tokio::select! {
                () = tokio::time::sleep(duration) => {}
                () = serve::ctrl_c() => {}
            }
        }
        _ => {
            say("Ctrl-C stops the lab and prints the report.".to_owned());
            serve::ctrl_c().await;
        }
    }
    let finished = stop_lab(lab, &args).await?;
    print_report(&finished.report, args.report)
}

/// A flag a SIGINT or SIGTERM sets, and the task that waits for them. In raw mode Ctrl-C is a key the
/// dashboard reads itself; a signal from elsewhere (kill, a closing terminal multiplexer) quits it the same way.
fn quit_on_signal() -> (
    std::sync::Arc<std::sync::atomic::AtomicBool>,
    tokio::task::JoinHandle<()>,
) {
    let quit = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let signal = tokio::spawn({
        let quit = quit.clone();
        async move {
            serve::ctrl_c().await;
            quit.store(true, std::sync::atomic::Ordering::Release);
        }
    });
    (quit, signal)
}

/// Stops a lab, saying so, and what the replay did.
async fn stop_lab(lab: RunningLab, args: &UpArgs) -> anyhow::Result<lab::up::Finished> {
    eprintln!("Stopping…");
    let source = format!("lab up --state {}", args.state);
    let finished = lab.stop(&source).await?;
    if let Some(replay) = &finished.replay {
        eprintln!("Traffic replayed:\n{}", replay.summary());
    }
    Ok(finished)
}

/// The source tree this `lab` was built from, while it is still there: the shop's spans name their files
/// relative to it, so `lab up` shows their source lines wherever it is started from.
fn shop_workspace() -> Option<&'static Path> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent()?;
    root.join("services/storefront/src")
        .is_dir()
        .then_some(root)
}

/// Runs the dashboard over a running lab until `q`, Ctrl-C or SIGTERM; the log goes to a file meanwhile.
async fn dashboard_in_lab(args: &UpArgs, lab: &RunningLab) -> anyhow::Result<()> {
    let log = args.data_dir.join("lab.log");
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    serve::log_to_file(&log).with_context(|| format!("opening the log file {}", log.display()))?;
    println!(
        "The log goes to {} while the dashboard runs.",
        log.display()
    );
    let source = tui::source::InProcess::live(
        lab.collector.store.clone(),
        lab.collector.analysis.clone(),
        format!("lab up --state {}", args.state),
    );
    let (quit, signal) = quit_on_signal();
    let mut options = tui::run::Options {
        faults: Some(Box::new(lab::dashboard::ShopFaults::of(&lab.shop))),
        quit: Some(quit),
        ..Default::default()
    };
    if let Some(workspace) = shop_workspace() {
        options.workspace = Some(workspace.to_owned());
    }
    let result = tokio::task::spawn_blocking(move || tui::run::run(Box::new(source), options))
        .await
        .context("the dashboard panicked")
        .and_then(|result| result);
    signal.abort();
    result
}

fn print_report(report: &collector::report::Report, format: ReportFormat) -> anyhow::Result<()> {
    match format {
        ReportFormat::Text => print!("{report}"),
        ReportFormat::Json => println!("{}", serde_json::to_string_pretty(report)?),
    }
    Ok(())
}

async fn flip(args: FaultArgs, broken: bool) -> anyhow::Result<()> {
    let urls = ShopUrls {
        storefront: args.storefront,
        ads: args.ads,
        discounts: args.discounts,
    };
    if args.list {
        for fault in lab::control::list(&urls).await? {
            println!("{fault}");
        }
        return Ok(());
    }
    let flipped = match &args.fault {
        Some(fault) => vec![lab::control::set_fault(&urls, fault, broken).await?],
        None => lab::control::set_all(&urls, broken).await?,
    };
    if flipped.is_empty() {
        println!(
            "Nothing to do: every fault is already {}.",
            if broken { "broken" } else { "fixed" }
        );
    }
    for flip in flipped {
        println!("{flip}");
    }
    Ok(())
}

async fn dashboard(args: TuiArgs) -> anyhow::Result<()> {
    use std::io::IsTerminal as _;
    anyhow::ensure!(
        std::io::stdout().is_terminal() && std::io::stdin().is_terminal(),
        "the dashboard needs a terminal (for a report without one: `lab report FILE`)"
    );
    let source: Box<dyn tui::source::DataSource> = match &args.file {
        Some(file) => {
            let (source, problems) = tui::source::InProcess::recording(file).await?;
            for (line, problem) in &problems {
                eprintln!("{}: line {line} skipped: {problem}", file.display());
            }
            Box::new(source)
        }
        None => {
            let connect = args.connect.clone();
            Box::new(
                tokio::task::spawn_blocking(move || tui::source::Remote::connect(&connect))
                    .await
                    .context("connecting panicked")??,
            )
        }
    };
    let (quit, signal) = quit_on_signal();
    let mut options = tui::run::Options {
        quit: Some(quit),
        ..Default::default()
    };
    if let Some(workspace) = args.workspace {
        options.workspace = Some(workspace);
    }
    let result = tokio::task::spawn_blocking(move || tui::run::run(source, options))
        .await
        .context("the dashboard panicked")
        .and_then(|result| result);
    signal.abort();
    result
}

async fn report(args: ReportArgs) -> anyhow::Result<()> {
    let (report, loaded) =
        collector::report::Report::from_recording(&args.file, Default::default()).await?;
    for (line, problem) in &loaded.problems {
        eprintln!("{}: line {line} skipped: {problem}", args.file.display());
    }
    print_report(&report, args.report)
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
        otlp_http: Some(args.listen.otlp_http),
        otlp_grpc: Some(args.listen.otlp_grpc),
        datadog: Some(args.listen.datadog),
        capacity: args.max_spans,
        max_body: args.max_body,
        record: args.record.clone(),
        api: Some(args.listen.api),
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
