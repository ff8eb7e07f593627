//! The Trace tab: one trace as a flame pane above a waterfall list, and a details pane for the selected row.
//!
//! - The flame pane (an icicle: the root on top) has one line per depth, at most eight (deeper spans
//!   share the last line, whose label reads `depth 7…12`). Every span is a bar over its time on the same axis as
//!   the list's bars, at least one cell wide, named inside where the name fits, in its service's colour; an
//!   error's bar starts with `!`, the spans an N+1 finding points at are highlighted, the selection is reversed.
//!   The label beside each line counts its spans and names its services in their colours (the legend). It is
//!   drawn only where the list keeps six rows below it (all its rows, when fewer) and has a bar column.
//! - The waterfall list has a row per span (tree order, indented by depth, a bar on the time axis), with
//!   repeated sibling calls (an N+1) folded into one `×N` row that Enter unfolds.
//! - The details show the selected row: the span's figures, attributes and events, and for an exception its
//!   stack (the project's own frames first) and the source lines around where it was raised.
//!
//! Everything a row or a flame line needs is worked out when the screen is built (and the rows again when a
//! group is folded or unfolded); drawing only reads, in time linear in the spans. The source files are read
//! once, in [`TraceScreen::new`], and only from a project's source files.
//!
//! This file holds the screen's state and its construction from what the collector served; `rows` the tree
//! model (rows, folding, selection), `flame` the flame pane's lines and geometry, `draw` the layout and the
//! drawing, `details` the details pane's lines, `source` the sandboxed reader of source files, `keys` input.

mod details;
mod draw;
mod flame;
mod keys;
mod layout;
mod rows;
mod source;
#[cfg(test)]
mod tests;

use std::path::Path;

use protocol::{LogView, TraceView};
use ratatui::layout::Rect;

use crate::fmt;
pub(crate) use details::N_PLUS_ONE_FIX;
use details::{Exception, Failure, Frame, elide_columns};
use flame::{Level, flame_levels};
use rows::{Group, Item, Node, Row};
pub use source::Fallback;
use source::Reader;

/// What the screen was opened to show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Focus {
    /// The root (or the first error, if the trace has one).
    None,
    /// Select this span (e.g. the failing span of an error group).
    Span(String),
    /// Highlight the spans repeating these normalised statements (an N+1 finding's statements, its `query`
    /// first): their groups stay folded and the first one's `×N` row is selected (the count is the finding);
    /// Enter unfolds it.
    Repeated(Vec<String>),
}

/// What a click at a cell of the trace screen lands on (see [`TraceScreen::hit`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A row of the waterfall list, by its index in the rows.
    Row(usize),
    /// A span's bar on the flame pane.
    FlameBar(usize),
    /// A point of the flame pane's time axis (nanoseconds into the trace), with the bar drawn there if any.
    Flame { at_ns: u64, bar: Option<usize> },
}

/// The Trace tab's state: the trace, its rows as currently folded, the selection.
#[derive(Debug)]
pub struct TraceScreen {
    view: TraceView,
    nodes: Vec<Node>,
    groups: Vec<Group>,
    roots: Vec<Item>,
    rows: Vec<Row>,
    /// The flame pane's lines, root first.
    flame: Vec<Level>,
    selected: usize,
    detail_scroll: usize,
    /// The area the screen is drawn into, as the event loop last said ([`TraceScreen::resize`]): paging and
    /// scrolling follow what is on screen.
    viewport: Rect,
    /// The first list row shown, kept so the list scrolls only when the selection leaves it.
    offset: usize,
    axis_start: u64,
    axis_ns: u64,
    duration_ms: f64,
    root: Option<usize>,
    /// The trace's services in order of appearance (tree order): a service's index here is its colour.
    services: Vec<String>,
    /// Where the trace's time went: (service's colour, service, self time in ms), most first.
    breakdown: Vec<(usize, String, f64)>,
    errors: usize,
    /// The time shown, `from..to` nanoseconds on the axis: all of it, or what was zoomed into.
    zoom: (u64, u64),
    /// The ranges zoomed out of, latest last.
    zooms: Vec<(u64, u64)>,
    /// The flame pane takes the screen's whole width, above the list and details.
    wide_flame: bool,
    /// The log records written in the trace, oldest first.
    logs: Vec<LogView>,
    /// The details list the whole trace's log records, not only the selected span's (`L`).
    all_logs: bool,
}

/// Characters of one sender value kept for drawing; the rest is never looked at.
const MAX_TEXT: usize = 2_000;

/// Sender text, cut to [`MAX_TEXT`] characters and cleaned of control characters.
fn safe(text: &str) -> String {
    fmt::clean(capped(text, MAX_TEXT))
}

