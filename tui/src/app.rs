//! The dashboard's state, and the only two ways it changes: [`App::apply`] for data fetched from the
//! collector and [`App::handle_key`] / [`App::handle_mouse`] for input. Neither does I/O: what needs some
//! (fetch a trace, flip a fault) comes back as an [`Action`] for the event loop to perform.

use std::collections::BTreeMap;

use protocol::ServiceStats;
use protocol::TraceSummary;
use protocol::Window;
use ratatui::crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::layout::Rect;

use crate::source::{Overview, default_filter};
use crate::theme::Theme;
use crate::trace::{Focus, TraceScreen};
use protocol::{TraceSearch, TraceSort};

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
}

impl Tab {
    pub const ALL: [Tab; 7] = [
        Tab::Map,
        Tab::Services,
        Tab::Traces,
        Tab::Trace,
        Tab::Errors,
        Tab::Insights,
        Tab::Deployments,
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
    pub paused: bool,
    /// Counts parameter changes, so an answer fetched before the latest change is not shown under it.
    pub generation: u64,
}

/// An effect for the event loop to carry out.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Quit,
    /// Refresh now with these parameters (and go on refreshing with them).
    Refresh(Params),
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

/// The filter line of the Traces tab while it is being typed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FilterInput {
    pub text: String,
    /// Why the last text was refused, if it was.
    pub problem: Option<String>,
}

/// The fault panel, open over any tab in `lab up`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultPanel {
    pub selected: usize,
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

    /// The shop's faults: `None` where the dashboard cannot flip them (a recording, a remote collector).
    pub faults: Option<Vec<Fault>>,
    pub fault_panel: Option<FaultPanel>,

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

