//! Datadog's browser intake format read into [`Event`]s: a body of newline-delimited event JSON, each line
//! checked on its own so a malformed line is refused without losing the rest of the batch.

use serde::Deserialize;

use super::{Detail, Event, Kind, View};

/// Longest text kept of a field (urls, messages, names); past it the text is cut, ending in `…`.
pub const MAX_TEXT: usize = 2048;
/// Longest stack kept.
pub const MAX_STACK: usize = 8192;

/// One line's outcome.
#[derive(Debug)]
pub enum Line {
    Event(Box<Event>),
    /// A well-formed event of a type the collector does not keep (`vital`, `telemetry`, …).
    Ignored,
    /// A line refused: the reason it is counted under and what was wrong.
    Rejected(&'static str, String),
}

/// A body's lines, blank ones skipped.
pub fn lines(body: &[u8]) -> impl Iterator<Item = Line> + '_ {
    raw_lines(body).map(line)
}

/// A body's lines as bytes, blank ones skipped.
pub fn raw_lines(body: &[u8]) -> impl Iterator<Item = &[u8]> + '_ {
    body.split(|b| *b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
}

/// Reads one line.
pub fn read_line(bytes: &[u8]) -> Line {
    line(bytes)
}

#[derive(Deserialize)]
struct Raw {
    #[serde(rename = "type")]
    kind: Option<String>,
    date: Option<f64>,
    service: Option<String>,
    version: Option<String>,
    session: Option<Id>,
    view: Option<RawView>,
    action: Option<RawAction>,
    resource: Option<RawResource>,
    error: Option<RawError>,
    long_task: Option<RawLongTask>,
    #[serde(rename = "_dd")]
    dd: Option<RawDd>,
}

#[derive(Deserialize)]
struct Id {
    id: Option<String>,
}

#[derive(Deserialize)]
struct RawView {
    id: Option<String>,
    url: Option<String>,
    loading_time: Option<f64>,
    time_spent: Option<f64>,
    largest_contentful_paint: Option<f64>,
    interaction_to_next_paint: Option<f64>,
    cumulative_layout_shift: Option<f64>,
}

#[derive(Deserialize)]
struct RawAction {
    #[serde(rename = "type")]
    kind: Option<String>,
    target: Option<Target>,
    loading_time: Option<f64>,
}

#[derive(Deserialize)]
struct Target {
    name: Option<String>,
}

#[derive(Deserialize)]
struct RawResource {
    #[serde(rename = "type")]
    kind: Option<String>,
    method: Option<String>,
    url: Option<String>,
    status_code: Option<f64>,
    duration: Option<f64>,
}

#[derive(Deserialize)]
struct RawError {
    source: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    message: Option<String>,
    stack: Option<String>,
}

#[derive(Deserialize)]
struct RawLongTask {
    duration: Option<f64>,
}

#[derive(Deserialize)]
struct RawDd {
    document_version: Option<f64>,
    trace_id: Option<String>,
}

