//! The browser on the service map: a node in front of the services its pages call, with an edge to each
//! carrying the documents and the traced calls (fetch, XHR) the browser made to it.

use std::collections::BTreeMap;

use protocol::{MapEdge, MapNode, ServiceMap, Window};

use super::pages::quantile;
use super::{Detail, RumStore};

/// The browser node's id and name.
pub const BROWSER: &str = "browser";

impl RumStore {
    /// Adds the browser to `map`: a node ranked before every other (theirs move down one) and an edge to
    /// each service on the map whose pages reported, over the window's events (ending at the newest one).
    pub fn add_to_map(&self, map: &mut ServiceMap, window: Window) {
        let calls = self.with_events(|events| {
            let newest = events.iter().map(|e| e.date_ns).max().unwrap_or(0);
            let first = events.iter().map(|e| e.date_ns).min().unwrap_or(0);
            let since = match window {
                Window::All => 0,
                Window::Last(ns) => newest.saturating_sub(ns),
            };
            // The time the window covers, as the services' figures count it: from the first event, or
            // the window's start when events came before it.
            let seconds = (newest.saturating_sub(first.max(since)) as f64 / 1e9).max(1.0);
            let mut calls: BTreeMap<&str, (u64, u64, Vec<f64>)> = BTreeMap::new();
            for event in events.iter().filter(|e| e.date_ns >= since) {
                let Detail::Resource {
                    kind,
                    status,
                    duration_ms,
                    trace_low,
                    ..
                } = &event.detail
                else {
                    continue;
                };
                if kind != "document" && trace_low.is_none() {
                    continue;
                }
                let (count, errors, durations) = calls.entry(&event.service).or_default();
                *count += 1;
                *errors += u64::from(status.is_some_and(|s| s >= 500));
                durations.extend(*duration_ms);
            }
            calls
                .into_iter()
                .map(|(service, (calls, errors, mut durations))| {
                    durations.sort_by(f64::total_cmp);
                    (
                        service.to_owned(),
                        calls,
                        calls as f64 / seconds,
                        errors,
                        quantile(&durations, 0.95),
                    )
                })
                .collect::<Vec<_>>()
        });
        let calls: Vec<_> = calls
            .into_iter()
            .filter(|(service, ..)| map.nodes.iter().any(|n| n.id == *service))
            .collect();
        if calls.is_empty() || map.nodes.iter().any(|n| n.id == BROWSER) {
            return;
        }
        for node in &mut map.nodes {
            node.rank += 1;
        }
        map.nodes.insert(
            0,
            MapNode {
                id: BROWSER.to_owned(),
                name: BROWSER.to_owned(),
                kind: BROWSER.to_owned(),
                rank: 0,
                order: 0,
            },
        );
        for (service, calls, rps, errors, p95_ms) in calls {
            map.edges.push(MapEdge {
                from: BROWSER.to_owned(),
                to: service,
                calls,
                rps,
                errors,
                p95_ms,
            });
        }
    }
}