fn capped(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

impl TraceScreen {
    /// The log records written in the trace (any order), shown in the details beside their span.
    pub fn set_logs(&mut self, mut logs: Vec<LogView>) {
        logs.sort_by_key(|log| log.time_unix_nano);
        self.logs = logs;
    }

    /// Builds the screen; reads the source lines around each error's file:line from files under `workspace`
    /// (when given and the file exists there: the path is repo-relative; refuse paths that escape the
    /// workspace, e.g. containing `..` or absolute). This is the only I/O, done once here, never while drawing.
    pub fn new(view: TraceView, focus: Focus, workspace: Option<&Path>) -> TraceScreen {
        TraceScreen::with_sources(view, focus, workspace, None)
    }

    /// [`TraceScreen::new`], asking `fallback` (the collector) for the source lines the workspace does not
    /// hold.
    pub fn with_sources(
        view: TraceView,
        focus: Focus,
        workspace: Option<&Path>,
        fallback: Option<Fallback<'_>>,
    ) -> TraceScreen {
        let spans = &view.spans;
        let n = spans.len();
        let axis_start = spans
            .iter()
            .map(|s| s.start_unix_nano)
            .min()
            .unwrap_or(view.start_unix_nano);
        let axis_end = spans
            .iter()
            .map(|s| s.end_unix_nano.max(s.start_unix_nano))
            .max()
            .unwrap_or(axis_start)
            .max(axis_start);
        let axis_ns = axis_end - axis_start;
        let duration_ms = if view.duration_ms.is_finite() && view.duration_ms > 0.0 {
            view.duration_ms
        } else {
            axis_ns as f64 / 1e6
        };

        // The tree as the collector worked it out. A parent is taken only one step above its child, so whatever
        // a remote sends, parents cannot loop: every span reaches a root.
        let parent_of = |span: &protocol::SpanView| {
            span.parent
                .filter(|&p| p < n && spans[p].depth.checked_add(1) == Some(span.depth))
        };
        let by_start = |a: &usize, b: &usize| {
            (spans[*a].start_unix_nano, *a).cmp(&(spans[*b].start_unix_nano, *b))
        };
        let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut root_spans = Vec::new();
        for (i, span) in spans.iter().enumerate() {
            match parent_of(span) {
                Some(p) => children[p].push(i),
                None => root_spans.push(i),
            }
        }
        root_spans.sort_by(by_start);
        for list in &mut children {
            list.sort_by(by_start);
        }

        let queries: &[String] = match &focus {
            Focus::Repeated(q) => q,
            _ => &[],
        };
        let mut nodes: Vec<Node> = spans
            .iter()
            .map(|span| {
                let start = span.start_unix_nano.saturating_sub(axis_start).min(axis_ns);
                let end = span
                    .end_unix_nano
                    .max(span.start_unix_nano)
                    .saturating_sub(axis_start)
                    .min(axis_ns);
                Node {
                    service: safe(&span.service),
                    name: safe(&span.name),
                    start,
                    end,
                    error: span.error,
                    critical: span.critical,
                    critical_ms: if span.critical_ms.is_finite() {
                        span.critical_ms.max(0.0)
                    } else {
                        0.0
                    },
                    // The finding's statements (normalised), or a statement or name as sent.
                    lit: queries.iter().any(|q| {
                        span.statement == *q
                            || span.name == *q
                            || span
                                .attributes
                                .get("db.query.text")
                                .and_then(|t| t.as_str())
                                == Some(q.as_str())
                    }),
                    colour: 0,
                    covered: Vec::new(),
                    parent: parent_of(span),
                    depth: span.depth,
                    group: None,
                    children: Vec::new(),
                    failure: None,
                }
            })
            .collect();

        let mut reader = Reader::new(workspace, fallback);
        // Repeated calls, as the collector grouped them: each group is one row where its first span is.
        let mut groups: Vec<Group> = Vec::with_capacity(view.repeat_groups.len());
        for repeat in &view.repeat_groups {
            // Siblings, each in one group only (else the group is ignored: its spans stay rows of their own).
            let Some(&first) = repeat.members.first().filter(|&&f| f < n) else {
                continue;
            };
            let g = groups.len();
            let mut claimed = 0;
            for &m in &repeat.members {
                if m >= n || nodes[m].group.is_some() || nodes[m].parent != nodes[first].parent {
                    break;
                }
                nodes[m].group = Some(g);
                claimed += 1;
            }
            if claimed < repeat.members.len() {
                for &m in &repeat.members[..claimed] {
                    nodes[m].group = None;
                }
                continue;
            }
            let members = repeat.members.clone();
            let (label, statement) = if repeat.statement.is_empty() {
                (safe(&repeat.name), safe(&repeat.name))
            } else {
                (safe(&elide_columns(&repeat.query)), safe(&repeat.statement))
            };
            groups.push(Group {
                label,
                short: safe(&repeat.name),
                statement,
                service: nodes[first].service.clone(),
                parent: nodes[first].parent,
                start: members.iter().map(|&m| nodes[m].start).min().unwrap_or(0),
                end: members.iter().map(|&m| nodes[m].end).max().unwrap_or(0),
                total_ms: repeat.total_ms,
                error: members.iter().any(|&m| nodes[m].error),
                critical: members.iter().any(|&m| nodes[m].critical),
                critical_ms: members.iter().map(|&m| nodes[m].critical_ms).sum(),
                lit: members.iter().any(|&m| nodes[m].lit),
                location: repeat.location.as_ref().map(|at| {
                    let source = reader.read(&at.file, at.line);
                    (safe(&at.file), at.line, source)
                }),
                folded: true,
                members,
            });
        }
        let itemise = |kids: &[usize], nodes: &[Node]| -> Vec<Item> {
            kids.iter()
                .filter_map(|&k| match nodes[k].group {
                    Some(g) if groups[g].members[0] == k => Some(Item::Group(g)),
                    Some(_) => None,
                    None => Some(Item::Span(k)),
                })
                .collect()
        };
        let roots = itemise(&root_spans, &nodes);
        for (p, kids) in children.iter().enumerate() {
            if !kids.is_empty() {
                nodes[p].children = itemise(kids, &nodes);
            }
        }

        // Errors: their exceptions, and the source where each was raised.
        for (i, span) in spans.iter().enumerate() {
            if !nodes[i].error {
                continue;
            }
            let exceptions: Vec<Exception> = span
                .exceptions
                .iter()
                .map(|exception| Exception {
                    kind: safe(&exception.r#type),
                    message: safe(&exception.message),
                    frames: exception
                        .frames
                        .iter()
                        .map(|frame| Frame {
                            function: safe(&frame.function),
                            location: safe(&frame.location),
                            project: frame.project,
                        })
                        .collect(),
                })
                .collect();
            let source = span
                .location
                .as_ref()
                .map(|at| reader.read(&at.file, at.line));
            if !exceptions.is_empty() || source.is_some() {
                nodes[i].failure = Some(Box::new(Failure { exceptions, source }));
            }
        }
        let flame = flame_levels(&nodes);

        // Header facts, in tree order.
        let root = view
            .critical_path
            .first()
            .and_then(|id| spans.iter().position(|s| s.span_id == *id))
            .or_else(|| root_spans.first().copied());
        let mut services: Vec<String> = Vec::new();
        let mut stack: Vec<usize> = root_spans.iter().rev().copied().collect();
        while let Some(i) = stack.pop() {
            if !services.contains(&nodes[i].service) {
                services.push(nodes[i].service.clone());
            }
            stack.extend(children[i].iter().rev().copied());
        }
        let errors = nodes.iter().filter(|n| n.error).count();
        // Colours by order of appearance, and what each span's children cover of it (the rest is its own time).
        for node in nodes.iter_mut() {
            node.colour = services
                .iter()
                .position(|s| *s == node.service)
                .unwrap_or(0);
        }
        for (p, kids) in children.iter().enumerate() {
            if kids.is_empty() {
                continue;
            }
            let (from, to) = (nodes[p].start, nodes[p].end);
            let mut covered: Vec<(u64, u64)> = kids
                .iter()
                .map(|&k| (nodes[k].start.max(from), nodes[k].end.min(to)))
                .filter(|(a, b)| a < b)
                .collect();
            covered.sort_unstable();
            let mut merged: Vec<(u64, u64)> = Vec::with_capacity(covered.len());
            for (a, b) in covered {
                match merged.last_mut() {
                    Some(last) if a <= last.1 => last.1 = last.1.max(b),
                    _ => merged.push((a, b)),
                }
            }
            nodes[p].covered = merged;
        }
        let colour_of = |service: &str| services.iter().position(|s| s == service);
        let mut breakdown: Vec<(usize, String, f64)> = view
            .services
            .iter()
            .filter(|s| s.self_ms.is_finite() && s.self_ms >= 0.0)
            .map(|s| {
                let name = safe(&s.service);
                (colour_of(&name).unwrap_or(0), name, s.self_ms)
            })
            .collect();
        breakdown.sort_by(|a, b| b.2.total_cmp(&a.2));

        let mut screen = TraceScreen {
            view,
            nodes,
            groups,
            roots,
            rows: Vec::new(),
            flame,
            selected: 0,
            detail_scroll: 0,
            viewport: Rect::default(),
            offset: 0,
            axis_start,
            axis_ns,
            duration_ms,
            root,
            services,
            breakdown,
            errors,
            zoom: (0, axis_ns),
            zooms: Vec::new(),
            wide_flame: false,
            logs: Vec::new(),
            all_logs: false,
        };
        screen.focus(focus);
        screen.follow();
        screen
    }

    /// Tells the screen the area it is drawn into (the event loop does at every draw).
    pub fn resize(&mut self, area: Rect) {
        self.viewport = area;
        self.follow();
    }

    pub fn trace_id(&self) -> &str {
        &self.view.trace_id
    }

    /// The id of the span selected, when one span (not a group of repeats) is.
    pub fn selected_span_id(&self) -> Option<&str> {
        match self.selected_spans() {
            [one] => Some(self.view.spans[*one].span_id.as_str()),
            _ => None,
        }
    }
}
