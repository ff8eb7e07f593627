//! Deployments: each service's figures per deployed version (`service.version`), the version's requests in
//! which an N+1 loop was found, each counted once however often its trace is read, and how a version compares
//! with the one before it: endpoint by endpoint, claiming only what is beyond the noise of the two samples.

use super::results::VersionChange;
use super::stats::{Series, Summary, ms, percent};
use super::{ServiceEntry, State, VersionEntry};
use crate::model::{Span, Str, TraceId, attribute_str};

/// Endpoints a version keeps apart for the comparison; past it its requests count under the service's
/// overflow endpoint.
pub(super) const MAX_VERSION_ENDPOINTS: usize = 100;

/// Requests an endpoint needs in both versions before anything about it is claimed.
const MIN_SAMPLE: u64 = 5;

/// Two error rates differ when a two-proportion z-test says so at this level (99 %).
const Z_ERRORS: f64 = 2.58;

/// A version (`now`, with its requests worked out for N+1s) against the one before it (`before`, named, with
/// its own), as of `newest_ns`.
pub(super) fn compare(
    (before_name, before, before_worked_out): (&Str, &VersionEntry, u64),
    (now, now_worked_out): (&VersionEntry, u64),
    newest_ns: u64,
) -> VersionChange {
    let (mut better, mut worse, mut judged) = (false, false, false);
    let mut changes = Vec::new();
    let mut endpoints: Vec<&Str> = now.endpoints.keys().collect();
    endpoints.sort();
    // Every endpoint both versions served, for the errors taken together (see `pooled_error_change`).
    let mut strata = Vec::new();
    let mut error_claimed = false;
    for endpoint in endpoints {
        let Some(old) = before.endpoints.get(endpoint) else {
            continue;
        };
        let (old, new) = (
            old.summary(0, newest_ns),
            now.endpoints[endpoint].summary(0, newest_ns),
        );
        strata.push((old.count, old.errors, new.count, new.errors));
        if old.count < MIN_SAMPLE || new.count < MIN_SAMPLE {
            continue;
        }
        judged = true;
        if let Some(faster) = latency_change(&old, &new) {
            better |= faster;
            worse |= !faster;
            changes.push(format!(
                "{endpoint} p50 {} → {}",
                ms(old.quantile_ms(0.5)),
                ms(new.quantile_ms(0.5))
            ));
        }
        if let Some(fewer) = error_change(&old, &new) {
            (better, worse, error_claimed) = (better | fewer, worse | !fewer, true);
            changes.push(format!(
                "{endpoint} errors {} → {}",
                percent(old.error_rate()),
                percent(new.error_rate())
            ));
        }
    }
    // Pages that failed every time but were asked a few times each: no one of them says enough, together
    // they do.
    if !error_claimed && let Some((fewer, (old_rate, new_rate))) = pooled_error_change(&strata) {
        (better, worse, judged) = (better | fewer, worse | !fewer, true);
        changes.push(format!(
            "errors {} → {} on the endpoints both served",
            percent(old_rate),
            percent(new_rate)
        ));
    }
    let (old_loops, new_loops) = (
        before.n_plus_one.summary(0, newest_ns).count,
        now.n_plus_one.summary(0, newest_ns).count,
    );
    if old_loops > 0 && new_loops == 0 && now_worked_out >= MIN_SAMPLE {
        (better, judged) = (true, true);
        changes.push("N+1 gone".to_owned());
    } else if old_loops == 0 && new_loops > 0 && before_worked_out >= MIN_SAMPLE {
        (worse, judged) = (true, true);
        changes.push("N+1 new".to_owned());
    }
    let verdict = match (judged, better, worse) {
        (false, ..) => "too few requests to tell",
        (true, true, false) => "better",
        (true, false, true) => "worse",
        (true, true, true) => "mixed",
        (true, false, false) => "no change",
    };
    VersionChange {
        against: before_name.to_string(),
        verdict: verdict.to_owned(),
        changes,
    }
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
    pub(super) fn version_of(&self, span: &Span) -> Str {
        attribute_str(&span.resource.attributes, "service.version")
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
    pub(super) fn record_version(
        &mut self,
        version: Str,
        endpoint: &Str,
        span: &Span,
        duration: u64,
        error: bool,
    ) {
        let v = self
            .versions
            .entry(version)
            .or_insert_with(|| VersionEntry {
                series: Series::default(),
                endpoints: Default::default(),
                n_plus_one: Series::default(),
                first_seen: span.start_ns,
                last_seen: span.end_ns,
            });
        v.series.record(span.end_ns, duration, error);
        if v.endpoints.len() < MAX_VERSION_ENDPOINTS || v.endpoints.contains_key(endpoint) {
            v.endpoints
                .entry(endpoint.clone())
                .or_default()
                .record(span.end_ns, duration, error);
        }
        v.first_seen = v.first_seen.min(span.start_ns);
        v.last_seen = v.last_seen.max(span.end_ns);
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
        assert_eq!(changes, ["GET /cart errors 100.0 % → 0.0 %"]);

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
