//! The Browser tab: what the shoppers saw, from real user monitoring — pages with their load times and error
//! rates, front-end errors at their place in the served script, and sessions; a session opens as a journey
//! (its page views in order with their clicks, calls and errors), where Enter on a view or a call opens the
//! backend trace it caused.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Widget, Wrap};

use super::{below_header, pane, table_and_detail, visible};
use crate::app::{App, BrowserRow, JourneyRow};
use crate::fmt;

pub(super) fn list_rows(body: Rect) -> Rect {
    below_header(table_and_detail(body).0)
}

/// The length of the list the tab shows, and its selection.
pub(super) fn selection(app: &App) -> (usize, usize) {
    match &app.browser.journey {
        Some(journey) => (journey.selected, app.journey_rows().len()),
        None => (app.browser.selected, app.browser_rows().len()),
    }
}

/// `file:line`, or where the error came from.
fn place(file: Option<&str>, line: Option<u32>, source: &str) -> String {
    match (file, line) {
        (Some(file), Some(line)) => format!("{file}:{line}"),
        _ => format!("({source})"),
    }
}

pub(super) fn render(app: &App, body: Rect, buf: &mut Buffer) {
    match &app.browser.journey {
        Some(_) => render_journey(app, body, buf),
        None => render_list(app, body, buf),
    }
}

