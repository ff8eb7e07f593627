//! The trace screen's input: keys, and what a click lands on (answered from the layout the drawing uses).

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::layout::Rect;

use super::rows::{Item, Mark};
use super::{Target, TraceScreen};

/// Lines `J` and `K` scroll the details by.
pub(super) const DETAIL_STEP: usize = 3;

impl TraceScreen {
    /// Handles a key; returns false when the key means nothing here (the caller then tries its own keys: Esc,
    /// q, tabs).
    pub fn handle_key(&mut self, key: KeyEvent) -> bool {
        if key.kind == KeyEventKind::Release || key.modifiers.contains(KeyModifiers::ALT) {
            return false;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let page = self.page() as isize;
        match key.code {
            KeyCode::Char('u') if ctrl => self.move_by(-page),
            KeyCode::Char('d') if ctrl => self.move_by(page),
            _ if ctrl => return false,
            KeyCode::Up | KeyCode::Char('k') => self.move_by(-1),
            KeyCode::Down | KeyCode::Char('j') => self.move_by(1),
            KeyCode::PageUp => self.move_by(-page),
            KeyCode::PageDown => self.move_by(page),
            KeyCode::Home | KeyCode::Char('g') => self.select(0),
            KeyCode::End | KeyCode::Char('G') => self.select(usize::MAX),
            KeyCode::Right | KeyCode::Char('l') => self.unfold(),
            KeyCode::Enter => {
                if matches!(self.selected_row().map(|r| r.mark), Some(Mark::Folded)) {
                    self.unfold();
                } else {
                    self.fold();
                }
            }
            KeyCode::Left | KeyCode::Char('h') => {
                if !self.fold() {
                    self.select_parent();
                }
            }
            KeyCode::Char('e') => self.next_where(TraceScreen::item_error),
            KeyCode::Char('c') => self.next_where(TraceScreen::item_critical),
            KeyCode::Char('F') => self.wide_flame = !self.wide_flame,
            KeyCode::Char('L') => self.all_logs = !self.all_logs,
            KeyCode::Char('z') => self.zoom_to_selection(),
            KeyCode::Char('-') => {
                self.zoom_out();
            }
            KeyCode::Char('+') | KeyCode::Char('=') => self.zoom_by(0.5),
            KeyCode::Char('[') => self.pan(-1),
            KeyCode::Char(']') => self.pan(1),
            KeyCode::Char('J') => {
                self.detail_scroll = (self.detail_scroll + DETAIL_STEP).min(self.detail_max());
            }
            KeyCode::Char('K') => {
                self.detail_scroll = self.detail_scroll.saturating_sub(DETAIL_STEP)
            }
            _ => return false,
        }
        self.follow();
        true
    }

    /// Zooms into the selected row's time (a span's, or a group's from its first call to its last).
    fn zoom_to_selection(&mut self) {
        let Some(row) = self.selected_row() else {
            return;
        };
        let (from, to) = match row.item {
            Item::Span(i) => (self.nodes[i].start, self.nodes[i].end),
            Item::Group(g) => (self.groups[g].start, self.groups[g].end),
        };
        self.zoom_to(from, to);
    }

    /// What the cell at `column`, `row` of the screen drawn into `area` shows, from the same layout the drawing
    /// uses: a bar of the flame pane (the one drawn on top there), or a row of the waterfall list.
    pub fn hit(&self, area: Rect, column: u16, row: u16) -> Option<Target> {
        let areas = self.areas(area);
        if let Some(span) = self.flame_span_at(&areas, column, row) {
            return Some(Target::FlameBar(span));
        }
        let rows = areas.rows;
        if rows.is_empty()
            || column < rows.x
            || column >= rows.right()
            || row < rows.y
            || row >= rows.bottom()
        {
            return None;
        }
        let at = self.offset_in(rows.height) + usize::from(row - rows.y);
        (at < self.rows.len()).then_some(Target::Row(at))
    }

    /// What the wheel points at: a point of the flame pane's time axis (with the bar there), or as [`hit`].
    ///
    /// [`hit`]: TraceScreen::hit
    pub fn wheel_hit(&self, area: Rect, column: u16, row: u16) -> Option<Target> {
        let areas = self.areas(area);
        match self.flame_time_at(&areas, column, row) {
            Some(at_ns) => Some(Target::Flame {
                at_ns,
                bar: self.flame_span_at(&areas, column, row),
            }),
            None => self.hit(area, column, row),
        }
    }

    /// The wheel turned over `target`: over the flame pane, zooms in (`closer`) or out about the time under
    /// the pointer, which stays where it is; `false` elsewhere (the wheel moves the selection there).
    pub fn wheel(&mut self, target: Target, closer: bool) -> bool {
        let Target::Flame { at_ns, .. } = target else {
            return false;
        };
        self.zoom_about(at_ns, if closer { 0.5 } else { 2.0 });
        true
    }

    /// A click on `target`: on a row of the waterfall list, selects that row (on the selected row, folds or
    /// unfolds its group); on a bar of the flame pane, selects that span, unfolding the groups that hide it.
    pub fn click(&mut self, target: Target) {
        match target {
            // A second click on the selected bar zooms into it.
            Target::FlameBar(span) if self.selected_spans() == [span] => self.zoom_to_selection(),
            Target::FlameBar(span)
            | Target::Flame {
                bar: Some(span), ..
            } if span < self.nodes.len() => {
                // That span, unfolding what hides it in the list, its details from the top.
                self.reveal(span);
                self.flatten();
                self.select_item(Item::Span(span));
                self.detail_scroll = 0;
            }
            Target::Row(at) if at == self.selected => match self.rows[at].mark {
                Mark::Folded => self.unfold(),
                Mark::FirstMember | Mark::Member => {
                    self.fold();
                }
                Mark::Plain => {}
            },
            Target::Row(at) if at < self.rows.len() => self.select(at),
            _ => {}
        }
        self.follow();
    }
}
