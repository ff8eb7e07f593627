//! The short fuzz run of CI: every target for a fixed number of inputs (or a few seconds, whichever comes
//! first) from a fixed seed, so `cargo test --workspace` catches a decoder that panics, hangs, or takes time or
//! memory out of proportion to its input. Long runs are the runner's: `cargo run --release -p fuzz`.

use std::time::Duration;

use fuzz::engine::{self, Settings};

/// Inputs per target, seeds included (most targets get through them in well under the time limit).
const INPUTS: u64 = 400;

fn short_run(name: &str) {
    let target = fuzz::targets::find(name).expect("a known target");
    let settings = Settings {
        seed: 13,
        duration: Some(Duration::from_secs(6)),
        iterations: Some(INPUTS),
        out: None,
        progress: None,
        stop_on_failure: true,
    };
    let stats = engine::run(&target, &settings);
    assert!(
        stats.failures.is_empty(),
        "{name}: {:?}",
        stats
            .failures
            .iter()
            .map(|f| format!("{}: {} ({} bytes)", f.kind, f.message, f.input.len()))
            .collect::<Vec<_>>()
    );
    assert!(stats.iterations > 0);
}

#[test]
fn otlp_protobuf_survives_a_short_fuzz_run() {
    short_run("otlp-proto");
}

#[test]
fn otlp_json_survives_a_short_fuzz_run() {
    short_run("otlp-json");
}

#[test]
fn goreplay_recordings_survive_a_short_fuzz_run() {
    short_run("gor");
}

#[test]
fn otlp_json_lines_recordings_survive_a_short_fuzz_run() {
    short_run("recording");
}

// The Datadog v0.4 decoders build every span in full before checking it (issue 13, item 2): today they allocate
// far past the linear bound (500 bytes per input byte for a msgpack body of empty span maps). The streaming decoder
// being written replaces them; these run once it lands.

#[test]
fn datadog_v04_msgpack_survives_a_short_fuzz_run() {
    short_run("dd-v04-msgpack");
}

#[test]
fn datadog_v04_json_survives_a_short_fuzz_run() {
    short_run("dd-v04-json");
}

/// v0.5 passes today: its smallest span is a 12-element array, about 15 bytes, not one.
#[test]
fn datadog_v05_survives_a_short_fuzz_run() {
    short_run("dd-v05");
}

/// The harness itself: the meter sees a thread's peak, not what is left at the end.
#[test]
fn the_meter_counts_a_threads_peak_allocation() {
    let meter = fuzz::alloc::start(0, usize::MAX);
    let big = vec![1u8; 3 << 20];
    drop(big);
    let small = vec![1u8; 1 << 10];
    let peak = meter.finish();
    drop(small);
    assert!((3 << 20..4 << 20).contains(&peak), "{peak}");
}

/// A decode over its target's bound is reported as an allocation failure.
#[test]
fn a_decoder_over_its_bound_is_caught() {
    let mut target = fuzz::targets::find("otlp-json").expect("a known target");
    target.bound.alloc_per_byte = 1;
    target.bound.alloc_fixed = 0;
    let input = fuzz::targets::otlp::GOLDEN_JSON;
    let (kind, message) = engine::check(&target, 0, input).unwrap_err();
    assert_eq!(kind, "alloc", "{message}");
}
