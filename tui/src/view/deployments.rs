//! The Deployments tab: each service's versions side by side, with what changed from the version before,
//! so "did the fix work" is one glance.

use protocol::Deployment;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, Widget};

use super::{below_header, pane, visible};
use crate::app::App;
use crate::fmt;
use crate::theme::Theme;

/// Below this width the table leaves out when a version started and its p50, and the comparison with the
/// version before is spelled out under the table only.
const WIDE: u16 = 120;

fn areas(body: Rect) -> (Rect, Rect) {
    let inner = Block::default().borders(Borders::ALL).inner(body);
    let [table, detail] =
        Layout::vertical([Constraint::Min(2), Constraint::Length(3)]).areas(inner);
    (table, detail)
}

pub(super) fn list_rows(body: Rect) -> Rect {
    below_header(areas(body).0)
}

/// How long after its first request a version's N+1s can be judged: a request's loop is known only once its
/// trace is worked out, seconds after it ends (2 s of quiet, 10 s while its root is missing), so until then
/// no N+1 in it is no news.
const SETTLED_NS: u64 = 15_000_000_000;

/// The share of a version's requests in which an N+1 loop was found, as shown: blank for none.
fn n_plus_one_share(d: &Deployment) -> String {
    if d.n_plus_one == 0 {
        String::new()
    } else {
        fmt::percent(d.n_plus_one_share)
    }
}

/// How a version compares with the one its service ran before: a verdict, what changed, and its style.
/// `newest_ns` is the end of the newest request of any version: the data's "now".
fn change(
    theme: &Theme,
    now: &Deployment,
    before: Option<&Deployment>,
    newest_ns: u64,
) -> (&'static str, String, Style) {
    let Some(before) = before else {
        return ("first version", String::new(), theme.dim());
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
    let settled = newest_ns.saturating_sub(now.first_seen) >= SETTLED_NS;
    match (before.n_plus_one > 0, now.n_plus_one > 0) {
        (true, false) if settled => {
            words.push("N+1 gone".to_owned());
            better = true;
        }
        (false, true) if settled => {
            words.push("N+1 new".to_owned());
            worse = true;
        }
        _ => {}
    }
    let (verdict, style) = match (better, worse) {
        (true, false) => ("better", theme.good()),
        (false, true) => ("worse", theme.error()),
        (true, true) => ("mixed", theme.warn()),
        (false, false) => ("no change", Style::new()),
    };
    (verdict, words.join(", "), style)
}

/// The version `at` replaced, if its service ran one before.
fn before(deployments: &[Deployment], at: usize) -> Option<&Deployment> {
    at.checked_sub(1)
        .and_then(|b| deployments.get(b))
        .filter(|b| b.service == deployments[at].service)
}

pub(super) fn render(app: &App, body: Rect, buf: &mut Buffer) {
    let theme = &app.theme;
    let (table_area, detail_area) = areas(body);
    pane("Deployments · each service's versions, oldest first · Enter opens the service")
        .render(body, buf);
    let deployments = &app.overview.deployments;
    if deployments.is_empty() {
        Paragraph::new(" No versions yet: services report theirs as service.version.")
            .style(theme.dim())
            .render(table_area, buf);
        return;
    }
    let wide = body.width >= WIDE;
    let newest_ns = deployments.iter().map(|d| d.last_seen).max().unwrap_or(0);
    let rows_height = table_area.height.saturating_sub(1) as usize;
    let (first, shown) = visible(deployments, app.deployments_selected, rows_height);
    let rows: Vec<Row> = shown
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let at = first + i;
            let before = before(deployments, at);
            let (verdict, what, style) = change(theme, d, before, newest_ns);
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
    let (titles, widths): (Vec<&str>, Vec<Constraint>) = [
        (true, "service", Constraint::Length(22)),
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
    let (verdict, what, style) = change(theme, d, before, newest_ns);
    let mut line = vec![Span::styled(
        format!(" {} {}", fmt::clean(&d.service), fmt::clean(&d.version)),
        theme.header(),
    )];
    match before {
        Some(before) => {
            line.push(Span::raw(format!(
                " against {}: ",
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
    Paragraph::new(Line::from(line))
        .wrap(ratatui::widgets::Wrap { trim: false })
        .block(
            Block::default()
                .borders(Borders::TOP)
                .border_style(theme.dim()),
        )
        .render(detail_area, buf);
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
        }
    }

    /// The verdict on `now` against `before` when the newest request ended at `newest` (seconds).
    fn verdict(now: &Deployment, before: &Deployment, newest: u64) -> (&'static str, String) {
        let (verdict, what, _) = change(&Theme::mono(), now, Some(before), newest * S);
        (verdict, what)
    }

    #[test]
    fn an_n_plus_one_fix_shows_while_a_sleep_still_sets_the_latency() {
        let before = version("1.0", 0, 12, 12);
        assert_eq!(
            verdict(&version("1.1", 100, 3, 0), &before, 115),
            ("better", "N+1 gone".to_owned())
        );
        assert_eq!(
            verdict(&version("1.1", 100, 3, 2), &before, 115),
            ("no change", String::new())
        );
        assert_eq!(
            verdict(&before, &version("0.9", 0, 5, 0), 100),
            ("worse", "N+1 new".to_owned())
        );
        // Until the new version's first requests have been worked out, no news either way.
        assert_eq!(
            verdict(&version("1.1", 100, 30, 0), &before, 110),
            ("no change", String::new())
        );
        assert_eq!(n_plus_one_share(&version("1.1", 0, 8, 4)), "50.0 %");
        assert_eq!(n_plus_one_share(&version("1.1", 0, 8, 0)), "");
    }
}
