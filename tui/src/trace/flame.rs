//! The trace screen's flame pane as data: its lines (one a depth), the cells each bar takes, and which span a
//! cell of it shows.

use ratatui::layout::Rect;

use super::TraceScreen;
use super::layout::{Areas, Columns};
use super::rows::Node;

/// Lines of the flame pane at most: one a depth, deeper spans share the last.
pub(super) const FLAME_LEVELS: usize = 8;
/// List rows the flame pane leaves at least (or all of them, when the list is shorter); else it is not drawn.
pub(super) const FLAME_MIN_ROWS: usize = 6;
/// Cells of the time axis below which the flame pane is not drawn.
pub(super) const FLAME_MIN_BAR: usize = 12;
/// Services a flame line's label names at most.
const FLAME_SERVICES: usize = 4;

/// One line of the flame pane: the spans of one depth (of all the deeper ones, on the last line).
#[derive(Debug)]
pub(super) struct Level {
    /// Its spans by start, parents before their children on the last line.
    pub(super) spans: Vec<usize>,
    /// Those drawn over the others: errors, and the spans the screen was opened for.
    pub(super) marked: Vec<usize>,
    /// The depths it shows, `first..=last`.
    pub(super) first: usize,
    pub(super) last: usize,
    /// Its services in order of first start, at most [`FLAME_SERVICES`] of them.
    pub(super) services: Vec<String>,
    /// More services than those.
    pub(super) more_services: bool,
}

/// The flame pane's lines: the spans of each depth by start, the deepest sharing the last line.
pub(super) fn flame_levels(nodes: &[Node]) -> Vec<Level> {
    let Some(deepest) = nodes.iter().map(|n| n.depth).max() else {
        return Vec::new();
    };
    let mut levels: Vec<Level> = (0..=deepest.min(FLAME_LEVELS - 1))
        .map(|d| Level {
            spans: Vec::new(),
            marked: Vec::new(),
            first: d,
            last: d,
            services: Vec::new(),
            more_services: false,
        })
        .collect();
    if let Some(last) = levels.last_mut() {
        last.last = deepest;
    }
    let count = levels.len();
    for (i, node) in nodes.iter().enumerate() {
        levels[node.depth.min(count - 1)].spans.push(i);
    }
    for level in &mut levels {
        level
            .spans
            .sort_unstable_by_key(|&i| (nodes[i].start, nodes[i].depth, i));
        level.marked = level
            .spans
            .iter()
            .copied()
            .filter(|&i| nodes[i].error || nodes[i].lit)
            .collect();
        for &i in &level.spans {
            let service = &nodes[i].service;
            if level.services.contains(service) {
                continue;
            }
            if level.services.len() == FLAME_SERVICES {
                level.more_services = true;
                break;
            }
            level.services.push(service.clone());
        }
    }
    levels
}

impl TraceScreen {
    /// The span whose flame bar is drawn at `column`, `row` (what [`Self::render_flame`] paints there, under the
    /// selection), if any.
    pub(super) fn flame_span_at(&self, areas: &Areas, column: u16, row: u16) -> Option<usize> {
        let axis = flame_axis(areas, row)?;
        if column < axis.x || column >= axis.right() {
            return None;
        }
        let k = usize::from(row - areas.flame.y);
        let level = self.flame.get(k)?;
        let at = usize::from(column - axis.x);
        let width = usize::from(axis.width);
        let under = |spans: &[usize]| {
            self.bar_cells(spans, width)
                .find(|bar| (bar.from..bar.to).contains(&at))
                .map(|bar| bar.span)
        };
        // The coats from the top down: the selection, the marked bars, the plain ones.
        let selected = self.selected_spans();
        if self.on_flame_line(selected, k)
            && let Some(span) = under(selected)
        {
            return Some(span);
        }
        under(&level.marked).or_else(|| under(&level.spans))
    }

    /// Whether `spans` (one span, or a group's members, which share a depth) are drawn on flame line `k`.
    pub(super) fn on_flame_line(&self, spans: &[usize], k: usize) -> bool {
        let last = self.flame.len().saturating_sub(1);
        spans
            .first()
            .is_some_and(|&i| self.nodes[i].depth.min(last) == k)
    }

    /// The cells the bars of `spans` (in start order) take on a flame line `width` cells wide: each its time
    /// (one cell at least), less the cells an earlier one took.
    pub(super) fn bar_cells<'s>(
        &'s self,
        spans: &'s [usize],
        width: usize,
    ) -> impl Iterator<Item = BarCells> + 's {
        let mut painted = 0;
        spans.iter().filter_map(move |&i| {
            let node = &self.nodes[i];
            let (from, to) = self.window_cells(node.start, node.end, width)?;
            if to <= painted {
                return None;
            }
            let bar = BarCells {
                span: i,
                from: from.max(painted),
                to,
                whole: from >= painted,
            };
            painted = to;
            Some(bar)
        })
    }
}

impl TraceScreen {
    /// The cells `from..to` of `width` that `start..end` (axis nanoseconds) takes in the time shown (see
    /// [`cells`]); `None` when it lies outside it.
    pub(super) fn window_cells(
        &self,
        start: u64,
        end: u64,
        width: usize,
    ) -> Option<(usize, usize)> {
        let (lo, hi) = self.zoom;
        let end = end.max(start);
        if end < lo || start > hi || (end == lo && start < lo) {
            return None;
        }
        let clip = |t: u64| t.clamp(lo, hi) - lo;
        Some(cells(clip(start), clip(end), hi - lo, width))
    }

