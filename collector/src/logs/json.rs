//! JSON log lines as Datadog's libraries inject trace ids into them (ddtrace's log injection with a JSON
//! formatter; Datadog's HTTP logs intake takes the same objects, as an array): `message` (or `msg`), `status`
//! (or `level`, `levelname`), `service`, `timestamp`, and `dd.trace_id`/`dd.span_id` in decimal (the trace id's
//! low 64 bits; newer ddtrace writes a 128-bit trace id as 32 hex digits), flat (`"dd.trace_id"`) or nested
//! (`"dd": {"trace_id": …}`). The body is a JSON
//! array of such objects, or one object a line; a line that is not one is refused and counted, the others
//! kept.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value as Json};

use super::otlp::{Converted, capped};
use super::{LogRecord, TraceRef, severity_number};
use crate::model::{Interner, KeyValue, Resource, SpanId, Str, TraceId, Value};

/// Fields read into the record itself rather than kept as attributes.
const OWN: [&str; 12] = [
    "message",
    "msg",
    "status",
    "level",
    "levelname",
    "service",
    "timestamp",
    "dd.trace_id",
    "dd.span_id",
    "dd.service",
    "dd.env",
    "dd.version",
];

/// The records of a body of JSON log lines; `observed_ns` stands in for a line without a time.
pub fn decode_lines(body: &[u8], interner: &Interner, observed_ns: u64) -> Converted {
    let mut out = Converted::default();
    let mut resources: HashMap<(String, String, String), Arc<Resource>> = HashMap::new();
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim_start();
    let objects: Vec<Result<Json, String>> = if trimmed.starts_with('[') {
        match serde_json::from_str::<Vec<Json>>(trimmed) {
            Ok(items) => items.into_iter().map(Ok).collect(),
            Err(e) => vec![Err(format!("not a JSON array of log objects: {e}"))],
        }
    } else {
        text.lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| serde_json::from_str::<Json>(line).map_err(|e| format!("not JSON: {e}")))
            .collect()
    };
    for (k, object) in objects.into_iter().enumerate() {
        let object: Map<String, Json> = match object {
            Ok(Json::Object(object)) => object,
            Ok(_) => {
                out.rejected += 1;
                out.error
                    .get_or_insert(format!("item {}: not a JSON object", k + 1));
                continue;
            }
            Err(why) => {
                out.rejected += 1;
                out.error.get_or_insert(format!("line {}: {why}", k + 1));
                continue;
            }
        };
        let field = |names: &[&str]| -> Option<&Json> {
            names.iter().find_map(|name| {
                object.get(*name).or_else(|| {
                    let (outer, inner) = name.split_once('.')?;
                    object.get(outer)?.get(inner)
                })
            })
        };
        let text_of = |json: Option<&Json>| -> String {
            match json {
                Some(Json::String(s)) => s.clone(),
                Some(Json::Null) | None => String::new(),
                Some(other) => other.to_string(),
            }
        };
        let id = |json: Option<&Json>| -> Option<u64> {
            match json? {
                Json::String(s) => s.trim().parse().ok(),
                Json::Number(n) => n.as_u64(),
                _ => None,
            }
            .filter(|id| *id != 0)
        };
        // Names, not texts: cut short, so a line cannot make its resource large.
        let service = capped_name(&text_of(field(&["dd.service", "service"])));
        let (env, version) = (
            capped_name(&text_of(field(&["dd.env"]))),
            capped_name(&text_of(field(&["dd.version"]))),
        );
        let resource = resources
            .entry((service.clone(), env.clone(), version.clone()))
            .or_insert_with(|| {
                let mut attributes = Vec::new();
                for (key, value) in [
                    ("service.name", &service),
                    ("deployment.environment.name", &env),
                    ("service.version", &version),
                ] {
                    if !value.is_empty() {
                        attributes.push(KeyValue {
                            key: interner.intern(key),
                            value: Value::Str(interner.intern(value)),
                        });
                    }
                }
                Arc::new(Resource { attributes })
            })
            .clone();
        let severity = text_of(field(&["status", "level", "levelname"]));
        let attributes = object
            .iter()
            .filter(|(key, _)| !OWN.contains(&key.as_str()) && key.as_str() != "dd")
            .take(128)
            .map(|(key, value)| KeyValue {
                key: interner.intern(key),
                value: json_value(value, interner),
            })
            .collect();
        out.records.push(LogRecord {
            time_ns: time_ns(field(&["timestamp", "time", "@timestamp"])).unwrap_or(observed_ns),
            severity_number: severity_number(&severity).unwrap_or(0),
            severity_text: interner.intern(super::otlp::severity_text(&severity)),
            body: capped(text_of(field(&["message", "msg"]))),
            attributes,
            resource,
            trace: trace_ref(field(&["dd.trace_id"])),
            span_id: id(field(&["dd.span_id"])).map(SpanId::from_u64),
        });
    }
    out
}

