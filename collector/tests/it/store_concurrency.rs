//! Readers reading while ingest goes on.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use collector::store::Store;

use crate::spans::{resource, span};

#[test]
fn readers_never_see_broken_accounting_or_partial_traces_during_ingest() {
    const CAPACITY: usize = 1_000;
    const BATCHES: u64 = 2_000;
    let store = Store::new(CAPACITY);
    let done = Arc::new(AtomicBool::new(false));

    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (store, done) = (store.clone(), done.clone());
            thread::spawn(move || {
                let mut reads = 0u64;
                let mut last_accepted = 0;
                loop {
                    // Read `done` first, so one more full round runs after the writer's last batch.
                    let finished = done.load(Ordering::Acquire);
                    let accounting = store.accounting();
                    assert_eq!(accounting.accepted, accounting.stored + accounting.evicted);
                    assert!(accounting.stored <= CAPACITY as u64);
                    assert!(accounting.accepted >= last_accepted, "counters only grow");
                    last_accepted = accounting.accepted;
                    assert!(store.len() <= CAPACITY);

                    let snapshot = store.snapshot();
                    let mut total = 0;
                    for trace in &snapshot {
                        assert_eq!(trace.spans().count(), trace.len());
                        assert!(trace.spans().all(|s| s.trace_id == trace.id()));
                        total += trace.len();
                    }
                    assert!(total <= CAPACITY);
                    assert!(snapshot.windows(2).all(|w| w[0].seq() < w[1].seq()));
                    for id in store.trace_ids_for_service("storefront", 5) {
                        // It may have been evicted since; if not, it is whole.
                        if let Some(trace) = store.trace(&id) {
                            assert_eq!(trace.spans().count(), trace.len());
                        }
                    }
                    let _ = store.latest(20);
                    reads += 1;
                    if finished {
                        return reads;
                    }
                }
            })
        })
        .collect();

    let writer = {
        let store = store.clone();
        thread::spawn(move || {
            let (shop, ads) = (resource("storefront"), resource("ads"));
            for batch in 0..BATCHES {
                // Each batch adds to the last few traces and starts a new one, so traces span batches.
                let spans = (0..8u64)
                    .map(|i| {
                        let trace = (batch + i % 4) as u128;
                        let resource = if i % 2 == 0 { &shop } else { &ads };
                        span(trace, batch * 8 + i, resource, batch * 1_000 + i)
                    })
                    .collect();
                store.insert(spans);
            }
        })
    };
    writer.join().unwrap();
    done.store(true, Ordering::Release);
    for reader in readers {
        assert!(reader.join().unwrap() > 0);
    }

    let accounting = store.accounting();
    assert_eq!(accounting.accepted, BATCHES * 8);
    assert_eq!(accounting.accepted, accounting.stored + accounting.evicted);
    assert!(accounting.evicted > 0);
}

#[test]
fn ingest_goes_on_while_readers_hold_snapshots() {
    let store = Store::new(10);
    let shop = resource("storefront");
    store.insert((0..10).map(|t| span(t, t as u64, &shop, 0)).collect());
    // Held snapshots are plain shared data: no lock is held, so this thread can go on inserting (and the
    // store evicting) while it keeps them.
    let held = store.snapshot();
    let one = store.trace(&collector::TraceId::from_u128(0)).unwrap();
    store.insert((10..30).map(|t| span(t, t as u64, &shop, 0)).collect());
    assert_eq!(held.len(), 10);
    assert_eq!(one.len(), 1);
    assert!(store.trace(&collector::TraceId::from_u128(0)).is_none());
    assert_eq!(store.len(), 10);
}
