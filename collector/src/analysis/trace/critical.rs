//! The critical path of a trace, with the time each span on it holds ([`critical_path`]), and each span's self
//! time ([`self_times`]).

use std::cmp::Reverse;

use rustc_hash::FxHashSet;

use super::Index;
use crate::model::Span;

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
    use super::super::test_spans::{MS, US, span};
    use super::*;

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
}