/// A name (service, environment, version) as a resource keeps it: at most 256 bytes.
fn capped_name(text: &str) -> String {
    let mut end = text.len().min(256);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// A `dd.trace_id`: the low 64 bits in decimal (what Datadog's libraries write by default), or the whole 128-bit
/// id as 32 hex digits (what newer ddtrace writes when the upper half is set); `0` is none.
fn trace_ref(json: Option<&Json>) -> TraceRef {
    let text = match json {
        Some(Json::String(s)) => s.trim().to_owned(),
        Some(Json::Number(n)) => n.to_string(),
        _ => return TraceRef::None,
    };
    // Digits alone are decimal (a 16-digit decimal id is no hex one); hex only as the whole 32 digits.
    let id = if text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse::<u128>().ok()
    } else if text.len() == 32 {
        u128::from_str_radix(&text, 16).ok()
    } else {
        None
    };
    match id {
        Some(0) | None => TraceRef::None,
        Some(id) if id > u128::from(u64::MAX) || text.len() == 32 => {
            TraceRef::Full(TraceId::from_u128(id))
        }
        Some(low) => TraceRef::Low(low as u64),
    }
}

/// A time given as epoch milliseconds (Datadog's `timestamp`), seconds, nanoseconds, or RFC 3339 text.
fn time_ns(json: Option<&Json>) -> Option<u64> {
    match json? {
        Json::Number(n) if n.as_u64().is_some() => {
            let value = n.as_u64()?;
            Some(if value > 100_000_000_000_000_000 {
                value
            } else if value > 100_000_000_000 {
                value.saturating_mul(1_000_000)
            } else {
                value.saturating_mul(1_000_000_000)
            })
        }
        Json::Number(n) => {
            let value = n.as_f64()?;
            Some(if value > 1e17 {
                value as u64
            } else if value > 1e11 {
                (value * 1e6) as u64
            } else {
                (value * 1e9) as u64
            })
        }
        Json::String(s) => humantime::parse_rfc3339_weak(s)
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos() as u64),
        _ => None,
    }
}

fn json_value(json: &Json, interner: &Interner) -> Value {
    match json {
        Json::String(s) if s.len() <= 128 => Value::Str(interner.intern(s)),
        Json::String(s) => Value::Str(Str::from(capped(s.clone()).as_str())),
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => n
            .as_i64()
            .map(Value::Int)
            .unwrap_or_else(|| Value::Double(n.as_f64().unwrap_or_default())),
        other => Value::Str(Str::from(capped(other.to_string()).as_str())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ddtrace_lines_keep_their_ids_and_bad_lines_are_counted() {
        let body = br#"{"message": "charge failed", "levelname": "ERROR", "dd.trace_id": "1234567890123", "dd.span_id": "42", "dd.service": "checkout", "dd.env": "lab", "dd.version": "1.2", "order": 7, "timestamp": 1700000000123}
not json
{"msg": "nested", "level": "warning", "dd": {"trace_id": "99", "span_id": "0"}, "service": "cart"}
{"msg": "whole", "dd.trace_id": "6b14f9f0000000006129d8034e410cdd"}
{"msg": "sixteen digits", "dd.trace_id": "1000000000000000"}
[1, 2]
"#;
        let out = decode_lines(body, &Interner::new(), 5);
        assert_eq!((out.records.len(), out.rejected), (4, 2), "{out:?}");
        assert_eq!(
            out.records[2].trace,
            TraceRef::Full(TraceId::from_u128(0x6b14f9f0000000006129d8034e410cdd))
        );
        assert_eq!(out.records[3].trace, TraceRef::Low(1_000_000_000_000_000));
        let first = &out.records[0];
        assert_eq!(first.body, "charge failed");
        assert_eq!(
            (first.severity_number, first.severity()),
            (17, "ERROR".to_owned())
        );
        assert_eq!(first.trace, TraceRef::Low(1_234_567_890_123));
        assert_eq!(first.span_id, Some(SpanId::from_u64(42)));
        assert_eq!(first.service(), "checkout");
        assert_eq!(first.resource.service_version(), Some("1.2"));
        assert_eq!(first.time_ns, 1_700_000_000_123_000_000);
        assert_eq!(&*first.attributes[0].key, "order");
        let nested = &out.records[1];
        assert_eq!(
            (nested.severity_number, nested.trace),
            (13, TraceRef::Low(99))
        );
        assert_eq!(
            (nested.span_id, nested.time_ns, nested.service()),
            (None, 5, "cart")
        );
        assert!(out.error.unwrap().starts_with("line 2"));
    }
}
