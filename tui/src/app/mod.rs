//! The dashboard's state, and the only two ways it changes: [`App::apply`] for data fetched from the
//! collector and [`App::handle_key`] / [`App::handle_mouse`] for input. Neither does I/O: what needs some
//! (fetch a trace, flip a fault) comes back as an [`Action`] for the event loop to perform.
//!
//! This file holds the state and its data side; `keys` the input, `filter` the Traces tab's filter line,
//! `browser` the Browser tab's state and keys, `guide` the guide pane's (`lab workshop`).

mod browser;
mod filter;
mod guide;
mod keys;
mod logs;

use std::collections::BTreeMap;

use protocol::{ServiceStats, TraceSearch, TraceSummary, Window};
use ratatui::layout::Rect;

use crate::source::{Overview, default_filter};
use crate::theme::Theme;
use crate::trace::{Focus, TraceScreen};

pub use browser::{BrowserRow, BrowserState, Journey, JourneyRow};
pub use filter::{describe, filter_text, parse_filter, trace_id};
pub use guide::{GuidePane, GuideReply, GuideRequest};
pub use keys::WINDOWS;
pub use logs::{
    LOG_LIMIT, LogsState, default_log_filter, describe_logs, log_filter_text, parse_log_filter,
};

/// The tabs, in the order of their number keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tab {
    Map,
    Services,
    Traces,
    Trace,
    Errors,
    Insights,
    Deployments,
    Browser,
    Logs,
}

impl Tab {
    pub const ALL: [Tab; 9] = [
        Tab::Map,
        Tab::Services,
        Tab::Traces,
        Tab::Trace,
        Tab::Errors,
        Tab::Insights,
        Tab::Deployments,
        Tab::Browser,
        Tab::Logs,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Tab::Map => "Map",
            Tab::Services => "Services",
            Tab::Traces => "Traces",
            Tab::Trace => "Trace",
            Tab::Errors => "Errors",
            Tab::Insights => "Insights",
            Tab::Deployments => "Deployments",
            Tab::Browser => "Browser",
            Tab::Logs => "Logs",
        }
    }

    /// The title where the tab line is tight (80 columns): the long ones shortened.
    pub fn short_title(self) -> &'static str {
        match self {
            Tab::Deployments => "Deploys",
            Tab::Browser => "RUM",
            tab => tab.title(),
        }
    }

    pub fn index(self) -> usize {
        Tab::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }
}

/// A fault of the shop, as the fault panel shows it (`lab up` only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    pub name: String,
    pub broken: bool,
    pub description: String,
    /// The service that owns it, and the version that service runs now.
    pub service: String,
    pub version: String,
}

/// What the fetching side answers.
#[derive(Debug)]
pub enum Update {
    /// A refresh: everything the tabs show, for the parameters last asked for.
    Refreshed(Box<Refresh>),
    /// A trace, ready to show.
    Trace(Box<TraceScreen>),
    /// The trace asked for could not be fetched.
    TraceFailed(String),
    /// The trace asked for is not held by the collector (evicted, or never received).
    TraceMissing(String),
    /// The outcome of an action, for the status line (a fault flipped).
    Done(String),
    /// A fetch failed; the figures on screen are the last good ones.
    Failed(String),
    /// The lab's reply to the guide pane.
    Guide(GuideReply),
}

/// One refresh's data.
#[derive(Debug, Default)]
pub struct Refresh {
    pub overview: Overview,
    /// p95 of each service per 10-second bucket, oldest first, for the sparklines.
    pub latency: BTreeMap<String, Vec<f64>>,
    pub traces: Vec<TraceSummary>,
    /// The endpoints of the open service, when one is open.
    pub endpoints: Option<(String, Vec<ServiceStats>)>,
    /// The shop's faults, when the dashboard can flip them.
    pub faults: Option<Vec<Fault>>,
    /// The journey of the open browser session, when one is open (`None` inside: no longer held).
    pub journey: Option<Option<protocol::RumSession>>,
    /// The workshop's steps, when the dashboard has a guide (`lab workshop`).
    pub guide: Option<protocol::WorkshopResponse>,
    /// The class, in the instructor's lab.
    pub class: Option<protocol::ClassResponse>,
    /// The Logs tab's records, newest first, when it is shown (`None`: not fetched, the last ones stay).
    pub logs: Option<Vec<protocol::LogView>>,
    /// The [`Params::generation`] it was fetched for: an answer to older parameters is dropped.
    pub generation: u64,
}

