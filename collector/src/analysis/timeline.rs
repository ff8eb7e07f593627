//! A version's requests cut at every deployment of any service, so that its endpoints can be compared before
//! and after a service it calls changed version: the storefront's home page once the discounts service's
//! sleep is fixed, though the storefront itself was not redeployed.
//!
//! A request is filed by when it started, under the latest deployment (a version's first span) that started
//! before it. A deployment can be learned of late, since its service's spans come in their own batches: a
//! request waits a minute (of span time) among the fresh ones before it is filed, and until then is read one
//! by one.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rustc_hash::FxHashMap;

use super::stats::Summary;
use crate::model::Str;

/// How long (span time) a request waits before it is filed in a segment.
const SETTLE_NS: u64 = 60_000_000_000;

/// Fresh requests kept one by one at most, by one version; past it the oldest is filed early.
const MAX_FRESH: usize = 10_000;

/// Fresh requests kept one by one at most, by every version together (see [`Fresh`]).
pub(super) const MAX_FRESH_ALL: usize = 200_000;

/// How many fresh requests every timeline holds together, so that many versions cannot each hold their
/// [`MAX_FRESH`].
#[derive(Debug, Default)]
pub(super) struct Fresh {
    pub(super) held: usize,
}

/// Segments a version keeps apart; past it a request joins the latest segment that started before it.
const MAX_SEGMENTS: usize = 64;

struct Request {
    start_ns: u64,
    endpoint: Str,
    duration_ns: u64,
    error: bool,
}

/// One version's requests, per endpoint, between deployments.
#[derive(Default)]
pub(super) struct Timeline {
    fresh: VecDeque<Request>,
    /// The latest start among the requests recorded.
    newest_start: u64,
    /// Segments by the deployment they start at (0 before any): each endpoint's requests in it.
    segments: BTreeMap<u64, FxHashMap<Str, Summary>>,
}

/// The deployment a request that started at `start_ns` runs under: the latest of `starts` not after it.
fn under(starts: &BTreeSet<u64>, start_ns: u64) -> u64 {
    starts.range(..=start_ns).next_back().copied().unwrap_or(0)
}

impl Timeline {
    /// Counts a request of `endpoint` that started at `start_ns`; `starts` are the deployments known so far.
    /// `fresh` counts the requests every timeline holds one by one.
    pub(super) fn record(
        &mut self,
        (start_ns, endpoint): (u64, &Str),
        (duration_ns, error): (u64, bool),
        starts: &BTreeSet<u64>,
        fresh: &mut Fresh,
    ) {
        self.newest_start = self.newest_start.max(start_ns);
        self.fresh.push_back(Request {
            start_ns,
            endpoint: endpoint.clone(),
            duration_ns,
            error,
        });
        fresh.held += 1;
        while let Some(front) = self.fresh.front() {
            let old = front.start_ns.saturating_add(SETTLE_NS) < self.newest_start;
            if !old && self.fresh.len() <= MAX_FRESH && fresh.held <= MAX_FRESH_ALL {
                break;
            }
            let request = self.fresh.pop_front().expect("a front");
            fresh.held -= 1;
            self.file(request, starts);
        }
    }

    /// How many requests started under each deployment of `starts` (by its start): a count of each
    /// segment and of the fresh requests, to find how many started between two deployments cheaply.
    pub(super) fn counts(&self, starts: &BTreeSet<u64>) -> BTreeMap<u64, u64> {
        let mut counts: BTreeMap<u64, u64> = BTreeMap::new();
        for (key, endpoints) in &self.segments {
            *counts.entry(*key).or_default() += endpoints.values().map(|s| s.count).sum::<u64>();
        }
        for request in &self.fresh {
            *counts.entry(under(starts, request.start_ns)).or_default() += 1;
        }
        counts
    }

    /// The fresh requests it holds (given back to the [`Fresh`] count when it is dropped).
    pub(super) fn fresh_held(&self) -> usize {
        self.fresh.len()
    }

