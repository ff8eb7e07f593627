//! Drawing: `impl Widget for &App` lays the screen out (tabs, the current view, the status line, and the
//! help or fault panel over them) and hands each view its area. Views read the state and draw; they do no
//! I/O and change nothing. The geometry the mouse needs (where the tabs and rows are) comes from the same
//! functions the views draw with.

mod browser;
mod class;
mod deployments;
mod errors;
mod guide;
mod insights;
mod logs;
mod map;
mod services;
mod traces;

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Widget};

use crate::app::{App, Tab, Target};
use crate::fmt;

/// Where the parts of the screen go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Areas {
    pub tabs: Rect,
    pub body: Rect,
    pub status: Rect,
    /// The guide pane's place, cut from the body while it shows (empty otherwise).
    pub guide: Rect,
}

/// The screen's layout: a line of tabs, the view, a status line.
pub fn layout(area: Rect) -> Areas {
    let [tabs, body, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area);
    Areas {
        tabs,
        body,
        status,
        guide: Rect::default(),
    }
}

/// The screen's layout for `app`: as [`layout`], with the guide pane's place cut from the body while it shows.
pub fn screen(app: &App, area: Rect) -> Areas {
    let mut areas = layout(area);
    if app.guide.as_ref().is_some_and(|g| g.shown) {
        (areas.body, areas.guide) = guide::split(areas.body);
    }
    areas
}

/// The tab titles as drawn, with their first column and width: roomy (` 1 Map `) when they fit with room
/// for `?` beside them, else tight (`1 Map `, the longest titles shortened) so that they fit 80 columns.
fn tab_spans(area: Rect) -> Vec<(Tab, u16, u16, String)> {
    let roomy = roomy_tabs(area);
    let mut x = area.x;
    Tab::ALL
        .iter()
        .enumerate()
        .map(|(i, tab)| {
            let title = if roomy {
                format!(" {} {} ", i + 1, tab.title())
            } else {
                format!("{} {} ", i + 1, tab.short_title())
            };
            let width = title.chars().count() as u16;
            let at = x;
            x = x.saturating_add(width);
            (*tab, at, width, title)
        })
        .collect()
}

/// Whether the roomy tab titles fit `area` with ` ?` beside them.
fn roomy_tabs(area: Rect) -> bool {
    let width: usize = (Tab::ALL.iter().enumerate())
        .map(|(i, tab)| format!(" {} {} ", i + 1, tab.title()).chars().count())
        .sum();
    width + 2 <= area.width as usize
}

/// What the wheel turned at `x`, `y` points at: as [`hit`], but on the flame pane the time under it too.
pub fn wheel_hit(app: &App, area: Rect, x: u16, y: u16) -> Option<Target> {
    let areas = screen(app, area);
    if app.tab == Tab::Trace && y != areas.tabs.y {
        return app
            .trace
            .as_ref()?
            .wheel_hit(areas.body, x, y)
            .map(Target::Trace);
    }
    hit(app, area, x, y)
}

/// What the cell at `x`, `y` of a screen of `area` shows, from the layout the drawing uses: a tab, a row of
/// the current tab's list (a node of the map), or a part of the trace screen.
pub fn hit(app: &App, area: Rect, x: u16, y: u16) -> Option<Target> {
    let areas = screen(app, area);
    if y == areas.tabs.y {
        return tab_at(areas.tabs, x).map(Target::Tab);
    }
    if areas.guide.contains(ratatui::layout::Position { x, y }) {
        return None;
    }
    if app.tab == Tab::Trace {
        return app.trace.as_ref()?.hit(areas.body, x, y).map(Target::Trace);
    }
    let row = match app.tab {
        Tab::Map => map_node_at(app, areas.body, x, y)?,
        _ => row_at(app, areas.body, y)?,
    };
    Some(Target::Row(row))
}

/// The tab drawn at column `x` of the tab line.
pub fn tab_at(area: Rect, x: u16) -> Option<Tab> {
    tab_spans(area)
        .into_iter()
        .find(|(_, at, width, _)| x >= *at && x < at + width)
        .map(|(tab, ..)| tab)
}

/// The first row a list of `len` rows shows, so that `selected` is on screen in `visible` rows.
pub fn scroll(selected: usize, len: usize, visible: usize) -> usize {
    if visible == 0 || len <= visible {
        return 0;
    }
    selected.saturating_sub(visible - 1).min(len - visible)
}

