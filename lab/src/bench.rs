//! `lab bench ingest`: an end-to-end loopback load generator for a collector's receivers, sending shop-like
//! batches (512 spans of 10 attributes each, or 513 log records as the shop's services write them) from
//! several connections and reporting spans or records a second. Spans go over OTLP/HTTP protobuf, OTLP/gRPC
//! (tonic's client) or the Datadog Agent API (v0.4 or v0.5 msgpack, the same spans as Datadog's tracers send
//! them); every payload is encoded before the clock starts, so the client only sends.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use prost::Message as _;

/// What `lab bench ingest` sends: spans, or log records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Signal {
    Traces,
    Logs,
}

impl Signal {
    /// What one item is called in the report.
    pub fn unit(self) -> &'static str {
        match self {
            Signal::Traces => "spans",
            Signal::Logs => "records",
        }
    }

    /// The OTLP/HTTP path of the signal.
    pub fn path(self) -> &'static str {
        match self {
            Signal::Traces => "/v1/traces",
            Signal::Logs => "/v1/logs",
        }
    }

    /// A batch of about `items` items numbered from `seed`, and how many it holds.
    fn batch(self, items: usize, seed: u64) -> (Bytes, usize) {
        match self {
            Signal::Traces => {
                let request = collector::synth::shop_batch(items, seed);
                let spans = request.resource_spans.iter().flat_map(|r| &r.scope_spans);
                let count = spans.map(|s| s.spans.len()).sum();
                (Bytes::from(request.encode_to_vec()), count)
            }
            Signal::Logs => {
                let request = collector::synth::log_batch(items, seed);
                let records = request.resource_logs.iter().flat_map(|r| &r.scope_logs);
                let count = records.map(|s| s.log_records.len()).sum();
                (Bytes::from(request.encode_to_vec()), count)
            }
        }
    }
}

/// How `lab bench ingest` sends its spans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    /// OTLP/HTTP, protobuf bodies.
    OtlpHttp,
    /// OTLP/gRPC, one HTTP/2 connection a sender.
    OtlpGrpc,
    /// The Datadog Agent API, `/v0.4/traces` in msgpack.
    DatadogV04,
    /// The Datadog Agent API, `/v0.5/traces` (a string table and arrays).
    DatadogV05,
}

impl Protocol {
    /// Where a collector on this machine listens for it by default, for `signal`.
    pub fn default_endpoint(self, signal: Signal) -> String {
        match self {
            Protocol::OtlpHttp => format!("http://127.0.0.1:4318{}", signal.path()),
            Protocol::OtlpGrpc => "http://127.0.0.1:4317".to_owned(),
            Protocol::DatadogV04 => "http://127.0.0.1:8126/v0.4/traces".to_owned(),
            Protocol::DatadogV05 => "http://127.0.0.1:8126/v0.5/traces".to_owned(),
        }
    }

    /// A batch of about `spans` spans numbered from `seed`, encoded, and how many spans it holds.
    fn batch(self, spans: usize, seed: u64) -> (Bytes, usize) {
        match self {
            Protocol::OtlpHttp | Protocol::OtlpGrpc => Signal::Traces.batch(spans, seed),
            // The same spans as the OTLP batch of this seed (`collector::synth`).
            Protocol::DatadogV04 => (collector::synth::datadog_v04(spans, seed).into(), spans),
            Protocol::DatadogV05 => (collector::synth::datadog_v05(spans, seed).into(), spans),
        }
    }
}

/// What to send.
#[derive(Debug, Clone)]
pub struct IngestBench {
    /// The receiver, such as `http://127.0.0.1:4318/v1/traces` (for gRPC, the server: `http://127.0.0.1:4317`).
    pub endpoint: String,
    pub signal: Signal,
    /// Log records go over OTLP/HTTP only.
    pub protocol: Protocol,
    pub connections: usize,
    /// Spans or records in each request (log batches round it up to a multiple of three).
    pub batch: usize,
    /// Stop after this many spans or records have been accepted…
    pub items: u64,
    /// …or after this long, whichever comes first.
    pub duration: Duration,
}

/// What happened.
#[derive(Debug, Clone)]
pub struct IngestReport {
    /// `spans` or `records`.
    pub unit: &'static str,
    pub accepted: u64,
    pub batches: u64,
    pub retries: u64,
    pub failures: u64,
    pub elapsed: Duration,
    pub p50: Duration,
    pub p99: Duration,
    pub bytes_per_item: usize,
}

