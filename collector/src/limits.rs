//! The collector's span limits, applied to every span as it is handed to the ingest queue, whichever receiver
//! it came through: at most so many attributes, events and links a span, and no text longer than so many
//! bytes. What is left out is marked on the span as OpenTelemetry's SDK span limits mark it, in the span's
//! `dropped_*` counts ([`Dropped`]); a value that is cut ends in `…`. The store then bounds memory by span
//! count and bytes together, so a sender cannot make one span cost megabytes, nor many spans a machine's
//! memory.

use std::sync::Arc;

use crate::model::{Dropped, KeyValue, Resource, Span, Str, Value};

/// The limits: OpenTelemetry's SDK defaults for counts (128 each), and a length past which no text a person
/// reads in a trace view is useful (the Datadog agent cuts tag values at 25,000 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpanLimits {
    /// Attributes kept per span, per event, per link and per resource; also items kept per list or map value.
    pub attributes: usize,
    /// Events kept per span.
    pub events: usize,
    /// Links kept per span.
    pub links: usize,
    /// The longest text (an attribute's key or value, a name, a status message) or byte string kept whole.
    pub value_bytes: usize,
}

impl Default for SpanLimits {
    fn default() -> SpanLimits {
        SpanLimits {
            attributes: 128,
            events: 128,
            links: 128,
            value_bytes: 32 * 1024,
        }
    }
}

/// What marks a text that was cut.
const CUT: &str = "…";

impl SpanLimits {
    /// Cuts every span of a batch down to the limits; answers how many spans were cut.
    pub fn apply_all(&self, spans: &mut [Span]) -> u64 {
        // A batch's spans share a few resources (or each has its own): each is checked, and cut if need be,
        // once, found again by the address of its shared allocation.
        let mut resources: rustc_hash::FxHashMap<*const Resource, Option<Arc<Resource>>> =
            rustc_hash::FxHashMap::default();
        let mut limited = 0;
        for span in spans {
            let cut = resources
                .entry(Arc::as_ptr(&span.resource))
                .or_insert_with(|| self.resource(&span.resource))
                .clone();
            let mut changed = false;
            if let Some(cut) = cut {
                span.resource = cut;
                changed = true;
            }
            changed |= self.apply(span);
            limited += u64::from(changed);
        }
        limited
    }

    /// Cuts one span (not its resource) down to the limits; true when anything was cut.
    pub fn apply(&self, span: &mut Span) -> bool {
        let mut dropped = Dropped::default();
        let mut cut = false;
        cut |= self.text(&mut span.name);
        if let Some(message) = &mut span.status.message {
            cut |= self.text(message);
        }
        cut |= self.attributes(&mut span.attributes, &mut dropped.attributes);
        if span.events.len() > self.events {
            dropped.events = count(span.events.len() - self.events);
            span.events.truncate(self.events);
        }
        for event in &mut span.events {
            cut |= self.text(&mut event.name);
            cut |= self.attributes(&mut event.attributes, &mut dropped.attributes);
        }
        if span.links.len() > self.links {
            dropped.links = count(span.links.len() - self.links);
            span.links.truncate(self.links);
        }
        for link in &mut span.links {
            cut |= self.attributes(&mut link.attributes, &mut dropped.attributes);
        }
        if dropped.is_none() {
            return cut;
        }
        span.dropped.attributes = span.dropped.attributes.saturating_add(dropped.attributes);
        span.dropped.events = span.dropped.events.saturating_add(dropped.events);
        span.dropped.links = span.dropped.links.saturating_add(dropped.links);
        true
    }

    /// The resource cut down to the limits, when it needs cutting.
    fn resource(&self, resource: &Resource) -> Option<Arc<Resource>> {
        if self.resource_fits(resource) {
            return None;
        }
        let mut attributes = resource.attributes.clone();
        self.attributes(&mut attributes, &mut 0);
        Some(Arc::new(Resource { attributes }))
    }

    /// Whether a text (a name, a status message) is kept whole.
    pub(crate) fn text_fits(&self, text: &str) -> bool {
        text.len() <= self.value_bytes
    }

    /// Whether a resource is kept as it is.
    pub(crate) fn resource_fits(&self, resource: &Resource) -> bool {
        resource.attributes.len() <= self.attributes
            && resource.attributes.iter().all(|kv| self.fits(kv))
    }

    /// Whether a span's events and links are kept as they are: none is cut or left out.
    pub(crate) fn extras_fit(
        &self,
        events: &[crate::model::Event],
        links: &[crate::model::Link],
    ) -> bool {
        let attributes_fit = |attributes: &[KeyValue]| {
            attributes.len() <= self.attributes && attributes.iter().all(|kv| self.fits(kv))
        };
        events.len() <= self.events
            && links.len() <= self.links
            && events
                .iter()
                .all(|e| self.text_fits(&e.name) && attributes_fit(&e.attributes))
            && links.iter().all(|l| attributes_fit(&l.attributes))
    }

    /// Whether an attribute is kept as it is.
    pub(crate) fn fits(&self, kv: &KeyValue) -> bool {
        kv.key.len() <= self.value_bytes && self.value_fits(&kv.value)
    }

