//! Sessions as journeys: a session's views in order, each with its actions, resources, errors and long
//! tasks, and the backend traces its document and its calls caused.

use std::collections::{HashMap, HashSet};

use protocol::{RumJourneyEvent, RumJourneyView, RumSession, RumSessionSummary};

use super::decode::{location, path_of};
use super::pages::{Routes, failed_document};
use super::{Detail, Event, RumStore};

/// The most events a journey's view lists (the rest are counted in the session's summary only).
pub const MAX_VIEW_EVENTS: usize = 500;
/// The most views a journey lists: the latest (a browser left walking for hours is one long session).
pub const MAX_JOURNEY_VIEWS: usize = 200;

fn summary_of(event: &Event) -> RumSessionSummary {
    RumSessionSummary {
        id: event.session.clone(),
        service: event.service.clone(),
        version: event.version.clone(),
        start_ns: event.date_ns,
        end_ns: event.date_ns,
        views: 0,
        actions: 0,
        resources: 0,
        errors: 0,
        pages: Vec::new(),
    }
}

fn count(summary: &mut RumSessionSummary, event: &Event) {
    summary.start_ns = summary.start_ns.min(event.date_ns);
    summary.end_ns = summary.end_ns.max(event.date_ns);
    match event.detail {
        Detail::View(_) => summary.views += 1,
        Detail::Action { .. } => summary.actions += 1,
        Detail::Resource { .. } => {
            summary.resources += 1;
            // A page whose document answered 5xx failed as surely as one whose script threw: the errors
            // list groups both, and the session counts both.
            summary.errors += u64::from(failed_document(event).is_some());
        }
        Detail::Error { .. } => summary.errors += 1,
        Detail::LongTask { .. } => {}
    }
}

/// A journey's pages: a view's page each, in order of start, a page repeated in a row once.
fn pages_in_order<'a>(
    views: impl Iterator<Item = &'a Event>,
    routes: &Routes,
) -> (Vec<&'a Event>, Vec<String>) {
    let mut views: Vec<&Event> = views.collect();
    views.sort_by_key(|v| v.date_ns);
    let mut pages: Vec<String> = Vec::new();
    for view in &views {
        let page = routes.page(&view.view_url);
        if pages.last() != Some(&page) {
            pages.push(page);
        }
    }
    (views, pages)
}

impl RumStore {
    /// The sessions held, newest first, at most `limit`.
    pub fn sessions(&self, routes: &Routes, limit: usize) -> Vec<RumSessionSummary> {
        self.with_events(|events| {
            let mut sessions: HashMap<&str, (RumSessionSummary, Vec<&Event>)> = HashMap::new();
            for event in events {
                let (summary, views) = sessions
                    .entry(&event.session)
                    .or_insert_with(|| (summary_of(event), Vec::new()));
                count(summary, event);
                if matches!(event.detail, Detail::View(_)) {
                    views.push(event);
                }
            }
            let mut sessions: Vec<(RumSessionSummary, Vec<&Event>)> =
                sessions.into_values().collect();
            sessions.sort_by(|a, b| b.0.end_ns.cmp(&a.0.end_ns).then(a.0.id.cmp(&b.0.id)));
            sessions.truncate(limit);
            sessions
                .into_iter()
                .map(|(mut summary, views)| {
                    summary.pages = pages_in_order(views.into_iter(), routes).1;
                    summary
                })
                .collect()
        })
    }

    /// One session as a journey (its latest [`MAX_JOURNEY_VIEWS`] views); `None` when no event of it is held.
    /// `traces` turns the low 64 bits the browser knew of backend traces into their full ids, for those the
    /// collector holds, all at once.
    pub fn session(
        &self,
        id: &str,
        routes: &Routes,
        traces: impl FnOnce(&HashSet<u64>) -> HashMap<u64, String>,
    ) -> Option<RumSession> {
        let (summary, views, mut by_view) = self.with_events(|events| {
            let mut summary: Option<RumSessionSummary> = None;
            let mut views: Vec<Event> = Vec::new();
            let mut by_view: HashMap<String, Vec<Event>> = HashMap::new();
            for event in events.iter().filter(|e| e.session == id) {
                count(summary.get_or_insert_with(|| summary_of(event)), event);
                if matches!(event.detail, Detail::View(_)) {
                    views.push(event.clone());
                } else {
                    let list = by_view.entry(event.view_id.clone()).or_default();
                    if list.len() < MAX_VIEW_EVENTS {
                        list.push(event.clone());
                    }
                }
            }
            summary.map(|summary| (summary, views, by_view))
        })?;
        let (views, pages) = pages_in_order(views.iter(), routes);
        let shown = &views[views.len().saturating_sub(MAX_JOURNEY_VIEWS)..];
        let lows: HashSet<u64> = (shown.iter())
            .filter_map(|view| by_view.get(&view.view_id))
            .flatten()
            .filter_map(|event| match event.detail {
                Detail::Resource { trace_low, .. } => trace_low,
                _ => None,
            })
            .collect();
        let full = traces(&lows);
        let hex = |low: u64| {
            full.get(&low)
                .cloned()
                .unwrap_or_else(|| format!("{low:016x}"))
        };
        let views = shown
            .iter()
            .map(|view| {
                let Detail::View(figures) = &view.detail else {
                    unreachable!("only views are listed")
                };
                let mut events = by_view.remove(&view.view_id).unwrap_or_default();
                events.sort_by_key(|e| e.date_ns);
                let document = events.iter().find_map(|e| match &e.detail {
                    Detail::Resource {
                        kind,
                        status,
                        trace_low,
                        ..
                    } if kind == "document" => Some((*status, *trace_low)),
                    _ => None,
                });
                RumJourneyView {
                    id: view.view_id.clone(),
                    url: view.view_url.clone(),
                    page: routes.page(&view.view_url),
                    start_ns: view.date_ns,
                    load_ms: figures.load_ms,
                    time_spent_ms: figures.time_spent_ms,
                    status: document.and_then(|d| d.0),
                    trace_id: document.and_then(|d| d.1).map(hex),
                    events: events.iter().map(|e| journey_event(e, &hex)).collect(),
                }
            })
            .collect();
        Some(RumSession {
            summary: RumSessionSummary { pages, ..summary },
            views,
        })
    }
}

fn journey_event(event: &Event, hex: &impl Fn(u64) -> String) -> RumJourneyEvent {
    let mut out = RumJourneyEvent {
        kind: event.kind().name().to_owned(),
        at_ns: event.date_ns,
        name: String::new(),
        duration_ms: None,
        status: None,
        trace_id: None,
        location: None,
    };
    match &event.detail {
        Detail::View(_) => {}
        Detail::Action {
            kind,
            target,
            duration_ms,
        } => {
            out.name = format!("{kind} on {target}");
            out.duration_ms = *duration_ms;
        }
        Detail::Resource {
            kind,
            method,
            url,
            status,
            duration_ms,
            trace_low,
        } => {
            let method = if method.is_empty() { "GET" } else { method };
            out.name = format!("{kind} {method} {}", path_of(url));
            out.duration_ms = *duration_ms;
            out.status = *status;
            out.trace_id = trace_low.map(hex);
        }
        Detail::Error {
            kind,
            message,
            stack,
            ..
        } => {
            out.name = if kind.is_empty() {
                message.clone()
            } else {
                format!("{kind}: {message}")
            };
            out.location = (stack.as_deref())
                .and_then(location)
                .map(|(file, line, _)| format!("{file}:{line}"));
        }
        Detail::LongTask { duration_ms } => {
            out.name = "long task".to_owned();
            out.duration_ms = *duration_ms;
        }
    }
    out
}