impl IngestReport {
    /// Spans or records accepted a second.
    pub fn per_second(&self) -> f64 {
        self.accepted as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl std::fmt::Display for IngestReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "accepted  {} {unit} in {} batches over {:.2} s: {:.0} {unit}/s",
            self.accepted,
            self.batches,
            self.elapsed.as_secs_f64(),
            self.per_second(),
            unit = self.unit
        )?;
        writeln!(
            f,
            "refused   {} answered 429/503 or RESOURCE_EXHAUSTED/UNAVAILABLE (retried), {} failed",
            self.retries, self.failures
        )?;
        write!(
            f,
            "latency   p50 {:.2} ms, p99 {:.2} ms per batch; {} bytes a {} on the wire",
            self.p50.as_secs_f64() * 1e3,
            self.p99.as_secs_f64() * 1e3,
            self.bytes_per_item,
            self.unit.trim_end_matches('s')
        )
    }
}

/// Batches with distinct trace and span ids, encoded before the clock starts, and the items each holds.
fn batches(bench: &IngestBench, count: usize) -> (Vec<Bytes>, usize) {
    let mut per_batch = 0;
    let batches = (0..count)
        .map(|i| {
            let seed = i as u64 + 1;
            let (bytes, items) = match bench.signal {
                Signal::Traces => bench.protocol.batch(bench.batch, seed),
                Signal::Logs => bench.signal.batch(bench.batch, seed),
            };
            per_batch = items;
            bytes
        })
        .collect();
    (batches, per_batch)
}

/// One sender's way of posting a batch.
enum Sender {
    /// A POST (PUT for Datadog, as its tracers send) with a content type.
    Http {
        client: reqwest::Client,
        datadog: bool,
        content_type: &'static str,
    },
    /// tonic's gRPC client on a connection of its own, sending the pre-encoded request as the generated
    /// `TraceServiceClient::export` would (same path, same framing), without encoding it again.
    Grpc(tonic::client::Grpc<tonic::transport::Channel>),
}

/// The gRPC codec of a request already encoded: its bytes are sent as they are, the answer read and dropped.
#[derive(Debug, Clone, Copy, Default)]
struct Preencoded;

impl tonic::codec::Codec for Preencoded {
    type Encode = Bytes;
    type Decode = ();
    type Encoder = Preencoded;
    type Decoder = Preencoded;

    fn encoder(&mut self) -> Preencoded {
        Preencoded
    }

    fn decoder(&mut self) -> Preencoded {
        Preencoded
    }
}

impl tonic::codec::Encoder for Preencoded {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: Bytes,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        use bytes::BufMut as _;
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for Preencoded {
    type Item = ();
    type Error = tonic::Status;

    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<()>, tonic::Status> {
        use bytes::Buf as _;
        src.advance(src.remaining());
        Ok(Some(()))
    }
}

/// How a batch was answered.
enum Answer {
    Accepted,
    /// Refused for now (429, 503, gRPC RESOURCE_EXHAUSTED or UNAVAILABLE): retried.
    Later,
    Failed,
}

impl Sender {
    async fn new(bench: &IngestBench, client: &reqwest::Client) -> anyhow::Result<Sender> {
        Ok(match bench.protocol {
            Protocol::OtlpGrpc => {
                let channel = tonic::transport::Endpoint::from_shared(bench.endpoint.clone())
                    .context("the gRPC endpoint")?
                    .timeout(Duration::from_secs(30))
                    .connect()
                    .await
                    .with_context(|| format!("connecting to {}", bench.endpoint))?;
                Sender::Grpc(tonic::client::Grpc::new(channel))
            }
            Protocol::OtlpHttp => Sender::Http {
                client: client.clone(),
                datadog: false,
                content_type: "application/x-protobuf",
            },
            Protocol::DatadogV04 | Protocol::DatadogV05 => Sender::Http {
                client: client.clone(),
                datadog: true,
                content_type: "application/msgpack",
            },
        })
    }

