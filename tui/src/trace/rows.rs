//! The trace screen's tree model: the waterfall's rows as currently folded, and moving the selection in them.

use super::details::Failure;
use super::{Focus, TraceScreen};

/// A row of the waterfall: a span, or a folded group of repeated sibling spans.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Item {
    Span(usize),
    Group(usize),
}

/// How a row relates to a group of repeated spans.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mark {
    Plain,
    /// The group itself, folded.
    Folded,
    /// The first span of an unfolded group.
    FirstMember,
    /// Another span of an unfolded group.
    Member,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Row {
    pub(super) item: Item,
    pub(super) depth: usize,
    pub(super) mark: Mark,
}

/// One span, as drawn: cleaned text, times on the axis, flags, and its place in the tree.
#[derive(Debug)]
pub(super) struct Node {
    pub(super) service: String,
    pub(super) name: String,
    /// Nanoseconds from the axis start, clamped to the axis.
    pub(super) start: u64,
    pub(super) end: u64,
    pub(super) error: bool,
    pub(super) critical: bool,
    /// The time of the trace it holds on the critical path, in ms.
    pub(super) critical_ms: f64,
    /// Repeats the statement the screen was opened for.
    pub(super) lit: bool,
    /// Its service's colour: the service's place in the trace's order of appearance.
    pub(super) colour: usize,
    /// The times its children cover of it (axis nanoseconds, merged, in order); the rest is its own time.
    pub(super) covered: Vec<(u64, u64)>,
    pub(super) parent: Option<usize>,
    /// Steps from its root (a root is at 0).
    pub(super) depth: usize,
    pub(super) group: Option<usize>,
    /// Its children in start order, repeated calls as groups.
    pub(super) children: Vec<Item>,
    /// Exceptions and the source where the error was raised.
    pub(super) failure: Option<Box<Failure>>,
}

/// Sibling spans repeating one call.
#[derive(Debug)]
pub(super) struct Group {
    /// The statement as the folded row reads it (`SELECT … FROM t WHERE id = ?`), or the spans' name.
    pub(super) label: String,
    /// The spans' name (`SELECT discount_type`), for a row too narrow for the label.
    pub(super) short: String,
    /// The statement in full, or the name.
    pub(super) statement: String,
    pub(super) service: String,
    pub(super) parent: Option<usize>,
    pub(super) members: Vec<usize>,
    pub(super) start: u64,
    pub(super) end: u64,
    pub(super) total_ms: f64,
    pub(super) error: bool,
    pub(super) critical: bool,
    /// Its spans' time on the critical path added up, in ms.
    pub(super) critical_ms: f64,
    pub(super) lit: bool,
    pub(super) folded: bool,
    /// The line making the calls (the loop), with its source lines when readable.
    pub(super) location: Option<(String, u32, super::source::Source)>,
}

impl TraceScreen {
    /// The first list row shown in a list `height` rows tall: where it was, moved just enough to show the
    /// selection.
    pub(super) fn offset_in(&self, height: u16) -> usize {
        let height = usize::from(height);
        let mut offset = self.offset;
        if self.selected < offset {
            offset = self.selected;
        } else if height > 0 && self.selected >= offset + height {
            offset = self.selected + 1 - height;
        }
        offset.min(self.rows.len().saturating_sub(height))
    }

    /// Scrolls the list to keep the selection in sight.
    pub(super) fn follow(&mut self) {
        self.offset = self.offset_in(self.areas(self.viewport).rows.height);
    }

    pub(super) fn focus(&mut self, focus: Focus) {
        match focus {
            Focus::Span(id) => {
                if let Some(i) = self.view.spans.iter().position(|s| s.span_id == id) {
                    self.reveal(i);
                    self.flatten();
                    self.select_item(Item::Span(i));
                    return;
                }
            }
            Focus::Repeated(_) => {
                let lit: Vec<usize> = (0..self.nodes.len())
                    .filter(|&i| self.nodes[i].lit)
                    .collect();
                if !lit.is_empty() {
                    // Show where the repeats are, still folded into their `×N` row (Enter unfolds it): the
                    // count is the finding.
                    for &i in &lit {
                        if let Some(parent) = self.nodes[i].parent {
                            self.reveal(parent);
                        }
                    }
                    self.flatten();
                    if let Some(at) = self.rows.iter().position(|r| match r.item {
                        Item::Group(g) => self.groups[g].lit,
                        Item::Span(i) => self.nodes[i].lit,
                    }) {
                        self.selected = at;
                    }
                    return;
                }
            }
            Focus::None => {}
        }
        self.flatten();
        // The error where it was raised (an exception, else an error with no failing child), else the root.
        let origin = self.rows.iter().position(|r| match r.item {
            Item::Span(i) => self.nodes[i]
                .failure
                .as_ref()
                .is_some_and(|f| !f.exceptions.is_empty()),
            Item::Group(_) => false,
        });
        let origin = origin.or_else(|| {
            self.rows.iter().position(|r| match r.item {
                Item::Span(i) => {
                    self.nodes[i].error
                        && !self.nodes[i].children.iter().any(|&c| self.item_error(c))
                }
                Item::Group(g) => self.groups[g].error,
            })
        });
        let root = self
            .root
            .and_then(|r| self.rows.iter().position(|row| row.item == Item::Span(r)));
        self.selected = origin.or(root).unwrap_or(0);
    }

