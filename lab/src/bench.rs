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
