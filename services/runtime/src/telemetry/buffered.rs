//! [`BufferedSpanProcessor`]: batching finished spans under a lock, exported by one thread on a tick, for an
//! exporter in the same process.

use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use parking_lot::{Mutex, RwLock};

use super::outside_requests;

/// A provider that hands finished spans to `exporter` through a [`BufferedSpanProcessor`].
pub fn batch_provider(
    exporter: impl opentelemetry_sdk::trace::SpanExporter + 'static,
    resource: Resource,
) -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_span_processor(BufferedSpanProcessor::new(exporter))
        .with_resource(resource)
        .build()
}

/// How often a [`BufferedSpanProcessor`] exports what it holds.
pub const EXPORT_EVERY: Duration = Duration::from_millis(250);
/// How many spans make it export at once rather than at the next tick.
const EXPORT_AT: usize = 4_096;
/// Most spans it holds; past it spans are dropped, and counted.
const MAX_BUFFERED: usize = 131_072;
/// Longest a [`BufferedSpanProcessor::force_flush`] waits for the exports it asked for. Generous: the lab's
/// exporter waits for room in the collector's queue, which a busy small machine may take seconds to make.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(30);

/// A span processor for an exporter in the same process: a finished span is pushed onto a buffer under a
/// lock, and a thread exports the buffer every [`EXPORT_EVERY`] (sooner when it fills). The SDK's batch
/// processor instead sends each span through a channel to its thread and wakes it every time, which on a
/// small machine costs the shop a fifth of its throughput.
///
/// Only that thread exports, so an exporter that hangs holds up no one else: `force_flush` and `shutdown`
/// wait for it a bounded time, then give up with [`OTelSdkError::Timeout`]. Spans that find the buffer full,
/// or end after shutdown, are dropped and counted ([`BufferedSpanProcessor::dropped`]).
///
/// [`OTelSdkError::Timeout`]: opentelemetry_sdk::error::OTelSdkError::Timeout
#[derive(Debug)]
pub struct BufferedSpanProcessor<E: opentelemetry_sdk::trace::SpanExporter> {
    shared: Arc<Buffered<E>>,
}

#[derive(Debug)]
struct Buffered<E> {
    exporter: RwLock<E>,
    state: Mutex<BufferState>,
    /// Wakes the exporting thread: the buffer filled, a flush was asked for, or shutdown began.
    wake: parking_lot::Condvar,
    /// Wakes those waiting for the exporting thread: an export (or a tick with nothing to export) is done.
    done: parking_lot::Condvar,
    dropped: std::sync::atomic::AtomicU64,
}

/// Everything the span-ending threads and the exporting thread share, under one lock: checking `stopping`
/// and pushing a span are one step, so no span gets in after shutdown took the last batch.
#[derive(Debug, Default)]
struct BufferState {
    spans: Vec<opentelemetry_sdk::trace::SpanData>,
    stopping: bool,
    /// The exporting thread, started with the first span.
    worker: Option<std::thread::JoinHandle<()>>,
    /// Flushes asked for, and the last one the exporting thread has done: it takes the buffer after seeing a
    /// request and answers it once that batch (and any it was exporting before) has been exported.
    flush_requested: u64,
    flushed: u64,
    /// The exporting thread has exported its last batch and ended.
    finished: bool,
}

impl<E: opentelemetry_sdk::trace::SpanExporter + 'static> BufferedSpanProcessor<E> {
    pub fn new(exporter: E) -> BufferedSpanProcessor<E> {
        BufferedSpanProcessor {
            shared: Arc::new(Buffered {
                exporter: RwLock::new(exporter),
                state: Mutex::new(BufferState::default()),
                wake: parking_lot::Condvar::new(),
                done: parking_lot::Condvar::new(),
                dropped: std::sync::atomic::AtomicU64::new(0),
            }),
        }
    }

    /// Spans dropped: the buffer was full, or they ended after shutdown.
    pub fn dropped(&self) -> u64 {
        self.shared
            .dropped
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    fn spawn_worker(&self) -> std::thread::JoinHandle<()> {
        let shared = self.shared.clone();
        std::thread::Builder::new()
            .name("span-export".to_owned())
            .spawn(move || shared.run())
            .expect("spawning the span exporter's thread")
    }

    /// Counts a span that could not be buffered; the first one is logged, the total at shutdown.
    fn drop_span(&self) {
        if self
            .shared
            .dropped
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            == 0
        {
            log(|| tracing::warn!("dropping spans: the export buffer is full or shut down"));
        }
    }
}