/// Where the current tab draws its list's rows (the first row's line and how many fit), if it has a list.
fn list_rows(app: &App, body: Rect) -> Option<Rect> {
    match app.tab {
        Tab::Map => Some(map::list_rows(app, body)),
        Tab::Services => Some(services::list_rows(app, body)),
        Tab::Traces => Some(traces::list_rows(body)),
        Tab::Errors => Some(errors::list_rows(body)),
        Tab::Insights => Some(insights::list_rows(body)),
        Tab::Deployments => Some(deployments::list_rows(app, body)),
        Tab::Browser => Some(browser::list_rows(body)),
        Tab::Logs => Some(logs::list_rows(body)),
        Tab::Trace => None,
    }
}

/// The position (in selection order) of the map node drawn at (`x`, `y`), if one is.
pub fn map_node_at(app: &App, body: Rect, x: u16, y: u16) -> Option<usize> {
    map::node_at(app, body, x, y)
}

/// The index of the list row drawn at line `y`, if one is.
pub fn row_at(app: &App, body: Rect, y: u16) -> Option<usize> {
    let rows = list_rows(app, body)?;
    if y < rows.y || y >= rows.bottom() {
        return None;
    }
    let (selected, len) = match app.tab {
        Tab::Map => return None,
        Tab::Services => match &app.service_page {
            Some(page) => (page.selected, page.endpoints.len()),
            None => (app.services_selected, app.overview.services.len()),
        },
        Tab::Traces => (app.traces_selected, app.traces.len()),
        Tab::Errors => (app.errors_selected, app.overview.errors.len()),
        Tab::Insights => (app.insights_selected, app.overview.n_plus_one.len()),
        Tab::Deployments => return deployments::row_at(app, rows, y),
        Tab::Browser => browser::selection(app),
        Tab::Logs => (app.logs_tab.selected, app.logs.len()),
        Tab::Trace => return None,
    };
    Some(scroll(selected, len, rows.height as usize) + (y - rows.y) as usize)
}

impl Widget for &App {
    fn render(self, area: Rect, buf: &mut Buffer) {
        if area.width == 0 || area.height == 0 {
            return;
        }
        let areas = screen(self, area);
        render_tabs(self, areas.tabs, buf);
        if !self.loaded {
            waiting(self, areas.body, buf);
        } else {
            match self.tab {
                Tab::Map => map::render(self, areas.body, buf),
                Tab::Services => services::render(self, areas.body, buf),
                Tab::Traces => traces::render(self, areas.body, buf),
                Tab::Trace => render_trace(self, areas.body, buf),
                Tab::Errors => errors::render(self, areas.body, buf),
                Tab::Insights => insights::render(self, areas.body, buf),
                Tab::Deployments => deployments::render(self, areas.body, buf),
                Tab::Browser => browser::render(self, areas.body, buf),
                Tab::Logs => logs::render(self, areas.body, buf),
            }
        }
        if let Some(pane) = self.guide.as_ref().filter(|g| g.shown) {
            guide::render(self, pane, areas.guide, buf);
        }
        render_status(self, areas.status, buf);
        if self.fault_panel.is_some() {
            render_faults(self, areas.body, buf);
        }
        if self.help {
            render_help(self, area, buf);
        }
    }
}

fn render_tabs(app: &App, area: Rect, buf: &mut Buffer) {
    let theme = &app.theme;
    let mut spans: Vec<Span> = Vec::new();
    for (tab, _, _, title) in tab_spans(area) {
        let mut style = if tab == app.tab {
            theme.selected().add_modifier(Modifier::BOLD)
        } else {
            Style::new()
        };
        let alarming = match tab {
            Tab::Errors => !app.overview.errors.is_empty(),
            Tab::Insights => !app.overview.n_plus_one.is_empty(),
            _ => false,
        };
        if alarming && tab != app.tab {
            style = style.patch(theme.warn());
        }
        spans.push(Span::styled(title, style));
    }
    let used: usize = spans.iter().map(|s| s.width()).sum();
    // The longest hint that fits beside the tabs.
    let hints: &[&str] = if roomy_tabs(area) {
        &[" ? help  q quit", " ? help", " ?"]
    } else {
        &[" ? help", " ?"]
    };
    let width = area.width as usize;
    if let Some(hint) = hints
        .iter()
        .find(|hint| used + hint.chars().count() <= width)
    {
        let pad = width - used - hint.chars().count();
        spans.push(Span::raw(" ".repeat(pad)));
        spans.push(Span::styled(*hint, theme.dim()));
    }
    Line::from(spans).render(area, buf);
}

