//! The ingest hot path, stage by stage, on shop-like batches of 512 spans with 10 attributes each:
//! prost decoding and conversion into the model, the direct wire decoder that replaces both, then each
//! receiver path's stages (below); then the searches the query API runs on a full store.
//!
//! `otlp_512_spans/decode_protobuf` is the reference the end-to-end rates are held against: prost decoding the
//! batch into its own types and nothing else; `otlp_512_spans/borrowing_walk` the practical limit, a walk over
//! the same bytes that interns every string and builds nothing (`wire::walk`). Each receiver path has a group of its stages, the same spans in
//! its own encoding: `otlp_512_spans` (OTLP/HTTP and gRPC share the decoder; gRPC adds only its framing),
//! `datadog_v04_512_spans` and `datadog_v05_512_spans`; each ends with `whole`, every stage one after the other
//! as the receiver and the ingest writer do them on one core (all but the transport). `otlp_staged_512_spans`
//! is the OTLP path the receivers take: decoded straight into the store's form ([`collector::staged`]);
//! `datadog_v04_staged_512_spans` and `datadog_v05_staged_512_spans` the Datadog receiver's msgpack paths.

use std::hint::black_box;

use collector::analysis::Analysis;
use collector::limits::SpanLimits;
use collector::model::{Interner, Span};
use collector::store::Store;
use collector::{datadog, otlp, synth};
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
    // The practical limit: every field read and every string interned, nothing built.
    group.bench_function("borrowing_walk", |b| {
        b.iter(|| collector::wire::walk::walk(black_box(&bytes)).unwrap())
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

    // A full store and the analyses fed as the writer feeds them, for the queries below (the insert and the
    // analyses' pass are timed in each receiver path's group).
    let store = Store::new(100_000);
    let analysis = collector::analysis::Analysis::default();
    let mut seed = 1_000;
    while store.len() < 100_000 {
        seed += 1;
        let spans = otlp::from_request(&synth::shop_batch(SPANS, seed), &interner).spans;
        analysis.observe(&spans);
        store.insert(spans);
    }
    group.finish();

    // Every receiver path's stages, each against its own full store and analyses.
    receiver_path(
        c,
        "otlp_512_spans",
        |seed| synth::shop_batch(SPANS, seed).encode_to_vec(),
        |bytes, interner| collector::wire::decode(bytes, interner).unwrap().spans,
    );
    receiver_path(
        c,
        "datadog_v04_512_spans",
        |seed| synth::datadog_v04(SPANS, seed),
        |bytes, interner| datadog::decode_v04_msgpack(bytes, interner).unwrap().spans,
    );
    receiver_path(
        c,
        "datadog_v05_512_spans",
        |seed| synth::datadog_v05(SPANS, seed),
        |bytes, interner| datadog::decode_v05(bytes, interner).unwrap().spans,
    );

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

/// One receiver path's stages, on 512-span payloads made by `encode` (numbered by seed) and read by `decode`:
/// decoding, the span limits the ingest queue applies, the analyses' per-batch pass, insertion into a full
/// store (every insert evicting), and `whole`, all of them in turn.
fn receiver_path(
    c: &mut Criterion,
    name: &str,
    encode: fn(u64) -> Vec<u8>,
    decode: fn(&[u8], &Interner) -> Vec<Span>,
) {
    let interner = Interner::new();
    let store = Store::new(100_000);
    let analysis = Analysis::default();
    // More distinct payloads than the store holds, so an id comes back only after its trace was evicted.
    let payloads: Vec<Vec<u8>> = (0..256).map(|i| encode(10_000 + i)).collect();
    let mut next = 0;
    let mut decoded = || {
        next += 1;
        decode(&payloads[next % payloads.len()], &interner)
    };
    while store.len() < 100_000 {
        let spans = decoded();
        analysis.observe(&spans);
        store.insert(spans);
    }
    let one = encode(1);
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(SPANS as u64));
    group.bench_function("decode", |b| b.iter(|| decode(black_box(&one), &interner)));
    group.bench_function("limits", |b| {
        b.iter_batched_ref(
            || decode(&one, &interner),
            |spans| SpanLimits::default().apply_all(spans),
            BatchSize::SmallInput,
        )
    });
    let spans = decode(&one, &interner);
    group.bench_function("observe", |b| {
        b.iter(|| analysis.observe(black_box(&spans)))
    });
    group.bench_function("store_insert_evicting", |b| {
        b.iter_batched(
            &mut decoded,
            |spans| store.insert(spans),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("whole", |b| {
        b.iter(|| {
            let mut spans = decoded();
            SpanLimits::default().apply_all(&mut spans);
            analysis.observe(&spans);
            store.insert(spans)
        })
    });
    group.finish();
}

/// A payload of 512 spans, numbered by seed.
type Encode = fn(u64) -> Vec<u8>;
/// A payload decoded for the store.
type StagedDecode = fn(&[u8], &Interner) -> collector::ingest::Batch;

/// The paths the receivers take: decoded straight into the store's form, the analyses reading it in place, the
/// store encoding it from its table indexes (no span limits stage: the decoder checks them).
fn staged_paths(c: &mut Criterion) {
    let paths: [(&str, Encode, StagedDecode); 3] = [
        (
            "otlp_staged_512_spans",
            |seed| synth::shop_batch(SPANS, seed).encode_to_vec(),
            |bytes, i| collector::wire::decode_for_store(bytes, i).unwrap().batch,
        ),
        (
            "datadog_v04_staged_512_spans",
            |seed| synth::datadog_v04(SPANS, seed),
            |bytes, i| batch(datadog::decode_v04_for_store(bytes, i)),
        ),
        (
            "datadog_v05_staged_512_spans",
            |seed| synth::datadog_v05(SPANS, seed),
            |bytes, i| batch(datadog::decode_v05_for_store(bytes, i)),
        ),
    ];
    for (name, encode, decode) in paths {
        staged_path(c, name, encode, decode);
    }
}

fn batch(decoded: Result<datadog::ForStore, datadog::DecodeError>) -> collector::ingest::Batch {
    decoded.unwrap().decoded.batch
}

/// One staged path's stages, on 512-span payloads made by `encode` (numbered by seed) and read by `decode`, as
/// [`receiver_path`] has them.
fn staged_path(c: &mut Criterion, name: &str, encode: Encode, decode: StagedDecode) {
    use collector::ingest::Batch;
    use collector::staged::Staged;
    let interner = Interner::new();
    let store = Store::new(100_000);
    let analysis = Analysis::default();
    let payloads: Vec<Vec<u8>> = (0..256).map(|i| encode(10_000 + i)).collect();
    let decode = |bytes: &[u8]| -> Staged {
        match decode(bytes, &interner) {
            Batch::Staged(staged) => *staged,
            Batch::Spans(_) => panic!("a shop batch is within the span limits"),
        }
    };
    let mut next = 0;
    let mut decoded = || {
        next += 1;
        decode(&payloads[next % payloads.len()])
    };
    while store.len() < 100_000 {
        let staged = decoded();
        analysis.observe(&staged.views());
        store.insert_staged(staged);
    }
    let one = encode(1);
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(SPANS as u64));
    group.bench_function("decode", |b| b.iter(|| decode(black_box(&one))));
    let staged = decode(&one);
    group.bench_function("observe", |b| {
        b.iter(|| analysis.observe(black_box(&staged.views())))
    });
    group.bench_function("store_insert_evicting", |b| {
        b.iter_batched(
            &mut decoded,
            |staged| store.insert_staged(staged),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("whole", |b| {
        b.iter(|| {
            let staged = decoded();
            analysis.observe(&staged.views());
            store.insert_staged(staged)
        })
    });
    group.finish();
}

criterion_group!(benches, ingest, staged_paths);
criterion_main!(benches);
