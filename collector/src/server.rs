//! The collector as a running thing: the store, the ingest writer and the receivers on their listeners,
//! started together and stopped together.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::analysis::{Analysis, Settings};
use crate::export::{ExportOptions, ExportTasks, Exports};
use crate::ingest::{DEFAULT_QUEUE_BATCHES, Ingest};
use crate::receivers::cors::Cors;
use crate::receivers::{datadog, otlp_grpc, otlp_http};
use crate::store::{DEFAULT_CAPACITY, DEFAULT_MAX_BYTES, Store};

/// What to start.
#[derive(Debug, Clone)]
pub struct CollectorOptions {
    /// Where the OTLP/HTTP receiver listens; `None` leaves it out.
    pub otlp_http: Option<SocketAddr>,
    /// Where the OTLP/gRPC receiver listens; `None` leaves it out.
    pub otlp_grpc: Option<SocketAddr>,
    /// Where the Datadog agent API receiver listens; `None` leaves it out.
    pub datadog: Option<SocketAddr>,
    /// Most spans stored before the oldest traces are evicted.
    pub capacity: usize,
    /// Most bytes the stored spans hold (about) before the oldest traces are evicted.
    pub max_bytes: u64,
    /// Batches the ingest queue holds before receivers answer "retry later".
    pub queue_batches: usize,
    /// Largest request body after decompression.
    pub max_body: usize,
    /// Append every accepted batch to this OTLP JSON-lines file.
    pub record: Option<PathBuf>,
    /// The size at which the recording is rotated (to `FILE.1`): it takes at most twice this on disk.
    pub record_max_bytes: u64,
    /// Where the query API listens; `None` leaves it out.
    pub api: Option<SocketAddr>,
    /// The analyses' thresholds.
    pub analysis: Settings,
    /// Whether to run the analyses at all (off only to measure what they cost).
    pub analyse: bool,
    /// Every listener's timeouts and connection cap.
    pub limits: listener::Limits,
    /// The web origins whose pages may send to the OTLP/HTTP listener (CORS); `*` for any.
    pub cors_origins: Vec<String>,
    /// Largest browser (RUM) batch, compressed or not.
    pub rum_max_body: usize,
    /// Where accepted spans go on to (`--export-otlp`, `--export-datadog`).
    pub export: ExportOptions,
    /// When the Datadog receiver's port is taken (a Datadog Agent owns 8126), leave the receiver out and say
    /// so ([`RunningCollector::datadog_port_taken`]) rather than fail.
    pub datadog_steps_aside: bool,
    /// The services' source tree, whose lines the query API serves (`GET /api/source`); `None` serves none.
    pub source_root: Option<PathBuf>,
    /// Routes of the embedding program's, served beside the query API's (`lab workshop`'s guide).
    pub api_extension: Option<crate::api::Extension>,
}

impl Default for CollectorOptions {
    fn default() -> Self {
        CollectorOptions {
            otlp_http: Some(otlp_http::DEFAULT_ADDR),
            otlp_grpc: Some(otlp_grpc::DEFAULT_ADDR),
            datadog: Some(datadog::DEFAULT_ADDR),
            capacity: DEFAULT_CAPACITY,
            max_bytes: DEFAULT_MAX_BYTES,
            queue_batches: DEFAULT_QUEUE_BATCHES,
            max_body: otlp_http::DEFAULT_MAX_BODY,
            record: None,
            record_max_bytes: crate::record::DEFAULT_MAX_BYTES,
            api: Some(crate::api::DEFAULT_ADDR),
            analysis: Settings::default(),
            analyse: true,
            limits: listener::Limits::default(),
            cors_origins: crate::receivers::cors::DEFAULT_ORIGINS
                .iter()
                .map(|o| (*o).to_owned())
                .collect(),
            rum_max_body: crate::rum::intake::DEFAULT_MAX_BODY,
            export: ExportOptions::default(),
            datadog_steps_aside: false,
            source_root: None,
            api_extension: None,
        }
    }
}

