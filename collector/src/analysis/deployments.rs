//! Deployments: each service's figures per deployed version (`service.version`), and the version's requests in
//! which an N+1 loop was found, each counted once however often its trace is read.

use super::stats::Series;
use super::{ServiceEntry, State, VersionEntry};
use crate::model::{Span, Str, TraceId, attribute_str};

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
    /// Counts an entry span of the service into its `version`'s figures.
    pub(super) fn record_version(&mut self, version: Str, span: &Span, duration: u64, error: bool) {
        let v = self
            .versions
            .entry(version)
            .or_insert_with(|| VersionEntry {
                series: Series::default(),
                n_plus_one: Series::default(),
                first_seen: span.start_ns,
                last_seen: span.end_ns,
            });
        v.series.record(span.end_ns, duration, error);
        v.first_seen = v.first_seen.min(span.start_ns);
        v.last_seen = v.last_seen.max(span.end_ns);
    }
}
