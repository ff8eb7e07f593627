//! Request, error and latency series: counts and a DDSketch (1 % relative accuracy) per 10-second bucket of
//! span time, so that any recent window is a merge of a few buckets and quantiles are never computed by
//! sorting.

use std::collections::VecDeque;

use sketches_ddsketch::{Config, DDSketch};

/// The width of a recent bucket.
pub const BUCKET_NS: u64 = 10_000_000_000;

/// Recent buckets kept apart (15 minutes, the longest window).
const KEPT_BUCKETS: usize = 90;

/// The width of the buckets recent ones are folded into once older than 15 minutes, so that whole-store
/// figures can still follow eviction to within 10 minutes.
const COARSE_NS: u64 = 600_000_000_000;

/// Coarse buckets kept apart (a day); older ones are merged into one.
const KEPT_COARSE: usize = 144;

/// Durations and ratios as the report and the deployments' comparisons write them, by the rule the
/// dashboard uses too.
pub use protocol::units::{ms, percent};

/// The `q` quantile of `sketch`, held between its exact minimum and maximum; 0 when it is empty.
fn quantile_ms(sketch: &DDSketch, q: f64) -> f64 {
    match (
        sketch.quantile(q).ok().flatten(),
        sketch.min(),
        sketch.max(),
    ) {
        (Some(value), Some(min), Some(max)) => value.clamp(min, max),
        _ => 0.0,
    }
}

fn sketch() -> DDSketch {
    // 1 % relative accuracy; 2,048 bins cover microseconds to hours at that accuracy.
    DDSketch::new(Config::new(0.01, 2048, 1e-6))
}

#[derive(Clone)]
struct Bucket {
    start_ns: u64,
    /// Where it ends: the next bucket's start, or the latest end of those merged into it.
    end_ns: u64,
    /// The earliest span end counted in it.
    first_ns: u64,
    count: u64,
    errors: u64,
    /// Durations in milliseconds.
    latency: DDSketch,
}

impl Bucket {
    fn new(start_ns: u64, width: u64) -> Bucket {
        Bucket {
            start_ns,
            end_ns: start_ns.saturating_add(width),
            first_ns: u64::MAX,
            count: 0,
            errors: 0,
            latency: sketch(),
        }
    }

    fn merge(&mut self, other: &Bucket) {
        self.start_ns = self.start_ns.min(other.start_ns);
        self.end_ns = self.end_ns.max(other.end_ns);
        self.first_ns = self.first_ns.min(other.first_ns);
        self.count += other.count;
        self.errors += other.errors;
        // Same configuration on both sides, so merging cannot fail.
        let _ = self.latency.merge(&other.latency);
    }
}

/// The bucket of `deque` (sorted by start, newest last) that starts at `start_ns`, made if need be.
fn slot(deque: &mut VecDeque<Bucket>, start_ns: u64, width: u64) -> usize {
    // Spans arrive roughly in time order: look from the newest end.
    match deque.iter().rposition(|bucket| bucket.start_ns <= start_ns) {
        Some(at) if deque[at].start_ns == start_ns => at,
        position => {
            let at = position.map_or(0, |at| at + 1);
            deque.insert(at, Bucket::new(start_ns, width));
            at
        }
    }
}

/// One series: a service's requests, an endpoint's, a version's or an edge's calls.
#[derive(Clone, Default)]
pub struct Series {
    /// 10-second buckets of the last 15 minutes of the series, newest last.
    recent: VecDeque<Bucket>,
    /// 10-minute buckets before those, newest last, at most [`KEPT_COARSE`].
    coarse: VecDeque<Bucket>,
    /// Everything older still, merged.
    ancient: Option<Bucket>,
}

impl std::fmt::Debug for Series {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Series")
            .field("recent", &self.recent.len())
            .field("coarse", &self.coarse.len())
            .field("ancient", &self.ancient.is_some())
            .finish()
    }
}

/// A series summed over a window.
#[derive(Clone)]
pub struct Summary {
    pub count: u64,
    pub errors: u64,
    latency: DDSketch,
    /// The time the window covers for this series: from its start (or the series' first span, if later) to
    /// the newest span received.
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
    /// The figures of `name` (a service, database, peer or endpoint of `kind`) over the summary's time.
    pub(crate) fn stats(&self, name: &str, kind: &str) -> super::results::ServiceStats {
        let seconds = (self.covered_ns as f64 / 1e9).max(1.0);
        super::results::ServiceStats {
            name: name.to_owned(),
            kind: kind.to_owned(),
            requests: self.count,
            errors: self.errors,
            error_rate: self.error_rate(),
            rps: self.count as f64 / seconds,
            p50_ms: self.quantile_ms(0.50),
            p75_ms: self.quantile_ms(0.75),
            p90_ms: self.quantile_ms(0.90),
            p95_ms: self.quantile_ms(0.95),
            p99_ms: self.quantile_ms(0.99),
            max_ms: self.max_ms(),
        }
    }

    /// The `q` quantile of the durations, in milliseconds (0 when empty). The sketch answers within 1 % of the
    /// true value, which can be past the exact longest (or below the shortest) duration: the answer is held
    /// between those, so p50 ≤ p95 ≤ p99 ≤ max wherever they are shown together.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        quantile_ms(&self.latency, q)
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

