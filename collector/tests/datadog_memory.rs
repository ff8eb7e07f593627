//! The Datadog receiver's memory stays within a fixed multiple of the body, whatever the body holds: payloads
//! built to expand (empty span maps, many tiny valid spans, a span with a huge meta map, a string table of
//! empty strings) are refused with a 4xx that `/api/stats` counts, and the peak the request allocates is
//! measured by a counting allocator. A binary of its own, so the allocator measures nothing else.

use axum::body::Body;
use axum::http::Request;
use cap::Cap;
use collector::ingest::Ingest;
use collector::receivers::datadog;
use collector::store::Store;
use tower::ServiceExt as _;

/// Counts the bytes held and the most ever held; a limit stops a runaway decoder before it takes the machine.
#[global_allocator]
static ALLOCATOR: Cap<std::alloc::System> = Cap::new(std::alloc::System, usize::MAX);

const MIB: usize = 1024 * 1024;
const MAX_BODY: usize = 16 * MIB;

/// The most a request may allocate, with its body: three times the body (as sent, as read, and slack) more
/// than the decoder's budget for the version (`collector::datadog::V04_BUDGET_FACTOR` and
/// `V05_BUDGET_FACTOR`), plus a constant (its `BUDGET_BASE` and slack). Written out, so that the test also
/// runs against a decoder without a budget.
const V04_LIMIT_FACTOR: usize = 12 + 3;
const V05_LIMIT_FACTOR: usize = 24 + 3;
const LIMIT_BASE: usize = 5 * MIB;

/// msgpack array header of `len` elements (array 32).
fn array(len: usize) -> Vec<u8> {
    let mut out = vec![0xdd];
    out.extend_from_slice(&u32::try_from(len).unwrap().to_be_bytes());
    out
}

/// msgpack map header of `len` entries (map 32).
fn map(len: usize) -> Vec<u8> {
    let mut out = vec![0xdf];
    out.extend_from_slice(&u32::try_from(len).unwrap().to_be_bytes());
    out
}

/// A v0.4 body of about `size` bytes: one trace of empty span maps.
fn empty_maps(size: usize) -> Vec<u8> {
    let spans = size - 10;
    let mut body = array(1);
    body.extend(array(spans));
    body.resize(body.len() + spans, 0x80);
    body
}

/// The same in JSON: `[[{},{},…]]`.
fn empty_maps_json(size: usize) -> Vec<u8> {
    let spans = (size - 4) / 3;
    let mut body = b"[[{}".to_vec();
    body.extend(std::iter::repeat_n(b",{}", spans - 1).flatten());
    body.extend_from_slice(b"]]");
    body
}

/// A v0.4 body of about `size` bytes of the smallest valid spans: `{"trace_id": n, "span_id": n}`.
fn tiny_spans_v04(size: usize) -> Vec<u8> {
    let mut span = vec![0x82, 0xa8];
    span.extend_from_slice(b"trace_id");
    span.push(0x01);
    span.push(0xa7);
    span.extend_from_slice(b"span_id");
    span.push(0x01);
    let spans = (size - 10) / span.len();
    let mut body = array(1);
    body.extend(array(spans));
    for _ in 0..spans {
        body.extend_from_slice(&span);
    }
    body
}

/// A v0.5 body of about `size` bytes of the smallest valid spans: twelve fields, string 0 (empty) everywhere.
fn tiny_spans_v05(size: usize) -> Vec<u8> {
    let span = [0x9c, 0, 0, 0, 1, 1, 0, 1, 1, 0, 0x80, 0x80, 0];
    let spans = (size - 16) / span.len();
    let mut body = vec![0x92, 0x91, 0xa0];
    body.extend(array(1));
    body.extend(array(spans));
    for _ in 0..spans {
        body.extend_from_slice(&span);
    }
    body
}

/// A v0.5 body with one span whose meta map repeats `0: 0` to fill about `size` bytes.
fn huge_meta_v05(size: usize) -> Vec<u8> {
    let entries = (size - 32) / 2;
    let mut body = vec![
        0x92, 0x91, 0xa0, 0x91, 0x91, 0x9c, 0, 0, 0, 1, 1, 0, 1, 1, 0,
    ];
    body.extend(map(entries));
    for _ in 0..entries {
        body.extend_from_slice(&[0, 0]);
    }
    body.extend_from_slice(&[0x80, 0]);
    body
}

/// A v0.5 body whose string table is about `size` bytes of empty strings, and no trace.
fn empty_strings_v05(size: usize) -> Vec<u8> {
    let strings = size - 16;
    let mut body = vec![0x92];
    body.extend(array(strings));
    body.resize(body.len() + strings, 0xa0);
    body.push(0x90);
    body
}

/// A payload built to expand, and how the receiver must answer it.
struct Case {
    what: &'static str,
    path: &'static str,
    content_type: &'static str,
    /// The body, of at most this many bytes.
    make: fn(usize) -> Vec<u8>,
    status: u16,
    /// What the refusal is counted under.
    reason: &'static str,
}

struct Answer {
    status: u16,
    text: String,
}