/// The windows `w` cycles through.
const WINDOWS: [&str; 4] = ["1m", "5m", "15m", "all"];

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
            faults: None,
            fault_panel: None,
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
            paused: self.paused,
            generation: self.generation,
        }
    }

    /// Asks for data fetched with the parameters as they now are.
    fn refresh(&mut self) -> Option<Action> {
        self.generation += 1;
        Some(Action::Refresh(self.params()))
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
                    generation: _,
                } = *refresh;
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
                let here = wanted
                    .as_ref()
                    .is_none_or(|(id, from)| id == screen.trace_id() && *from == self.tab);
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

    /// Changes the Services table's order and selects its new first row: a new order is asked for to see
    /// what now comes first.
    fn resort(&mut self, sort: Column, inverted: bool) {
        (self.sort, self.inverted) = (sort, inverted);
        self.services_selected = 0;
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
            Tab::Trace => return None,
        })
    }

    // ---- input ----

    /// Handles a key press; what needs I/O comes back as an action.
    pub fn handle_key(&mut self, key: KeyEvent) -> Option<Action> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return Some(Action::Quit);
        }
        if self.help {
            // Any key closes the help; `q` still quits.
            self.help = false;
            return (key.code == KeyCode::Char('q')).then_some(Action::Quit);
        }
        if self.filter_input.is_some() {
            return self.filter_key(key);
        }
        if self.fault_panel.is_some() {
            return self.fault_key(key);
        }
        if self.tab == Tab::Trace
            && let Some(screen) = &mut self.trace
            && screen.handle_key(key)
        {
            return None;
        }
        match key.code {
            KeyCode::Char('q') => return Some(Action::Quit),
            KeyCode::Char('?') => self.help = true,
            KeyCode::Char(' ') if self.live => {
                self.paused = !self.paused;
                // The same data, just frozen or not: no new generation.
                return Some(Action::Refresh(self.params()));
            }
            KeyCode::Char(c @ '1'..='7') => {
                self.tab = Tab::ALL[c as usize - '1' as usize];
            }
            KeyCode::Tab => self.tab = Tab::ALL[(self.tab.index() + 1) % Tab::ALL.len()],
            KeyCode::BackTab => {
                self.tab = Tab::ALL[(self.tab.index() + Tab::ALL.len() - 1) % Tab::ALL.len()];
            }
            KeyCode::Char('w') => {
                let next = (WINDOWS
                    .iter()
                    .position(|w| *w == self.window_name())
                    .unwrap_or(0)
                    + 1)
                    % WINDOWS.len();
                self.window = Window::parse(WINDOWS[next]).unwrap_or(Window::All);
                return self.refresh();
            }
            KeyCode::Char('f') if self.faults.is_some() => {
                self.fault_panel = Some(FaultPanel::default());
            }
            KeyCode::Esc => return self.back(),
            KeyCode::Enter => return self.enter(),
            _ => return self.tab_key(key),
        }
        None
    }

    /// Esc: close what is open, or go back where the Trace tab was opened from.
    fn back(&mut self) -> Option<Action> {
        match self.tab {
            Tab::Services if self.service_page.is_some() => {
                self.service_page = None;
                return self.refresh();
            }
            Tab::Trace => self.tab = self.trace_from,
            Tab::Traces
                if TraceSearch {
                    sort: TraceSort::Start,
                    ..self.filter.clone()
                } != default_filter() =>
            {
                self.filter = TraceSearch {
                    sort: self.filter.sort,
                    ..default_filter()
                };
                self.new_search();
                return self.refresh();
            }
            _ => {}
        }
        None
    }

    fn open_trace(&mut self, trace_id: String, focus: Focus) -> Option<Action> {
        self.trace_from = self.tab;
        self.trace_wanted = Some((trace_id.clone(), self.tab));
        self.trace_status = Some(format!("fetching trace {trace_id}…"));
        Some(Action::OpenTrace { trace_id, focus })
    }

    fn open_service(&mut self, name: String) -> Option<Action> {
        self.tab = Tab::Services;
        self.service_page = Some(ServicePage {
            name,
            endpoints: Vec::new(),
            selected: 0,
        });
        self.refresh()
    }

    /// Enter: drill into the selected row.
    fn enter(&mut self) -> Option<Action> {
        match self.tab {
            Tab::Map => {
                let order = self.map_order();
                let node = order
                    .get(self.map_selected)
                    .and_then(|&i| self.overview.map.nodes.get(i))?;
                let name = node.name.clone();
                self.open_service(name)
            }
            Tab::Services => match &self.service_page {
                Some(page) if page.selected >= page.endpoints.len() => {
                    let group = *self
                        .page_errors(&page.name)
                        .get(page.selected - page.endpoints.len())?;
                    let (id, focus) = example_trace(group);
                    self.open_trace(id, focus)
                }
                Some(page) => {
                    let endpoint = page.endpoints.get(page.selected)?;
                    self.filter = TraceSearch {
                        service: Some(page.name.clone()),
                        endpoint: Some(endpoint.name.clone()),
                        ..default_filter()
                    };
                    self.tab = Tab::Traces;
                    self.new_search();
                    self.refresh()
                }
                None => {
                    let name = self
                        .sorted_services()
                        .get(self.services_selected)?
                        .name
                        .clone();
                    self.open_service(name)
                }
            },
            Tab::Traces => {
                let id = self.traces.get(self.traces_selected)?.trace_id.clone();
                self.open_trace(id, Focus::None)
            }
            Tab::Errors => {
                let group = self.overview.errors.get(self.errors_selected)?;
                let (id, focus) = example_trace(group);
                self.open_trace(id, focus)
            }
            Tab::Insights => {
                let finding = self.overview.n_plus_one.get(self.insights_selected)?;
                let id = finding.traces.first()?.clone();
                let query = finding.query.clone();
                self.open_trace(id, Focus::Repeated(query))
            }
            Tab::Deployments => {
                let name = self
                    .overview
                    .deployments
                    .get(self.deployments_selected)?
                    .service
                    .clone();
                self.open_service(name)
            }
            Tab::Trace => None,
        }
    }

    /// Keys that mean something on one tab only: moving in its list, sorting, filtering.
    fn tab_key(&mut self, key: KeyEvent) -> Option<Action> {
        let page = 10;
        if let Some((selected, len)) = self.list() {
            let last = len.saturating_sub(1);
            let moved = match key.code {
                KeyCode::Down | KeyCode::Char('j') => Some((*selected + 1).min(last)),
                KeyCode::Up | KeyCode::Char('k') => Some(selected.saturating_sub(1)),
                KeyCode::PageDown => Some((*selected + page).min(last)),
                KeyCode::PageUp => Some(selected.saturating_sub(page)),
                KeyCode::Home | KeyCode::Char('g') => Some(0),
                KeyCode::End | KeyCode::Char('G') => Some(last),
                _ => None,
            };
            if let Some(to) = moved {
                *selected = to;
                return None;
            }
        }
        match (self.tab, key.code) {
            (Tab::Services, KeyCode::Left | KeyCode::Char('h')) if self.service_page.is_none() => {
                let at = Column::ALL
                    .iter()
                    .position(|c| *c == self.sort)
                    .unwrap_or(0);
                let sort = Column::ALL[(at + Column::ALL.len() - 1) % Column::ALL.len()];
                self.resort(sort, self.inverted);
            }
            (Tab::Services, KeyCode::Right | KeyCode::Char('l')) if self.service_page.is_none() => {
                let at = Column::ALL
                    .iter()
                    .position(|c| *c == self.sort)
                    .unwrap_or(0);
                self.resort(Column::ALL[(at + 1) % Column::ALL.len()], self.inverted);
            }
            (Tab::Services, KeyCode::Char('i')) if self.service_page.is_none() => {
                self.resort(self.sort, !self.inverted);
            }
            (Tab::Services, KeyCode::Char('p')) if self.service_page.is_none() => {
                self.resort(Column::P95, false);
            }
            (Tab::Services, KeyCode::Char('e')) if self.service_page.is_none() => {
                self.resort(Column::Errors, false);
            }
            (Tab::Services, KeyCode::Char('t')) => {
                let service = match &self.service_page {
                    Some(page) => page.name.clone(),
                    None => self
                        .sorted_services()
                        .get(self.services_selected)?
                        .name
                        .clone(),
                };
                return self.search_service(service);
            }
            (Tab::Map, KeyCode::Char('t')) => {
                let order = self.map_order();
                let node = order
                    .get(self.map_selected)
                    .and_then(|&i| self.overview.map.nodes.get(i))?;
                if node.kind != "service" {
                    let message = format!(
                        "{} sends no spans: its calls are in the traces of the services calling it",
                        node.name
                    );
                    self.say(message, false);
                    return None;
                }
                let service = node.name.clone();
                return self.search_service(service);
            }
            (Tab::Traces, KeyCode::Char('/')) => {
                self.filter_input = Some(FilterInput {
                    text: filter_text(&self.filter),
                    problem: None,
                });
            }
            (Tab::Traces, KeyCode::Char('s')) => {
                self.filter.sort = match self.filter.sort {
                    TraceSort::Start => TraceSort::Duration,
                    TraceSort::Duration => TraceSort::Start,
                };
                self.new_search();
                return self.refresh();
            }
            (Tab::Traces, KeyCode::Char('e')) => {
                self.filter.error = match self.filter.error {
                    Some(true) => None,
                    _ => Some(true),
                };
                self.new_search();
                return self.refresh();
            }
            _ => {}
        }
        None
    }

    /// Starts the trace list over for a new filter or order: the old list (and the selection that follows its
    /// trace id across refreshes) goes, the first row of the new one is selected when it arrives.
    fn new_search(&mut self) {
        self.traces.clear();
        self.traces_selected = 0;
        self.searching = true;
    }

    /// Lists the traces through a service.
    fn search_service(&mut self, service: String) -> Option<Action> {
        self.filter = TraceSearch {
            service: Some(service),
            sort: self.filter.sort,
            ..default_filter()
        };
        self.tab = Tab::Traces;
        self.new_search();
        self.refresh()
    }

    fn filter_key(&mut self, key: KeyEvent) -> Option<Action> {
        let input = self.filter_input.as_mut()?;
        match key.code {
            KeyCode::Esc => self.filter_input = None,
            KeyCode::Enter if trace_id(&input.text).is_some() => {
                // A trace id (from a report, a log line, another tool): that trace.
                let id = trace_id(&input.text).unwrap_or_default();
                self.filter_input = None;
                return self.open_trace(id, Focus::None);
            }
            KeyCode::Enter => match parse_filter(&input.text) {
                Ok(mut filter) => {
                    filter.sort = self.filter.sort;
                    self.filter = filter;
                    self.filter_input = None;
                    self.new_search();
                    return self.refresh();
                }
                Err(problem) => input.problem = Some(problem),
            },
            KeyCode::Backspace => {
                input.text.pop();
                input.problem = None;
            }
            KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                input.text.clear();
            }
            KeyCode::Char(c) if !c.is_control() => {
                input.text.push(c);
                input.problem = None;
            }
            _ => {}
        }
        None
    }

    fn fault_key(&mut self, key: KeyEvent) -> Option<Action> {
        let faults = self.faults.as_ref()?;
        let panel = self.fault_panel.as_mut()?;
        let last = faults.len().saturating_sub(1);
        match key.code {
            KeyCode::Esc | KeyCode::Char('f') => self.fault_panel = None,
            KeyCode::Char('q') => return Some(Action::Quit),
            KeyCode::Down | KeyCode::Char('j') => panel.selected = (panel.selected + 1).min(last),
            KeyCode::Up | KeyCode::Char('k') => panel.selected = panel.selected.saturating_sub(1),
            KeyCode::Enter => {
                let fault = faults.get(panel.selected)?;
                let action = Action::SetFault {
                    name: fault.name.clone(),
                    broken: !fault.broken,
                };
                let message = format!(
                    "{} {}…",
                    if fault.broken { "fixing" } else { "breaking" },
                    fault.name
                );
                self.say(message, false);
                return Some(action);
            }
            // Anything else closes the panel and means what it means elsewhere (a tab's number, `?`).
            _ => {
                self.fault_panel = None;
                return self.handle_key(key);
            }
        }
        None
    }

    /// Tells the state where the body of the screen is (the area below the tabs), which the trace screen
    /// pages and scrolls by. The event loop calls it before every draw.
    pub fn resize(&mut self, body: Rect) {
        self.body = body;
        if let Some(screen) = &mut self.trace {
            screen.resize(body);
        }
    }

    /// Handles a mouse event; `target` is what the views say lies under it (`view::hit`): a click on a tab
    /// opens it, on a row selects it, on the selected row drills in; the wheel moves the selection.
    pub fn handle_mouse(&mut self, event: MouseEvent, target: Option<Target>) -> Option<Action> {
        match event.kind {
            MouseEventKind::ScrollDown => {
                return self.tab_key(KeyEvent::new(KeyCode::Down, KeyModifiers::NONE));
            }
            MouseEventKind::ScrollUp => {
                return self.tab_key(KeyEvent::new(KeyCode::Up, KeyModifiers::NONE));
            }
            MouseEventKind::Down(MouseButton::Left) => {}
            _ => return None,
        }
        if self.help {
            self.help = false;
            return None;
        }
        if self.fault_panel.is_some() {
            // A click outside the panel closes it, and hits nothing hidden under it.
            self.fault_panel = None;
            return None;
        }
        match target? {
            Target::Tab(tab) => {
                self.tab = tab;
                self.filter_input = None;
                None
            }
            Target::Trace(target) => {
                if let Some(screen) = self.trace.as_mut().filter(|_| self.tab == Tab::Trace) {
                    screen.click(target);
                }
                None
            }
            Target::Row(row) => {
                let (selected, len) = self.list()?;
                if row >= len {
                    return None;
                }
                if *selected == row {
                    return self.enter();
                }
                *selected = row;
                None
            }
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

/// The filter line that shows `filter`: the words `/` starts from.
pub fn filter_text(filter: &TraceSearch) -> String {
    let mut words = Vec::new();
    if let Some(service) = &filter.service {
        words.push(format!("service:{service}"));
    }
    if let Some(endpoint) = &filter.endpoint {
        words.push(format!("endpoint:{}", quote(endpoint)));
    }
    if filter.error == Some(true) {
        words.push("error".to_owned());
    }
    if filter.min_duration_ms > 0.0 {
        words.push(format!(">{}ms", filter.min_duration_ms));
    }
    words.join(" ")
}

/// An error group's latest trace, opened on its failing span when the group names it.
fn example_trace(group: &protocol::ErrorGroup) -> (String, Focus) {
    let focus = if group.example_span_id.is_empty() {
        Focus::None
    } else {
        Focus::Span(group.example_span_id.clone())
    };
    (group.example_trace_id.clone(), focus)
}

fn quote(text: &str) -> String {
    if text.contains(' ') {
        format!("\"{text}\"")
    } else {
        text.to_owned()
    }
}

/// The trace id `text` is, if it is one: 32 hexadecimal digits (or 16, a 64-bit Datadog id, which the
/// collector keeps with zeros in front), alone or after `trace:`; lowercased, as the collector writes them.
pub fn trace_id(text: &str) -> Option<String> {
    let text = text.trim();
    let id = text.strip_prefix("trace:").unwrap_or(text).trim();
    if !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    match id.len() {
        32 => Some(id.to_ascii_lowercase()),
        16 => Some(format!("{:0>32}", id.to_ascii_lowercase())),
        _ => None,
    }
}

/// Reads the Traces tab's filter line: `service:NAME`, `endpoint:"GET /discount"` (quotes for spaces),
/// `error`, `>500ms` / `>2.5s` (min duration), in any order; a bare word is a service name.
pub fn parse_filter(text: &str) -> Result<TraceSearch, String> {
    let mut filter = default_filter();
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if quoted {
        return Err("a quote is not closed".to_owned());
    }
    if !word.is_empty() {
        words.push(word);
    }
    for word in words {
        if let Some(service) = word.strip_prefix("service:") {
            filter.service = Some(service.to_owned());
        } else if let Some(endpoint) = word.strip_prefix("endpoint:") {
            filter.endpoint = Some(endpoint.to_owned());
        } else if word == "error" || word == "errors" {
            filter.error = Some(true);
        } else if let Some(duration) = word.strip_prefix('>') {
            filter.min_duration_ms = parse_ms(duration)
                .ok_or_else(|| format!("{word:?}: a duration is like >500ms or >2.5s"))?;
        } else if word.contains(':') {
            return Err(format!(
                "{word:?}: filters are service:NAME, endpoint:\"GET /path\", error, >500ms, or a trace id"
            ));
        } else {
            filter.service = Some(word);
        }
    }
    Ok(filter)
}

fn parse_ms(text: &str) -> Option<f64> {
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1000.0)
    } else {
        (text, 1.0)
    };
    let value = number.trim().parse::<f64>().ok()? * scale;
    (value.is_finite() && value >= 0.0).then_some(value)
}
