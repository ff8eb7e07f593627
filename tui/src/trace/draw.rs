//! Drawing the trace screen: the header, flame pane, waterfall list and details pane, from state it only reads,
//! in the places `layout` gives them.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};

use super::TraceScreen;
use super::flame::{BarCells, flame_axis};
use super::layout::{Areas, Columns, WIDE};
use super::rows::{Item, Mark, Row};
use crate::fmt;
use crate::theme::{Theme, WAITING_FILL};

impl TraceScreen {
    /// Where the details' text starts in the pane, and how wide it is.
    pub(super) fn detail_text(areas: &Areas) -> (u16, usize) {
        let pane = areas.details;
        let x = if areas.wide { pane.x + 1 } else { pane.x };
        (x, usize::from(pane.right().saturating_sub(x)))
    }

    /// Where the parts of the screen go in `area`, for drawing and for clicks alike.
    pub(super) fn areas(&self, area: Rect) -> Areas {
        Areas::of(area, self.rows.len(), self.flame.len(), self.wide_flame)
    }

    /// Draws into `area`; reads state only (takes &self).
    pub fn render(&self, area: Rect, buf: &mut Buffer, theme: &Theme) {
        let area = area.intersection(buf.area);
        if area.is_empty() {
            return;
        }
        let areas = self.areas(area);
        self.render_header(areas.header, buf, theme);
        self.render_summary(areas.summary, buf, theme);
        self.render_ruler(areas.ruler, buf, theme);
        self.render_flame(&areas, buf, theme);
        self.render_list(&areas, buf, theme);
        self.render_details(&areas, buf, theme);
    }

    fn render_header(&self, area: Rect, buf: &mut Buffer, theme: &Theme) {
        if area.is_empty() {
            return;
        }
        let id = fmt::clean(&self.view.trace_id);
        let id = if area.width >= WIDE || id.chars().count() <= 8 {
            id
        } else {
            fmt::fit(&id, 9)
        };
        let mut spans = vec![Span::styled(format!("Trace {id}"), theme.header())];
        if let Some(r) = self.root {
            spans.push(Span::raw("  "));
            spans.push(Span::styled(
                self.nodes[r].service.clone(),
                theme.trace_service(self.nodes[r].colour),
            ));
            spans.push(Span::raw(format!(" {}", self.nodes[r].name)));
        }
        spans.push(Span::raw(format!("  {}", fmt::ms(self.duration_ms))));
        spans.push(Span::raw(format!(
            "  {}",
            fmt::counted(self.nodes.len() as u64, "span")
        )));
        let errors = format!("  {}", fmt::counted(self.errors as u64, "error"));
        spans.push(if self.errors > 0 {
            Span::styled(errors, theme.error())
        } else {
            Span::styled(errors, theme.dim())
        });
        spans.push(Span::raw("  "));
        for (k, service) in self.services.iter().enumerate() {
            if k > 0 {
                spans.push(Span::styled(", ", theme.dim()));
            }
            spans.push(Span::styled(service.clone(), theme.trace_service(k)));
        }
        put_line(buf, area, area.x, area.y, &Line::from(spans));
    }

    /// The line under the header: where the trace's time went, by service (self time: what a service did
    /// itself, not waiting on its calls), each with its bar fill; and what the critical path's marked spans
    /// hold.
    fn render_summary(&self, area: Rect, buf: &mut Buffer, theme: &Theme) {
        if area.is_empty() {
            return;
        }
        let total: f64 = self.breakdown.iter().map(|(_, _, ms)| ms).sum();
        let mut pieces: Vec<(String, Style)> = vec![("time by service ".to_owned(), theme.dim())];
        for (k, (colour, service, ms)) in self.breakdown.iter().enumerate() {
            if k > 0 {
                pieces.push((" · ".to_owned(), theme.dim()));
            }
            let share = if total > 0.0 { ms / total * 100.0 } else { 0.0 };
            pieces.push((
                format!("{} ", theme.trace_fill(*colour)),
                theme.trace_service(*colour),
            ));
            pieces.push((
                format!("{service} {} {share:.0}%", fmt::ms(*ms)),
                theme.trace_service(*colour),
            ));
        }
        let marked: Vec<f64> = self
            .nodes
            .iter()
            .filter(|n| n.critical)
            .map(|n| n.critical_ms)
            .collect();
        if !marked.is_empty() && self.duration_ms > 0.0 {
            let held: f64 = marked.iter().sum();
            pieces.push((
                format!(
                    "   ◆ {} hold {:.0}%",
                    fmt::counted(marked.len() as u64, "span"),
                    held / self.duration_ms * 100.0
                ),
                theme.warn(),
            ));
        }
        let width = usize::from(area.width);
        put_line(buf, area, area.x, area.y, &fit_pieces(pieces, width));
    }

