//! The Services tab: every service, database and peer with its requests, rate, errors and latency,
//! sortable, with the selected one's recent p95 as a sparkline; and the page of one service: its endpoints,
//! its latency distribution, its error groups and its versions.

use protocol::ServiceStats;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, Widget, Wrap};

use super::{below_header, pane, sparkline, visible};
use crate::app::{App, Column, ServicePage};
use crate::fmt;

/// Below this width the inline trend column is left out (the selected service's sparkline stays).
const TREND_MIN_WIDTH: u16 = 110;

/// Below this width the type column is left out.
const KIND_MIN_WIDTH: u16 = 90;

struct ListLayout {
    table: Rect,
    spark: Rect,
}

fn list_layout(body: Rect) -> ListLayout {
    let inner = Block::default().borders(Borders::ALL).inner(body);
    let [table, spark] = Layout::vertical([Constraint::Min(2), Constraint::Length(3)]).areas(inner);
    ListLayout { table, spark }
}

struct PageLayout {
    summary: Rect,
    table: Rect,
    bottom: Rect,
}

fn page_layout(body: Rect, endpoints: usize) -> PageLayout {
    let inner = Block::default().borders(Borders::ALL).inner(body);
    let most = (inner.height.saturating_sub(2) / 2).max(2);
    let wanted = (endpoints as u16 + 1).clamp(2, most);
    let [summary, table, bottom] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Length(wanted),
        Constraint::Min(0),
    ])
    .areas(inner);
    PageLayout {
        summary,
        table,
        bottom,
    }
}

/// Where the rows of the tab's table are drawn (below its header).
pub(super) fn list_rows(app: &App, body: Rect) -> Rect {
    let table = match &app.service_page {
        Some(page) => page_layout(body, page.endpoints.len()).table,
        None => list_layout(body).table,
    };
    below_header(table)
}

pub(super) fn render(app: &App, body: Rect, buf: &mut Buffer) {
    match &app.service_page {
        Some(page) => render_page(app, page, body, buf),
        None => render_list(app, body, buf),
    }
}

fn header_cell(app: &App, column: Column) -> Cell<'static> {
    let mut title = column.title().to_owned();
    if column == app.sort {
        title.push(if app.inverted { '▲' } else { '▼' });
    }
    Cell::from(title).style(app.theme.header())
}

fn stats_cells(app: &App, stats: &ServiceStats, kind: bool) -> Vec<Cell<'static>> {
    let theme = &app.theme;
    let mut cells = vec![Cell::from(fmt::clean(&stats.name))];
    if kind {
        cells.push(Cell::from(stats.kind.clone()));
    }
    cells.extend([
        Cell::from(Line::from(fmt::count(stats.requests)).right_aligned()),
        Cell::from(Line::from(fmt::per_second(stats.rps)).right_aligned()),
        Cell::from(Line::from(fmt::percent(stats.error_rate)).right_aligned()).style(
            if stats.errors > 0 {
                theme.error()
            } else {
                Style::new()
            },
        ),
        Cell::from(Line::from(fmt::ms(stats.p50_ms)).right_aligned()),
        Cell::from(Line::from(fmt::ms(stats.p95_ms)).right_aligned()).style(
            if stats.p95_ms >= 1000.0 {
                theme.warn()
            } else {
                Style::new()
            },
        ),
        Cell::from(Line::from(fmt::ms(stats.p99_ms)).right_aligned()),
    ]);
    cells
}

const FIGURE_WIDTHS: [Constraint; 6] = [
    Constraint::Length(8),
    Constraint::Length(7),
    Constraint::Length(7),
    Constraint::Length(7),
    Constraint::Length(7),
    Constraint::Length(7),
];