    /// Unfolds every group holding `span` or one of its ancestors.
    pub(super) fn reveal(&mut self, span: usize) {
        let mut at = Some(span);
        let mut steps = 0;
        while let Some(i) = at {
            if let Some(g) = self.nodes[i].group {
                self.groups[g].folded = false;
            }
            at = self.nodes[i].parent;
            steps += 1;
            if steps > self.nodes.len() {
                break;
            }
        }
    }

    pub(super) fn item_error(&self, item: Item) -> bool {
        match item {
            Item::Span(i) => self.nodes[i].error,
            Item::Group(g) => self.groups[g].error,
        }
    }

    pub(super) fn item_critical(&self, item: Item) -> bool {
        match item {
            Item::Span(i) => self.nodes[i].critical,
            Item::Group(g) => self.groups[g].critical,
        }
    }

    /// The rows as currently folded, depth first.
    pub(super) fn flatten(&mut self) {
        let mut rows = Vec::with_capacity(self.nodes.len());
        let mut stack: Vec<(Item, usize)> =
            self.roots.iter().rev().map(|&item| (item, 0)).collect();
        while let Some((item, depth)) = stack.pop() {
            match item {
                Item::Group(g) if self.groups[g].folded => rows.push(Row {
                    item,
                    depth,
                    mark: Mark::Folded,
                }),
                Item::Group(g) => {
                    stack.extend(
                        self.groups[g]
                            .members
                            .iter()
                            .rev()
                            .map(|&m| (Item::Span(m), depth)),
                    );
                }
                Item::Span(i) => {
                    let mark = match self.nodes[i].group {
                        Some(g) if self.groups[g].members.first() == Some(&i) => Mark::FirstMember,
                        Some(_) => Mark::Member,
                        None => Mark::Plain,
                    };
                    rows.push(Row { item, depth, mark });
                    stack.extend(self.nodes[i].children.iter().rev().map(|&c| (c, depth + 1)));
                }
            }
        }
        self.rows = rows;
        self.selected = self.selected.min(self.rows.len().saturating_sub(1));
    }

    pub(super) fn select(&mut self, row: usize) {
        let row = row.min(self.rows.len().saturating_sub(1));
        if row != self.selected {
            self.detail_scroll = 0;
        }
        self.selected = row;
    }

    pub(super) fn select_item(&mut self, item: Item) {
        if let Some(at) = self.rows.iter().position(|r| r.item == item) {
            self.select(at);
        }
    }

    pub(super) fn move_by(&mut self, delta: isize) {
        let target = self.selected.saturating_add_signed(delta);
        self.select(target);
    }

    /// The list rows on screen.
    pub(super) fn page(&self) -> usize {
        usize::from(self.areas(self.viewport).rows.height).max(1)
    }

    pub(super) fn selected_row(&self) -> Option<Row> {
        self.rows.get(self.selected).copied()
    }

    /// Unfolds the selected group.
    pub(super) fn unfold(&mut self) {
        if let Some(Row {
            item: Item::Group(g),
            ..
        }) = self.selected_row()
        {
            self.groups[g].folded = false;
            self.flatten();
            self.select_item(Item::Span(self.groups[g].members[0]));
        }
    }

    /// Folds the group of the selected span back; returns whether there was one.
    pub(super) fn fold(&mut self) -> bool {
        if let Some(Row {
            item: Item::Span(i),
            ..
        }) = self.selected_row()
            && let Some(g) = self.nodes[i].group
        {
            self.groups[g].folded = true;
            self.flatten();
            self.select_item(Item::Group(g));
            return true;
        }
        false
    }

    /// Selects the parent of the selected row.
    pub(super) fn select_parent(&mut self) {
        let parent = match self.selected_row().map(|r| r.item) {
            Some(Item::Span(i)) => self.nodes[i].parent,
            Some(Item::Group(g)) => self.groups[g].parent,
            None => None,
        };
        if let Some(p) = parent {
            self.select_item(Item::Span(p));
        }
    }

    /// The next row after the selection (wrapping) that `wanted` accepts.
    pub(super) fn next_where(&mut self, wanted: impl Fn(&TraceScreen, Item) -> bool) {
        let n = self.rows.len();
        for step in 1..=n {
            let at = (self.selected + step) % n;
            if wanted(self, self.rows[at].item) {
                self.select(at);
                return;
            }
        }
    }

    /// The spans of the selected row: one, or a group's members.
    pub(super) fn selected_spans(&self) -> &[usize] {
        match self.rows.get(self.selected).map(|r| &r.item) {
            Some(Item::Span(i)) => std::slice::from_ref(i),
            Some(Item::Group(g)) => &self.groups[*g].members,
            None => &[],
        }
    }
}
