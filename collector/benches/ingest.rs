//! The ingest hot path, stage by stage, on shop-like batches of 512 spans with 10 attributes each:
//! prost decoding and conversion into the model, the direct wire decoder that replaces both, and insertion
//! into a store that is full and evicting.

use std::hint::black_box;

use collector::model::Interner;
use collector::store::Store;
use collector::{otlp, synth};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use prost::Message as _;

const SPANS: usize = 512;

fn ingest(c: &mut Criterion) {
    let batch = synth::shop_batch(SPANS, 1);
    let bytes = batch.encode_to_vec();
    let interner = Interner::new();
    let mut group = c.benchmark_group("otlp_512_spans");
    group.throughput(Throughput::Elements(SPANS as u64));

    group.bench_function("decode_protobuf", |b| {
        b.iter(|| otlp::decode_protobuf(black_box(&bytes)).unwrap())
    });
    group.bench_function("convert_to_model", |b| {
        b.iter(|| otlp::from_request(black_box(&batch), &interner))
    });
    group.bench_function("wire_decode_to_model", |b| {
        b.iter(|| collector::wire::decode(black_box(&bytes), &interner).unwrap())
    });
    group.bench_function("decode_and_convert", |b| {
        b.iter(|| {
            otlp::from_request(
                &otlp::decode_protobuf(black_box(&bytes)).unwrap(),
                &interner,
            )
        })
    });

    // A store at its capacity, so every insert also evicts: the steady state of a long-running lab.
    let store = Store::new(100_000);
    let mut seed = 1_000;
    while store.len() < 100_000 {
        seed += 1;
        store.insert(otlp::from_request(&synth::shop_batch(SPANS, seed), &interner).spans);
    }
    group.bench_function("store_insert_evicting", |b| {
        b.iter_batched(
            || {
                seed += 1;
                otlp::from_request(&synth::shop_batch(SPANS, seed), &interner).spans
            },
            |spans| store.insert(spans),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, ingest);
criterion_main!(benches);
