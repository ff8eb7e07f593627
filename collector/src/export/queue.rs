//! An exporter's bounded queue: batches of accepted spans, shared between exporters (one copy a batch
//! however many exporters take it), or the browser's batches the RUM forward passes on, dropping the oldest
//! whole items when it holds more spans (or browser batches), or more bytes (about), than its caps.

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::model::{KeyValue, Span, Value};

/// A batch as the ingest writer offers it: shared, never copied again.
pub type Batch = Arc<[Span]>;

/// What an exporter sends on: spans, or one batch of browser events as the browser sent it.
#[derive(Clone, Debug)]
pub enum Item {
    Spans(Batch),
    Browser(Arc<super::rum::Forward>),
}

impl Item {
    /// What the exporter's counts count of it: its spans, or one browser batch.
    pub fn count(&self) -> usize {
        match self {
            Item::Spans(batch) => batch.len(),
            Item::Browser(_) => 1,
        }
    }

    /// The spans, when it holds spans.
    pub fn spans(&self) -> &[Span] {
        match self {
            Item::Spans(batch) => batch,
            Item::Browser(_) => &[],
        }
    }
}

/// Items waiting for an exporter, at most `capacity` counted ([`Item::count`]) and about `max_bytes` bytes (a
/// single larger item is still taken whole).
#[derive(Debug)]
pub struct ExportQueue {
    capacity: usize,
    max_bytes: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Each item with what it weighs.
    batches: VecDeque<(Item, usize)>,
    /// What the items count, together.
    spans: usize,
    bytes: usize,
}

/// About the memory a batch's spans hold: their structs, attributes, events and links, and their texts (a
/// text shared between spans counts for each: an estimate that errs on the safe side).
pub fn weight(spans: &[Span]) -> usize {
    fn attributes(list: &[KeyValue]) -> usize {
        list.iter()
            .map(|kv| size_of::<KeyValue>() + kv.key.len() + value_bytes(&kv.value))
            .sum()
    }
    fn value_bytes(value: &Value) -> usize {
        match value {
            Value::Str(text) => text.len(),
            Value::Bytes(bytes) => bytes.len(),
            Value::Array(items) => items
                .iter()
                .map(|v| size_of::<Value>() + value_bytes(v))
                .sum(),
            Value::Map(list) => attributes(list),
            Value::Bool(_) | Value::Int(_) | Value::Double(_) => 0,
        }
    }
    spans
        .iter()
        .map(|span| {
            size_of::<Span>()
                + span.name.len()
                + attributes(&span.attributes)
                + (span.events.iter())
                    .map(|e| size_of_val(e) + e.name.len() + attributes(&e.attributes))
                    .sum::<usize>()
                + (span.links.iter())
                    .map(|l| size_of_val(l) + attributes(&l.attributes))
                    .sum::<usize>()
        })
        .sum()
}

impl ExportQueue {
    pub fn new(capacity: usize, max_bytes: usize) -> ExportQueue {
        ExportQueue {
            capacity: capacity.max(1),
            max_bytes: max_bytes.max(1),
            inner: Mutex::default(),
        }
    }

    /// Queues `batch`, which weighs `bytes` ([`weight`]), dropping the oldest items while the queue holds more
    /// than its caps. Returns what the dropped items counted. Never waits for anything but the queue's own lock.
    pub fn push(&self, batch: Item, bytes: usize) -> usize {
        let mut inner = self.inner.lock();
        inner.spans += batch.count();
        inner.bytes += bytes;
        inner.batches.push_back((batch, bytes));
        let mut dropped = 0;
        while (inner.spans > self.capacity || inner.bytes > self.max_bytes)
            && inner.batches.len() > 1
        {
            let (oldest, bytes) = inner.batches.pop_front().expect("more than one batch");
            inner.spans -= oldest.count();
            inner.bytes -= bytes;
            dropped += oldest.count();
        }
        dropped
    }