async fn send(receiver: &axum::Router, path: &str, content_type: &str, body: Vec<u8>) -> Answer {
    let request = Request::put(path)
        .header("content-type", content_type)
        .body(Body::from(body))
        .unwrap();
    let response = receiver.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let text = axum::body::to_bytes(response.into_body(), MIB)
        .await
        .unwrap();
    Answer {
        status,
        text: String::from_utf8_lossy(&text).into_owned(),
    }
}

/// One test, so that nothing else runs in this process while it measures.
#[tokio::test(flavor = "current_thread")]
async fn expanding_payloads_stay_within_a_multiple_of_their_size_and_are_refused_counted() {
    let store = Store::new(1_000);
    // Room for a few accepted batches, so the queue never answers "retry later" here.
    let (ingest, writer) = Ingest::new(store.clone(), 4, None).unwrap();
    let receiver = datadog::router(ingest, MAX_BODY);

    // Real payloads still pass.
    for (path, body) in [
        (
            "/v0.4/traces",
            &include_bytes!("../testdata/ddtrace-v0.4.msgpack")[..],
        ),
        (
            "/v0.5/traces",
            &include_bytes!("../testdata/ddtrace-v0.5.msgpack")[..],
        ),
    ] {
        let answer = send(&receiver, path, "application/msgpack", body.to_vec()).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.text);
    }
    assert_eq!(store.accounting().rejected_total(), 0);
    drop((receiver, writer));

    // The allocator keeps only the most ever held, so every case is measured against the bytes held at the
    // start, and the cases run in order of their limits (v0.4's before v0.5's, 1 MiB before 16 MiB): a case
    // over its limit leaves the peak above it.
    let start = ALLOCATOR.allocated();
    let cases = [
        Case {
            what: "empty span maps",
            path: "/v0.4/traces",
            content_type: "application/msgpack",
            make: empty_maps,
            status: 400,
            reason: "invalid_span",
        },
        Case {
            what: "empty span maps in JSON",
            path: "/v0.4/traces",
            content_type: "application/json",
            make: empty_maps_json,
            status: 400,
            reason: "invalid_span",
        },
        Case {
            what: "tiny valid v0.4 spans",
            path: "/v0.4/traces",
            content_type: "application/msgpack",
            make: tiny_spans_v04,
            status: 413,
            reason: "over_budget",
        },
        Case {
            what: "tiny valid v0.5 spans",
            path: "/v0.5/traces",
            content_type: "application/msgpack",
            make: tiny_spans_v05,
            status: 413,
            reason: "over_budget",
        },
        Case {
            what: "one span with a huge meta map",
            path: "/v0.5/traces",
            content_type: "application/msgpack",
            make: huge_meta_v05,
            status: 413,
            reason: "over_budget",
        },
        Case {
            what: "a string table of empty strings",
            path: "/v0.5/traces",
            content_type: "application/msgpack",
            make: empty_strings_v05,
            status: 413,
            reason: "over_budget",
        },
    ];
    // The smallest first: on a decoder that expands, the 1 MiB cases fail long before a 16 MiB one would
    // take the machine's memory (and the allocator's limit stops any case at twice its bound plus 1 GiB).
    for size in [MIB, MAX_BODY - 64] {
        for &Case {
            what,
            path,
            content_type,
            make,
            status,
            reason,
        } in &cases
        {
            let factor = if path.starts_with("/v0.5") {
                V05_LIMIT_FACTOR
            } else {
                V04_LIMIT_FACTOR
            };
            let limit = factor * size + LIMIT_BASE;
            // A collector of its own, dropped after the case, so spans it took do not count for the next.
            let store = Store::new(1_000);
            let (ingest, writer) = Ingest::new(store.clone(), 4, None).unwrap();
            let receiver = datadog::router(ingest, MAX_BODY);
            ALLOCATOR
                .set_limit(ALLOCATOR.allocated() + 2 * limit + 1024 * MIB)
                .unwrap();
            let body = make(size);
            let len = body.len();
            assert!(len <= size);
            let answer = send(&receiver, path, content_type, body).await;
            ALLOCATOR.set_limit(usize::MAX).unwrap();
            let peak = ALLOCATOR.max_allocated().saturating_sub(start);
            eprintln!(
                "{what}, {len} bytes: {} ({}); peak so far {peak} bytes = {:.1} × the body",
                answer.status,
                answer.text,
                peak as f64 / len as f64
            );
            assert!(
                peak <= limit,
                "{what}, {len} bytes: the request held {peak} bytes at its peak (with the body), more \
                 than {limit} ({factor} × {size} + {LIMIT_BASE})"
            );
            assert_eq!(answer.status, status, "{what}: {}", answer.text);
            assert!(!answer.text.is_empty(), "{what}: the refusal says why");
            // What `/api/stats` answers: the payload counted under its reason, and spans refused one by one
            // (for want of ids) counted too.
            let accounting = store.accounting();
            assert_eq!(
                accounting.rejected,
                [(reason.to_owned(), 1)].into(),
                "{what}: counted under {reason}"
            );
            if reason == "invalid_span" {
                assert!(accounting.rejected_spans > 0, "{what}");
            }
            drop((receiver, writer));
        }
    }
}
