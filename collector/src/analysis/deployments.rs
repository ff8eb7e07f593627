//! Deployments: each service's figures per deployed version (`service.version`), the version's requests in
//! which an N+1 loop was found, each counted once however often its trace is read, and how a version compares
//! with the one before it: endpoint by endpoint, claiming only what is beyond the noise of the two samples.

use std::collections::BTreeSet;

use rustc_hash::FxHashMap;

use super::results::{DependencyChange, VersionChange};
use super::stats::{Series, Summary, ms, percent};
use super::timeline::Timeline;
use super::{ServiceEntry, State, VersionEntry};
use crate::model::{SpanRead, Str, TraceId, attribute_str};

/// Endpoints a version keeps apart for the comparison; past it, requests of other endpoints are left out of
/// it (they still count in the version's own figures).
pub(super) const MAX_VERSION_ENDPOINTS: usize = 100;

/// Requests an endpoint needs in both versions before anything about it is claimed.
const MIN_SAMPLE: u64 = 5;

/// Two error rates differ when a two-proportion z-test says so at this level (99 %).
const Z_ERRORS: f64 = 2.58;

/// What the endpoints said, compared one by one and together.
#[derive(Default)]
struct Judgement {
    judged: bool,
    better: bool,
    worse: bool,
    changes: Vec<String>,
    /// Endpoints with requests enough before but too few since to be judged: (endpoint, requests since).
    waiting: Vec<(Str, u64)>,
}

impl Judgement {
    /// Each endpoint's requests `before` against `now` (endpoints only one of them served are left out).
    fn endpoints(before: &FxHashMap<Str, Summary>, now: &FxHashMap<Str, Summary>) -> Judgement {
        let mut judgement = Judgement::default();
        let mut endpoints: Vec<&Str> = now.keys().collect();
        endpoints.sort();
        let mut waiting: Vec<(Str, u64)> = (before.iter())
            .filter(|(_, old)| old.count >= MIN_SAMPLE)
            .map(|(endpoint, _)| {
                (
                    endpoint.clone(),
                    now.get(endpoint).map_or(0, |new| new.count),
                )
            })
            // An endpoint the new side never served may be gone: nothing to wait for.
            .filter(|(_, since)| (1..MIN_SAMPLE).contains(since))
            .collect();
        waiting.sort();
        judgement.waiting = waiting;
        // Every endpoint both versions served, for the errors taken together (see `pooled_error_change`).
        let mut strata = Vec::new();
        let mut error_claimed = false;
        for endpoint in endpoints {
            let (Some(old), new) = (before.get(endpoint), &now[endpoint]) else {
                continue;
            };
            strata.push((old.count, old.errors, new.count, new.errors));
            if old.count < MIN_SAMPLE || new.count < MIN_SAMPLE {
                continue;
            }
            judgement.judged = true;
            if let Some(faster) = latency_change(old, new) {
                judgement.said(faster);
                judgement.changes.push(format!(
                    "{endpoint} p50 {} → {}",
                    ms(old.quantile_ms(0.5)),
                    ms(new.quantile_ms(0.5))
                ));
            }
            if let Some(fewer) = error_change(old, new) {
                judgement.said(fewer);
                error_claimed = true;
                judgement.changes.push(format!(
                    "{endpoint} errors {} → {}",
                    percent(old.error_rate()),
                    percent(new.error_rate())
                ));
            }
        }
        // Pages that failed every time but were asked a few times each: no one of them says enough,
        // together they do.
        if !error_claimed && let Some((fewer, (old_rate, new_rate))) = pooled_error_change(&strata)
        {
            judgement.said(fewer);
            judgement.judged = true;
            judgement.changes.push(format!(
                "errors {} → {} on the endpoints both served",
                percent(old_rate),
                percent(new_rate)
            ));
        }
        judgement
    }

    fn said(&mut self, better: bool) {
        self.better |= better;
        self.worse |= !better;
    }

