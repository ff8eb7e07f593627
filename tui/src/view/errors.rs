//! The Errors tab: errors grouped by service, type, message and code location, most frequent first, with
//! the selected group's message, where it is raised and the top of its stack; Enter opens its latest trace.

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

/// `file:line`, or what is known of it.
fn place(file: &str, line: u32) -> String {
    match (file.is_empty(), line) {
        (true, _) => "(unknown)".to_owned(),
        (false, 0) => file.to_owned(),
        (false, line) => format!("{file}:{line}"),
    }
}

pub(super) fn render(app: &App, body: Rect, buf: &mut Buffer) {
    let theme = &app.theme;
    let (table_area, detail_area) = table_and_detail(body);
    let settling = app.overview.counts.settling_errors;
    let title = if settling > 0 {
        // Services count a failed request at once; its group counts it once the trace has settled.
        format!(
            "Errors · grouped by service, type, message and place · {} still settling (grouped 2 s \
             after its last span) · Enter opens the latest trace",
            fmt::counted(settling, "failed trace")
        )
    } else {
        "Errors · grouped by service, type, message and place · Enter opens the latest trace"
            .to_owned()
    };
    pane(&title).render(body, buf);
    let groups = &app.overview.errors;
    if groups.is_empty() {
        Paragraph::new(Line::styled(" No errors.", theme.good())).render(table_area, buf);
        return;
    }
    let rows_height = table_area.height.saturating_sub(1) as usize;
    let (first, shown) = visible(groups, app.errors_selected, rows_height);
    // Where the error is raised is what a student looks for: its column gets the room it needs.
    let place_width = groups
        .iter()
        .map(|g| place(&g.file, g.line).chars().count())
        .max()
        .unwrap_or(9)
        .clamp(9, 48) as u16;
    // Narrow screens leave out the type and when the group was last seen, so that where the error is
    // raised shows whole; the detail below has the type, and when the group was first seen.
    let wide = table_area.width >= 100;
    let rows: Vec<Row> = shown
        .iter()
        .enumerate()
        .map(|(i, group)| {
            let mut cells = vec![
                Cell::from(Line::from(group.count.to_string()).right_aligned())
                    .style(theme.error()),
                Cell::from(fmt::clean(&group.service)).style(theme.service(&group.service)),
            ];
            if wide {
                cells.push(Cell::from(fmt::clean(&group.r#type)));
            }
            cells.push(Cell::from(fmt::clean(&place(&group.file, group.line))));
            if wide {
                cells.push(Cell::from(fmt::clock(group.last_seen)));
            }
            cells.push(Cell::from(fmt::clean(&group.message)));
            let row = Row::new(cells);
            if first + i == app.errors_selected {
                row.style(theme.selected())
            } else {
                row
            }
        })
        .collect();
    let (titles, widths): (Vec<&str>, Vec<Constraint>) = [
        (true, "count", Constraint::Length(5)),
        (true, "service", Constraint::Length(15)),
        (wide, "type", Constraint::Length(15)),
        (true, "file:line", Constraint::Length(place_width)),
        (wide, "last seen", Constraint::Length(12)),
        (true, "message", Constraint::Min(10)),
    ]
    .into_iter()
    .filter(|(shown, ..)| *shown)
    .map(|(_, title, width)| (title, width))
    .unzip();
    let header = Row::new(
        titles
            .into_iter()
            .map(|h| Cell::from(h).style(theme.header())),
    );
    Table::new(rows, widths)
        .header(header)
        .render(table_area, buf);

    let Some(group) = groups.get(app.errors_selected) else {
        return;
    };
    let mut lines = vec![
        Line::from(vec![
            Span::styled(format!(" {} ", fmt::clean(&group.r#type)), theme.error()),
            Span::raw(fmt::clean(&group.message)),
        ]),
        Line::from(vec![
            Span::styled(" raised at ", theme.dim()),
            Span::styled(
                fmt::clean(&place(&group.file, group.line)),
                theme.highlight(),
            ),
            Span::styled(
                format!(
                    " in {} · ×{} since {} · latest trace {}",
                    fmt::clean(&group.service),
                    group.count,
                    fmt::clock(group.first_seen),
                    fmt::clean(&group.example_trace_id)
                ),
                theme.dim(),
            ),
        ]),
    ];
    if let Some(line) = &group.log_line {
        lines.push(Line::from(vec![
            Span::styled(" logged ", theme.dim()),
            Span::raw(fmt::clean(line)),
        ]));
    }
    for frame in group.stack.lines().filter(|l| !l.trim().is_empty()).take(6) {
        lines.push(Line::styled(
            format!("   {}", fmt::clean(frame.trim_end())),
            theme.dim(),
        ));
    }
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .block(Block::default().borders(Borders::TOP))
        .render(detail_area, buf);
}
