//! The Map tab: services, databases and peers as boxes in layers (callers left, what they call to the
//! right), joined by lines with arrows; a failing node or edge is drawn in the error style, and every edge
//! is listed below with its calls a second, error rate and p95.

use std::collections::HashMap;

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Cell, Paragraph, Row, Table, Widget};

use super::pane;
use crate::app::App;
use crate::fmt;

const UP: u8 = 1;
const DOWN: u8 = 2;
const LEFT: u8 = 4;
const RIGHT: u8 = 8;

fn areas(app: &App, body: Rect) -> (Rect, Rect) {
    let inner = Block::default().borders(Borders::ALL).inner(body);
    let edges = app.overview.map.edges.len() as u16;
    let table = (edges + 2).min(inner.height / 3).max(2.min(inner.height));
    let [map, table] =
        Layout::vertical([Constraint::Min(0), Constraint::Length(table)]).areas(inner);
    (map, table)
}

pub(super) fn list_rows(app: &App, body: Rect) -> Rect {
    areas(app, body).0
}

/// Each node's box, by its index in the map's nodes, and the gap between layers. Nodes that do not fit are
/// left out.
fn boxes(app: &App, area: Rect) -> (Vec<(usize, Rect)>, u16) {
    let nodes = &app.overview.map.nodes;
    if nodes.is_empty() || area.width < 8 || area.height < 3 {
        return (Vec::new(), 0);
    }
    let ranks = nodes.iter().map(|n| n.rank).max().unwrap_or(0) + 1;
    let mut gap = 6u16;
    let fit = |gap: u16| (area.width.saturating_sub(gap * (ranks as u16 - 1))) / ranks as u16;
    if fit(gap) < 16 {
        gap = 3;
    }
    let width = fit(gap).clamp(6, 32);
    let total = width * ranks as u16 + gap * (ranks as u16 - 1);
    let left = area.x + area.width.saturating_sub(total) / 2;
    let mut out = Vec::new();
    for rank in 0..ranks {
        let mut column: Vec<usize> = (0..nodes.len())
            .filter(|&i| nodes[i].rank == rank)
            .collect();
        column.sort_by_key(|&i| nodes[i].order);
        let n = column.len() as u16;
        let mut height = 4u16;
        if n * height + n.saturating_sub(1) > area.height {
            height = 3;
        }
        let needed = n * height + n.saturating_sub(1);
        let top = area.y + area.height.saturating_sub(needed) / 2;
        let x = left + rank as u16 * (width + gap);
        for (k, i) in column.into_iter().enumerate() {
            let y = top + k as u16 * (height + 1);
            if y + height > area.bottom() || x + width > area.right() {
                continue;
            }
            out.push((i, Rect::new(x, y, width, height)));
        }
    }
    (out, gap)
}

/// The position in selection order of the node whose box holds (`x`, `y`).
pub(super) fn node_at(app: &App, body: Rect, x: u16, y: u16) -> Option<usize> {
    let (map, _) = areas(app, body);
    let hit = boxes(app, map)
        .0
        .into_iter()
        .find(|(_, r)| x >= r.x && x < r.right() && y >= r.y && y < r.bottom())?
        .0;
    app.map_order().iter().position(|&i| i == hit)
}

fn line_char(bits: u8) -> &'static str {
    match bits {
        b if b == UP | DOWN | LEFT | RIGHT => "┼",
        b if b == UP | DOWN | RIGHT => "├",
        b if b == UP | DOWN | LEFT => "┤",
        b if b == DOWN | LEFT | RIGHT => "┬",
        b if b == UP | LEFT | RIGHT => "┴",
        b if b == DOWN | RIGHT => "┌",
        b if b == DOWN | LEFT => "┐",
        b if b == UP | RIGHT => "└",
        b if b == UP | LEFT => "┘",
        b if b & (UP | DOWN) != 0 && b & (LEFT | RIGHT) == 0 => "│",
        _ => "─",
    }
}

