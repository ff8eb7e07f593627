//! An exporter's bounded queue: batches of accepted spans, shared between exporters (one copy a batch
//! however many exporters take it), dropping the oldest whole batches when it holds more than its cap.

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::model::Span;

/// A batch as the ingest writer offers it: shared, never copied again.
pub type Batch = Arc<[Span]>;

/// Batches waiting for an exporter, at most `capacity` spans (a single larger batch is still taken whole).
#[derive(Debug)]
pub struct SpanQueue {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    batches: VecDeque<Batch>,
    spans: usize,
}

impl SpanQueue {
    pub fn new(capacity: usize) -> SpanQueue {
        SpanQueue {
            capacity: capacity.max(1),
            inner: Mutex::default(),
        }
    }

    /// Queues `batch`, dropping the oldest batches while the queue holds more than its capacity. Returns how
    /// many spans were dropped. Never waits for anything but the queue's own lock.
    pub fn push(&self, batch: Batch) -> usize {
        let mut inner = self.inner.lock();
        inner.spans += batch.len();
        inner.batches.push_back(batch);
        let mut dropped = 0;
        while inner.spans > self.capacity && inner.batches.len() > 1 {
            let oldest = inner.batches.pop_front().expect("more than one batch");
            inner.spans -= oldest.len();
            dropped += oldest.len();
        }
        dropped
    }

    /// Takes whole batches from the front until they hold at least `max_spans` spans (or the queue is empty).
    pub fn take(&self, max_spans: usize) -> (Vec<Batch>, usize) {
        let mut inner = self.inner.lock();
        let mut taken = Vec::new();
        let mut spans = 0;
        while spans < max_spans {
            let Some(batch) = inner.batches.pop_front() else {
                break;
            };
            inner.spans -= batch.len();
            spans += batch.len();
            taken.push(batch);
        }
        (taken, spans)
    }

    /// Empties the queue: how many spans it held.
    pub fn clear(&self) -> usize {
        let mut inner = self.inner.lock();
        inner.batches.clear();
        std::mem::take(&mut inner.spans)
    }

    /// Spans waiting.
    pub fn len(&self) -> usize {
        self.inner.lock().spans
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::span;

    fn batch(spans: usize) -> Batch {
        (0..spans)
            .map(|i| span(1, i as u64 + 1))
            .collect::<Vec<_>>()
            .into()
    }

    #[test]
    fn a_full_queue_drops_its_oldest_batches_and_counts_their_spans() {
        let queue = SpanQueue::new(10);
        assert_eq!(queue.push(batch(4)), 0);
        assert_eq!(queue.push(batch(4)), 0);
        let newest = batch(3);
        assert_eq!(queue.push(newest.clone()), 4, "the oldest batch of 4 goes");
        assert_eq!(queue.len(), 7);
        let (taken, spans) = queue.take(100);
        assert_eq!(spans, 7);
        assert!(
            Arc::ptr_eq(taken.last().unwrap(), &newest),
            "newest kept last"
        );
        assert!(queue.is_empty());
    }

    #[test]
    fn a_batch_larger_than_the_queue_is_kept_whole() {
        let queue = SpanQueue::new(5);
        queue.push(batch(2));
        assert_eq!(queue.push(batch(8)), 2);
        assert_eq!(queue.len(), 8);
    }

    #[test]
    fn take_stops_once_it_has_enough() {
        let queue = SpanQueue::new(100);
        for _ in 0..5 {
            queue.push(batch(3));
        }
        let (taken, spans) = queue.take(7);
        assert_eq!((taken.len(), spans), (3, 9));
        assert_eq!(queue.clear(), 6);
        assert_eq!(queue.take(7).1, 0);
    }
}