/// What the fetching side needs to know to refresh.
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    pub window: Window,
    pub filter: TraceSearch,
    /// The service whose page is open.
    pub service: Option<String>,
    /// The browser session whose journey is open.
    pub session: Option<String>,
    /// The Logs tab's search (within the window), while the tab is shown: its records are fetched only then.
    pub logs: Option<protocol::query::LogSearch>,
    pub paused: bool,
    /// Counts parameter changes, so an answer fetched before the latest change is not shown under it.
    pub generation: u64,
}

impl Params {
    /// The Traces tab's search within the window: a filter without a `since` of its own lists the traces of
    /// the window only, as every other tab's figures are.
    pub fn trace_search(&self) -> TraceSearch {
        match (self.window, &self.filter.since) {
            (Window::Last(ns), None) => TraceSearch {
                since: Some(protocol::query::Since::Ago(ns)),
                ..self.filter.clone()
            },
            _ => self.filter.clone(),
        }
    }
}

/// An effect for the event loop to carry out.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Quit,
    /// Refresh now with these parameters (and go on refreshing with them).
    Refresh(Box<Params>),
    /// Fetch a trace and open it on the Trace tab.
    OpenTrace {
        trace_id: String,
        focus: Focus,
    },
    /// Flip a fault of the shop: a new version of its service.
    SetFault {
        name: String,
        broken: bool,
    },
    /// Switch an exporter of the collector (`datadog`, `otlp`) on or off.
    SetExport {
        name: String,
        enabled: bool,
    },
    /// Answer a step of the workshop, or ask for its next hint.
    Guide(GuideRequest),
}

/// The Services table's columns, by which it can be sorted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    Name,
    Kind,
    Requests,
    Rate,
    Errors,
    P50,
    P95,
    P99,
}

impl Column {
    pub const ALL: [Column; 8] = [
        Column::Name,
        Column::Kind,
        Column::Requests,
        Column::Rate,
        Column::Errors,
        Column::P50,
        Column::P95,
        Column::P99,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Column::Name => "name",
            Column::Kind => "type",
            Column::Requests => "requests",
            Column::Rate => "req/s",
            Column::Errors => "error %",
            Column::P50 => "p50",
            Column::P95 => "p95",
            Column::P99 => "p99",
        }
    }

    /// Figures sort largest first, names A to Z, until inverted.
    fn compare(self, a: &ServiceStats, b: &ServiceStats) -> std::cmp::Ordering {
        let f = |x: f64, y: f64| y.total_cmp(&x);
        match self {
            Column::Name => a.name.cmp(&b.name),
            Column::Kind => a.kind.cmp(&b.kind),
            Column::Requests => b.requests.cmp(&a.requests),
            Column::Rate => f(a.rps, b.rps),
            Column::Errors => f(a.error_rate, b.error_rate).then(b.errors.cmp(&a.errors)),
            Column::P50 => f(a.p50_ms, b.p50_ms),
            Column::P95 => f(a.p95_ms, b.p95_ms),
            Column::P99 => f(a.p99_ms, b.p99_ms),
        }
        .then_with(|| a.name.cmp(&b.name))
    }
}

/// The page of one service, opened from the map or the Services table.
#[derive(Clone, Debug, PartialEq)]
pub struct ServicePage {
    pub name: String,
    /// Its endpoints (empty until fetched, and for databases and peers).
    pub endpoints: Vec<ServiceStats>,
    pub selected: usize,
}

/// A filter line (the Traces tab's, the Logs tab's) while it is being typed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FilterInput {
    pub text: String,
    /// Why the last text was refused, if it was.
    pub problem: Option<String>,
}

impl FilterInput {
    /// Typing: a character, Backspace, Ctrl-U to clear.
    fn edit(&mut self, key: ratatui::crossterm::event::KeyEvent) {
        use ratatui::crossterm::event::{KeyCode, KeyModifiers};
        match key.code {
            KeyCode::Backspace => {
                self.text.pop();
                self.problem = None;
            }
            KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                self.text.clear();
            }
            KeyCode::Char(c) if !c.is_control() => {
                self.text.push(c);
                self.problem = None;
            }
            _ => {}
        }
    }
}

/// The fault panel, open over any tab in `lab up`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultPanel {
    pub selected: usize,
    /// Whether the broken faults' descriptions show (`d`): hidden at first, since they answer the
    /// workshop's first three steps; a fixed fault's always shows.
    pub spoilers: bool,
}