    /// The time axis above a flame pane as wide as the screen: the start, middle and end of the time shown.
    fn render_ruler(&self, area: Rect, buf: &mut Buffer, theme: &Theme) {
        if area.is_empty() {
            return;
        }
        let (lo, hi) = self.zoom;
        let width = usize::from(area.width);
        let start = format!("{}{}", if lo > 0 { "+" } else { "" }, tick(lo, hi - lo));
        put(buf, area, area.x, area.y, &start, theme.dim());
        let end = tick(hi, hi - lo);
        let end_len = end.chars().count();
        if width > start.chars().count() + end_len + 2 {
            put(
                buf,
                area,
                area.x + (width - end_len) as u16,
                area.y,
                &end,
                theme.dim(),
            );
        }
        let mid = tick(lo + (hi - lo) / 2, hi - lo);
        let mid_len = mid.chars().count();
        if width > 2 * (end_len.max(start.chars().count()) + mid_len) + 4 {
            put(
                buf,
                area,
                area.x + ((width - mid_len) / 2) as u16,
                area.y,
                &mid,
                theme.dim(),
            );
        }
        let hint = if self.zoom == (0, self.axis_ns) {
            " z zooms into the selection · F narrows "
        } else {
            " zoomed: - back out · [ ] move "
        };
        let hint_len = hint.chars().count();
        if width > hint_len + 2 * (end_len + mid_len) + 12 {
            put(
                buf,
                area,
                area.x + (width / 4 - hint_len / 2) as u16,
                area.y,
                hint,
                theme.dim(),
            );
        }
    }

    /// Draws the flame pane: per line, a label (depths, spans, services) and the bars of its spans, in three
    /// coats so that what matters stays in view where bars share cells: every span, then the marked ones
    /// (errors, the repeats the screen was opened for), then the selection.
    fn render_flame(&self, areas: &Areas, buf: &mut Buffer, theme: &Theme) {
        let pane = areas.flame;
        let cols = Columns::of(areas.list);
        if flame_axis(areas, pane.y).is_none() {
            return;
        }
        let selected = self.selected_spans();
        for (k, level) in self.flame.iter().enumerate().take(usize::from(pane.height)) {
            let y = pane.y + k as u16;
            let depths = if level.last > level.first {
                format!("depth {}…{}", level.first, level.last)
            } else {
                format!("depth {}", level.first)
            };
            let mut pieces = vec![(
                format!(
                    "{depths} · {} ",
                    fmt::counted(level.spans.len() as u64, "span")
                ),
                theme.dim(),
            )];
            for (s, service) in level.services.iter().enumerate() {
                if s > 0 {
                    pieces.push((", ".to_owned(), theme.dim()));
                }
                let colour = self.services.iter().position(|s| s == service).unwrap_or(0);
                pieces.push((service.clone(), theme.trace_service(colour)));
            }
            if level.more_services {
                pieces.push((", …".to_owned(), theme.dim()));
            }
            // The label may use the duration column, with a cell to spare before the bars; a flame as wide as
            // the screen has no room for it (the summary line names the services).
            if !areas.wide_flame {
                let width = usize::from(cols.bar_x.saturating_sub(cols.label_x + 1));
                let label = Rect::new(cols.label_x, y, width as u16, 1).intersection(pane);
                put_line(buf, label, cols.label_x, y, &fit_pieces(pieces, width));
            }

            let Some(axis) = flame_axis(areas, y) else {
                continue;
            };
            self.paint_bars(buf, axis, &level.spans, Coat::Plain, theme);
            self.paint_bars(buf, axis, &level.marked, Coat::Marked, theme);
            if self.on_flame_line(selected, k) {
                self.paint_bars(buf, axis, selected, Coat::Selected, theme);
            }
        }
    }

