//! The OTLP/protobuf decoder into the store's form ([`Staged`]): the same walk as [`super::decode`], but a span
//! becomes a record of table indexes rather than a model span. An attribute is resolved once per distinct
//! encoding per batch: its bytes are compared first with the attribute at the same place of the span before,
//! then looked up among the batch's, and only a new one is read and interned. The span limits are checked on
//! the way; a batch that breaks one (rare) or that is malformed is decoded again by [`super::decode`], which
//! gives the model's answer and error, so both paths agree by construction where this one gives up.

use rustc_hash::FxHashMap;

use super::{RawSpan, Result, Strings, WireError, key_value, request, resource_spans, scope_spans};
use crate::ingest::Batch;
use crate::limits::SpanLimits;
use crate::model::Interner;
use crate::staged::{SpanExtra, Staged, StagedSpan};

/// What a request brings: its spans, in the store's form when they could be, and OTLP's partial success for
/// spans whose ids are malformed.
pub struct Decoded {
    pub batch: Batch,
    pub rejected: u64,
    pub error: Option<String>,
}

impl From<crate::otlp::Converted> for Decoded {
    fn from(converted: crate::otlp::Converted) -> Decoded {
        Decoded {
            batch: Batch::Spans(converted.spans),
            rejected: converted.rejected,
            error: converted.error,
        }
    }
}

/// Decodes a protobuf `ExportTraceServiceRequest` for the store: into a [`Staged`] batch when its spans are
/// within the span limits, else into model spans (which the ingest queue cuts down to the limits).
pub fn decode_for_store(body: &[u8], interner: &Interner) -> Result<Decoded> {
    if let Ok(decoded) = stage(body, interner, SpanLimits::default()) {
        return Ok(decoded);
    }
    Ok(super::decode(body, interner)?.into())
}

/// Attributes whose place in a span is remembered (see [`Stager::recent`]).
const PLACES: usize = 32;

struct Stager<'a> {
    strings: Strings<'a>,
    staged: Staged,
    limits: SpanLimits,
    /// Each distinct span attribute's bytes, and what they became (`None`: an attribute with no value, which
    /// the model leaves out).
    seen: FxHashMap<&'a [u8], Option<u32>>,
    /// The bytes of the attribute at each place of the span before, and what they became.
    recent: [Option<(&'a [u8], Option<u32>)>; PLACES],
    /// The span name before, and its index.
    recent_name: Option<(&'a [u8], u32)>,
    /// The span being read's attributes, as bytes (room kept from span to span).
    attribute_bytes: Vec<&'a [u8]>,
    rejected: u64,
    error: Option<String>,
}

/// Over a span limit: the batch goes the model's way.
const OVER_LIMITS: WireError = WireError("over the span limits");

fn stage(body: &[u8], interner: &Interner, limits: SpanLimits) -> Result<Decoded> {
    let mut stager = Stager {
        strings: Strings::new(interner),
        staged: Staged::default(),
        limits,
        seen: FxHashMap::default(),
        recent: [None; PLACES],
        recent_name: None,
        attribute_bytes: Vec::new(),
        rejected: 0,
        error: None,
    };
    for buf in request(body)? {
        let (resource, scopes) = resource_spans(buf, &stager.strings)?;
        if !limits.resource_fits(&resource) {
            return Err(OVER_LIMITS);
        }
        let resource = stager.staged.table.resource(&resource);
        for buf in scopes {
            let (scope, spans) = scope_spans(buf, &stager.strings)?;
            let scope = stager.staged.table.scope(&scope);
            for buf in spans {
                stager.span(buf, resource, scope)?;
            }
        }
    }
    Ok(Decoded {
        batch: Batch::Staged(Box::new(stager.staged)),
        rejected: stager.rejected,
        error: stager.error,
    })
}

impl<'a> Stager<'a> {
    /// A string's index in the batch's table.
    fn string(&mut self, bytes: &'a [u8]) -> Result<u32> {
        let shared = self.strings.intern(bytes)?;
        Ok(self.staged.table.string(&shared))
    }

    /// The attribute (a span's `place`th) whose `KeyValue` message is `bytes`.
    fn attribute(&mut self, place: usize, bytes: &'a [u8]) -> Result<Option<u32>> {
        if let Some(Some((seen, attribute))) = self.recent.get(place)
            && *seen == bytes
        {
            return Ok(*attribute);
        }
        let attribute = match self.seen.get(bytes) {
            Some(&attribute) => attribute,
            None => {
                let attribute = match key_value(bytes, &self.strings, 4, super::NOWHERE)? {
                    Some(kv) if !self.limits.fits(&kv) => return Err(OVER_LIMITS),
                    Some(kv) => Some(self.staged.attribute(kv)),
                    None => None,
                };
                self.seen.insert(bytes, attribute);
                attribute
            }
        };
        if let Some(slot) = self.recent.get_mut(place) {
            *slot = Some((bytes, attribute));
        }
        Ok(attribute)
    }

    fn span(&mut self, buf: &'a [u8], resource: u32, scope: u32) -> Result<()> {
        // The attributes' bytes, resolved once the span is read (the reader holds the strings).
        let mut attribute_bytes = std::mem::take(&mut self.attribute_bytes);
        attribute_bytes.clear();
        let mut raw = RawSpan::read(buf, &self.strings, |bytes| {
            attribute_bytes.push(bytes);
            Ok(())
        })?;
        let first = self.staged.parts.attributes.len();
        for (place, &bytes) in attribute_bytes.iter().enumerate() {
            if let Some(attribute) = self.attribute(place, bytes)? {
                self.staged.parts.attributes.push(attribute);
            }
        }
        self.attribute_bytes = attribute_bytes;
        let attributes = (first as u32, self.staged.parts.attributes.len() as u32);
        let message = raw.message();
        if (attributes.1 - attributes.0) as usize > self.limits.attributes
            || raw.name.len() > self.limits.value_bytes
            || message.len() > self.limits.value_bytes
        {
            return Err(OVER_LIMITS);
        }
        let name = match self.recent_name {
            Some((seen, index)) if seen == raw.name => index,
            _ => {
                let index = self.string(raw.name)?;
                self.recent_name = Some((raw.name, index));
                index
            }
        };
        let message = match message {
            "" => None,
            message => Some(self.string(message.as_bytes())?),
        };
        let checked = match raw.check() {
            Ok(checked) => checked,
            Err(message) => {
                self.staged.parts.attributes.truncate(first);
                self.rejected += 1;
                self.error.get_or_insert(message);
                return Ok(());
            }
        };
        let events = std::mem::take(&mut raw.events);
        let extra = if events.is_empty() && checked.links.is_empty() && checked.dropped.is_none() {
            None
        } else {
            if !self.limits.extras_fit(&events, &checked.links) {
                return Err(OVER_LIMITS);
            }
            self.staged.parts.extras.push(SpanExtra {
                events,
                links: checked.links,
                dropped: checked.dropped,
            });
            Some((self.staged.parts.extras.len() - 1) as u32)
        };
        self.staged.parts.spans.push(StagedSpan {
            trace_id: checked.trace_id,
            span_id: checked.span_id,
            parent: checked.parent,
            start_ns: raw.start_ns,
            end_ns: raw.end_ns,
            name,
            resource,
            scope,
            message,
            attributes,
            extra,
            kind: raw.kind,
            status: raw.status_code(),
        });
        Ok(())
    }
}
