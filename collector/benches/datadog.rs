//! The Datadog decoder on payloads shaped like ddtrace's (a request, two SQL queries and a failing call a
//! trace, with ddtrace's meta and metrics), 512 spans a payload, in v0.4 msgpack, v0.4 JSON and v0.5. Before
//! measuring, it checks that each payload decodes whole and says what the memory budget charged. (The decoder
//! it replaced was measured against it in the same run once, and checked to give equal spans: BENCHMARKS.md.)

use std::collections::BTreeMap;
use std::hint::black_box;

use collector::datadog;
use collector::model::Interner;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};

const TRACES: u64 = 128;

/// One trace of four spans, as ddtrace 4.16 sends them for `tests/python/ddtrace_client.py`.
fn trace(n: u64) -> Vec<Value> {
    let trace_id = 0x5eed_0000_0000_0000 + n;
    let root = n * 16 + 1;
    let start = 1_765_000_000_000_000_000 + n as i64 * 1_000_000;
    let common = |service: &str| {
        json!({
            "_dd.svc_src": service, "env": "lab", "version": "3.0", "language": "python",
            "runtime-id": "0a78be64e6454a08b66aaa0dff0dc8f2",
        })
    };
    let mut web_meta = common("dd-shop");
    web_meta.as_object_mut().unwrap().extend(
        json!({
            "http.method": "GET", "http.status_code": "500", "http.route": "/cart",
            "http.url": format!("http://127.0.0.1:5000/cart?n={n}"), "component": "flask",
            "span.kind": "server", "_dd.p.dm": "-0", "_dd.p.tid": "6b0a581300000000",
            "_dd.tags.process": "entrypoint.basedir:python,entrypoint.name:ddtrace_client,\
                entrypoint.type:script,entrypoint.workdir:tmp,svc.user:true",
        })
        .as_object()
        .unwrap()
        .clone(),
    );
    let sql = |id: u64, query: &str, offset: i64| {
        json!({
            "service": "sqlite", "name": "sqlite.query", "resource": query, "type": "sql",
            "trace_id": trace_id, "span_id": id, "parent_id": root,
            "start": start + offset, "duration": 120_000, "error": 0,
            "meta": {"_dd.base_service": "dd-shop", "db.system": "sqlite", "_dd.svc_src": "sqlite",
                     "component": "sqlite", "env": "lab", "span.kind": "client"},
            "metrics": {"db.row_count": 1.0, "_dd.measured": 1.0, "_dd.top_level": 1.0},
        })
    };
    vec![
        json!({
            "service": "dd-shop", "name": "flask.request", "resource": "GET /cart", "type": "web",
            "trace_id": trace_id, "span_id": root, "parent_id": 0, "start": start,
            "duration": 2_500_000, "error": 1, "meta": web_meta,
            "metrics": {"process_id": 4242.0, "_sampling_priority_v1": 1.0, "_dd.tracer_kr": 1.0,
                        "_dd.top_level": 1.0},
        }),
        sql(root + 1, "SELECT id, name FROM item WHERE id = ?", 100_000),
        sql(
            root + 2,
            "SELECT price FROM price WHERE item_id = ?",
            300_000,
        ),
        json!({
            "service": "dd-shop", "name": "cart.load", "resource": "load_cart",
            "trace_id": trace_id, "span_id": root + 3, "parent_id": root, "start": start + 500_000,
            "duration": 900_000, "error": 1,
            "meta": {"error.message": "'cart 42'", "error.type": "builtins.KeyError",
                     "error.stack": "Traceback (most recent call last):\n  File \"/work/main/tests/python/\
                        ddtrace_client.py\", line 21, in <module>\n    raise KeyError(\"cart 42\")\n\
                        KeyError: 'cart 42'",
                     "env": "lab", "version": "3.0", "_dd.svc_src": "dd-shop"},
            "metrics": {},
        }),
    ]
}

fn traces() -> Vec<Vec<Value>> {
    (0..TRACES).map(trace).collect()
}

/// The same traces in v0.5's form: a string table and spans of twelve fields.
fn v05(traces: &[Vec<Value>]) -> Vec<u8> {
    let mut table: Vec<String> = vec![String::new()];
    let mut index = BTreeMap::<String, u32>::new();
    let mut string = |s: &str| -> u32 {
        if s.is_empty() {
            return 0;
        }
        *index.entry(s.to_owned()).or_insert_with(|| {
            table.push(s.to_owned());
            (table.len() - 1) as u32
        })
    };
    type Span05 = collector::synth::SpanV05;
    let traces: Vec<Vec<Span05>> = traces
        .iter()
        .map(|trace| {
            trace
                .iter()
                .map(|s| {
                    let text = |k: &str| s[k].as_str().unwrap_or("");
                    let meta = s["meta"].as_object().unwrap();
                    let metrics = s["metrics"].as_object().unwrap();
                    (
                        string(text("service")),
                        string(text("name")),
                        string(text("resource")),
                        s["trace_id"].as_u64().unwrap(),
                        s["span_id"].as_u64().unwrap(),
                        s["parent_id"].as_u64().unwrap(),
                        s["start"].as_i64().unwrap(),
                        s["duration"].as_i64().unwrap(),
                        s["error"].as_i64().unwrap() as i32,
                        meta.iter()
                            .map(|(k, v)| (string(k), string(v.as_str().unwrap())))
                            .collect(),
                        metrics
                            .iter()
                            .map(|(k, v)| (string(k), v.as_f64().unwrap()))
                            .collect(),
                        string(text("type")),
                    )
                })
                .collect()
        })
        .collect();
    rmp_serde::to_vec(&(table, traces)).unwrap()
}

fn decode(c: &mut Criterion) {
    let traces = traces();
    let msgpack = rmp_serde::to_vec(&traces).unwrap();
    let json = serde_json::to_vec(&traces).unwrap();
    let v05 = v05(&traces);
    let interner = Interner::new();
    let spans = (TRACES * 4) as usize;
    type Decode = fn(&[u8], &Interner) -> Result<datadog::Converted, datadog::DecodeError>;
    let decoders: [(&Vec<u8>, Decode); 3] = [
        (&msgpack, datadog::decode_v04_msgpack),
        (&json, datadog::decode_v04_json),
        (&v05, datadog::decode_v05),
    ];
    for (body, decode) in decoders {
        let decoded = decode(body, &interner).unwrap();
        assert_eq!((decoded.spans.len(), decoded.rejected), (spans, 0));
        eprintln!(
            "{} bytes: {} charged, {:.2} times the body",
            body.len(),
            decoded.charged,
            decoded.charged as f64 / body.len() as f64
        );
    }

    let mut group = c.benchmark_group("datadog_512_spans");
    group.throughput(Throughput::Elements(spans as u64));
    group.bench_function("v04_msgpack", |b| {
        b.iter(|| datadog::decode_v04_msgpack(black_box(&msgpack), &interner).unwrap())
    });
    group.bench_function("v04_json", |b| {
        b.iter(|| datadog::decode_v04_json(black_box(&json), &interner).unwrap())
    });
    group.bench_function("v05", |b| {
        b.iter(|| datadog::decode_v05(black_box(&v05), &interner).unwrap())
    });
    group.finish();
    eprintln!(
        "payload bytes: v0.4 msgpack {}, v0.4 JSON {}, v0.5 {}",
        msgpack.len(),
        json.len(),
        v05.len()
    );
}

criterion_group!(benches, decode);
criterion_main!(benches);
