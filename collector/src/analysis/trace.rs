//! Analyses of the spans of one trace: N+1 detection ([`find_repeats`]), the critical path ([`critical_path`]),
//! each span's self time ([`self_times`]) and a service's entry span ([`entry_span`]).
//!
//! Spans come in arrival order, not sorted. The data is taken as it is: span ids may repeat, parents may be
//! missing (a partial trace) and parent links may even form cycles. Nothing here panics or loops on such data;
//! where a span id repeats, parent lookups use its first occurrence.

use std::cmp::Reverse;
use std::fmt::Write as _;
use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHashSet};

use super::normalize::normalize_query;
use crate::model::{Span, SpanId, SpanKind, Str, Value, attribute};

/// Thresholds of the N+1 detection: two rules, a run being reported when either holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// A statement counts as repeated when it runs at least this many times in one run…
    pub min_repeats: usize,
    /// …and a run is reported when its repeated statements' durations add up to at least this.
    pub min_total_ns: u64,
    /// The rule for fast, local databases, as (repeats, total): many repeats that take little time together.
    /// `None` leaves only the first rule.
    pub many: Option<(usize, u64)>,
}

/// Five repeats taking 50 ms together, the common definition (Sentry's), which finds the loops real clients
/// make against a database over the network (six lookups of 12 ms each); or ten repeats taking 1 ms, for a
/// local SQLite file, where a statement takes 10–50 µs, so the workshop's N+1, about 200 statements a request,
/// adds up to only a few milliseconds on a fast laptop, yet is the same bug that costs seconds on a remote
/// database. A page's handful of similar fast lookups meets neither: fewer than ten, far under 50 ms. The time
/// is the loop's, all its repeated statements together: one statement's share would move with the machine's
/// speed, and with it which statement leads the finding (the fingerprint).
impl Default for Config {
    fn default() -> Config {
        Config {
            min_repeats: 5,
            min_total_ns: 50_000_000,
            many: Some((10, 1_000_000)),
        }
    }
}

impl Config {
    /// The rules, as (repeats, total).
    fn rules(&self) -> impl Iterator<Item = (usize, u64)> {
        std::iter::once((self.min_repeats, self.min_total_ns)).chain(self.many)
    }

    /// Whether `count` calls under one parent taking `total_ns` together may hold a finding (a cheap test
    /// before the trace is read: every call counted, repeated or not).
    pub fn may_find(&self, count: usize, total_ns: u64) -> bool {
        self.rules()
            .any(|(repeats, total)| count >= repeats && total_ns >= total)
    }
}

/// What kind of call repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RepeatKind {
    /// Database client spans (`db.system.name` and a query text).
    Database,
    /// HTTP client spans (kind Client with `http.request.method`).
    Http,
}

/// One statement repeated inside a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepeatedStatement {
    /// The normalised query, or `"{METHOD} {target}"` for HTTP.
    pub statement: String,
    pub repeats: usize,
    /// The durations of its spans, added up.
    pub total_ns: u64,
    /// Its spans, in start order.
    pub span_ids: Vec<SpanId>,
}

/// One N+1 finding in one trace: a run of consecutive sibling spans under one parent that repeats statements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repeat {
    pub kind: RepeatKind,
    /// The service of the repeated spans.
    pub service: Str,
    pub parent_span_id: SpanId,
    /// The entry span of that service above the run (see [`entry_span`]); `None` when the run's parent is
    /// missing from the trace or belongs to another service.
    pub entry_span_id: Option<SpanId>,
    /// `db.system.name` (or the older `db.system`), for [`RepeatKind::Database`].
    pub db_system: Option<Str>,
    /// Most repeats first (ties: most time first, then first seen); only those repeated `min_repeats` times.
    pub statements: Vec<RepeatedStatement>,
    /// The sum of `statements`' `total_ns`.
    pub total_ns: u64,
    /// Where the loop makes its calls: the [`call_site`] of the first span of its most repeated statement.
    pub location: Option<(String, u32)>,
}

/// Lookups built once per call.
struct Index<'a> {
    spans: &'a [Span],
    /// The first occurrence of each span id.
    by_id: FxHashMap<SpanId, usize>,
    /// The spans naming each parent id, in arrival order.
    children: FxHashMap<SpanId, Vec<usize>>,
    /// The keys of `children` in order of first arrival, so results do not depend on hashing.
    parents: Vec<SpanId>,
}