    /// Paints the bars of `spans` (in start order) on the axis `axis`, one line tall, each over the cells its
    /// time covers (one at least), skipping the cells an earlier span of the same coat took.
    fn paint_bars(&self, buf: &mut Buffer, axis: Rect, spans: &[usize], coat: Coat, theme: &Theme) {
        let width = usize::from(axis.width);
        if width == 0 {
            return;
        }
        let y = axis.y;
        for BarCells {
            span: i,
            from,
            to,
            whole: first,
        } in self.bar_cells(spans, width)
        {
            let node = &self.nodes[i];
            let own = theme.trace_fill(node.colour);
            let (style, fill) = match coat {
                Coat::Selected => (
                    theme.trace_service(node.colour).patch(theme.selected()),
                    None,
                ),
                _ if node.lit => (theme.highlight(), Some(own)),
                _ => (theme.trace_service(node.colour), Some(own)),
            };
            let mut x = axis.x + from as u16;
            let end = axis.x + to as u16;
            if node.error && first {
                let mark = match coat {
                    Coat::Selected => theme.error().patch(theme.selected()),
                    _ => theme.error(),
                };
                buf.set_stringn(x, y, "!", 1, mark);
                x += 1;
            }
            // The name where it fits, a cell of bar left after it (also on what an earlier bar left of it).
            let room = usize::from(end - x);
            if room >= 4 {
                let name = fmt::fit(&node.name, room - 1);
                x = buf.set_stringn(x, y, &name, room - 1, style).0;
            }
            // Its own time solid (or in its service's texture), the time its calls cover shaded.
            let Some(fill) = fill else {
                let rest = usize::from(end.saturating_sub(x));
                buf.set_stringn(x, y, " ".repeat(rest), rest, style);
                continue;
            };
            let (lo, hi) = self.zoom;
            let span_ns = (hi - lo) as f64 / width as f64;
            let mut covered = node.covered.iter().peekable();
            for cx in x..end {
                // The time at the cell's middle.
                let at = lo + ((f64::from(cx - axis.x) + 0.5) * span_ns) as u64;
                while covered.next_if(|&&(_, b)| b <= at).is_some() {}
                let waiting = covered.peek().is_some_and(|&&(a, _)| a <= at);
                let c = if waiting { WAITING_FILL } else { fill };
                if let Some(cell) = buf.cell_mut((cx, y)) {
                    cell.set_char(c).set_style(style);
                }
            }
        }
    }

