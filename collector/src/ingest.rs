//! The ingest path between receivers and the store: a bounded queue of batches drained by one writer task,
//! which inserts each batch into the store and appends it to the recording. A full queue is answered with
//! "retry later", never a silent drop.

use std::time::Duration;

use tokio::sync::mpsc;

use crate::analysis::Analysis;
use crate::export::Exports;
use crate::limits::SpanLimits;
use crate::model::{Interner, Span};
use crate::record::{Recorder, SharedRecorder};
use crate::staged::Staged;
use crate::store::Store;

/// A batch on its way to the store: model spans, or spans a decoder put straight into the store's form.
pub enum Batch {
    Spans(Vec<Span>),
    /// Boxed: a batch's table and records are far larger than a vector's handle.
    Staged(Box<Staged>),
}

impl Batch {
    /// The number of spans.
    pub fn len(&self) -> usize {
        match self {
            Batch::Spans(spans) => spans.len(),
            Batch::Staged(staged) => staged.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch").field("spans", &self.len()).finish()
    }
}

/// How many evicted spans between two prunings of the interner.
const PRUNE_AFTER_EVICTED: usize = 100_000;

/// Batches waiting for the writer, by default.
pub const DEFAULT_QUEUE_BATCHES: usize = 256;

/// The queue is full: the sender should retry later (HTTP 429 with Retry-After, gRPC RESOURCE_EXHAUSTED).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the collector's ingest queue is full; retry later")]
pub struct Overloaded;

/// What receivers hold: the store, the interner and the queue into the writer. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Ingest {
    store: Store,
    interner: Interner,
    queue: mpsc::Sender<Batch>,
}

/// The writer's end, to be run by [`IngestWriter::run`].
#[derive(Debug)]
pub struct IngestWriter {
    store: Store,
    interner: Interner,
    queue: mpsc::Receiver<Batch>,
    recorder: Option<SharedRecorder>,
    analysis: Option<Analysis>,
    exports: Exports,
}

/// How often the writer looks for traces that have settled (see [`Analysis::settle`]).
const SETTLE_TICK: Duration = Duration::from_millis(500);

impl Ingest {
    /// A queue of `queue_batches` batches into `store`, recorded by `recorder` when given.
    pub fn new(
        store: Store,
        queue_batches: usize,
        recorder: Option<Recorder>,
    ) -> std::io::Result<(Ingest, IngestWriter)> {
        let (tx, rx) = mpsc::channel(queue_batches.max(1));
        let interner = Interner::new();
        let recorder = recorder.map(|recorder| {
            let shared: SharedRecorder = std::sync::Arc::new(parking_lot::Mutex::new(recorder));
            // Log records and browser events go to the same recording, as they are stored.
            store.logs().record_to(shared.clone());
            store.rum().record_to(shared.clone());
            shared
        });
        Ok((
            Ingest {
                store: store.clone(),
                interner: interner.clone(),
                queue: tx,
            },
            IngestWriter {
                store,
                interner,
                queue: rx,
                recorder,
                analysis: None,
                exports: Exports::none(),
            },
        ))
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn interner(&self) -> &Interner {
        &self.interner
    }

    /// Queues a batch for the store, cut down to the span limits, or answers [`Overloaded`] (counted as a
    /// rejected payload) when the writer is behind.
    pub fn submit(&self, spans: Vec<Span>) -> Result<(), Overloaded> {
        self.submit_batch(Batch::Spans(spans))
    }

    /// [`Ingest::submit`] of either kind of batch. A staged batch is within the limits already (its decoder
    /// leaves the others as model spans).
    pub fn submit_batch(&self, mut batch: Batch) -> Result<(), Overloaded> {
        if batch.is_empty() {
            return Ok(());
        }
        let limited = match &mut batch {
            Batch::Spans(spans) => SpanLimits::default().apply_all(spans),
            Batch::Staged(_) => 0,
        };
        match self.queue.try_send(batch) {
            Ok(()) => {
                self.store.count_limited(limited);
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.store.reject("queue_full", 1);
                Err(Overloaded)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.store.reject("collector_stopped", 1);
                Err(Overloaded)
            }
        }
    }

    /// Queues a batch, waiting for room: for senders in this process, which slow down rather than retry.
    /// Fails only when the writer has stopped, which counts the batch as rejected.
    pub async fn submit_waiting(&self, mut spans: Vec<Span>) -> Result<(), Overloaded> {
        if spans.is_empty() {
            return Ok(());
        }
        let limited = SpanLimits::default().apply_all(&mut spans);
        self.queue.send(Batch::Spans(spans)).await.map_err(|_| {
            self.store.reject("collector_stopped", 1);
            Overloaded
        })?;
        self.store.count_limited(limited);
        Ok(())
    }

    /// Counts a payload a receiver could not take.
    pub fn reject(&self, reason: &str) {
        self.store.reject(reason, 1);
    }

    /// Counts spans a receiver refused one by one (bad ids), whether or not the rest of their payload was
    /// taken.
    pub fn reject_spans(&self, spans: u64) {
        if spans > 0 {
            self.store.reject_spans(spans);
        }
    }
}

impl IngestWriter {
    /// Records, analyses, exports and stores one batch.
    fn take(&mut self, batch: Batch) -> crate::store::Inserted {
        // The recording and the exporters keep model spans: a staged batch is made into them for their sake.
        let batch = match batch {
            Batch::Staged(staged) if self.recorder.is_some() || self.exports.wants() => {
                staged.to_spans()
            }
            Batch::Staged(staged) => {
                if let Some(analysis) = &self.analysis {
                    analysis.observe(&staged.views());
                }
                return self.store.insert_staged(*staged);
            }
            Batch::Spans(spans) => spans,
        };
        let recorded = self
            .recorder
            .as_ref()
            .map(|recorder| recorder.lock().append(&batch));
        if let Some(Err(err)) = recorded {
            tracing::error!(error = %err, "recording a batch failed: recording stops");
            self.recorder = None;
        }
        if let Some(analysis) = &self.analysis {
            analysis.observe(&batch);
        }
        // With an exporter on, the batch is moved (not copied) into one the store reads and the exporters
        // keep.
        if self.exports.wants() {
            let shared: crate::export::queue::Batch = batch.into();
            self.exports.offer_shared(&shared);
            self.store.insert_slice(&shared)
        } else {
            self.store.insert(batch)
        }
    }

