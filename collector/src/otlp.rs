//! Conversion between OTLP's trace messages (`opentelemetry-proto`'s prost types) and the collector's model,
//! and decoding of OTLP request bodies: protobuf, and the spec's JSON (hex ids, enum integers, camelCase).

use std::collections::HashMap;
use std::sync::Arc;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1 as otlp_common;
use opentelemetry_proto::tonic::resource::v1 as otlp_resource;
use opentelemetry_proto::tonic::trace::v1 as otlp;
use prost::Message as _;

use crate::model::{
    Dropped, Event, Interner, KeyValue, Link, Resource, Scope, Span, SpanId, SpanKind, Status,
    StatusCode, TraceId, Value,
};

/// Why a request body could not be read. The message says what was wrong, for the 400 answer.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("malformed OTLP protobuf: {0}")]
    Protobuf(#[from] prost::DecodeError),
    #[error("malformed OTLP JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error(
        "OTLP JSON body of {bytes} bytes has {objects} objects: decoded, that would take over {budget} bytes \
         (the most a body of its size may); send fewer spans a request, or protobuf"
    )]
    OverBudget {
        bytes: usize,
        objects: usize,
        budget: usize,
    },
}

impl DecodeError {
    /// The reason a rejection is counted under.
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::Protobuf(_) => "malformed_protobuf",
            DecodeError::Json(_) => "malformed_json",
            DecodeError::OverBudget { .. } => "over_budget",
        }
    }
}

/// What decoding one JSON object (`{`) or array (`[`) may take at most: prost's largest message, a span, is
/// under this. OTLP JSON is decoded whole into prost's types before a span is checked, so a body of empty
/// objects (`{},{},…`, three bytes each) would take a hundred times its size.
const JSON_NODE_BYTES: usize = 320;

/// The memory a JSON body may take decoded: a real SDK's body, whose objects are attributes of a few dozen
/// bytes each, takes 5 to 15 times its size.
pub fn json_budget(body_len: usize) -> usize {
    body_len.saturating_mul(32).saturating_add(16 << 20)
}

/// Refuses, before decoding, a JSON body whose objects and arrays would take more than [`json_budget`]: a
/// linear count of the brackets (those inside strings count too, which only errs on the safe side).
pub(crate) fn check_json_budget(body: &[u8]) -> Result<(), DecodeError> {
    let budget = json_budget(body.len());
    if body.len().saturating_mul(JSON_NODE_BYTES) / 2 <= budget {
        // Even one bracket in two bytes fits.
        return Ok(());
    }
    let objects = memchr::memchr2_iter(b'{', b'[', body).count();
    if objects.saturating_mul(JSON_NODE_BYTES) > budget {
        return Err(DecodeError::OverBudget {
            bytes: body.len(),
            objects,
            budget,
        });
    }
    Ok(())
}

pub fn decode_protobuf(body: &[u8]) -> Result<ExportTraceServiceRequest, DecodeError> {
    Ok(ExportTraceServiceRequest::decode(body)?)
}

/// Decodes an OTLP JSON request, refusing first a body that would take more than [`json_budget`] decoded.
pub fn decode_json(body: &[u8]) -> Result<ExportTraceServiceRequest, DecodeError> {
    check_json_budget(body)?;
    Ok(serde_json::from_slice(body)?)
}

/// The spans of a request, and those that could not be taken (with the first reason why).
#[derive(Debug, Default)]
pub struct Converted {
    pub spans: Vec<Span>,
    pub rejected: u64,
    pub error: Option<String>,
}

/// Converts a decoded request into model spans. A span with an id of the wrong length is rejected (counted,
/// with a message) and the rest are kept: OTLP's partial success.
pub fn from_request(request: &ExportTraceServiceRequest, interner: &Interner) -> Converted {
    let mut out = Converted::default();
    for resource_spans in &request.resource_spans {
        let resource = Arc::new(Resource {
            attributes: resource_spans
                .resource
                .as_ref()
                .map(|r| attributes(&r.attributes, interner))
                .unwrap_or_default(),
        });
        for scope_spans in &resource_spans.scope_spans {
            let scope = Arc::new(match &scope_spans.scope {
                Some(scope) => Scope {
                    name: interner.intern(&scope.name),
                    version: (!scope.version.is_empty()).then(|| interner.intern(&scope.version)),
                },
                None => Scope {
                    name: interner.intern(""),
                    version: None,
                },
            });
            for span in &scope_spans.spans {
                match convert_span(span, &resource, &scope, interner) {
                    Ok(span) => out.spans.push(span),
                    Err(message) => {
                        out.rejected += 1;
                        out.error.get_or_insert(message);
                    }
                }
            }
        }
    }
    out
}

