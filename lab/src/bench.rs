//! `lab bench ingest`: an end-to-end loopback load generator for a collector's OTLP/HTTP receiver, sending
//! shop-like protobuf batches (512 spans, 10 attributes each) from several connections and reporting spans/s.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use prost::Message as _;

/// What to send.
#[derive(Debug, Clone)]
pub struct IngestBench {
    /// The receiver, such as `http://127.0.0.1:4318/v1/traces`.
    pub endpoint: String,
    pub connections: usize,
    pub spans_per_batch: usize,
    /// Stop after this many spans have been accepted…
    pub spans: u64,
    /// …or after this long, whichever comes first.
    pub duration: Duration,
}

/// What happened.
#[derive(Debug, Clone)]
pub struct IngestReport {
    pub accepted_spans: u64,
    pub batches: u64,
    pub retries: u64,
    pub failures: u64,
    pub elapsed: Duration,
    pub p50: Duration,
    pub p99: Duration,
    pub bytes_per_span: usize,
}

impl IngestReport {
    pub fn spans_per_second(&self) -> f64 {
        self.accepted_spans as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl std::fmt::Display for IngestReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "accepted  {} spans in {} batches over {:.2} s: {:.0} spans/s",
            self.accepted_spans,
            self.batches,
            self.elapsed.as_secs_f64(),
            self.spans_per_second()
        )?;
        writeln!(
            f,
            "refused   {} answered 429/503 (retried), {} failed",
            self.retries, self.failures
        )?;
        write!(
            f,
            "latency   p50 {:.2} ms, p99 {:.2} ms per batch; {} bytes a span on the wire",
            self.p50.as_secs_f64() * 1e3,
            self.p99.as_secs_f64() * 1e3,
            self.bytes_per_span
        )
    }
}

/// Batches with distinct trace and span ids, encoded before the clock starts.
fn batches(spans_per_batch: usize, count: usize) -> Vec<Bytes> {
    (0..count)
        .map(|i| {
            Bytes::from(collector::synth::shop_batch(spans_per_batch, i as u64 + 1).encode_to_vec())
        })
        .collect()
}