    fn change(mut self, against: &str) -> VersionChange {
        let verdict = match (self.judged, self.better, self.worse) {
            (false, ..) => "too few requests to tell",
            (true, true, false) => "better",
            (true, false, true) => "worse",
            (true, true, true) => "mixed",
            // Not "no change" while an endpoint that may have changed is still waiting for requests.
            (true, false, false) if !self.waiting.is_empty() => "no change yet",
            (true, false, false) => "no change",
        };
        if verdict == "no change yet" {
            const SHOWN: usize = 3;
            for (endpoint, since) in self.waiting.iter().take(SHOWN) {
                self.changes.push(format!(
                    "{endpoint} not judged yet ({since} requests since, {MIN_SAMPLE} needed)"
                ));
            }
            if self.waiting.len() > SHOWN {
                let more = self.waiting.len() - SHOWN;
                self.changes
                    .push(format!("{more} more endpoints not judged yet"));
            }
        }
        VersionChange {
            against: against.to_owned(),
            verdict: verdict.to_owned(),
            changes: self.changes,
        }
    }
}

/// Each endpoint's requests of a version, as of `newest_ns`.
fn endpoints(version: &VersionEntry, newest_ns: u64) -> FxHashMap<Str, Summary> {
    version
        .endpoints
        .iter()
        .map(|(endpoint, series)| (endpoint.clone(), series.summary(0, newest_ns)))
        .collect()
}

/// A version (`now`, with its requests worked out for N+1s) against the one before it (`before`, named, with
/// its own), as of `newest_ns`.
pub(super) fn compare(
    (before_name, before, before_worked_out): (&Str, &VersionEntry, u64),
    (now, now_worked_out): (&VersionEntry, u64),
    newest_ns: u64,
) -> VersionChange {
    let mut judgement =
        Judgement::endpoints(&endpoints(before, newest_ns), &endpoints(now, newest_ns));
    let (old_loops, new_loops) = (
        before.n_plus_one.summary(0, newest_ns).count,
        now.n_plus_one.summary(0, newest_ns).count,
    );
    if old_loops > 0 && new_loops == 0 && now_worked_out >= MIN_SAMPLE {
        judgement.said(true);
        judgement.judged = true;
        judgement.changes.push("N+1 gone".to_owned());
    } else if old_loops == 0 && new_loops > 0 && before_worked_out >= MIN_SAMPLE {
        judgement.said(false);
        judgement.judged = true;
        judgement.changes.push("N+1 new".to_owned());
    }
    judgement.change(before_name)
}

/// A service a caller calls, with its versions oldest first.
pub(super) type Called<'a> = (&'a Str, Vec<(&'a Str, &'a VersionEntry)>);

