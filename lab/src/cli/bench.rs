//! `lab bench ingest` and `lab bench shop`.

use std::time::Duration;

use clap::{Args, Subcommand};

#[derive(Subcommand, Debug)]
pub(crate) enum BenchCommand {
    /// Send shop-like OTLP/HTTP protobuf batches (10 attributes a span) as fast as the collector takes them.
    Ingest(BenchIngestArgs),
    /// What tracing costs the shop: the fixed storefront's home page throughput with instrumentation off, on
    /// (collector included, as in `lab up`) and on with the spans discarded, in turn in this process.
    Shop(BenchShopArgs),
}

#[derive(Args, Debug)]
pub(crate) struct BenchShopArgs {
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
pub(crate) struct BenchIngestArgs {
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

/// Runs a benchmark and prints its report.
pub(crate) async fn bench(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Shop(args) => {
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
        BenchCommand::Ingest(args) => {
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
