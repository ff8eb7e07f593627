//! The Deployments tab: each service's versions side by side, with what changed from the version before,
//! so "did the fix work" is one glance.

use collector::analysis::results::Deployment;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, Widget};

use super::{below_header, pane, visible};
use crate::app::App;
use crate::fmt;
use crate::theme::Theme;

pub(super) fn list_rows(body: Rect) -> Rect {
    below_header(Block::default().borders(Borders::ALL).inner(body))
}

/// How a version compares with the one its service ran before.
fn change(theme: &Theme, now: &Deployment, before: Option<&Deployment>) -> Cell<'static> {
    let Some(before) = before else {
        return Cell::from("first version").style(theme.dim());
    };
    let mut words = Vec::new();
    let (mut better, mut worse) = (false, false);
    if (now.error_rate - before.error_rate).abs() >= 0.0005 {
        words.push(format!(
            "errors {} → {}",
            fmt::percent(before.error_rate),
            fmt::percent(now.error_rate)
        ));
        better |= now.error_rate < before.error_rate;
        worse |= now.error_rate > before.error_rate;
    }
    if before.p95_ms > 0.0 {
        let ratio = now.p95_ms / before.p95_ms;
        if !(0.8..=1.25).contains(&ratio) {
            words.push(format!(
                "p95 {} → {}",
                fmt::ms(before.p95_ms),
                fmt::ms(now.p95_ms)
            ));
            better |= ratio < 0.8;
            worse |= ratio > 1.25;
        }
    }
    let (verdict, style) = match (better, worse) {
        (true, false) => ("better: ", theme.good()),
        (false, true) => ("worse: ", theme.error()),
        (true, true) => ("mixed: ", theme.warn()),
        (false, false) => ("no change", Style::new()),
    };
    Cell::from(format!("{verdict}{}", words.join(", "))).style(style)
}

pub(super) fn render(app: &App, body: Rect, buf: &mut Buffer) {
    let theme = &app.theme;
    let table_area = Block::default().borders(Borders::ALL).inner(body);
    pane("Deployments · each service's versions, oldest first · Enter opens the service")
        .render(body, buf);
    let deployments = &app.overview.deployments;
    if deployments.is_empty() {
        Paragraph::new(" No versions yet: services report theirs as service.version.")
            .style(theme.dim())
            .render(table_area, buf);
        return;
    }
    let rows_height = table_area.height.saturating_sub(1) as usize;
    let (first, shown) = visible(deployments, app.deployments_selected, rows_height);
    let rows: Vec<Row> = shown
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let at = first + i;
            let before = at
                .checked_sub(1)
                .and_then(|b| deployments.get(b))
                .filter(|b| b.service == d.service);
            let same_service = before.is_some();
            let row = Row::new(vec![
                Cell::from(if same_service {
                    String::new()
                } else {
                    fmt::clean(&d.service)
                })
                .style(theme.service(&d.service)),
                Cell::from(fmt::clean(&d.version)),
                Cell::from(fmt::clock(d.first_seen)),
                Cell::from(Line::from(fmt::count(d.requests)).right_aligned()),
                Cell::from(Line::from(fmt::percent(d.error_rate)).right_aligned()).style(
                    if d.errors > 0 {
                        theme.error()
                    } else {
                        Style::new()
                    },
                ),
                Cell::from(Line::from(fmt::ms(d.p50_ms)).right_aligned()),
                Cell::from(Line::from(fmt::ms(d.p95_ms)).right_aligned()),
                change(theme, d, before),
            ]);
            if at == app.deployments_selected {
                row.style(theme.selected())
            } else {
                row
            }
        })
        .collect();
    let header = Row::new(
        [
            "service",
            "version",
            "since",
            "requests",
            "error %",
            "p50",
            "p95",
            "against the version before",
        ]
        .map(|h| Cell::from(h).style(theme.header())),
    );
    Table::new(
        rows,
        [
            Constraint::Length(22),
            Constraint::Length(8),
            Constraint::Length(12),
            Constraint::Length(8),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Min(10),
        ],
    )
    .header(header)
    .render(table_area, buf);
}
