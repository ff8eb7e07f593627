//! Error grouping: the span that caused an error, its exception's type and message, and where it was raised
//! make the key errors are grouped by.

use rustc_hash::FxHashSet;

use super::results::ErrorGroup;
use super::{MAX_GROUPS, State, normalize, service_of};
use crate::model::{Event, Span, SpanId, Str, TraceId, Value, attribute};
use crate::semconv;

/// Error messages and stack traces are kept up to this many bytes.
const MAX_TEXT: usize = 8 * 1024;

/// Where the error `span` records was raised, as `(file, line)`: the span's `code.file.path` (or the older
/// `code.filepath`), else its exception event's `code.file.path`, with the line from `code.line.number` (or
/// `code.lineno`, or the event's `code.line.number`; 0 when none is given); without a file, the first frame of
/// the application's own code in the exception's stack trace. `None` when neither is known.
pub fn error_location(span: &Span) -> Option<(String, u32)> {
    let exception = exception_event(span);
    let event_value = |key: &str| exception.and_then(|event| attribute(&event.attributes, key));
    let span_text = |key: &str| span.attribute(key).and_then(Value::as_str);
    let line_of = |value: Option<&Value>| {
        value
            .and_then(Value::as_i64)
            .and_then(|l| u32::try_from(l).ok())
    };
    let file = span_text("code.file.path")
        .or_else(|| span_text("code.filepath"))
        .or_else(|| event_value("code.file.path").and_then(Value::as_str));
    if let Some(file) = file {
        let line = line_of(span.attribute("code.line.number"))
            .or_else(|| line_of(span.attribute("code.lineno")))
            .or_else(|| line_of(event_value("code.line.number")));
        return Some((file.to_owned(), line.unwrap_or(0)));
    }
    let location = exception_text(span, exception, "exception.stacktrace")
        .and_then(normalize::top_project_frame)?;
    Some((location.file, location.line))
}

/// The span's last `exception` event, where tracers put what was raised.
fn exception_event(span: &Span) -> Option<&Event> {
    span.events
        .iter()
        .rev()
        .find(|event| &*event.name == "exception")
}

/// A text attribute of the exception: from its event, else from the span itself.
fn exception_text<'a>(span: &'a Span, exception: Option<&'a Event>, key: &str) -> Option<&'a str> {
    exception
        .and_then(|event| attribute(&event.attributes, key))
        .and_then(Value::as_str)
        .or_else(|| span.attribute(key).and_then(Value::as_str))
}

impl State {
    /// Groups the errors of one whole trace read back, from its span `already` on (those before were
    /// grouped at an earlier reading): per error span that has no failing child of its own service, the cause.
    pub(super) fn record_errors(&mut self, id: TraceId, spans: &[Span], already: usize) {
        let by_id: rustc_hash::FxHashMap<SpanId, &Span> =
            spans.iter().rev().map(|s| (s.span_id, s)).collect();
        // A Datadog integration's span (named after what it calls) fails for its parent's service.
        let service = |span: &'_ Span| -> Str {
            let owner = match span.parent_span_id.and_then(|p| by_id.get(&p)) {
                Some(parent) if super::is_datadog_client(span) => parent,
                _ => span,
            };
            service_of(owner).unwrap_or(&self.unknown_service).clone()
        };
        let failing_parents: FxHashSet<(SpanId, Str)> = spans
            .iter()
            .filter(semconv::is_error)
            .filter_map(|s| Some((s.parent_span_id?, service(s))))
            .collect();
        let causes: Vec<(&Span, Str)> = spans
            .iter()
            .skip(already)
            .filter(semconv::is_error)
            .map(|span| (span, service(span)))
            .filter(|(span, service)| !failing_parents.contains(&(span.span_id, service.clone())))
            .collect();
        for (span, service) in causes {
            self.record_error(id, span, service);
        }
    }

    fn record_error(&mut self, trace_id: TraceId, span: &Span, service: Str) {
        let exception = exception_event(span);
        let span_text = |key: &str| span.attribute(key).and_then(Value::as_str);
        let kind = exception_text(span, exception, "exception.type")
            .or_else(|| span_text("error.type"))
            .map(str::to_owned)
            .or_else(|| semconv::http_status(span).map(|code| format!("HTTP {code}")))
            .unwrap_or_else(|| "error".to_owned());
        let message = exception_text(span, exception, "exception.message")
            .or(span.status.message.as_deref())
            .unwrap_or("");
        let message = truncate(message);
        let stack = exception_text(span, exception, "exception.stacktrace");
        let (file, line) = error_location(span).unwrap_or_default();
        let key = (
            service.clone(),
            kind.clone(),
            normalize::normalize_message(&message),
            file.clone(),
            line,
        );
        if !self.errors.contains_key(&key) && self.errors.len() >= MAX_GROUPS {
            self.dropped_groups += 1;
            return;
        }
        let group = self.errors.entry(key).or_insert_with(|| ErrorGroup {
            service: service.to_string(),
            r#type: kind,
            message: message.clone(),
            file,
            line,
            count: 0,
            first_seen: span.end_ns,
            last_seen: span.end_ns,
            example_trace_id: trace_id.to_string(),
            example_span_id: span.span_id.to_string(),
            stack: String::new(),
            log_line: None,
        });
        group.count += 1;
        group.first_seen = group.first_seen.min(span.end_ns);
        if span.end_ns >= group.last_seen {
            group.last_seen = span.end_ns;
            group.message = message;
            group.example_trace_id = trace_id.to_string();
            group.example_span_id = span.span_id.to_string();
            group.stack = truncate(stack.unwrap_or(""));
        }
    }
}