    async fn send(&mut self, endpoint: &str, body: Bytes) -> Answer {
        match self {
            Sender::Http {
                client,
                datadog,
                content_type,
            } => {
                let request = if *datadog {
                    client.put(endpoint)
                } else {
                    client.post(endpoint)
                };
                let response = request
                    .header("content-type", *content_type)
                    .body(body)
                    .send()
                    .await;
                match response.map(|r| r.status().as_u16()) {
                    Ok(200) => Answer::Accepted,
                    Ok(429 | 503) => Answer::Later,
                    _ => Answer::Failed,
                }
            }
            Sender::Grpc(grpc) => {
                if grpc.ready().await.is_err() {
                    return Answer::Failed;
                }
                let path = http::uri::PathAndQuery::from_static(
                    "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                );
                let answer = grpc
                    .unary(tonic::Request::new(body), path, Preencoded)
                    .await;
                match answer {
                    Ok(_) => Answer::Accepted,
                    Err(status)
                        if matches!(
                            status.code(),
                            tonic::Code::ResourceExhausted | tonic::Code::Unavailable
                        ) =>
                    {
                        Answer::Later
                    }
                    Err(_) => Answer::Failed,
                }
            }
        }
    }
}

pub async fn ingest(bench: &IngestBench) -> anyhow::Result<IngestReport> {
    anyhow::ensure!(
        bench.connections > 0 && bench.batch > 0,
        "connections and batch size must be positive"
    );
    anyhow::ensure!(
        bench.signal == Signal::Traces || bench.protocol == Protocol::OtlpHttp,
        "log records are sent over OTLP/HTTP only"
    );
    let unit = bench.signal.unit();
    // Up to 2,000 distinct batches (a million spans); past that the ids repeat and traces grow instead.
    let distinct = (bench.items.div_ceil(bench.batch as u64)).clamp(1, 2000) as usize;
    eprintln!("encoding {distinct} batches of {} {unit}…", bench.batch);
    let (batches, per_batch) = batches(bench, distinct);
    let batches = Arc::new(batches);
    let bytes_per_item = batches[0].len() / per_batch.max(1);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(bench.connections)
        .timeout(Duration::from_secs(30))
        .build()
        .context("building the HTTP client")?;
    let next = Arc::new(AtomicUsize::new(0));
    let accepted = Arc::new(AtomicU64::new(0));
    let mut senders = Vec::new();
    for _ in 0..bench.connections {
        senders.push(Sender::new(bench, &client).await?);
    }
    let started = Instant::now();
    let mut workers = Vec::new();
    for mut sender in senders {
        let (batches, next, accepted, bench) = (
            batches.clone(),
            next.clone(),
            accepted.clone(),
            bench.clone(),
        );
        workers.push(tokio::spawn(async move {
            let (mut latencies, mut retries, mut failures) = (Vec::new(), 0u64, 0u64);
            while accepted.load(Ordering::Relaxed) < bench.items
                && started.elapsed() < bench.duration
            {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let body = batches[i % batches.len()].clone();
                let sent = Instant::now();
                match sender.send(&bench.endpoint, body).await {
                    Answer::Accepted => {
                        latencies.push(sent.elapsed());
                        accepted.fetch_add(per_batch as u64, Ordering::Relaxed);
                    }
                    Answer::Later => {
                        retries += 1;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Answer::Failed => failures += 1,
                }
            }
            (latencies, retries, failures)
        }));
    }
    let (mut latencies, mut retries, mut failures) = (Vec::new(), 0, 0);
    for worker in workers {
        let (l, r, f) = worker.await.context("a load worker panicked")?;
        latencies.extend(l);
        retries += r;
        failures += f;
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
    };
    Ok(IngestReport {
        unit,
        accepted: accepted.load(Ordering::Relaxed),
        batches: latencies.len() as u64,
        retries,
        failures,
        elapsed,
        p50: at(0.5).unwrap_or_default(),
        p99: at(0.99).unwrap_or_default(),
        bytes_per_item,
    })
}

/// `lab bench shop`: what tracing costs the storefront. The fixed shop runs in this process as in `lab up`
/// (collector included), in turn with instrumentation off, on, and on with its spans discarded at export (the
/// cost of making spans, without the collector's work of storing and analysing them), and its home page is
/// loaded from `connections` concurrent clients for `seconds` each round.
#[derive(Debug, Clone)]
pub struct ShopBench {
    pub rounds: usize,
    pub seconds: f64,
    pub connections: usize,
    pub path: String,
    pub only: Option<Instrumentation>,
}

/// The configurations `lab bench shop` compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Instrumentation {
    /// No spans.
    Off,
    /// Spans exported to the collector in-process, as in `lab up`.
    On,
    /// Spans made and exported, then thrown away.
    Discarded,
}

impl Instrumentation {
    const ALL: [Instrumentation; 3] = [
        Instrumentation::Off,
        Instrumentation::On,
        Instrumentation::Discarded,
    ];