    fn file(&mut self, request: Request, starts: &BTreeSet<u64>) {
        let mut key = under(starts, request.start_ns);
        if self.segments.len() >= MAX_SEGMENTS && !self.segments.contains_key(&key) {
            key = self
                .segments
                .range(..=key)
                .next_back()
                .or_else(|| self.segments.iter().next())
                .map_or(0, |(at, _)| *at);
        }
        self.segments
            .entry(key)
            .or_default()
            .entry(request.endpoint)
            .or_default()
            .record(request.duration_ns, request.error);
    }

    /// Each endpoint's requests that started from `from_ns` to before `to_ns`, two deployments of `starts`.
    pub(super) fn between(
        &self,
        from_ns: u64,
        to_ns: u64,
        starts: &BTreeSet<u64>,
    ) -> FxHashMap<Str, Summary> {
        let mut out: FxHashMap<Str, Summary> = FxHashMap::default();
        for (_, endpoints) in self.segments.range(from_ns..to_ns) {
            for (endpoint, summary) in endpoints {
                out.entry(endpoint.clone()).or_default().merge(summary);
            }
        }
        for request in &self.fresh {
            let key = under(starts, request.start_ns);
            if (from_ns..to_ns).contains(&key) {
                out.entry(request.endpoint.clone())
                    .or_default()
                    .record(request.duration_ns, request.error);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn requests_are_filed_under_the_deployment_they_started_after_even_one_learned_of_late() {
        let endpoint = Str::from("GET /");
        let mut starts = BTreeSet::from([0]);
        let mut timeline = Timeline::default();
        let mut fresh = Fresh::default();
        // Ten minutes at a request a second: 5 s each until the dependency's fix at 300 s, then 20 ms. The
        // fix is learned of 30 s late.
        for second in 0..600 {
            if second == 330 {
                starts.insert(300 * S);
            }
            let slow = second < 300;
            timeline.record(
                (second * S, &endpoint),
                (if slow { 5 * S } else { 20_000_000 }, false),
                &starts,
                &mut fresh,
            );
        }
        let before = &timeline.between(0, 300 * S, &starts)[&endpoint];
        let after = &timeline.between(300 * S, u64::MAX, &starts)[&endpoint];
        assert_eq!((before.count, after.count), (300, 300));
        assert_eq!(before.quantile_ms(0.0), 5000.0);
        assert!(after.max_ms() < 21.0, "{}", after.max_ms());
        // Everything, fresh or filed.
        assert_eq!(timeline.between(0, u64::MAX, &starts)[&endpoint].count, 600);
    }

    #[test]
    fn every_timeline_together_holds_a_bounded_number_of_fresh_requests() {
        let endpoint = Str::from("GET /");
        let starts = BTreeSet::from([0]);
        let mut fresh = Fresh::default();
        // A thousand versions, each with 1,000 requests in the same second (none a minute old).
        let timelines: Vec<Timeline> = (0..1_000)
            .map(|_| {
                let mut timeline = Timeline::default();
                for _ in 0..1_000 {
                    timeline.record((S, &endpoint), (S, false), &starts, &mut fresh);
                }
                timeline
            })
            .collect();
        let held: usize = timelines.iter().map(Timeline::fresh_held).sum();
        assert_eq!(held, fresh.held);
        assert!(held <= MAX_FRESH_ALL + 1, "{held}");
        let counted: u64 = timelines.iter().map(|t| t.counts(&starts)[&0]).sum();
        assert_eq!(counted, 1_000_000, "nothing lost: filed early");
    }

    #[test]
    fn segments_are_capped() {
        let endpoint = Str::from("GET /");
        let mut starts = BTreeSet::new();
        let mut timeline = Timeline::default();
        let mut fresh = Fresh::default();
        for second in 0..10_000u64 {
            starts.insert(second * S);
            timeline.record((second * S, &endpoint), (S, false), &starts, &mut fresh);
        }
        assert!(timeline.segments.len() <= MAX_SEGMENTS);
        assert_eq!(fresh.held, timeline.fresh_held());
        assert_eq!(
            timeline.between(0, u64::MAX, &starts)[&endpoint].count,
            10_000
        );
    }
}