pub async fn ingest(bench: &IngestBench) -> anyhow::Result<IngestReport> {
    anyhow::ensure!(
        bench.connections > 0 && bench.spans_per_batch > 0,
        "connections and batch size must be positive"
    );
    // Up to 2,000 distinct batches (a million spans); past that the ids repeat and traces grow instead.
    let distinct = (bench.spans.div_ceil(bench.spans_per_batch as u64)).clamp(1, 2000) as usize;
    eprintln!(
        "encoding {distinct} batches of {} spans…",
        bench.spans_per_batch
    );
    let batches = Arc::new(batches(bench.spans_per_batch, distinct));
    let bytes_per_span = batches[0].len() / bench.spans_per_batch;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(bench.connections)
        .timeout(Duration::from_secs(30))
        .build()
        .context("building the HTTP client")?;
    let next = Arc::new(AtomicUsize::new(0));
    let accepted = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..bench.connections {
        let (client, batches, next, accepted, bench) = (
            client.clone(),
            batches.clone(),
            next.clone(),
            accepted.clone(),
            bench.clone(),
        );
        workers.push(tokio::spawn(async move {
            let (mut latencies, mut retries, mut failures) = (Vec::new(), 0u64, 0u64);
            while accepted.load(Ordering::Relaxed) < bench.spans
                && started.elapsed() < bench.duration
            {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let body = batches[i % batches.len()].clone();
                let sent = Instant::now();
                let response = client
                    .post(&bench.endpoint)
                    .header("content-type", "application/x-protobuf")
                    .body(body)
                    .send()
                    .await;
                match response.map(|r| r.status().as_u16()) {
                    Ok(200) => {
                        latencies.push(sent.elapsed());
                        accepted.fetch_add(bench.spans_per_batch as u64, Ordering::Relaxed);
                    }
                    Ok(429 | 503) => {
                        retries += 1;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    _ => failures += 1,
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
        accepted_spans: accepted.load(Ordering::Relaxed),
        batches: latencies.len() as u64,
        retries,
        failures,
        elapsed,
        p50: at(0.5).unwrap_or_default(),
        p99: at(0.99).unwrap_or_default(),
        bytes_per_span,
    })
}

/// `lab bench shop`: what tracing costs the storefront. The fixed shop runs in this process as in `lab up`
/// (collector included), once with instrumentation off and once on, alternately, and its home page is
/// loaded from `connections` concurrent clients for `seconds` each round.
#[derive(Debug, Clone)]
pub struct ShopBench {
    pub rounds: usize,
    pub seconds: f64,
    pub connections: usize,
    pub path: String,
    pub only: Option<Instrumentation>,
}

/// One of the two configurations `lab bench shop` compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Instrumentation {
    Off,
    On,
}

/// Requests per second of each round, by configuration.
#[derive(Debug, Clone, Default)]
pub struct ShopReport {
    pub off: Vec<f64>,
    pub on: Vec<f64>,
    /// CPU time of this whole process (shop, collector and load generator) per request, in microseconds.
    pub cpu_off: Vec<f64>,
    pub cpu_on: Vec<f64>,
    pub spans_per_request: f64,
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

impl ShopReport {
    /// The share of throughput instrumentation costs, from the medians.
    pub fn cost(&self) -> f64 {
        if self.on.is_empty() || self.off.is_empty() {
            return f64::NAN;
        }
        1.0 - median(&self.on) / median(&self.off)
    }
}

impl ShopReport {
    /// The extra CPU time a request costs with instrumentation on, from the medians: less sensitive than
    /// throughput to other work on a shared machine.
    pub fn cpu_cost(&self) -> f64 {
        if self.cpu_on.is_empty() || self.cpu_off.is_empty() {
            return f64::NAN;
        }
        median(&self.cpu_on) / median(&self.cpu_off) - 1.0
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

impl std::fmt::Display for ShopReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rounds = |v: &[f64]| {
            v.iter()
                .map(|r| format!("{r:.0}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        writeln!(
            f,
            "instrumentation off: median {:.0} req/s (rounds: {})",
            median(&self.off),
            rounds(&self.off)
        )?;
        writeln!(
            f,
            "instrumentation on:  median {:.0} req/s (rounds: {}), {:.1} spans a request",
            median(&self.on),
            rounds(&self.on),
            self.spans_per_request
        )?;
        writeln!(
            f,
            "CPU a request (whole process): off {:.0} µs, on {:.0} µs",
            median(&self.cpu_off),
            median(&self.cpu_on)
        )?;
        write!(
            f,
            "cost: {:.1} % of throughput, {:.1} % more CPU a request",
            self.cost() * 100.0,
            self.cpu_cost() * 100.0
        )
    }
}

pub async fn shop(bench: &ShopBench) -> anyhow::Result<ShopReport> {
    let data = std::env::temp_dir().join(format!("lab-bench-shop-{}", std::process::id()));
    let mut report = ShopReport::default();
    let mut spans = 0u64;
    let mut requests_on = 0u64;
    for round in 0..bench.rounds * 2 {
        let instrumented = round % 2 == 1;
        match (bench.only, instrumented) {
            (Some(Instrumentation::On), false) | (Some(Instrumentation::Off), true) => continue,
            _ => {}
        }
        // The fixed shop both times; RunningLab exports in-process unless the state says no telemetry, so
        // instrumentation off is the fixed faults with the exporter taken away below.
        let shop = crate::shop::ShopOptions::ephemeral(shop_common::ShopState::Fixed, data.clone());
        let lab = crate::up::RunningLab::start(crate::up::LabOptions {
            collector: collector::server::CollectorOptions {
                otlp_http: None,
                otlp_grpc: None,
                datadog: None,
                api: None,
                ..Default::default()
            },
            shop,
            replay: None,
            traced: instrumented,
        })
        .await?;
        if !instrumented {
            anyhow::ensure!(
                lab.shop.telemetry().iter().all(|t| !t.is_on()),
                "instrumentation should be off"
            );
        }
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
        let rate = done as f64 / elapsed.as_secs_f64();
        let cpu = match (cpu_before, process_cpu()) {
            (Some(before), Some(after)) => {
                (after - before).as_secs_f64() * 1e6 / done.max(1) as f64
            }
            _ => f64::NAN,
        };
        let finished = lab.stop("bench").await?;
        if instrumented {
            report.on.push(rate);
            report.cpu_on.push(cpu);
            spans += finished.report.accounting.accepted;
            requests_on += finished
                .report
                .service(storefront::SERVICE)
                .map_or(0, |s| s.requests);
        } else {
            report.off.push(rate);
            report.cpu_off.push(cpu);
        }
        eprintln!(
            "round {}: instrumentation {}: {rate:.0} req/s, {cpu:.0} µs CPU a request",
            round / 2 + 1,
            if instrumented { "on " } else { "off" }
        );
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
