//! OTLP log records into the model: `ExportLogsServiceRequest` (protobuf or JSON) to [`LogRecord`]s, each with
//! its resource, severity, body and the trace and span it was written in. A record with an id of the wrong
//! length is refused (counted, with the first reason) and the rest are kept: OTLP's partial success.

use std::sync::Arc;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;

use super::{LogRecord, TraceRef};
use crate::model::{Interner, Resource};
use crate::otlp::{attributes, parse_span_id, parse_trace_id, value};

use super::{MAX_SEVERITY, MAX_TEXT, limited};

/// The records of a request, and those that could not be taken (with the first reason why).
#[derive(Debug, Default)]
pub struct Converted {
    pub records: Vec<LogRecord>,
    pub rejected: u64,
    pub error: Option<String>,
}

/// Model log records back into one OTLP request (as recordings keep them), grouped by their shared resource;
/// a Datadog record's half trace id goes out as the whole id with the upper half zero.
pub fn to_request(records: &[LogRecord]) -> ExportLogsServiceRequest {
    use opentelemetry_proto::tonic::common::v1::AnyValue;
    use opentelemetry_proto::tonic::logs::v1::{self as otlp_logs, ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::resource::v1::Resource as OtlpResource;

    let mut out: Vec<ResourceLogs> = Vec::new();
    let mut index: std::collections::HashMap<*const Resource, usize> = Default::default();
    for record in records {
        let at = *index
            .entry(Arc::as_ptr(&record.resource))
            .or_insert_with(|| {
                out.push(ResourceLogs {
                    resource: Some(OtlpResource {
                        attributes: crate::otlp::to_attributes(&record.resource.attributes),
                        ..Default::default()
                    }),
                    scope_logs: vec![ScopeLogs::default()],
                    schema_url: String::new(),
                });
                out.len() - 1
            });
        let trace_id = match record.trace {
            TraceRef::None => Vec::new(),
            TraceRef::Full(id) => id.0.to_vec(),
            TraceRef::Low(low) => crate::model::TraceId::from_u128(u128::from(low)).0.to_vec(),
        };
        out[at].scope_logs[0]
            .log_records
            .push(otlp_logs::LogRecord {
                time_unix_nano: record.time_ns,
                severity_number: record.severity_number,
                severity_text: record.severity_text.to_string(),
                body: Some(AnyValue {
                    value: Some(Any::StringValue(record.body.clone())),
                }),
                attributes: crate::otlp::to_attributes(&record.attributes),
                trace_id,
                span_id: record.span_id.map(|id| id.0.to_vec()).unwrap_or_default(),
                ..Default::default()
            });
    }
    ExportLogsServiceRequest { resource_logs: out }
}

/// A severity text as kept: at most [`MAX_SEVERITY`] bytes (at a character boundary).
pub(super) fn severity_text(text: &str) -> &str {
    let mut end = text.len().min(MAX_SEVERITY);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// `text` cut to at most [`MAX_TEXT`] bytes, at a character boundary, marked `…` when cut.
pub(super) fn capped(mut text: String) -> String {
    if text.len() > MAX_TEXT {
        let mut end = MAX_TEXT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// Converts a decoded request; `observed_ns` stands in for a record's time when it has none at all.
pub fn from_request(
    request: &ExportLogsServiceRequest,
    interner: &Interner,
    observed_ns: u64,
) -> Converted {
    let mut out = Converted::default();
    for resource_logs in &request.resource_logs {
        let resource = Arc::new(Resource {
            attributes: limited(
                resource_logs
                    .resource
                    .as_ref()
                    .map(|r| attributes(&r.attributes, interner))
                    .unwrap_or_default(),
            ),
        });
        for scope_logs in &resource_logs.scope_logs {
            for record in &scope_logs.log_records {
                let ids = (
                    (!record.trace_id.is_empty())
                        .then(|| parse_trace_id(&record.trace_id, "trace_id"))
                        .transpose(),
                    (!record.span_id.is_empty())
                        .then(|| parse_span_id(&record.span_id, "span_id"))
                        .transpose(),
                );
                let (trace_id, span_id) = match ids {
                    (Ok(trace_id), Ok(span_id)) => (trace_id, span_id),
                    (Err(why), _) | (_, Err(why)) => {
                        out.rejected += 1;
                        out.error
                            .get_or_insert(format!("log record refused: {why}"));
                        continue;
                    }
                };
                let body = match record.body.as_ref().and_then(|b| b.value.as_ref()) {
                    None => String::new(),
                    Some(Any::StringValue(text)) => text.clone(),
                    Some(_) => record
                        .body
                        .as_ref()
                        .and_then(|b| value(b, interner))
                        .map(|v| crate::view::value_text(&v))
                        .unwrap_or_default(),
                };
                let kept = limited(attributes(&record.attributes, interner));
                let time_ns = match (record.time_unix_nano, record.observed_time_unix_nano) {
                    (0, 0) => observed_ns,
                    (0, observed) => observed,
                    (time, _) => time,
                };
                out.records.push(LogRecord {
                    time_ns,
                    severity_number: record.severity_number,
                    severity_text: interner.intern(severity_text(&record.severity_text)),
                    body: capped(body),
                    attributes: kept,
                    resource: resource.clone(),
                    // An id whose upper half is zero is a Datadog one's low half (recordings write them so):
                    // it matches the whole id ending in it.
                    trace: trace_id.map_or(TraceRef::None, |id| {
                        if id.to_u128() >> 64 == 0 {
                            TraceRef::Low(id.to_u128() as u64)
                        } else {
                            TraceRef::Full(id)
                        }
                    }),
                    span_id,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{SpanId, TraceId};

    #[test]
    fn a_datadog_half_id_survives_a_recording() {
        let record = |trace| LogRecord {
            time_ns: 5,
            severity_number: 17,
            severity_text: "ERROR".into(),
            body: "cart 42 not found".to_owned(),
            attributes: Vec::new(),
            resource: Arc::new(Resource::default()),
            trace,
            span_id: Some(SpanId::from_u64(9)),
        };
        let whole = TraceId::from_u128(0x6b14_f9f0_0000_0000_6129_d803_4e41_0cdd);
        let written = vec![
            record(TraceRef::Low(0x6129_d803_4e41_0cdd)),
            record(TraceRef::Full(whole)),
        ];
        let read = from_request(&to_request(&written), &Interner::new(), 0).records;
        assert_eq!(read, written);
        assert!(
            read[0].trace.is(whole),
            "the half still opens the whole trace"
        );
    }
}