    fn name(self) -> &'static str {
        match self {
            Instrumentation::Off => "off",
            Instrumentation::On => "on",
            Instrumentation::Discarded => "discarded",
        }
    }
}

/// An exporter that throws spans away.
#[derive(Debug)]
struct Discard;

impl opentelemetry_sdk::trace::SpanExporter for Discard {
    async fn export(
        &self,
        _batch: Vec<opentelemetry_sdk::trace::SpanData>,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        Ok(())
    }
}

/// One round of one configuration.
#[derive(Debug, Clone, Copy)]
pub struct Round {
    pub config: Instrumentation,
    pub requests_per_second: f64,
    /// CPU time of this whole process (shop, collector and load generator) per request, in microseconds.
    pub cpu_us: f64,
}

/// Every round, in the order run.
#[derive(Debug, Clone, Default)]
pub struct ShopReport {
    pub rounds: Vec<Round>,
    pub spans_per_request: f64,
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

impl ShopReport {
    fn of(&self, config: Instrumentation) -> impl Iterator<Item = &Round> {
        self.rounds.iter().filter(move |r| r.config == config)
    }

    pub fn median_rate(&self, config: Instrumentation) -> f64 {
        median(
            &self
                .of(config)
                .map(|r| r.requests_per_second)
                .collect::<Vec<_>>(),
        )
    }

    pub fn median_cpu(&self, config: Instrumentation) -> f64 {
        median(&self.of(config).map(|r| r.cpu_us).collect::<Vec<_>>())
    }

    /// The share of throughput `config` costs against instrumentation off: the median over rounds of each
    /// round's figure against the off figure of the same round (taken seconds apart, so with the same
    /// neighbours on a shared machine).
    pub fn cost(&self, config: Instrumentation) -> f64 {
        let off: Vec<&Round> = self.of(Instrumentation::Off).collect();
        let with: Vec<&Round> = self.of(config).collect();
        median(
            &off.iter()
                .zip(&with)
                .map(|(off, with)| 1.0 - with.requests_per_second / off.requests_per_second)
                .collect::<Vec<_>>(),
        )
    }
}

impl std::fmt::Display for ShopReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for config in Instrumentation::ALL {
            let rounds: Vec<String> = self
                .of(config)
                .map(|r| format!("{:.0}", r.requests_per_second))
                .collect();
            if rounds.is_empty() {
                continue;
            }
            write!(
                f,
                "instrumentation {:<9}: median {:.0} req/s, {:.0} µs CPU a request (rounds: {} req/s)",
                config.name(),
                self.median_rate(config),
                self.median_cpu(config),
                rounds.join(", ")
            )?;
            if config != Instrumentation::Off {
                write!(
                    f,
                    "; cost {:.1} % of throughput (median of paired rounds)",
                    self.cost(config) * 100.0
                )?;
            }
            writeln!(f)?;
        }
        write!(f, "{:.1} spans a request", self.spans_per_request)
    }
}

/// CPU time this process has used (user and system), from /proc; `None` elsewhere.
fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // The kernel reports in USER_HZ, 100 on Linux.
    Some(Duration::from_millis(ticks * 10))
}

pub async fn shop(bench: &ShopBench) -> anyhow::Result<ShopReport> {
    let data = std::env::temp_dir().join(format!("lab-bench-shop-{}", std::process::id()));
    let mut report = ShopReport::default();
    let (mut spans, mut requests_on) = (0u64, 0u64);
    for round in 1..=bench.rounds {
        for config in Instrumentation::ALL {
            if bench.only.is_some_and(|only| only != config) {
                continue;
            }
            let export = match config {
                Instrumentation::Off => Some(shop_runtime::Export::Off),
                Instrumentation::On => None,
                Instrumentation::Discarded => {
                    Some(shop_runtime::Export::Provider(Arc::new(|resource| {
                        shop_runtime::telemetry::batch_provider(Discard, resource)
                    })))
                }
            };
            let lab = crate::up::RunningLab::start(crate::up::LabOptions {
                collector: collector::server::CollectorOptions {
                    otlp_http: None,
                    otlp_grpc: None,
                    datadog: None,
                    api: None,
                    ..Default::default()
                },
                shop: crate::shop::ShopOptions::ephemeral(
                    shop_runtime::ShopState::Fixed,
                    data.clone(),
                ),
                replay: None,
                export,
            })
            .await?;
            let url = format!("http://{}{}", lab.shop.storefront, bench.path);
            // Warm up: connections, caches, the banner images.
            load(&url, bench.connections, Duration::from_millis(500)).await?;
            let cpu_before = process_cpu();
            let (done, elapsed) = load(
                &url,
                bench.connections,
                Duration::from_secs_f64(bench.seconds),
            )
            .await?;
            let requests_per_second = done as f64 / elapsed.as_secs_f64();
            let cpu_us = match (cpu_before, process_cpu()) {
                (Some(before), Some(after)) => {
                    (after - before).as_secs_f64() * 1e6 / done.max(1) as f64
                }
                _ => f64::NAN,
            };
            let finished = lab.stop("bench").await?;
            if config == Instrumentation::On {
                spans += finished.report.accounting.accepted;
                requests_on += finished
                    .report
                    .service(storefront::SERVICE)
                    .map_or(0, |s| s.requests);
            }
            eprintln!(
                "round {round}: instrumentation {:<9}: {requests_per_second:.0} req/s, {cpu_us:.0} µs CPU a request",
                config.name()
            );
            report.rounds.push(Round {
                config,
                requests_per_second,
                cpu_us,
            });
        }
    }
    report.spans_per_request = spans as f64 / requests_on.max(1) as f64;
    let _ = std::fs::remove_dir_all(&data);
    Ok(report)
}

