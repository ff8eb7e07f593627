//! The dashboard's input: keys, per tab and in the filter line and fault panel, and mouse events. What needs
//! I/O comes back as an [`Action`].

use protocol::{TraceSearch, TraceSort, Window};
use ratatui::crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};

use super::filter::{filter_text, parse_filter, trace_id};
use super::{Action, App, Column, FaultPanel, FilterInput, ServicePage, Tab, Target};
use crate::source::default_filter;
use crate::trace::Focus;

/// The windows `w` offers, picked by their number.
pub const WINDOWS: [&str; 4] = ["1m", "5m", "15m", "all"];

impl App {
    /// Handles a key press; what needs I/O comes back as an action.
    pub fn handle_key(&mut self, key: KeyEvent) -> Option<Action> {
        let shown = self.tab;
        let action = self.key(key);
        self.arrived(shown, action)
    }

    /// The Logs tab's records are fetched only while it is shown: arriving on it asks for them at once.
    fn arrived(&mut self, shown: Tab, action: Option<Action>) -> Option<Action> {
        if action.is_none() && self.tab == Tab::Logs && shown != Tab::Logs {
            return self.refresh();
        }
        action
    }

    fn key(&mut self, key: KeyEvent) -> Option<Action> {
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
        if self.guide_typing() {
            return self.guide_key(key).flatten();
        }
        if self.filter_input.is_some() {
            return self.filter_key(key);
        }
        if self.logs_tab.input.is_some() {
            return self.log_filter_key(key);
        }
        if self.fault_panel.is_some() {
            return self.fault_key(key);
        }
        if self.picking_window {
            self.picking_window = false;
            let picked = match key.code {
                KeyCode::Char(c @ '1'..='4') => WINDOWS[c as usize - '1' as usize],
                // `w` twice keeps the old cycling habit: the next window.
                KeyCode::Char('w') => {
                    let at = WINDOWS.iter().position(|w| *w == self.window_name());
                    WINDOWS[at.map_or(0, |at| (at + 1) % WINDOWS.len())]
                }
                _ => return None,
            };
            self.window = Window::parse(picked).unwrap_or(Window::All);
            return self.refresh();
        }
        if self.tab == Tab::Trace
            && let Some(screen) = &mut self.trace
            && screen.handle_key(key)
        {
            return None;
        }
        if let Some(action) = self.guide_key(key) {
            return action;
        }
        match key.code {
            KeyCode::Char('q') => return Some(Action::Quit),
            KeyCode::Char('?') => self.help = true,
            KeyCode::Char(' ') if self.live => {
                self.paused = !self.paused;
                // The same data, just frozen or not: no new generation.
                return Some(Action::Refresh(Box::new(self.params())));
            }
            KeyCode::Char(c @ '1'..='9') => return self.land(Tab::ALL[c as usize - '1' as usize]),
            KeyCode::Tab => self.tab = Tab::ALL[(self.tab.index() + 1) % Tab::ALL.len()],
            KeyCode::BackTab => {
                self.tab = Tab::ALL[(self.tab.index() + Tab::ALL.len() - 1) % Tab::ALL.len()];
            }
            KeyCode::Char('w') => self.picking_window = true,
            KeyCode::Char(c @ ('x' | 'X')) => {
                return self.toggle_export(if c == 'x' { "datadog" } else { "otlp" });
            }
            KeyCode::Char('f') if self.faults.is_some() => {
                self.fault_panel = Some(FaultPanel::default());
            }
            KeyCode::Char('f') => self.say(
                "faults flip only in the dashboard of `lab up`, which runs the shop: here, use `lab fix FAULT` \
                 where the shop runs",
                true,
            ),
            KeyCode::Esc => return self.back(),
            KeyCode::Enter => return self.enter(),
            _ => return self.tab_key(key),
        }
        None
    }

    /// A number key: the tab at its top level, as the README's steps expect ("2, then p"): the Services tab
    /// with its page closed and a service (not a database) selected. The Trace tab keeps its trace.
    fn land(&mut self, tab: Tab) -> Option<Action> {
        self.tab = tab;
        if tab != Tab::Services {
            return None;
        }
        let rows = self.sorted_services();
        let on_service = rows
            .get(self.services_selected)
            .is_some_and(|row| row.kind == "service");
        if !on_service && let Some(first) = rows.iter().position(|row| row.kind == "service") {
            self.services_selected = first;
        }
        if self.service_page.take().is_some() {
            return self.refresh();
        }
        None
    }