/// Everything the dashboard shows, as plain data.
#[derive(Debug)]
pub struct App {
    pub theme: Theme,
    /// Where the data comes from, for the status line.
    pub source: String,
    pub live: bool,
    pub paused: bool,
    pub tab: Tab,
    pub window: Window,
    /// Whether `w` is waiting for the window's key (1 1m, 2 5m, 3 15m, 4 all).
    pub picking_window: bool,
    pub overview: Overview,
    pub latency: BTreeMap<String, Vec<f64>>,
    /// Whether anything was received yet (before that, views say they are waiting).
    pub loaded: bool,

    pub map_selected: usize,

    pub services_selected: usize,
    pub sort: Column,
    pub inverted: bool,
    pub service_page: Option<ServicePage>,

    pub traces: Vec<TraceSummary>,
    pub traces_selected: usize,
    pub filter: TraceSearch,
    pub filter_input: Option<FilterInput>,

    pub trace: Option<TraceScreen>,
    /// The area below the tabs, where the trace screen draws, as the event loop last said ([`App::resize`]).
    pub body: Rect,
    /// The trace being fetched, or why the last one could not be shown.
    pub trace_status: Option<String>,
    /// The tab to go back to from the Trace tab.
    pub trace_from: Tab,

    pub errors_selected: usize,
    pub insights_selected: usize,
    pub deployments_selected: usize,
    pub browser: BrowserState,
    /// The Logs tab's records, newest first, and its state.
    pub logs: Vec<protocol::LogView>,
    pub logs_tab: LogsState,

    /// The shop's faults: `None` where the dashboard cannot flip them (a recording, a remote collector).
    pub faults: Option<Vec<Fault>>,
    pub fault_panel: Option<FaultPanel>,
    /// The guide pane: `None` where there is no workshop (anything but `lab workshop`).
    pub guide: Option<GuidePane>,

    pub help: bool,
    /// The last outcome or problem, for the status line, and whether it is a problem.
    pub message: Option<(String, bool)>,
    /// When the message came, so refreshes can retire it after a while.
    message_at: Option<std::time::Instant>,
    /// Bumped at each parameter change; see [`Params::generation`].
    pub generation: u64,
    /// A new trace search is on its way (the list is empty until it comes).
    pub searching: bool,
    /// The trace asked for, and the tab it was asked from: it opens there only if the user is still there.
    trace_wanted: Option<(String, Tab)>,
}

/// How long a status message stays before a refresh retires it.
const MESSAGE_FOR: std::time::Duration = std::time::Duration::from_secs(6);

impl App {
    /// A dashboard over `source`; `live` sources refresh on their own, and start with the last 5 minutes
    /// (a recording starts with all of it).
    pub fn new(source: impl Into<String>, live: bool, theme: Theme) -> App {
        App {
            theme,
            source: source.into(),
            live,
            paused: false,
            tab: Tab::Map,
            window: Window::parse(if live { "5m" } else { "all" }).unwrap_or(Window::All),
            picking_window: false,
            overview: Overview::default(),
            latency: BTreeMap::new(),
            loaded: false,
            map_selected: 0,
            services_selected: 0,
            sort: Column::P95,
            inverted: false,
            service_page: None,
            traces: Vec::new(),
            traces_selected: 0,
            filter: default_filter(),
            filter_input: None,
            trace: None,
            body: Rect::default(),
            trace_status: None,
            trace_from: Tab::Traces,
            errors_selected: 0,
            insights_selected: 0,
            deployments_selected: 0,
            browser: BrowserState::default(),
            logs: Vec::new(),
            logs_tab: LogsState::default(),
            faults: None,
            fault_panel: None,
            guide: None,
            help: false,
            message: None,
            message_at: None,
            generation: 0,
            searching: false,
            trace_wanted: None,
        }
    }

    /// What the fetching side should fetch now.
    pub fn params(&self) -> Params {
        Params {
            window: self.window,
            filter: self.filter.clone(),
            service: self.service_page.as_ref().map(|p| p.name.clone()),
            session: self.browser.journey.as_ref().map(|j| j.id.clone()),
            logs: (self.tab == Tab::Logs).then(|| self.log_search()),
            paused: self.paused,
            generation: self.generation,
        }
    }

    /// Asks for data fetched with the parameters as they now are.
    fn refresh(&mut self) -> Option<Action> {
        self.generation += 1;
        Some(Action::Refresh(Box::new(self.params())))
    }

    fn say(&mut self, message: impl Into<String>, problem: bool) {
        self.message = Some((message.into(), problem));
        self.message_at = Some(std::time::Instant::now());
    }

