//! The Deployments tab: each service's versions side by side, with what changed from the version before,
//! so "did the fix work" is one glance.

use protocol::{DependencyChange, Deployment};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, Widget};

use super::{below_header, pane, scroll};
use crate::app::App;
use crate::fmt;
use crate::theme::Theme;

/// Below this width the table leaves out when a version started and its p50, and the comparison with the
/// version before is spelled out under the table only.
const WIDE: u16 = 120;

/// The table, and under it the selected version spelled out: a line, and one for each deployment of a
/// service it calls (at most six, or two when narrow).
fn areas(app: &App, body: Rect) -> (Rect, Rect) {
    let inner = Block::default().borders(Borders::ALL).inner(body);
    // A dependency's line can wrap, twice on a narrow screen.
    let (most, each) = if body.width >= WIDE { (6, 2) } else { (2, 3) };
    let dependencies = (app.overview.deployments.get(app.deployments_selected))
        .map_or(0, |d| d.dependencies.len().min(most));
    let [table, detail] = Layout::vertical([
        Constraint::Min(2),
        Constraint::Length(3 + (dependencies * each) as u16),
    ])
    .areas(inner);
    (table, detail)
}

pub(super) fn list_rows(app: &App, body: Rect) -> Rect {
    below_header(areas(app, body).0)
}

/// The share of a version's requests in which an N+1 loop was found, as shown: blank for none.
fn n_plus_one_share(d: &Deployment) -> String {
    if d.n_plus_one == 0 {
        String::new()
    } else {
        fmt::percent(d.n_plus_one_share)
    }
}

/// How a version compares with the one its service ran before, as the collector judged it: a verdict, what
/// changed, and its style.
fn change<'a>(theme: &Theme, d: &'a Deployment) -> (&'a str, String, Style) {
    let Some(change) = &d.change else {
        return ("first version", String::new(), theme.dim());
    };
    let style = verdict_style(theme, &change.verdict);
    (
        &change.verdict,
        fmt::clean(&change.changes.join(", ")),
        style,
    )
}

/// How a caller's endpoints changed when a service it calls deployed: a verdict, what changed, and its
/// style.
fn dependency_change<'a>(theme: &Theme, d: &'a DependencyChange) -> (&'a str, String, Style) {
    (
        &d.change.verdict,
        fmt::clean(&d.change.changes.join(", ")),
        verdict_style(theme, &d.change.verdict),
    )
}

fn verdict_style(theme: &Theme, verdict: &str) -> Style {
    match verdict {
        "better" => theme.good(),
        "worse" => theme.error(),
        "mixed" => theme.warn(),
        "no change" => Style::new(),
        _ => theme.dim(),
    }
}

/// The table's lines: each version (its index), then one for each deployment of a service it calls while
/// it ran (the index of that change).
fn lines(deployments: &[Deployment]) -> Vec<(usize, Option<usize>)> {
    deployments
        .iter()
        .enumerate()
        .flat_map(|(at, d)| {
            std::iter::once((at, None)).chain((0..d.dependencies.len()).map(move |k| (at, Some(k))))
        })
        .collect()
}

/// The first line shown when `rows` lines fit: the selected version's stays on screen.
fn first_line(app: &App, lines: &[(usize, Option<usize>)], rows: usize) -> usize {
    let selected = lines
        .iter()
        .position(|line| *line == (app.deployments_selected, None))
        .unwrap_or(0);
    scroll(selected, lines.len(), rows)
}

/// The version whose line (or one of whose dependencies' lines) is drawn at line `y` of `rows`.
pub(super) fn row_at(app: &App, rows: Rect, y: u16) -> Option<usize> {
    let lines = lines(&app.overview.deployments);
    let first = first_line(app, &lines, rows.height as usize);
    lines
        .get(first + y.checked_sub(rows.y)? as usize)
        .map(|(at, _)| *at)
}

/// The version `at` replaced, if its service ran one before.
fn before(deployments: &[Deployment], at: usize) -> Option<&Deployment> {
    at.checked_sub(1)
        .and_then(|b| deployments.get(b))
        .filter(|b| b.service == deployments[at].service)
}

