//! The fuzzing loop: inputs made by a target (seeds, fresh structure-aware ones, mutations of earlier ones,
//! plain noise), each decoded under a panic catcher, a clock, an allocation meter and a watchdog, and checked
//! against the target's linear bounds.

use std::any::Any;
use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use crate::alloc;
use crate::mutate;
use crate::rng::Rng;

/// How much time and memory a decode may take: `per_byte × input length + fixed`.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    /// Peak bytes allocated at once per input byte.
    pub alloc_per_byte: u64,
    pub alloc_fixed: u64,
    /// Nanoseconds per input byte, in a release build (a debug build gets [`DEBUG_SLOWDOWN`] times as long).
    pub ns_per_byte: u64,
    pub time_fixed: Duration,
}

/// How much slower a debug build decodes, for the time bound of a `cargo test` run.
pub const DEBUG_SLOWDOWN: u32 = 40;

impl Bound {
    pub fn alloc(&self, len: usize) -> u64 {
        self.alloc_per_byte * len as u64 + self.alloc_fixed
    }

    pub fn time(&self, len: usize) -> Duration {
        let release = Duration::from_nanos(self.ns_per_byte * len as u64) + self.time_fixed;
        if cfg!(debug_assertions) {
            release * DEBUG_SLOWDOWN
        } else {
            release
        }
    }

    /// Past this a decode is taken for a hang.
    fn deadline(&self, len: usize) -> Duration {
        self.time(len) * 10 + Duration::from_secs(10)
    }

    /// Past this the allocation is held and the input saved as a blow-up, before it takes the machine.
    fn hard_cap(&self, len: usize) -> usize {
        (self.alloc(len) * 8 + (256 << 20)).min(4 << 30) as usize
    }
}

/// One decoder to fuzz.
pub struct Target {
    pub name: &'static str,
    /// What it decodes and through which function, for `--help` and the report.
    pub about: &'static str,
    /// Known inputs: golden payloads and the nasty ones found before (issue 13).
    pub seeds: fn() -> Vec<Vec<u8>>,
    /// A fresh structure-aware input, at most `max_len` bytes.
    pub generate: fn(&mut Rng, usize) -> Vec<u8>,
    /// Changes an input the way the format allows (a tree mutation), at most `max_len` bytes; `false` when the
    /// input no longer has the format's shape (then it gets byte mutations).
    pub mutate: fn(&mut Rng, &mut Vec<u8>, usize) -> bool,
    /// Runs the decoder on the input, dropping what it made; `true` when the input was accepted.
    pub decode: fn(&[u8]) -> bool,
    /// A check beyond the bounds, run outside the measurement (such as two decoders agreeing); panics on failure.
    pub oracle: Option<fn(&[u8])>,
    pub bound: Bound,
    /// The largest input made.
    pub max_len: usize,
}

/// What a run found wrong with one input.
#[derive(Debug, Clone)]
pub struct Failure {
    pub kind: &'static str,
    pub message: String,
    pub input: Vec<u8>,
    pub saved: Option<PathBuf>,
}

/// The figures of one run.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub iterations: u64,
    pub accepted: u64,
    pub bytes: u64,
    pub largest: usize,
    pub elapsed: Duration,
    /// The highest share of the allocation bound any input used, and that input's length.
    pub worst_alloc_share: (f64, usize),
    pub worst_time_share: (f64, usize),
    /// Among inputs of at least [`LARGE`] bytes: the most bytes allocated per input byte, and the most time
    /// per byte, with the input's length.
    pub worst_alloc_per_byte: (f64, usize),
    pub worst_ns_per_byte: (f64, usize),
    /// The first [`KEEP_PER_KIND`] failures of each kind (`panic`, `alloc`, `slow`, `oracle`).
    pub failures: Vec<Failure>,
    /// How many inputs failed, by kind.
    pub failure_counts: std::collections::BTreeMap<&'static str, u64>,
}

/// Failures of one kind kept (and saved) by a run that goes on after them.
pub const KEEP_PER_KIND: u64 = 5;