fn waiting(app: &App, area: Rect, buf: &mut Buffer) {
    Paragraph::new(vec![
        Line::raw(""),
        Line::raw(format!(
            "  Waiting for data from {}…",
            fmt::clean(&app.source)
        )),
    ])
    .style(app.theme.dim())
    .render(area, buf);
}

fn render_trace(app: &App, area: Rect, buf: &mut Buffer) {
    match &app.trace {
        Some(screen) => screen.render(area, buf, &app.theme),
        None => {
            let mut lines = vec![
                Line::raw(""),
                Line::raw("  No trace open."),
                Line::raw(""),
                Line::raw("  Pick one with Enter in Traces (3), Errors (5) or Insights (6)."),
            ];
            if let Some(status) = &app.trace_status {
                lines.push(Line::raw(""));
                lines.push(Line::styled(
                    format!("  {}", fmt::clean(status)),
                    app.theme.dim(),
                ));
            }
            Paragraph::new(lines).render(area, buf);
        }
    }
    if let (Some(status), Some(_)) = (&app.trace_status, &app.trace) {
        // A newer trace is on its way: say so over the old one's last line.
        let line = Rect::new(
            area.x,
            area.bottom().saturating_sub(1),
            area.width,
            1.min(area.height),
        );
        Clear.render(line, buf);
        Line::styled(format!(" {}", fmt::clean(status)), app.theme.dim()).render(line, buf);
    }
}

fn render_status(app: &App, area: Rect, buf: &mut Buffer) {
    let theme = &app.theme;
    let counts = &app.overview.counts;
    if app.picking_window {
        let choices: Vec<String> = (crate::app::WINDOWS.iter().enumerate())
            .map(|(i, window)| format!("{} {window}", i + 1))
            .collect();
        Line::styled(
            format!(
                " time window: {} · any other key keeps {}",
                choices.join(" · "),
                app.window_name()
            ),
            theme.header(),
        )
        .render(area, buf);
        return;
    }
    let mut spans = Vec::new();
    if let Some((message, problem)) = &app.message {
        // The latest outcome matters more than the rest: it goes first.
        let style = if *problem {
            theme.error()
        } else {
            theme.good()
        };
        spans.push(Span::styled(format!(" {} ", fmt::clean(message)), style));
    }
    spans.push(if !app.live {
        Span::styled(" ■ recording ", theme.dim())
    } else if app.paused {
        Span::styled(" ❚❚ paused ", theme.warn())
    } else {
        Span::styled(" ● live ", theme.good())
    });
    if let Some(faults) = &app.faults {
        let broken = faults.iter().filter(|f| f.broken).count();
        spans.push(Span::raw("· shop "));
        spans.push(if broken == 0 {
            Span::styled("fixed", theme.good())
        } else {
            Span::styled(
                format!("{} on", fmt::counted(broken as u64, "fault")),
                theme.error(),
            )
        });
        spans.push(Span::styled(" (f) ", theme.dim()));
    }
    // The counts people check first ("is anything lost?") stay on an 80-column line; the rest follows.
    let rejected = Span::styled(
        fmt::count(counts.rejected),
        if counts.rejected > 0 {
            theme.error()
        } else {
            Style::new()
        },
    );
    if area.width < 110 {
        spans.push(Span::raw(format!(
            "· spans in/stored/evicted/rejected {}/{}/{}/",
            fmt::count(counts.accepted),
            fmt::count(counts.stored),
            fmt::count(counts.evicted),
        )));
        spans.push(rejected);
    } else {
        spans.push(Span::raw(format!(
            "· spans {} in, {} stored, {} evicted, ",
            fmt::count(counts.accepted),
            fmt::count(counts.stored),
            fmt::count(counts.evicted),
        )));
        spans.push(rejected);
        spans.push(Span::raw(" rejected"));
    }
    // Each exporter, after the counts (which stay on an 80-column line): its state and key; what it lost,
    // when it lost any.
    for export in &app.overview.exports {
        let (short, key) = match export.name.as_str() {
            "datadog" => ("dd", "x"),
            "datadog-rum" => ("dd-rum", "x"),
            other => (other, "X"),
        };
        spans.push(Span::raw(format!(" · {short} ")));
        spans.push(if export.enabled {
            Span::styled("on", theme.good())
        } else {
            Span::styled("off", theme.dim())
        });
        let lost = export.failed + export.dropped + export.rejected;
        if lost > 0 {
            spans.push(Span::styled(
                format!(" {} lost", fmt::count(lost)),
                theme.error(),
            ));
        }
        spans.push(Span::styled(format!(" ({key})"), theme.dim()));
    }
    spans.push(Span::styled(
        format!(" · {} · {}", app.window_name(), fmt::clean(&app.source)),
        theme.dim(),
    ));
    Line::from(spans).render(area, buf);
}

