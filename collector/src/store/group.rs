//! A batch split by trace, outside the store's lock: what the indexes need of each trace's spans ([`Group`]),
//! and the spans encoded, a chunk a trace, the batch's chunks sharing one table.

use std::collections::HashMap;
use std::sync::Arc;

use crate::compact::{Chunk, TableBuilder};
use crate::model::{Resource, Span, Str, TraceId, attribute_str};
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
    /// Splits a batch by trace, in order of each trace's first span in the batch, notes each group's time
    /// span and services, and encodes each group's spans as one compact chunk; the chunks of the batch share
    /// one table of strings, resources and scopes.
    pub(super) fn group(&self, spans: &[Span]) -> Vec<(Group, Chunk)> {
        let batch_spans = spans.len();
        let mut groups: Vec<(Group, Vec<&Span>)> = Vec::new();
        let mut position: HashMap<TraceId, usize> = HashMap::new();
        let mut names = self.shared.names.lock();
        // Batches usually share one resource per service; look each resource's service up once.
        let mut last_resource: Option<(Arc<Resource>, Str)> = None;
        for span in spans {
            let service = match &last_resource {
                Some((resource, service)) if Arc::ptr_eq(resource, &span.resource) => {
                    service.clone()
                }
                _ => {
                    let service = self.service_of(span);
                    last_resource = Some((span.resource.clone(), service.clone()));
                    service
                }
            };
            let at = *position.entry(span.trace_id).or_insert_with(|| {
                let group = Group {
                    id: span.trace_id,
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
            group.start_ns = group.start_ns.min(span.start_ns);
            group.end_ns = group.end_ns.max(span.end_ns);
            if semconv::is_error(span) {
                group.errors += 1;
            }
            if span.parent_span_id.is_none() && group.root.is_none() {
                group.root = Some((service.clone(), span.name.clone()));
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
            group_spans.push(span);
        }
        let mut table = TableBuilder::new();
        let encoded: Vec<_> = groups
            .into_iter()
            .map(|(group, spans)| (group, table.encode(&spans)))
            .collect();
        let (table_weight, batch_spans) = (table.weight() as u64, batch_spans.max(1) as u64);
        let table = table.finish();
        encoded
            .into_iter()
            .map(|(mut group, encoded)| {
                let chunk = encoded.into_chunk(table.clone());
                // Each chunk carries the table in proportion to its spans, so evicting every chunk of a batch
                // gives back the whole table.
                group.weight =
                    chunk.weight() as u64 + table_weight * chunk.len() as u64 / batch_spans;
                (group, chunk)
            })
            .collect()
    }

    /// The span's service name as a shared string (the resource's own, so no copy is made).
    fn service_of(&self, span: &Span) -> Str {
        match attribute_str(&span.resource.attributes, "service.name") {
            Some(name) => name.clone(),
            None => self.shared.unknown_service.clone(),
        }
    }
}