/// GETs `url` from `connections` loops for `duration`; how many answered 200, and how long it took.
async fn load(
    url: &str,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<(u64, Duration)> {
    let client = reqwest::Client::new();
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let (client, url, done) = (client.clone(), url.to_owned(), done.clone());
        tasks.spawn(async move {
            while start.elapsed() < duration {
                let response = client.get(&url).send().await?;
                anyhow::ensure!(
                    response.status().is_success(),
                    "{url} answered {}",
                    response.status()
                );
                response.bytes().await?;
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        });
    }
    while let Some(result) = tasks.join_next().await {
        result??;
    }
    Ok((done.load(Ordering::Relaxed), start.elapsed()))
}

/// `lab bench rum`: browser batches (`collector::synth::rum_batch`) posted to a collector's intake.
#[derive(Debug, Clone)]
pub struct RumBench {
    /// The intake, such as `http://127.0.0.1:4318/api/v2/rum`.
    pub endpoint: String,
    pub connections: usize,
    pub events_per_batch: usize,
    /// Events a second to send, spread over the connections; `None` as fast as they are taken.
    pub rate: Option<f64>,
    pub duration: Duration,
}

/// What a RUM load came to.
#[derive(Debug, Clone, Default)]
pub struct RumReport {
    pub accepted_events: u64,
    pub batches: u64,
    pub failures: u64,
    pub elapsed: Duration,
}

impl RumReport {
    pub fn events_per_second(&self) -> f64 {
        self.accepted_events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl std::fmt::Display for RumReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "accepted  {} browser events in {} batches over {:.2} s: {:.0} events/s; {} failed",
            self.accepted_events,
            self.batches,
            self.elapsed.as_secs_f64(),
            self.events_per_second(),
            self.failures
        )
    }
}

/// Sends browser batches until `bench.duration` has passed (or `stop` is set).
pub async fn rum(
    bench: &RumBench,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> anyhow::Result<RumReport> {
    anyhow::ensure!(
        bench.connections > 0 && bench.events_per_batch > 0,
        "connections and batch size must be positive"
    );
    let batches: Arc<Vec<Bytes>> = Arc::new(
        (0..256)
            .map(|seed| Bytes::from(collector::synth::rum_batch(bench.events_per_batch, seed)))
            .collect(),
    );
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(bench.connections)
        .timeout(Duration::from_secs(30))
        .build()
        .context("building the HTTP client")?;
    // Each connection's pause between batches, for a set rate.
    let gap = bench.rate.map(|rate| {
        Duration::from_secs_f64(
            bench.events_per_batch as f64 * bench.connections as f64 / rate.max(1.0),
        )
    });
    let (next, accepted, sent, failed) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..bench.connections {
        let (client, batches, next, accepted, sent, failed, stop, bench) = (
            client.clone(),
            batches.clone(),
            next.clone(),
            accepted.clone(),
            sent.clone(),
            failed.clone(),
            stop.clone(),
            bench.clone(),
        );
        workers.push(tokio::spawn(async move {
            while started.elapsed() < bench.duration && !stop.load(Ordering::Relaxed) {
                let at = Instant::now();
                let i = next.fetch_add(1, Ordering::Relaxed);
                let response = client
                    .post(&bench.endpoint)
                    .header("content-type", "text/plain;charset=UTF-8")
                    .body(batches[i % batches.len()].clone())
                    .send()
                    .await;
                sent.fetch_add(1, Ordering::Relaxed);
                match response {
                    Ok(answer) if answer.status() == 202 => {
                        accepted.fetch_add(bench.events_per_batch as u64, Ordering::Relaxed);
                    }
                    _ => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                if let Some(gap) = gap {
                    tokio::time::sleep(gap.saturating_sub(at.elapsed())).await;
                }
            }
        }));
    }
    for worker in workers {
        worker.await.context("a RUM load worker panicked")?;
    }
    Ok(RumReport {
        accepted_events: accepted.load(Ordering::Relaxed),
        batches: sent.load(Ordering::Relaxed),
        failures: failed.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
    })
}
