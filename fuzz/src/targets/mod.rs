//! One fuzz target per decoder, each calling the function the receiver (or reader) calls, with its bounds.

pub mod datadog;
pub mod gor;
pub mod otlp;
pub mod recording;

use std::time::Duration;

use collector::Interner;

use crate::engine::{Bound, Target};

const MIB: usize = 1 << 20;

/// The bound every decoder here is held to unless it says otherwise: at most 64 bytes allocated at once per
/// input byte plus 1 MiB, and 2 µs per input byte plus 20 ms (release build).
const LINEAR: Bound = Bound {
    alloc_per_byte: 64,
    alloc_fixed: MIB as u64,
    ns_per_byte: 2_000,
    time_fixed: Duration::from_millis(20),
};

/// The OTLP JSON path (and recordings, which are OTLP JSON lines) builds prost's whole message tree before a
/// span is checked, so a body is refused first when its objects would take more than `otlp::json_budget`
/// (32 bytes a body byte plus 16 MiB): a small body of empty objects may still take its 16 MiB. Held to that.
const JSON_TREE: Bound = Bound {
    alloc_per_byte: 64,
    alloc_fixed: 20 * MIB as u64,
    ..LINEAR
};

fn wire_decode(body: &[u8]) -> bool {
    collector::wire::decode_for_store(body, &Interner::new()).is_ok()
}

/// What the receivers decode, into the store's form when it can be, as model spans.
fn for_store(body: &[u8]) -> Result<collector::otlp::Converted, collector::wire::WireError> {
    let decoded = collector::wire::decode_for_store(body, &Interner::new())?;
    Ok(collector::otlp::Converted {
        spans: match decoded.batch {
            collector::ingest::Batch::Spans(spans) => spans,
            collector::ingest::Batch::Staged(staged) => staged.to_spans(),
        },
        rejected: decoded.rejected,
        error: decoded.error,
    })
}

/// The wire decoder (into the store's form, else into the model) and prost with `otlp::from_request` agree on
/// every input: both refuse it, or both give the same spans, rejections and first error.
fn wire_agrees_with_prost(body: &[u8]) {
    // Formatting both results costs more than decoding: large inputs are checked by the bounds only.
    if body.len() > 64 << 10 {
        return;
    }
    let fast = for_store(body);
    let slow = collector::otlp::decode_protobuf(body)
        .map(|request| collector::otlp::from_request(&request, &Interner::new()));
    match (fast, slow) {
        (Ok(fast), Ok(slow)) => {
            if fast.spans != slow.spans {
                // `NaN != NaN`: compare what they print before calling it a difference.
                assert_eq!(
                    format!("{:?}", fast.spans),
                    format!("{:?}", slow.spans),
                    "the wire decoder and prost give different spans"
                );
            }
            assert_eq!(
                (fast.rejected, &fast.error),
                (slow.rejected, &slow.error),
                "the wire decoder and prost reject differently"
            );
        }
        (Err(_), Err(_)) => {}
        (fast, slow) => panic!(
            "the wire decoder says {:?}, prost says {:?}",
            fast.map(|c| c.spans.len()),
            slow.map(|c| c.spans.len())
        ),
    }
}

fn json_decode(body: &[u8]) -> bool {
    collector::otlp::decode_json(body)
        .map(|request| collector::otlp::from_request(&request, &Interner::new()))
        .is_ok()
}

fn dd_v04_msgpack(body: &[u8]) -> bool {
    collector::datadog::decode_v04_for_store(body, &collector::Interner::new()).is_ok()
}

/// A Datadog decoding for the store (into its form, else onto the model) agrees with the decoding onto the
/// model on every input: both refuse it, or both give the same spans, rejections and first error.
fn dd_agrees_with_model(
    body: &[u8],
    for_store: fn(
        &[u8],
        &Interner,
    ) -> Result<collector::datadog::ForStore, collector::datadog::DecodeError>,
    model: fn(
        &[u8],
        &Interner,
    ) -> Result<collector::datadog::Converted, collector::datadog::DecodeError>,
) {
    if body.len() > 64 << 10 {
        return;
    }
    match (
        for_store(body, &Interner::new()),
        model(body, &Interner::new()),
    ) {
        (Ok(staged), Ok(model)) => {
            let spans = match staged.decoded.batch {
                collector::ingest::Batch::Spans(spans) => spans,
                collector::ingest::Batch::Staged(staged) => staged.to_spans(),
            };
            assert_eq!(
                format!("{spans:?}"),
                format!("{:?}", model.spans),
                "the Datadog decodings for the store and onto the model give different spans"
            );
            assert_eq!(
                (staged.decoded.rejected, &staged.decoded.error),
                (model.rejected, &model.error),
                "the Datadog decodings for the store and onto the model reject differently"
            );
        }
        (Err(_), Err(_)) => {}
        (staged, model) => panic!(
            "for the store: {:?}, onto the model: {:?}",
            staged.map(|s| s.decoded.batch.len()),
            model.map(|m| m.spans.len())
        ),
    }
}

