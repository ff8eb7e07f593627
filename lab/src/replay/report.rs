//! What a replay did: an [`Outcome`] a request, gathered in a [`Report`] and counted in a [`Summary`].

use std::fmt;
use std::time::Duration;

/// What happened to one sent request.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Index of the request in the replayed slice.
    pub index: usize,
    /// Which pass over the requests sent it, from 0.
    pub pass: u64,
    pub method: String,
    /// The request target as recorded.
    pub target: String,
    /// The response status; `None` when no response arrived (see `error`).
    pub status: Option<u16>,
    /// Why the request failed: connection, timeout or body errors, or an unsendable request.
    pub error: Option<String>,
    /// From sending the request to the last byte of the response (or to the failure).
    pub latency: Duration,
}

/// Everything a replay did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// One entry per sent request, ordered by pass and index. Requests still in flight when
    /// the replay was cancelled are left out.
    pub outcomes: Vec<Outcome>,
    /// Wall-clock time of the whole replay.
    pub elapsed: Duration,
}

/// Counts and latencies of a [`Report`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub requests: usize,
    pub status_2xx: usize,
    pub status_3xx: usize,
    pub status_4xx: usize,
    pub status_5xx: usize,
    /// Responses with a status outside 200..=599.
    pub status_other: usize,
    /// Requests that got no response.
    pub transport_errors: usize,
    /// Nearest-rank percentiles and maximum of the latencies of requests that got a
    /// response; `None` when none did.
    pub p50: Option<Duration>,
    pub p95: Option<Duration>,
    pub max: Option<Duration>,
    pub elapsed: Duration,
}

impl Report {
    pub fn summary(&self) -> Summary {
        let mut summary = Summary {
            requests: self.outcomes.len(),
            elapsed: self.elapsed,
            ..Summary::default()
        };
        let mut latencies = Vec::with_capacity(self.outcomes.len());
        for outcome in &self.outcomes {
            let Some(status) = outcome.status else {
                summary.transport_errors += 1;
                continue;
            };
            *match status / 100 {
                2 => &mut summary.status_2xx,
                3 => &mut summary.status_3xx,
                4 => &mut summary.status_4xx,
                5 => &mut summary.status_5xx,
                _ => &mut summary.status_other,
            } += 1;
            latencies.push(outcome.latency);
        }
        latencies.sort_unstable();
        summary.p50 = percentile(&latencies, 50);
        summary.p95 = percentile(&latencies, 95);
        summary.max = latencies.last().copied();
        summary
    }
}

impl Summary {
    /// Requests per second of wall-clock time.
    pub fn requests_per_second(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.requests as f64 / secs
        } else {
            0.0
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |d: Option<Duration>| {
            d.map_or("-".to_owned(), |d| {
                protocol::units::ms(d.as_secs_f64() * 1e3)
            })
        };
        writeln!(
            f,
            "requests   {} in {:.2} s, {:.1} req/s",
            self.requests,
            self.elapsed.as_secs_f64(),
            self.requests_per_second()
        )?;
        write!(
            f,
            "responses  2xx {}, 3xx {}, 4xx {}, 5xx {}",
            self.status_2xx, self.status_3xx, self.status_4xx, self.status_5xx
        )?;
        if self.status_other > 0 {
            write!(f, ", other {}", self.status_other)?;
        }
        writeln!(f)?;
        writeln!(f, "errors     {} without a response", self.transport_errors)?;
        write!(
            f,
            "latency    p50 {}, p95 {}, max {}",
            ms(self.p50),
            ms(self.p95),
            ms(self.max)
        )
    }
}

/// The nearest-rank `p`th percentile of `sorted`: the smallest value with at least p% of
/// the values at or below it.
pub(super) fn percentile(sorted: &[Duration], p: usize) -> Option<Duration> {
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}
