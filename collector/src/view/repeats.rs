//! Repeated sibling calls: among the children of one span (or the roots), in start order, runs of one class
//! of call (database statements of any kind, or one span name) are cut, and in a run every statement repeated
//! [`REPEAT_MIN`] times or more is a group. An N+1 loop is such a group.

use protocol::{CodeLocation, RepeatGroup};
use rustc_hash::FxHashMap;

use super::tree::Tree;
use crate::analysis::normalize::normalize_query;
use crate::analysis::semconv;
use crate::analysis::trace as trace_analysis;
use crate::model::Span;

/// Siblings repeating one call at least this many times form a group.
pub const REPEAT_MIN: usize = 3;

/// What a run of siblings shares: the class of call.
#[derive(PartialEq, Eq)]
enum Class<'a> {
    Database,
    Name(&'a str),
}

fn class(span: &Span) -> Class<'_> {
    if semconv::query_text(span).is_some() {
        Class::Database
    } else {
        Class::Name(&span.name)
    }
}

/// The groups of a trace: the roots' first, then each parent's in arrival order.
pub(super) fn groups(spans: &[Span], tree: &Tree) -> Vec<RepeatGroup> {
    let mut groups = Vec::new();
    siblings(spans, &tree.roots, None, &mut groups);
    for (p, kids) in tree.children.iter().enumerate() {
        siblings(spans, kids, Some(p), &mut groups);
    }
    groups
}

fn siblings(spans: &[Span], kids: &[usize], parent: Option<usize>, out: &mut Vec<RepeatGroup>) {
    let mut i = 0;
    while i < kids.len() {
        let run_class = class(&spans[kids[i]]);
        let mut j = i + 1;
        while j < kids.len() && class(&spans[kids[j]]) == run_class {
            j += 1;
        }
        // The run's calls in order of first appearance.
        let mut calls: Vec<((&str, &str), Vec<usize>)> = Vec::new();
        let mut index: FxHashMap<(&str, &str), usize> = FxHashMap::default();
        for &k in &kids[i..j] {
            let span = &spans[k];
            let key = (&*span.name, semconv::query_text(span).unwrap_or(""));
            let at = *index.entry(key).or_insert_with(|| {
                calls.push((key, Vec::new()));
                calls.len() - 1
            });
            calls[at].1.push(k);
        }
        for ((name, text), members) in calls {
            if members.len() < REPEAT_MIN {
                continue;
            }
            out.push(RepeatGroup {
                name: name.to_owned(),
                statement: text.to_owned(),
                query: if text.is_empty() {
                    String::new()
                } else {
                    normalize_query(text)
                },
                parent,
                total_ms: members
                    .iter()
                    .map(|&m| spans[m].duration_ns() as f64 / 1e6)
                    .sum(),
                location: trace_analysis::call_site(&spans[members[0]])
                    .map(|(file, line)| CodeLocation { file, line }),
                members,
            });
        }
        i = j;
    }
}