    /// Draws the list; returns the scroll offset it used.
    fn render_list(&self, areas: &Areas, buf: &mut Buffer, theme: &Theme) {
        let rows = areas.rows;
        let cols = Columns::of(areas.list);
        let height = usize::from(rows.height);
        let offset = self.offset_in(rows.height);

        if !areas.head.is_empty() {
            let head = areas.head;
            let position = if self.rows.is_empty() {
                "no spans".to_owned()
            } else {
                format!("span {}/{}", self.selected + 1, self.rows.len())
            };
            put(
                buf,
                head,
                cols.label_x,
                head.y,
                &fmt::fit(&position, cols.label_w),
                theme.header(),
            );
            if cols.dur_w > 0 {
                put(buf, head, cols.dur_x, head.y, "duration", theme.header());
            }
            if cols.bar_w > 0 {
                // The time shown: its end and middle, and its start once zoomed.
                let (lo, hi) = self.zoom;
                let end = tick(hi, hi - lo);
                let end_len = end.chars().count();
                if cols.bar_w > end_len + 2 {
                    let x = cols.bar_x + (cols.bar_w - end_len) as u16;
                    put(buf, head, x, head.y, &end, theme.dim());
                }
                let mut start_len = 0;
                if lo > 0 {
                    let start = format!("+{}", tick(lo, hi - lo));
                    start_len = start.chars().count();
                    if cols.bar_w > start_len + end_len + 3 {
                        put(buf, head, cols.bar_x, head.y, &start, theme.dim());
                    }
                }
                let mid = tick(lo + (hi - lo) / 2, hi - lo);
                let mid_len = mid.chars().count();
                if cols.bar_w > 2 * (end_len.max(start_len) + mid_len) + 4 {
                    let x = cols.bar_x + ((cols.bar_w - mid_len) / 2) as u16;
                    put(buf, head, x, head.y, &mid, theme.dim());
                }
            }
        }

        for (k, row) in self.rows.iter().skip(offset).take(height).enumerate() {
            let y = rows.y + k as u16;
            self.render_row(buf, rows, &cols, y, row, theme);
            if offset + k == self.selected {
                let width = (cols.bar_x - rows.x).min(rows.width);
                let width = if cols.bar_w == 0 { rows.width } else { width };
                buf.set_style(Rect::new(rows.x, y, width, 1), theme.selected());
            }
        }
    }

    fn render_row(
        &self,
        buf: &mut Buffer,
        clip: Rect,
        cols: &Columns,
        y: u16,
        row: &Row,
        theme: &Theme,
    ) {
        let (error, critical, lit, start, end, duration_ms, colour) = match row.item {
            Item::Span(i) => {
                let node = &self.nodes[i];
                (
                    node.error,
                    node.critical,
                    node.lit,
                    node.start,
                    node.end,
                    self.view.spans[i].duration_ms,
                    node.colour,
                )
            }
            Item::Group(g) => {
                let group = &self.groups[g];
                let colour = group.members.first().map_or(0, |&m| self.nodes[m].colour);
                (
                    group.error,
                    group.critical,
                    group.lit,
                    group.start,
                    group.end,
                    group.total_ms,
                    colour,
                )
            }
        };
        if cols.gutter {
            if error {
                put(buf, clip, clip.x, y, "!", theme.error());
            }
            if critical {
                put(buf, clip, clip.x + 1, y, "◆", theme.warn());
            }
        }

        // The label: indent, fold mark, then service and name, or the repeat count and statement.
        let indent = (row.depth * 2).min(cols.label_w / 3);
        let mark = match row.mark {
            Mark::Plain => "",
            Mark::Folded => "▸ ",
            Mark::FirstMember => "▾ ",
            Mark::Member => "┆ ",
        };
        let text_style = if lit {
            theme.highlight()
        } else if error {
            theme.error()
        } else {
            Style::new()
        };
        let mut pieces: Vec<(String, Style)> = vec![
            (" ".repeat(indent), Style::new()),
            (mark.to_owned(), theme.dim()),
        ];
        match row.item {
            Item::Span(i) => {
                // The service where it changes (a root, a call into another service); the bar's colour
                // and the tree tell the rest.
                let node = &self.nodes[i];
                if node
                    .parent
                    .is_none_or(|p| self.nodes[p].service != node.service)
                {
                    pieces.push((format!("{} ", node.service), theme.trace_service(colour)));
                }
                pieces.push((node.name.clone(), text_style));
            }
            Item::Group(g) => {
                let group = &self.groups[g];
                let count = format!("×{} ", group.members.len());
                let room = cols
                    .label_w
                    .saturating_sub(indent + mark.chars().count() + count.chars().count());
                // Cut, the statement would lose its table: the span name keeps it.
                let label = if group.label.chars().count() > room && !group.short.is_empty() {
                    group.short.clone()
                } else {
                    group.label.clone()
                };
                pieces.push((count, theme.warn()));
                pieces.push((label, text_style));
            }
        }
        // Clipped to its column too: a wide character counts one in `fit` but takes two cells.
        let column = Rect::new(cols.label_x, y, cols.label_w as u16, 1).intersection(clip);
        put_line(
            buf,
            column,
            cols.label_x,
            y,
            &fit_pieces(pieces, cols.label_w),
        );

        if cols.dur_w > 0 {
            put(
                buf,
                clip,
                cols.dur_x,
                y,
                &format!("{:>7} ", fmt::ms(duration_ms)),
                Style::new(),
            );
        }
        if cols.bar_w > 0 {
            let style = if lit {
                theme.highlight()
            } else if error {
                theme.error()
            } else {
                theme.trace_service(colour)
            };
            // On the time shown: outside it, no bar; cut at its edges.
            let (lo, hi) = self.zoom;
            if end.max(start) >= lo && start <= hi {
                let clip_t = |t: u64| t.clamp(lo, hi) - lo;
                put(
                    buf,
                    clip,
                    cols.bar_x,
                    y,
                    &bar(clip_t(start), clip_t(end), hi - lo, cols.bar_w),
                    style,
                );
            }
        }
    }

