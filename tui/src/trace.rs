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

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader};
use std::path::{Component, Path, PathBuf};

use protocol::TraceView;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};

use crate::fmt;
use crate::theme::Theme;

/// What the screen was opened to show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Focus {
    /// The root (or the first error, if the trace has one).
    None,
    /// Select this span (e.g. the failing span of an error group).
    Span(String),
    /// Highlight the spans repeating this normalised statement (an N+1 finding's `query`): their group stays
    /// folded and its `×N` row is selected (the count is the finding); Enter unfolds it.
    Repeated(String),
}

/// Lines of source shown above and below the failing one.
const SOURCE_CONTEXT: u32 = 2;
/// Source lookups one screen makes at most (a trace of a thousand errors reads no thousand files).
const MAX_SOURCE_READS: usize = 32;
/// Source files larger than this are not read.
const MAX_SOURCE_BYTES: u64 = 8 << 20;
/// Characters of one sender value kept for drawing; the rest is never looked at.
const MAX_TEXT: usize = 2_000;
/// From this width on, the details sit beside the list instead of below it.
const WIDE: u16 = 120;
/// Lines `J` and `K` scroll the details by.
const DETAIL_STEP: usize = 3;
/// Lines of the flame pane at most: one a depth, deeper spans share the last.
const FLAME_LEVELS: usize = 8;
/// List rows the flame pane leaves at least (or all of them, when the list is shorter); else it is not drawn.
const FLAME_MIN_ROWS: usize = 6;
/// Cells of the time axis below which the flame pane is not drawn.
const FLAME_MIN_BAR: usize = 12;
/// Services a flame line's label names at most.
const FLAME_SERVICES: usize = 4;
/// Project roots hold one of these: a workspace without any shows no source, wherever it is.
const PROJECT_MARKERS: [&str; 5] = [
    "Cargo.toml",
    ".git",
    "package.json",
    "pyproject.toml",
    "go.mod",
];
/// Extensions of the files whose lines the details show: source code, templates and queries (not configuration,
/// which may hold secrets).
const SOURCE_EXTENSIONS: [&str; 24] = [
    "rs", "py", "go", "js", "ts", "tsx", "jsx", "java", "kt", "rb", "php", "cs", "c", "h", "cc",
    "cpp", "hpp", "swift", "scala", "ex", "exs", "erl", "html", "sql",
];

/// A row of the waterfall: a span, or a folded group of repeated sibling spans.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Item {
    Span(usize),
    Group(usize),
}

/// How a row relates to a group of repeated spans.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mark {
    Plain,
    /// The group itself, folded.
    Folded,
    /// The first span of an unfolded group.
    FirstMember,
    /// Another span of an unfolded group.
    Member,
}

#[derive(Clone, Copy, Debug)]
struct Row {
    item: Item,
    depth: usize,
    mark: Mark,
}

/// One span, as drawn: cleaned text, times on the axis, flags, and its place in the tree.
#[derive(Debug)]
struct Node {
    service: String,
    name: String,
    /// Nanoseconds from the axis start, clamped to the axis.
    start: u64,
    end: u64,
    error: bool,
    critical: bool,
    /// Repeats the statement the screen was opened for.
    lit: bool,
    parent: Option<usize>,
    /// Steps from its root (a root is at 0).
    depth: usize,
    group: Option<usize>,
    /// Its children in start order, repeated calls as groups.
    children: Vec<Item>,
    /// Exceptions and the source where the error was raised.
    failure: Option<Box<Failure>>,
}

/// Sibling spans repeating one call.
#[derive(Debug)]
struct Group {
    /// The statement as the folded row reads it (`SELECT … FROM t WHERE id = ?`), or the spans' name.
    label: String,
    /// The spans' name (`SELECT discount_type`), for a row too narrow for the label.
    short: String,
    /// The statement in full, or the name.
    statement: String,
    service: String,
    parent: Option<usize>,
    members: Vec<usize>,
    start: u64,
    end: u64,
    total_ms: f64,
    error: bool,
    critical: bool,
    lit: bool,
    folded: bool,
}

#[derive(Debug)]
struct Failure {
    exceptions: Vec<Exception>,
    source: Option<Source>,
}

#[derive(Debug)]
struct Exception {
    kind: String,
    message: String,
    /// The project's own frames first, innermost call first within each part.
    frames: Vec<Frame>,
}

#[derive(Debug)]
struct Frame {
    function: String,
    location: String,
    project: bool,
}

/// The source lines around where an error was raised, or why they are not shown.
#[derive(Debug)]
struct Source {
    path: String,
    line: u32,
    lines: SourceLines,
}

/// One line of the flame pane: the spans of one depth (of all the deeper ones, on the last line).
#[derive(Debug)]
struct Level {
    /// Its spans by start, parents before their children on the last line.
    spans: Vec<usize>,
    /// Those drawn over the others: errors, and the spans the screen was opened for.
    marked: Vec<usize>,
    /// The depths it shows, `first..=last`.
    first: usize,
    last: usize,
    /// Its services in order of first start, at most [`FLAME_SERVICES`] of them.
    services: Vec<String>,
    /// More services than those.
    more_services: bool,
}

/// Numbered source lines, or why there are none.
type SourceLines = Result<Vec<(u32, String)>, String>;

/// What a click at a cell of the trace screen lands on (see [`TraceScreen::hit`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A row of the waterfall list, by its index in the rows.
    Row(usize),
    /// A span's bar on the flame pane.
    FlameBar(usize),
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
    services: Vec<String>,
    errors: usize,
}

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

/// A JSON attribute value as one line of text: strings bare, the rest as JSON.
fn value_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => safe(s),
        other => safe(&other.to_string()),
    }
}

/// `SELECT a, b FROM t WHERE …` as `SELECT … FROM t WHERE …`: the table and the condition tell a repeated
/// statement apart, the column list rarely does.
fn elide_columns(sql: &str) -> String {
    let bytes = sql.as_bytes();
    if bytes.len() < 7 || !bytes[..7].eq_ignore_ascii_case(b"SELECT ") {
        return sql.to_owned();
    }
    let mut depth = 0_i32;
    let mut i = 7;
    while i < bytes.len() {
        match bytes[i] {
            b'(' => depth += 1,
            b')' => depth -= 1,
            b' ' if depth == 0
                && bytes.len() >= i + 6
                && bytes[i + 1..i + 5].eq_ignore_ascii_case(b"FROM")
                && bytes[i + 5] == b' ' =>
            {
                if i == 7 {
                    return sql.to_owned();
                }
                return format!("SELECT … {}", &sql[i + 1..]);
            }
            _ => {}
        }
        i += 1;
    }
    sql.to_owned()
}

