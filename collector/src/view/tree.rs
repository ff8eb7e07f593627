//! A trace's spans as a tree: each span's parent (the first span sent with an id is the one its children
//! hang from), loops cut so every span reaches a root, children in start order, and depths.

use rustc_hash::FxHashMap;

use crate::model::{Span, SpanId};

pub(super) struct Tree {
    /// Each span's parent, by index; `None` for roots.
    pub parent: Vec<Option<usize>>,
    /// Each span's children in start order.
    pub children: Vec<Vec<usize>>,
    /// The roots in start order.
    pub roots: Vec<usize>,
    /// Steps from its root.
    pub depth: Vec<usize>,
}

impl Tree {
    pub fn of(spans: &[Span]) -> Tree {
        let n = spans.len();
        let mut first: FxHashMap<SpanId, usize> = FxHashMap::default();
        first.reserve(n);
        for (i, span) in spans.iter().enumerate() {
            first.entry(span.span_id).or_insert(i);
        }
        let mut parent: Vec<Option<usize>> = spans
            .iter()
            .enumerate()
            .map(|(i, span)| {
                span.parent_span_id
                    .and_then(|p| first.get(&p).copied())
                    .filter(|&p| p != i)
            })
            .collect();
        // 0: not seen, 1: on the walk being made, 2: known to reach a root.
        let mut state = vec![0_u8; n];
        let mut walk = Vec::new();
        for start in 0..n {
            let mut at = start;
            walk.clear();
            while state[at] == 0 {
                state[at] = 1;
                walk.push(at);
                match parent[at] {
                    Some(p) => at = p,
                    None => break,
                }
            }
            if state[at] == 1 && parent[at].is_some() {
                // Back at a span of this walk: a loop. It becomes a root.
                parent[at] = None;
            }
            for &i in &walk {
                state[i] = 2;
            }
        }
        let by_start =
            |a: &usize, b: &usize| (spans[*a].start_ns, *a).cmp(&(spans[*b].start_ns, *b));
        let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut roots = Vec::new();
        for (i, p) in parent.iter().enumerate() {
            match p {
                Some(p) => children[*p].push(i),
                None => roots.push(i),
            }
        }
        roots.sort_by(by_start);
        for list in &mut children {
            list.sort_by(by_start);
        }
        let mut depth = vec![0; n];
        let mut stack: Vec<usize> = roots.clone();
        while let Some(i) = stack.pop() {
            for &c in &children[i] {
                depth[c] = depth[i] + 1;
                stack.push(c);
            }
        }
        Tree {
            parent,
            children,
            roots,
            depth,
        }
    }
}
