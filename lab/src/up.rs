//! The whole workshop in one process: the collector, the shop exporting its spans to it in-process, and
//! recorded traffic replaying against the storefront. `lab up` is this plus a terminal; tests drive it directly.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use collector::receivers::in_process::{InProcessExporter, InProcessLogExporter};
use collector::report::Report;
use collector::server::{CollectorOptions, RunningCollector};
use shop_runtime::Export;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::gor;
use crate::replay::{self, ReplayOptions};
use crate::shop::{RunningShop, ShopOptions};

/// What to start.
#[derive(Debug, Clone)]
pub struct LabOptions {
    pub collector: CollectorOptions,
    /// The shop; its `export` is set to the collector's in-process receiver.
    pub shop: ShopOptions,
    /// Traffic to replay against the storefront, with how.
    pub replay: Option<(Vec<gor::Request>, ReplaySettings)>,
    /// Where the shop's spans go: `None` to this collector, in-process (the lab); `Some` elsewhere, only to
    /// measure what instrumentation costs. The `broken-no-instrumentation` state makes none either way.
    pub export: Option<Export>,
}

/// How the traffic replays.
#[derive(Debug, Clone)]
pub struct ReplaySettings {
    pub speed: replay::Speed,
    pub concurrency: usize,
    /// Start again after the last request, until stopped.
    pub loop_forever: bool,
    pub timeout: Duration,
}

/// The collector, the shop and the replay, running.
#[derive(Debug)]
pub struct RunningLab {
    pub collector: RunningCollector,
    pub shop: RunningShop,
    replay: Option<JoinHandle<anyhow::Result<replay::Report>>>,
    cancel: CancellationToken,
}

/// What a stopped lab leaves: the collector's report and, when traffic replayed, the replay's.
#[derive(Debug)]
pub struct Finished {
    pub report: Report,
    pub replay: Option<replay::Report>,
}

impl RunningLab {
    /// Starts the collector, then the shop reporting to it, then the replay.
    pub async fn start(options: LabOptions) -> anyhow::Result<RunningLab> {
        let collector = RunningCollector::start(&options.collector).await?;
        let ingest = collector.ingest.clone();
        let mut shop_options = options.shop;
        // The storefront's pages report to this collector's browser intake, on its OTLP/HTTP listener.
        if shop_options.rum_intake.is_none() {
            shop_options.rum_intake = collector.otlp_http.map(|addr| format!("http://{addr}"));
        }
        let logs = collector.store.logs().clone();
        shop_options.export = options.export.unwrap_or_else(|| Export::Providers {
            traces: Arc::new(move |resource| {
                shop_runtime::telemetry::batch_provider(
                    InProcessExporter::new(ingest.clone()),
                    resource,
                )
            }),
            // Batched on the SDK's own thread: a request never waits for the log store (nor, when
            // recording, for the disk).
            logs: Arc::new(move |resource| {
                opentelemetry_sdk::logs::SdkLoggerProvider::builder()
                    .with_resource(resource)
                    .with_batch_exporter(InProcessLogExporter::new(logs.clone()))
                    .build()
            }),
        });
        let shop = RunningShop::start(&shop_options).await?;
        let cancel = CancellationToken::new();
        let replay = match options.replay {
            Some((requests, settings)) if !requests.is_empty() => {
                let target = format!("http://{}", shop.storefront)
                    .parse()
                    .context("the storefront's URL")?;
                let mut opts = ReplayOptions::new(target);
                opts.speed = settings.speed;
                opts.concurrency = settings.concurrency;
                opts.loop_forever = settings.loop_forever;
                opts.timeout = settings.timeout;
                opts.progress = false;
                // The broken shop's home page takes 5 s: stopping lets it finish rather than cut it short.
                opts.drain = Duration::from_secs(8);
                let cancel = cancel.clone();
                Some(tokio::spawn(async move {
                    replay::replay(&requests, &opts, &cancel).await
                }))
            }
            _ => None,
        };
        Ok(RunningLab {
            collector,
            shop,
            replay,
            cancel,
        })
    }

    /// Waits until the replay has sent every request once (it must not loop); `None` without a replay.
    pub async fn replay_finished(&mut self) -> anyhow::Result<Option<replay::Report>> {
        match self.replay.take() {
            Some(task) => Ok(Some(task.await.context("the replay task panicked")??)),
            None => Ok(None),
        }
    }

    /// Stops the replay, then the shop (its spans exported), then the collector (what it queued stored and
    /// analysed, the recording closed), and reports. Each is stopped even when one before it failed, so the
    /// ports are released and the recording closed; the first failure is the error.
    pub async fn stop(mut self, source: &str) -> anyhow::Result<Finished> {
        self.cancel.cancel();
        let replay = self.replay_finished().await;
        let shop = self.shop.stop().await;
        let analysis = self.collector.analysis.clone();
        let exports = self.collector.exports.clone();
        let store = self.collector.stop().await;
        let replay = replay?;
        shop?;
        let store = store?;
        let mut report = Report::build(source, &store, &analysis);
        report.exports = exports.stats();
        Ok(Finished { report, replay })
    }
}
