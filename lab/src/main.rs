//! The `lab` command: parse the command line, build, run. Each subcommand's arguments and body are in `cli`.

mod cli;

use clap::{Parser, Subcommand};
use shop_runtime::serve;

use cli::bench::BenchCommand;
use cli::browse::BrowseArgs;
use cli::class::ClassArgs;
use cli::collect::CollectArgs;
use cli::dashboard::TuiArgs;
use cli::export::ExportCommand;
use cli::fault::FaultArgs;
use cli::report::ReportArgs;
use cli::traffic::{RecordArgs, ReplayArgs};
use cli::up::UpArgs;
use cli::workshop::WorkshopArgs;

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
    /// The guided workshop: `lab up` with a guide pane in the dashboard (W shows or hides it) that takes you
    /// through the workshop's steps — find the error, read the logs, see what the shopper saw, find where the
    /// time goes and the N+1, fix each fault, verify — checking each answer against what the collector found
    /// in this lab, and each fix against the new version's figures. Progress is kept in --data-dir, so a
    /// restart resumes; the query API serves it too (GET /api/workshop).
    Workshop(WorkshopArgs),
    /// Print the class of an instructor's lab (`lab workshop --instructor`): each student's step, steps done,
    /// time spent, hints used and wrong answers, as a table or, for grading, as JSON.
    Class(ClassArgs),
    /// Fix a fault of the running lab (`frontend.ads-in-layout`, `frontend.cart-badge`, `ads.sleep`,
    /// `discounts.sleep`, `discounts.n-plus-one`), or all of them: each fix deploys a new version of its service.
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
    /// Walk through the shop in a real headless Chromium (home, a product, "Add to cart", a search, the cart),
    /// so the storefront's browser SDK reports what a shopper sees.
    Browse(BrowseArgs),
    /// Record traffic: a proxy that forwards to the target and appends every request to a GoReplay file.
    Record(RecordArgs),
    /// Run the collector alone: receive spans over OTLP (HTTP and gRPC) and the Datadog agent API, keep them in a bounded store, optionally record
    /// them. Ctrl-C prints what was accepted, stored, evicted and rejected.
    Collect(CollectArgs),
    /// Switch an exporter of a running lab on or off (`lab export off datadog`), and print what it has sent,
    /// retried, failed and dropped: the exporters `lab up` or `lab collect` started with --export-datadog,
    /// --export-rum or --export-otlp, reached over the query API (--api).
    Export(ExportCommand),
    /// Benchmarks: `lab bench ingest` loads a running collector (`lab collect`) over loopback; `lab bench shop`
    /// measures what instrumentation costs the storefront.
    #[command(subcommand)]
    Bench(BenchCommand),
}

// glibc's allocator slows every thread down once spans are allocated on one thread and freed on another (the
// exporter's): a fifth of the shop's throughput in `lab bench shop`. mimalloc does not.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    // Before the runtime's threads and the allocator's first arenas: what they touch stays as it was mapped.
    lab::memory::without_huge_pages();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

async fn run() -> anyhow::Result<()> {
    serve::init_logging();
    // Every listener's connection cap is a share of this limit: as high as the system allows.
    listener::open_files::raise_and_log();
    match Cli::parse().command {
        Command::Up(args) => cli::up::up(args).await,
        Command::Workshop(args) => cli::workshop::workshop(args).await,
        Command::Class(args) => cli::class::class(args).await,
        Command::Fix(args) => cli::fault::flip(args, false).await,
        Command::Break(args) => cli::fault::flip(args, true).await,
        Command::Report(args) => cli::report::report(args).await,
        Command::Tui(args) => cli::dashboard::dashboard(args).await,
        Command::Replay(args) => cli::traffic::replay(args).await,
        Command::Record(args) => cli::traffic::record(args).await,
        Command::Browse(args) => cli::browse::run(args).await,
        Command::Collect(args) => cli::collect::collect(args).await,
        Command::Export(command) => cli::export::export(command).await,
        Command::Bench(command) => cli::bench::bench(command).await,
    }
}
