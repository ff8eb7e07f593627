//! Where [`super::Builder`] puts spans when a payload is decoded for the store ([`super::decode_v04_for_store`],
//! [`super::decode_v05_for_store`]): straight into a [`Staged`] batch, each span a record of table indexes. The
//! builder checks and fixes each span as for the model; only the last step differs. A scalar attribute is
//! found again by the addresses of its key and value (or the value's bits), which the table keeps alive, so a
//! repeat costs a lookup and no clone. The span limits are checked on the way: a span they would cut sets
//! [`StagedOut::over`] and stops the decoding, and the payload is decoded again onto the model, which the
//! ingest queue cuts.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::{Ctx, Stop};
use crate::limits::SpanLimits;
use crate::model::{
    Event, KeyValue, Resource, Scope, Span, SpanId, SpanKind, Status, Str, TraceId, Value,
};
use crate::staged::{SpanExtra, Staged, StagedSpan};

/// A staged decoding's output.
pub(super) struct StagedOut {
    pub(super) staged: Staged,
    limits: SpanLimits,
    scope: u32,
    /// What each scalar attribute became in the table, by its key's address, its value's kind and its value (a
    /// string's address, or its bits).
    pairs: FxHashMap<(usize, u8, u64), u32>,
    /// The last span's resource, by its address, and its index.
    last_resource: Option<(usize, u32)>,
    /// Where the span being read starts in the batch's attributes.
    first: usize,
    /// The capacity the model's `Vec<Span>` would have: its growth is charged alike, so both ways of decoding
    /// charge the same and refuse the same payloads.
    capacity: usize,
    /// A span would be cut by the span limits: the payload is to be decoded onto the model.
    pub(super) over: bool,
}

fn address<T: ?Sized>(shared: &Arc<T>) -> usize {
    Arc::as_ptr(shared).cast::<u8>().addr()
}

/// What a span is besides its strings, attributes and events.
pub(super) struct Head {
    pub(super) trace_id: u64,
    pub(super) span_id: u64,
    pub(super) parent_id: u64,
    pub(super) start_ns: u64,
    pub(super) end_ns: u64,
    pub(super) kind: SpanKind,
}

impl StagedOut {
    pub(super) fn new(scope: &Arc<Scope>, limits: SpanLimits) -> StagedOut {
        let mut staged = Staged::default();
        let scope = staged.table.scope(scope);
        StagedOut {
            staged,
            limits,
            scope,
            pairs: FxHashMap::default(),
            last_resource: None,
            first: 0,
            capacity: 0,
            over: false,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.staged.parts.spans.len()
    }

    /// The trace ids of the spans from `start` on, to be widened by a chunk's `_dd.p.tid`.
    pub(super) fn trace_ids(&mut self, start: usize) -> impl Iterator<Item = &mut TraceId> {
        (self.staged.parts.spans[start..].iter_mut()).map(|span| &mut span.trace_id)
    }

    /// Over the limits: stops the decoding.
    fn over(&mut self) -> Stop {
        self.over = true;
        Stop
    }

    /// Starts a span of `count` attributes named `name`.
    pub(super) fn begin(&mut self, count: usize, name: &str) -> Result<(), Stop> {
        if count > self.limits.attributes || !self.limits.text_fits(name) {
            return Err(self.over());
        }
        self.first = self.staged.parts.attributes.len();
        Ok(())
    }

    /// An attribute of the span being read (its key and value cloned when they are new to the table).
    pub(super) fn attribute(&mut self, key: &Str, value: &Value) -> Result<(), Stop> {
        let found = match value {
            Value::Str(text) => Some((0, address(text) as u64)),
            Value::Int(int) => Some((1, *int as u64)),
            Value::Double(double) => Some((2, double.to_bits())),
            _ => None,
        }
        .map(|(kind, bits)| (address(key), kind, bits));
        if let Some(pair) = found.and_then(|found| self.pairs.get(&found)) {
            self.staged.parts.attributes.push(*pair);
            return Ok(());
        }
        let kv = KeyValue {
            key: key.clone(),
            value: value.clone(),
        };
        if !self.limits.fits(&kv) {
            return Err(self.over());
        }
        let attribute = self.staged.attribute(kv);
        if let Some(found) = found {
            // The table holds the key and the value now: their addresses are not reused meanwhile.
            self.pairs.insert(found, attribute);
        }
        self.staged.parts.attributes.push(attribute);
        Ok(())
    }

    /// The span begun, with its name, resource, status and events, charged as the model's
    /// `Vec<Span>` would be.
    pub(super) fn finish(
        &mut self,
        ctx: &mut Ctx,
        head: Head,
        name: &Str,
        resource: &Arc<Resource>,
        status: &Status,
        events: Vec<Event>,
    ) -> Result<(), Stop> {
        let message = status.message.as_ref();
        if message.is_some_and(|message| !self.limits.text_fits(message))
            || !self.limits.extras_fit(&events, &[])
        {
            return Err(self.over());
        }
        let resource = match self.last_resource {
            Some((at, index)) if at == address(resource) => index,
            _ => {
                if !self.limits.resource_fits(resource) {
                    return Err(self.over());
                }
                let index = self.staged.table.resource(resource);
                self.last_resource = Some((address(resource), index));
                index
            }
        };
        let more = ctx.grow::<Span>(self.len(), self.capacity)?;
        self.capacity += more;
        let name = self.staged.table.string(name);
        let message = message.map(|message| self.staged.table.string(message));
        let extra = (!events.is_empty()).then(|| {
            let parts = &mut self.staged.parts;
            parts.extras.push(SpanExtra {
                events,
                links: Vec::new(),
                dropped: Default::default(),
            });
            (parts.extras.len() - 1) as u32
        });
        let parts = &mut self.staged.parts;
        parts.spans.push(StagedSpan {
            trace_id: TraceId::from_u128(u128::from(head.trace_id)),
            span_id: SpanId::from_u64(head.span_id),
            parent: (head.parent_id != 0).then(|| SpanId::from_u64(head.parent_id)),
            start_ns: head.start_ns,
            end_ns: head.end_ns,
            name,
            resource,
            scope: self.scope,
            message,
            attributes: (self.first as u32, parts.attributes.len() as u32),
            extra,
            kind: head.kind,
            status: status.code,
        });
        Ok(())
    }
}