pub(crate) fn parse_trace_id(bytes: &[u8], what: &str) -> Result<TraceId, String> {
    let id: [u8; 16] = bytes
        .try_into()
        .map_err(|_| format!("{what} must be 16 bytes, not {}", bytes.len()))?;
    let id = TraceId(id);
    if id.is_zero() {
        return Err(format!("{what} is all zeroes"));
    }
    Ok(id)
}

pub(crate) fn parse_span_id(bytes: &[u8], what: &str) -> Result<SpanId, String> {
    let id: [u8; 8] = bytes
        .try_into()
        .map_err(|_| format!("{what} must be 8 bytes, not {}", bytes.len()))?;
    let id = SpanId(id);
    if id.is_zero() {
        return Err(format!("{what} is all zeroes"));
    }
    Ok(id)
}

fn convert_span(
    span: &otlp::Span,
    resource: &Arc<Resource>,
    scope: &Arc<Scope>,
    interner: &Interner,
) -> Result<Span, String> {
    let trace_id = parse_trace_id(&span.trace_id, "trace_id")?;
    let span_id = parse_span_id(&span.span_id, "span_id")?;
    let parent_span_id = match span.parent_span_id.as_slice() {
        [] => None,
        bytes => Some(parse_span_id(bytes, "parent_span_id")?),
    };
    let status = span
        .status
        .as_ref()
        .map_or_else(Status::default, |s| Status {
            code: match s.code {
                1 => StatusCode::Ok,
                2 => StatusCode::Error,
                _ => StatusCode::Unset,
            },
            message: (!s.message.is_empty()).then(|| Arc::from(s.message.as_str())),
        });
    let mut links = Vec::with_capacity(span.links.len());
    for link in &span.links {
        links.push(Link {
            trace_id: parse_trace_id(&link.trace_id, "link trace_id")?,
            span_id: parse_span_id(&link.span_id, "link span_id")?,
            attributes: attributes(&link.attributes, interner),
        });
    }
    Ok(Span {
        trace_id,
        span_id,
        parent_span_id,
        name: interner.intern(&span.name),
        kind: SpanKind::from_otlp(span.kind),
        start_ns: span.start_time_unix_nano,
        end_ns: span.end_time_unix_nano,
        status,
        attributes: attributes(&span.attributes, interner),
        events: span
            .events
            .iter()
            .map(|event| Event {
                name: interner.intern(&event.name),
                time_ns: event.time_unix_nano,
                attributes: attributes(&event.attributes, interner),
            })
            .collect(),
        links,
        resource: resource.clone(),
        scope: scope.clone(),
        dropped: Dropped {
            attributes: span.dropped_attributes_count.saturating_add(
                (span.events.iter().map(|e| e.dropped_attributes_count))
                    .chain(span.links.iter().map(|l| l.dropped_attributes_count))
                    .fold(0, u32::saturating_add),
            ),
            events: span.dropped_events_count,
            links: span.dropped_links_count,
        },
    })
}

pub(crate) fn attributes(list: &[otlp_common::KeyValue], interner: &Interner) -> Vec<KeyValue> {
    list.iter()
        .filter_map(|kv| {
            Some(KeyValue {
                key: interner.intern(&kv.key),
                value: value(kv.value.as_ref()?, interner)?,
            })
        })
        .collect()
}

pub(crate) fn value(any: &otlp_common::AnyValue, interner: &Interner) -> Option<Value> {
    use otlp_common::any_value::Value as V;
    Some(match any.value.as_ref()? {
        // Short strings repeat (routes, methods, db systems); long ones (queries, stacks) are kept as they are.
        V::StringValue(s) if s.len() <= 128 => Value::Str(interner.intern(s)),
        V::StringValue(s) => Value::Str(Arc::from(s.as_str())),
        V::BoolValue(b) => Value::Bool(*b),
        V::IntValue(i) => Value::Int(*i),
        V::DoubleValue(d) => Value::Double(*d),
        V::BytesValue(b) => Value::Bytes(Arc::from(b.as_slice())),
        V::ArrayValue(array) => Value::Array(
            array
                .values
                .iter()
                .filter_map(|v| value(v, interner))
                .collect(),
        ),
        V::KvlistValue(list) => Value::Map(attributes(&list.values, interner).into()),
        V::StringValueStrindex(_) => return None,
    })
}