    /// Draws the details of the selected row; returns how far they can scroll.
    fn render_details(&self, areas: &Areas, buf: &mut Buffer, theme: &Theme) {
        let pane = areas.details;
        if !areas.separator.is_empty() {
            let sep = areas.separator;
            if areas.wide {
                for y in sep.top()..sep.bottom() {
                    put(buf, sep, sep.x, y, "│", theme.dim());
                }
            } else {
                put(
                    buf,
                    sep,
                    sep.x,
                    sep.y,
                    &"─".repeat(usize::from(sep.width)),
                    theme.dim(),
                );
                put(buf, sep, sep.x + 1, sep.y, " details ", theme.header());
                let hint = " J K scroll ";
                let hint_len = hint.chars().count() as u16;
                if sep.width > hint_len + 12 {
                    put(
                        buf,
                        sep,
                        sep.right() - hint_len - 1,
                        sep.y,
                        hint,
                        theme.dim(),
                    );
                }
            }
        }
        if pane.is_empty() {
            return;
        }
        let (x, width) = Self::detail_text(areas);
        let lines = self.detail_lines(width, theme);
        let height = usize::from(pane.height);
        let scroll = self.detail_scroll.min(lines.len().saturating_sub(height));
        for (k, line) in lines.iter().skip(scroll).take(height).enumerate() {
            put_line(buf, pane, x, pane.y + k as u16, line);
        }
        if scroll > 0 {
            let note = fmt::fit(&format!("… {scroll} lines above (K)"), width);
            clear_line(buf, pane, pane.y);
            put(buf, pane, x, pane.y, &note, theme.dim());
        }
        if lines.len() > scroll + height && height > 1 {
            let below = lines.len() - scroll - height + 1;
            let y = pane.bottom() - 1;
            clear_line(buf, pane, y);
            put(
                buf,
                pane,
                x,
                y,
                &fmt::fit(&format!("… {below} more lines (J)"), width),
                theme.dim(),
            );
        }
    }
}

/// How a flame bar is painted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Coat {
    Plain,
    /// An error or a span the screen was opened for: painted over the plain ones.
    Marked,
    /// The selection, painted over everything.
    Selected,
}