fn render_list(app: &App, body: Rect, buf: &mut Buffer) {
    let theme = &app.theme;
    let layout = list_layout(body);
    pane(format!(
        "Services · {} · sorted by {}{} (←→ column, i invert) · Enter opens",
        app.window_name(),
        app.sort.title(),
        if app.inverted { " ▲" } else { "" }
    ))
    .render(body, buf);
    let rows = app.sorted_services();
    if rows.is_empty() {
        Paragraph::new(
            " No spans yet: the shop's traffic, or any OTLP or Datadog client, fills this.",
        )
        .style(theme.dim())
        .render(layout.table, buf);
        return;
    }
    let trend = body.width >= TREND_MIN_WIDTH;
    // Narrow screens give the type's room to the names.
    let kind = body.width >= KIND_MIN_WIDTH;
    let trend_width = 24;
    let mut header: Vec<Cell> = Column::ALL
        .iter()
        .filter(|c| kind || **c != Column::Kind)
        .map(|c| header_cell(app, *c))
        .collect();
    let mut widths = vec![Constraint::Min(14)];
    if kind {
        widths.push(Constraint::Length(8));
    }
    widths.extend(FIGURE_WIDTHS);
    if trend {
        header.push(Cell::from("p95 trend").style(theme.header()));
        widths.push(Constraint::Length(trend_width));
    }
    let visible_rows = layout.table.height.saturating_sub(1) as usize;
    let (first, shown) = visible(&rows, app.services_selected, visible_rows);
    let table_rows: Vec<Row> = shown
        .iter()
        .enumerate()
        .map(|(i, stats)| {
            let mut cells = stats_cells(app, stats, kind);
            if trend {
                let points = app
                    .latency
                    .get(&stats.name)
                    .map(Vec::as_slice)
                    .unwrap_or(&[]);
                cells.push(
                    Cell::from(sparkline(points, trend_width as usize))
                        .style(theme.service(&stats.name)),
                );
            }
            let row = Row::new(cells);
            if first + i == app.services_selected {
                row.style(theme.selected())
            } else {
                row
            }
        })
        .collect();
    Table::new(table_rows, widths)
        .header(Row::new(header))
        .render(layout.table, buf);

    // The selected service's recent latency.
    if let Some(stats) = rows.get(app.services_selected) {
        let points = app.latency.get(&stats.name);
        let width = layout.spark.width.saturating_sub(2) as usize;
        let lines = match points {
            Some(points) if points.iter().any(|p| *p > 0.0) => {
                let max = points.iter().copied().fold(0.0, f64::max);
                vec![
                    Line::from(vec![
                        Span::styled(format!(" {} ", fmt::clean(&stats.name)), theme.header()),
                        Span::styled(
                            format!("p95 per 10 s, last 5 minutes (max {})", fmt::ms(max)),
                            theme.dim(),
                        ),
                    ]),
                    Line::styled(
                        format!(" {}", sparkline(points, width)),
                        theme.service(&stats.name),
                    ),
                ]
            }
            _ => vec![Line::styled(
                if stats.kind == "service" {
                    format!(
                        " {}: no requests in the last 5 minutes",
                        fmt::clean(&stats.name)
                    )
                } else {
                    format!(
                        " {}: a {}; its latency is its callers' calls (p95 above)",
                        fmt::clean(&stats.name),
                        stats.kind
                    )
                },
                theme.dim(),
            )],
        };
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .render(layout.spark, buf);
    }
}