/// Converts model spans back into one OTLP request, grouping spans by their shared resource and scope.
pub fn to_request<'a>(spans: impl IntoIterator<Item = &'a Span>) -> ExportTraceServiceRequest {
    let mut resources: Vec<otlp::ResourceSpans> = Vec::new();
    let mut resource_index: HashMap<*const Resource, usize> = HashMap::new();
    let mut scope_index: HashMap<(*const Resource, *const Scope), usize> = HashMap::new();
    for span in spans {
        let r = Arc::as_ptr(&span.resource);
        let ri = *resource_index.entry(r).or_insert_with(|| {
            resources.push(otlp::ResourceSpans {
                resource: Some(otlp_resource::Resource {
                    attributes: to_attributes(&span.resource.attributes),
                    ..Default::default()
                }),
                scope_spans: Vec::new(),
                schema_url: String::new(),
            });
            resources.len() - 1
        });
        let scopes = &mut resources[ri].scope_spans;
        let si = *scope_index
            .entry((r, Arc::as_ptr(&span.scope)))
            .or_insert_with(|| {
                scopes.push(otlp::ScopeSpans {
                    scope: Some(otlp_common::InstrumentationScope {
                        name: span.scope.name.to_string(),
                        version: span.scope.version.as_deref().unwrap_or("").to_owned(),
                        ..Default::default()
                    }),
                    spans: Vec::new(),
                    schema_url: String::new(),
                });
                scopes.len() - 1
            });
        scopes[si].spans.push(to_span(span));
    }
    ExportTraceServiceRequest {
        resource_spans: resources,
    }
}

fn to_span(span: &Span) -> otlp::Span {
    otlp::Span {
        trace_id: span.trace_id.0.to_vec(),
        span_id: span.span_id.0.to_vec(),
        parent_span_id: span
            .parent_span_id
            .map(|p| p.0.to_vec())
            .unwrap_or_default(),
        name: span.name.to_string(),
        kind: span.kind as i32,
        start_time_unix_nano: span.start_ns,
        end_time_unix_nano: span.end_ns,
        attributes: to_attributes(&span.attributes),
        events: span
            .events
            .iter()
            .map(|event| otlp::span::Event {
                time_unix_nano: event.time_ns,
                name: event.name.to_string(),
                attributes: to_attributes(&event.attributes),
                dropped_attributes_count: 0,
            })
            .collect(),
        links: span
            .links
            .iter()
            .map(|link| otlp::span::Link {
                trace_id: link.trace_id.0.to_vec(),
                span_id: link.span_id.0.to_vec(),
                attributes: to_attributes(&link.attributes),
                ..Default::default()
            })
            .collect(),
        status: (span.status != Status::default()).then(|| otlp::Status {
            message: span.status.message.as_deref().unwrap_or("").to_owned(),
            code: span.status.code as i32,
        }),
        dropped_attributes_count: span.dropped.attributes,
        dropped_events_count: span.dropped.events,
        dropped_links_count: span.dropped.links,
        ..Default::default()
    }
}

pub(crate) fn to_attributes(list: &[KeyValue]) -> Vec<otlp_common::KeyValue> {
    list.iter()
        .map(|kv| otlp_common::KeyValue {
            key: kv.key.to_string(),
            value: Some(to_value(&kv.value)),
            ..Default::default()
        })
        .collect()
}