    /// Counts one span that took `duration_ns`.
    pub fn record(&mut self, duration_ns: u64, error: bool) {
        self.count += 1;
        self.errors += u64::from(error);
        self.latency.add(duration_ns as f64 / 1e6);
    }

    fn add(&mut self, bucket: &Bucket) {
        self.count += bucket.count;
        self.errors += bucket.errors;
        let _ = self.latency.merge(&bucket.latency);
    }
}

impl Series {
    /// The p95 latency in milliseconds of each of the `buckets` 10-second buckets ending with the one that
    /// holds `now_ns`, oldest first; 0 where a bucket saw no span. Made for a sparkline.
    pub fn p95_series(&self, now_ns: u64, buckets: usize) -> Vec<f64> {
        let last = now_ns - now_ns % BUCKET_NS;
        let first = last.saturating_sub(BUCKET_NS * (buckets.saturating_sub(1)) as u64);
        let mut out = vec![0.0; buckets];
        for bucket in self
            .recent
            .iter()
            .filter(|b| b.start_ns >= first && b.start_ns <= last)
        {
            let at = ((bucket.start_ns - first) / BUCKET_NS) as usize;
            if let Some(slot) = out.get_mut(at) {
                *slot = quantile_ms(&bucket.latency, 0.95);
            }
        }
        out
    }

    /// Counts one span that ended at `end_ns` and took `duration_ns`.
    pub fn record(&mut self, end_ns: u64, duration_ns: u64, error: bool) {
        let bucket = self.bucket(end_ns);
        bucket.first_ns = bucket.first_ns.min(end_ns);
        bucket.count += 1;
        bucket.errors += u64::from(error);
        bucket.latency.add(duration_ns as f64 / 1e6);
    }

    /// The bucket a span that ended at `end_ns` goes to.
    fn bucket(&mut self, end_ns: u64) -> &mut Bucket {
        let start_ns = end_ns - end_ns % BUCKET_NS;
        let older_than_recent = self.recent.len() >= KEPT_BUCKETS
            && self
                .recent
                .front()
                .is_some_and(|front| start_ns < front.start_ns);
        if !older_than_recent {
            let at = slot(&mut self.recent, start_ns, BUCKET_NS);
            if self.recent.len() <= KEPT_BUCKETS {
                return &mut self.recent[at];
            }
            // Fold the oldest recent bucket into its coarse one; the new bucket moves down by one.
            let oldest = self.recent.pop_front().expect("more than kept");
            self.fold(&oldest);
            return &mut self.recent[at - 1];
        }
        self.coarse_bucket(end_ns)
    }

    fn fold(&mut self, bucket: &Bucket) {
        let start = bucket.start_ns - bucket.start_ns % COARSE_NS;
        self.coarse_bucket(start).merge(bucket);
    }

    /// The coarse bucket for `time_ns`, or the ancient one when that is older than every kept coarse one.
    fn coarse_bucket(&mut self, time_ns: u64) -> &mut Bucket {
        let start_ns = time_ns - time_ns % COARSE_NS;
        let too_old = self.coarse.len() >= KEPT_COARSE
            && self
                .coarse
                .front()
                .is_some_and(|front| start_ns < front.start_ns);
        if too_old {
            return self
                .ancient
                .get_or_insert_with(|| Bucket::new(start_ns, COARSE_NS));
        }
        let at = slot(&mut self.coarse, start_ns, COARSE_NS);
        if self.coarse.len() <= KEPT_COARSE {
            return &mut self.coarse[at];
        }
        let oldest = self.coarse.pop_front().expect("more than kept");
        match &mut self.ancient {
            Some(ancient) => ancient.merge(&oldest),
            None => self.ancient = Some(oldest),
        }
        &mut self.coarse[at - 1]
    }

    /// Forgets buckets that end before `oldest_ns` (the start of the oldest trace still stored), so that
    /// the whole-store figures follow the store, to within a bucket.
    pub fn expire(&mut self, oldest_ns: u64) {
        for deque in [&mut self.coarse, &mut self.recent] {
            while deque
                .front()
                .is_some_and(|bucket| bucket.end_ns <= oldest_ns)
            {
                deque.pop_front();
            }
        }
        if self
            .ancient
            .as_ref()
            .is_some_and(|ancient| ancient.end_ns <= oldest_ns)
        {
            self.ancient = None;
        }
    }

    /// Whether nothing is left.
    pub fn is_empty(&self) -> bool {
        self.recent.is_empty() && self.coarse.is_empty() && self.ancient.is_none()
    }