fn dd_v04_agrees(body: &[u8]) {
    dd_agrees_with_model(
        body,
        collector::datadog::decode_v04_for_store,
        collector::datadog::decode_v04_msgpack,
    );
}

fn dd_v05_agrees(body: &[u8]) {
    dd_agrees_with_model(
        body,
        collector::datadog::decode_v05_for_store,
        collector::datadog::decode_v05,
    );
}

fn dd_v04_json(body: &[u8]) -> bool {
    collector::datadog::decode_v04_json(body, &collector::Interner::new()).is_ok()
}

fn dd_v05(body: &[u8]) -> bool {
    collector::datadog::decode_v05_for_store(body, &collector::Interner::new()).is_ok()
}

fn gor_parse(body: &[u8]) -> bool {
    lab::gor::parse(body).problems.is_empty()
}

/// Everything `gor::parse` finds lies inside the input, in order.
fn gor_offsets_inside(body: &[u8]) {
    let parsed = lab::gor::parse(body);
    let len = body.len() as u64;
    assert!(parsed.requests.iter().all(|r| r.offset < len));
    assert!(parsed.problems.iter().all(|p| p.offset < len));
    assert!(
        parsed
            .requests
            .windows(2)
            .all(|w| w[0].offset < w[1].offset)
    );
}

fn recording_read(body: &[u8]) -> bool {
    collector::playback::read_slice(body, recording::MAX_LINE, &Interner::new(), |_| true)
        .is_ok_and(|loaded| loaded.problems.is_empty())
}

fn proto_mutate(rng: &mut crate::rng::Rng, data: &mut Vec<u8>, max_len: usize) -> bool {
    crate::proto::mutate(rng, data, max_len)
}

fn msgpack_mutate(rng: &mut crate::rng::Rng, data: &mut Vec<u8>, max_len: usize) -> bool {
    crate::msgpack::mutate(rng, data, max_len)
}

fn json_mutate(rng: &mut crate::rng::Rng, data: &mut Vec<u8>, max_len: usize) -> bool {
    crate::json::mutate(rng, data, max_len)
}

/// Every target, in the order `all` runs them.
pub fn all() -> Vec<Target> {
    vec![
        Target {
            name: "otlp-proto",
            about: "OTLP/HTTP and OTLP/gRPC protobuf bodies: collector::wire::decode_for_store (checked against prost + otlp::from_request)",
            seeds: otlp::proto_seeds,
            generate: otlp::generate_proto,
            mutate: proto_mutate,
            decode: wire_decode,
            oracle: Some(wire_agrees_with_prost),
            bound: LINEAR,
            max_len: 2 * MIB,
        },
        Target {
            name: "otlp-json",
            about: "OTLP/HTTP JSON bodies: collector::otlp::decode_json + otlp::from_request",
            seeds: otlp::json_seeds,
            generate: otlp::generate_json,
            mutate: json_mutate,
            decode: json_decode,
            oracle: None,
            bound: JSON_TREE,
            max_len: 2 * MIB,
        },
        Target {
            name: "dd-v04-msgpack",
            about: "Datadog /v0.3 and /v0.4 msgpack bodies: collector::datadog::decode_v04_for_store (checked against decode_v04_msgpack)",
            seeds: datadog::v04_msgpack_seeds,
            generate: datadog::generate_v04_msgpack,
            mutate: msgpack_mutate,
            decode: dd_v04_msgpack,
            oracle: Some(dd_v04_agrees),
            bound: LINEAR,
            max_len: 2 * MIB,
        },
        Target {
            name: "dd-v04-json",
            about: "Datadog /v0.3 and /v0.4 JSON bodies: collector::datadog::decode_v04_json",
            seeds: datadog::v04_json_seeds,
            generate: datadog::generate_v04_json,
            mutate: json_mutate,
            decode: dd_v04_json,
            oracle: None,
            bound: LINEAR,
            max_len: 2 * MIB,
        },
        Target {
            name: "dd-v05",
            about: "Datadog /v0.5 bodies (string table + span arrays): collector::datadog::decode_v05_for_store (checked against decode_v05)",
            seeds: datadog::v05_seeds,
            generate: datadog::generate_v05,
            mutate: msgpack_mutate,
            decode: dd_v05,
            oracle: Some(dd_v05_agrees),
            bound: LINEAR,
            max_len: 2 * MIB,
        },
        Target {
            name: "gor",
            about: "GoReplay recordings: lab::gor::parse (what `lab replay` reads)",
            seeds: gor::seeds,
            generate: gor::generate,
            mutate: gor::mutate,
            decode: gor_parse,
            oracle: Some(gor_offsets_inside),
            bound: LINEAR,
            max_len: 2 * MIB,
        },
        Target {
            name: "recording",
            about: "OTLP JSON-lines recordings: collector::playback's line reader (what `lab report FILE` reads)",
            seeds: recording::seeds,
            generate: recording::generate,
            mutate: recording::mutate,
            decode: recording_read,
            oracle: None,
            bound: JSON_TREE,
            max_len: 2 * MIB,
        },
    ]
}

/// The target named `name`.
pub fn find(name: &str) -> Option<Target> {
    all().into_iter().find(|t| t.name == name)
}
