//! The Insights tab: N+1 findings (a statement or call repeated in a loop) with how often it repeats, the
//! time it costs and its share of the trace; Enter opens an example trace with the repeated spans lit.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, Widget, Wrap};

use super::{below_header, pane, table_and_detail, visible};
use crate::app::App;
use crate::fmt;

pub(super) fn list_rows(body: Rect) -> Rect {
    below_header(table_and_detail(body).0)
}

pub(super) fn render(app: &App, body: Rect, buf: &mut Buffer) {
    let theme = &app.theme;
    let (table_area, detail_area) = table_and_detail(body);
    pane("Insights · N+1: one statement repeated in a loop · Enter opens an example trace")
        .render(body, buf);
    let findings = &app.overview.n_plus_one;
    if findings.is_empty() {
        Paragraph::new(Line::styled(" No N+1 found.", theme.good())).render(table_area, buf);
        return;
    }
    let rows_height = table_area.height.saturating_sub(1) as usize;
    let (first, shown) = visible(findings, app.insights_selected, rows_height);
    let rows: Vec<Row> = shown
        .iter()
        .enumerate()
        .map(|(i, finding)| {
            let row = Row::new(vec![
                Cell::from(fmt::clean(&finding.service)).style(theme.service(&finding.service)),
                Cell::from(fmt::clean(&finding.endpoint)),
                Cell::from(Line::from(format!("×{}", finding.repeats)).right_aligned())
                    .style(theme.warn()),
                Cell::from(Line::from(fmt::ms(finding.total_ms)).right_aligned()),
                Cell::from(Line::from(fmt::percent(finding.share)).right_aligned()),
                Cell::from(Line::from(finding.count.to_string()).right_aligned()),
                Cell::from(fmt::clean(&finding.query)),
            ]);
            if first + i == app.insights_selected {
                row.style(theme.selected())
            } else {
                row
            }
        })
        .collect();
    let header = Row::new(
        [
            "service",
            "endpoint",
            "repeats",
            "per req",
            "of trace",
            "traces",
            "statement",
        ]
        .map(|h| Cell::from(h).style(theme.header())),
    );
    Table::new(
        rows,
        [
            Constraint::Length(18),
            Constraint::Length(16),
            Constraint::Length(7),
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Length(6),
            Constraint::Min(10),
        ],
    )
    .header(header)
    .render(table_area, buf);

    let Some(finding) = findings.get(app.insights_selected) else {
        return;
    };
    let mut lines = vec![Line::from(vec![
        Span::styled(
            format!(
                " {} {} repeats a {} call up to ×{} a trace",
                fmt::clean(&finding.service),
                fmt::clean(&finding.endpoint),
                finding.kind,
                finding.repeats
            ),
            theme.warn(),
        ),
        Span::styled(
            format!(
                " · {} per request on average, {} of its time · in {} traces",
                fmt::ms(finding.total_ms),
                fmt::percent(finding.share),
                finding.count
            ),
            theme.dim(),
        ),
    ])];
    lines.push(Line::styled(
        format!(
            "   in the latest trace, {}: {} in the loop",
            finding.traces.first().map_or("", String::as_str),
            fmt::ms(finding.latest_ms)
        ),
        theme.dim(),
    ));
    for statement in &finding.statements {
        lines.push(Line::raw(format!(
            "   ×{:<4} {:>8}  {}",
            statement.repeats,
            fmt::ms(statement.total_ms),
            fmt::clean(&statement.query)
        )));
    }
    if let Some(at) = &finding.location {
        let place = if at.line > 0 {
            format!("{}:{}", fmt::clean(&at.file), at.line)
        } else {
            fmt::clean(&at.file)
        };
        lines.push(Line::from(vec![
            Span::styled("   called from ", theme.dim()),
            Span::styled(place, theme.header()),
            Span::styled(" (Enter: the trace, its source)", theme.dim()),
        ]));
    }
    if finding.kind == "database" {
        lines.push(Line::from(vec![
            Span::styled("   fix: ", theme.good()),
            Span::raw(crate::trace::N_PLUS_ONE_FIX),
        ]));
    } else {
        lines.push(Line::from(vec![
            Span::styled("   fix: ", theme.good()),
            Span::raw(
                "ask once for all the items (a batch endpoint taking many ids) instead of once per item.",
            ),
        ]));
    }
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .block(Block::default().borders(Borders::TOP))
        .render(detail_area, buf);
}
