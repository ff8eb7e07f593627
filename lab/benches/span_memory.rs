//! Resident memory a stored span, as `lab collect` holds them (mimalloc, the analyses on unless
//! `--no-analysis` is given): 1,000,000 shop-like spans (`collector::synth::shop_batch`, 512 a batch) decoded by
//! the OTLP receivers' decoder into the store's form, observed and stored, as the receiver and the ingest
//! writer do, without the transport (`--model`: as model spans, cut to the span limits). Prints resident memory before and after (with the analyses, both while
//! every trace still waits to settle and once they have settled), and the difference a span.
//! `cargo bench -p observability-lab --bench span_memory [-- --no-analysis] [--model]`.

use collector::analysis::{Analysis, Settings};
use collector::ingest::Batch;
use collector::limits::SpanLimits;
use collector::store::Store;
use collector::{Interner, synth};
use prost::Message as _;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SPANS: usize = 1_000_000;

/// This process's resident memory, in bytes (from /proc; 0 elsewhere).
fn resident() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        });
    kb.unwrap_or(0) * 1024
}

fn main() {
    let analyse = !std::env::args().any(|arg| arg == "--no-analysis");
    // `--model`: each batch as model spans, as the receivers took them before they decoded into the store's form.
    let model = std::env::args().any(|arg| arg == "--model");
    // As `lab` does.
    lab::memory::without_huge_pages();
    // Encoded before measuring, as a client's payloads would be: a few, reused with distinct ids would need
    // them all, so each is encoded just before it is decoded and dropped at once.
    let store = Store::new(SPANS);
    let analysis = Analysis::new(Settings::default());
    let interner = Interner::new();
    let before = resident();
    let mut seed = 0;
    while (store.accounting().accepted as usize) < SPANS {
        seed += 1;
        let bytes = synth::shop_batch(512, seed).encode_to_vec();
        let decoded = collector::wire::decode_for_store(&bytes, &interner).unwrap();
        match decoded.batch {
            Batch::Staged(staged) if !model => {
                if analyse {
                    analysis.observe(&staged.views());
                }
                store.insert_staged(*staged);
            }
            batch => {
                let mut spans = match batch {
                    Batch::Staged(staged) => staged.to_spans(),
                    Batch::Spans(spans) => spans,
                };
                SpanLimits::default().apply_all(&mut spans);
                if analyse {
                    analysis.observe(&spans);
                }
                store.insert(spans);
            }
        }
        // The writer settles every half second (about every 500 batches at the end-to-end rate), and at once
        // when many traces wait.
        if analyse {
            analysis.settle_if_crowded(&store);
            if seed % 500 == 0 {
                analysis.settle(&store);
            }
        }
    }
    let waiting = resident();
    // The collector's writer settles quiet traces every half second; here every trace is quiet at once. What
    // the analyses keep for traces waiting to settle is held above only until then.
    if analyse {
        analysis.flush(&store);
    }
    let after = resident();
    let stored = store.len();
    let accounting = store.accounting();
    println!(
        "{} traces; the store's own estimate of what they hold: {:.0} bytes a span",
        accounting.stored_traces,
        accounting.stored_bytes as f64 / stored as f64
    );
    if analyse {
        println!(
            "before the traces settled: resident {:.1} MB, {:.0} bytes a span",
            waiting as f64 / 1e6,
            (waiting - before) as f64 / stored as f64,
        );
    }
    println!(
        "{stored} spans stored{}: resident {:.1} MB before, {:.1} MB after: {:.0} bytes a span ({:.0} with \
         what the process held before)",
        if analyse {
            ", settled"
        } else {
            " (no analyses)"
        },
        before as f64 / 1e6,
        after as f64 / 1e6,
        (after.saturating_sub(before)) as f64 / stored as f64,
        after as f64 / stored as f64,
    );
}