pub(super) fn render(app: &App, body: Rect, buf: &mut Buffer) {
    let theme = &app.theme;
    let map_data = &app.overview.map;
    pane(format!(
        "Service map · {} · ↑↓ select · Enter opens the service · t its traces",
        app.window_name()
    ))
    .render(body, buf);
    let (map_area, table_area) = areas(app, body);
    if map_data.nodes.is_empty() {
        Paragraph::new(" No services yet.")
            .style(theme.dim())
            .render(map_area, buf);
        return;
    }
    let (boxes, gap) = boxes(app, map_area);
    // Under every box: where calls that skip a layer run, so they cross no box on their way.
    let below = boxes.iter().map(|(_, r)| r.bottom()).max().unwrap_or(0);
    let at: HashMap<&str, Rect> = boxes
        .iter()
        .map(|(i, r)| (map_data.nodes[*i].id.as_str(), *r))
        .collect();
    let selected = app.map_order().get(app.map_selected).copied();
    let selected_id = selected.map(|i| map_data.nodes[i].id.as_str());

    // Lines first, as direction bits per cell, so crossings and forks join up.
    let mut cells: HashMap<(u16, u16), (u8, bool)> = HashMap::new();
    let mut arrows: Vec<(u16, u16, bool)> = Vec::new();
    let mut mark = |x: u16, y: u16, bits: u8, error: bool| {
        let cell = cells.entry((x, y)).or_insert((0, false));
        cell.0 |= bits;
        cell.1 |= error;
    };
    // A path is a list of corners joined by straight runs; each cell records which ways its line goes.
    let mut path = |points: &[(u16, u16)], error: bool| {
        for pair in points.windows(2) {
            let ((xa, ya), (xb, yb)) = (pair[0], pair[1]);
            if ya == yb {
                let (lo, hi) = (xa.min(xb), xa.max(xb));
                for x in lo..=hi {
                    let bits = if x > lo { LEFT } else { 0 } | if x < hi { RIGHT } else { 0 };
                    mark(x, ya, bits, error);
                }
            } else {
                let (lo, hi) = (ya.min(yb), ya.max(yb));
                for y in lo..=hi {
                    let bits = if y > lo { UP } else { 0 } | if y < hi { DOWN } else { 0 };
                    mark(xa, y, bits, error);
                }
            }
        }
    };
    for edge in &map_data.edges {
        let (Some(from), Some(to)) = (at.get(edge.from.as_str()), at.get(edge.to.as_str())) else {
            continue;
        };
        if to.x <= from.right() + 1 {
            // A call back to an earlier layer (or within one): listed in the table, not drawn.
            continue;
        }
        let error = edge.errors > 0;
        let (y0, y1) = (from.y + from.height / 2, to.y + to.height / 2);
        let (start, end) = (from.right(), to.x - 1);
        let adjacent = to.x <= from.right() + gap;
        if adjacent || below >= map_area.bottom() {
            let bend = from.right() + (to.x - from.right()) / 2;
            path(&[(start, y0), (bend, y0), (bend, y1), (end, y1)], error);
        } else {
            let (out, back) = (start + gap / 2, to.x.saturating_sub(gap - gap / 2));
            path(
                &[
                    (start, y0),
                    (out, y0),
                    (out, below),
                    (back, below),
                    (back, y1),
                    (end, y1),
                ],
                error,
            );
        }
        arrows.push((end, y1, error));
    }
    for ((x, y), (bits, error)) in &cells {
        if map_area.contains((*x, *y).into()) {
            let style = if *error { theme.error() } else { theme.dim() };
            buf[(*x, *y)].set_symbol(line_char(*bits)).set_style(style);
        }
    }
    for (x, y, error) in arrows {
        if map_area.contains((x, y).into()) {
            buf[(x, y)]
                .set_symbol("▶")
                .set_style(if error { theme.error() } else { theme.dim() });
        }
    }

    // Then the boxes.
    for (i, area) in &boxes {
        let node = &map_data.nodes[*i];
        let stats = app.stats_of(&node.name);
        let failing = stats.is_some_and(|s| s.errors > 0);
        let is_selected = Some(*i) == selected;
        let mut border = if failing {
            theme.error()
        } else {
            theme.service(&node.name)
        };
        if node.kind != "service" && !failing {
            border = theme.dim();
        }
        let block = Block::default()
            .borders(Borders::ALL)
            .border_type(if is_selected {
                BorderType::Thick
            } else if node.kind == "service" {
                BorderType::Plain
            } else {
                BorderType::Rounded
            })
            .border_style(border);
        let inner = block.inner(*area);
        block.render(*area, buf);
        let name_style = if is_selected {
            theme.selected()
        } else {
            theme.header()
        };
        let mut lines = vec![Line::styled(
            fmt::fit(&fmt::clean(&node.name), inner.width as usize),
            name_style,
        )];
        let figures = match stats {
            Some(s) => Line::from(vec![
                Span::raw(format!("{} ", fmt::per_second(s.rps))),
                Span::styled(
                    format!("{} ", fmt::percent(s.error_rate)),
                    if failing { theme.error() } else { Style::new() },
                ),
                Span::styled(
                    fmt::ms(s.p95_ms),
                    if s.p95_ms >= 1000.0 {
                        theme.warn()
                    } else {
                        Style::new()
                    },
                ),
            ]),
            // The browser's figures are pages and sessions, on their own tab.
            None if node.kind == "browser" => Line::styled("see tab 8", theme.dim()),
            None => Line::styled(node.kind.clone(), theme.dim()),
        };
        if inner.height >= 2 {
            lines.push(figures);
        }
        Paragraph::new(lines).render(inner, buf);
    }

    let hidden = map_data.nodes.len().saturating_sub(boxes.len());
    if hidden > 0 && map_area.height > 0 {
        let note = format!(
            " +{hidden} not shown here: a larger terminal has room, Services lists them all"
        );
        Line::styled(fmt::fit(&note, map_area.width as usize), theme.dim()).render(
            Rect {
                y: map_area.bottom() - 1,
                height: 1,
                ..map_area
            },
            buf,
        );
    }

    // The edges, listed.
    let rows: Vec<Row> = map_data
        .edges
        .iter()
        .map(|edge| {
            let involved = selected_id.is_some_and(|id| edge.from == id || edge.to == id);
            let mut style = if edge.errors > 0 {
                theme.error()
            } else {
                Style::new()
            };
            if involved {
                style = style.patch(theme.highlight());
            }
            let rate = if edge.calls > 0 {
                edge.errors as f64 / edge.calls as f64
            } else {
                0.0
            };
            Row::new(vec![
                Cell::from(fmt::clean(&format!("{} → {}", edge.from, edge.to))),
                Cell::from(Line::from(fmt::per_second(edge.rps)).right_aligned()),
                Cell::from(Line::from(fmt::count(edge.calls)).right_aligned()),
                Cell::from(Line::from(fmt::percent(rate)).right_aligned()),
                Cell::from(Line::from(fmt::ms(edge.p95_ms)).right_aligned()),
            ])
            .style(style)
        })
        .collect();
    let header = Row::new(
        ["from → to", "calls/s", "calls", "error %", "p95"]
            .map(|h| Cell::from(h).style(theme.header())),
    );
    Table::new(
        rows,
        [
            Constraint::Min(30),
            Constraint::Length(8),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Length(7),
        ],
    )
    .header(header)
    .block(
        Block::default()
            .borders(Borders::TOP)
            .border_style(theme.dim()),
    )
    .render(table_area, buf);
}