/// `text` in lines of at most `width` characters, broken after a space where there is one, at most
/// `max_lines` of them (the last ending in `…` when the text goes on).
fn wrap(text: &str, width: usize, max_lines: usize) -> Vec<String> {
    if width == 0 || max_lines == 0 {
        return Vec::new();
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out: Vec<String> = Vec::new();
    let mut start = 0;
    while start < chars.len() && out.len() < max_lines {
        let mut end = (start + width).min(chars.len());
        if end < chars.len()
            && chars[end] != ' '
            && let Some(space) = chars[start..end].iter().rposition(|&c| c == ' ')
            && space > 0
        {
            end = start + space + 1;
        }
        out.push(
            chars[start..end]
                .iter()
                .collect::<String>()
                .trim_end()
                .to_owned(),
        );
        start = end;
        while start < chars.len() && chars[start] == ' ' {
            start += 1;
        }
    }
    if start < chars.len()
        && let Some(last) = out.last_mut()
    {
        let mut cut: String = last.chars().take(width - 1).collect();
        cut.push('…');
        *last = cut;
    }
    if out.is_empty() {
        out.push(String::new());
    }
    out
}

/// A signed offset in milliseconds: `+1.5 ms`, `-800 µs`.
fn offset(ns: i128) -> String {
    let sign = if ns < 0 { '-' } else { '+' };
    format!("{sign}{}", fmt::ms(ns.unsigned_abs() as f64 / 1e6))
}

/// Whether `path` (relative, as written) stays below where it starts: no `..`, no root, at least one name.
fn stays_inside(path: &Path) -> bool {
    let mut normal = false;
    for component in path.components() {
        match component {
            Component::Normal(_) => normal = true,
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    normal
}

/// Whether `path` names a source file: a source-code extension, and no hidden file or folder on the way (a
/// span from any sender can name any path; `.ssh/id_rsa` or `.env` are not what the details are for).
fn is_source_file(path: &Path) -> bool {
    let hidden = path.components().any(|c| match c {
        Component::Normal(name) => name.as_encoded_bytes().starts_with(b"."),
        _ => false,
    });
    let extension = path.extension().and_then(|e| e.to_str());
    !hidden
        && extension.is_some_and(|e| SOURCE_EXTENSIONS.iter().any(|s| s.eq_ignore_ascii_case(e)))
}

/// Whether `root` looks like a project's root (it holds one of [`PROJECT_MARKERS`]): the dashboard started in
/// a home folder shows nothing from it.
fn is_project(root: &Path) -> bool {
    PROJECT_MARKERS
        .iter()
        .any(|marker| std::fs::symlink_metadata(root.join(marker)).is_ok())
}

/// `file` relative to `workspace`, refused when it could lead outside it, also through a link; with where it
/// really is, relative to the workspace (what a link leads to).
fn workspace_file(workspace: &Path, file: &str) -> Option<(PathBuf, PathBuf)> {
    let relative = Path::new(file);
    if !stays_inside(relative) {
        return None;
    }
    let root = workspace.canonicalize().ok()?;
    let path = root.join(relative).canonicalize().ok()?;
    let within = path.strip_prefix(&root).ok()?.to_owned();
    Some((path, within))
}

/// The lines `line - SOURCE_CONTEXT ..= line + SOURCE_CONTEXT` of `file` under `workspace`, read only when
/// `workspace` is a project's root and `file` a source file in it (also where a link leads), else why not.
fn read_source(
    workspace: Option<&Path>,
    file: &str,
    line: u32,
) -> Result<Vec<(u32, String)>, String> {
    let shown = safe(file);
    let Some(workspace) = workspace else {
        return Err(format!("source not read (no workspace given): {shown}"));
    };
    if !stays_inside(Path::new(file)) {
        return Err(format!("source not in this workspace: {shown}"));
    }
    if !is_source_file(Path::new(file)) {
        return Err(format!("source not shown (not a source file): {shown}"));
    }
    if !is_project(workspace) {
        return Err(format!(
            "source not shown (the workspace is not a project's root): {shown}"
        ));
    }
    let Some((path, within)) = workspace_file(workspace, file) else {
        return Err(format!("source not in this workspace: {shown}"));
    };
    // A link may lead elsewhere in the workspace: what it leads to must be a source file too.
    if !is_source_file(&within) {
        return Err(format!("source not shown (not a source file): {shown}"));
    }
    let metadata =
        std::fs::metadata(&path).map_err(|_| format!("source not in this workspace: {shown}"))?;
    if !metadata.is_file() {
        return Err(format!("source not in this workspace: {shown}"));
    }
    if metadata.len() > MAX_SOURCE_BYTES {
        return Err(format!("source too large to show: {shown}"));
    }
    let file_handle =
        std::fs::File::open(&path).map_err(|e| format!("source not readable: {shown} ({e})"))?;
    let mut reader = BufReader::new(file_handle);
    let first = line.saturating_sub(SOURCE_CONTEXT).max(1);
    let last = line.saturating_add(SOURCE_CONTEXT);
    let mut out = Vec::new();
    let mut bytes = Vec::new();
    let mut number = 0_u32;
    while number < last {
        bytes.clear();
        match reader.read_until(b'\n', &mut bytes) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => return Err(format!("source not readable: {shown} ({e})")),
        }
        number += 1;
        if number >= first {
            let text = String::from_utf8_lossy(&bytes);
            let text = text.trim_end_matches(['\n', '\r']).replace('\t', "    ");
            out.push((number, safe(&text)));
        }
    }
    if number < line {
        return Err(format!("{shown} has no line {line} here (it has {number})"));
    }
    Ok(out)
}

/// The flame pane's lines: the spans of each depth by start, the deepest sharing the last line.
fn flame_levels(nodes: &[Node]) -> Vec<Level> {
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
    /// Builds the screen; reads the source lines around each error's file:line from files under `workspace`
    /// (when given and the file exists there: the path is repo-relative; refuse paths that escape the
    /// workspace, e.g. containing `..` or absolute). This is the only I/O, done once here, never while drawing.
    pub fn new(view: TraceView, focus: Focus, workspace: Option<&Path>) -> TraceScreen {
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

        let query = match &focus {
            Focus::Repeated(q) => Some(q.as_str()),
            _ => None,
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
                    // The finding's statement (normalised), or the statement or name as sent.
                    lit: query.is_some_and(|q| {
                        span.statement == q
                            || span.name == q
                            || span
                                .attributes
                                .get("db.query.text")
                                .and_then(|t| t.as_str())
                                == Some(q)
                    }),
                    parent: parent_of(span),
                    depth: span.depth,
                    group: None,
                    children: Vec::new(),
                    failure: None,
                }
            })
            .collect();

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
                lit: members.iter().any(|&m| nodes[m].lit),
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
        let mut reads = 0;
        let mut cache: HashMap<(String, u32), SourceLines> = HashMap::new();
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
            let source = span.location.as_ref().map(|at| {
                let key = (at.file.clone(), at.line);
                let lines = match cache.get(&key) {
                    Some(known) => known.clone(),
                    None if at.line == 0 => Err(format!(
                        "source not read: {} (no line number given)",
                        safe(&at.file)
                    )),
                    None if reads >= MAX_SOURCE_READS => Err(format!(
                        "source not read: {} (too many errors in this trace)",
                        safe(&at.file)
                    )),
                    None => {
                        reads += 1;
                        let lines = read_source(workspace, &at.file, at.line);
                        cache.insert(key, lines.clone());
                        lines
                    }
                };
                Source {
                    path: safe(&at.file),
                    line: at.line,
                    lines,
                }
            });
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
            errors,
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

    /// The first list row shown in a list `height` rows tall: where it was, moved just enough to show the
    /// selection.
    fn offset_in(&self, height: u16) -> usize {
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
    fn follow(&mut self) {
        self.offset = self.offset_in(self.areas(self.viewport).rows.height);
    }

    pub fn trace_id(&self) -> &str {
        &self.view.trace_id
    }

    fn focus(&mut self, focus: Focus) {
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
    fn reveal(&mut self, span: usize) {
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

    fn item_error(&self, item: Item) -> bool {
        match item {
            Item::Span(i) => self.nodes[i].error,
            Item::Group(g) => self.groups[g].error,
        }
    }

    fn item_critical(&self, item: Item) -> bool {
        match item {
            Item::Span(i) => self.nodes[i].critical,
            Item::Group(g) => self.groups[g].critical,
        }
    }

    /// The rows as currently folded, depth first.
    fn flatten(&mut self) {
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

    fn select(&mut self, row: usize) {
        let row = row.min(self.rows.len().saturating_sub(1));
        if row != self.selected {
            self.detail_scroll = 0;
        }
        self.selected = row;
    }

    fn select_item(&mut self, item: Item) {
        if let Some(at) = self.rows.iter().position(|r| r.item == item) {
            self.select(at);
        }
    }

    fn move_by(&mut self, delta: isize) {
        let target = self.selected.saturating_add_signed(delta);
        self.select(target);
    }

    /// The list rows on screen.
    fn page(&self) -> usize {
        usize::from(self.areas(self.viewport).rows.height).max(1)
    }

    fn selected_row(&self) -> Option<Row> {
        self.rows.get(self.selected).copied()
    }

    /// Unfolds the selected group.
    fn unfold(&mut self) {
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
    fn fold(&mut self) -> bool {
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
    fn select_parent(&mut self) {
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
    fn next_where(&mut self, wanted: impl Fn(&TraceScreen, Item) -> bool) {
        let n = self.rows.len();
        for step in 1..=n {
            let at = (self.selected + step) % n;
            if wanted(self, self.rows[at].item) {
                self.select(at);
                return;
            }
        }
    }

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

    /// The span whose flame bar is drawn at `column`, `row` (what [`Self::render_flame`] paints there, under the
    /// selection), if any.
    fn flame_span_at(&self, areas: &Areas, column: u16, row: u16) -> Option<usize> {
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

    /// The spans of the selected row: one, or a group's members.
    fn selected_spans(&self) -> &[usize] {
        match self.rows.get(self.selected).map(|r| &r.item) {
            Some(Item::Span(i)) => std::slice::from_ref(i),
            Some(Item::Group(g)) => &self.groups[*g].members,
            None => &[],
        }
    }

    /// Whether `spans` (one span, or a group's members, which share a depth) are drawn on flame line `k`.
    fn on_flame_line(&self, spans: &[usize], k: usize) -> bool {
        let last = self.flame.len().saturating_sub(1);
        spans
            .first()
            .is_some_and(|&i| self.nodes[i].depth.min(last) == k)
    }

    /// The cells the bars of `spans` (in start order) take on a flame line `width` cells wide: each its time
    /// (one cell at least), less the cells an earlier one took.
    fn bar_cells<'s>(
        &'s self,
        spans: &'s [usize],
        width: usize,
    ) -> impl Iterator<Item = BarCells> + 's {
        let mut painted = 0;
        spans.iter().filter_map(move |&i| {
            let node = &self.nodes[i];
            let (from, to) = cells(node.start, node.end, self.axis_ns, width);
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

    /// Where the details' text starts in the pane, and how wide it is.
    fn detail_text(areas: &Areas) -> (u16, usize) {
        let pane = areas.details;
        let x = if areas.wide { pane.x + 1 } else { pane.x };
        (x, usize::from(pane.right().saturating_sub(x)))
    }

    /// Where the parts of the screen go in `area`, for drawing and for clicks alike.
    fn areas(&self, area: Rect) -> Areas {
        Areas::of(area, self.rows.len(), self.flame.len())
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

    /// A click on `target`: on a row of the waterfall list, selects that row (on the selected row, folds or
    /// unfolds its group); on a bar of the flame pane, selects that span, unfolding the groups that hide it.
    pub fn click(&mut self, target: Target) {
        match target {
            Target::FlameBar(span) if span < self.nodes.len() => {
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

    /// Draws into `area`; reads state only (takes &self).
    pub fn render(&self, area: Rect, buf: &mut Buffer, theme: &Theme) {
        let area = area.intersection(buf.area);
        if area.is_empty() {
            return;
        }
        let areas = self.areas(area);
        self.render_header(areas.header, buf, theme);
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
                theme.service(&self.nodes[r].service),
            ));
            spans.push(Span::raw(format!(" {}", self.nodes[r].name)));
        }
        spans.push(Span::raw(format!("  {}", fmt::ms(self.duration_ms))));
        let n = self.nodes.len();
        spans.push(Span::raw(format!(
            "  {n} span{}",
            if n == 1 { "" } else { "s" }
        )));
        let errors = format!(
            "  {} error{}",
            self.errors,
            if self.errors == 1 { "" } else { "s" }
        );
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
            spans.push(Span::styled(service.clone(), theme.service(service)));
        }
        put_line(buf, area, area.x, area.y, &Line::from(spans));
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
            let n = level.spans.len();
            let mut pieces = vec![(
                format!("{depths} · {n} span{} ", if n == 1 { "" } else { "s" }),
                theme.dim(),
            )];
            for (s, service) in level.services.iter().enumerate() {
                if s > 0 {
                    pieces.push((", ".to_owned(), theme.dim()));
                }
                pieces.push((service.clone(), theme.service(service)));
            }
            if level.more_services {
                pieces.push((", …".to_owned(), theme.dim()));
            }
            // The label may use the duration column, with a cell to spare before the bars.
            let width = usize::from(cols.bar_x.saturating_sub(cols.label_x + 1));
            let label = Rect::new(cols.label_x, y, width as u16, 1).intersection(pane);
            put_line(buf, label, cols.label_x, y, &fit_pieces(pieces, width));

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
            let (style, fill) = match coat {
                Coat::Selected => (theme.service(&node.service).patch(theme.selected()), " "),
                _ if node.lit => (theme.highlight(), "█"),
                _ => (theme.service(&node.service), "█"),
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
            let rest = usize::from(end.saturating_sub(x));
            if rest > 0 {
                buf.set_stringn(x, y, fill.repeat(rest), rest, style);
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
                let end = fmt::ms(self.axis_ns as f64 / 1e6);
                let end_len = end.chars().count();
                if cols.bar_w > end_len + 2 {
                    let x = cols.bar_x + (cols.bar_w - end_len) as u16;
                    put(buf, head, x, head.y, &end, theme.dim());
                }
                let mid = fmt::ms(self.axis_ns as f64 / 2e6);
                let mid_len = mid.chars().count();
                if cols.bar_w > 2 * (end_len + mid_len) + 4 {
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
        let (error, critical, lit, start, end, duration_ms, service) = match row.item {
            Item::Span(i) => {
                let node = &self.nodes[i];
                (
                    node.error,
                    node.critical,
                    node.lit,
                    node.start,
                    node.end,
                    self.view.spans[i].duration_ms,
                    node.service.as_str(),
                )
            }
            Item::Group(g) => {
                let group = &self.groups[g];
                (
                    group.error,
                    group.critical,
                    group.lit,
                    group.start,
                    group.end,
                    group.total_ms,
                    group.service.as_str(),
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
                    pieces.push((format!("{} ", node.service), theme.service(service)));
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
                theme.service(service)
            };
            put(
                buf,
                clip,
                cols.bar_x,
                y,
                &bar(start, end, self.axis_ns, cols.bar_w),
                style,
            );
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

    /// How far the details can scroll in the area the screen is drawn into: their lines less the pane's
    /// height.
    fn detail_max(&self) -> usize {
        let areas = self.areas(self.viewport);
        if areas.details.is_empty() {
            return 0;
        }
        let (_, width) = Self::detail_text(&areas);
        let lines = self.detail_lines(width, &Theme::mono()).len();
        lines.saturating_sub(usize::from(areas.details.height))
    }

    fn detail_lines(&self, width: usize, theme: &Theme) -> Vec<Line<'static>> {
        let mut out: Vec<Line<'static>> = Vec::new();
        if width == 0 {
            return out;
        }
        let text = |s: String| Line::raw(fmt::fit(&s, width));
        let styled = |s: String, style: Style| Line::styled(fmt::fit(&s, width), style);
        let Some(row) = self.selected_row() else {
            out.push(styled("This trace has no spans.".to_owned(), theme.dim()));
            return out;
        };
        match row.item {
            Item::Group(g) => {
                let group = &self.groups[g];
                let style = if group.lit {
                    theme.highlight()
                } else {
                    theme.header()
                };
                out.push(styled(
                    format!("×{} repeated calls", group.members.len()),
                    theme.warn(),
                ));
                for piece in wrap(&group.statement, width, 6) {
                    out.push(Line::styled(piece, style));
                }
                let under = group
                    .parent
                    .map(|p| format!(" · under {}", self.nodes[p].name))
                    .unwrap_or_default();
                out.push(Line::from(vec![
                    Span::styled(group.service.clone(), theme.service(&group.service)),
                    Span::raw(fmt::fit(
                        &under,
                        width.saturating_sub(group.service.chars().count()),
                    )),
                ]));
                let n = group.members.len().max(1) as f64;
                out.push(text(format!(
                    "total {} · mean {} · from {} to {}",
                    fmt::ms(group.total_ms),
                    fmt::ms(group.total_ms / n),
                    offset(i128::from(group.start) + self.axis_shift()),
                    offset(i128::from(group.end) + self.axis_shift()),
                )));
                if group.error {
                    out.push(styled(
                        "some of these calls failed".to_owned(),
                        theme.error(),
                    ));
                }
                out.push(styled("Enter or → unfolds them".to_owned(), theme.dim()));
            }
            Item::Span(i) => self.span_lines(i, width, theme, &mut out),
        }
        out
    }

    /// Nanoseconds from the trace's own start to the axis start (spans may start before the trace says).
    fn axis_shift(&self) -> i128 {
        i128::from(self.axis_start) - i128::from(self.view.start_unix_nano)
    }

    fn span_lines(&self, i: usize, width: usize, theme: &Theme, out: &mut Vec<Line<'static>>) {
        let span = &self.view.spans[i];
        let node = &self.nodes[i];
        let text = |s: String| Line::raw(fmt::fit(&s, width));
        let styled = |s: String, style: Style| Line::styled(fmt::fit(&s, width), style);
        let section = |s: &str| Line::styled(fmt::fit(s, width), theme.header());

        out.push(Line::from(vec![
            Span::styled(fmt::fit(&node.service, width), theme.service(&node.service)),
            Span::styled(
                fmt::fit(
                    &format!(" {}", node.name),
                    width.saturating_sub(node.service.chars().count()),
                ),
                theme.header(),
            ),
        ]));
        let start = i128::from(span.start_unix_nano) - i128::from(self.view.start_unix_nano);
        let figures = format!(
            "{} · {} · self {} · at {}{}",
            safe(&span.kind),
            fmt::ms(span.duration_ms),
            fmt::ms(span.self_ms),
            offset(start),
            if node.critical {
                " · critical path"
            } else {
                ""
            },
        );
        out.extend(wrap(&figures, width, 2).into_iter().map(Line::raw));
        if let Some(g) = node.group {
            let group = &self.groups[g];
            let at = group.members.iter().position(|&m| m == i).unwrap_or(0) + 1;
            let style = if group.lit {
                theme.highlight()
            } else {
                theme.warn()
            };
            let line = format!(
                "repeat {at} of ×{}, {} in all · ← folds them",
                group.members.len(),
                fmt::ms(group.total_ms)
            );
            out.extend(
                wrap(&line, width, 2)
                    .into_iter()
                    .map(|l| Line::styled(l, style)),
            );
        }
        let status = safe(&span.status);
        if span.status == "error" {
            let message = safe(&span.status_message);
            // The exception below says it again: once is enough on a small screen.
            let repeated = node.failure.as_ref().is_some_and(|f| {
                f.exceptions
                    .iter()
                    .any(|e| !message.is_empty() && e.message == message)
            });
            let line = if message.is_empty() || repeated {
                "status error".to_owned()
            } else {
                format!("status error: {message}")
            };
            for piece in wrap(&line, width, 3) {
                out.push(Line::styled(piece, theme.error()));
            }
        } else {
            out.push(styled(format!("status {status}"), theme.dim()));
        }

        if let Some(failure) = &node.failure {
            // What failed, then where (the source line: what a student looks for, so it stays in view on a
            // small screen), then how it got there.
            for exception in &failure.exceptions {
                let head = match (exception.kind.is_empty(), exception.message.is_empty()) {
                    (false, false) => format!("{}: {}", exception.kind, exception.message),
                    (false, true) => exception.kind.clone(),
                    (true, false) => exception.message.clone(),
                    (true, true) => "exception".to_owned(),
                };
                for piece in wrap(&head, width, 4) {
                    out.push(Line::styled(piece, theme.error()));
                }
            }
            if let Some(source) = &failure.source {
                out.push(section(&format!("source {}:{}", source.path, source.line)));
                match &source.lines {
                    Ok(lines) => {
                        let digits = lines.last().map_or(1, |(n, _)| n.to_string().len());
                        for (number, code) in lines {
                            let here = *number == source.line;
                            let prefix =
                                format!("{} {number:>digits$} │ ", if here { '>' } else { ' ' });
                            let style = if here { theme.error() } else { Style::new() };
                            out.push(Line::from(vec![
                                Span::styled(
                                    prefix.clone(),
                                    if here { theme.error() } else { theme.dim() },
                                ),
                                Span::styled(
                                    fmt::fit(code, width.saturating_sub(prefix.chars().count())),
                                    style,
                                ),
                            ]));
                        }
                    }
                    Err(why) => out.extend(
                        wrap(why, width, 3)
                            .into_iter()
                            .map(|l| Line::styled(l, theme.dim())),
                    ),
                }
            }
            for exception in &failure.exceptions {
                let own = exception.frames.iter().filter(|f| f.project).count();
                if own > 0 {
                    out.push(section(&format!("stack · {own} in the project")));
                    for frame in exception.frames.iter().filter(|f| f.project) {
                        frame_lines(frame, width, Style::new(), theme, out);
                    }
                }
            }
            for exception in &failure.exceptions {
                let library = exception.frames.iter().filter(|f| !f.project).count();
                if library > 0 {
                    out.push(styled(format!("library frames ({library})"), theme.dim()));
                    for frame in exception.frames.iter().filter(|f| !f.project) {
                        frame_lines(frame, width, theme.dim(), theme, out);
                    }
                }
            }
        }

        if !span.attributes.is_empty() {
            out.push(section(&format!("attributes ({})", span.attributes.len())));
            for (key, value) in &span.attributes {
                let head = format!("  {} = ", safe(key));
                let head_len = head.chars().count();
                let value = value_text(value);
                if head_len + 8 > width {
                    out.push(Line::from(vec![
                        Span::styled(fmt::fit(&head, width), theme.dim()),
                        Span::raw(fmt::fit(&value, width.saturating_sub(head_len))),
                    ]));
                    continue;
                }
                // Long values wrap under themselves, four lines at most.
                for (k, piece) in wrap(&value, width - head_len, 4).into_iter().enumerate() {
                    let lead = if k == 0 {
                        Span::styled(head.clone(), theme.dim())
                    } else {
                        Span::raw(" ".repeat(head_len))
                    };
                    out.push(Line::from(vec![lead, Span::raw(piece)]));
                }
            }
        }
        if !span.events.is_empty() {
            out.push(section(&format!("events ({})", span.events.len())));
            for event in &span.events {
                let at = i128::from(event.time_unix_nano) - i128::from(self.view.start_unix_nano);
                let mut line = format!("  {} {}", offset(at), safe(&event.name));
                if event.name == "exception"
                    && let Some(kind) = event.attributes.get("exception.type")
                {
                    line.push(' ');
                    line.push_str(&value_text(kind));
                    out.push(text(line));
                    continue;
                }
                out.push(text(line));
                for (key, value) in &event.attributes {
                    out.push(text(format!("      {} = {}", safe(key), value_text(value))));
                }
            }
        }
    }
}

/// One stack frame: the function and where it is on one line when both fit, else on two.
fn frame_lines(
    frame: &Frame,
    width: usize,
    style: Style,
    theme: &Theme,
    out: &mut Vec<Line<'static>>,
) {
    let function = format!("  {}", frame.function);
    let location = frame.location.as_str();
    let one = function.chars().count() + 2 + location.chars().count();
    if frame.function.is_empty() || location.is_empty() || one <= width {
        let rest = width.saturating_sub(function.chars().count());
        out.push(Line::from(vec![
            Span::styled(fmt::fit(&function, width), style),
            Span::styled(fmt::fit(&format!("  {location}"), rest), theme.dim()),
        ]));
    } else {
        out.push(Line::styled(fmt::fit(&function, width), style));
        out.push(Line::styled(
            fmt::fit(&format!("      at {location}"), width),
            theme.dim(),
        ));
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

/// The time axis of the flame pane's line `y`: the list's bar column, on that line; `None` off the pane or
/// where the list has no bar column.
fn flame_axis(areas: &Areas, y: u16) -> Option<Rect> {
    let pane = areas.flame;
    let cols = Columns::of(areas.list);
    if pane.is_empty() || cols.bar_w == 0 || y < pane.y || y >= pane.bottom() {
        return None;
    }
    let axis = Rect::new(cols.bar_x, y, cols.bar_w as u16, 1).intersection(pane);
    (!axis.is_empty()).then_some(axis)
}

/// A flame bar's cells on its line.
struct BarCells {
    span: usize,
    from: usize,
    to: usize,
    /// Starts where its time does (no earlier bar took its first cells).
    whole: bool,
}

/// The cells `from..to` of `width` that `start..end` (nanoseconds on an axis of `axis`) covers: one at least,
/// none past the axis.
fn cells(start: u64, end: u64, axis: u64, width: usize) -> (usize, usize) {
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

/// A bar from `start` to `end` (nanoseconds on an axis of `axis` nanoseconds) in `width` cells, in eighths of
/// a cell at its end; at least a sliver, so that a span too short to see still shows where it is.
fn bar(start: u64, end: u64, axis: u64, width: usize) -> String {
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

/// Where the parts of the screen go in `area`: the same for drawing and for clicks.
#[derive(Clone, Copy, Debug, Default)]
struct Areas {
    header: Rect,
    /// The list's pane: the flame, the list's head and its rows.
    list: Rect,
    flame: Rect,
    head: Rect,
    rows: Rect,
    separator: Rect,
    details: Rect,
    wide: bool,
}

impl Areas {
    /// `rows` is the number of rows of the list, `levels` the flame pane's lines: below 120 columns a short list
    /// leaves the rest to the details. The flame pane sits at the top of the list's pane when the list keeps
    /// [`FLAME_MIN_ROWS`] rows below it (all of them, when fewer) and has a time axis to share with it.
    fn of(area: Rect, rows: usize, levels: usize) -> Areas {
        let mut a = Areas::default();
        if area.is_empty() {
            return a;
        }
        a.header = Rect::new(area.x, area.y, area.width, 1);
        let body = Rect::new(area.x, area.y + 1, area.width, area.height - 1);
        if body.is_empty() {
            return a;
        }
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
struct Columns {
    gutter: bool,
    label_x: u16,
    label_w: usize,
    dur_x: u16,
    dur_w: usize,
    bar_x: u16,
    bar_w: usize,
}

impl Columns {
    fn of(list: Rect) -> Columns {
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

#[cfg(test)]
mod tests {
    use super::*;
    use collector::model::{Event, KeyValue, Resource, SpanKind, Status, StatusCode, Value};
    use collector::view::trace_view;
    use collector::workshop::{BANNER_FILE, BANNER_LINE, Workshop, generate};
    use collector::{Span, SpanId, TraceId};
    use protocol::SpanView;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use ratatui::style::Modifier;

    const START: u64 = 1_700_000_000_000_000_000;
    const DISCOUNT_TYPE: &str =
        "SELECT id, name, discount_query, influencer_id FROM discount_type WHERE id = ?";

    /// The broken workshop's four traces: home (discounts' N+1), product, taxon (error), cart (error).
    fn workshop() -> Vec<TraceView> {
        let spans = generate(Workshop::Broken, 4, START);
        let mut ids = Vec::new();
        for span in &spans {
            if !ids.contains(&span.trace_id) {
                ids.push(span.trace_id);
            }
        }
        ids.into_iter()
            .map(|id| {
                let mine: Vec<_> = spans.iter().filter(|s| s.trace_id == id).cloned().collect();
                trace_view(id, &mine)
            })
            .collect()
    }

    fn error_trace() -> TraceView {
        workshop()
            .into_iter()
            .find(|t| {
                t.spans
                    .iter()
                    .any(|s| s.events.iter().any(|e| e.name == "exception"))
            })
            .expect("the broken workshop has an erroring trace")
    }

    fn discounts_trace() -> TraceView {
        workshop()
            .into_iter()
            .find(|t| t.spans.len() > 200)
            .expect("the broken workshop has an N+1 trace")
    }

    fn failing_span(view: &TraceView) -> String {
        view.spans
            .iter()
            .find(|s| s.events.iter().any(|e| e.name == "exception"))
            .map(|s| s.span_id.clone())
            .unwrap()
    }

    /// A project (a `Cargo.toml` marks it) holding the banner's source at its repo-relative path.
    fn workspace() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Cargo.toml"), "[workspace]\n").unwrap();
        let file = dir.path().join(BANNER_FILE);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        let banner = BANNER_LINE;
        let mut text = String::new();
        for n in 1..=banner + 20 {
            let line = match n - banner {
                -2 => "        let banner = if state.faults.is_on(ADS_IN_LAYOUT) {".to_owned(),
                -1 => "            // FAULT frontend.ads-in-layout: every page renders the banner"
                    .to_owned(),
                0 => "            banner(ad)?".to_owned(),
                1 => "        } else {".to_owned(),
                2 => "            None".to_owned(),
                _ => format!("// line {n}"),
            };
            text.push_str(&line);
            text.push('\n');
        }
        std::fs::write(file, text).unwrap();
        dir
    }

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    /// What the event loop does: tells the screen its size, then draws it.
    fn draw(screen: &mut TraceScreen, width: u16, height: u16) -> TestBackend {
        screen.resize(Rect::new(0, 0, width, height));
        let screen = &*screen;
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal
            .draw(|f| screen.render(f.area(), f.buffer_mut(), &Theme::mono()))
            .unwrap();
        terminal.backend().clone()
    }

    /// What the event loop does with a click: asks the screen what lies under it, and clicks that.
    fn click(screen: &mut TraceScreen, area: Rect, column: u16, row: u16) -> bool {
        match screen.hit(area, column, row) {
            Some(target) => {
                screen.click(target);
                true
            }
            None => false,
        }
    }

    fn selected_index(screen: &TraceScreen) -> usize {
        match screen.selected_row().unwrap().item {
            Item::Span(i) => i,
            Item::Group(g) => panic!("group {g} selected"),
        }
    }

    fn selected_span(screen: &TraceScreen) -> Option<&SpanView> {
        match screen.selected_row()?.item {
            Item::Span(i) => Some(&screen.view.spans[i]),
            Item::Group(_) => None,
        }
    }

    /// A span id for a name (the same name, the same id).
    fn id(name: &str) -> SpanId {
        // FNV-1a: stable, and never zero for these names.
        let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        SpanId::from_u64(hash)
    }

    fn text(key: &str, value: &str) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Value::Str(value.into()),
        }
    }

    /// A span of service `svc` in the trace `…dead`, `parent` empty for a root.
    fn span(name_id: &str, parent: &str, name: &str, start_ms: u64, end_ms: u64) -> Span {
        Span {
            trace_id: TraceId::from_hex(DEAD).unwrap(),
            span_id: id(name_id),
            parent_span_id: (!parent.is_empty()).then(|| id(parent)),
            name: name.into(),
            kind: SpanKind::Internal,
            start_ns: START + start_ms * 1_000_000,
            end_ns: START + end_ms * 1_000_000,
            status: Status::default(),
            attributes: Vec::new(),
            events: Vec::new(),
            links: Vec::new(),
            resource: std::sync::Arc::new(Resource {
                attributes: vec![text("service.name", "svc")],
            }),
            scope: Default::default(),
        }
    }

    const DEAD: &str = "0000000000000000000000000000dead";

    /// Orphans, a parent cycle, a self-parent, a zero-duration span, one ending before it starts, one outside
    /// the trace's bounds, escapes and a huge attribute; the root alone on the critical path.
    fn degenerate() -> TraceView {
        let mut huge = span("h", "a", "huge\x1b[2J attribute", 2, 3);
        huge.attributes.push(text("blob", &"x".repeat(100_000)));
        huge.attributes.push(KeyValue {
            key: "list".into(),
            value: Value::Array(
                vec![
                    Value::Int(1),
                    Value::Int(2),
                    Value::Map(vec![text("k", "v\nw")].into()),
                ]
                .into(),
            ),
        });
        let mut failing = span("f", "missing-parent", "orphan\nfails", 4, 4);
        failing.status = Status {
            code: StatusCode::Error,
            message: Some("bad\x07 news".into()),
        };
        failing
            .attributes
            .push(text("code.file.path", "../../etc/passwd"));
        failing.attributes.push(KeyValue {
            key: "code.line.number".into(),
            value: Value::Int(3),
        });
        failing.events.push(Event {
            name: "exception".into(),
            time_ns: START + 4_000_000,
            attributes: vec![
                text("exception.type", "Boom"),
                text("exception.message", "it broke"),
                text("exception.stacktrace", "not a stack at all"),
            ],
        });
        let mut backwards = span("b", "", "ends before it starts", 9, 8);
        backwards.end_ns = START;
        let spans = vec![
            span("a", "", "root", 1, 10),
            huge,
            span("c1", "c2", "cycle one", 3, 5),
            span("c2", "c1", "cycle two", 4, 6),
            span("s", "s", "own parent", 5, 5),
            failing,
            backwards,
            span("late", "a", "after the trace", 20, 30),
            span("wide", "a", &"幅広い名前".repeat(20), 2, 4),
            span("a", "", "duplicate id", 2, 2),
        ];
        let mut view = trace_view(TraceId::from_hex(DEAD).unwrap(), &spans);
        view.duration_ms = 0.0;
        view.critical_path = vec![view.spans[0].span_id.clone(), "nowhere".to_owned()];
        for (i, span) in view.spans.iter_mut().enumerate() {
            span.critical = i == 0;
        }
        view
    }

    #[test]
    fn error_trace_80x24() {
        let view = error_trace();
        let id = failing_span(&view);
        let dir = workspace();
        let mut screen = TraceScreen::new(view, Focus::Span(id.clone()), Some(dir.path()));
        assert_eq!(selected_span(&screen).unwrap().span_id, id);
        insta::assert_snapshot!(draw(&mut screen, 80, 24));
    }

    #[test]
    fn error_trace_140x40() {
        let view = error_trace();
        let id = failing_span(&view);
        let dir = workspace();
        let mut screen = TraceScreen::new(view, Focus::Span(id), Some(dir.path()));
        let drawn = draw(&mut screen, 140, 40);
        let text = drawn.to_string();
        assert!(
            text.contains(&format!("> {BANNER_LINE} │")),
            "the failing line is marked"
        );
        assert!(text.contains("MissingAdError"));
        insta::assert_snapshot!(drawn);
    }

    #[test]
    fn source_outside_the_workspace_is_named_not_read() {
        let view = error_trace();
        let id = failing_span(&view);
        // A project, without the file.
        let empty = tempfile::tempdir().unwrap();
        std::fs::write(empty.path().join("Cargo.toml"), "").unwrap();
        let mut screen = TraceScreen::new(view, Focus::Span(id), Some(empty.path()));
        let failing = screen
            .nodes
            .iter()
            .find_map(|n| n.failure.as_ref())
            .unwrap();
        let source = failing.source.as_ref().unwrap();
        assert_eq!(
            (source.path.as_str(), i64::from(source.line)),
            (BANNER_FILE, BANNER_LINE)
        );
        let why = source.lines.as_ref().unwrap_err();
        assert_eq!(why, &format!("source not in this workspace: {BANNER_FILE}"));
        assert!(
            draw(&mut screen, 140, 40)
                .to_string()
                .contains("source not in this workspace:")
        );

        let dir = workspace();
        for path in [
            "../secret.rs",
            "/etc/passwd",
            "services/../../x.rs",
            "",
            ".",
        ] {
            let read = read_source(Some(dir.path()), path, 1);
            assert!(read.is_err(), "{path:?} must be refused");
        }
        let inside = read_source(Some(dir.path()), &format!("./{BANNER_FILE}"), 1).unwrap();
        assert_eq!(inside.len(), 3, "lines 1 to 3");
        assert!(read_source(Some(dir.path()), BANNER_FILE, 500).is_err());
        assert!(read_source(None, BANNER_FILE, 1).is_err());
    }

    #[test]
    fn source_is_shown_only_from_a_projects_source_files() {
        fn write(root: &Path, file: &str, text: &str) {
            let path = root.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let lines = "one\ntwo\nthree\n";
        let project = tempfile::tempdir().unwrap();
        let root = project.path();
        write(root, "Cargo.toml", "[package]\n");
        write(root, "src/main.rs", lines);
        write(root, "src/page.HTML", lines);
        write(root, ".ssh/id_rsa", lines);
        write(root, ".env", lines);
        write(root, "secrets/key.rs.bak", lines);
        write(root, "notes.txt", lines);
        write(root, "config/.hidden.toml", lines);

        let shown = read_source(Some(root), "src/main.rs", 2).unwrap();
        assert_eq!(
            shown,
            [
                (1, "one".to_owned()),
                (2, "two".to_owned()),
                (3, "three".to_owned())
            ]
        );
        assert!(
            read_source(Some(root), "src/page.HTML", 1).is_ok(),
            "any case"
        );
        for file in [
            ".ssh/id_rsa",
            "./.ssh/id_rsa",
            ".env",
            "secrets/key.rs.bak",
            "notes.txt",
            "config/.hidden.toml",
            "Cargo.lock",
            "Cargo.toml",
        ] {
            let why = read_source(Some(root), file, 1).unwrap_err();
            assert_eq!(
                why,
                format!("source not shown (not a source file): {file}"),
                "{file}"
            );
        }
        // A source file's name leading to another file (a link) is judged by where it leads.
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(root.join(".ssh/id_rsa"), root.join("src/key.rs")).unwrap();
            let why = read_source(Some(root), "src/key.rs", 1).unwrap_err();
            assert!(
                why.starts_with("source not shown (not a source file)"),
                "{why}"
            );
        }

        // The same file, without anything that makes its folder a project: not shown.
        let loose = tempfile::tempdir().unwrap();
        write(loose.path(), "src/main.rs", lines);
        let why = read_source(Some(loose.path()), "src/main.rs", 2).unwrap_err();
        assert_eq!(
            why,
            "source not shown (the workspace is not a project's root): src/main.rs"
        );
        // Any of the markers makes it one.
        for marker in PROJECT_MARKERS {
            let dir = tempfile::tempdir().unwrap();
            write(dir.path(), "src/main.rs", lines);
            std::fs::create_dir(dir.path().join(marker)).unwrap();
            assert!(
                read_source(Some(dir.path()), "src/main.rs", 2).is_ok(),
                "{marker}"
            );
        }

        // Drawn as the reason, where the lines would be.
        let mut view = error_trace();
        for span in &mut view.spans {
            if span.attributes.contains_key("code.file.path") {
                span.attributes
                    .insert("code.file.path".to_owned(), ".ssh/id_rsa".into());
                if let Some(at) = &mut span.location {
                    at.file = ".ssh/id_rsa".to_owned();
                }
            }
        }
        let id = failing_span(&view);
        let mut screen = TraceScreen::new(view, Focus::Span(id), Some(root));
        let text = draw(&mut screen, 140, 40).to_string();
        assert!(
            text.contains("source not shown (not a source file): .ssh/id_rsa"),
            "{text}"
        );
        assert!(!text.contains("three"));
    }

    #[test]
    fn discounts_folded_80x24() {
        let mut screen = TraceScreen::new(discounts_trace(), Focus::None, None);
        assert!(
            screen.rows.len() < 20,
            "the N+1 is folded: {} rows",
            screen.rows.len()
        );
        assert!(screen.rows.iter().any(|r| r.mark == Mark::Folded));
        insta::assert_snapshot!(draw(&mut screen, 80, 24));
    }

    #[test]
    fn discounts_repeated_140x40() {
        let mut screen = TraceScreen::new(
            discounts_trace(),
            Focus::Repeated(DISCOUNT_TYPE.to_owned()),
            None,
        );
        insta::assert_snapshot!(draw(&mut screen, 140, 40));
    }

    #[test]
    fn degenerate_trace_80x24() {
        let mut screen = TraceScreen::new(degenerate(), Focus::None, None);
        assert_eq!(
            screen.rows.len(),
            10,
            "every span is shown, cycles included"
        );
        assert_eq!(
            selected_span(&screen).unwrap().span_id,
            id("f").to_string(),
            "the error is selected"
        );
        let text = draw(&mut screen, 80, 24).to_string();
        assert!(!text.contains('\x1b') && !text.contains('\x07'));
        insta::assert_snapshot!(text);
    }

    #[test]
    fn empty_trace() {
        let view = TraceView {
            trace_id: String::new(),
            start_unix_nano: 0,
            duration_ms: f64::NAN,
            spans: Vec::new(),
            critical_path: Vec::new(),
            repeat_groups: Vec::new(),
        };
        let mut screen = TraceScreen::new(view, Focus::Span("x".to_owned()), None);
        for code in [
            KeyCode::Down,
            KeyCode::End,
            KeyCode::Enter,
            KeyCode::Left,
            KeyCode::Char('e'),
            KeyCode::Char('c'),
        ] {
            assert!(screen.handle_key(key(code)));
        }
        assert!(draw(&mut screen, 80, 24).to_string().contains("no spans"));
        assert!(!click(&mut screen, Rect::new(0, 0, 80, 24), 5, 3));
    }

    #[test]
    fn every_small_size_draws() {
        let dir = workspace();
        let view = error_trace();
        let id = failing_span(&view);
        let mut screens = [
            TraceScreen::new(view, Focus::Span(id), Some(dir.path())),
            TraceScreen::new(
                discounts_trace(),
                Focus::Repeated(DISCOUNT_TYPE.to_owned()),
                None,
            ),
            TraceScreen::new(degenerate(), Focus::None, None),
        ];
        for screen in &mut screens {
            for width in 0..=30 {
                for height in 0..=12 {
                    draw(screen, width, height);
                }
            }
            // Where the flame comes and goes, beside the list and above it.
            for width in (31..=170).step_by(3) {
                for height in 0..=30 {
                    draw(screen, width, height);
                }
            }
            // An area larger than the buffer, and one off its edge.
            let mut buf = Buffer::empty(Rect::new(0, 0, 10, 3));
            screen.render(Rect::new(5, 1, 40, 40), &mut buf, &Theme::default());
            screen.render(Rect::new(50, 50, 10, 10), &mut buf, &Theme::default());
        }
    }

    #[test]
    fn keys_move_the_selection() {
        let query = Focus::Repeated(DISCOUNT_TYPE.to_owned());
        let mut screen = TraceScreen::new(discounts_trace(), query, None);
        screen.handle_key(key(KeyCode::Enter)); // unfold the ×103 row: a long list
        screen.handle_key(key(KeyCode::Home));
        assert_eq!(screen.selected, 0);
        assert!(screen.handle_key(key(KeyCode::Char('j'))));
        assert!(screen.handle_key(key(KeyCode::Down)));
        assert_eq!(screen.selected, 2);
        assert!(screen.handle_key(key(KeyCode::Char('k'))));
        assert_eq!(screen.selected, 1);
        assert!(screen.handle_key(key(KeyCode::Char('G'))));
        assert_eq!(screen.selected, screen.rows.len() - 1);
        screen.handle_key(key(KeyCode::Down));
        assert_eq!(
            screen.selected,
            screen.rows.len() - 1,
            "stays on the last row"
        );
        assert!(screen.handle_key(key(KeyCode::Char('g'))));
        assert_eq!(screen.selected, 0);
        screen.handle_key(key(KeyCode::Up));
        assert_eq!(screen.selected, 0);

        // Pages are as tall as the list last drawn, below the flame.
        draw(&mut screen, 80, 24);
        let page = screen.page();
        let areas = screen.areas(Rect::new(0, 0, 80, 24));
        assert_eq!(areas.flame.height, 4);
        assert_eq!(page, usize::from(areas.rows.height));
        assert_eq!(page, 9);
        screen.handle_key(key(KeyCode::Enter)); // nothing to fold on the root
        screen.handle_key(key(KeyCode::End));
        screen.handle_key(key(KeyCode::PageUp));
        assert_eq!(screen.selected, screen.rows.len() - 1 - page);
        assert!(screen.handle_key(KeyEvent::new(KeyCode::Char('d'), KeyModifiers::CONTROL)));
        assert_eq!(screen.selected, screen.rows.len() - 1);
        assert!(screen.handle_key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL)));
        assert_eq!(screen.selected, screen.rows.len() - 1 - page);

        // Keys of the app are left to it.
        for code in [
            KeyCode::Esc,
            KeyCode::Char('q'),
            KeyCode::Tab,
            KeyCode::Char('1'),
            KeyCode::Char('?'),
        ] {
            assert!(!screen.handle_key(key(code)), "{code:?}");
        }
        assert!(!screen.handle_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)));
    }

    #[test]
    fn the_list_scrolls_to_the_selection() {
        let mut screen = TraceScreen::new(
            discounts_trace(),
            Focus::Repeated(DISCOUNT_TYPE.to_owned()),
            None,
        );
        screen.handle_key(key(KeyCode::Char('G')));
        let text = draw(&mut screen, 80, 24).to_string();
        let last = screen.rows.len();
        assert!(text.contains(&format!("span {last}/{last}")));
        assert!(text.contains("render layout"), "the last row is on screen");
        // Moving up inside the page does not scroll.
        let offset = screen.offset;
        screen.handle_key(key(KeyCode::Up));
        draw(&mut screen, 80, 24);
        assert_eq!(screen.offset, offset);
        // A click selects the row under it; the details follow.
        let area = Rect::new(0, 0, 80, 24);
        let areas = screen.areas(area);
        assert!(!areas.flame.is_empty());
        assert!(!click(&mut screen, area, 10, 0), "the header is no row");
        for y in areas.flame.top()..areas.rows.top() {
            assert!(
                !click(&mut screen, area, 10, y),
                "nor are the flame's labels and the head"
            );
        }
        assert!(!click(&mut screen, area, 10, 20), "nor are the details");
        assert!(click(&mut screen, area, 10, areas.rows.y));
        assert_eq!(screen.selected, offset);
        assert!(click(&mut screen, area, 10, areas.rows.bottom() - 1));
        assert_eq!(screen.selected, offset + usize::from(areas.rows.height) - 1);
    }

    #[test]
    fn a_click_on_a_flame_bar_selects_its_span() {
        let mut screen = TraceScreen::new(
            discounts_trace(),
            Focus::Repeated(DISCOUNT_TYPE.to_owned()),
            None,
        );
        let area = Rect::new(0, 0, 80, 24);
        let areas = screen.areas(area);
        let drawn = draw(&mut screen, 80, 24);
        let line = |y: u16| -> String {
            (0..80)
                .map(|x| drawn.buffer()[(x, y)].symbol().to_owned())
                .collect()
        };
        // Depth 2: the two services called, named on their bars.
        let y = areas.flame.y + 2;
        let text = line(y);
        let x = text.find("GET /ads").expect(&text);
        let x = u16::try_from(text[..x].chars().count()).unwrap();
        assert!(click(&mut screen, area, x + 2, y));
        let span = selected_span(&screen).unwrap();
        assert_eq!(
            (span.service.as_str(), span.name.as_str()),
            ("advertisements-service", "GET /ads")
        );
        let rows = screen.rows.len();

        // Depth 3, at the start of the axis: the repeats the screen was opened for are painted over the other
        // statements there; a click selects one of them, unfolding their group.
        let axis_x = Columns::of(areas.list).bar_x;
        assert!(click(&mut screen, area, axis_x, areas.flame.y + 3));
        let span = selected_span(&screen).unwrap();
        assert_eq!(span.service, "discounts-service");
        assert!(span.name.contains("discount_type"), "{}", span.name);
        assert!(screen.rows.len() > rows, "its group was unfolded");
        assert!(matches!(
            screen.selected_row().unwrap().mark,
            Mark::FirstMember | Mark::Member
        ));

        // The selection is drawn over everything: a click on it keeps it, even where other bars lie below.
        let group = screen.nodes[selected_index(&screen)].group.unwrap();
        let member = screen.groups[group].members[50];
        screen.select_item(Item::Span(member));
        screen.detail_scroll = 2;
        let node = &screen.nodes[member];
        let width = Columns::of(areas.list).bar_w;
        let (from, _) = cells(node.start, node.end, screen.axis_ns, width);
        assert!(click(
            &mut screen,
            area,
            axis_x + from as u16,
            areas.flame.y + 3
        ));
        assert_eq!(selected_index(&screen), member);
        assert_eq!(
            screen.detail_scroll, 0,
            "a click shows the details from the top"
        );

        // The labels and the axis past the last bar select nothing.
        let selected = screen.selected;
        assert!(!click(&mut screen, area, 5, areas.flame.y + 3));
        assert!(!click(
            &mut screen,
            area,
            areas.list.right() - 1,
            areas.flame.y + 3
        ));
        assert_eq!(screen.selected, selected);
    }

    #[test]
    fn folding_changes_the_rows() {
        let mut screen = TraceScreen::new(discounts_trace(), Focus::None, None);
        let folded = screen.rows.len();
        let group = screen
            .rows
            .iter()
            .position(|r| r.mark == Mark::Folded)
            .unwrap();
        let Item::Group(g) = screen.rows[group].item else {
            unreachable!()
        };
        let members = screen.groups[g].members.len();
        assert!(members >= 101);
        screen.select(group);
        assert!(screen.handle_key(key(KeyCode::Enter)));
        assert_eq!(screen.rows.len(), folded + members - 1);
        assert_eq!(screen.selected_row().unwrap().mark, Mark::FirstMember);
        // From any span of the group, ← folds it back onto the group's row.
        screen.handle_key(key(KeyCode::Down));
        screen.handle_key(key(KeyCode::Down));
        assert_eq!(screen.selected_row().unwrap().mark, Mark::Member);
        assert!(screen.handle_key(key(KeyCode::Char('h'))));
        assert_eq!(screen.rows.len(), folded);
        assert_eq!(screen.selected, group);
        assert!(screen.handle_key(key(KeyCode::Char('l'))));
        assert_eq!(screen.rows.len(), folded + members - 1);
        assert!(screen.handle_key(key(KeyCode::Enter)));
        assert_eq!(screen.rows.len(), folded);
        // ← on a plain span goes to its parent.
        let Item::Group(g) = screen.selected_row().unwrap().item else {
            unreachable!()
        };
        let parent = screen.groups[g].parent.unwrap();
        screen.handle_key(key(KeyCode::Left));
        assert_eq!(screen.selected_row().unwrap().item, Item::Span(parent));
        // Clicking the selected folded row twice unfolds it.
        draw(&mut screen, 80, 24);
        screen.select(group);
        draw(&mut screen, 80, 24);
        let area = Rect::new(0, 0, 80, 24);
        let y = screen.areas(area).rows.y + (group - screen.offset) as u16;
        assert!(click(&mut screen, area, 10, y));
        assert_eq!(screen.rows.len(), folded + members - 1);
    }

    #[test]
    fn the_n_plus_one_is_folded_by_statement() {
        let screen = TraceScreen::new(discounts_trace(), Focus::None, None);
        let labels: Vec<(usize, &str)> = screen
            .groups
            .iter()
            .map(|g| (g.members.len(), g.label.as_str()))
            .collect();
        assert_eq!(
            labels,
            [
                (103, "SELECT … FROM discount_type WHERE id = ?"),
                (101, "SELECT … FROM influencer WHERE id = ?"),
            ]
        );
    }

    #[test]
    fn e_and_c_jump() {
        let view = error_trace();
        let failing = failing_span(&view);
        let mut screen = TraceScreen::new(view, Focus::None, None);
        assert_eq!(
            selected_span(&screen).unwrap().span_id,
            failing,
            "opens on the raised error"
        );
        screen.handle_key(key(KeyCode::Home));
        let root_is_error = screen.item_error(screen.rows[0].item);
        assert!(screen.handle_key(key(KeyCode::Char('e'))));
        assert_eq!(selected_span(&screen).unwrap().span_id, failing);
        assert!(screen.handle_key(key(KeyCode::Char('e'))));
        assert_eq!(
            screen.selected == 0,
            root_is_error,
            "wraps round to the root's error"
        );
        assert!(screen.handle_key(key(KeyCode::Char('c'))));
        assert!(screen.item_critical(screen.rows[screen.selected].item));

        let mut screen = TraceScreen::new(discounts_trace(), Focus::None, None);
        screen.handle_key(key(KeyCode::Home));
        screen.handle_key(key(KeyCode::Char('e')));
        assert_eq!(screen.selected, 0, "no error: the selection stays");
    }

    #[test]
    fn focus_repeated_selects_the_lit_folded_row_and_enter_unfolds_it() {
        let mut screen = TraceScreen::new(
            discounts_trace(),
            Focus::Repeated(DISCOUNT_TYPE.to_owned()),
            None,
        );
        let lit = screen.groups.iter().position(|g| g.lit).unwrap();
        assert!(screen.groups[lit].folded, "the ×N row is the finding");
        assert_eq!(screen.groups[lit].members.len(), 103);
        assert!(matches!(screen.rows[screen.selected].item, Item::Group(g) if g == lit));
        let folded_rows = screen.rows.len();
        assert!(draw(&mut screen, 80, 24).to_string().contains("×103"));
        // Enter unfolds it: the repeats appear, lit (bold and underlined without colour), the first selected.
        assert!(screen.handle_key(key(KeyCode::Enter)));
        assert!(!screen.groups[lit].folded);
        assert_eq!(screen.rows.len(), folded_rows + 102);
        let drawn = draw(&mut screen, 80, 24);
        let buffer = drawn.buffer();
        let top = screen.areas(Rect::new(0, 0, 80, 24)).rows.y;
        let row_y = |row: usize| top + (row - screen.offset) as u16;
        let label_x = 3 + 6 + 2; // gutter, indent of depth 3, the fold mark
        let selected = buffer[(label_x, row_y(screen.selected))].modifier;
        assert!(selected.contains(Modifier::REVERSED), "{selected:?}");
        let next = buffer[(label_x, row_y(screen.selected + 1))].modifier;
        assert!(
            next.contains(Modifier::UNDERLINED | Modifier::BOLD),
            "{next:?}"
        );
        assert!(!next.contains(Modifier::REVERSED));
        // The raw text is accepted too.
        let raw = "SELECT id, name FROM influencer WHERE id = $1";
        let screen = TraceScreen::new(discounts_trace(), Focus::Repeated(raw.to_owned()), None);
        assert!(
            screen
                .groups
                .iter()
                .any(|g| g.lit && g.label.contains("influencer"))
        );
    }

    #[test]
    fn focus_span_unfolds_its_group() {
        let view = discounts_trace();
        let screen = TraceScreen::new(view.clone(), Focus::None, None);
        let g = &screen.groups[0];
        let member = view.spans[g.members[50]].span_id.clone();
        let mut screen = TraceScreen::new(view, Focus::Span(member.clone()), None);
        assert_eq!(selected_span(&screen).unwrap().span_id, member);
        assert!(!screen.groups[0].folded);
        // J and K scroll the details, within what there is.
        draw(&mut screen, 80, 24);
        let most = screen.detail_max();
        assert!(most > 0, "the details are longer than their pane");
        assert!(screen.handle_key(key(KeyCode::Char('J'))));
        assert_eq!(screen.detail_scroll, DETAIL_STEP.min(most), "J scrolled");
        for _ in 0..100 {
            screen.handle_key(key(KeyCode::Char('J')));
        }
        assert_eq!(screen.detail_scroll, most, "no further than the end");
        for _ in 0..100 {
            screen.handle_key(key(KeyCode::Char('K')));
        }
        assert_eq!(screen.detail_scroll, 0);
    }

    #[test]
    fn the_screen_can_be_built_on_another_thread() {
        fn send<T: Send>() {}
        send::<TraceScreen>();
    }

    #[test]
    fn wrap_breaks_after_spaces() {
        assert_eq!(
            wrap("SELECT id, name FROM t", 12, 5),
            ["SELECT id,", "name FROM t"]
        );
        assert_eq!(wrap("abcdefghij", 4, 2), ["abcd", "efg…"]);
        assert_eq!(wrap("", 4, 2), [""]);
        assert!(wrap("x", 0, 2).is_empty());
    }

    #[test]
    fn select_lists_are_elided() {
        assert_eq!(
            elide_columns("SELECT a, (SELECT 1 FROM x) FROM t WHERE id = ?"),
            "SELECT … FROM t WHERE id = ?"
        );
        assert_eq!(
            elide_columns("select a from t"),
            "select … from t".replacen("select … from", "SELECT … from", 1)
        );
        assert_eq!(elide_columns("SELECT 1"), "SELECT 1");
        assert_eq!(elide_columns("UPDATE t SET a = ?"), "UPDATE t SET a = ?");
    }

    #[test]
    fn bars_sit_on_the_time_axis() {
        assert_eq!(bar(0, 100, 100, 10), "██████████");
        assert_eq!(bar(50, 100, 100, 10), "     █████");
        assert_eq!(bar(0, 5, 100, 10), "▌");
        assert_eq!(bar(30, 30, 100, 10), "   ▏");
        assert_eq!(bar(0, 0, 0, 4), "▏");
        assert_eq!(bar(0, 10, 10, 0), "");
        assert_eq!(bar(200, 300, 100, 4), "   ▕");
        assert_eq!(bar(100, 100, 100, 4), "   ▕");
        assert_eq!(bar(0, 1, 1_000_000, 4), "▏");
    }

    #[test]
    fn a_large_trace_is_quick() {
        // 2,000 spans: a root, 40 handlers of 49 queries each (some repeating).
        let mut spans = vec![span("root", "", "GET /big", 0, 2_000)];
        for h in 0..40 {
            let id = format!("h{h}");
            spans.push(span(&id, "root", "handler", h * 50, h * 50 + 49));
            for q in 0..49 {
                let mut s = span(
                    &format!("{id}q{q}"),
                    &id,
                    "SELECT",
                    h * 50 + q,
                    h * 50 + q + 1,
                );
                let query = format!("SELECT * FROM t{} WHERE id = {q}", q % 7);
                s.attributes.push(text("db.query.text", &query));
                spans.push(s);
            }
        }
        let view = trace_view(TraceId::from_hex(DEAD).unwrap(), &spans);
        let started = std::time::Instant::now();
        let mut screen = TraceScreen::new(
            view,
            Focus::Repeated("SELECT * FROM t3 WHERE id = ?".to_owned()),
            None,
        );
        let built = started.elapsed();
        let mut buf = Buffer::empty(Rect::new(0, 0, 200, 60));
        let started = std::time::Instant::now();
        for _ in 0..10 {
            screen.handle_key(key(KeyCode::PageDown));
            screen.render(buf.area, &mut buf, &Theme::default());
        }
        let drawn = started.elapsed() / 10;
        eprintln!("2,000 spans: built in {built:?}, drawn in {drawn:?}");
        // A debug build on a shared machine: bounds this generous only catch work quadratic in the spans
        // (a tree walk per row, a pass over the spans per flame bar), not a slower machine.
        assert!(built.as_millis() < 3_000, "{built:?}");
        assert!(drawn.as_millis() < 500, "{drawn:?}");
    }
}
