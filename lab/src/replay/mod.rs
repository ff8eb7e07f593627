//! Replays recorded requests against a target at their recorded pace (or faster), the way
//! `gor --input-file ... --output-http ...` does, and summarises how the target answered.
//!
//! Each request keeps its method, path and query, headers and body. `Host` is rewritten to
//! the target, hop-by-hop headers are dropped and the client frames the body itself. The
//! recorded trace context (`traceparent`, `tracestate`, `baggage`) is dropped too: it names
//! the recorded trace, and a replayed request starts a trace of its own.
//! Redirects are not followed and compressed responses are not decoded: every response is
//! read to its last byte, which is where its latency is measured.

mod pacing;
mod progress;
mod report;
mod request;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context as _, bail};
use reqwest::Url;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::gor::Request;
use progress::Progress;
use request::{Job, prepare, send};

pub use pacing::{ParseSpeedError, Speed};
pub use report::{Outcome, Report, Summary};
pub(crate) use request::{check_target, forwardable_headers, http_client, target_url};

/// Where and how to replay.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// Base URL of the target, such as `http://127.0.0.1:3000`; recorded paths are appended.
    pub target: Url,
    pub speed: Speed,
    /// Most requests in flight at once.
    pub concurrency: usize,
    /// Start again after each pass, like `gor --input-file-loop`, until cancelled.
    pub loop_forever: bool,
    /// Limit for each request, from connecting to the last byte of the response.
    pub timeout: Duration,
    /// Show a progress line on stderr, redrawn a few times a second.
    pub progress: bool,
    /// On cancellation, how long requests in flight may take to finish before they are abandoned: long
    /// enough for the slowest page, so stopping a run does not cut requests short (each cut one would be a
    /// trace with a made-up duration and no answer).
    pub drain: Duration,
}

impl ReplayOptions {
    /// One pass at recorded speed, 16 requests in flight at most, 30 s timeout, no progress.
    pub fn new(target: Url) -> Self {
        ReplayOptions {
            target,
            speed: Speed::default(),
            concurrency: 16,
            loop_forever: false,
            timeout: Duration::from_secs(30),
            progress: false,
            drain: Duration::ZERO,
        }
    }
}

/// Sends `requests` to `opts.target`, each `(timestamp - first timestamp) / speed` after the
/// start of its pass, and reports every outcome.
///
/// A failed request is an [`Outcome`] without a status, not an error of the replay; errors
/// are only for unusable options. When looping, a pass starts as soon as the previous pass
/// has sent its last request. Cancelling `cancel` stops sending, lets the requests in flight
/// finish for up to `opts.drain`, abandons the rest and returns the outcomes so far. A replay keeps its latest [`MAX_OUTCOMES`]
/// outcomes, so a `loop_forever` replay runs for days in bounded memory.
pub async fn replay(
    requests: &[Request],
    opts: &ReplayOptions,
    cancel: &CancellationToken,
) -> anyhow::Result<Report> {
    if opts.concurrency == 0 {
        bail!("concurrency must be at least 1");
    }
    if let Speed::Factor(factor) = opts.speed
        && !(factor.is_finite() && factor > 0.0)
    {
        bail!("speed factor must be a positive number, not {factor}");
    }
    check_target(&opts.target)?;
    let started = Instant::now();
    let Some(first) = requests.first() else {
        return Ok(Report::default());
    };

    let client = http_client()
        .timeout(opts.timeout)
        .connect_timeout(opts.timeout)
        .pool_max_idle_per_host(opts.concurrency)
        .build()
        .context("building the HTTP client")?;
    let jobs: Arc<[Job]> = requests
        .iter()
        .map(|req| Job {
            method: req.method.clone(),
            target: req.target.clone(),
            prepared: prepare(req, &opts.target),
        })
        .collect();
    let slots = Arc::new(Semaphore::new(opts.concurrency));
    let progress = Arc::new(Progress::default());
    let stop_progress = CancellationToken::new();
    let progress_task = opts
        .progress
        .then(|| tokio::spawn(progress.clone().show(started, stop_progress.clone())));

    let mut in_flight = JoinSet::new();
    let mut outcomes = Vec::new();
    let mut pass = 0;
    'passes: loop {
        let pass_started = Instant::now();
        progress.pass.store(pass, Ordering::Relaxed);
        for (index, req) in requests.iter().enumerate() {
            if let Some(delay) = opts
                .speed
                .delay(req.timestamp_ns.saturating_sub(first.timestamp_ns))
            {
                tokio::select! {
                    biased;
                    () = cancel.cancelled() => break 'passes,
                    () = tokio::time::sleep_until(pass_started + delay) => {}
                }
            }
            let slot = tokio::select! {
                biased;
                () = cancel.cancelled() => break 'passes,
                slot = slots.clone().acquire_owned() => slot.context("semaphore closed")?,
            };
            while let Some(done) = in_flight.try_join_next() {
                collect(done, &mut outcomes);
            }
            progress.sent.fetch_add(1, Ordering::Relaxed);
            let (client, jobs, progress) = (client.clone(), jobs.clone(), progress.clone());
            in_flight.spawn(async move {
                let outcome = send(&client, &jobs[index], index, pass).await;
                drop(slot);
                progress.finished(&outcome);
                outcome
            });
        }
        if !opts.loop_forever {
            break;
        }
        pass += 1;
    }
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => {
                let deadline = tokio::time::Instant::now() + opts.drain;
                while let Ok(Some(done)) =
                    tokio::time::timeout_at(deadline, in_flight.join_next()).await
                {
                    collect(done, &mut outcomes);
                }
                in_flight.abort_all();
                while let Some(done) = in_flight.join_next().await {
                    collect(done, &mut outcomes);
                }
                break;
            }
            done = in_flight.join_next() => match done {
                Some(done) => collect(done, &mut outcomes),
                None => break,
            },
        }
    }

    if let Some(task) = progress_task {
        stop_progress.cancel();
        let _ = task.await;
    }
    outcomes.sort_by_key(|o| (o.pass, o.index));
    Ok(Report {
        outcomes,
        elapsed: started.elapsed(),
    })
}

/// The most outcomes a report keeps: past it, the older half is dropped.
pub const MAX_OUTCOMES: usize = 100_000;

/// Adds a finished task's outcome; tasks aborted by cancellation have none.
fn collect(done: Result<Outcome, tokio::task::JoinError>, outcomes: &mut Vec<Outcome>) {
    match done {
        Ok(outcome) => {
            if outcomes.len() >= MAX_OUTCOMES {
                outcomes.drain(..MAX_OUTCOMES / 2);
            }
            outcomes.push(outcome);
        }
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => {}
    }
}