pub(super) fn render(app: &App, body: Rect, buf: &mut Buffer) {
    let theme = &app.theme;
    let (table_area, detail_area) = areas(app, body);
    pane("Deployments · each version, all its requests · Enter opens the service")
        .render(body, buf);
    let deployments = &app.overview.deployments;
    if deployments.is_empty() {
        Paragraph::new(" No versions yet: services report theirs as service.version.")
            .style(theme.dim())
            .render(table_area, buf);
        return;
    }
    let wide = body.width >= WIDE;
    let rows_height = table_area.height.saturating_sub(1) as usize;
    let lines = lines(deployments);
    let first = first_line(app, &lines, rows_height);
    let rows: Vec<Row> = lines[first..(first + rows_height).min(lines.len())]
        .iter()
        .map(|&(at, dependency)| {
            let d = &deployments[at];
            if let Some(k) = dependency {
                return dependency_row(theme, &d.dependencies[k], wide);
            }
            let before = before(deployments, at);
            let (verdict, what, style) = change(theme, d);
            let mut cells = vec![
                Cell::from(if before.is_some() {
                    String::new()
                } else {
                    fmt::clean(&d.service)
                })
                .style(theme.service(&d.service)),
                Cell::from(fmt::clean(&d.version)),
            ];
            if wide {
                cells.push(Cell::from(fmt::clock(d.first_seen)));
            }
            cells.push(Cell::from(
                Line::from(fmt::count(d.requests)).right_aligned(),
            ));
            cells.push(
                Cell::from(Line::from(fmt::percent(d.error_rate)).right_aligned()).style(
                    if d.errors > 0 {
                        theme.error()
                    } else {
                        Style::new()
                    },
                ),
            );
            if wide {
                cells.push(Cell::from(Line::from(fmt::ms(d.p50_ms)).right_aligned()));
            }
            cells.push(Cell::from(Line::from(fmt::ms(d.p95_ms)).right_aligned()));
            if wide {
                cells.push(
                    Cell::from(Line::from(n_plus_one_share(d)).right_aligned()).style(theme.warn()),
                );
            }
            cells.push(
                Cell::from(if wide && !what.is_empty() {
                    format!("{verdict}: {what}")
                } else {
                    verdict.to_owned()
                })
                .style(style),
            );
            let row = Row::new(cells);
            if at == app.deployments_selected {
                row.style(theme.selected())
            } else {
                row
            }
        })
        .collect();
    // Room for "↳ advertisements-service +1" under a caller, on a wide screen.
    let service_width = if wide && deployments.iter().any(|d| !d.dependencies.is_empty()) {
        28
    } else {
        22
    };
    let (titles, widths): (Vec<&str>, Vec<Constraint>) = [
        (true, "service", Constraint::Length(service_width)),
        (true, "version", Constraint::Length(8)),
        (wide, "since", Constraint::Length(12)),
        (true, "requests", Constraint::Length(8)),
        (true, "error %", Constraint::Length(7)),
        (wide, "p50", Constraint::Length(7)),
        (true, "p95", Constraint::Length(7)),
        (wide, "N+1", Constraint::Length(7)),
        (true, "against the version before", Constraint::Min(13)),
    ]
    .into_iter()
    .filter(|(shown, ..)| *shown)
    .map(|(_, title, width)| (title, width))
    .unzip();
    Table::new(rows, widths)
        .header(Row::new(
            titles
                .into_iter()
                .map(|h| Cell::from(h).style(theme.header())),
        ))
        .render(table_area, buf);

    // The selected version against the one before, spelled out.
    let Some(d) = deployments.get(app.deployments_selected) else {
        return;
    };
    let before = before(deployments, app.deployments_selected);
    let (verdict, what, style) = change(theme, d);
    let mut line = vec![Span::styled(
        format!(" {} {}", fmt::clean(&d.service), fmt::clean(&d.version)),
        theme.header(),
    )];
    match before {
        Some(before) => {
            line.push(Span::raw(format!(
                " against {}, endpoint by endpoint: ",
                fmt::clean(&before.version)
            )));
            line.push(Span::styled(verdict, style));
            if !what.is_empty() {
                line.push(Span::raw(format!(": {what}")));
            }
        }
        None => line.push(Span::styled(
            format!(
                ": {verdict}, since {} · {} requests, {} errors, p95 {}{}",
                fmt::clock(d.first_seen),
                fmt::count(d.requests),
                fmt::percent(d.error_rate),
                fmt::ms(d.p95_ms),
                match (d.n_plus_one, d.settling) {
                    (0, _) => String::new(),
                    (n, 0) => format!(", N+1 in {} of them", fmt::count(n)),
                    (n, settling) => format!(
                        ", N+1 in {} of the {} worked out ({} still being worked out)",
                        fmt::count(n),
                        fmt::count(d.requests.saturating_sub(settling)),
                        fmt::count(settling)
                    ),
                }
            ),
            theme.dim(),
        )),
    }
    let mut text = vec![Line::from(line)];
    for dependency in &d.dependencies {
        let (verdict, what, style) = dependency_change(theme, dependency);
        let mut line = vec![
            Span::raw(format!(
                " after {} ({}), its endpoints: ",
                fmt::clean(&dependency.deployed()),
                fmt::clock(dependency.first_seen)
            )),
            Span::styled(verdict, style),
        ];
        if !what.is_empty() {
            line.push(Span::raw(format!(": {what}")));
        }
        text.push(Line::from(line));
    }
    Paragraph::new(text)
        .wrap(ratatui::widgets::Wrap { trim: false })
        .block(
            Block::default()
                .borders(Borders::TOP)
                .border_style(theme.dim()),
        )
        .render(detail_area, buf);
}

