//! The progress line a replay redraws on stderr.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Outcome;

/// How often the progress line is redrawn.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);

/// Counters behind the progress line.
#[derive(Default)]
pub(super) struct Progress {
    pub(super) pass: AtomicU64,
    pub(super) sent: AtomicU64,
    done: AtomicU64,
    failed: AtomicU64,
}

impl Progress {
    pub(super) fn finished(&self, outcome: &Outcome) {
        self.done.fetch_add(1, Ordering::Relaxed);
        if outcome.status.is_none() {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn line(&self, started: Instant) -> String {
        format!(
            "\rpass {}: {} sent, {} done, {} without response, {:.1} s ",
            self.pass.load(Ordering::Relaxed) + 1,
            self.sent.load(Ordering::Relaxed),
            self.done.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
            started.elapsed().as_secs_f64()
        )
    }

    /// Redraws the progress line until `stop`, then draws it a last time and ends it.
    pub(super) async fn show(self: Arc<Self>, started: Instant, stop: CancellationToken) {
        let mut ticks = tokio::time::interval(PROGRESS_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = ticks.tick() => eprint!("{}", self.line(started)),
            }
        }
        eprintln!("{}", self.line(started));
    }
}