    /// Zooms into `from..to` (axis nanoseconds; at least a microsecond, within the trace), keeping the range
    /// left to zoom back out to.
    pub(super) fn zoom_to(&mut self, from: u64, to: u64) {
        let to = to.min(self.axis_ns);
        let from = from.min(to);
        let (from, to) = if to - from < 1_000 {
            let mid = from / 2 + to / 2;
            let from = mid
                .saturating_sub(500)
                .min(self.axis_ns.saturating_sub(1_000));
            (from, (from + 1_000).min(self.axis_ns))
        } else {
            (from, to)
        };
        if (from, to) != self.zoom {
            self.zooms.push(self.zoom);
            self.zoom = (from, to);
        }
    }

    /// Back to the range zoomed in from; `false` when the whole trace is shown.
    pub(super) fn zoom_out(&mut self) -> bool {
        match self.zooms.pop() {
            Some(range) => {
                self.zoom = range;
                true
            }
            None if self.zoom != (0, self.axis_ns) => {
                self.zoom = (0, self.axis_ns);
                true
            }
            None => false,
        }
    }

    /// Zooms by `factor` (below 1 in, above 1 out) about the middle of the time shown.
    pub(super) fn zoom_by(&mut self, factor: f64) {
        let (lo, hi) = self.zoom;
        let half = ((hi - lo) as f64 * factor / 2.0).max(500.0) as u64;
        let mid = lo / 2 + hi / 2;
        let from = mid.saturating_sub(half);
        let to = mid.saturating_add(half).min(self.axis_ns);
        if factor > 1.0 && from == 0 && to == self.axis_ns {
            self.zooms.clear();
            self.zoom = (0, self.axis_ns);
        } else {
            self.zoom_to(from, to);
        }
    }

    /// Zooms by `factor` (below 1 in, above 1 out) about `at` (axis nanoseconds), which keeps its place on
    /// the axis, as a map's wheel zoom does (unless an end of the trace is reached: the range then slides
    /// back inside, its width kept); no step is kept to back out to (`-` goes back to where the wheel
    /// started).
    pub(super) fn zoom_about(&mut self, at: u64, factor: f64) {
        let (lo, hi) = self.zoom;
        let at = at.clamp(lo, hi);
        let before = ((at - lo) as f64 * factor) as u64;
        let after = ((hi - at) as f64 * factor) as u64;
        if before + after < 1_000 {
            return;
        }
        // Past an end, the range slides back inside as far as it can.
        let (mut from, mut to) = if before > at {
            (0, (before + after).min(self.axis_ns))
        } else {
            (at - before, at.saturating_add(after))
        };
        if to > self.axis_ns {
            from = from.saturating_sub(to - self.axis_ns);
            to = self.axis_ns;
        }
        if from == 0 && to == self.axis_ns || to - from >= self.axis_ns {
            self.zooms.clear();
            self.zoom = (0, self.axis_ns);
            return;
        }
        if self.zooms.is_empty() {
            self.zooms.push(self.zoom);
        }
        self.zoom = (from, to);
    }

    /// The time (axis nanoseconds) under `column` of flame line `row`, if that is on the time axis.
    pub(super) fn flame_time_at(&self, areas: &Areas, column: u16, row: u16) -> Option<u64> {
        let axis = flame_axis(areas, row)?;
        if column < axis.x || column >= axis.right() || axis.width == 0 {
            return None;
        }
        let (lo, hi) = self.zoom;
        let cell = u64::from(column - axis.x);
        // The middle of the cell.
        Some(
            lo + ((hi - lo) as u128 * (2 * cell as u128 + 1) / (2 * u128::from(axis.width))) as u64,
        )
    }

    /// Moves the time shown by `quarters` quarters of it (negative: earlier), within the trace.
    pub(super) fn pan(&mut self, quarters: i64) {
        let (lo, hi) = self.zoom;
        let width = hi - lo;
        let step = width / 4 * quarters.unsigned_abs();
        let from = if quarters < 0 {
            lo.saturating_sub(step)
        } else {
            lo.saturating_add(step).min(self.axis_ns - width)
        };
        self.zoom = (from, from + width);
    }
}

/// The time axis of the flame pane's line `y`: the list's bar column, or the whole pane when the flame takes
/// the screen's width, on that line; `None` off the pane or where the list has no bar column.
pub(super) fn flame_axis(areas: &Areas, y: u16) -> Option<Rect> {
    let pane = areas.flame;
    if pane.is_empty() || y < pane.y || y >= pane.bottom() {
        return None;
    }
    if areas.wide_flame {
        return Some(Rect::new(pane.x, y, pane.width, 1));
    }
    let cols = Columns::of(areas.list);
    if cols.bar_w == 0 {
        return None;
    }
    let axis = Rect::new(cols.bar_x, y, cols.bar_w as u16, 1).intersection(pane);
    (!axis.is_empty()).then_some(axis)
}

/// A flame bar's cells on its line.
pub(super) struct BarCells {
    pub(super) span: usize,
    pub(super) from: usize,
    pub(super) to: usize,
    /// Starts where its time does (no earlier bar took its first cells).
    pub(super) whole: bool,
}

/// The cells `from..to` of `width` that `start..end` (nanoseconds on an axis of `axis`) covers: one at least,
/// none past the axis.
pub(super) fn cells(start: u64, end: u64, axis: u64, width: usize) -> (usize, usize) {
    if width == 0 {
        return (0, 0);
    }
    if axis == 0 {
        return (0, 1);
    }
    let (axis, w) = (u128::from(axis), width as u128);
    let scale = |t: u64, round: u128| (u128::from(t).min(axis) * w + round) / axis;
    let from = (scale(start, 0) as usize).min(width - 1);
    let to = (scale(end.max(start), axis / 2) as usize).clamp(from + 1, width);
    (from, to)
}