impl<'a> Index<'a> {
    fn new(spans: &'a [Span]) -> Index<'a> {
        let mut children: FxHashMap<SpanId, Vec<usize>> = FxHashMap::default();
        let mut parents = Vec::new();
        for (i, span) in spans.iter().enumerate() {
            if let Some(parent) = span.parent_span_id {
                children
                    .entry(parent)
                    .or_insert_with(|| {
                        parents.push(parent);
                        Vec::new()
                    })
                    .push(i);
            }
        }
        Index {
            spans,
            by_id: ids(spans),
            children,
            parents,
        }
    }

    fn children_of(&self, id: SpanId) -> &[usize] {
        self.children.get(&id).map_or(&[], Vec::as_slice)
    }
}

fn ids(spans: &[Span]) -> FxHashMap<SpanId, usize> {
    let mut by_id = FxHashMap::default();
    for (i, span) in spans.iter().enumerate() {
        by_id.entry(span.span_id).or_insert(i);
    }
    by_id
}

/// The index of the entry span above `span`, or `None` when the walk cannot leave `span` (its parent is missing
/// or of another service). Stops at a span id already passed, so parent cycles end.
fn entry_index(spans: &[Span], by_id: &FxHashMap<SpanId, usize>, span: &Span) -> Option<usize> {
    let service = span.service_name();
    let mut passed = FxHashSet::default();
    passed.insert(span.span_id);
    let mut entry = None;
    let mut current = span;
    while let Some(parent_id) = current.parent_span_id
        && let Some(&parent) = by_id.get(&parent_id)
        && spans[parent].service_name() == service
        && passed.insert(spans[parent].span_id)
    {
        entry = Some(parent);
        current = &spans[parent];
    }
    entry
}

/// The line a span was made at, as `(file, line)`: its `code.file.path` (or the older `code.filepath`) and
/// `code.line.number` (or `code.lineno`; 0 when neither is given). For a database call, the line that ran the
/// statement: an N+1's loop.
pub fn call_site(span: &Span) -> Option<(String, u32)> {
    let text = |key: &str| span.attribute(key).and_then(Value::as_str);
    let file = text("code.file.path").or_else(|| text("code.filepath"))?;
    let line = ["code.line.number", "code.lineno"]
        .iter()
        .find_map(|key| span.attribute(key).and_then(Value::as_i64))
        .and_then(|line| u32::try_from(line).ok())
        .unwrap_or(0);
    Some((file.to_owned(), line))
}

/// The service's entry span: walking up parents from `span` while the parent exists in `spans` and belongs to the
/// same service; the last one reached (`span` itself when its parent is missing or of another service).
pub fn entry_span<'a>(spans: &'a [Span], span: &'a Span) -> &'a Span {
    entry_index(spans, &ids(spans), span).map_or(span, |i| &spans[i])
}

fn str_attr<'s>(span: &'s Span, key: &str) -> Option<&'s Str> {
    match span.attribute(key) {
        Some(Value::Str(s)) => Some(s),
        _ => None,
    }
}

fn db_system(span: &Span) -> Option<&Str> {
    str_attr(span, "db.system.name").or_else(|| str_attr(span, "db.system"))
}

fn service(span: &Span) -> Str {
    match attribute(&span.resource.attributes, "service.name") {
        Some(Value::Str(name)) => name.clone(),
        _ => Arc::from(span.service_name()),
    }
}

/// The kind and statement of a span N+1 detection looks at; `None` for any other span.
fn classify(span: &Span) -> Option<(RepeatKind, String)> {
    if db_system(span).is_some()
        && let Some(text) =
            str_attr(span, "db.query.text").or_else(|| str_attr(span, "db.statement"))
    {
        return Some((RepeatKind::Database, normalize_query(text)));
    }
    if span.kind == SpanKind::Client
        && let Some(method) =
            str_attr(span, "http.request.method").or_else(|| str_attr(span, "http.method"))
    {
        let statement = format!("{} {}", method.to_ascii_uppercase(), http_target(span));
        return Some((RepeatKind::Http, statement));
    }
    None
}

/// `url.template`, else `server.address[:server.port]` and the path (`url.path`, else `url.full`'s) with its
/// id-like segments replaced by `{id}`. Without `server.address`, the host of `url.full` stands in.
fn http_target(span: &Span) -> String {
    if let Some(template) = str_attr(span, "url.template") {
        return template.to_string();
    }
    let (full_host, full_path) = str_attr(span, "url.full").map_or(("", ""), |url| split_url(url));
    let mut target = String::new();
    match str_attr(span, "server.address") {
        Some(address) => {
            target.push_str(address);
            if let Some(port) = span.attribute("server.port").and_then(Value::as_i64) {
                let _ = write!(target, ":{port}");
            }
        }
        None => target.push_str(full_host),
    }
    let path = str_attr(span, "url.path").map_or(full_path, |p| &**p);
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            target.push('/');
        }
        target.push_str(if looks_like_id(segment) {
            "{id}"
        } else {
            segment
        });
    }
    target
}

/// The host (with port, without user info) and the path of a URL.
fn split_url(url: &str) -> (&str, &str) {
    let (host, rest) = match url.find("://") {
        Some(at) => {
            let after = &url[at + 3..];
            let end = after.find(['/', '?', '#']).unwrap_or(after.len());
            let authority = &after[..end];
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            (host, &after[end..])
        }
        None => ("", url),
    };
    let path_end = rest.find(['?', '#']).unwrap_or(rest.len());
    (host, &rest[..path_end])
}

/// Only digits, a UUID, or 8+ hex digits.
fn looks_like_id(segment: &str) -> bool {
    let bytes = segment.as_bytes();
    let digits = !bytes.is_empty() && bytes.iter().all(u8::is_ascii_digit);
    let hex = bytes.len() >= 8 && bytes.iter().all(u8::is_ascii_hexdigit);
    let uuid = bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        });
    digits || hex || uuid
}

/// N+1 findings: for each parent, its children sorted by start (ties: arrival order) are cut into runs of
/// consecutive database spans or consecutive HTTP client spans (any other sibling ends a run); one [`Repeat`] per
/// run whose statements repeated `min_repeats` times or more take `min_total_ns` together. Siblings sharing a
/// span id count once. Findings come most time first (ties: in order of their parent's first child's arrival).
pub fn find_repeats(spans: &[Span], config: &Config) -> Vec<Repeat> {
    let index = Index::new(spans);
    let mut found = Vec::new();
    let mut seen = FxHashSet::default();
    let mut run: Vec<(usize, String)> = Vec::new();
    for &parent in &index.parents {
        let mut siblings = index.children_of(parent).to_vec();
        seen.clear();
        siblings.retain(|&i| seen.insert(spans[i].span_id));
        siblings.sort_by_key(|&i| spans[i].start_ns);
        let mut run_kind = None;
        for &i in &siblings {
            let class = classify(&spans[i]);
            let kind = class.as_ref().map(|(kind, _)| *kind);
            if kind != run_kind {
                if let Some(kind) = run_kind {
                    found.extend(report_run(&index, parent, kind, &mut run, config));
                }
                run_kind = kind;
            }
            if let Some((_, statement)) = class {
                run.push((i, statement));
            }
        }
        if let Some(kind) = run_kind {
            found.extend(report_run(&index, parent, kind, &mut run, config));
        }
    }
    found.sort_by_key(|repeat| Reverse(repeat.total_ns));
    found
}