/// `text` cut to at most `max` bytes (on a character boundary), ending in `…` when cut.
fn cut(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max.saturating_sub('…'.len_utf8());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

fn text(value: Option<String>) -> String {
    cut(value.unwrap_or_default(), MAX_TEXT)
}

/// A duration in nanoseconds (the SDK's unit) as milliseconds, when it is a sane one.
fn ns_to_ms(value: Option<f64>) -> Option<f64> {
    value
        .filter(|v| v.is_finite() && *v >= 0.0)
        .map(|v| v / 1e6)
}

/// The trace id's low 64 bits, as the SDK sends them (decimal).
pub fn trace_low(text: &str) -> Option<u64> {
    let text = text.trim();
    if text.is_empty() || text.len() > 39 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u128>().ok().map(|id| id as u64)
}

fn line(bytes: &[u8]) -> Line {
    let raw: Raw = match serde_json::from_slice(bytes) {
        Ok(raw) => raw,
        Err(err) => return Line::Rejected("malformed_json", format!("not an event: {err}")),
    };
    let Some(kind) = raw.kind else {
        return Line::Rejected("missing_field", "an event needs a string `type`".into());
    };
    let kind = match kind.as_str() {
        "view" => Kind::View,
        "action" => Kind::Action,
        "resource" => Kind::Resource,
        "error" => Kind::Error,
        "long_task" => Kind::LongTask,
        _ => return Line::Ignored,
    };
    let date_ms = match raw.date {
        Some(date) if date.is_finite() && date > 0.0 && date < 1e14 => date,
        _ => {
            return Line::Rejected(
                "missing_field",
                "an event needs `date`, unix milliseconds".into(),
            );
        }
    };
    let session = raw.session.and_then(|s| s.id).unwrap_or_default();
    let view = raw.view;
    let view_id = view.as_ref().and_then(|v| v.id.clone()).unwrap_or_default();
    if session.is_empty() || view_id.is_empty() {
        return Line::Rejected(
            "missing_field",
            "an event needs `session.id` and `view.id`".into(),
        );
    }
    let view_url = text(view.as_ref().and_then(|v| v.url.clone()));
    let trace_low = raw
        .dd
        .as_ref()
        .and_then(|dd| dd.trace_id.as_deref())
        .and_then(trace_low);
    let detail = match kind {
        Kind::View => {
            let view = view.expect("checked above");
            Detail::View(View {
                document_version: raw
                    .dd
                    .as_ref()
                    .and_then(|dd| dd.document_version)
                    .filter(|v| v.is_finite() && *v >= 0.0)
                    .map_or(0, |v| v as u64),
                load_ms: ns_to_ms(view.loading_time),
                time_spent_ms: ns_to_ms(view.time_spent),
                lcp_ms: ns_to_ms(view.largest_contentful_paint),
                inp_ms: ns_to_ms(view.interaction_to_next_paint),
                cls: view
                    .cumulative_layout_shift
                    .filter(|v| v.is_finite() && *v >= 0.0),
            })
        }
        Kind::Action => {
            let Some(action) = raw.action else {
                return Line::Rejected("missing_field", "an action needs `action`".into());
            };
            Detail::Action {
                kind: text(action.kind),
                target: text(action.target.and_then(|t| t.name)),
                duration_ms: ns_to_ms(action.loading_time),
            }
        }
        Kind::Resource => {
            let Some(resource) = raw.resource else {
                return Line::Rejected("missing_field", "a resource needs `resource`".into());
            };
            Detail::Resource {
                kind: text(resource.kind),
                method: text(resource.method),
                url: text(resource.url),
                status: resource
                    .status_code
                    .filter(|s| (1.0..1000.0).contains(s))
                    .map(|s| s as u16),
                duration_ms: ns_to_ms(resource.duration),
                trace_low,
            }
        }
        Kind::Error => {
            let Some(error) = raw.error else {
                return Line::Rejected("missing_field", "an error needs `error`".into());
            };
            Detail::Error {
                source: text(error.source),
                kind: text(error.kind),
                message: text(error.message),
                stack: error.stack.map(|stack| cut(stack, MAX_STACK)),
            }
        }
        Kind::LongTask => Detail::LongTask {
            duration_ms: ns_to_ms(raw.long_task.and_then(|t| t.duration)),
        },
    };
    Line::Event(Box::new(Event {
        date_ns: (date_ms * 1e6) as u64,
        session: cut(session, 128),
        view_id: cut(view_id, 128),
        view_url,
        service: cut(raw.service.unwrap_or_default(), 256),
        version: cut(raw.version.unwrap_or_default(), 128),
        detail,
    }))
}

/// Where an error was raised in the served script: the path, line and column of the stack's first frame
/// with a location. Reads Datadog's form (`at fn @ http://host/app.js:7:13`) and V8's (`at fn
/// (http://host/app.js:7:13)`, `at http://host/app.js:7:13`).
pub fn location(stack: &str) -> Option<(String, u32, Option<u32>)> {
    stack
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("at "))
        .find_map(frame)
}

fn frame(line: &str) -> Option<(String, u32, Option<u32>)> {
    let line = line.trim().strip_prefix("at ")?;
    let place = match line.rsplit_once(" @ ") {
        Some((_, place)) => place,
        None => match line.rfind('(') {
            Some(open) => line[open + 1..].trim_end_matches(')'),
            None => line,
        },
    }
    .trim();
    // `url:line:column` or `url:line`.
    let (rest, last) = place.rsplit_once(':')?;
    let last: u32 = last.parse().ok()?;
    let (url, line, column) = match rest.rsplit_once(':') {
        Some((url, line)) if line.bytes().all(|b| b.is_ascii_digit()) && !line.is_empty() => {
            (url, line.parse().ok()?, Some(last))
        }
        _ => (rest, last, None),
    };
    Some((path_of(url), line, column))
}

/// A URL's path (the script as served, on any host), or the text itself when it is not a URL.
pub fn path_of(url: &str) -> String {
    let rest = match url.split_once("://") {
        Some((_, rest)) => match rest.find('/') {
            Some(slash) => &rest[slash..],
            None => "/",
        },
        None => url,
    };
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    rest[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_locations_in_every_form_the_sdk_and_v8_write() {
        let check = |stack: &str, want: Option<(&str, u32, Option<u32>)>| {
            assert_eq!(
                location(stack),
                want.map(|(f, l, c)| (f.to_owned(), l, c)),
                "{stack}"
            );
        };
        check(
            "TypeError: x is null\n  at updateBadge @ http://127.0.0.1:3000/assets/storefront.js:12:7\n  at http://a/b.js:1:1",
            Some(("/assets/storefront.js", 12, Some(7))),
        );
        check(
            "TypeError: x\n    at updateBadge (http://localhost:3000/assets/storefront.js?v=2:9:3)",
            Some(("/assets/storefront.js", 9, Some(3))),
        );
        check(
            "Error\n    at http://h/app.js:4:1",
            Some(("/app.js", 4, Some(1))),
        );
        check("Error: no frames at all", None);
        check("Error\n  at <anonymous>", None);
        check("Error\n  at f @ http://h/x.js:notanumber", None);
    }

    #[test]
    fn texts_are_cut_on_a_character_boundary() {
        let cut = cut("é".repeat(2000), 101);
        assert!(cut.len() <= 101 && cut.ends_with('…'), "{}", cut.len());
    }

    #[test]
    fn trace_ids_are_read_as_decimal() {
        assert_eq!(trace_low("1234567890123456"), Some(1_234_567_890_123_456));
        assert_eq!(trace_low(&(u128::from(u64::MAX) + 5).to_string()), Some(4));
        assert_eq!(trace_low("abc"), None);
        assert_eq!(trace_low(""), None);
    }
}
