//! The Logs tab: the log records the collector holds, newest first, live as a tail — time, service,
//! severity and message — with a filter line above and the selected record below it whole (its body, its
//! attributes, and the trace and span it was written in, which Enter opens).

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, Widget, Wrap};

use super::{below_header, filter_line, pane, visible};
use crate::app::{App, describe_logs, log_filter_text};
use crate::fmt;

/// The filter line, the table and the selected record's detail, inside the pane's border.
fn areas(body: Rect) -> (Rect, Rect, Rect) {
    let inner = Block::default().borders(Borders::ALL).inner(body);
    let detail = (inner.height / 3).clamp(3, 8);
    let [filter, table, detail] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(2),
        Constraint::Length(detail),
    ])
    .areas(inner);
    (filter, table, detail)
}

pub(super) fn list_rows(body: Rect) -> Rect {
    below_header(areas(body).1)
}

pub(super) fn render(app: &App, body: Rect, buf: &mut Buffer) {
    let theme = &app.theme;
    let (filter_area, table_area, detail_area) = areas(body);
    let within = match app.window {
        protocol::Window::Last(_) => format!(" of the last {}", app.window_name()),
        protocol::Window::All => String::new(),
    };
    let tail = if app.logs_tab.selected == 0 && app.live && !app.paused {
        "following the newest"
    } else {
        "newest first"
    };
    pane(format!(
        "Logs{within} · {tail} · e errors · v severity · / filter · Enter opens its trace"
    ))
    .render(body, buf);
    let filter = &app.logs_tab.filter;
    filter_line(
        app.logs_tab.input.as_ref(),
        &log_filter_text(filter),
        || describe_logs(filter),
        "service:X severity:warn error or words · Enter applies",
        " every record (/ to filter, e errors, v severity)",
        theme,
    )
    .render(filter_area, buf);

    let logs = &app.logs;
    if logs.is_empty() {
        let lines = if log_filter_text(filter).is_empty() {
            vec![
                Line::raw(" No log records yet."),
                Line::styled(
                    " The shop's services log their errors, slow calls and deployments here; other \
                     programs send OTLP logs to :4318/v1/logs (or :4317), or JSON lines with \
                     dd.trace_id to /api/v2/logs.",
                    theme.dim(),
                ),
            ]
        } else {
            vec![Line::styled(" No record matches.", theme.dim())]
        };
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .render(table_area, buf);
        return;
    }
    let rows_height = table_area.height.saturating_sub(1) as usize;
    let (first, shown) = visible(logs, app.logs_tab.selected, rows_height);
    let rows: Vec<Row> = shown
        .iter()
        .enumerate()
        .map(|(i, log)| {
            // A record's first line: the detail below has the rest.
            let message = log.body.lines().next().unwrap_or_default();
            let row = Row::new(vec![
                Cell::from(fmt::clock(log.time_unix_nano)),
                Cell::from(fmt::clean(&log.service)).style(theme.service(&log.service)),
                Cell::from(fmt::clean(&log.severity)).style(theme.severity(log.severity_number)),
                Cell::from(if log.trace_id.is_empty() { " " } else { "◆" }).style(theme.dim()),
                Cell::from(fmt::clean(message)),
            ]);
            if first + i == app.logs_tab.selected {
                row.style(theme.selected())
            } else {
                row
            }
        })
        .collect();
    let header = Row::new(
        ["time", "service", "level", "", "message"].map(|h| Cell::from(h).style(theme.header())),
    );
    Table::new(
        rows,
        [
            Constraint::Length(12),
            Constraint::Length(15),
            Constraint::Length(5),
            Constraint::Length(1),
            Constraint::Min(10),
        ],
    )
    .header(header)
    .render(table_area, buf);

    let Some(log) = logs.get(app.logs_tab.selected) else {
        return;
    };
    let mut lines = vec![Line::from(vec![
        Span::styled(
            format!(" {} ", fmt::clean(&log.severity)),
            theme.severity(log.severity_number),
        ),
        Span::raw(fmt::clean(&log.body)),
    ])];
    let attributes: Vec<String> = (log.attributes.iter())
        .map(|(key, value)| match value {
            serde_json::Value::String(text) => format!("{key}={text}"),
            other => format!("{key}={other}"),
        })
        .collect();
    if !attributes.is_empty() {
        lines.push(Line::styled(
            format!(" {}", fmt::clean(&attributes.join(" · "))),
            theme.dim(),
        ));
    }
    let mut place = vec![Span::styled(
        format!(
            " {} · {} · ",
            fmt::clock(log.time_unix_nano),
            fmt::clean(&log.service)
        ),
        theme.dim(),
    )];
    if log.trace_id.is_empty() {
        place.push(Span::styled("written outside any trace", theme.dim()));
    } else {
        place.push(Span::styled("trace ", theme.dim()));
        place.push(Span::styled(fmt::clean(&log.trace_id), theme.highlight()));
        if !log.span_id.is_empty() {
            place.push(Span::styled(
                format!(" · span {}", fmt::clean(&log.span_id)),
                theme.dim(),
            ));
        }
    }
    lines.push(Line::from(place));
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .block(Block::default().borders(Borders::TOP))
        .render(detail_area, buf);
}
