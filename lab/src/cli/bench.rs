//! `lab bench ingest` and `lab bench shop`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::{Args, Subcommand};

#[derive(Subcommand, Debug)]
pub(crate) enum BenchCommand {
    /// Send shop-like batches (spans of 10 attributes, or with --signal logs the log records the shop's
    /// services write) as fast as the collector takes them, over OTLP/HTTP, OTLP/gRPC or the Datadog Agent API.
    Ingest(BenchIngestArgs),
    /// Send browser (RUM) batches as Datadog's browser SDK does to a collector's intake, as fast as it takes them.
    Rum(BenchRumArgs),
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
    /// The collector's endpoint [default: http://127.0.0.1:4318/v1/traces (/v1/logs with --signal logs);
    /// gRPC http://127.0.0.1:4317; Datadog http://127.0.0.1:8126/v0.4/traces or /v0.5/traces].
    #[arg(long)]
    endpoint: Option<String>,

    /// What to send: spans, or log records.
    #[arg(long, value_enum, default_value = "traces")]
    signal: lab::bench::Signal,

    /// How to send spans (log records go over OTLP/HTTP): every payload is encoded before the clock starts.
    #[arg(long, value_enum, default_value = "otlp-http")]
    protocol: lab::bench::Protocol,

    /// Requests in flight at once.
    #[arg(long, default_value_t = 4)]
    connections: usize,

    /// Spans or log records in each request.
    #[arg(long, default_value_t = 512)]
    batch: usize,

    /// Stop after the collector has accepted this many spans or log records.
    #[arg(long, visible_alias = "records", default_value_t = 1_000_000)]
    spans: u64,

    /// Stop after this many seconds at most.
    #[arg(long, default_value_t = 60)]
    seconds: u64,

    /// Meanwhile, send this many browser events a second to the same collector's RUM intake (beside the
    /// endpoint: `/api/v2/rum`), to see what RUM traffic costs span ingest.
    #[arg(long, value_name = "EVENTS_PER_S")]
    with_rum: Option<f64>,
}

#[derive(Args, Debug)]
pub(crate) struct BenchRumArgs {
    /// The collector's RUM intake.
    #[arg(long, default_value = "http://127.0.0.1:4318/api/v2/rum")]
    endpoint: String,

    /// Requests in flight at once.
    #[arg(long, default_value_t = 4)]
    connections: usize,

    /// Events in each batch.
    #[arg(long, default_value_t = 900)]
    batch: usize,

    /// Seconds of load.
    #[arg(long, default_value_t = 10)]
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
            let endpoint =
                (args.endpoint).unwrap_or_else(|| args.protocol.default_endpoint(args.signal));
            anyhow::ensure!(
                args.with_rum.is_none() || args.protocol == lab::bench::Protocol::OtlpHttp,
                "--with-rum goes beside OTLP/HTTP only (the intake is on its listener)"
            );
            let stop = Arc::new(AtomicBool::new(false));
            let rum = args.with_rum.map(|rate| {
                let bench = lab::bench::RumBench {
                    endpoint: endpoint.replace(args.signal.path(), "/api/v2/rum"),
                    connections: 1,
                    events_per_batch: 90,
                    rate: Some(rate),
                    duration: Duration::from_secs(args.seconds),
                };
                let stop = stop.clone();
                tokio::spawn(async move { lab::bench::rum(&bench, stop).await })
            });
            let report = lab::bench::ingest(&lab::bench::IngestBench {
                endpoint,
                signal: args.signal,
                protocol: args.protocol,
                connections: args.connections,
                batch: args.batch,
                items: args.spans,
                duration: Duration::from_secs(args.seconds),
            })
            .await;
            stop.store(true, Ordering::Relaxed);
            let report = report?;
            println!("{report}");
            if let Some(rum) = rum {
                println!("meanwhile {}", rum.await??);
            }
            Ok(())
        }
        BenchCommand::Rum(args) => {
            let report = lab::bench::rum(
                &lab::bench::RumBench {
                    endpoint: args.endpoint,
                    connections: args.connections,
                    events_per_batch: args.batch,
                    rate: None,
                    duration: Duration::from_secs(args.seconds),
                },
                Arc::new(AtomicBool::new(false)),
            )
            .await?;
            println!("{report}");
            Ok(())
        }
    }
}
