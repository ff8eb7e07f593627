//! Request, error and latency series: counts and a DDSketch (1 % relative accuracy) per 10-second bucket of
//! span time, so that any recent window is a merge of a few buckets and quantiles are never computed by
//! sorting.

use std::collections::VecDeque;

use sketches_ddsketch::{Config, DDSketch};

/// The width of a bucket.
pub const BUCKET_NS: u64 = 10_000_000_000;

/// Buckets kept apart (15 minutes, the longest window); older ones are merged into one.
const KEPT_BUCKETS: usize = 90;

fn sketch() -> DDSketch {
    // 1 % relative accuracy; 2,048 bins cover microseconds to hours at that accuracy.
    DDSketch::new(Config::new(0.01, 2048, 1e-6))
}

#[derive(Clone)]
struct Bucket {
    start_ns: u64,
    /// The end of the latest span time in it, for buckets merged from several.
    end_ns: u64,
    count: u64,
    errors: u64,
    /// Durations in milliseconds.
    latency: DDSketch,
}

impl Bucket {
    fn new(start_ns: u64) -> Bucket {
        Bucket {
            start_ns,
            end_ns: start_ns + BUCKET_NS,
            count: 0,
            errors: 0,
            latency: sketch(),
        }
    }

    fn merge(&mut self, other: &Bucket) {
        self.start_ns = self.start_ns.min(other.start_ns);
        self.end_ns = self.end_ns.max(other.end_ns);
        self.count += other.count;
        self.errors += other.errors;
        // Same configuration on both sides, so merging cannot fail.
        let _ = self.latency.merge(&other.latency);
    }
}

/// One series: a service's requests, an endpoint's, a version's or an edge's calls.
#[derive(Clone, Default)]
pub struct Series {
    /// Newest last, at most [`KEPT_BUCKETS`].
    buckets: VecDeque<Bucket>,
    /// Everything older than the kept buckets, merged.
    older: Option<Bucket>,
}

impl std::fmt::Debug for Series {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Series")
            .field("buckets", &self.buckets.len())
            .field("older", &self.older.is_some())
            .finish()
    }
}

/// A series summed over a window.
#[derive(Clone)]
pub struct Summary {
    pub count: u64,
    pub errors: u64,
    latency: DDSketch,
    /// The time the summed buckets cover.
    pub covered_ns: u64,
}

impl Default for Summary {
    fn default() -> Summary {
        Summary {
            count: 0,
            errors: 0,
            latency: sketch(),
            covered_ns: 0,
        }
    }
}

impl Summary {
    /// The `q` quantile of the durations, in milliseconds (0 when empty).
    pub fn quantile_ms(&self, q: f64) -> f64 {
        self.latency.quantile(q).ok().flatten().unwrap_or(0.0)
    }

    /// The longest duration, in milliseconds (0 when empty).
    pub fn max_ms(&self) -> f64 {
        self.latency.max().unwrap_or(0.0)
    }

    pub fn error_rate(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.errors as f64 / self.count as f64
        }
    }

    /// Adds another summary (of another series over the same window).
    pub fn merge(&mut self, other: &Summary) {
        self.count += other.count;
        self.errors += other.errors;
        let _ = self.latency.merge(&other.latency);
        self.covered_ns = self.covered_ns.max(other.covered_ns);
    }

    fn add(&mut self, bucket: &Bucket) {
        self.count += bucket.count;
        self.errors += bucket.errors;
        let _ = self.latency.merge(&bucket.latency);
    }
}

impl Series {
    /// Counts one span that ended at `end_ns` and took `duration_ns`.
    pub fn record(&mut self, end_ns: u64, duration_ns: u64, error: bool) {
        let start_ns = end_ns - end_ns % BUCKET_NS;
        let bucket = self.bucket(start_ns);
        bucket.count += 1;
        bucket.errors += u64::from(error);
        bucket.latency.add(duration_ns as f64 / 1e6);
    }