/// A rectangle of `width`×`height` centred in `area` (clipped to it).
fn centred(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect::new(
        area.x + (area.width - width) / 2,
        area.y + (area.height - height) / 2,
        width,
        height,
    )
}

/// Every key, for `?`.
pub const KEYS: &[(&str, &str)] = &[
    ("1-9, Tab, Shift-Tab", "switch tabs (click a tab too)"),
    (
        "↑↓ j k, PgUp PgDn, g G",
        "move (click a row, a flame bar; the wheel)",
    ),
    ("Enter", "drill in: service, trace, ×N row (or click twice)"),
    ("Esc", "go back, close, clear a filter"),
    ("space", "pause or resume a live view"),
    ("w, then 1-4", "time window 1m, 5m, 15m, all: every tab"),
    (
        "Services: ← → h l, p e",
        "sort column (i inverts it); by p95, errors",
    ),
    ("Map, Services: t", "traces of the selected service"),
    (
        "Traces: /",
        "service:X endpoint:\"GET /p\" error >1s; trace id",
    ),
    ("Traces: s e", "longest or latest first; errors only"),
    ("Trace: → l, ← h", "unfold ×N; fold, or go to the parent"),
    ("Trace: Ctrl-d Ctrl-u", "page down, up"),
    (
        "Trace: e c, F",
        "next error, critical-path span; wide flame graph",
    ),
    (
        "Trace: z - + [ ] wheel",
        "zoom to selection, out, in; move; about the pointer",
    ),
    (
        "Trace: J K, L",
        "scroll details; L: the trace's logs or the span's",
    ),
    (
        "Browser: l e",
        "pages by load, by errors; Enter: journey, trace",
    ),
    (
        "Logs: / e v",
        "filter; errors only; lowest severity (Enter: trace)",
    ),
    ("f; W", "faults (Enter flips); guide: A answer, H hint, < >"),
    ("x, X", "Datadog, OTLP export on or off (the status line)"),
    ("?; q, Ctrl-C", "this help; quit"),
];

fn render_help(app: &App, area: Rect, buf: &mut Buffer) {
    let theme = &app.theme;
    let lines: Vec<Line> = KEYS
        .iter()
        .map(|(keys, what)| {
            Line::from(vec![
                Span::styled(format!(" {keys:<24}"), theme.header()),
                Span::raw(*what),
            ])
        })
        .collect();
    let box_area = centred(area, 78, lines.len() as u16 + 2);
    Clear.render(box_area, buf);
    Paragraph::new(lines)
        .block(
            Block::default()
                .borders(Borders::ALL)
                .title(" Keys (any key closes) "),
        )
        .render(box_area, buf);
}

fn render_faults(app: &App, area: Rect, buf: &mut Buffer) {
    let theme = &app.theme;
    let (Some(faults), Some(panel)) = (&app.faults, &app.fault_panel) else {
        return;
    };
    let mut lines = Vec::new();
    for (i, fault) in faults.iter().enumerate() {
        let mark = if fault.broken { "[broken]" } else { "[fixed] " };
        let mut style = if fault.broken {
            theme.error()
        } else {
            theme.good()
        };
        if i == panel.selected {
            style = style.patch(theme.selected());
        }
        lines.push(Line::from(vec![
            Span::styled(format!(" {mark} {} ", fmt::clean(&fault.name)), style),
            Span::styled(
                format!(
                    " {} {}",
                    fmt::clean(&fault.service),
                    fmt::clean(&fault.version)
                ),
                theme.dim(),
            ),
        ]));
        // What a broken fault does is what the workshop asks the student to find: hidden until asked for.
        let description = if fault.broken && !panel.spoilers {
            "what it breaks is hidden: find it in the traces (d shows it)".to_owned()
        } else {
            fmt::clean(&fault.description)
        };
        lines.push(Line::styled(
            fmt::fit(
                &format!("          {description}"),
                area.width.saturating_sub(2) as usize,
            ),
            theme.dim(),
        ));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        " Enter flips the fault: its service deploys a new version. d shows what each breaks. Esc closes.",
        theme.dim(),
    ));
    let box_area = centred(area, 100, lines.len() as u16 + 2);
    Clear.render(box_area, buf);
    Paragraph::new(lines)
        .block(Block::default().borders(Borders::ALL).title(" Faults "))
        .render(box_area, buf);
}

