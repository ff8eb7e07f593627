//! The log records' ingest path, stage by stage, on batches of 512 records as a service writes them (a line of
//! text, four attributes, the trace and span it was written in): prost decoding, conversion into the model, and
//! insertion into a log store that is full and evicting; then what a stored record costs in memory, allocator
//! included (resident memory before and after filling a store, printed before the timings).

use std::hint::black_box;

use collector::logs::{self, LogStore};
use collector::model::Interner;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use prost::Message as _;

const RECORDS: usize = 512;

fn batch(seed: u64) -> ExportLogsServiceRequest {
    collector::synth::log_batch(RECORDS, seed)
}

/// Resident memory of this process, in bytes (Linux).
fn resident() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn memory_per_record() {
    let interner = Interner::new();
    let batches: Vec<Vec<u8>> = (0..400).map(|seed| batch(seed).encode_to_vec()).collect();
    let store = LogStore::bounded(1_000_000, u64::MAX);
    let before = resident();
    for bytes in &batches {
        let request = ExportLogsServiceRequest::decode(bytes.as_slice()).unwrap();
        store.insert(logs::from_request(&request, &interner, 0).records);
    }
    let stored = store.stats().stored;
    let after = resident();
    println!(
        "logs memory: {stored} records stored, {:.0} bytes of resident memory each (allocator included)",
        after.saturating_sub(before) as f64 / stored.max(1) as f64
    );
}

fn ingest(c: &mut Criterion) {
    memory_per_record();
    let request = batch(1);
    let records = request
        .resource_logs
        .iter()
        .map(|r| r.scope_logs[0].log_records.len())
        .sum::<usize>() as u64;
    let bytes = request.encode_to_vec();
    let interner = Interner::new();
    let mut group = c.benchmark_group("otlp_logs_512");
    group.throughput(Throughput::Elements(records));
    group.bench_function("decode_protobuf", |b| {
        b.iter(|| ExportLogsServiceRequest::decode(black_box(bytes.as_slice())).unwrap())
    });
    group.bench_function("convert_to_model", |b| {
        b.iter(|| logs::from_request(black_box(&request), &interner, 0))
    });
    // A store at its capacity, so every insert also evicts.
    let store = LogStore::bounded(100_000, u64::MAX);
    let mut seed = 1_000;
    while store.stats().stored < 100_000 {
        seed += 1;
        store.insert(logs::from_request(&batch(seed), &interner, 0).records);
    }
    group.bench_function("store_insert_evicting", |b| {
        b.iter_batched(
            || {
                seed += 1;
                logs::from_request(&batch(seed), &interner, 0).records
            },
            |records| store.insert(records),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("decode_convert_insert", |b| {
        b.iter(|| {
            let request = ExportLogsServiceRequest::decode(black_box(bytes.as_slice())).unwrap();
            store.insert(logs::from_request(&request, &interner, 0).records)
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = ingest
}
criterion_main!(benches);