    /// Esc: close what is open, or go back where the Trace tab was opened from.
    /// `x` (Datadog: its span exporter and its RUM forward, `datadog-rum`, switched together) and `X` (OTLP):
    /// switches that exporter the other way, or says how to start one.
    fn toggle_export(&mut self, name: &str) -> Option<Action> {
        let family = |e: &&protocol::ExportStats| {
            e.name == name
                || e.name
                    .strip_prefix(name)
                    .is_some_and(|r| r.starts_with('-'))
        };
        let Some(export) = self.overview.exports.iter().find(family) else {
            let flag = if name == "datadog" {
                "--export-datadog [URL] or --export-rum"
            } else {
                "--export-otlp URL"
            };
            self.say(
                format!("no {name} exporter: start lab up or lab collect with {flag}"),
                true,
            );
            return None;
        };
        Some(Action::SetExport {
            name: name.to_owned(),
            enabled: !export.enabled,
        })
    }

    fn back(&mut self) -> Option<Action> {
        match self.tab {
            Tab::Services if self.service_page.is_some() => {
                self.service_page = None;
                return self.refresh();
            }
            Tab::Trace => self.tab = self.trace_from,
            Tab::Browser => return self.browser_back(),
            Tab::Logs => return self.logs_back(),
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

    pub(super) fn open_trace(&mut self, trace_id: String, focus: Focus) -> Option<Action> {
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
                // Every statement of the loop, its most repeated first.
                let mut queries = vec![finding.query.clone()];
                queries.extend(
                    finding
                        .statements
                        .iter()
                        .map(|s| s.query.clone())
                        .filter(|q| *q != finding.query),
                );
                self.open_trace(id, Focus::Repeated(queries))
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
            Tab::Browser => self.browser_enter(),
            Tab::Logs => self.logs_enter(),
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
            (Tab::Browser, _) => return self.browser_key(key),
            (Tab::Logs, _) => return self.logs_key(key),
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

    /// Changes the Services table's order and selects its new first row: a new order is asked for to see
    /// what now comes first.
    fn resort(&mut self, sort: Column, inverted: bool) {
        (self.sort, self.inverted) = (sort, inverted);
        self.services_selected = 0;
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
                    // A bare word that is the name of a service the collector knows means that service
                    // (service names are not in the spans' text); any other is looked for in the spans.
                    if filter.service.is_none()
                        && let Some(text) = &filter.text
                        && (self.overview.services.iter())
                            .any(|s| s.kind == "service" && s.name == *text)
                    {
                        filter.service = filter.text.take();
                    }
                    self.filter = filter;
                    self.filter_input = None;
                    self.new_search();
                    return self.refresh();
                }
                Err(problem) => input.problem = Some(problem),
            },
            _ => input.edit(key),
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
            KeyCode::Char('d') => panel.spoilers = !panel.spoilers,
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

    /// Handles a mouse event; `target` is what the views say lies under it (`view::hit`): a click on a tab
    /// opens it, on a row selects it, on the selected row drills in; the wheel moves the selection.
    pub fn handle_mouse(&mut self, event: MouseEvent, target: Option<Target>) -> Option<Action> {
        let shown = self.tab;
        let action = self.mouse(event, target);
        self.arrived(shown, action)
    }

    fn mouse(&mut self, event: MouseEvent, target: Option<Target>) -> Option<Action> {
        match event.kind {
            MouseEventKind::ScrollDown | MouseEventKind::ScrollUp => {
                let closer = event.kind == MouseEventKind::ScrollUp;
                // Over the flame pane the wheel zooms about the pointer; elsewhere it moves the selection.
                if let (Some(Target::Trace(target)), Some(screen), Tab::Trace) =
                    (target, self.trace.as_mut(), self.tab)
                    && screen.wheel(target, closer)
                {
                    return None;
                }
                let key = if closer { KeyCode::Up } else { KeyCode::Down };
                return self.tab_key(KeyEvent::new(key, KeyModifiers::NONE));
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

/// An error group's latest trace, opened on its failing span when the group names it.
fn example_trace(group: &protocol::ErrorGroup) -> (String, Focus) {
    let focus = if group.example_span_id.is_empty() {
        Focus::None
    } else {
        Focus::Span(group.example_span_id.clone())
    };
    (group.example_trace_id.clone(), focus)
}
