//! A batch decoded straight into the store's form ([`Staged`]): its strings, attributes, resources and scopes
//! are already entries of the table its chunks will share ([`crate::compact`]), and each span is a record of
//! indexes into it. Nothing is allocated per span or per attribute, and nothing is counted per occurrence of a
//! shared string; the analyses read the spans through [`SpanView`]s, and the store encodes them into chunks
//! from the indexes, without looking anything up again.
//!
//! The OTLP/protobuf receivers make one with [`crate::wire::decode_for_store`]. Whatever needs owned spans
//! (the recording, the exporters) gets them with [`Staged::to_spans`].

use std::sync::Arc;

use crate::compact::{self, Encoded, Ids, Record, Table, TableBuilder};
use crate::model::{
    Dropped, Event, KeyValue, Link, Resource, Scope, Span, SpanId, SpanKind, SpanRead, Status,
    StatusCode, Str, TraceId, Value,
};

/// An attribute of a staged span: a pair of the table by its index, or (with this bit set) an entry of the
/// batch's [`Staged::others`] (values that are lists, maps or bytes).
const OTHER: u32 = 1 << 31;

/// A batch of spans in the store's form.
#[derive(Default)]
pub struct Staged {
    pub(crate) table: TableBuilder,
    pub(crate) parts: Parts,
}

/// Everything of a [`Staged`] batch but its table.
#[derive(Default)]
pub(crate) struct Parts {
    pub(crate) spans: Vec<StagedSpan>,
    /// Every span's attributes, one span's after the other's (see [`OTHER`]).
    pub(crate) attributes: Vec<u32>,
    pub(crate) others: Vec<KeyValue>,
    pub(crate) extras: Vec<SpanExtra>,
}

/// One span: its ids and times, and its strings, resource, scope and attributes as indexes.
pub(crate) struct StagedSpan {
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
    pub(crate) parent: Option<SpanId>,
    pub(crate) start_ns: u64,
    pub(crate) end_ns: u64,
    pub(crate) name: u32,
    pub(crate) resource: u32,
    pub(crate) scope: u32,
    pub(crate) message: Option<u32>,
    /// Its range of [`Parts::attributes`].
    pub(crate) attributes: (u32, u32),
    /// Its entry of [`Parts::extras`], when it has events, links or dropped counts.
    pub(crate) extra: Option<u32>,
    pub(crate) kind: SpanKind,
    pub(crate) status: StatusCode,
}

/// A span's events, links and dropped counts: rare, so kept as the model keeps them.
pub(crate) struct SpanExtra {
    pub(crate) events: Vec<Event>,
    pub(crate) links: Vec<Link>,
    pub(crate) dropped: Dropped,
}

impl Staged {
    /// The number of spans.
    pub fn len(&self) -> usize {
        self.parts.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.parts.spans.is_empty()
    }

    /// A view of each span, in order.
    pub fn views(&self) -> Vec<SpanView<'_>> {
        (self.parts.spans.iter())
            .map(|span| SpanView { batch: self, span })
            .collect()
    }

    /// The spans as owned model spans, equal to what [`crate::wire::decode`] makes of the same bytes.
    pub fn to_spans(&self) -> Vec<Span> {
        self.views().iter().map(SpanView::to_span).collect()
    }

    /// Encodes the spans at `groups` (each one trace's, by their index in the batch) into one chunk each,
    /// sharing the batch's table; answers the table, its weight and the chunks' places in it.
    pub(crate) fn encode(
        self,
        groups: &[Vec<u32>],
        pairs: &compact::Pairs,
    ) -> (Arc<Table>, usize, Vec<Encoded>) {
        let Staged { mut table, parts } = self;
        let encoded = groups
            .iter()
            .map(|group| {
                table.encode_with(
                    group,
                    |&i| {
                        let span = &parts.spans[i as usize];
                        (span.span_id, span.start_ns)
                    },
                    |table, &i, base_ns, ids, out| parts.write(table, i, base_ns, ids, out),
                )
            })
            .collect();
        let weight = table.weight();
        (table.finish(pairs), weight, encoded)
    }
}

