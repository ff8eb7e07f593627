//! The Traces tab: a search over the stored traces (by service, endpoint, errors, minimum duration), latest
//! or longest first, each with a bar of its duration against the longest listed.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, Widget};

use super::{below_header, filter_line, pane, visible};
use crate::app::{App, describe, filter_text};
use crate::fmt;

fn areas(body: Rect) -> (Rect, Rect) {
    let inner = Block::default().borders(Borders::ALL).inner(body);
    let [filter, table] =
        Layout::vertical([Constraint::Length(2), Constraint::Min(0)]).areas(inner);
    (filter, table)
}

pub(super) fn list_rows(body: Rect) -> Rect {
    below_header(areas(body).1)
}

pub(super) fn render(app: &App, body: Rect, buf: &mut Buffer) {
    let theme = &app.theme;
    let (filter_area, table_area) = areas(body);
    // The window applies unless the filter has a `since:` of its own.
    let within = match (app.window, &app.filter.since) {
        (protocol::Window::Last(_), None) => format!(" of the last {}", app.window_name()),
        _ => String::new(),
    };
    pane(format!(
        "Traces{within} · {} first (s) · e errors only · / filter · Enter opens",
        if app.filter.sort == protocol::TraceSort::Duration {
            "longest"
        } else {
            "latest"
        }
    ))
    .render(body, buf);

    let filter_line = filter_line(
        app.filter_input.as_ref(),
        &filter_text(&app.filter),
        || describe(&app.filter),
        "service:X endpoint:\"GET /p\" error >500ms <1ms or words · Enter applies",
        " all traces (/ to filter)",
        theme,
    );
    Paragraph::new(filter_line).render(filter_area, buf);

    if app.traces.is_empty() {
        Paragraph::new(if app.searching {
            " Searching…"
        } else {
            " No trace matches."
        })
        .style(theme.dim())
        .render(table_area, buf);
        return;
    }
    let longest = app
        .traces
        .iter()
        .map(|t| t.duration_ms)
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE);
    // The duration bar gives way to the root's name in a narrow terminal.
    let bar_width = (usize::from(table_area.width) / 8).clamp(4, 24);
    let rows_height = table_area.height.saturating_sub(1) as usize;
    let (first, shown) = visible(&app.traces, app.traces_selected, rows_height);
    let rows: Vec<Row> = shown
        .iter()
        .enumerate()
        .map(|(i, trace)| {
            let root = if trace.root_service.is_empty() {
                "(root not received)".to_owned()
            } else {
                format!("{} {}", trace.root_service, trace.root_name)
            };
            let len = ((trace.duration_ms / longest) * bar_width as f64).ceil() as usize;
            let status = if trace.error {
                Cell::from("error").style(theme.error())
            } else {
                Cell::from("ok").style(theme.dim())
            };
            let row = Row::new(vec![
                Cell::from(fmt::clock(trace.start_unix_nano)),
                Cell::from(Line::from(fmt::ms(trace.duration_ms)).right_aligned()),
                Cell::from("▇".repeat(len.min(bar_width))).style(if trace.error {
                    theme.error()
                } else {
                    theme.service(&trace.root_service)
                }),
                Cell::from(Line::from(trace.spans.to_string()).right_aligned()),
                status,
                Cell::from(fmt::clean(&root)),
            ]);
            if first + i == app.traces_selected {
                row.style(theme.selected())
            } else {
                row
            }
        })
        .collect();
    let header = Row::new(
        ["start", "duration", "", "spans", "status", "root"]
            .map(|h| Cell::from(h).style(theme.header())),
    );
    Table::new(
        rows,
        [
            Constraint::Length(12),
            Constraint::Length(8),
            Constraint::Length(bar_width as u16),
            Constraint::Length(5),
            Constraint::Length(6),
            Constraint::Min(10),
        ],
    )
    .header(header)
    .style(Style::new())
    .render(table_area, buf);
}