/// Logs under the log's subscriber: span processing runs inside a service's subscriber, whose spans must not
/// get events about their own export.
fn log(event: impl FnOnce()) {
    tracing::dispatcher::with_default(&outside_requests(), event);
}

impl<E: opentelemetry_sdk::trace::SpanExporter> Buffered<E> {
    /// The exporting thread: takes the buffer at every tick (sooner when it fills or a flush is asked for),
    /// exports it, says so, and after shutdown exports what is left and ends.
    fn run(&self) {
        loop {
            let (batch, flush, stop) = {
                let mut state = self.state.lock();
                if state.spans.len() < EXPORT_AT
                    && !state.stopping
                    && state.flush_requested == state.flushed
                {
                    self.wake.wait_for(&mut state, EXPORT_EVERY);
                }
                (
                    std::mem::take(&mut state.spans),
                    state.flush_requested,
                    state.stopping,
                )
            };
            if !batch.is_empty() {
                self.export(batch);
            }
            {
                let mut state = self.state.lock();
                state.flushed = flush;
                state.finished = stop;
            }
            self.done.notify_all();
            if stop {
                return;
            }
        }
    }

    fn export(&self, batch: Vec<opentelemetry_sdk::trace::SpanData>) {
        let exporter = self.exporter.read();
        if let Err(err) = futures::executor::block_on(exporter.export(batch)) {
            log(|| tracing::warn!(error = %err, "exporting spans failed"));
        }
    }
}

impl<E: opentelemetry_sdk::trace::SpanExporter + 'static> opentelemetry_sdk::trace::SpanProcessor
    for BufferedSpanProcessor<E>
{
    fn on_start(&self, _span: &mut opentelemetry_sdk::trace::Span, _cx: &opentelemetry::Context) {}

    fn on_end(&self, span: opentelemetry_sdk::trace::SpanData) {
        let mut state = self.shared.state.lock();
        if state.stopping || state.spans.len() >= MAX_BUFFERED {
            drop(state);
            self.drop_span();
            return;
        }
        state.spans.push(span);
        let full = state.spans.len() == EXPORT_AT;
        if state.worker.is_none() {
            // Once per processor; the thread waits for this lock before it looks at the buffer.
            state.worker = Some(self.spawn_worker());
        }
        drop(state);
        if full {
            self.shared.wake.notify_one();
        }
    }

    /// Waits until every span that ended before the call has been exported, the batch the exporting thread
    /// was already exporting included; an error after `FLUSH_TIMEOUT`.
    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        let deadline = Instant::now() + FLUSH_TIMEOUT;
        let mut state = self.shared.state.lock();
        if state.worker.is_none() || state.finished {
            // No span ever, or shut down with everything exported.
            return Ok(());
        }
        state.flush_requested += 1;
        let asked = state.flush_requested;
        self.shared.wake.notify_one();
        while state.flushed < asked && !state.finished {
            if self
                .shared
                .done
                .wait_until(&mut state, deadline)
                .timed_out()
                && state.flushed < asked
                && !state.finished
            {
                return Err(opentelemetry_sdk::error::OTelSdkError::Timeout(
                    FLUSH_TIMEOUT,
                ));
            }
        }
        Ok(())
    }

    /// Refuses spans from now on, waits (at most `timeout`) for the exporting thread to export what is left,
    /// then shuts the exporter down.
    fn shutdown_with_timeout(&self, timeout: Duration) -> opentelemetry_sdk::error::OTelSdkResult {
        use opentelemetry_sdk::error::OTelSdkError;
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.state.lock();
        if state.stopping {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        state.stopping = true;
        self.shared.wake.notify_one();
        if state.worker.is_some() {
            while !state.finished {
                if self
                    .shared
                    .done
                    .wait_until(&mut state, deadline)
                    .timed_out()
                    && !state.finished
                {
                    // The thread is stuck in the exporter: leave it be rather than hang with it.
                    return Err(OTelSdkError::Timeout(timeout));
                }
            }
        }
        let worker = state.worker.take();
        drop(state);
        if let Some(worker) = worker {
            let _ = worker.join();
        }
        let dropped = self.dropped();
        if dropped > 0 {
            log(|| tracing::warn!(dropped, "spans dropped: the export buffer was full"));
        }
        // A read lock: the exporter's `shutdown` takes `&self`, and a writer would wait behind an export.
        self.shared.exporter.read().shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.shared.exporter.write().set_resource(resource);
    }
}