    fn value_fits(&self, value: &Value) -> bool {
        match value {
            Value::Str(text) => text.len() <= self.value_bytes,
            Value::Bytes(bytes) => bytes.len() <= self.value_bytes,
            Value::Array(items) => {
                items.len() <= self.attributes && items.iter().all(|item| self.value_fits(item))
            }
            Value::Map(entries) => {
                entries.len() <= self.attributes && entries.iter().all(|kv| self.fits(kv))
            }
            Value::Bool(_) | Value::Int(_) | Value::Double(_) => true,
        }
    }

    /// Keeps the first attributes up to the limit (adding the rest to `dropped`) and cuts their texts; true
    /// when anything was cut.
    fn attributes(&self, attributes: &mut Vec<KeyValue>, dropped: &mut u32) -> bool {
        let mut cut = false;
        if attributes.len() > self.attributes {
            *dropped = dropped.saturating_add(count(attributes.len() - self.attributes));
            attributes.truncate(self.attributes);
            cut = true;
        }
        for kv in attributes.iter_mut() {
            if self.fits(kv) {
                continue;
            }
            cut = true;
            self.text(&mut kv.key);
            self.value(&mut kv.value);
        }
        cut
    }

    fn value(&self, value: &mut Value) {
        if self.value_fits(value) {
            return;
        }
        match value {
            Value::Str(text) => {
                self.text(text);
            }
            Value::Bytes(bytes) => {
                *bytes = Arc::from(&bytes[..self.value_bytes]);
            }
            Value::Array(items) => {
                let mut kept: Vec<Value> = items.iter().take(self.attributes).cloned().collect();
                for item in &mut kept {
                    self.value(item);
                }
                *value = Value::Array(kept.into());
            }
            Value::Map(entries) => {
                let mut kept: Vec<KeyValue> =
                    entries.iter().take(self.attributes).cloned().collect();
                self.attributes(&mut kept, &mut 0);
                *value = Value::Map(kept.into());
            }
            Value::Bool(_) | Value::Int(_) | Value::Double(_) => {}
        }
    }

    /// Cuts `text` to the longest whole-character prefix that fits with the mark; true when it was cut.
    fn text(&self, text: &mut Str) -> bool {
        if text.len() <= self.value_bytes {
            return false;
        }
        let mut end = self.value_bytes.saturating_sub(CUT.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let mut kept = String::with_capacity(end + CUT.len());
        kept.push_str(&text[..end]);
        kept.push_str(CUT);
        *text = Str::from(kept);
        true
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Build as _, kv, span, text};

    #[test]
    fn a_span_past_the_limits_keeps_the_first_of_each_and_says_how_many_were_dropped() {
        let limits = SpanLimits::default();
        let mut big = span(1, 1);
        for i in 0..1000 {
            big = big.attr(&format!("key.{i}"), Value::Int(i));
        }
        for i in 0..200 {
            big = big.event(&format!("event {i}"), 0, vec![text("a", "b")]);
        }
        big.dropped.attributes = 5; // the sender's own
        assert!(limits.apply(&mut big));
        assert_eq!(big.attributes.len(), 128);
        assert_eq!(&*big.attributes[127].key, "key.127", "the first are kept");
        assert_eq!(big.events.len(), 128);
        assert_eq!(
            big.dropped,
            Dropped {
                attributes: 5 + 872,
                events: 72,
                links: 0
            }
        );
    }

    #[test]
    fn long_texts_are_cut_on_a_character_boundary_and_marked() {
        let limits = SpanLimits {
            value_bytes: 10,
            ..SpanLimits::default()
        };
        let mut long = span(1, 1)
            .name("a name that is too long")
            .text("statement", "ééééééééé")
            .attr(
                "list",
                Value::Array(vec![Value::Str("x".repeat(20).into()); 300].into()),
            )
            .attr("short", Value::Str("fits".into()));
        assert!(limits.apply(&mut long));
        assert_eq!(&*long.name, "a name …");
        assert_eq!(long.attribute("statement").unwrap().as_str(), Some("ééé…"));
        let Some(Value::Array(items)) = long.attribute("list") else {
            panic!("still a list")
        };
        assert_eq!(items.len(), 128);
        assert_eq!(items[0].as_str(), Some("xxxxxxx…"));
        assert_eq!(long.attribute("short").unwrap().as_str(), Some("fits"));
        assert!(long.dropped.is_none(), "cutting a value drops no attribute");
    }

    #[test]
    fn spans_within_the_limits_are_left_alone_and_not_counted() {
        let limits = SpanLimits::default();
        let mut spans: Vec<Span> = (0..3)
            .map(|i| {
                span(1, i).service("shop").event(
                    "exception",
                    0,
                    vec![kv("exception.message", Value::Str("boom".into()))],
                )
            })
            .collect();
        let before = spans.clone();
        assert_eq!(limits.apply_all(&mut spans), 0);
        assert_eq!(spans, before);
    }

    #[test]
    fn a_shared_resource_past_the_limits_is_cut_once_for_the_batch() {
        let limits = SpanLimits::default();
        let resource = Arc::new(Resource {
            attributes: (0..200).map(|i| text(&format!("r.{i}"), "v")).collect(),
        });
        let mut spans: Vec<Span> = (0..3).map(|i| span(1, i).resource(&resource)).collect();
        assert_eq!(limits.apply_all(&mut spans), 3);
        assert_eq!(spans[0].resource.attributes.len(), 128);
        assert!(Arc::ptr_eq(&spans[0].resource, &spans[2].resource));
    }
}