/// A bar from `start` to `end` (nanoseconds on an axis of `axis` nanoseconds) in `width` cells, in eighths of
/// a cell at its end; at least a sliver, so that a span too short to see still shows where it is.
pub(super) fn bar(start: u64, end: u64, axis: u64, width: usize) -> String {
    const PARTIAL: [&str; 8] = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"];
    if width == 0 {
        return String::new();
    }
    let scale = |t: u64| {
        if axis == 0 {
            0.0
        } else {
            (t.min(axis) as f64 / axis as f64) * width as f64
        }
    };
    let (from, to) = (scale(start), scale(end).max(scale(start)));
    let first = (from.floor() as usize).min(width - 1);
    let mut out = " ".repeat(first);
    if (to - from) * 8.0 < 1.0 {
        // Shorter than an eighth of a cell: a sliver on the side of the cell where it is.
        out.push(if from - first as f64 >= 0.5 {
            '▕'
        } else {
            '▏'
        });
        return out;
    }
    let len8 = (((to - first as f64) * 8.0).round() as usize).clamp(1, (width - first) * 8);
    out.push_str(&"█".repeat(len8 / 8));
    out.push_str(PARTIAL[len8 % 8]);
    out
}

/// Pieces of styled text cut to `width` characters in all, the piece crossing the limit ending in `…`.
fn fit_pieces(pieces: Vec<(String, Style)>, width: usize) -> Line<'static> {
    let mut left = width;
    let mut spans = Vec::with_capacity(pieces.len());
    for (text, style) in pieces {
        if left == 0 {
            break;
        }
        let len = text.chars().count();
        if len <= left {
            left -= len;
            spans.push(Span::styled(text, style));
        } else {
            spans.push(Span::styled(fmt::fit(&text, left), style));
            left = 0;
        }
    }
    Line::from(spans)
}

/// Writes `text` at `x`, `y` if that is inside `clip`, never past its right edge.
fn put(buf: &mut Buffer, clip: Rect, x: u16, y: u16, text: &str, style: Style) {
    if y < clip.top() || y >= clip.bottom() || x < clip.left() || x >= clip.right() {
        return;
    }
    buf.set_stringn(x, y, text, usize::from(clip.right() - x), style);
}

fn put_line(buf: &mut Buffer, clip: Rect, x: u16, y: u16, line: &Line<'_>) {
    if y < clip.top() || y >= clip.bottom() || x < clip.left() || x >= clip.right() {
        return;
    }
    buf.set_line(x, y, line, clip.right() - x);
}

fn clear_line(buf: &mut Buffer, clip: Rect, y: u16) {
    if y >= clip.top() && y < clip.bottom() {
        buf.set_style(Rect::new(clip.x, y, clip.width, 1), Style::reset());
        put(
            buf,
            clip,
            clip.x,
            y,
            &" ".repeat(usize::from(clip.width)),
            Style::reset(),
        );
    }
}

/// A time on a zoomed axis: as `fmt::ms` writes it, with as many more digits as it takes for a tenth of the
/// range shown to change the label (zoomed into 10 ms at 5 s: `5.001 s`, not `5.00 s` at both ends).
fn tick(ns: u64, range_ns: u64) -> String {
    let plain = fmt::ms(ns as f64 / 1e6);
    let unit_ns = (range_ns / 10).max(1) as f64;
    if ns < 1_000_000_000 || unit_ns >= 10_000_000.0 {
        return plain;
    }
    // Seconds, with decimals down to the unit: 1 ms needs 3, 10 µs 5; at most 6.
    let decimals = (-(unit_ns / 1e9).log10()).ceil().clamp(2.0, 6.0) as usize;
    format!("{:.decimals$} s", ns as f64 / 1e9)
}

#[cfg(test)]
mod tick_tests {
    use super::tick;

    #[test]
    fn a_zoomed_axis_has_the_digits_its_range_needs() {
        // The whole 5 s trace: as everywhere else.
        assert_eq!(tick(5_000_000_000, 5_000_000_000), "5.00 s");
        // Zoomed into 10 ms at 5 s: its ends differ.
        assert_eq!(tick(5_000_000_000, 10_000_000), "5.000 s");
        assert_eq!(tick(5_010_000_000, 10_000_000), "5.010 s");
        // Into 100 µs: to the 10 µs.
        assert_eq!(tick(5_000_050_000, 100_000), "5.00005 s");
        // Under a second, milliseconds already say enough.
        assert_eq!(tick(250_000_000, 10_000_000), "250 ms");
    }
}
