//! Real user monitoring: what the collector works out from the browser's events (Datadog's browser SDK), per
//! page, per front-end error and per session. Durations are milliseconds, times unix nanoseconds.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One page of the site (its path templated as the site's routes: `/products/{slug}`), over the views the
/// collector holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RumPage {
    /// The templated path.
    pub page: String,
    /// The service the page belongs to, as the SDK says.
    pub service: String,
    pub views: u64,
    /// Views whose load time is known.
    pub loaded: u64,
    /// Load time quantiles (nearest rank over the views: never above `load_max_ms`); 0 without a load time.
    pub load_p50_ms: f64,
    /// The web-vitals convention.
    pub load_p75_ms: f64,
    pub load_p95_ms: f64,
    pub load_max_ms: f64,
    /// Largest contentful paint, p75, where the browser reported it.
    pub lcp_p75_ms: Option<f64>,
    /// Interaction to next paint, p75, where the browser reported it.
    pub inp_p75_ms: Option<f64>,
    /// Cumulative layout shift (unitless), p75, where the browser reported it.
    pub cls_p75: Option<f64>,
    /// Views with a front-end error or whose document answered 5xx.
    pub error_views: u64,
    pub error_rate: f64,
    /// Front-end errors on this page's views.
    pub errors: u64,
}

/// `GET /api/rum/pages?sort=latency|errors|requests|name`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RumPagesResponse {
    pub pages: Vec<RumPage>,
}

/// Front-end errors with the same source, message (normalised) and location in the served script.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RumErrorGroup {
    /// Where the SDK saw it: `source` (an uncaught exception), `console`, `network`, `document` (the page
    /// itself answered 5xx), `custom`, `report`.
    pub source: String,
    /// The error's type (`TypeError`), when the SDK knew it.
    pub r#type: String,
    pub message: String,
    /// The script's path as served (`/assets/storefront.js`), from the stack's first frame.
    pub file: Option<String>,
    pub line: Option<u32>,
    pub column: Option<u32>,
    pub count: u64,
    /// The templated pages it happened on, sorted.
    pub pages: Vec<String>,
    pub example_session: String,
    pub example_view: String,
    pub first_seen: u64,
    pub last_seen: u64,
    /// The first stored example's stack, as the SDK sent it.
    pub stack: Option<String>,
}

/// `GET /api/rum/errors`: most frequent first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RumErrorsResponse {
    pub errors: Vec<RumErrorGroup>,
}

/// A browser session, summed up.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RumSessionSummary {
    pub id: String,
    pub service: String,
    pub version: String,
    pub start_ns: u64,
    pub end_ns: u64,
    pub views: u64,
    pub actions: u64,
    pub resources: u64,
    /// Front-end errors and documents that answered 5xx, as `GET /api/rum/errors` groups them.
    pub errors: u64,
    /// The templated pages visited, in order (a page visited twice in a row once).
    pub pages: Vec<String>,
}

/// `GET /api/rum/sessions`: newest first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RumSessionsResponse {
    pub sessions: Vec<RumSessionSummary>,
}

/// `GET /api/rum/sessions/{id}`: a session as a journey, its views in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RumSession {
    pub summary: RumSessionSummary,
    pub views: Vec<RumJourneyView>,
}

/// One page view of a journey, with what happened on it in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RumJourneyView {
    pub id: String,
    pub url: String,
    pub page: String,
    pub start_ns: u64,
    pub load_ms: Option<f64>,
    pub time_spent_ms: Option<f64>,
    /// The HTTP status the document was served with, when the browser reported it.
    pub status: Option<u16>,
    /// The backend trace that rendered the document (32 hex digits when the collector holds it, else the 16
    /// the browser knew).
    pub trace_id: Option<String>,
    pub events: Vec<RumJourneyEvent>,
}

/// An action, resource, error or long task of a view.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RumJourneyEvent {
    /// `action`, `resource`, `error` or `long_task`.
    pub kind: String,
    pub at_ns: u64,
    /// What it was: `click on Add To Cart`, `POST /api/v2/storefront/cart/add_item`, the error's message.
    pub name: String,
    pub duration_ms: Option<f64>,
    pub status: Option<u16>,
    /// The backend trace a resource caused (as [`RumJourneyView::trace_id`]).
    pub trace_id: Option<String>,
    /// An error's `file:line` in the served script.
    pub location: Option<String>,
}

/// What happened to the browser events sent to the collector: each accepted event is stored, merged into
/// the view it updates, or evicted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RumStats {
    pub capacity: u64,
    /// Events of a known type read from accepted batches.
    pub accepted: u64,
    /// Events held now.
    pub stored: u64,
    /// View updates folded into the view they update (the newest document version kept).
    pub merged: u64,
    pub evicted: u64,
    /// Stored events by type.
    pub by_type: BTreeMap<String, u64>,
    /// Events of a type the collector does not keep (`vital`, `telemetry`, …), ignored.
    pub ignored: u64,
    /// Lines refused one by one inside batches whose other lines were accepted, by reason.
    pub rejected_events: BTreeMap<String, u64>,
    /// Whole batches refused, by reason.
    pub rejected: BTreeMap<String, u64>,
}
