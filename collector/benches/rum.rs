//! The browser intake's hot path on one core: a batch of 900 events as the SDK sends them, decoded line by
//! line and kept in a store at its capacity (every batch evicts as many), plain and deflated.

use std::hint::black_box;
use std::io::Write as _;

use collector::rum::RumStore;
use collector::synth;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const EVENTS: usize = 900;

fn rum(c: &mut Criterion) {
    let batches: Vec<Vec<u8>> = (0..64).map(|seed| synth::rum_batch(EVENTS, seed)).collect();
    let store = RumStore::new(100_000, u64::MAX);
    for seed in 100..250 {
        store.take(&synth::rum_batch(EVENTS, seed));
    }
    let mut group = c.benchmark_group("rum_900_events");
    group.throughput(Throughput::Elements(EVENTS as u64));
    let mut i = 0;
    group.bench_function("take_evicting", |b| {
        b.iter(|| {
            i += 1;
            store.take(black_box(&batches[i % batches.len()]))
        })
    });
    let deflated: Vec<u8> = {
        let mut encoder =
            flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(&batches[0]).unwrap();
        encoder.finish().unwrap()
    };
    group.bench_function("inflate", |b| {
        b.iter(|| {
            let mut out = Vec::new();
            std::io::Read::read_to_end(
                &mut flate2::read::ZlibDecoder::new(black_box(&deflated[..])),
                &mut out,
            )
            .unwrap();
            out
        })
    });
    group.finish();
}

criterion_group!(benches, rum);
criterion_main!(benches);