    /// The bucket starting at `start_ns`, made if need be; spans older than every kept bucket go to the
    /// merged one.
    fn bucket(&mut self, start_ns: u64) -> &mut Bucket {
        // Spans arrive roughly in time order: look from the newest end.
        let position = self
            .buckets
            .iter()
            .rposition(|bucket| bucket.start_ns <= start_ns);
        match position {
            Some(at) if self.buckets[at].start_ns == start_ns => &mut self.buckets[at],
            None if self.buckets.len() >= KEPT_BUCKETS => {
                self.older.get_or_insert_with(|| Bucket::new(start_ns))
            }
            position => {
                let at = position.map_or(0, |at| at + 1);
                self.buckets.insert(at, Bucket::new(start_ns));
                if self.buckets.len() > KEPT_BUCKETS {
                    let oldest = self.buckets.pop_front().expect("more than kept");
                    match &mut self.older {
                        Some(older) => older.merge(&oldest),
                        None => self.older = Some(oldest),
                    }
                    return &mut self.buckets[at - 1];
                }
                &mut self.buckets[at]
            }
        }
    }

    /// Forgets buckets that end before `oldest_ns` (the start of the oldest trace still stored), so that
    /// the whole-store figures follow the store. The merged bucket goes once all of it is that old.
    pub fn expire(&mut self, oldest_ns: u64) {
        while self
            .buckets
            .front()
            .is_some_and(|bucket| bucket.end_ns <= oldest_ns)
        {
            self.buckets.pop_front();
        }
        if self
            .older
            .as_ref()
            .is_some_and(|older| older.end_ns <= oldest_ns)
        {
            self.older = None;
        }
    }

    /// Whether nothing is left.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty() && self.older.is_none()
    }

    /// The buckets that end after `since_ns`, summed (all of them for 0).
    pub fn summary(&self, since_ns: u64) -> Summary {
        let mut summary = Summary::default();
        let mut first = u64::MAX;
        let mut last = 0;
        for bucket in self.older.iter().chain(self.buckets.iter()) {
            if bucket.end_ns > since_ns {
                summary.add(bucket);
                first = first.min(bucket.start_ns.max(since_ns));
                last = last.max(bucket.end_ns);
            }
        }
        summary.covered_ns = last.saturating_sub(first);
        summary
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn quantiles_are_within_one_percent() {
        let mut series = Series::default();
        let base = 1_700_000_000 * S;
        for ms in 1..=1000u64 {
            series.record(base + ms * 1000, ms * 1_000_000, ms % 10 == 0);
        }
        let all = series.summary(0);
        assert_eq!((all.count, all.errors), (1000, 100));
        for (q, exact) in [(0.5, 500.0), (0.95, 950.0), (0.99, 990.0)] {
            let got = all.quantile_ms(q);
            assert!((got - exact).abs() / exact < 0.02, "p{q}: {got}");
        }
        assert!((all.max_ms() - 1000.0).abs() < 1e-9);
        assert!((all.error_rate() - 0.1).abs() < 1e-9);
    }

    #[test]
    fn windows_take_the_recent_buckets_and_old_ones_merge() {
        let mut series = Series::default();
        let base = 1_700_000_000 * S;
        // One span a minute for two hours: more buckets than are kept apart.
        for minute in 0..120u64 {
            series.record(base + minute * 60 * S, 2_000_000, false);
        }
        assert_eq!(series.summary(0).count, 120, "nothing lost to merging");
        let newest = base + 119 * 60 * S;
        // The bucket the window starts in counts whole: minutes 114 to 119.
        assert_eq!(series.summary(newest - 5 * 60 * S).count, 6);
        assert_eq!(series.summary(newest - 5 * 60 * S + 10 * S).count, 5);
        // A late span older than every kept bucket lands in the merged one.
        series.record(base, 1_000_000, true);
        assert_eq!(series.summary(0).errors, 1);
        series.expire(newest - 10 * S);
        assert_eq!(series.summary(0).count, 1, "only the newest bucket is left");
        series.expire(newest + 60 * S);
        assert!(series.is_empty());
    }
}
