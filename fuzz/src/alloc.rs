//! A counting global allocator: the live bytes of each thread and their peak, so a decode's peak allocation can
//! be measured while other threads (the test harness's, the watchdog) allocate too, and a hard cap per thread
//! that stops a blow-up before it takes the machine.
//!
//! The only `unsafe` in the workspace: `GlobalAlloc` is an unsafe trait. Every call is handed to the system
//! allocator unchanged; this module only counts.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Counts every allocation of the thread that makes it, then lets [`System`] make it.
pub struct Counting;

struct Counts {
    /// Bytes allocated minus bytes freed by this thread (negative when it frees what another thread allocated).
    live: Cell<i64>,
    /// The highest `live` since the last [`start`].
    peak: Cell<i64>,
    /// `live` may not pass this: the allocation that would is held back (see [`admit`]).
    cap: Cell<i64>,
    /// The run this thread decodes for, named in [`BREACHED`] when the cap is passed.
    run: Cell<u64>,
}

thread_local! {
    static COUNTS: Counts = const {
        Counts {
            live: Cell::new(0),
            peak: Cell::new(0),
            cap: Cell::new(i64::MAX),
            run: Cell::new(0),
        }
    };
}

/// The run whose decoding thread passed its hard cap (0: none). Its watchdog saves the input and ends the process.
pub static BREACHED: AtomicU64 = AtomicU64::new(0);

/// How long a thread over its cap waits for its watchdog before the allocation fails (and the process aborts).
const WAIT_FOR_WATCHDOG: Duration = Duration::from_secs(30);

/// Counts `grow` more bytes for this thread; `false` when that passes the thread's cap and nobody ended the
/// process meanwhile.
fn admit(grow: usize) -> bool {
    COUNTS
        .try_with(|c| {
            let live = c.live.get().saturating_add(grow as i64);
            if live > c.cap.get() {
                // Tell the watchdog, which saves the input being decoded and exits; the allocation is held
                // until then. Sleeping allocates nothing.
                BREACHED.store(c.run.get().max(1), Ordering::SeqCst);
                std::thread::sleep(WAIT_FOR_WATCHDOG);
                return false;
            }
            c.live.set(live);
            if live > c.peak.get() {
                c.peak.set(live);
            }
            true
        })
        .unwrap_or(true)
}

fn release(shrink: usize) {
    let _ = COUNTS.try_with(|c| c.live.set(c.live.get() - shrink as i64));
}

// SAFETY: every method hands the call to `System` with the same arguments; the counting touches only
// thread-local `Cell`s of plain integers, which neither allocate nor unwind.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !admit(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract for `alloc` is passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !admit(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        release(layout.size());
        // SAFETY: `ptr` was allocated by `System` with `layout` (every allocation goes through this type).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Counted as the worst case, a move: the new block is live before the old one is freed.
        if !admit(new_size) {
            return std::ptr::null_mut();
        }
        // SAFETY: as for `dealloc`, and `new_size` comes from the caller under `realloc`'s contract.
        let moved = unsafe { System.realloc(ptr, layout, new_size) };
        if moved.is_null() {
            release(new_size);
        } else {
            release(layout.size());
        }
        moved
    }
}

/// A measurement of this thread's allocations, from [`start`] to [`Measure::finish`].
#[derive(Debug)]
pub struct Measure {
    base: i64,
}

/// Starts measuring this thread's peak allocation; allocations past `cap` bytes above today's are held back and
/// reported as [`BREACHED`] by `run`.
pub fn start(run: u64, cap: usize) -> Measure {
    COUNTS.with(|c| {
        let base = c.live.get();
        c.peak.set(base);
        c.cap
            .set(base.saturating_add(i64::try_from(cap).unwrap_or(i64::MAX)));
        c.run.set(run);
        Measure { base }
    })
}

impl Measure {
    /// The most bytes this thread had allocated at once beyond what it had at the start; lifts the cap.
    pub fn finish(self) -> u64 {
        COUNTS.with(|c| {
            c.cap.set(i64::MAX);
            (c.peak.get() - self.base).max(0) as u64
        })
    }
}