    /// Also feeds every batch to `analysis` before storing it, and lets it read settled traces back.
    pub fn analyse(mut self, analysis: Analysis) -> IngestWriter {
        self.analysis = Some(analysis);
        self
    }

    /// Also offers every batch to the exporters switched on (their queues never make the writer wait).
    pub fn export(mut self, exports: Exports) -> IngestWriter {
        self.exports = exports;
        self
    }

    /// Drains the queue until every [`Ingest`] handle is dropped: each batch goes into the analyses, the
    /// store and, when recording, the file (flushed per batch). Returns the recorder's outcome.
    pub async fn run(self) -> std::io::Result<()> {
        self.run_until(std::future::pending()).await
    }

    /// As [`IngestWriter::run`], but also stops when `shutdown` completes, even while in-process senders
    /// still hold [`Ingest`] handles: the queue is closed (their later batches are refused and counted),
    /// what it holds is stored, the analyses are brought up to date and the recording is closed.
    pub async fn run_until(
        mut self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> std::io::Result<()> {
        let mut evicted_since_prune = 0;
        let mut tick = tokio::time::interval(SETTLE_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut shutdown = std::pin::pin!(shutdown);
        let mut closing = false;
        loop {
            let batch = tokio::select! {
                batch = self.queue.recv() => match batch {
                    Some(batch) => batch,
                    None => break,
                },
                _ = tick.tick() => {
                    if let Some(analysis) = &self.analysis {
                        analysis.settle(&self.store);
                    }
                    continue;
                }
                () = &mut shutdown, if !closing => {
                    closing = true;
                    self.queue.close();
                    continue;
                }
            };
            let inserted = self.take(batch);
            if inserted.evicted > 0
                && let (Some(analysis), Some(oldest)) =
                    (&self.analysis, self.store.oldest_start_ns())
            {
                analysis.expire(oldest);
            }
            // Under a heavy load more traces wait to settle than the tick would let through: settle now.
            if let Some(analysis) = &self.analysis {
                analysis.settle_if_crowded(&self.store);
            }
            // Evicted spans may have held the last use of some attribute pairs and strings: let the store and
            // the interner forget them now and then, so they stay as bounded as the store.
            evicted_since_prune += inserted.evicted;
            if evicted_since_prune >= PRUNE_AFTER_EVICTED {
                evicted_since_prune = 0;
                self.store.prune_pairs();
                self.interner.prune();
            }
        }
        if let Some(analysis) = &self.analysis {
            analysis.flush(&self.store);
        }
        if let Some(recorder) = self.recorder {
            recorder.lock().sync()?;
        }
        Ok(())
    }
}