/// `text` cut to at most [`MAX_TEXT`] bytes, on a character boundary.
fn truncate(text: &str) -> String {
    if text.len() <= MAX_TEXT {
        return text.to_owned();
    }
    let mut end = MAX_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::KeyValue;
    use crate::testing::{self, Build as _};

    fn attributes(pairs: &[(&str, Value)]) -> Vec<KeyValue> {
        pairs
            .iter()
            .map(|(key, value)| testing::kv(key, value.clone()))
            .collect()
    }

    /// `error_location` of a span with `on_span` attributes and, when `on_event` is not empty, an exception
    /// event with those.
    fn check(on_span: &[(&str, Value)], on_event: &[(&str, Value)], want: Option<(&str, u32)>) {
        let mut span = on_span
            .iter()
            .fold(testing::span(1, 1), |span, (key, value)| {
                span.attr(key, value.clone())
            });
        if !on_event.is_empty() {
            span = span.event("exception", 1, attributes(on_event));
        }
        let got = error_location(&span);
        let want = want.map(|(file, line)| (file.to_owned(), line));
        assert_eq!(got, want, "span {on_span:?}, event {on_event:?}");
    }

    fn s(text: &str) -> Value {
        Value::Str(Str::from(text))
    }

    const STACK: &str = "   0: std::panicking::begin_panic\n             at /rustc/abc/library/std/src/panicking.rs:12:5\n   1: shop::layout::banner\n             at ./services/storefront/src/layout.rs:42:9";

    #[test]
    fn error_location_table() {
        let line = |n| Value::Int(n);
        check(&[], &[], None);
        check(&[("exception.stacktrace", s("no frames"))], &[], None);
        check(
            &[
                ("code.file.path", s("src/a.rs")),
                ("code.line.number", line(7)),
            ],
            &[],
            Some(("src/a.rs", 7)),
        );
        check(
            &[("code.filepath", s("src/a.py")), ("code.lineno", line(8))],
            &[],
            Some(("src/a.py", 8)),
        );
        // The event's location, then the span's file with the event's line; a file without a line is line 0.
        check(
            &[],
            &[
                ("code.file.path", s("src/e.rs")),
                ("code.line.number", line(9)),
            ],
            Some(("src/e.rs", 9)),
        );
        check(
            &[("code.file.path", s("src/a.rs"))],
            &[
                ("code.file.path", s("src/e.rs")),
                ("code.line.number", line(9)),
            ],
            Some(("src/a.rs", 9)),
        );
        check(
            &[("code.filepath", s("src/a.rs"))],
            &[],
            Some(("src/a.rs", 0)),
        );
        check(
            &[
                ("code.file.path", s("src/a.rs")),
                ("code.line.number", line(-1)),
            ],
            &[],
            Some(("src/a.rs", 0)),
        );
        // Without a file, the first project frame of the stack, from the event or else the span.
        check(
            &[],
            &[("exception.stacktrace", s(STACK))],
            Some(("services/storefront/src/layout.rs", 42)),
        );
        check(
            &[
                ("exception.stacktrace", s(STACK)),
                ("code.line.number", line(3)),
            ],
            &[],
            Some(("services/storefront/src/layout.rs", 42)),
        );
    }

    /// A Datadog integration's span is named after what it calls (`sqlite`): its failure is its caller's, one
    /// group under the caller's service, not a second one under the database's name.
    #[test]
    fn a_failing_datadog_integration_span_is_grouped_under_its_callers_service() {
        use crate::model::{Scope, SpanKind};
        let datadog = std::sync::Arc::new(Scope {
            name: "datadog".into(),
            version: None,
        });
        let mut web = testing::span(9, 1)
            .service("dd-shop")
            .kind(SpanKind::Server)
            .attr("http.response.status_code", Value::Int(500))
            .failed("boom");
        web.scope = datadog.clone();
        let mut query = testing::span(9, 2)
            .parent(1)
            .service("sqlite")
            .kind(SpanKind::Client)
            .text("db.system.name", "sqlite")
            .event(
                "exception",
                0,
                vec![
                    testing::text("exception.type", "sqlite3.OperationalError"),
                    testing::text("exception.message", "no such table: item"),
                ],
            )
            .failed("no such table: item");
        query.scope = datadog;
        let analysis = super::super::Analysis::default();
        let store = crate::store::Store::new(100);
        let spans = vec![web, query];
        analysis.observe(&spans);
        store.insert(spans);
        analysis.flush(&store);
        let groups = analysis.errors();
        assert_eq!(groups.len(), 1, "{groups:#?}");
        assert_eq!(groups[0].service, "dd-shop");
        assert_eq!(groups[0].r#type, "sqlite3.OperationalError");
    }
}