/// The finding of one run (emptied), if it repeats statements `min_repeats` times taking `min_total_ns` together.
fn report_run(
    index: &Index<'_>,
    parent: SpanId,
    kind: RepeatKind,
    run: &mut Vec<(usize, String)>,
    config: &Config,
) -> Option<Repeat> {
    let spans = index.spans;
    let mut position: FxHashMap<String, usize> = FxHashMap::default();
    // Each statement with its first span.
    let mut statements: Vec<(usize, RepeatedStatement)> = Vec::new();
    for (i, statement) in run.drain(..) {
        let span = &spans[i];
        let at = match position.get(&statement) {
            Some(&at) => at,
            None => {
                position.insert(statement.clone(), statements.len());
                statements.push((
                    i,
                    RepeatedStatement {
                        statement,
                        repeats: 0,
                        total_ns: 0,
                        span_ids: Vec::new(),
                    },
                ));
                statements.len() - 1
            }
        };
        let entry = &mut statements[at].1;
        entry.repeats += 1;
        entry.total_ns = entry.total_ns.saturating_add(span.duration_ns());
        entry.span_ids.push(span.span_id);
    }
    // The first rule that holds: its statements are those repeated often enough for it.
    let (mut statements, total_ns) = config.rules().find_map(|(repeats, total)| {
        let kept: Vec<_> = statements
            .iter()
            .filter(|(_, s)| s.repeats >= repeats)
            .cloned()
            .collect();
        let total_ns = kept
            .iter()
            .fold(0u64, |sum, (_, s)| sum.saturating_add(s.total_ns));
        (!kept.is_empty() && total_ns >= total).then_some((kept, total_ns))
    })?;
    statements.sort_by_key(|(_, s)| (Reverse(s.repeats), Reverse(s.total_ns)));
    let &(first, _) = statements.first()?;
    let span = &spans[first];
    Some(Repeat {
        kind,
        service: service(span),
        parent_span_id: parent,
        entry_span_id: entry_index(spans, &index.by_id, span).map(|i| spans[i].span_id),
        db_system: match kind {
            RepeatKind::Database => db_system(span).cloned(),
            RepeatKind::Http => None,
        },
        total_ns,
        statements: statements.into_iter().map(|(_, s)| s).collect(),
        location: call_site(span),
    })
}

/// A trace's share at least this large makes a span of the critical path one that bounds the trace (marked):
/// below it, a span's time on the path is too little to be what the trace waited on (a fast statement among
/// two hundred, a handler's bookkeeping between calls).
pub const CRITICAL_SHARE: f64 = 0.01;

/// One span of the critical path: its index in the spans, and the time of the trace it holds on the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OnPath {
    pub span: usize,
    /// The part of its time on the path that none of its own path children covers: what the trace waited on
    /// this span for, itself.
    pub held_ns: u64,
}

impl OnPath {
    /// Whether it holds enough of a trace `trace_ns` long to bound it ([`CRITICAL_SHARE`]).
    pub fn bounds(&self, trace_ns: u64) -> bool {
        self.held_ns > 0 && self.held_ns as f64 >= trace_ns as f64 * CRITICAL_SHARE
    }
}

/// The chain of spans the trace waited on, root first, each with the time it holds.
///
/// The root is a span without a parent or whose parent is missing; of several, the one ending last (ties: the
/// earliest start, then the first arrived). When every span has a parent in the trace (a cycle), the same choice
/// is made among all spans. From a span on the path, its children are clipped to the time it has on the path,
/// and walked back from its end with a cursor: the child ending last among those that started before the
/// cursor is what the span waited on up to the cursor (so a child still running, or ending after its parent,
/// counts up to the cursor only, and of parallel children only the one ending last holds time); the cursor moves
/// to its start and the walk goes on, until no child started before the cursor. What the chosen children leave
/// of the span's time is the span's own (`held_ns`): a root that only waits on its calls holds nothing, a span
/// whose children all ended before the ones the path took holds the gaps. Children of zero length hold nothing
/// and are not taken. The result lists each span before its path children, and those in start order
/// (depth-first). A span id already on the path is never taken again, so duplicate ids and cycles end the walk.
pub fn critical_path(spans: &[Span]) -> Vec<OnPath> {
    let index = Index::new(spans);
    let latest = |candidates: &mut dyn Iterator<Item = usize>| {
        candidates.min_by_key(|&i| (Reverse(spans[i].end_ns), spans[i].start_ns, i))
    };
    let mut roots = (0..spans.len()).filter(|&i| {
        spans[i]
            .parent_span_id
            .is_none_or(|parent| !index.by_id.contains_key(&parent))
    });
    let Some(root) = latest(&mut roots).or_else(|| latest(&mut (0..spans.len()))) else {
        return Vec::new();
    };

    let mut path = Vec::new();
    let mut taken = FxHashSet::default();
    taken.insert(spans[root].span_id);
    let root_span = &spans[root];
    // (span, start, end): its time on the path.
    let mut stack = vec![(
        root,
        root_span.start_ns,
        root_span.end_ns.max(root_span.start_ns),
    )];
    let mut children = Vec::new();
    let mut chosen = Vec::new();
    while let Some((node, start, end)) = stack.pop() {
        children.clear();
        children.extend(
            index
                .children_of(spans[node].span_id)
                .iter()
                .filter(|&&c| c != node)
                .filter_map(|&c| {
                    let child = &spans[c];
                    let child_end = child.end_ns.min(end);
                    let child_start = child.start_ns.max(start);
                    (child_start < child_end).then_some((c, child_start, child_end))
                }),
        );
        // Ending last first: with the cursor only moving back, one pass finds, at each step, the child ending
        // last among those started before the cursor (a child passed over started at or after it, for good).
        children.sort_by_key(|&(c, child_start, child_end)| (Reverse(child_end), child_start, c));
        let mut cursor = end;
        let mut held = end - start;
        chosen.clear();
        for &(c, child_start, child_end) in &children {
            if child_start < cursor && taken.insert(spans[c].span_id) {
                let until = child_end.min(cursor);
                chosen.push((c, child_start, until));
                held -= until - child_start;
                cursor = child_start;
            }
        }
        path.push(OnPath {
            span: node,
            held_ns: held,
        });
        // Chosen latest first: pushed in that order, the earliest is popped (and listed) first.
        stack.extend(chosen.iter().copied());
    }
    path
}