/// The line under a caller's version for a deployment of a service it calls: that service and version,
/// when, and what the caller's endpoints did.
fn dependency_row<'a>(theme: &Theme, dependency: &'a DependencyChange, wide: bool) -> Row<'a> {
    let (verdict, what, style) = dependency_change(theme, dependency);
    let mut name = format!(" ↳ {}", fmt::clean(&dependency.service));
    if wide && !dependency.with.is_empty() {
        name.push_str(&format!(" +{}", dependency.with.len()));
    }
    let it = if dependency.with.is_empty() {
        "it"
    } else {
        "them"
    };
    let mut cells = vec![
        Cell::from(name).style(theme.service(&dependency.service)),
        Cell::from(fmt::clean(&dependency.version)),
    ];
    if wide {
        cells.push(Cell::from(fmt::clock(dependency.first_seen)));
    }
    let blanks = if wide { 5 } else { 3 };
    cells.extend((0..blanks).map(|_| Cell::from("")));
    cells.push(
        Cell::from(if wide && !what.is_empty() {
            format!("{verdict} after {it}: {what}")
        } else {
            format!("{verdict} after {it}")
        })
        .style(style),
    );
    Row::new(cells)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    /// A version of the discounts service first seen at `first_seen` (seconds).
    fn version(version: &str, first_seen: u64, requests: u64, n_plus_one: u64) -> Deployment {
        Deployment {
            service: "discounts-service".to_owned(),
            version: version.to_owned(),
            first_seen: first_seen * S,
            last_seen: first_seen * S,
            requests,
            errors: 0,
            error_rate: 0.0,
            p50_ms: 2500.0,
            p95_ms: 2520.0,
            n_plus_one,
            settling: 0,
            n_plus_one_share: n_plus_one as f64 / requests.max(1) as f64,
            change: None,
            dependencies: Vec::new(),
        }
    }

    #[test]
    fn the_n_plus_one_share_is_the_collectors() {
        assert_eq!(n_plus_one_share(&version("1.1", 0, 8, 4)), "50.0 %");
        assert_eq!(n_plus_one_share(&version("1.1", 0, 8, 0)), "");
    }
}
