//! A batch split by trace, outside the store's lock: what the indexes need of each trace's spans ([`Group`]),
//! and the spans encoded, a chunk a trace, the batch's chunks sharing one table.

use std::collections::HashMap;
use std::sync::Arc;

use crate::compact::{Chunk, Encoded, Table, TableBuilder};
use crate::model::{Resource, Span, SpanRead, Str, TraceId, attribute_str};
use crate::semconv;

use super::Store;

/// What [`Store::insert`] notes, outside the lock, about a batch's spans of one trace.
pub(super) struct Group {
    pub(super) id: TraceId,
    pub(super) start_ns: u64,
    pub(super) end_ns: u64,
    /// Distinct, in order of first appearance.
    pub(super) services: Vec<Str>,
    pub(super) root: Option<(Str, Str)>,
    pub(super) errors: u32,
    pub(super) entries: Vec<(Str, Str)>,
    /// The chunk's weight with its share of the batch's table.
    pub(super) weight: u64,
}

impl Store {
    /// Splits a batch by trace, in order of each trace's first span in the batch, and notes each group's time
    /// span and services: each group with the indexes of its spans in `spans`, in order.
    pub(super) fn groups<S: SpanRead>(&self, spans: &[S]) -> Vec<(Group, Vec<u32>)> {
        let mut groups: Vec<(Group, Vec<u32>)> = Vec::new();
        let mut position: HashMap<TraceId, usize> = HashMap::new();
        let mut names = self.shared.names.lock();
        // Batches usually share one resource per service; look each resource's service up once.
        let mut last_resource: Option<(Arc<Resource>, Str)> = None;
        for (index, span) in spans.iter().enumerate() {
            let service = match &last_resource {
                Some((resource, service)) if Arc::ptr_eq(resource, span.resource()) => {
                    service.clone()
                }
                _ => {
                    let service = self.service_of(span);
                    last_resource = Some((span.resource().clone(), service.clone()));
                    service
                }
            };
            let at = *position.entry(span.trace_id()).or_insert_with(|| {
                let group = Group {
                    id: span.trace_id(),
                    start_ns: u64::MAX,
                    end_ns: 0,
                    services: Vec::new(),
                    root: None,
                    errors: 0,
                    entries: Vec::new(),
                    weight: 0,
                };
                groups.push((group, Vec::new()));
                groups.len() - 1
            });
            let (group, group_spans) = &mut groups[at];
            group.start_ns = group.start_ns.min(span.start_ns());
            group.end_ns = group.end_ns.max(span.end_ns());
            if semconv::is_error(span) {
                group.errors += 1;
            }
            if span.parent_span_id().is_none() && group.root.is_none() {
                group.root = Some((service.clone(), span.name().clone()));
            }
            if semconv::is_entry(span) {
                let endpoint = names.endpoint(span);
                if !group
                    .entries
                    .iter()
                    .any(|(s, e)| Arc::ptr_eq(s, &service) && Arc::ptr_eq(e, &endpoint))
                {
                    group.entries.push((service.clone(), endpoint));
                }
            }
            if !group.services.iter().any(|known| **known == *service) {
                group.services.push(service);
            }
            group_spans.push(index as u32);
        }
        groups
    }

    /// Splits a batch by trace ([`Store::groups`]) and encodes each group's spans as one compact chunk; the
    /// chunks of the batch share one table of strings, resources and scopes.
    pub(super) fn group(&self, spans: &[Span]) -> Vec<(Group, Chunk)> {
        let mut table = TableBuilder::new();
        let (groups, encoded): (Vec<Group>, Vec<Encoded>) = self
            .groups(spans)
            .into_iter()
            .map(|(group, indexes)| {
                let group_spans: Vec<&Span> = indexes.iter().map(|&i| &spans[i as usize]).collect();
                (group, table.encode(&group_spans))
            })
            .unzip();
        let table_weight = table.weight();
        let table = table.finish(&self.shared.pairs);
        chunks(groups, encoded, &table, table_weight, spans.len())
    }

    /// The span's service name as a shared string (the resource's own, so no copy is made).
    fn service_of(&self, span: &impl SpanRead) -> Str {
        match attribute_str(&span.resource().attributes, "service.name") {
            Some(name) => name.clone(),
            None => self.shared.unknown_service.clone(),
        }
    }
}

/// A batch's encoded groups as chunks of its finished `table` (of `table_weight` bytes, for `batch_spans`
/// spans), each weighing its bytes and its share of the table.
pub(super) fn chunks(
    groups: Vec<Group>,
    encoded: Vec<Encoded>,
    table: &Arc<Table>,
    table_weight: usize,
    batch_spans: usize,
) -> Vec<(Group, Chunk)> {
    let (table_weight, batch_spans) = (table_weight as u64, batch_spans.max(1) as u64);
    (groups.into_iter().zip(encoded))
        .map(|(mut group, encoded)| {
            let chunk = encoded.into_chunk(table.clone());
            // Each chunk carries the table in proportion to its spans, so evicting every chunk of a batch
            // gives back the whole table.
            group.weight = chunk.weight() as u64 + table_weight * chunk.len() as u64 / batch_spans;
            (group, chunk)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::store::Store;
    use crate::workshop::{self, Workshop};

    /// Grouping borrowed spans notes what grouping the spans themselves does, and the indexes are in order.
    #[test]
    fn groups_read_spans_through_references_alike() {
        let spans = workshop::generate(Workshop::Broken, 5, 1_790_000_000_000_000_000);
        let store = Store::new(1000);
        let notes = |groups: Vec<(super::Group, Vec<u32>)>| -> Vec<String> {
            (groups.into_iter())
                .map(|(g, indexes)| {
                    assert!(indexes.is_sorted());
                    format!(
                        "{:?} {} {} {:?} {:?} {} {:?} {:?}",
                        g.id,
                        g.start_ns,
                        g.end_ns,
                        g.services,
                        g.root,
                        g.errors,
                        g.entries,
                        indexes
                    )
                })
                .collect()
        };
        let owned = notes(store.groups(&spans));
        assert!(owned.len() > 1);
        assert_eq!(
            owned,
            notes(store.groups(&spans.iter().collect::<Vec<_>>()))
        );
    }
}