/// Each span's own time, aligned with `spans`: its duration minus the union of its children's intervals clipped
/// to it (never negative).
pub fn self_times(spans: &[Span]) -> Vec<u64> {
    let index = Index::new(spans);
    let mut intervals = Vec::new();
    spans
        .iter()
        .enumerate()
        .map(|(i, span)| {
            let (start, end) = (span.start_ns, span.end_ns.max(span.start_ns));
            intervals.clear();
            intervals.extend(
                index
                    .children_of(span.span_id)
                    .iter()
                    .filter(|&&c| c != i)
                    .map(|&c| (spans[c].start_ns.max(start), spans[c].end_ns.min(end)))
                    .filter(|(lo, hi)| lo < hi),
            );
            intervals.sort_unstable();
            let mut covered = 0;
            let mut reach = start;
            for &(lo, hi) in &intervals {
                if hi > reach {
                    covered += hi - lo.max(reach);
                    reach = hi;
                }
            }
            (end - start).saturating_sub(covered)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{self, Build as _};

    const US: u64 = 1_000;
    const MS: u64 = 1_000_000;

    const LIST: &str = "SELECT id, name, code FROM discount ORDER BY id";
    const DISCOUNT_TYPE: &str =
        "SELECT id, name, discount_query, influencer_id FROM discount_type WHERE id = ?";
    const INFLUENCER: &str = "SELECT id, name FROM influencer WHERE id = ?";

    /// An internal span of the `discounts` service.
    fn span(id: u64, parent: Option<u64>, start_ns: u64, end_ns: u64) -> Span {
        let span = testing::span(7, id)
            .name("work")
            .service("discounts")
            .at(start_ns, end_ns);
        match parent {
            Some(parent) => span.parent(parent),
            None => span,
        }
    }

    fn query(id: u64, parent: u64, start: u64, duration: u64, sql: &str) -> Span {
        span(id, Some(parent), start, start + duration)
            .kind(SpanKind::Client)
            .text("db.system.name", "postgresql")
            .text("db.query.text", sql)
    }

    fn get(id: u64, parent: u64, start: u64, duration: u64, path: &str) -> Span {
        span(id, Some(parent), start, start + duration)
            .kind(SpanKind::Client)
            .text("http.request.method", "GET")
            .text("server.address", "catalog")
            .attr("server.port", Value::Int(8080))
            .text("url.path", path)
    }

    /// Back-to-back queries under `parent`, ids from `first_id`, starting at 1 ms.
    fn queries(first_id: u64, parent: u64, duration: u64, sqls: &[String]) -> Vec<Span> {
        (0..)
            .zip(sqls)
            .map(|(n, sql)| query(first_id + n, parent, MS + n * duration, duration, sql))
            .collect()
    }

    fn root() -> Span {
        span(1, None, 0, 10_000 * MS).kind(SpanKind::Server)
    }

    /// The discounts handler: the list query, then a lazy-loading loop over 103 discount types and 101
    /// influencers, interleaved; 1 ms a query.
    fn workshop(literal_ids: bool) -> Vec<Span> {
        let mut sqls = vec![LIST.to_string()];
        for n in 0..103 {
            sqls.push(if literal_ids {
                format!("SELECT id, name, discount_query, influencer_id FROM discount_type WHERE id = {n}")
            } else {
                "SELECT id, name, discount_query, influencer_id FROM discount_type WHERE id = $1".into()
            });
            if n < 101 {
                sqls.push(if literal_ids {
                    format!("SELECT id, name FROM influencer WHERE id = 'inf-{n}'")
                } else {
                    "SELECT id, name FROM influencer WHERE id = $1".into()
                });
            }
        }
        let mut spans = vec![root()];
        spans.extend(queries(10, 1, MS, &sqls));
        spans
    }

    fn repeated(sql: &str, times: usize) -> Vec<String> {
        vec![sql.to_string(); times]
    }

    type Expected = Vec<(RepeatKind, Vec<(&'static str, usize)>)>;

    fn summary(repeats: &[Repeat]) -> Vec<(RepeatKind, Vec<(String, usize)>)> {
        repeats
            .iter()
            .map(|r| {
                let statements = r
                    .statements
                    .iter()
                    .map(|s| (s.statement.clone(), s.repeats));
                (r.kind, statements.collect())
            })
            .collect()
    }

    #[test]
    fn n_plus_one_cases() {
        // The cases are written against thresholds of their own, not the defaults, which may move.
        let default = Config {
            min_repeats: 5,
            min_total_ns: 50 * MS,
            many: None,
        };
        let mut cases: Vec<(&str, Vec<Span>, Config, Expected)> = vec![
            (
                "workshop loop",
                workshop(false),
                default,
                vec![(
                    RepeatKind::Database,
                    vec![(DISCOUNT_TYPE, 103), (INFLUENCER, 101)],
                )],
            ),
            (
                "workshop loop, literal ids",
                workshop(true),
                default,
                vec![(
                    RepeatKind::Database,
                    vec![(DISCOUNT_TYPE, 103), (INFLUENCER, 101)],
                )],
            ),
            (
                "only the statement repeated often enough",
                workshop(false),
                Config {
                    min_repeats: 102,
                    ..default
                },
                vec![(RepeatKind::Database, vec![(DISCOUNT_TYPE, 103)])],
            ),
            (
                "the loop's time counts, not one statement's (103 ms + 101 ms)",
                workshop(false),
                Config {
                    min_total_ns: 204 * MS,
                    ..default
                },
                vec![(
                    RepeatKind::Database,
                    vec![(DISCOUNT_TYPE, 103), (INFLUENCER, 101)],
                )],
            ),
            (
                "total time threshold",
                workshop(false),
                Config {
                    min_total_ns: 205 * MS,
                    ..default
                },
                vec![],
            ),
            (
                "two statements of a loop, each under the time threshold, together over it",
                queries(
                    10,
                    1,
                    6 * MS,
                    &[INFLUENCER, DISCOUNT_TYPE]
                        .repeat(5)
                        .into_iter()
                        .map(str::to_owned)
                        .collect::<Vec<_>>(),
                ),
                default,
                vec![(
                    RepeatKind::Database,
                    vec![(INFLUENCER, 5), (DISCOUNT_TYPE, 5)],
                )],
            ),
            (
                "the time of statements repeated too few times does not count",
                queries(
                    10,
                    1,
                    9 * MS,
                    &[repeated(INFLUENCER, 5), repeated(DISCOUNT_TYPE, 4)].concat(),
                ),
                default,
                vec![],
            ),
            (
                "4 repeats",
                queries(10, 1, 20 * MS, &repeated(INFLUENCER, 4)),
                default,
                vec![],
            ),
            (
                "4 repeats with min_repeats 4",
                queries(10, 1, 20 * MS, &repeated(INFLUENCER, 4)),
                Config {
                    min_repeats: 4,
                    ..default
                },
                vec![(RepeatKind::Database, vec![(INFLUENCER, 4)])],
            ),
            (
                "10 repeats of 1 µs",
                queries(10, 1, US, &repeated(INFLUENCER, 10)),
                default,
                vec![],
            ),
            (
                "10 repeats of 1 µs, no time threshold",
                queries(10, 1, US, &repeated(INFLUENCER, 10)),
                Config {
                    min_total_ns: 0,
                    ..default
                },
                vec![(RepeatKind::Database, vec![(INFLUENCER, 10)])],
            ),
            (
                "exactly at both thresholds",
                queries(10, 1, 10 * MS, &repeated(INFLUENCER, 5)),
                default,
                vec![(RepeatKind::Database, vec![(INFLUENCER, 5)])],
            ),
            (
                "different queries",
                queries(
                    10,
                    1,
                    20 * MS,
                    &["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]
                        .map(|table| format!("SELECT id FROM {table} WHERE id = $1")),
                ),
                default,
                vec![],
            ),
            (
                "HTTP client loop",
                (17..27)
                    .map(|n| get(n, 1, n * 20 * MS, 10 * MS, &format!("/products/{n}")))
                    .collect(),
                default,
                vec![(
                    RepeatKind::Http,
                    vec![("GET catalog:8080/products/{id}", 10)],
                )],
            ),
        ];
        // A template render after every 3 queries: runs of 3.
        let mut interrupted = Vec::new();
        for n in 0..30 {
            let start = n * 20 * MS;
            interrupted.push(query(100 + n, 1, start, 10 * MS, INFLUENCER));
            if n % 3 == 2 {
                interrupted.push(span(200 + n, Some(1), start + 10 * MS, start + 11 * MS));
            }
        }
        cases.push((
            "non-DB sibling every 3 queries",
            interrupted,
            default,
            vec![],
        ));
        // 3 and 3 under two parents.
        let mut split = vec![
            span(2, Some(1), 0, 100 * MS),
            span(3, Some(1), 100 * MS, 200 * MS),
        ];
        split.extend(queries(10, 2, 20 * MS, &repeated(INFLUENCER, 3)));
        split.extend(queries(20, 3, 20 * MS, &repeated(INFLUENCER, 3)));
        cases.push(("3 and 3 under two parents", split.clone(), default, vec![]));
        cases.push((
            "3 and 3 under two parents, min_repeats 3",
            split,
            Config {
                min_repeats: 3,
                ..default
            },
            vec![
                (RepeatKind::Database, vec![(INFLUENCER, 3)]),
                (RepeatKind::Database, vec![(INFLUENCER, 3)]),
            ],
        ));
        // Database then HTTP siblings: two runs, two findings; the HTTP one takes more time.
        let mut mixed = queries(10, 1, 10 * MS, &repeated(INFLUENCER, 6));
        mixed.extend((0..6).map(|n| get(30 + n, 1, (100 + 20 * n) * MS, 20 * MS, "/ads/0b7f3a9c")));
        cases.push((
            "a database run then an HTTP run",
            mixed,
            default,
            vec![
                (RepeatKind::Http, vec![("GET catalog:8080/ads/{id}", 6)]),
                (RepeatKind::Database, vec![(INFLUENCER, 6)]),
            ],
        ));
        // The same loop reported the same whatever the arrival order.
        let mut shuffled = workshop(false);
        shuffled.reverse();
        shuffled.swap(3, 150);
        cases.push((
            "workshop loop in reverse arrival order",
            shuffled,
            default,
            vec![(
                RepeatKind::Database,
                vec![(DISCOUNT_TYPE, 103), (INFLUENCER, 101)],
            )],
        ));

        for (name, spans, config, expected) in cases {
            let expected: Vec<(RepeatKind, Vec<(String, usize)>)> = expected
                .into_iter()
                .map(|(kind, s)| {
                    (
                        kind,
                        s.into_iter().map(|(q, n)| (q.to_string(), n)).collect(),
                    )
                })
                .collect();
            assert_eq!(summary(&find_repeats(&spans, &config)), expected, "{name}");
        }
    }

    /// The default rules, case by case: real clients' loops over the network and the shop's over SQLite are
    /// found, and their near misses (and a page's handful of fast lookups) are not.
    #[test]
    fn the_default_rules_find_slow_loops_and_fast_local_ones_and_not_their_near_misses() {
        let sqlite_loop = |duration| {
            let mut sqls = Vec::new();
            for _ in 0..101 {
                sqls.extend([DISCOUNT_TYPE.to_owned(), INFLUENCER.to_owned()]);
            }
            sqls.extend(repeated(DISCOUNT_TYPE, 2));
            queries(10, 1, duration, &sqls)
        };
        let cases: Vec<(&str, Vec<Span>, Option<usize>)> = vec![
            (
                "Python OpenTelemetry: 6 lookups of 12 ms (72 ms)",
                queries(10, 1, 12 * MS, &repeated(INFLUENCER, 6)),
                Some(6),
            ),
            (
                "5 lookups of 10 ms: exactly the rule",
                queries(10, 1, 10 * MS, &repeated(INFLUENCER, 5)),
                Some(5),
            ),
            (
                "6 lookups of 8 ms (48 ms): too little time",
                queries(10, 1, 8 * MS, &repeated(INFLUENCER, 6)),
                None,
            ),
            (
                "4 lookups of 30 ms: too few",
                queries(10, 1, 30 * MS, &repeated(INFLUENCER, 4)),
                None,
            ),
            (
                "the shop over SQLite: 103 + 101 statements of 20 µs (4 ms)",
                sqlite_loop(20 * US),
                Some(103),
            ),
            (
                "the shop's loop on a very fast machine: 204 statements of 4 µs (0.8 ms)",
                sqlite_loop(4 * US),
                None,
            ),
            (
                "10 local lookups of 100 µs (1 ms): exactly the second rule",
                queries(10, 1, 100 * US, &repeated(INFLUENCER, 10)),
                Some(10),
            ),
            (
                "9 local lookups of 1 ms: a page's handful",
                queries(10, 1, MS, &repeated(INFLUENCER, 9)),
                None,
            ),
            (
                "10 local lookups of 50 µs (0.5 ms)",
                queries(10, 1, 50 * US, &repeated(INFLUENCER, 10)),
                None,
            ),
        ];
        for (name, spans, expected) in cases {
            let found = find_repeats(&spans, &Config::default());
            let most = found.first().map(|r| r.statements[0].repeats);
            assert_eq!(most, expected, "{name}");
        }
    }

    #[test]
    fn workshop_finding_in_full() {
        let found = find_repeats(&workshop(false), &Config::default());
        assert_eq!(found.len(), 1);
        let repeat = &found[0];
        assert_eq!(&*repeat.service, "discounts");
        assert_eq!(repeat.parent_span_id, SpanId::from_u64(1));
        assert_eq!(repeat.entry_span_id, Some(SpanId::from_u64(1)));
        assert_eq!(repeat.db_system.as_deref(), Some("postgresql"));
        assert_eq!(repeat.total_ns, 204 * MS);
        let discount_type = &repeat.statements[0];
        assert_eq!(discount_type.total_ns, 103 * MS);
        assert_eq!(discount_type.span_ids.len(), 103);
        // After the list query (id 10), the loop alternates discount type, influencer.
        assert_eq!(
            discount_type.span_ids[..2],
            [SpanId::from_u64(11), SpanId::from_u64(13)]
        );
        assert_eq!(repeat.statements[1].span_ids[0], SpanId::from_u64(12));
    }

    #[test]
    fn older_attributes_entry_span_and_duplicates() {
        // storefront server 1 → client 2 → discounts server 3 → internal 4 → loop of `db.statement` spans, each
        // span sent twice.
        let mut spans = vec![
            span(1, None, 0, 500 * MS)
                .service("storefront")
                .kind(SpanKind::Server),
            span(2, Some(1), MS, 400 * MS)
                .service("storefront")
                .kind(SpanKind::Client),
            span(3, Some(2), 2 * MS, 390 * MS).kind(SpanKind::Server),
            span(4, Some(3), 3 * MS, 380 * MS),
        ];
        for n in 0..6 {
            let start = 10 * MS + n * 20 * MS;
            let old = span(10 + n, Some(4), start, start + 15 * MS)
                .kind(SpanKind::Client)
                .text("db.system", "sqlite")
                .text(
                    "db.statement",
                    &format!("SELECT id, name FROM influencer WHERE id = {n}"),
                );
            spans.push(old.clone());
            spans.push(old);
        }
        let five = Config {
            min_repeats: 5,
            ..Config::default()
        };
        let found = find_repeats(&spans, &five);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].statements[0].statement, INFLUENCER);
        assert_eq!(
            found[0].statements[0].repeats, 6,
            "a span sent twice counts once"
        );
        assert_eq!(found[0].db_system.as_deref(), Some("sqlite"));
        assert_eq!(found[0].parent_span_id, SpanId::from_u64(4));
        assert_eq!(found[0].entry_span_id, Some(SpanId::from_u64(3)));

        // A loop whose parent is missing has no entry span.
        let orphans = queries(10, 99, 20 * MS, &repeated(INFLUENCER, 5));
        let found = find_repeats(&orphans, &five);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].parent_span_id, SpanId::from_u64(99));
        assert_eq!(found[0].entry_span_id, None);
    }

    #[test]
    fn http_targets() {
        let client = |id| {
            span(id, Some(1), 0, MS)
                .kind(SpanKind::Client)
                .text("http.request.method", "get")
        };
        for (span, expected) in [
            (
                get(2, 1, 0, MS, "/products/17/reviews"),
                Some("GET catalog:8080/products/{id}/reviews"),
            ),
            (
                get(
                    2,
                    1,
                    0,
                    MS,
                    "/carts/123e4567-e89b-12d3-a456-426614174000/items/0badcafe",
                ),
                Some("GET catalog:8080/carts/{id}/items/{id}"),
            ),
            (
                get(2, 1, 0, MS, "/t/cafe/v2/abc1234"),
                Some("GET catalog:8080/t/cafe/v2/abc1234"),
            ),
            (
                client(3).text("url.template", "/products/{slug}"),
                Some("GET /products/{slug}"),
            ),
            (
                client(4).text(
                    "url.full",
                    "https://user:secret@ads.example:8443/ads/42?page=2#top",
                ),
                Some("GET ads.example:8443/ads/{id}"),
            ),
            (
                client(5)
                    .text("server.address", "ads")
                    .text("url.full", "http://10.0.0.1/ads/42"),
                Some("GET ads/ads/{id}"),
            ),
            (client(6).kind(SpanKind::Internal), None),
            (span(7, None, 0, MS).text("db.system.name", "redis"), None),
        ] {
            let got = classify(&span).map(|(_, statement)| statement);
            assert_eq!(got.as_deref(), expected);
        }
    }

    /// The critical path of `spans` as (span id, time held), root first.
    fn path_of(spans: &[Span]) -> Vec<(u64, u64)> {
        critical_path(spans)
            .iter()
            .map(|on| (span_number(&spans[on.span]), on.held_ns))
            .collect()
    }

    fn span_number(span: &Span) -> u64 {
        span.span_id.to_u64()
    }

    /// The spans marked as bounding the trace (holding at least [`CRITICAL_SHARE`] of it), in path order.
    fn marked(spans: &[Span]) -> Vec<u64> {
        let start = spans.iter().map(|s| s.start_ns).min().unwrap_or(0);
        let end = spans.iter().map(|s| s.end_ns).max().unwrap_or(0);
        critical_path(spans)
            .iter()
            .filter(|on| on.bounds(end - start))
            .map(|on| span_number(&spans[on.span]))
            .collect()
    }

    /// The workshop's home page, broken: the storefront's handler asks the discounts service (2.5 s of sleep,
    /// then its 205-statement loop) and then the ads service (2.5 s of sleep), in turn, around a taxon query
    /// and the layout's rendering.
    fn home_page() -> Vec<Span> {
        let mut spans = vec![
            span(1, None, 0, 5_110 * MS),
            span(2, Some(1), MS, 2 * MS),
            span(3, Some(1), 3 * MS, 2_603 * MS),
            span(4, Some(3), 4 * MS, 2_602 * MS),
            span(5, Some(1), 2_604 * MS, 5_105 * MS),
            span(6, Some(5), 2_605 * MS, 5_104 * MS),
            span(7, Some(6), 5_102 * MS, 5_103 * MS),
            span(8, Some(1), 5_106 * MS, 5_108 * MS),
        ];
        // The loop after the sleep: 206 statements of 250 µs, back to back.
        spans.extend((0..206).map(|n| {
            span(
                100 + n,
                Some(4),
                2_540 * MS + n * 250 * US,
                2_540 * MS + (n + 1) * 250 * US,
            )
        }));
        spans
    }

    #[test]
    fn critical_paths() {
        // (case, spans, the path as (span, time held), the spans marked as bounding the trace)
        type Case = (&'static str, Vec<Span>, Vec<(u64, u64)>, Vec<u64>);
        let cases: Vec<Case> = vec![
            ("no spans", vec![], vec![], vec![]),
            (
                "sequential chain, arrival order mixed: each holds its own time, the root none",
                vec![
                    span(3, Some(1), 30, 60),
                    span(1, None, 0, 100),
                    span(4, Some(1), 60, 100),
                    span(2, Some(1), 0, 30),
                    span(5, Some(3), 35, 55),
                ],
                vec![(1, 0), (2, 30), (3, 10), (5, 20), (4, 40)],
                vec![2, 3, 5, 4],
            ),
            (
                "a root holding the gaps between its calls",
                vec![
                    span(1, None, 0, 100),
                    span(2, Some(1), 10, 30),
                    span(3, Some(1), 50, 90),
                ],
                vec![(1, 40), (2, 20), (3, 40)],
                vec![1, 2, 3],
            ),
            (
                "parallel siblings: only the one ending last bounds the trace",
                vec![
                    span(1, None, 0, 100),
                    span(2, Some(1), 0, 100),
                    span(3, Some(1), 0, 90),
                    span(4, Some(1), 5, 60),
                ],
                vec![(1, 0), (2, 100)],
                vec![2],
            ),
            (
                "parallel siblings starting apart: the earlier one holds until the later started",
                vec![
                    span(1, None, 0, 100),
                    span(2, Some(1), 20, 100),
                    span(3, Some(1), 0, 90),
                ],
                vec![(1, 0), (3, 20), (2, 80)],
                vec![3, 2],
            ),
            (
                "fan-out with one slow child: the fast ones run beside it and hold nothing",
                {
                    let mut spans = vec![
                        span(1, None, 0, 2_600 * MS),
                        span(2, Some(1), 50 * MS, 2_550 * MS),
                        span(3, Some(2), 100 * MS, 2_500 * MS),
                    ];
                    spans.extend(
                        (0..5).map(|n| {
                            span(10 + n, Some(1), (200 + n * 10) * MS, (201 + n * 10) * MS)
                        }),
                    );
                    spans
                },
                vec![(1, 100 * MS), (2, 100 * MS), (3, 2_400 * MS)],
                vec![1, 2, 3],
            ),
            (
                "a child ending after its parent holds up to the parent's end, the one before it until then",
                vec![
                    span(1, None, 0, 100),
                    span(2, Some(1), 0, 60),
                    span(3, Some(1), 50, 120),
                ],
                vec![(1, 0), (2, 50), (3, 50)],
                vec![2, 3],
            ),
            (
                "zero-length children hold nothing",
                vec![span(1, None, 0, 100), span(2, Some(1), 50, 50)],
                vec![(1, 100)],
                vec![1],
            ),
            (
                "missing parent: the orphan ending last is the root",
                vec![
                    span(4, Some(98), 0, 50),
                    span(2, Some(99), 0, 100),
                    span(3, Some(2), 10, 90),
                ],
                vec![(2, 20), (3, 80)],
                vec![2, 3],
            ),
            (
                "several roots: the one ending last, then the earliest",
                vec![
                    span(1, None, 10, 100),
                    span(2, None, 0, 100),
                    span(3, None, 0, 90),
                ],
                vec![(2, 100)],
                vec![2],
            ),
            (
                "parent cycle",
                vec![span(1, Some(2), 0, 100), span(2, Some(1), 10, 90)],
                vec![(1, 20), (2, 80)],
                vec![1, 2],
            ),
            (
                "own parent",
                vec![span(1, Some(1), 0, 100)],
                vec![(1, 100)],
                vec![1],
            ),
            (
                "cycle through a duplicate id",
                vec![
                    span(1, None, 0, 100),
                    span(2, Some(1), 10, 90),
                    span(3, Some(2), 20, 80),
                    span(2, Some(3), 30, 70),
                ],
                vec![(1, 20), (2, 20), (3, 60)],
                vec![1, 2, 3],
            ),
        ];
        for (name, spans, path, bounding) in cases {
            assert_eq!(path_of(&spans), path, "{name}");
            assert_eq!(marked(&spans), bounding, "{name}");
            // What the path holds adds up to its root's time.
            let held: u64 = path.iter().map(|(_, held)| held).sum();
            let root = critical_path(&spans)
                .first()
                .map(|on| spans[on.span].duration_ns());
            assert_eq!(held, root.unwrap_or(0), "{name}");
        }
    }

    #[test]
    fn the_home_page_waits_on_discounts_then_ads() {
        let spans = home_page();
        // The two services' handlers hold the trace: each its sleep (the loop's statements, 250 µs each, hold
        // their own time but far from a share that bounds the trace); the client spans and the root only wait.
        assert_eq!(marked(&spans), vec![4, 6]);
        let path = path_of(&spans);
        let held = |id: u64| path.iter().find(|(s, _)| *s == id).map(|(_, h)| *h);
        assert_eq!(held(4), Some(2_598 * MS - 206 * 250 * US));
        assert_eq!(held(6), Some(2_498 * MS));
        assert_eq!(held(100), Some(250 * US));
        assert_eq!(held(305), Some(250 * US));
        assert_eq!(held(1), Some(6 * MS));
        assert_eq!(path.len(), 8 + 206);
    }

    #[test]
    fn critical_path_of_a_deep_chain_does_not_recurse() {
        let spans: Vec<Span> = (0..100_000u64)
            .map(|n| span(n + 1, (n > 0).then_some(n), n, 1_000_000 - n))
            .collect();
        assert_eq!(critical_path(&spans).len(), 100_000);
    }

    #[test]
    fn self_times_subtract_the_union_of_children() {
        let cases: Vec<(&str, Vec<Span>, Vec<u64>)> = vec![
            (
                "overlapping children, one sticking out",
                vec![
                    span(1, None, 0, 100),
                    span(2, Some(1), 10, 40),
                    span(3, Some(1), 30, 60),
                    span(4, Some(1), 90, 130),
                    span(5, Some(4), 95, 105),
                ],
                vec![40, 30, 30, 30, 10],
            ),
            (
                "a child wider than its parent",
                vec![span(1, None, 10, 20), span(2, Some(1), 0, 30)],
                vec![0, 30],
            ),
            (
                "children outside, zero-length and inverted",
                vec![
                    span(1, None, 10, 20),
                    span(2, Some(1), 0, 5),
                    span(3, Some(1), 15, 15),
                    span(4, Some(1), 18, 12),
                ],
                vec![10, 5, 0, 0],
            ),
            (
                "own parent and a cycle",
                vec![
                    span(1, Some(1), 0, 10),
                    span(2, Some(3), 0, 10),
                    span(3, Some(2), 5, 20),
                ],
                vec![10, 5, 10],
            ),
        ];
        for (name, spans, expected) in cases {
            assert_eq!(self_times(&spans), expected, "{name}");
        }
    }

    #[test]
    fn entry_spans() {
        let spans = vec![
            span(1, None, 0, 100)
                .service("storefront")
                .kind(SpanKind::Server),
            span(2, Some(1), 10, 90)
                .service("storefront")
                .kind(SpanKind::Client),
            span(3, Some(2), 20, 80).kind(SpanKind::Server),
            span(4, Some(3), 30, 70),
            query(5, 4, 40, 10, INFLUENCER),
            span(6, Some(99), 0, 10),
            span(7, Some(8), 0, 10),
            span(8, Some(7), 0, 10),
        ];
        for (from, expected) in [
            (5, 3),
            (4, 3),
            (3, 3),
            (2, 1),
            (1, 1),
            (6, 6),
            (7, 8),
            (8, 7),
        ] {
            let from = spans
                .iter()
                .find(|s| s.span_id == SpanId::from_u64(from))
                .unwrap();
            assert_eq!(entry_span(&spans, from).span_id, SpanId::from_u64(expected));
        }
    }
}
