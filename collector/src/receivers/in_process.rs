//! The in-process receiver: an OpenTelemetry SDK `SpanExporter` that hands finished spans straight to the
//! ingest queue, converted field by field with no encoding on the way, and a `LogExporter` that does the same
//! with log records into the log store. The shop's services use it inside `lab`.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{SpanKind as OtelKind, Status as OtelStatus};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

use crate::ingest::Ingest;
use crate::model::{
    Event, Interner, KeyValue, Link, Resource, Scope, Span, SpanId, SpanKind, Status, StatusCode,
    TraceId, Value,
};

/// Exports an SDK's spans into the collector running in the same process.
#[derive(Debug, Clone)]
pub struct InProcessExporter {
    ingest: Ingest,
    resource: Arc<Resource>,
}

impl InProcessExporter {
    pub fn new(ingest: Ingest) -> InProcessExporter {
        InProcessExporter {
            ingest,
            resource: Arc::new(Resource::default()),
        }
    }
}

fn nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn value(value: &opentelemetry::Value, interner: &Interner) -> Value {
    use opentelemetry::{Array, Value as V};
    match value {
        V::Bool(b) => Value::Bool(*b),
        V::I64(i) => Value::Int(*i),
        V::F64(f) => Value::Double(*f),
        V::String(s) if s.as_str().len() <= 128 => Value::Str(interner.intern(s.as_str())),
        V::String(s) => Value::Str(Arc::from(s.as_str())),
        V::Array(Array::Bool(items)) => {
            Value::Array(items.iter().map(|b| Value::Bool(*b)).collect())
        }
        V::Array(Array::I64(items)) => Value::Array(items.iter().map(|i| Value::Int(*i)).collect()),
        V::Array(Array::F64(items)) => {
            Value::Array(items.iter().map(|f| Value::Double(*f)).collect())
        }
        V::Array(Array::String(items)) => Value::Array(
            items
                .iter()
                .map(|s| Value::Str(interner.intern(s.as_str())))
                .collect(),
        ),
        other => Value::Str(Arc::from(other.to_string().as_str())),
    }
}

fn attributes(list: &[opentelemetry::KeyValue], interner: &Interner) -> Vec<KeyValue> {
    list.iter()
        .map(|kv| KeyValue {
            key: interner.intern(kv.key.as_str()),
            value: value(&kv.value, interner),
        })
        .collect()
}

impl InProcessExporter {
    fn convert(
        &self,
        span: SpanData,
        scopes: &mut Vec<(opentelemetry::InstrumentationScope, Arc<Scope>)>,
    ) -> Span {
        let interner = self.ingest.interner();
        let scope = match scopes
            .iter()
            .find(|(s, _)| *s == span.instrumentation_scope)
        {
            Some((_, scope)) => scope.clone(),
            None => {
                let scope = Arc::new(Scope {
                    name: interner.intern(span.instrumentation_scope.name()),
                    version: span
                        .instrumentation_scope
                        .version()
                        .map(|v| interner.intern(v)),
                });
                scopes.push((span.instrumentation_scope.clone(), scope.clone()));
                scope
            }
        };
        let parent = SpanId(span.parent_span_id.to_bytes());
        Span {
            trace_id: TraceId(span.span_context.trace_id().to_bytes()),
            span_id: SpanId(span.span_context.span_id().to_bytes()),
            parent_span_id: (!parent.is_zero()).then_some(parent),
            name: interner.intern(&span.name),
            kind: match span.span_kind {
                OtelKind::Client => SpanKind::Client,
                OtelKind::Server => SpanKind::Server,
                OtelKind::Producer => SpanKind::Producer,
                OtelKind::Consumer => SpanKind::Consumer,
                OtelKind::Internal => SpanKind::Internal,
            },
            start_ns: nanos(span.start_time),
            end_ns: nanos(span.end_time),
            status: match &span.status {
                OtelStatus::Unset => Status::default(),
                OtelStatus::Ok => Status {
                    code: StatusCode::Ok,
                    message: None,
                },
                OtelStatus::Error { description } => Status {
                    code: StatusCode::Error,
                    message: (!description.is_empty()).then(|| Arc::from(description.as_ref())),
                },
            },
            attributes: attributes(&span.attributes, interner),
            events: span
                .events
                .events
                .iter()
                .map(|event| Event {
                    name: interner.intern(&event.name),
                    time_ns: nanos(event.timestamp),
                    attributes: attributes(&event.attributes, interner),
                })
                .collect(),
            links: span
                .links
                .links
                .iter()
                .map(|link| Link {
                    trace_id: TraceId(link.span_context.trace_id().to_bytes()),
                    span_id: SpanId(link.span_context.span_id().to_bytes()),
                    attributes: attributes(&link.attributes, interner),
                })
                .collect(),
            resource: self.resource.clone(),
            scope,
            dropped: Default::default(),
        }
    }
}

impl SpanExporter for InProcessExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let mut scopes = Vec::new();
        let spans = batch
            .into_iter()
            .map(|span| self.convert(span, &mut scopes))
            .collect();
        self.ingest
            .submit_waiting(spans)
            .await
            .map_err(|err| OTelSdkError::InternalFailure(err.to_string()))
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        let interner = self.ingest.interner();
        self.resource = Arc::new(Resource {
            attributes: resource
                .iter()
                .map(|(key, v)| KeyValue {
                    key: interner.intern(key.as_str()),
                    value: value(v, interner),
                })
                .collect(),
        });
    }
}

