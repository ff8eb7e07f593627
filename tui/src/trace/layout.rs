//! The trace screen's geometry: where its parts go ([`Areas`]) and the list's columns ([`Columns`]), the same
//! for drawing and for clicks.

use ratatui::layout::Rect;

use super::flame::{FLAME_LEVELS, FLAME_MIN_BAR, FLAME_MIN_ROWS};

/// From this width on, the details sit beside the list instead of below it.
pub(super) const WIDE: u16 = 120;

/// Where the parts of the screen go in `area`: the same for drawing and for clicks.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Areas {
    pub(super) header: Rect,
    /// The time by service, under the header.
    pub(super) summary: Rect,
    /// The time axis above a flame pane as wide as the screen.
    pub(super) ruler: Rect,
    /// The flame pane takes the screen's width (its bars all of it), above the list and details.
    pub(super) wide_flame: bool,
    /// The list's pane: the flame, the list's head and its rows.
    pub(super) list: Rect,
    pub(super) flame: Rect,
    pub(super) head: Rect,
    pub(super) rows: Rect,
    pub(super) separator: Rect,
    pub(super) details: Rect,
    pub(super) wide: bool,
}

impl Areas {
    /// `rows` is the number of rows of the list, `levels` the flame pane's lines: below 120 columns a short list
    /// leaves the rest to the details. The flame pane sits at the top of the list's pane when the list keeps
    /// [`FLAME_MIN_ROWS`] rows below it (all of them, when fewer) and has a time axis to share with it.
    ///
    /// With `wide_flame`, the flame pane takes the whole width under a ruler line, where the body keeps
    /// [`FLAME_MIN_ROWS`] lines below it for the list and details, which share the rest as usual. From 20 lines
    /// on, a summary line (the time by service) sits under the header.
    pub(super) fn of(area: Rect, rows: usize, levels: usize, wide_flame: bool) -> Areas {
        let mut a = Areas::default();
        if area.is_empty() {
            return a;
        }
        a.header = Rect::new(area.x, area.y, area.width, 1);
        let mut body = Rect::new(area.x, area.y + 1, area.width, area.height - 1);
        if area.height >= 20 {
            a.summary = Rect::new(area.x, area.y + 1, area.width, 1);
            body.y += 1;
            body.height -= 1;
        }
        if body.is_empty() {
            return a;
        }
        let flame_lines = u16::try_from(levels.min(FLAME_LEVELS)).unwrap_or(0);
        if wide_flame && levels > 0 && body.height >= flame_lines + 1 + FLAME_MIN_ROWS as u16 {
            a.wide_flame = true;
            a.ruler = Rect::new(body.x, body.y, body.width, 1);
            a.flame = Rect::new(body.x, body.y + 1, body.width, flame_lines);
            body.y += flame_lines + 1;
            body.height -= flame_lines + 1;
            let levels = 0;
            let inner = Areas::of_body(body, area.width, rows, levels);
            return Areas {
                list: inner.list,
                head: inner.head,
                rows: inner.rows,
                separator: inner.separator,
                details: inner.details,
                wide: inner.wide,
                ..a
            };
        }
        let inner = Areas::of_body(body, area.width, rows, levels);
        Areas {
            header: a.header,
            summary: a.summary,
            ..inner
        }
    }

    /// The list (with the flame pane in it, when `levels` is not 0) and the details in `body`.
    pub(super) fn of_body(body: Rect, screen_width: u16, rows: usize, levels: usize) -> Areas {
        let mut a = Areas::default();
        let area = Rect {
            width: screen_width,
            ..body
        };
        let list_width = if area.width >= WIDE {
            body.width * 3 / 5
        } else {
            body.width
        };
        let flame = u16::try_from(levels.min(FLAME_LEVELS)).unwrap_or(0);
        let axis = Columns::of(Rect::new(0, 0, list_width, 1)).bar_w;
        // The flame's lines, the list's head, and its rows (at least two, so that the head stays).
        let needed = (levels > 0 && axis >= FLAME_MIN_BAR).then(|| {
            let rows = u16::try_from(rows.min(FLAME_MIN_ROWS)).unwrap_or(0);
            flame + 1 + rows.max(2)
        });
        let with_flame;
        if area.width >= WIDE {
            a.list = Rect {
                width: list_width,
                ..body
            };
            a.separator = Rect::new(body.x + list_width, body.y, 1, body.height);
            a.details = Rect::new(
                body.x + list_width + 1,
                body.y,
                body.width - list_width - 1,
                body.height,
            );
            a.wide = true;
            with_flame = needed.is_some_and(|n| body.height >= n);
        } else if body.height >= 8 {
            // The list takes what its rows need (with its head and the flame), at least 3 lines and at most 3/5
            // of the body.
            let most = body.height - body.height * 2 / 5;
            with_flame = needed.is_some_and(|n| most >= n);
            let mut wanted = u16::try_from(rows.saturating_add(1)).unwrap_or(u16::MAX);
            if let (true, Some(needed)) = (with_flame, needed) {
                wanted = wanted.saturating_add(flame).max(needed);
            }
            let list = wanted.clamp(3, most);
            let details = body.height - list;
            a.list = Rect {
                height: list,
                ..body
            };
            a.separator = Rect::new(body.x, body.y + list, body.width, 1);
            a.details = Rect::new(body.x, body.y + list + 1, body.width, details - 1);
        } else {
            a.list = body;
            with_flame = needed.is_some_and(|n| body.height >= n);
        }
        let mut rest = a.list;
        if with_flame {
            a.flame = Rect {
                height: flame,
                ..a.list
            };
            rest.y += flame;
            rest.height -= flame;
        }
        if rest.height >= 3 {
            a.head = Rect { height: 1, ..rest };
            a.rows = Rect {
                y: rest.y + 1,
                height: rest.height - 1,
                ..rest
            };
        } else {
            a.rows = rest;
        }
        a
    }
}

/// The columns of the list: markers, label, duration, bar.
#[derive(Clone, Copy, Debug)]
pub(super) struct Columns {
    pub(super) gutter: bool,
    pub(super) label_x: u16,
    pub(super) label_w: usize,
    pub(super) dur_x: u16,
    pub(super) dur_w: usize,
    pub(super) bar_x: u16,
    pub(super) bar_w: usize,
}

impl Columns {
    pub(super) fn of(list: Rect) -> Columns {
        let width = usize::from(list.width);
        let gutter = width >= 8;
        let rest = width - if gutter { 3 } else { 0 };
        let dur_w = if rest >= 24 { 8 } else { 0 };
        let rest = rest - dur_w;
        let bar_w = if rest >= 30 {
            let label = (rest * 11 / 20).clamp(24, 60);
            rest - label - 1
        } else {
            0
        };
        let label_w = rest - bar_w - usize::from(bar_w > 0);
        let label_x = list.x + if gutter { 3 } else { 0 };
        let dur_x = label_x + label_w as u16 + u16::from(bar_w > 0);
        Columns {
            gutter,
            label_x,
            label_w,
            dur_x,
            dur_w,
            bar_x: dur_x + dur_w as u16,
            bar_w,
        }
    }
}