fn render_list(app: &App, body: Rect, buf: &mut Buffer) {
    let theme = &app.theme;
    let (table, detail) = table_and_detail(body);
    let sort = if app.browser.by_errors {
        "by error rate (l: by load)"
    } else {
        "by load p75 (e: by errors)"
    };
    pane(format!(
        "Browser · what the shoppers saw · pages {sort} · Enter on an error or a session: its journey"
    ))
    .render(body, buf);
    let rows = app.browser_rows();
    if rows.is_empty() {
        let lines = vec![
            Line::raw(
                " No browser data yet: the storefront's pages report here once a browser loads them.",
            ),
            Line::styled(
                " `lab up --browser` (or `lab browse`) walks a headless Chromium through the shop.",
                theme.dim(),
            ),
        ];
        Paragraph::new(lines).render(table, buf);
        return;
    }
    let width = table.width as usize;
    Line::styled(
        fmt::fit(
            " what     page / place                     views   p75     LCP    errors",
            width,
        ),
        theme.header(),
    )
    .render(Rect { height: 1, ..table }, buf);
    let area = below_header(table);
    let lines: Vec<(String, Style)> = rows.iter().map(|row| list_line(row, theme)).collect();
    draw_rows(&lines, app.browser.selected, area, theme, buf);
    let lines = match rows.get(app.browser.selected) {
        Some(BrowserRow::Page(page)) => vec![
            Line::from(vec![
                Span::styled(format!(" {} ", fmt::clean(&page.page)), theme.highlight()),
                Span::raw(format!(
                    "{} views · load p50 {} · p75 {} · p95 {} · max {}",
                    page.views,
                    fmt::ms(page.load_p50_ms),
                    fmt::ms(page.load_p75_ms),
                    fmt::ms(page.load_p95_ms),
                    fmt::ms(page.load_max_ms)
                )),
            ]),
            Line::styled(
                format!(
                    " LCP {} · INP {} · CLS {} · {} of its views failed ({} front-end errors)",
                    page.lcp_p75_ms.map_or("-".to_owned(), fmt::ms),
                    page.inp_p75_ms.map_or("-".to_owned(), fmt::ms),
                    page.cls_p75.map_or("-".to_owned(), |c| format!("{c:.3}")),
                    page.error_views,
                    page.errors
                ),
                theme.dim(),
            ),
        ],
        Some(BrowserRow::Error(error)) => {
            let mut lines = vec![
                Line::from(vec![
                    Span::styled(format!(" {} ", fmt::clean(&error.r#type)), theme.error()),
                    Span::raw(fmt::clean(&error.message)),
                ]),
                Line::from(vec![
                    Span::styled(" at ", theme.dim()),
                    Span::styled(
                        fmt::clean(&place(error.file.as_deref(), error.line, &error.source)),
                        theme.highlight(),
                    ),
                    Span::styled(
                        format!(
                            " · ×{} on {} · example session {}",
                            error.count,
                            fmt::clean(&error.pages.join(", ")),
                            fmt::clean(&error.example_session)
                        ),
                        theme.dim(),
                    ),
                ]),
            ];
            let stack = error.stack.as_deref().unwrap_or("");
            for frame in stack
                .lines()
                .skip(1)
                .filter(|l| !l.trim().is_empty())
                .take(4)
            {
                lines.push(Line::styled(
                    format!("   {}", fmt::clean(frame.trim())),
                    theme.dim(),
                ));
            }
            lines
        }
        Some(BrowserRow::Session(session)) => vec![
            Line::raw(format!(
                " session {} · {} {} · {}, {}, {}, {}",
                fmt::clean(&session.id),
                fmt::clean(&session.service),
                fmt::clean(&session.version),
                fmt::counted(session.views, "view"),
                fmt::counted(session.actions, "action"),
                fmt::counted(session.resources, "call"),
                fmt::counted(session.errors, "error")
            )),
            Line::styled(
                format!(" {}", fmt::clean(&session.pages.join(" → "))),
                theme.dim(),
            ),
        ],
        None => Vec::new(),
    };
    render_detail(lines, detail, buf);
}

fn render_journey(app: &App, body: Rect, buf: &mut Buffer) {
    let theme = &app.theme;
    let Some(journey) = &app.browser.journey else {
        return;
    };
    let (table, detail) = table_and_detail(body);
    pane(format!(
        "Browser · session {} · Enter on a view or a call opens its backend trace · Esc back",
        fmt::clean(&journey.id)
    ))
    .render(body, buf);
    let Some(session) = &journey.session else {
        Paragraph::new(Line::raw(" Fetching the journey…")).render(table, buf);
        return;
    };
    let width = table.width as usize;
    Line::styled(
        fmt::fit(
            &format!(
                " {} {} · {}, {}, {}",
                fmt::clean(&session.summary.service),
                fmt::clean(&session.summary.version),
                fmt::counted(session.summary.views, "view"),
                fmt::counted(session.summary.actions, "action"),
                fmt::counted(session.summary.errors, "error")
            ),
            width,
        ),
        theme.header(),
    )
    .render(Rect { height: 1, ..table }, buf);
    let rows = app.journey_rows();
    let area = below_header(table);
    let lines: Vec<(String, Style)> = rows.iter().map(|row| journey_line(row, theme)).collect();
    draw_rows(&lines, journey.selected, area, theme, buf);
    let lines = match rows.get(journey.selected) {
        Some(JourneyRow::View(view)) => vec![
            Line::raw(format!(" {}", fmt::clean(&view.url))),
            Line::styled(
                format!(
                    " load {} · on the page {} · backend trace {}",
                    view.load_ms.map_or("-".to_owned(), fmt::ms),
                    view.time_spent_ms.map_or("-".to_owned(), fmt::ms),
                    view.trace_id
                        .as_deref()
                        .map_or("none".to_owned(), fmt::clean)
                ),
                theme.dim(),
            ),
        ],
        Some(JourneyRow::Event(event)) => vec![
            Line::raw(format!(" {}", fmt::clean(&event.name))),
            Line::styled(
                format!(
                    " {} at {}{}{}",
                    fmt::clean(&event.kind),
                    fmt::clock(event.at_ns),
                    event
                        .location
                        .as_deref()
                        .map_or(String::new(), |l| format!(" · {}", fmt::clean(l))),
                    event.trace_id.as_deref().map_or(String::new(), |t| format!(
                        " · backend trace {}",
                        fmt::clean(t)
                    ))
                ),
                theme.dim(),
            ),
        ],
        None => Vec::new(),
    };
    render_detail(lines, detail, buf);
}

/// The selected row's detail, below the list.
fn render_detail(lines: Vec<Line<'_>>, area: Rect, buf: &mut Buffer) {
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .block(Block::default().borders(Borders::TOP))
        .render(area, buf);
}

fn list_line(row: &BrowserRow<'_>, theme: &crate::theme::Theme) -> (String, Style) {
    match row {
        BrowserRow::Page(page) => (
            format!(
                " page     {:<32} {:>5} {:>7} {:>7} {:>7}",
                fmt::fit(&fmt::clean(&page.page), 32),
                page.views,
                fmt::ms(page.load_p75_ms),
                page.lcp_p75_ms.map_or("-".to_owned(), fmt::ms),
                fmt::percent(page.error_rate)
            ),
            if page.error_views > 0 {
                theme.warn()
            } else {
                Style::new()
            },
        ),
        BrowserRow::Error(error) => (
            format!(
                " error ×{:<3}{:<32} {}",
                error.count,
                fmt::fit(
                    &fmt::clean(&place(error.file.as_deref(), error.line, &error.source)),
                    32
                ),
                fmt::clean(&error.message)
            ),
            theme.error(),
        ),
        BrowserRow::Session(session) => (
            format!(
                " session  {} {:>9} {:>9}  {}",
                fmt::clock(session.start_ns),
                fmt::counted(session.views, "view"),
                fmt::counted(session.errors, "error"),
                fmt::clean(&session.pages.join(" → "))
            ),
            theme.dim(),
        ),
    }
}

/// Draws `lines` as the rows of `area`, scrolled so that `selected` shows, and marked.
fn draw_rows(
    lines: &[(String, Style)],
    selected: usize,
    area: Rect,
    theme: &crate::theme::Theme,
    buf: &mut Buffer,
) {
    let (first, shown) = visible(lines, selected, area.height as usize);
    for (i, (text, style)) in shown.iter().enumerate() {
        let style = if first + i == selected {
            theme.selected()
        } else {
            *style
        };
        let row = Rect {
            y: area.y + i as u16,
            height: 1,
            ..area
        };
        Line::styled(fmt::fit(text, area.width as usize), style).render(row, buf);
    }
}

fn journey_line(row: &JourneyRow<'_>, theme: &crate::theme::Theme) -> (String, Style) {
    match row {
        JourneyRow::View(view) => {
            let failed = view.status.is_some_and(|s| s >= 500);
            let text = format!(
                " {} {:<30} {:>8} {:>4} {}",
                fmt::clock(view.start_ns),
                fmt::fit(&fmt::clean(&view.page), 30),
                view.load_ms.map_or("-".to_owned(), fmt::ms),
                view.status.map_or(String::new(), |s| s.to_string()),
                if view.trace_id.is_some() {
                    "⇢ trace"
                } else {
                    ""
                }
            );
            let style = if failed {
                theme.error()
            } else {
                theme.highlight()
            };
            (text, style)
        }
        JourneyRow::Event(event) => {
            let mark = match event.kind.as_str() {
                "error" => "✗",
                "action" => "▸",
                "long_task" => "…",
                _ => " ",
            };
            let mut text = format!("    {mark} {}", fmt::clean(&event.name));
            if let Some(status) = event.status {
                text.push_str(&format!(" {status}"));
            }
            if let Some(ms) = event.duration_ms {
                text.push_str(&format!(" {}", fmt::ms(ms)));
            }
            if let Some(location) = &event.location {
                text.push_str(&format!(" at {}", fmt::clean(location)));
            }
            if event.trace_id.is_some() {
                text.push_str(" ⇢ trace");
            }
            let style = match event.kind.as_str() {
                "error" => theme.error(),
                _ if event.status.is_some_and(|s| s >= 500) => theme.error(),
                "action" => Style::new(),
                _ => theme.dim(),
            };
            (text, style)
        }
    }
}