fn to_value(value: &Value) -> otlp_common::AnyValue {
    use otlp_common::any_value::Value as V;
    otlp_common::AnyValue {
        value: Some(match value {
            Value::Str(s) => V::StringValue(s.to_string()),
            Value::Bool(b) => V::BoolValue(*b),
            Value::Int(i) => V::IntValue(*i),
            Value::Double(d) => V::DoubleValue(*d),
            Value::Bytes(b) => V::BytesValue(b.to_vec()),
            Value::Array(values) => V::ArrayValue(otlp_common::ArrayValue {
                values: values.iter().map(to_value).collect(),
            }),
            Value::Map(kvs) => V::KvlistValue(otlp_common::KeyValueList {
                values: to_attributes(kvs),
            }),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOLDEN_JSON: &[u8] = include_bytes!("../testdata/otlp-trace.json");

    /// A body of empty objects would take a hundred times its size decoded: refused before decoding, while an
    /// SDK's body of the same size decodes.
    #[test]
    fn a_json_body_of_empty_objects_is_refused_before_it_is_decoded() {
        let mut empty = br#"{"resourceSpans":[{"scopeSpans":[{"spans":["#.to_vec();
        empty.extend(b"{},".repeat(2 << 20));
        empty.extend(br#"{}]}]}]}"#);
        let err = decode_json(&empty).unwrap_err();
        assert_eq!(err.reason(), "over_budget", "{err}");
        assert!(err.to_string().contains("objects"), "{err}");

        // Real spans, as an SDK sends them, as large: they decode.
        let request = crate::synth::shop_batch(20_000, 7);
        let real = serde_json::to_vec(&request).unwrap();
        assert!(real.len() > empty.len(), "{} bytes", real.len());
        let decoded = decode_json(&real).unwrap();
        assert_eq!(from_request(&decoded, &Interner::new()).spans.len(), 20_000);
    }

    #[test]
    fn the_specs_json_decodes_into_the_model() {
        let interner = Interner::new();
        let request = decode_json(GOLDEN_JSON).unwrap();
        let converted = from_request(&request, &interner);
        assert_eq!((converted.rejected, converted.spans.len()), (0, 2));
        let [server, db] = &converted.spans[..] else {
            unreachable!()
        };
        assert_eq!(
            server.trace_id.to_string(),
            "5b8efff798038103d269b633813fc60c"
        );
        assert_eq!(server.parent_span_id, None);
        assert_eq!(server.kind, SpanKind::Server);
        assert_eq!(server.duration_ns(), 2_500_000_000);
        assert_eq!(
            server.attribute("http.response.status_code"),
            Some(&Value::Int(200))
        );
        assert_eq!(server.service_name(), "discounts-service");
        assert_eq!(server.resource.service_version(), Some("1.0"));
        assert_eq!(db.parent_span_id, Some(server.span_id));
        assert_eq!(db.status.code, StatusCode::Error);
        assert_eq!(db.status.message.as_deref(), Some("boom"));
        assert_eq!(db.events[0].name.as_ref(), "exception");
        assert!(
            Arc::ptr_eq(&server.resource, &db.resource),
            "spans of one resource share it"
        );
    }

    #[test]
    fn protobuf_json_and_the_model_agree() {
        let interner = Interner::new();
        let from_json = decode_json(GOLDEN_JSON).unwrap();
        let bytes = from_json.encode_to_vec();
        let from_protobuf = decode_protobuf(&bytes).unwrap();
        assert_eq!(from_json, from_protobuf);
        let spans = from_request(&from_protobuf, &interner).spans;
        let back = to_request(&spans);
        assert_eq!(
            from_request(&back, &interner).spans,
            spans,
            "model → OTLP → model is lossless"
        );
        let json = serde_json::to_vec(&back).unwrap();
        assert_eq!(
            from_request(&decode_json(&json).unwrap(), &interner).spans,
            spans
        );
    }

    #[test]
    fn spans_with_bad_ids_are_rejected_one_by_one() {
        let interner = Interner::new();
        let mut request = decode_json(GOLDEN_JSON).unwrap();
        request.resource_spans[0].scope_spans[0].spans[1].span_id = vec![1, 2, 3];
        let converted = from_request(&request, &interner);
        assert_eq!((converted.spans.len(), converted.rejected), (1, 1));
        assert_eq!(
            converted.error.as_deref(),
            Some("span_id must be 8 bytes, not 3")
        );
        request.resource_spans[0].scope_spans[0].spans[0].trace_id = vec![0; 16];
        assert_eq!(
            from_request(&request, &interner).error.as_deref(),
            Some("trace_id is all zeroes")
        );
    }

    #[test]
    fn garbage_is_a_decode_error_not_a_panic() {
        assert_eq!(
            decode_protobuf(b"\xff\xff\xff").unwrap_err().reason(),
            "malformed_protobuf"
        );
        assert_eq!(
            decode_json(b"{\"resourceSpans\": [").unwrap_err().reason(),
            "malformed_json"
        );
        let err =
            decode_json(br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"xyz"}]}]}]}"#);
        assert!(err.is_err(), "a trace id that is not hex");
    }
}