/// How the endpoints of a caller's `version` changed at each deployment, while it ran, of a service it
/// calls (`called`, each with its versions oldest first): its requests since the cut before (another such
/// deployment, or its own start) against those until the next cut. Deployments too close together to tell
/// apart (fewer than [`MIN_SAMPLE`] requests between them) are judged together, named by the first with the
/// others in `with`; those as close to the caller's own start are left out (its own comparison covers them).
pub(super) fn dependency_changes(
    version: &VersionEntry,
    called: &[Called<'_>],
    starts: &BTreeSet<u64>,
) -> Vec<DependencyChange> {
    // (when, service, version, the version it replaced), in time order.
    let mut deployed = Vec::new();
    for (service, versions) in called {
        for pair in versions.windows(2) {
            let ((before, _), (name, v)) = (pair[0], pair[1]);
            if v.first_seen > version.first_seen && v.first_seen <= version.last_seen {
                deployed.push((v.first_seen, *service, name, before));
            }
        }
    }
    deployed.sort();
    // Counted once: how many requests started between two deployments is then a sum over a few cuts.
    let counts = version.timeline.counts(starts);
    let requests = |from: u64, to: u64| -> u64 { counts.range(from..to).map(|(_, n)| n).sum() };
    let mut out = Vec::new();
    let mut first = 0;
    while first < deployed.len() {
        let mut last = first;
        while last + 1 < deployed.len()
            && requests(deployed[last].0, deployed[last + 1].0) < MIN_SAMPLE
        {
            last += 1;
        }
        let from = if first == 0 {
            version.first_seen
        } else {
            deployed[first - 1].0
        };
        let (at, end) = (
            deployed[last].0,
            deployed.get(last + 1).map_or(u64::MAX, |next| next.0),
        );
        let old = version.timeline.between(from, deployed[first].0, starts);
        // Deployed with the caller (its own comparison says what changed), or too close to it to tell.
        let with_caller = first == 0 && requests(from, deployed[first].0) < MIN_SAMPLE;
        if !with_caller {
            let (_, service, name, before) = deployed[first];
            let new = version.timeline.between(at, end, starts);
            out.push(DependencyChange {
                service: service.to_string(),
                version: name.to_string(),
                first_seen: deployed[first].0,
                with: deployed[first + 1..=last]
                    .iter()
                    .map(|(_, service, version, _)| format!("{service} {version}"))
                    .collect(),
                change: Judgement::endpoints(&old, &new).change(before),
            });
        }
        first = last + 1;
    }
    out
}

/// Whether an endpoint got faster (`Some(true)`) or slower: only when the middle halves of the two samples do
/// not overlap and the medians differ by a quarter or more.
fn latency_change(old: &Summary, new: &Summary) -> Option<bool> {
    let (o25, o50, o75) = (
        old.quantile_ms(0.25),
        old.quantile_ms(0.5),
        old.quantile_ms(0.75),
    );
    let (n25, n50, n75) = (
        new.quantile_ms(0.25),
        new.quantile_ms(0.5),
        new.quantile_ms(0.75),
    );
    if n75 < o25 && n50 < o50 * 0.8 {
        Some(true)
    } else if n25 > o75 && n50 > o50 * 1.25 {
        Some(false)
    } else {
        None
    }
}

/// Whether the error rate fell (`Some(true)`) or rose over several endpoints at once, each compared only
/// with itself (a Cochran–Mantel–Haenszel test over (old requests, old errors, new requests, new errors) per
/// endpoint, at the same 99 %), so a change of traffic mix is not taken for one; with the two pooled rates.
fn pooled_error_change(strata: &[(u64, u64, u64, u64)]) -> Option<(bool, (f64, f64))> {
    let (mut surplus, mut variance) = (0.0, 0.0);
    let (mut old, mut new) = ((0, 0), (0, 0));
    for &(n1, e1, n2, e2) in strata {
        old = (old.0 + n1, old.1 + e1);
        new = (new.0 + n2, new.1 + e2);
        let (n1, n2, errors) = (n1 as f64, n2 as f64, (e1 + e2) as f64);
        let all = n1 + n2;
        if n1 == 0.0 || n2 == 0.0 || all < 2.0 {
            continue;
        }
        surplus += e2 as f64 - n2 * errors / all;
        variance += n1 * n2 * errors * (all - errors) / (all * all * (all - 1.0));
    }
    if variance == 0.0 || surplus * surplus / variance < Z_ERRORS * Z_ERRORS {
        return None;
    }
    let rate = |(n, e): (u64, u64)| e as f64 / n.max(1) as f64;
    Some((surplus < 0.0, (rate(old), rate(new))))
}

/// Whether an endpoint's error rate fell (`Some(true)`) or rose, by a two-proportion z-test.
fn error_change(old: &Summary, new: &Summary) -> Option<bool> {
    let (n1, n2) = (old.count as f64, new.count as f64);
    let (p1, p2) = (old.error_rate(), new.error_rate());
    let pooled = (old.errors + new.errors) as f64 / (n1 + n2);
    let spread = (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
    if spread == 0.0 {
        return None;
    }
    let z = (p2 - p1) / spread;
    (z.abs() >= Z_ERRORS).then_some(z < 0.0)
}

impl State {
    /// The span's `service.version`, or `unversioned`.
    pub(super) fn version_of(&self, span: &impl SpanRead) -> Str {
        attribute_str(&span.resource().attributes, "service.version")
            .unwrap_or(&self.unversioned)
            .clone()
    }

    /// Counts requests found with an N+1 loop in trace `id`, as (service, version, end), each once however
    /// often the trace is read.
    pub(super) fn count_n_plus_one_requests(
        &mut self,
        id: TraceId,
        requests: Vec<(Str, Str, u64)>,
    ) {
        let Some(done) = self.done.get_mut(&id) else {
            return;
        };
        for (service, version, end_ns) in requests {
            if done
                .n_plus_one
                .iter()
                .any(|(s, v)| *s == service && *v == version)
            {
                continue;
            }
            // Counted where the version's requests are (its entry span may not be in yet: then a later
            // reading counts it).
            if let Some(v) = self
                .services
                .get_mut(&service)
                .and_then(|entry| entry.versions.get_mut(&version))
            {
                v.n_plus_one.record(end_ns, 0, false);
                done.n_plus_one.push((service, version));
            }
        }
    }
}

impl ServiceEntry {
    /// Counts an entry span of the service, serving `endpoint`, into its `version`'s figures.
    /// `starts` are the first spans of every version of every service, which cut its timeline; `fresh`
    /// counts the requests every timeline holds one by one.
    pub(super) fn record_version(
        &mut self,
        (version, endpoint): (Str, &Str),
        span: &impl SpanRead,
        (duration, error): (u64, bool),
        (starts, fresh): (&mut BTreeSet<u64>, &mut super::timeline::Fresh),
    ) {
        let v = self.versions.entry(version).or_insert_with(|| {
            starts.insert(span.start_ns());
            VersionEntry {
                series: Series::default(),
                endpoints: Default::default(),
                n_plus_one: Series::default(),
                timeline: Timeline::default(),
                first_seen: span.start_ns(),
                last_seen: span.end_ns(),
            }
        });
        if span.start_ns() < v.first_seen {
            // The version started earlier than thought: its cut moves (one cut a version, not one a span).
            starts.remove(&v.first_seen);
            starts.insert(span.start_ns());
        }
        v.series.record(span.end_ns(), duration, error);
        if v.endpoints.len() < MAX_VERSION_ENDPOINTS || v.endpoints.contains_key(endpoint) {
            v.endpoints
                .entry(endpoint.clone())
                .or_default()
                .record(span.end_ns(), duration, error);
            // The endpoints compared across a dependency's deployment are the ones compared across versions.
            v.timeline.record(
                (span.start_ns(), endpoint),
                (duration, error),
                starts,
                fresh,
            );
        }
        v.first_seen = v.first_seen.min(span.start_ns());
        v.last_seen = v.last_seen.max(span.end_ns());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::Analysis;
    use crate::model::{Resource, Span, SpanKind, Value};
    use crate::testing::{Build as _, span, text};

    const MS: u64 = 1_000_000;

    /// `n` requests of `route` by `version` of the shop, each taking `ms` (plus `jitter` ms more every other
    /// one), failing when `failed`, starting at `at` seconds.
    fn requests(version: &str, route: &str, n: usize, ms: u64, failed: bool, at: u64) -> Vec<Span> {
        let resource = Arc::new(Resource {
            attributes: vec![
                text("service.name", "shop"),
                text("service.version", version),
            ],
        });
        (0..n)
            .map(|i| {
                let start = (at * 1000 + i as u64) * MS;
                let mut request = span(
                    u128::from(at) << 32 | i as u128 | (route.len() as u128) << 20,
                    1,
                )
                .resource(&resource)
                .kind(SpanKind::Server)
                .text("http.request.method", "GET")
                .text("http.route", route)
                .at(start, start + (ms + (i as u64 % 2) * ms / 10) * MS);
                if failed {
                    request = request.attr("http.response.status_code", Value::Int(500));
                }
                request
            })
            .collect()
    }

    /// `n` home pages of the storefront (its only version, 1.0), one a second from `at` seconds, each
    /// calling each of `called` (service, version, milliseconds it takes) in turn.
    fn home_pages(n: u64, at: u64, called: &[(&str, &str, u64)]) -> Vec<Span> {
        let resource = |service: &str, version: &str| {
            Arc::new(Resource {
                attributes: vec![
                    text("service.name", service),
                    text("service.version", version),
                ],
            })
        };
        let shop = resource("store-frontend", "1.0");
        let mut spans = Vec::new();
        for i in 0..n {
            let trace = u128::from(at + i) << 8 | 7;
            let start = (at + i) * 1000 * MS;
            let mut time = start + 4 * MS;
            for (k, &(service, version, ms)) in called.iter().enumerate() {
                let id = 2 + 2 * k as u64;
                spans.push(
                    span(trace, id + 1)
                        .parent(id)
                        .resource(&resource(service, version))
                        .kind(SpanKind::Server)
                        .text("http.request.method", "GET")
                        .text("http.route", "/api")
                        .at(time + MS, time + (1 + ms) * MS),
                );
                spans.push(
                    span(trace, id)
                        .parent(1)
                        .resource(&shop)
                        .kind(SpanKind::Client)
                        .text("http.request.method", "GET")
                        .text("peer.service", service)
                        .at(time, time + (2 + ms) * MS),
                );
                time += (2 + ms) * MS;
            }
            spans.push(
                span(trace, 1)
                    .resource(&shop)
                    .kind(SpanKind::Server)
                    .text("http.request.method", "GET")
                    .text("http.route", "/")
                    .at(start, time + (14 + i % 2) * MS),
            );
        }
        spans
    }

    /// What the storefront's version 1.0 says of its dependencies' deployments.
    fn storefront_saw(batches: Vec<Vec<Span>>) -> Vec<(String, String, String, Vec<String>)> {
        let analysis = Analysis::default();
        for spans in batches {
            analysis.observe(&spans);
        }
        let deployments = analysis.deployments();
        let storefront = deployments
            .iter()
            .find(|d| d.service == "store-frontend")
            .unwrap();
        storefront
            .dependencies
            .iter()
            .map(|d| {
                (
                    [format!("{} {}", d.service, d.version)]
                        .into_iter()
                        .chain(d.with.iter().cloned())
                        .collect::<Vec<_>>()
                        .join(" + "),
                    d.change.against.clone(),
                    d.change.verdict.clone(),
                    d.change.changes.clone(),
                )
            })
            .collect()
    }

    #[test]
    fn a_fix_downstream_shows_on_the_callers_endpoints() {
        // Discounts fixed at 120 s: the storefront's home page, not redeployed, is faster from then on.
        let saw = storefront_saw(vec![
            home_pages(120, 0, &[("discounts-service", "1.0", 2500)]),
            home_pages(120, 120, &[("discounts-service", "1.1", 4)]),
        ]);
        assert_eq!(
            saw,
            [(
                "discounts-service 1.1".to_owned(),
                "1.0".to_owned(),
                "better".to_owned(),
                vec!["GET / p50 2.52 s → 25 ms".to_owned()]
            )]
        );

        // The new version arrives in a later batch than the storefront's first 60 requests that called
        // it (each service exports on its own): they are still filed by when they started.
        let mut late = home_pages(120, 0, &[("discounts-service", "1.0", 2500)]);
        let fixed = home_pages(120, 120, &[("discounts-service", "1.1", 4)]);
        let (storefront_first, discounts_first): (Vec<Span>, Vec<Span>) = fixed[..180]
            .iter()
            .cloned()
            .partition(|s| s.resource.attributes[0].value.as_str() == Some("store-frontend"));
        late.extend(storefront_first);
        let saw_late = storefront_saw(vec![late, discounts_first, fixed[180..].to_vec()]);
        assert_eq!(saw_late, saw);

        // A redeploy that changed nothing it serves: said so.
        let saw = storefront_saw(vec![
            home_pages(120, 0, &[("discounts-service", "1.1", 4)]),
            home_pages(120, 120, &[("discounts-service", "1.2", 4)]),
        ]);
        assert_eq!(saw[0].2, "no change", "{saw:?}");

        // Three requests since: too few to tell.
        let saw = storefront_saw(vec![
            home_pages(120, 0, &[("discounts-service", "1.0", 2500)]),
            home_pages(3, 120, &[("discounts-service", "1.1", 4)]),
        ]);
        assert_eq!(saw[0].2, "too few requests to tell", "{saw:?}");

        // Both slow services fixed two seconds apart: judged together (the two requests between them say
        // nothing); fixed a minute apart: each on its own.
        let both = |version, ms| {
            [
                ("advertisements-service", version, ms),
                ("discounts-service", version, ms),
            ]
        };
        let ads_fixed = [
            ("advertisements-service", "1.1", 4),
            ("discounts-service", "1.0", 2500),
        ];
        let together = storefront_saw(vec![
            home_pages(60, 0, &both("1.0", 2500)),
            home_pages(2, 60, &ads_fixed),
            home_pages(60, 62, &both("1.1", 4)),
        ]);
        assert_eq!(
            together,
            [(
                "advertisements-service 1.1 + discounts-service 1.1".to_owned(),
                "1.0".to_owned(),
                "better".to_owned(),
                vec!["GET / p50 5.02 s → 31 ms".to_owned()]
            )]
        );
        let apart = storefront_saw(vec![
            home_pages(60, 0, &both("1.0", 2500)),
            home_pages(60, 60, &ads_fixed),
            home_pages(60, 120, &both("1.1", 4)),
        ]);
        assert_eq!(
            apart,
            [
                (
                    "advertisements-service 1.1".to_owned(),
                    "1.0".to_owned(),
                    "better".to_owned(),
                    vec!["GET / p50 5.02 s → 2.52 s".to_owned()]
                ),
                (
                    "discounts-service 1.1".to_owned(),
                    "1.0".to_owned(),
                    "better".to_owned(),
                    vec!["GET / p50 2.52 s → 31 ms".to_owned()]
                )
            ]
        );
    }

    /// The verdict on 1.1 against 1.0 and what it says changed.
    fn judged(before: Vec<Vec<Span>>, after: Vec<Vec<Span>>) -> (String, Vec<String>) {
        let analysis = Analysis::default();
        for spans in before.into_iter().chain(after) {
            analysis.observe(&spans);
        }
        let deployments = analysis.deployments();
        let now = deployments.iter().find(|d| d.version == "1.1").unwrap();
        assert!(
            deployments
                .iter()
                .any(|d| d.version == "1.0" && d.change.is_none())
        );
        let change = now.change.clone().unwrap();
        assert_eq!(change.against, "1.0");
        (change.verdict, change.changes)
    }

    #[test]
    fn versions_are_compared_endpoint_by_endpoint_beyond_the_noise() {
        // Same endpoints, same speeds, another traffic mix: the overall p95 falls, nothing changed.
        let (verdict, changes) = judged(
            vec![
                requests("1.0", "/", 10, 5000, false, 0),
                requests("1.0", "/cart", 10, 10, false, 0),
            ],
            vec![
                requests("1.1", "/", 5, 5000, false, 100),
                requests("1.1", "/cart", 40, 10, false, 100),
            ],
        );
        assert_eq!(
            (verdict.as_str(), changes.len()),
            ("no change", 0),
            "{changes:?}"
        );

        // The home page fixed: said for the home page.
        let (verdict, changes) = judged(
            vec![
                requests("1.0", "/", 10, 5000, false, 0),
                requests("1.0", "/cart", 10, 10, false, 0),
            ],
            vec![
                requests("1.1", "/", 10, 20, false, 100),
                requests("1.1", "/cart", 10, 10, false, 100),
            ],
        );
        assert_eq!(verdict, "better");
        assert_eq!(changes, ["GET / p50 5.00 s → 20 ms"]);

        // A page that always failed now never does.
        let (verdict, changes) = judged(
            vec![requests("1.0", "/cart", 10, 10, true, 0)],
            vec![requests("1.1", "/cart", 10, 10, false, 100)],
        );
        assert_eq!(verdict, "better");
        assert_eq!(changes, ["GET /cart errors 100 % → 0.0 %"]);

        // Slower and fewer errors at once.
        let (verdict, _) = judged(
            vec![requests("1.0", "/cart", 10, 10, true, 0)],
            vec![requests("1.1", "/cart", 10, 400, false, 100)],
        );
        assert_eq!(verdict, "mixed");

        // One failure in ten against none: within the noise.
        let mut one_failure = requests("1.1", "/cart", 9, 10, false, 100);
        one_failure.extend(requests("1.1", "/cart", 1, 10, true, 101));
        let (verdict, _) = judged(
            vec![requests("1.0", "/cart", 10, 10, false, 0)],
            vec![one_failure],
        );
        assert_eq!(verdict, "no change");

        // The misplaced banner fixed: three pages that always failed, each asked only a few times.
        let before: Vec<Vec<Span>> = ["/cart", "/products", "/t/{*permalink}"]
            .into_iter()
            .map(|route| requests("1.0", route, 3, 1, true, 0))
            .chain([requests("1.0", "/cart_link", 20, 1, false, 0)])
            .collect();
        let after: Vec<Vec<Span>> = ["/cart", "/products", "/t/{*permalink}"]
            .into_iter()
            .map(|route| requests("1.1", route, 3, 1, false, 100))
            .chain([requests("1.1", "/cart_link", 20, 1, false, 100)])
            .collect();
        let (verdict, changes) = judged(before, after);
        assert_eq!(verdict, "better");
        assert_eq!(
            changes,
            ["errors 31.0 % → 0.0 % on the endpoints both served"]
        );

        // The cart judged unchanged, the home page asked twice since: not "no change" until it is judged.
        let (verdict, changes) = judged(
            vec![
                requests("1.0", "/", 10, 5000, false, 0),
                requests("1.0", "/cart", 10, 10, false, 0),
            ],
            vec![
                requests("1.1", "/", 2, 20, false, 100),
                requests("1.1", "/cart", 10, 10, false, 100),
            ],
        );
        assert_eq!(verdict, "no change yet");
        assert_eq!(
            changes,
            ["GET / not judged yet (2 requests since, 5 needed)"]
        );

        // Three requests of the new version: nothing can be said yet.
        let (verdict, changes) = judged(
            vec![requests("1.0", "/", 10, 5000, false, 0)],
            vec![requests("1.1", "/", 3, 20, false, 100)],
        );
        assert_eq!(
            (verdict.as_str(), changes.len()),
            ("too few requests to tell", 0)
        );
    }
}
