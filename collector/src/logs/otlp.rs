//! OTLP log records into the model: `ExportLogsServiceRequest` (protobuf or JSON) to [`LogRecord`]s, each with
//! its resource, severity, body and the trace and span it was written in. A record with an id of the wrong
//! length is refused (counted, with the first reason) and the rest are kept: OTLP's partial success.

use std::sync::Arc;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;

use super::{LogRecord, TraceRef};
use crate::model::{Interner, Resource};
use crate::otlp::{attributes, parse_span_id, parse_trace_id, value};

/// The longest body or attribute text kept whole (as for spans); a longer one is cut and ends in `…`.
pub(super) const MAX_TEXT: usize = 32 * 1024;

/// Attributes kept per record (as for spans).
const MAX_ATTRIBUTES: usize = 128;

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
            attributes: resource_logs
                .resource
                .as_ref()
                .map(|r| attributes(&r.attributes, interner))
                .unwrap_or_default(),
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
                let mut kept = attributes(&record.attributes, interner);
                kept.truncate(MAX_ATTRIBUTES);
                let time_ns = match (record.time_unix_nano, record.observed_time_unix_nano) {
                    (0, 0) => observed_ns,
                    (0, observed) => observed,
                    (time, _) => time,
                };
                out.records.push(LogRecord {
                    time_ns,
                    severity_number: record.severity_number,
                    severity_text: interner.intern(&record.severity_text),
                    body: capped(body),
                    attributes: kept,
                    resource: resource.clone(),
                    trace: trace_id.map_or(TraceRef::None, TraceRef::Full),
                    span_id,
                });
            }
        }
    }
    out
}
