//! The ingest hot path, stage by stage, on shop-like batches of 512 spans with 10 attributes each:
//! prost decoding and conversion into the model, the direct wire decoder that replaces both, insertion
//! into a store that is full and evicting, and the analyses' per-batch pass; then the searches the query API
//! runs on a full store.

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
    // The analyses' pass over each batch before it is stored (stats, map edges, deployments, flags).
    let analysis = collector::analysis::Analysis::default();
    let spans = otlp::from_request(&batch, &interner).spans;
    group.bench_function("analysis_observe", |b| {
        b.iter(|| analysis.observe(black_box(&spans)))
    });
    group.finish();

    let mut queries = c.benchmark_group("query_100k_spans");
    queries.bench_function("services", |b| {
        b.iter(|| {
            analysis.services(
                collector::analysis::Window::All,
                collector::analysis::Sort::Latency,
            )
        })
    });
    queries.bench_function("map", |b| {
        b.iter(|| analysis.map(collector::analysis::Window::All))
    });
    queries.bench_function("search_service_errors", |b| {
        let query = collector::store::TraceQuery {
            service: Some("store-frontend".to_owned()),
            error: Some(true),
            limit: 20,
            ..Default::default()
        };
        b.iter(|| store.search(black_box(&query)))
    });
    queries.bench_function("search_longest", |b| {
        let query = collector::store::TraceQuery {
            limit: 20,
            by_duration: true,
            ..Default::default()
        };
        b.iter(|| store.search(black_box(&query)))
    });
    queries.finish();
}

criterion_group!(benches, ingest);
criterion_main!(benches);