/// Exports an SDK's log records into the log store of the collector running in the same process.
#[derive(Debug, Clone)]
pub struct InProcessLogExporter {
    logs: crate::logs::LogStore,
    interner: Interner,
    resource: Arc<Resource>,
}

impl InProcessLogExporter {
    pub fn new(logs: crate::logs::LogStore) -> InProcessLogExporter {
        InProcessLogExporter {
            interner: logs.interner().clone(),
            logs,
            resource: Arc::new(Resource::default()),
        }
    }
}

/// A log record's value as the model keeps it: a map's entries in key order.
fn log_value(value: &opentelemetry::logs::AnyValue, interner: &Interner) -> Value {
    use opentelemetry::logs::AnyValue as A;
    match value {
        A::Int(i) => Value::Int(*i),
        A::Double(d) => Value::Double(*d),
        A::String(s) => Value::Str(Arc::from(s.as_str())),
        A::Boolean(b) => Value::Bool(*b),
        A::Bytes(bytes) => Value::Bytes(Arc::from(bytes.as_slice())),
        A::ListAny(items) => Value::Array(items.iter().map(|v| log_value(v, interner)).collect()),
        A::Map(entries) => {
            let mut entries: Vec<KeyValue> = entries
                .iter()
                .map(|(key, v)| KeyValue {
                    key: interner.intern(key.as_str()),
                    value: log_value(v, interner),
                })
                .collect();
            entries.sort_by(|a, b| a.key.cmp(&b.key));
            Value::Map(entries.into())
        }
        other => Value::Str(Arc::from(format!("{other:?}").as_str())),
    }
}

impl opentelemetry_sdk::logs::LogExporter for InProcessLogExporter {
    async fn export(&self, batch: opentelemetry_sdk::logs::LogBatch<'_>) -> OTelSdkResult {
        let interner = &self.interner;
        let records = batch
            .iter()
            .map(|(record, _scope)| {
                let trace = record.trace_context();
                crate::logs::LogRecord {
                    time_ns: record
                        .timestamp()
                        .or(record.observed_timestamp())
                        .map_or_else(crate::logs::now_ns, nanos),
                    severity_number: record.severity_number().map_or(0, |s| s as i32),
                    severity_text: interner.intern(record.severity_text().unwrap_or("")),
                    body: match record.body() {
                        None => String::new(),
                        Some(opentelemetry::logs::AnyValue::String(s)) => s.as_str().to_owned(),
                        Some(other) => crate::view::value_text(&log_value(other, interner)),
                    },
                    attributes: record
                        .attributes_iter()
                        .map(|(key, v)| KeyValue {
                            key: interner.intern(key.as_str()),
                            value: log_value(v, interner),
                        })
                        .collect(),
                    resource: self.resource.clone(),
                    trace: trace.map_or(crate::logs::TraceRef::None, |t| {
                        crate::logs::TraceRef::Full(TraceId(t.trace_id.to_bytes()))
                    }),
                    span_id: trace.map(|t| SpanId(t.span_id.to_bytes())),
                }
            })
            .collect();
        self.logs.insert(records);
        Ok(())
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.resource = Arc::new(Resource {
            attributes: resource
                .iter()
                .map(|(key, v)| KeyValue {
                    key: self.interner.intern(key.as_str()),
                    value: value(v, &self.interner),
                })
                .collect(),
        });
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{Span as _, TraceContextExt as _, Tracer as _, TracerProvider as _};
    use opentelemetry_sdk::trace::SdkTracerProvider;

    use super::*;
    use crate::store::Store;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sdk_spans_arrive_in_the_store_as_they_were_made() {
        let store = Store::new(100);
        let (ingest, writer) = Ingest::new(store.clone(), 8, None).unwrap();
        let writer = tokio::spawn(writer.run());
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(InProcessExporter::new(ingest.clone()))
            .with_resource(
                opentelemetry_sdk::Resource::builder()
                    .with_service_name("discounts-service")
                    .with_attribute(opentelemetry::KeyValue::new("service.version", "1.0"))
                    .build(),
            )
            .build();
        let tracer = provider.tracer("discounts");
        let (trace_id, root_id) = tokio::task::spawn_blocking(move || {
            let root = tracer.start("GET /discount");
            let root_context = opentelemetry::Context::current_with_span(root);
            let mut child = tracer.start_with_context("SELECT discount", &root_context);
            child.set_attribute(opentelemetry::KeyValue::new("db.system.name", "sqlite"));
            child.set_status(OtelStatus::error("boom"));
            child.end();
            let span = root_context.span();
            let ids = (
                span.span_context().trace_id(),
                span.span_context().span_id(),
            );
            span.end();
            provider.shutdown().unwrap();
            ids
        })
        .await
        .unwrap();
        drop(ingest);
        writer.await.unwrap().unwrap();

        let trace = store.trace(&TraceId(trace_id.to_bytes())).expect("stored");
        let spans = trace.to_vec();
        assert_eq!(spans.len(), 2);
        let child = spans
            .iter()
            .find(|s| s.name.as_ref() == "SELECT discount")
            .unwrap();
        assert_eq!(child.parent_span_id, Some(SpanId(root_id.to_bytes())));
        assert_eq!(child.status.code, StatusCode::Error);
        assert_eq!(
            child.attribute("db.system.name").and_then(Value::as_str),
            Some("sqlite")
        );
        assert_eq!(child.service_name(), "discounts-service");
        assert_eq!(child.resource.service_version(), Some("1.0"));
        assert_eq!(child.scope.name.as_ref(), "discounts");
    }
}