fn render_page(app: &App, page: &ServicePage, body: Rect, buf: &mut Buffer) {
    let theme = &app.theme;
    let layout = page_layout(body, page.endpoints.len());
    let stats = app.stats_of(&page.name);
    pane(format!(
        "{} · {} · Esc back · Enter traces of an endpoint · t all its traces",
        fmt::clean(&page.name),
        stats.map_or("service", |s| s.kind.as_str())
    ))
    .render(body, buf);
    let summary = match stats {
        Some(s) => Line::from(vec![
            Span::raw(format!(
                " {} requests ({}) · ",
                fmt::count(s.requests),
                fmt::per_second(s.rps)
            )),
            Span::styled(
                format!("{} errors ({})", s.errors, fmt::percent(s.error_rate)),
                if s.errors > 0 {
                    theme.error()
                } else {
                    Style::new()
                },
            ),
            Span::raw(format!(
                " · p50 {} · p95 {} · p99 {} · max {}",
                fmt::ms(s.p50_ms),
                fmt::ms(s.p95_ms),
                fmt::ms(s.p99_ms),
                fmt::ms(s.max_ms)
            )),
        ]),
        None => Line::styled(" no requests in this window", theme.dim()),
    };
    Paragraph::new(summary).render(layout.summary, buf);

    // Endpoints.
    if page.endpoints.is_empty() {
        Paragraph::new(" No endpoints: a database or peer, or nothing in this window.")
            .style(theme.dim())
            .render(layout.table, buf);
    } else {
        let mut header = vec![Cell::from("endpoint").style(theme.header())];
        header.extend(
            Column::ALL[2..]
                .iter()
                .map(|c| Cell::from(c.title()).style(theme.header())),
        );
        let mut widths = vec![Constraint::Min(20)];
        widths.extend(FIGURE_WIDTHS);
        let rows_height = layout.table.height.saturating_sub(1) as usize;
        let (first, shown) = visible(&page.endpoints, page.selected, rows_height);
        let rows: Vec<Row> = shown
            .iter()
            .enumerate()
            .map(|(i, stats)| {
                let row = Row::new(stats_cells(app, stats, false));
                if first + i == page.selected {
                    row.style(theme.selected())
                } else {
                    row
                }
            })
            .collect();
        Table::new(rows, widths)
            .header(Row::new(header))
            .render(layout.table, buf);
    }

    // Distribution, errors, versions.
    let [left, right] =
        Layout::horizontal([Constraint::Length(40), Constraint::Min(0)]).areas(layout.bottom);
    let mut dist = vec![Line::styled(" Latency distribution", theme.header())];
    if let Some(s) = stats {
        let max = s.max_ms.max(f64::MIN_POSITIVE);
        let bar_width = left.width.saturating_sub(18) as f64;
        for (label, value) in [
            ("p50", s.p50_ms),
            ("p75", s.p75_ms),
            ("p90", s.p90_ms),
            ("p95", s.p95_ms),
            ("p99", s.p99_ms),
            ("max", s.max_ms),
        ] {
            let len = ((value / max) * bar_width).round().max(0.0) as usize;
            dist.push(Line::from(vec![
                Span::raw(format!(" {label} {:>8} ", fmt::ms(value))),
                Span::styled("█".repeat(len), theme.service(&page.name)),
            ]));
        }
    }
    Paragraph::new(dist).render(left, buf);

    let mut lines = vec![Line::styled(
        " Errors (select: ↓ or G; Enter: latest trace)",
        theme.header(),
    )];
    let groups = app.page_errors(&page.name);
    if groups.is_empty() {
        lines.push(Line::styled("  none", theme.good()));
    }
    for (i, group) in groups.into_iter().enumerate() {
        let selected = page.selected == page.endpoints.len() + i;
        let place = if group.file.is_empty() {
            String::new()
        } else {
            format!(" at {}:{}", group.file, group.line)
        };
        lines.push(Line::styled(
            format!(
                "  ×{} {}{}",
                group.count,
                fmt::clean(&group.r#type),
                fmt::clean(&place)
            ),
            if selected {
                theme.error().patch(theme.selected())
            } else {
                theme.error()
            },
        ));
    }
    lines.push(Line::styled(" Versions", theme.header()));
    for d in app
        .overview
        .deployments
        .iter()
        .filter(|d| d.service == page.name)
    {
        lines.push(Line::raw(format!(
            "  {:<10} {:>6} req  {:>7} err  p95 {}",
            fmt::fit(&fmt::clean(&d.version), 10),
            fmt::count(d.requests),
            fmt::percent(d.error_rate),
            fmt::ms(d.p95_ms)
        )));
    }
    Paragraph::new(lines)
        .wrap(ratatui::widgets::Wrap { trim: false })
        .render(right, buf);
}
