//! Log records beside traces: what the services wrote while they served a request, kept with the trace and
//! span it was written in, so a trace's view can show its log lines and an error its log line.
//!
//! Records come in over OTLP (`POST /v1/logs`, protobuf or JSON, gzip; gRPC `LogsService/Export`) and as
//! JSON lines carrying Datadog's `dd.trace_id`/`dd.span_id` (usually only the trace id's low 64 bits, in
//! decimal: matched to traces by those bits; newer ddtrace writes a whole id as 32 hex digits). Texts are cut as
//! for spans (32 KiB, 128 attributes a record and a resource). [`LogStore`] keeps them bounded, by count and by bytes, with the same
//! accounting as spans: each record accepted is stored or counted as evicted; refused payloads and records
//! are counted by reason.

mod json;
mod otlp;
mod store;

use std::sync::Arc;

pub use json::decode_lines;
pub use otlp::{Converted, from_request, to_request};
pub use store::{DEFAULT_CAPACITY, DEFAULT_MAX_BYTES, LogQuery, LogStore};

use crate::model::{KeyValue, Resource, SpanId, Str, TraceId};

/// The trace a record was written in, as far as its sender said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TraceRef {
    None,
    /// The whole id (OpenTelemetry).
    Full(TraceId),
    /// Only its low 64 bits (a Datadog log line's `dd.trace_id`).
    Low(u64),
}

impl TraceRef {
    /// The low 64 bits the record is indexed by.
    fn low(self) -> Option<u64> {
        match self {
            TraceRef::None => None,
            TraceRef::Full(id) => Some(id.to_u128() as u64),
            TraceRef::Low(low) => Some(low),
        }
    }

    /// Whether the record was written in trace `id`.
    pub fn is(self, id: TraceId) -> bool {
        match self {
            TraceRef::None => false,
            TraceRef::Full(full) => full == id,
            TraceRef::Low(low) => id.to_u128() as u64 == low,
        }
    }
}

/// One log record.
#[derive(Clone, Debug, PartialEq)]
pub struct LogRecord {
    /// When it happened (unix nanoseconds): its own time, else when it was observed.
    pub time_ns: u64,
    /// OpenTelemetry's severity number: 1–4 TRACE, 5–8 DEBUG, 9–12 INFO, 13–16 WARN, 17–20 ERROR, 21–24
    /// FATAL; 0 unspecified.
    pub severity_number: i32,
    /// The severity as the sender wrote it (`ERROR`, `warning`), or empty.
    pub severity_text: Str,
    pub body: String,
    pub attributes: Vec<KeyValue>,
    pub resource: Arc<Resource>,
    pub trace: TraceRef,
    pub span_id: Option<SpanId>,
}

impl LogRecord {
    /// Its service: the resource's `service.name`.
    pub fn service(&self) -> &str {
        self.resource.service_name()
    }

    /// Its severity's name: the text the sender gave, else the number's name.
    pub fn severity(&self) -> String {
        if self.severity_text.is_empty() {
            severity_name(self.severity_number).to_owned()
        } else {
            self.severity_text.to_string()
        }
    }

    /// About the bytes it holds, for the store's byte budget: its resource counted whole for every record
    /// that shares it (over-counting is the safe side).
    fn bytes(&self) -> u64 {
        (std::mem::size_of::<LogRecord>()
            + self.body.len()
            + self.severity_text.len()
            + attributes_bytes(&self.attributes)
            + attributes_bytes(&self.resource.attributes)) as u64
    }
}

/// About the bytes attributes hold.
fn attributes_bytes(attributes: &[KeyValue]) -> usize {
    attributes
        .iter()
        .map(|kv| kv.key.len() + value_bytes(&kv.value) + 16)
        .sum()
}

fn value_bytes(value: &crate::model::Value) -> usize {
    use crate::model::Value;
    match value {
        Value::Str(s) => s.len(),
        Value::Bytes(b) => b.len(),
        Value::Array(items) => items.iter().map(|v| value_bytes(v) + 16).sum(),
        Value::Map(entries) => attributes_bytes(entries),
        _ => 16,
    }
}

/// Attributes as a record keeps them: at most [`MAX_ATTRIBUTES`], each text cut at [`MAX_TEXT`] (as for
/// spans).
pub(crate) fn limited(mut attributes: Vec<KeyValue>) -> Vec<KeyValue> {
    use crate::model::Value;
    attributes.truncate(MAX_ATTRIBUTES);
    for kv in &mut attributes {
        if let Value::Str(text) = &kv.value
            && text.len() > MAX_TEXT
        {
            kv.value = Value::Str(Str::from(otlp::capped(text.to_string()).as_str()));
        }
    }
    attributes
}

/// Attributes kept per record and per resource (as for spans).
pub(crate) const MAX_ATTRIBUTES: usize = 128;

/// The longest text kept whole (as for spans); a longer one is cut and ends in `…`.
pub(crate) const MAX_TEXT: usize = 32 * 1024;

/// The longest severity text kept (`ERROR`, `warning`): past it, it is cut.
pub(crate) const MAX_SEVERITY: usize = 32;

/// The time now, in unix nanoseconds: a record's time when its sender gave none.
pub(crate) fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Each error group with the log line its service wrote about it in its example trace.
pub fn attach_log_lines(logs: &LogStore, groups: &mut [protocol::ErrorGroup]) {
    for group in groups {
        if let Some(id) = TraceId::from_hex(&group.example_trace_id) {
            group.log_line = logs.log_line(id, &group.service);
        }
    }
}

pub use protocol::query::{severity_name, severity_number};