/// Inputs at least this long count for the per-byte figures, where the fixed part of the bound no longer hides
/// the per-byte one.
pub const LARGE: usize = 4096;

/// How a run ends and where it saves failing inputs.
#[derive(Debug, Clone)]
pub struct Settings {
    pub seed: u64,
    pub duration: Option<Duration>,
    pub iterations: Option<u64>,
    /// Where failing inputs are written (`None`: kept in the report only).
    pub out: Option<PathBuf>,
    /// Print progress every this long.
    pub progress: Option<Duration>,
    /// Stop at the first failure.
    pub stop_on_failure: bool,
}

static NEXT_RUN: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The last panic's message and place, on a thread running a decoder.
    static PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
    static CATCHING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Replaces the panic hook once: on a thread that is decoding, a panic's message and place are kept for the
/// report instead of printed; elsewhere the previous hook runs.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if CATCHING.with(|c| c.get()) {
                let place = info
                    .location()
                    .map_or_else(String::new, |l| format!(" at {}:{}", l.file(), l.line()));
                let text = panic_text(info.payload());
                PANIC.with(|p| *p.borrow_mut() = Some(format!("{text}{place}")));
            } else {
                previous(info);
            }
        }));
    });
}

fn panic_text(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with no message".to_owned())
}

/// Runs `f`, catching a panic as its message.
fn catching<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    CATCHING.with(|c| c.set(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    CATCHING.with(|c| c.set(false));
    result.map_err(|payload| {
        PANIC
            .with(|p| p.borrow_mut().take())
            .unwrap_or_else(|| panic_text(payload.as_ref()))
    })
}

/// The input being decoded, for the watchdog.
struct InFlight {
    started: Instant,
    deadline: Duration,
    input: Arc<[u8]>,
}

/// Watches one run from a thread of its own: an input decoding past its deadline, or allocating past its hard
/// cap, is saved and the process ends, since neither can be stopped from outside.
struct Watchdog {
    slot: Arc<Mutex<Option<InFlight>>>,
    done: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watchdog {
    fn start(run: u64, target: &'static str, out: Option<PathBuf>) -> Watchdog {
        let slot: Arc<Mutex<Option<InFlight>>> = Arc::default();
        let done = Arc::new(AtomicBool::new(false));
        let thread = {
            let (slot, done) = (slot.clone(), done.clone());
            std::thread::spawn(move || {
                while !done.load(Ordering::Acquire) {
                    std::thread::sleep(Duration::from_millis(50));
                    let breached = alloc::BREACHED.load(Ordering::SeqCst) == run;
                    let guard = slot.lock().unwrap_or_else(|e| e.into_inner());
                    let Some(flight) = guard.as_ref() else {
                        continue;
                    };
                    let (kind, what) = if breached {
                        ("blowup", "allocated past its hard cap".to_owned())
                    } else if flight.started.elapsed() > flight.deadline {
                        (
                            "hang",
                            format!("still decoding after {:?}", flight.deadline),
                        )
                    } else {
                        continue;
                    };
                    let saved = out
                        .as_deref()
                        .and_then(|dir| save(dir, target, kind, &flight.input).ok());
                    eprintln!(
                        "\nFUZZ FAILURE {target}: {kind}: an input of {} bytes {what}; saved to {}",
                        flight.input.len(),
                        saved.map_or("(nowhere: no --out)".to_owned(), |p| p
                            .display()
                            .to_string())
                    );
                    std::process::exit(3);
                }
            })
        };
        Watchdog {
            slot,
            done,
            thread: Some(thread),
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A name for an input's file: the target, what went wrong, and a hash of the bytes.
fn save(dir: &Path, target: &str, kind: &str, input: &[u8]) -> std::io::Result<PathBuf> {
    let hash = input.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{target}-{kind}-{hash:016x}.bin"));
    std::fs::write(&path, input)?;
    Ok(path)
}

/// One decode, measured.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    pub accepted: bool,
    pub took: Duration,
    pub peak: u64,
}

fn measure(target: &Target, run: u64, input: &[u8]) -> Result<Measured, String> {
    let meter = alloc::start(run, target.bound.hard_cap(input.len()));
    let started = Instant::now();
    let result = catching(|| (target.decode)(input));
    let took = started.elapsed();
    let peak = meter.finish();
    result.map(|accepted| Measured {
        accepted,
        took,
        peak,
    })
}

/// Decodes one input with every check; the failure, if any. Used by the loop and to reproduce a saved input.
pub fn check(target: &Target, run: u64, input: &[u8]) -> Result<Measured, (&'static str, String)> {
    install_panic_hook();
    let len = input.len();
    let mut measured = measure(target, run, input).map_err(|panic| ("panic", panic))?;
    if measured.peak > target.bound.alloc(len) {
        return Err((
            "alloc",
            format!(
                "allocated {} bytes at peak for {len} input bytes; the bound is {} ({} per byte + {})",
                measured.peak,
                target.bound.alloc(len),
                target.bound.alloc_per_byte,
                target.bound.alloc_fixed
            ),
        ));
    }
    if measured.took > target.bound.time(len) {
        // A busy machine can stall any one run: the fastest of three more has to be over too.
        for _ in 0..3 {
            let again = measure(target, run, input).map_err(|panic| ("panic", panic))?;
            measured.took = measured.took.min(again.took);
        }
        if measured.took > target.bound.time(len) {
            return Err((
                "slow",
                format!(
                    "took {:?} (the fastest of four) for {len} bytes; the bound is {:?}",
                    measured.took,
                    target.bound.time(len)
                ),
            ));
        }
    }
    if let Some(oracle) = target.oracle {
        catching(|| oracle(input)).map_err(|message| ("oracle", message))?;
    }
    Ok(measured)
}

/// Recent inputs kept for mutation and splicing.
const POOL: usize = 256;

/// Fuzzes `target` until the settings say stop.
pub fn run(target: &Target, settings: &Settings) -> Stats {
    install_panic_hook();
    let run = NEXT_RUN.fetch_add(1, Ordering::Relaxed);
    let watchdog = Watchdog::start(run, target.name, settings.out.clone());
    let mut rng = Rng::new(settings.seed ^ fnv(target.name.as_bytes()));
    let seeds = (target.seeds)();
    let mut pool: Vec<Vec<u8>> = seeds.clone();
    let mut stats = Stats::default();
    let started = Instant::now();
    let mut last_progress = started;
    loop {
        if settings.iterations.is_some_and(|n| stats.iterations >= n)
            || settings.duration.is_some_and(|d| started.elapsed() >= d)
        {
            break;
        }
        let input = next_input(target, &mut rng, &seeds, &pool, stats.iterations);
        let input: Arc<[u8]> = input.into();
        *watchdog.slot.lock().unwrap() = Some(InFlight {
            started: Instant::now(),
            deadline: target.bound.deadline(input.len()),
            input: input.clone(),
        });
        let checked = check(target, run, &input);
        *watchdog.slot.lock().unwrap() = None;
        stats.iterations += 1;
        stats.bytes += input.len() as u64;
        stats.largest = stats.largest.max(input.len());
        match checked {
            Ok(mut measured) => {
                if slowest_yet(&stats, target, input.len(), measured.took) {
                    // A worst figure should be the decoder's, not a busy machine's: the fastest of three.
                    for _ in 0..2 {
                        if let Ok(again) = measure(target, run, &input) {
                            measured.took = measured.took.min(again.took);
                        }
                    }
                }
                stats.accepted += u64::from(measured.accepted);
                note(&mut stats, target, input.len(), measured);
            }
            Err((kind, message)) => {
                let seen = stats.failure_counts.entry(kind).or_insert(0);
                *seen += 1;
                if *seen > KEEP_PER_KIND {
                    // Going on after failures: the first few of each kind are enough to reproduce.
                    continue;
                }
                let saved = settings
                    .out
                    .as_deref()
                    .and_then(|dir| save(dir, target.name, kind, &input).ok());
                eprintln!(
                    "FUZZ FAILURE {}: {kind}: {message} (input of {} bytes saved to {})",
                    target.name,
                    input.len(),
                    saved
                        .as_ref()
                        .map_or("nowhere: no --out".to_owned(), |p| p.display().to_string())
                );
                stats.failures.push(Failure {
                    kind,
                    message,
                    input: input.to_vec(),
                    saved,
                });
                if settings.stop_on_failure {
                    break;
                }
            }
        }
        if pool.len() < POOL {
            pool.push(input.to_vec());
        } else {
            let i = rng.below(POOL);
            pool[i] = input.to_vec();
        }
        if let Some(every) = settings.progress
            && last_progress.elapsed() >= every
        {
            last_progress = Instant::now();
            eprintln!(
                "  {}: {} inputs in {:.0?}, {} accepted, worst alloc {:.1}/byte, worst time {:.0} ns/byte",
                target.name,
                stats.iterations,
                started.elapsed(),
                stats.accepted,
                stats.worst_alloc_per_byte.0,
                stats.worst_ns_per_byte.0
            );
        }
    }
    stats.elapsed = started.elapsed();
    drop(watchdog);
    stats
}

/// Whether `took` would be the worst time share or time per byte of the run so far.
fn slowest_yet(stats: &Stats, target: &Target, len: usize, took: Duration) -> bool {
    let share = took.as_secs_f64() / target.bound.time(len).as_secs_f64();
    share > stats.worst_time_share.0
        || (len >= LARGE && took.as_nanos() as f64 / len as f64 > stats.worst_ns_per_byte.0)
}

fn note(stats: &mut Stats, target: &Target, len: usize, measured: Measured) {
    let alloc_share = measured.peak as f64 / target.bound.alloc(len) as f64;
    if alloc_share > stats.worst_alloc_share.0 {
        stats.worst_alloc_share = (alloc_share, len);
    }
    let time_share = measured.took.as_secs_f64() / target.bound.time(len).as_secs_f64();
    if time_share > stats.worst_time_share.0 {
        stats.worst_time_share = (time_share, len);
    }
    if len >= LARGE {
        let per_byte = measured.peak as f64 / len as f64;
        if per_byte > stats.worst_alloc_per_byte.0 {
            stats.worst_alloc_per_byte = (per_byte, len);
        }
        let ns = measured.took.as_nanos() as f64 / len as f64;
        if ns > stats.worst_ns_per_byte.0 {
            stats.worst_ns_per_byte = (ns, len);
        }
    }
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// The next input: every seed first, then a mix of fresh inputs, mutated earlier ones, splices and noise.
fn next_input(
    target: &Target,
    rng: &mut Rng,
    seeds: &[Vec<u8>],
    pool: &[Vec<u8>],
    iteration: u64,
) -> Vec<u8> {
    let max_len = target.max_len;
    if let Some(seed) = seeds.get(iteration as usize) {
        return seed.clone();
    }
    // Mostly small inputs (many per second), now and then large ones (where a superlinear cost shows).
    let room = if rng.one_in(50) {
        max_len
    } else {
        max_len.min(64 << 10)
    };
    let mut input = match rng.below(20) {
        0..=7 => (target.generate)(rng, room),
        8..=15 => rng.pick(pool).clone(),
        16..=17 => {
            let (a, b) = (rng.below(pool.len()), rng.below(pool.len()));
            mutate::splice(rng, &pool[a], &pool[b])
        }
        18 => rng.pick(seeds).clone(),
        _ => {
            let n = rng.below(256);
            rng.bytes(n)
        }
    };
    // Structural mutations, then (sometimes) bytes.
    for _ in 0..rng.below(4) {
        if !(target.mutate)(rng, &mut input, room) {
            break;
        }
    }
    if input.len() > room {
        input.truncate(room);
    }
    if rng.one_in(3) || input.is_empty() {
        mutate::bytes(rng, &mut input, room);
    }
    input
}
