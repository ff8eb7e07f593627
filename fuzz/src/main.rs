//! The fuzz runner: `cargo run --release -p fuzz -- <target|all>... --minutes N [--seed S]`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Parser;
use fuzz::engine::{self, Bound, LARGE, Settings, Stats, Target};
use fuzz::targets;

/// Fuzzes the lab's decoders: structure-aware inputs, each decode checked for panics, hangs, and time and peak
/// allocation linear in the input. Failing inputs are saved to --out to reproduce with --repro.
#[derive(Debug, Parser)]
#[command(name = "fuzz")]
struct Args {
    /// Targets to run, one after the other (`all` for every one; `--list` names them).
    #[arg(default_value = "all")]
    targets: Vec<String>,
    /// How long to run each target.
    #[arg(long)]
    minutes: Option<f64>,
    /// How many inputs to run each target on (with --minutes, whichever comes first).
    #[arg(long)]
    iterations: Option<u64>,
    /// The random seed (a run is reproducible from it); by default one from the clock, printed.
    #[arg(long)]
    seed: Option<u64>,
    /// Where failing inputs are saved.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/failures"))]
    out: PathBuf,
    /// Go on after a failure (by default a target stops at its first).
    #[arg(long)]
    keep_going: bool,
    /// Decodes one saved input with the (single) target named, with every check, and prints what it measured.
    #[arg(long, value_name = "FILE")]
    repro: Option<PathBuf>,
    /// Lists the targets and their bounds.
    #[arg(long)]
    list: bool,
}

fn main() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    if args.list {
        for target in targets::all() {
            println!("{:<16} {}", target.name, target.about);
            println!("{:<16} bound: {}", "", bound_text(&target.bound));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let chosen = choose(&args.targets)?;
    if let Some(file) = &args.repro {
        let [target] = chosen.as_slice() else {
            bail!("--repro needs exactly one target");
        };
        let input = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        return Ok(match engine::check(target, u64::MAX, &input) {
            Ok(measured) => {
                println!(
                    "{}: {} bytes: {} in {:?}, {} bytes allocated at peak; within the bounds",
                    target.name,
                    input.len(),
                    if measured.accepted {
                        "accepted"
                    } else {
                        "refused"
                    },
                    measured.took,
                    measured.peak
                );
                ExitCode::SUCCESS
            }
            Err((kind, message)) => {
                println!("{}: {} bytes: {kind}: {message}", target.name, input.len());
                ExitCode::FAILURE
            }
        });
    }
    if args.minutes.is_none() && args.iterations.is_none() {
        bail!("say how long: --minutes N or --iterations N (per target)");
    }
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    let settings = Settings {
        seed,
        duration: args.minutes.map(|m| Duration::from_secs_f64(m * 60.0)),
        iterations: args.iterations,
        out: Some(args.out.clone()),
        progress: Some(Duration::from_secs(60)),
        stop_on_failure: !args.keep_going,
    };
    println!(
        "fuzz: seed {seed}, {} target(s), {} build",
        chosen.len(),
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    let mut failed = false;
    for target in &chosen {
        println!("\n{}: {}", target.name, target.about);
        println!("  bound: {}", bound_text(&target.bound));
        let stats = on_a_workers_stack(target, &settings)?;
        report(&stats);
        failed |= !stats.failures.is_empty();
    }
    if failed {
        println!(
            "\nreproduce a saved input with: cargo run --release -p fuzz -- <target> --repro <file>"
        );
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Runs the target on a thread with a 2 MiB stack, the size tokio gives the workers and blocking threads that
/// decode in the collector: a decoder that recurses too deep for them overflows here too.
fn on_a_workers_stack(target: &Target, settings: &Settings) -> anyhow::Result<Stats> {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name(format!("fuzz {}", target.name))
            .stack_size(2 << 20)
            .spawn_scoped(scope, || engine::run(target, settings))
            .context("starting the fuzzing thread")?
            .join()
            .map_err(|_| anyhow::anyhow!("the fuzzing thread panicked outside a decode"))
    })
}

fn choose(names: &[String]) -> anyhow::Result<Vec<Target>> {
    if names.iter().any(|n| n == "all") {
        return Ok(targets::all());
    }
    names
        .iter()
        .map(|name| {
            targets::find(name).with_context(|| {
                let known: Vec<_> = targets::all().iter().map(|t| t.name).collect();
                format!("no target {name:?}: the targets are {}", known.join(", "))
            })
        })
        .collect()
}

fn bound_text(bound: &Bound) -> String {
    format!(
        "peak allocation <= {} B/byte + {} KiB; time <= {} ns/byte + {:?} (release; x{} in debug builds)",
        bound.alloc_per_byte,
        bound.alloc_fixed >> 10,
        bound.ns_per_byte,
        bound.time_fixed,
        engine::DEBUG_SLOWDOWN
    )
}

fn report(stats: &Stats) {
    let secs = stats.elapsed.as_secs_f64().max(1e-9);
    println!(
        "  {} inputs in {:.1} s ({:.0}/s), {} accepted by the decoder ({:.1}%), {:.1} MB decoded, largest {} bytes",
        stats.iterations,
        secs,
        stats.iterations as f64 / secs,
        stats.accepted,
        100.0 * stats.accepted as f64 / stats.iterations.max(1) as f64,
        stats.bytes as f64 / 1e6,
        stats.largest
    );
    println!(
        "  worst share of the bounds: allocation {:.3} (at {} bytes), time {:.3} (at {} bytes)",
        stats.worst_alloc_share.0,
        stats.worst_alloc_share.1,
        stats.worst_time_share.0,
        stats.worst_time_share.1
    );
    println!(
        "  worst per input byte (inputs of {LARGE} bytes or more): allocation {:.1} B/byte (at {} bytes), time {:.1} ns/byte (at {} bytes)",
        stats.worst_alloc_per_byte.0,
        stats.worst_alloc_per_byte.1,
        stats.worst_ns_per_byte.0,
        stats.worst_ns_per_byte.1
    );
    if stats.failures.is_empty() {
        println!("  no panic, hang or blow-up");
    } else {
        println!("  failing inputs by kind: {:?}", stats.failure_counts);
    }
    for failure in &stats.failures {
        println!(
            "  FAILED: {}: {} ({} bytes, saved to {})",
            failure.kind,
            failure.message,
            failure.input.len(),
            failure
                .saved
                .as_ref()
                .map_or("nowhere".to_owned(), |p| p.display().to_string())
        );
    }
}