    /// Takes whole items from the front while they count at most `max_spans` and hold at most `max_bytes`
    /// bytes together (one item at least, however large).
    pub fn take(&self, max_spans: usize, max_bytes: usize) -> (Vec<Item>, usize) {
        let mut inner = self.inner.lock();
        let mut taken = Vec::new();
        let (mut spans, mut weight) = (0, 0);
        while let Some((front, bytes)) = inner.batches.front() {
            let (more_spans, more_bytes) = (front.count(), *bytes);
            if !taken.is_empty()
                && (spans + more_spans > max_spans || weight + more_bytes > max_bytes)
            {
                break;
            }
            let (batch, _) = inner.batches.pop_front().expect("a front batch");
            inner.spans -= more_spans;
            inner.bytes -= more_bytes;
            spans += more_spans;
            weight += more_bytes;
            taken.push(batch);
        }
        (taken, spans)
    }

    /// Empties the queue: what its items counted.
    pub fn clear(&self) -> usize {
        let mut inner = self.inner.lock();
        inner.batches.clear();
        inner.bytes = 0;
        std::mem::take(&mut inner.spans)
    }

    /// What the waiting items count.
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
    use crate::testing::{Build as _, span};

    fn push(queue: &ExportQueue, batch: Batch) -> usize {
        let bytes = weight(&batch);
        queue.push(Item::Spans(batch), bytes)
    }

    fn batch(spans: usize) -> Batch {
        (0..spans)
            .map(|i| span(1, i as u64 + 1))
            .collect::<Vec<_>>()
            .into()
    }

    #[test]
    fn a_full_queue_drops_its_oldest_batches_and_counts_their_spans() {
        let queue = ExportQueue::new(10, usize::MAX);
        assert_eq!(push(&queue, batch(4)), 0);
        assert_eq!(push(&queue, batch(4)), 0);
        let newest = batch(3);
        assert_eq!(
            push(&queue, newest.clone()),
            4,
            "the oldest batch of 4 goes"
        );
        assert_eq!(queue.len(), 7);
        let (taken, spans) = queue.take(100, usize::MAX);
        assert_eq!(spans, 7);
        let Some(Item::Spans(last)) = taken.last() else {
            panic!("spans taken")
        };
        assert!(Arc::ptr_eq(last, &newest), "newest kept last");
        assert!(queue.is_empty());
    }

    #[test]
    fn a_batch_larger_than_the_queue_is_kept_whole() {
        let queue = ExportQueue::new(5, usize::MAX);
        push(&queue, batch(2));
        assert_eq!(push(&queue, batch(8)), 2);
        assert_eq!(queue.len(), 8);
    }

    #[test]
    fn a_queue_past_its_bytes_drops_its_oldest_too() {
        let big: Batch = vec![span(1, 1).text("db.query.text", &"x".repeat(10_000))].into();
        let small = batch(1);
        assert!(weight(&big) > 10_000 && weight(&small) < 1_000);
        let queue = ExportQueue::new(1_000, 12_000);
        assert_eq!(push(&queue, small.clone()), 0);
        assert_eq!(push(&queue, big.clone()), 0, "under both caps");
        assert_eq!(
            push(&queue, big),
            2,
            "past the bytes: the oldest two batches go"
        );
        assert_eq!(queue.len(), 1);
    }

    #[test]
    fn take_stops_before_a_request_would_be_too_large() {
        let queue = ExportQueue::new(100, usize::MAX);
        for _ in 0..5 {
            push(&queue, batch(3));
        }
        let (taken, spans) = queue.take(7, usize::MAX);
        assert_eq!((taken.len(), spans), (2, 6), "a third batch would pass 7");
        let (taken, spans) = queue.take(1, usize::MAX);
        assert_eq!((taken.len(), spans), (1, 3), "one batch at least");
        let one = weight(&batch(3));
        assert_eq!(queue.take(100, one + 1).1, 3, "the bytes bind too");
        assert_eq!(queue.clear(), 3);
        assert_eq!(queue.take(7, usize::MAX).1, 0);
    }
}