/// A sparkline as text: one block character per value, scaled to the largest.
pub fn sparkline(values: &[f64], width: usize) -> String {
    const LEVELS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let values = &values[values.len().saturating_sub(width)..];
    let max = values.iter().copied().fold(0.0, f64::max);
    values
        .iter()
        .map(|&v| {
            if v <= 0.0 || max <= 0.0 {
                ' '
            } else {
                LEVELS[((v / max) * 7.0).round().clamp(0.0, 7.0) as usize]
            }
        })
        .collect()
}

/// A block with a title, as every view's main pane has.
fn pane(title: impl Into<String>) -> Block<'static> {
    Block::default()
        .borders(Borders::ALL)
        .title(Line::from(format!(" {} ", title.into())))
}

/// A tab's filter line: what is being typed (with why it was refused, or how to write one), or the filter
/// that applies (`text`, and what it means), or `empty` when none does.
fn filter_line(
    input: Option<&crate::app::FilterInput>,
    text: &str,
    describe: impl FnOnce() -> String,
    help: &str,
    empty: &str,
    theme: &crate::theme::Theme,
) -> Line<'static> {
    match input {
        Some(input) => {
            let mut spans = vec![
                Span::styled(" / ", theme.header()),
                Span::raw(fmt::clean(&input.text)),
                Span::styled("█", theme.dim()),
            ];
            spans.push(match &input.problem {
                Some(problem) => Span::styled(format!("  {}", fmt::clean(problem)), theme.error()),
                None => Span::styled(format!("  {help}"), theme.dim()),
            });
            Line::from(spans)
        }
        None if text.is_empty() => Line::styled(empty.to_owned(), theme.dim()),
        None => Line::from(vec![
            Span::styled(" filter: ", theme.dim()),
            Span::styled(fmt::clean(text), theme.highlight()),
            Span::styled(
                format!(" = {} (Esc clears)", fmt::clean(&describe())),
                theme.dim(),
            ),
        ]),
    }
}

/// A pane's table above a detail of the selected row: the inside of `body`'s border, split.
fn table_and_detail(body: Rect) -> (Rect, Rect) {
    let inner = Block::default().borders(Borders::ALL).inner(body);
    let detail = (inner.height / 2).clamp(3, 9);
    let [table, detail] =
        Layout::vertical([Constraint::Min(2), Constraint::Length(detail)]).areas(inner);
    (table, detail)
}

/// The rows of a table drawn in `table`, below its header line.
fn below_header(table: Rect) -> Rect {
    Rect {
        y: table.y.saturating_add(1),
        height: table.height.saturating_sub(1),
        ..table
    }
}

/// A table's visible slice, with `selected` on screen.
fn visible<T>(items: &[T], selected: usize, rows: usize) -> (usize, &[T]) {
    let first = scroll(selected, items.len(), rows);
    let end = (first + rows).min(items.len());
    (first, &items[first..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrolling_keeps_the_selection_on_screen() {
        assert_eq!(scroll(0, 100, 10), 0);
        assert_eq!(scroll(9, 100, 10), 0);
        assert_eq!(scroll(10, 100, 10), 1);
        assert_eq!(scroll(99, 100, 10), 90);
        assert_eq!(scroll(5, 3, 10), 0);
        assert_eq!(scroll(5, 10, 0), 0);
    }

    #[test]
    fn sparklines_scale_to_their_largest_value() {
        assert_eq!(sparkline(&[0.0, 1.0, 2.0, 4.0], 10), " ▃▅█");
        assert_eq!(sparkline(&[1.0, 2.0, 3.0], 2), "▆█");
        assert_eq!(sparkline(&[], 5), "");
    }

    #[test]
    fn tabs_are_found_where_they_are_drawn() {
        let area = Rect::new(0, 0, 80, 1);
        assert_eq!(tab_at(area, 0), Some(Tab::Map));
        assert_eq!(tab_at(area, 8), Some(Tab::Services));
        assert_eq!(tab_at(area, 79), None);
    }
}