    /// The window's name as `w` shows it.
    pub fn window_name(&self) -> &'static str {
        match self.window {
            Window::All => "all",
            Window::Last(ns) => match ns / 60_000_000_000 {
                1 => "1m",
                5 => "5m",
                _ => "15m",
            },
        }
    }

    // ---- data ----

    /// Takes in what the fetching side sent.
    pub fn apply(&mut self, update: Update) {
        match update {
            Update::Refreshed(refresh) => {
                if refresh.generation < self.generation {
                    // Fetched for parameters since changed: the answer to the new ones follows.
                    return;
                }
                let Refresh {
                    overview,
                    latency,
                    traces,
                    endpoints,
                    faults,
                    journey,
                    guide,
                    class,
                    logs,
                    generation: _,
                } = *refresh;
                if let Some(workshop) = guide {
                    self.guide_refreshed(workshop);
                }
                if let (Some(class), Some(pane)) = (class, &mut self.guide) {
                    pane.class = Some(class);
                }
                let keys = self.selection_keys();
                self.overview = overview;
                self.latency = latency;
                self.traces = traces;
                self.searching = false;
                if let (Some(page), Some((name, endpoints))) = (&mut self.service_page, endpoints)
                    && page.name == name
                {
                    page.endpoints = endpoints;
                }
                if faults.is_some() {
                    self.faults = faults;
                }
                if let Some(journey) = journey {
                    self.take_journey(journey);
                }
                if let Some(logs) = logs {
                    self.take_logs(logs);
                }
                self.loaded = true;
                self.restore_selection(keys);
                if self
                    .message_at
                    .is_some_and(|at| at.elapsed() >= MESSAGE_FOR)
                {
                    (self.message, self.message_at) = (None, None);
                }
            }
            Update::Trace(screen) => {
                let wanted = self.trace_wanted.take();
                let here = wanted.as_ref().is_none_or(|(id, from)| {
                    filter::names_trace(id, screen.trace_id()) && *from == self.tab
                });
                self.trace_status = None;
                let mut screen = *screen;
                screen.resize(self.body);
                self.trace = Some(screen);
                if here || self.tab == Tab::Trace {
                    self.tab = Tab::Trace;
                } else {
                    self.say("the trace is ready: 4 shows it", false);
                }
            }
            Update::TraceMissing(id) => {
                self.trace_wanted = None;
                let message =
                    format!("trace {id} is not held by the collector (evicted, or never received)");
                self.trace_status = Some(message.clone());
                self.say(message, true);
            }
            Update::TraceFailed(message) => {
                self.trace_wanted = None;
                self.trace_status = None;
                self.say(message, true);
            }
            Update::Done(message) => self.say(message, false),
            Update::Failed(message) => self.say(message, true),
            Update::Guide(reply) => self.guide_reply(reply),
        }
    }

    /// What each list has selected, by identity rather than position, since live lists reorder.
    fn selection_keys(&self) -> [Option<String>; 6] {
        [
            self.map_order()
                .get(self.map_selected)
                .map(|&i| self.overview.map.nodes[i].id.clone()),
            self.sorted_services()
                .get(self.services_selected)
                .map(|s| s.name.clone()),
            self.traces
                .get(self.traces_selected)
                .map(|t| t.trace_id.clone()),
            self.overview
                .errors
                .get(self.errors_selected)
                .map(error_key),
            self.overview
                .n_plus_one
                .get(self.insights_selected)
                .map(|f| f.fingerprint.clone()),
            self.overview
                .deployments
                .get(self.deployments_selected)
                .map(|d| format!("{}\n{}", d.service, d.version)),
        ]
    }

    /// Selects again what `keys` named, where it still is; otherwise keeps the position.
    fn restore_selection(&mut self, keys: [Option<String>; 6]) {
        let [map, service, trace, error, finding, deployment] = keys;
        let find = |key: Option<String>, items: Vec<String>, selected: &mut usize| {
            if let Some(at) = key.and_then(|key| items.iter().position(|k| *k == key)) {
                *selected = at;
            }
        };
        let order = self.map_order();
        let nodes = &self.overview.map.nodes;
        let ids = order.iter().map(|&i| nodes[i].id.clone()).collect();
        find(map, ids, &mut self.map_selected);
        let names = self
            .sorted_services()
            .iter()
            .map(|s| s.name.clone())
            .collect();
        find(service, names, &mut self.services_selected);
        let ids = self.traces.iter().map(|t| t.trace_id.clone()).collect();
        find(trace, ids, &mut self.traces_selected);
        let groups = self.overview.errors.iter().map(error_key).collect();
        find(error, groups, &mut self.errors_selected);
        let prints = self
            .overview
            .n_plus_one
            .iter()
            .map(|f| f.fingerprint.clone())
            .collect();
        find(finding, prints, &mut self.insights_selected);
        let versions = self
            .overview
            .deployments
            .iter()
            .map(|d| format!("{}\n{}", d.service, d.version))
            .collect();
        find(deployment, versions, &mut self.deployments_selected);
        self.clamp();
    }

    /// Keeps every selection inside its list.
    fn clamp(&mut self) {
        let clamp =
            |selected: &mut usize, len: usize| *selected = (*selected).min(len.saturating_sub(1));
        clamp(&mut self.map_selected, self.overview.map.nodes.len());
        clamp(&mut self.services_selected, self.overview.services.len());
        clamp(&mut self.traces_selected, self.traces.len());
        clamp(&mut self.errors_selected, self.overview.errors.len());
        clamp(&mut self.insights_selected, self.overview.n_plus_one.len());
        clamp(
            &mut self.deployments_selected,
            self.overview.deployments.len(),
        );
        let rows = self.browser_rows().len();
        clamp(&mut self.browser.selected, rows);
        if let Some(page) = &self.service_page {
            let len = page.endpoints.len() + self.page_errors(&page.name).len();
            if let Some(page) = &mut self.service_page {
                clamp(&mut page.selected, len);
            }
        }
        if let (Some(panel), Some(faults)) = (&mut self.fault_panel, &self.faults) {
            clamp(&mut panel.selected, faults.len());
        }
    }

    // ---- derived data the views and keys share ----

    /// The Services table's rows in their shown order.
    pub fn sorted_services(&self) -> Vec<&ServiceStats> {
        let mut rows: Vec<&ServiceStats> = self.overview.services.iter().collect();
        rows.sort_by(|a, b| {
            let order = self.sort.compare(a, b);
            if self.inverted {
                order.reverse()
            } else {
                order
            }
        });
        rows
    }

    /// The map's nodes in selection order: layer by layer, top to bottom.
    pub fn map_order(&self) -> Vec<usize> {
        let nodes = &self.overview.map.nodes;
        let mut order: Vec<usize> = (0..nodes.len()).collect();
        order.sort_by_key(|&i| (nodes[i].rank, nodes[i].order));
        order
    }

    /// The stats of the service, database or peer called `name`.
    pub fn stats_of(&self, name: &str) -> Option<&ServiceStats> {
        self.overview.services.iter().find(|s| s.name == name)
    }

    /// The error groups of `service`, as its page lists them (after its endpoints).
    pub fn page_errors(&self, service: &str) -> Vec<&protocol::ErrorGroup> {
        self.overview
            .errors
            .iter()
            .filter(|g| g.service == service)
            .collect()
    }

    /// The number of rows of the list the current tab shows, and its selection.
    fn list(&mut self) -> Option<(&mut usize, usize)> {
        Some(match self.tab {
            Tab::Map => (&mut self.map_selected, self.overview.map.nodes.len()),
            Tab::Services => {
                let errors = self
                    .service_page
                    .as_ref()
                    .map_or(0, |page| self.page_errors(&page.name).len());
                match &mut self.service_page {
                    Some(page) => (&mut page.selected, page.endpoints.len() + errors),
                    None => (&mut self.services_selected, self.overview.services.len()),
                }
            }
            Tab::Traces => (&mut self.traces_selected, self.traces.len()),
            Tab::Errors => (&mut self.errors_selected, self.overview.errors.len()),
            Tab::Insights => (&mut self.insights_selected, self.overview.n_plus_one.len()),
            Tab::Deployments => (
                &mut self.deployments_selected,
                self.overview.deployments.len(),
            ),
            Tab::Browser => self.browser_list(),
            Tab::Logs => (&mut self.logs_tab.selected, self.logs.len()),
            Tab::Trace => return None,
        })
    }

    /// Tells the state where the body of the screen is (the area below the tabs), which the trace screen
    /// pages and scrolls by. The event loop calls it before every draw.
    pub fn resize(&mut self, body: Rect) {
        self.body = body;
        if let Some(screen) = &mut self.trace {
            screen.resize(body);
        }
    }
}

/// What a click landed on, as the views that drew the screen answer it (`view::hit`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Tab(Tab),
    /// A row of the current tab's list (a node, on the map).
    Row(usize),
    /// Something on the trace screen.
    Trace(crate::trace::Target),
}

/// An error group's identity across refreshes (its message is the latest occurrence's, so not part of it).
fn error_key(group: &protocol::ErrorGroup) -> String {
    format!(
        "{}\n{}\n{}\n{}",
        group.service, group.r#type, group.file, group.line
    )
}