impl Parts {
    /// Writes span `i`'s record.
    fn write(&self, table: &mut TableBuilder, i: u32, base_ns: u64, ids: &Ids, out: &mut Vec<u8>) {
        let span = &self.spans[i as usize];
        let extra = span.extra.map(|e| &self.extras[e as usize]);
        let record = Record {
            parent: span.parent,
            kind: span.kind,
            status: span.status,
            start_ns: span.start_ns,
            end_ns: span.end_ns,
            name: span.name,
            resource: span.resource,
            scope: span.scope,
            message: span.message,
            extra: extra.and_then(|e| compact::Extra::of(&e.events, &e.links, e.dropped)),
        };
        let attributes = self.attributes_of(span);
        table.write_record(&record, base_ns, ids, out, |table, out| {
            compact::put_varint(out, attributes.len() as u64);
            for &attribute in attributes {
                if attribute & OTHER == 0 {
                    compact::put_pair(out, attribute);
                } else {
                    table.encode_other(&self.others[(attribute & !OTHER) as usize], out);
                }
            }
        });
    }

    fn attributes_of(&self, span: &StagedSpan) -> &[u32] {
        &self.attributes[span.attributes.0 as usize..span.attributes.1 as usize]
    }
}

/// Records what a decoder reads into a [`Staged`] batch.
impl Staged {
    /// The attribute reference of `kv` (a pair of the table when its value is a scalar).
    pub(crate) fn attribute(&mut self, kv: KeyValue) -> u32 {
        match self.table.pair(&kv) {
            Some(pair) => pair,
            None => {
                self.parts.others.push(kv);
                (self.parts.others.len() - 1) as u32 | OTHER
            }
        }
    }
}

/// One span of a [`Staged`] batch, read in place.
#[derive(Clone, Copy)]
pub struct SpanView<'a> {
    batch: &'a Staged,
    span: &'a StagedSpan,
}

impl<'a> SpanView<'a> {
    /// The span's attributes, in order.
    pub fn attributes(&self) -> impl Iterator<Item = &'a KeyValue> + 'a {
        let batch = self.batch;
        (batch.parts.attributes_of(self.span).iter()).map(move |&attribute| {
            if attribute & OTHER == 0 {
                batch.table.pair_at(attribute)
            } else {
                &batch.parts.others[(attribute & !OTHER) as usize]
            }
        })
    }

    fn extra(&self) -> Option<&'a SpanExtra> {
        (self.span.extra).map(|e| &self.batch.parts.extras[e as usize])
    }

    /// The span as an owned model span.
    pub fn to_span(&self) -> Span {
        let table = &self.batch.table;
        let extra = self.extra();
        Span {
            trace_id: self.span.trace_id,
            span_id: self.span.span_id,
            parent_span_id: self.span.parent,
            name: table.string_at(self.span.name).clone(),
            kind: self.span.kind,
            start_ns: self.span.start_ns,
            end_ns: self.span.end_ns,
            status: Status {
                code: self.span.status,
                message: self.span.message.map(|m| table.string_at(m).clone()),
            },
            attributes: self.attributes().cloned().collect(),
            events: extra.map(|e| e.events.clone()).unwrap_or_default(),
            links: extra.map(|e| e.links.clone()).unwrap_or_default(),
            resource: table.resource_at(self.span.resource).clone(),
            scope: table.scope_at(self.span.scope).clone(),
            dropped: extra.map(|e| e.dropped).unwrap_or_default(),
        }
    }
}

impl SpanRead for SpanView<'_> {
    #[inline]
    fn trace_id(&self) -> TraceId {
        self.span.trace_id
    }

    #[inline]
    fn span_id(&self) -> SpanId {
        self.span.span_id
    }

    #[inline]
    fn parent_span_id(&self) -> Option<SpanId> {
        self.span.parent
    }

    #[inline]
    fn name(&self) -> &Str {
        self.batch.table.string_at(self.span.name)
    }

    #[inline]
    fn kind(&self) -> SpanKind {
        self.span.kind
    }

    #[inline]
    fn status_code(&self) -> StatusCode {
        self.span.status
    }

    #[inline]
    fn start_ns(&self) -> u64 {
        self.span.start_ns
    }

    #[inline]
    fn end_ns(&self) -> u64 {
        self.span.end_ns
    }

    fn attribute(&self, key: &str) -> Option<&Value> {
        self.attributes()
            .find(|kv| &*kv.key == key)
            .map(|kv| &kv.value)
    }

    fn attribute_str(&self, key: &str) -> Option<&Str> {
        match self.attribute(key)? {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    #[inline]
    fn resource(&self) -> &Arc<Resource> {
        self.batch.table.resource_at(self.span.resource)
    }

    #[inline]
    fn scope(&self) -> &Arc<Scope> {
        self.batch.table.scope_at(self.span.scope)
    }
}