/// A started collector.
#[derive(Debug)]
pub struct RunningCollector {
    pub store: Store,
    pub ingest: Ingest,
    pub analysis: Analysis,
    /// Where the query API listens, when it runs.
    pub api: Option<SocketAddr>,
    /// Where the OTLP/HTTP receiver listens, when it runs.
    pub otlp_http: Option<SocketAddr>,
    /// Where the OTLP/gRPC receiver listens, when it runs.
    pub otlp_grpc: Option<SocketAddr>,
    /// Where the Datadog agent API receiver listens, when it runs.
    pub datadog: Option<SocketAddr>,
    /// The Datadog receiver's address when it stepped aside because something else (a Datadog Agent)
    /// listens there.
    pub datadog_port_taken: Option<SocketAddr>,
    /// The exporters (none without `export` options), to read their accounting and switch them.
    pub exports: Exports,
    export_tasks: ExportTasks,
    shutdown: watch::Sender<bool>,
    receivers: JoinSet<anyhow::Result<()>>,
    writer: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningCollector {
    pub async fn start(options: &CollectorOptions) -> anyhow::Result<RunningCollector> {
        let store = Store::bounded(options.capacity, options.max_bytes);
        let recorder = options
            .record
            .as_deref()
            .map(|path| {
                crate::record::Recorder::capped(path, options.record_max_bytes)
                    .with_context(|| format!("opening the recording {}", path.display()))
            })
            .transpose()?;
        let (ingest, writer) = Ingest::new(store.clone(), options.queue_batches, recorder)?;
        let analysis = Analysis::new(options.analysis.clone());
        let (exports, export_tasks) = crate::export::start(&options.export)?;
        let query = crate::query::Query::new(store.clone(), analysis.clone())
            .with_source_root(options.source_root.as_deref())
            .with_exports(exports.clone());
        let (shutdown, stopped) = watch::channel(false);
        let mut receivers = JoinSet::new();
        let mut http_addrs = [None, None, None];
        let http_receivers = [
            (
                options.otlp_http,
                "OTLP/HTTP",
                // The browser intake shares the OTLP/HTTP listener, and both answer CORS preflights.
                otlp_http::router(ingest.clone(), options.max_body)
                    .merge(crate::rum::intake::router(
                        store.rum().clone(),
                        options.rum_max_body,
                        exports.clone(),
                    ))
                    .layer(axum::middleware::from_fn_with_state(
                        Cors::new(options.cors_origins.iter().cloned()),
                        Cors::layer,
                    )),
            ),
            (
                options.datadog,
                "Datadog agent API",
                datadog::router(ingest.clone(), options.max_body),
            ),
            (
                options.api,
                "query API",
                match &options.api_extension {
                    Some(extension) => extension.serve(query),
                    None => crate::api::serve(query),
                },
            ),
        ];
        let mut datadog_port_taken = None;
        for (slot, (addr, name, router)) in http_addrs.iter_mut().zip(http_receivers) {
            let Some(addr) = addr else { continue };
            let listener = match TcpListener::bind(addr).await {
                Err(err)
                    if err.kind() == std::io::ErrorKind::AddrInUse
                        && options.datadog_steps_aside
                        && Some(addr) == options.datadog =>
                {
                    tracing::warn!(
                        "{addr} is taken (a Datadog Agent?): the lab's Datadog receiver is off; --datadog \
                         ADDR puts it elsewhere"
                    );
                    datadog_port_taken = Some(addr);
                    continue;
                }
                bound => bound.with_context(|| format!("binding the {name} receiver on {addr}"))?,
            };
            *slot = Some(listener.local_addr()?);
            let (mut stopped, limits) = (stopped.clone(), options.limits.clone());
            receivers.spawn(async move {
                listener::serve(listener, name, router, limits, async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                })
                .await
                .with_context(|| format!("serving the {name} receiver"))
            });
        }
        let mut otlp_grpc_addr = None;
        if let Some(addr) = options.otlp_grpc {
            let listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding the OTLP/gRPC receiver on {addr}"))?;
            otlp_grpc_addr = Some(listener.local_addr()?);
            let (ingest, max_body, limits, mut stopped) = (
                ingest.clone(),
                options.max_body,
                options.limits.clone(),
                stopped.clone(),
            );
            receivers.spawn(async move {
                otlp_grpc::serve(listener, ingest, max_body, limits, async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                })
                .await
                .context("serving OTLP/gRPC")
            });
        }
        let own: Vec<(&str, SocketAddr)> = [
            ("OTLP/HTTP", http_addrs[0]),
            ("Datadog agent API", http_addrs[1]),
            ("query API", http_addrs[2]),
            ("OTLP/gRPC", otlp_grpc_addr),
        ]
        .into_iter()
        .filter_map(|(name, addr)| Some((name, addr?)))
        .collect();
        if let Err(err) = exports.check_no_loop(&own) {
            let _ = shutdown.send(true);
            receivers.shutdown().await;
            export_tasks.stop().await;
            return Err(err);
        }
        let mut writer_stopped = stopped.clone();
        let writer = if options.analyse {
            writer.analyse(analysis.clone())
        } else {
            writer
        }
        .export(exports.clone());
        let writer = writer.run_until(async move {
            let _ = writer_stopped.wait_for(|stop| *stop).await;
        });
        Ok(RunningCollector {
            store,
            ingest,
            analysis,
            otlp_http: http_addrs[0],
            datadog: http_addrs[1],
            api: http_addrs[2],
            otlp_grpc: otlp_grpc_addr,
            datadog_port_taken,
            exports,
            export_tasks,
            shutdown,
            receivers,
            writer: tokio::spawn(writer),
        })
    }

    /// Stops the receivers, lets the writer store (and record) what was queued, brings the analyses up to
    /// date and closes the recording; then lets the exporters send what they hold, for a few seconds at most
    /// (what is left counts as dropped). In-process exporters still holding an [`Ingest`] do not hold this up:
    /// what they send afterwards is refused and counted as `collector_stopped`.
    pub async fn stop(mut self) -> anyhow::Result<Store> {
        let _ = self.shutdown.send(true);
        while let Some(result) = self.receivers.join_next().await {
            result
                .context("a receiver panicked")?
                .context("serving a receiver")?;
        }
        let store = self.store.clone();
        drop(self.ingest);
        let written = self.writer.await;
        self.export_tasks.stop().await;
        written
            .context("the ingest writer panicked")?
            .context("closing the recording")?;
        Ok(store)
    }
}