    /// The buckets that end after `since_ns` (all of them for 0), summed, as of `now_ns` (the newest span
    /// received).
    pub fn summary(&self, since_ns: u64, now_ns: u64) -> Summary {
        let mut summary = Summary::default();
        let mut first = u64::MAX;
        let buckets = self
            .ancient
            .iter()
            .chain(self.coarse.iter())
            .chain(self.recent.iter());
        for bucket in buckets {
            if bucket.end_ns > since_ns {
                summary.add(bucket);
                first = first.min(bucket.first_ns);
            }
        }
        summary.covered_ns = now_ns.saturating_sub(first.max(since_ns));
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
        let all = series.summary(0, base + 1_000_000);
        assert_eq!((all.count, all.errors), (1000, 100));
        for (q, exact) in [(0.5, 500.0), (0.95, 950.0), (0.99, 990.0)] {
            let got = all.quantile_ms(q);
            assert!((got - exact).abs() / exact < 0.02, "p{q}: {got}");
        }
        assert!((all.max_ms() - 1000.0).abs() < 1e-9);
        assert!((all.error_rate() - 0.1).abs() < 1e-9);
    }

    #[test]
    fn the_p95_series_has_one_figure_per_bucket_and_zero_for_quiet_ones() {
        let mut series = Series::default();
        let base = 1_700_000_000 * S - (1_700_000_000 * S) % BUCKET_NS;
        // 100 ms in the first bucket, nothing in the second, 2.5 s in the third.
        series.record(base + S, 100_000_000, false);
        series.record(base + 2 * BUCKET_NS + S, 2_500_000_000, false);
        let p95 = series.p95_series(base + 2 * BUCKET_NS + 5 * S, 4);
        assert_eq!(p95.len(), 4);
        assert_eq!(p95[0], 0.0, "before the first span");
        assert!((p95[1] - 100.0).abs() < 2.0, "{p95:?}");
        assert_eq!(p95[2], 0.0);
        assert!((p95[3] - 2500.0).abs() < 50.0, "{p95:?}");
    }

    #[test]
    fn windows_take_the_recent_buckets_and_old_ones_fold_into_coarse_ones() {
        let mut series = Series::default();
        let base = 1_700_000_000 * S;
        // One span a minute for two hours: more recent buckets than are kept apart.
        for minute in 0..120u64 {
            series.record(base + minute * 60 * S, 2_000_000, false);
        }
        let newest = base + 119 * 60 * S;
        let all = series.summary(0, newest);
        assert_eq!(all.count, 120, "nothing lost to folding");
        assert_eq!(all.covered_ns, 119 * 60 * S);
        // The bucket the window starts in counts whole: minutes 114 to 119.
        let five = series.summary(newest - 5 * 60 * S, newest);
        assert_eq!((five.count, five.covered_ns), (6, 5 * 60 * S));
        assert_eq!(
            series.summary(newest - 5 * 60 * S + 10 * S, newest).count,
            5
        );
        // A late span older than every recent bucket lands in its coarse one.
        series.record(base, 1_000_000, true);
        assert_eq!(series.summary(0, newest).errors, 1);
        // Expiry follows the store to within a coarse bucket: an hour later, no more than 10 minutes over.
        series.expire(base + 60 * 60 * S);
        let left = series.summary(0, newest).count;
        assert!((60..=70).contains(&left), "{left}");
        series.expire(newest - 10 * S);
        assert_eq!(
            series.summary(0, newest).count,
            1,
            "only the newest bucket is left"
        );
        series.expire(newest + 60 * S);
        assert!(series.is_empty());
    }

    #[test]
    fn far_future_and_far_past_times_do_not_overflow() {
        let mut series = Series::default();
        series.record(u64::MAX, u64::MAX, true);
        series.record(0, 0, false);
        series.record(u64::MAX - 1, 5, false);
        assert_eq!(series.summary(0, u64::MAX).count, 3);
        series.expire(u64::MAX - 1);
        assert_eq!(
            series.summary(0, 0).count,
            2,
            "the bucket ending at the very end stays"
        );
    }

    #[test]
    fn a_day_of_sparse_traffic_stays_bounded() {
        let mut series = Series::default();
        let base = 1_700_000_000 * S;
        for hour in 0..(24 * 7u64) {
            series.record(base + hour * 3600 * S, 1_000_000, false);
        }
        assert!(series.recent.len() <= KEPT_BUCKETS && series.coarse.len() <= KEPT_COARSE);
        assert_eq!(series.summary(0, base + 24 * 7 * 3600 * S).count, 24 * 7);
    }

    proptest::proptest! {
        /// Whatever durations a series holds, in whatever window: p50 ≤ p75 ≤ p90 ≤ p95 ≤ p99 ≤ max.
        #[test]
        fn quantiles_never_pass_the_maximum_they_sit_beside(
            spans in proptest::collection::vec((0u64..3_600, 0u64..10_000_000_000), 1..300),
            window in 0u64..3_600,
        ) {
            let mut series = Series::default();
            let base = 1_700_000_000 * S;
            for (second, duration_ns) in &spans {
                series.record(base + second * S, *duration_ns, false);
            }
            let now = base + 3_600 * S;
            let summary = series.summary(now - window * S, now);
            let stats = summary.stats("s", "service");
            let ordered = [stats.p50_ms, stats.p75_ms, stats.p90_ms, stats.p95_ms, stats.p99_ms, stats.max_ms];
            proptest::prop_assert!(ordered.windows(2).all(|pair| pair[0] <= pair[1]), "{ordered:?}");
        }
    }
}
