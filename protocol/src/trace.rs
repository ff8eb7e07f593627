//! Traces as the query API shows them: a line of a search, and a whole trace with what a trace viewer draws
//! from it already worked out by the collector (the tree, errors, repeated calls, parsed stacks, self times,
//! the critical path), so no reader derives them again.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One line of a trace search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceSummary {
    pub trace_id: String,
    /// The root span's service and name; empty while the root has not arrived.
    pub root_service: String,
    pub root_name: String,
    pub start_unix_nano: u64,
    pub duration_ms: f64,
    pub spans: usize,
    pub error: bool,
}

/// A whole trace.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TraceView {
    pub trace_id: String,
    pub start_unix_nano: u64,
    pub duration_ms: f64,
    /// In arrival order; indexes into this list are what [`SpanView::parent`] and [`RepeatGroup::members`]
    /// hold.
    pub spans: Vec<SpanView>,
    /// The span ids of the chain the trace waited on, root first (each span before the calls it waited on):
    /// every span the walk passed, whatever time it holds; [`SpanView::critical`] marks those that bound the
    /// trace and [`SpanView::critical_ms`] says what each holds.
    pub critical_path: Vec<String>,
    /// Sibling spans repeating one call (an N+1 is one), in the order of their first span's start.
    pub repeat_groups: Vec<RepeatGroup>,
    /// Where the trace's time went, by service: each service's spans' self times added up, most first.
    #[serde(default)]
    pub services: Vec<ServiceTime>,
}

/// One service's part of a trace's time.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceTime {
    pub service: String,
    /// Its spans' self times added up.
    pub self_ms: f64,
    /// Its spans.
    pub spans: usize,
}

/// A span as the API shows it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SpanView {
    pub span_id: String,
    /// Empty for a root.
    pub parent_span_id: String,
    pub service: String,
    pub name: String,
    /// `server`, `client`, `internal`, `producer`, `consumer` or `unspecified`.
    pub kind: String,
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
    pub duration_ms: f64,
    /// Its duration less the time its children cover.
    pub self_ms: f64,
    /// `unset`, `ok` or `error`.
    pub status: String,
    pub status_message: String,
    pub attributes: BTreeMap<String, serde_json::Value>,
    pub events: Vec<EventView>,
    /// Its parent's index in [`TraceView::spans`]; `None` for a root, a span whose parent has not arrived, and
    /// a span whose ancestors lead back to it (the loop is cut there), so every span reaches a root.
    pub parent: Option<usize>,
    /// Steps from its root (a root is at 0).
    pub depth: usize,
    /// Whether it failed, by the rule the error analyses use.
    pub error: bool,
    /// Whether it bounds the trace's duration: on the critical path, holding at least 1 % of the trace.
    pub critical: bool,
    /// The time of the trace it holds on the critical path: what the trace waited on this span for, itself
    /// (not its calls); 0 off the path.
    #[serde(default)]
    pub critical_ms: f64,
    /// Its database statement as N+1 findings name it (normalised), empty for other spans.
    pub statement: String,
    /// The group of repeated sibling calls it belongs to: an index into [`TraceView::repeat_groups`].
    pub repeat_group: Option<usize>,
    /// Its `exception` events, with their stacks parsed.
    pub exceptions: Vec<ExceptionView>,
    /// Where its error was raised, as its error group names it; for failed spans only, when known.
    pub location: Option<CodeLocation>,
    /// Attributes (its own, its events' and links'), events and links it had that it no longer carries: left
    /// out by its sender's span limits or the collector's, as OTLP's `dropped_*_count` fields say.
    #[serde(default)]
    pub dropped: Dropped,
}

/// Counts of what a span no longer carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dropped {
    pub attributes: u32,
    pub events: u32,
    pub links: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventView {
    pub name: String,
    pub time_unix_nano: u64,
    pub attributes: BTreeMap<String, serde_json::Value>,
}

/// Siblings (spans of one parent, or roots) repeating one call: the same statement, or the same name.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RepeatGroup {
    /// The spans' name (`SELECT discount_type`).
    pub name: String,
    /// The statement as the first span sent it, empty when the spans are not database calls.
    pub statement: String,
    /// The statement normalised, as N+1 findings name it; empty when the spans are not database calls.
    pub query: String,
    /// The parent's index in [`TraceView::spans`], `None` for roots.
    pub parent: Option<usize>,
    /// Its spans' indexes, in start order.
    pub members: Vec<usize>,
    /// Their durations added up.
    pub total_ms: f64,
    /// The line that makes the calls (the loop), as the first span's `code.file.path` and `code.line.number`
    /// say; `None` when they do not.
    #[serde(default)]
    pub location: Option<CodeLocation>,
}

/// An exception a span recorded.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ExceptionView {
    pub r#type: String,
    pub message: String,
    /// Its stack, the project's own frames first, innermost call first within each part.
    pub frames: Vec<Frame>,
}

/// One frame of a stack trace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame {
    pub function: String,
    /// `file:line`, as the stack wrote it (or as the project's relative path, for the project's own frames).
    pub location: String,
    /// Whether it is the project's own code, not a library's or the runtime's.
    pub project: bool,
}

/// A place in the code.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeLocation {
    pub file: String,
    /// 0 when unknown.
    pub line: u32,
}

/// A trace id as a person pastes it: 32 hexadecimal digits (OpenTelemetry, W3C, this collector); 16 (a 64-bit
/// id, kept with zeros in front); or decimal, as Datadog's logs and UI show its ids (the low 64 bits of a
/// 128-bit id, or all of it). Any other text is `None`. A 16- or 32-digit number is read as hexadecimal, the
/// form the collector itself writes.
pub fn parse_trace_id(text: &str) -> Option<u128> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if matches!(text.len(), 16 | 32) && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return u128::from_str_radix(text, 16).ok();
    }
    if text.len() <= 39 && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok();
    }
    None
}

#[cfg(test)]
mod trace_id_tests {
    use super::parse_trace_id;

    #[test]
    fn trace_ids_are_read_in_every_form_a_person_pastes() {
        let full = 0x6b14_d25d_0000_0000_d417_9780_7235_5f68_u128;
        assert_eq!(
            parse_trace_id("6b14d25d00000000d417978072355f68"),
            Some(full)
        );
        assert_eq!(
            parse_trace_id(" 6B14D25D00000000D417978072355F68 "),
            Some(full)
        );
        assert_eq!(
            parse_trace_id("d417978072355f68"),
            Some(0xd417_9780_7235_5f68)
        );
        // Datadog shows the low 64 bits in decimal.
        assert_eq!(
            parse_trace_id("15282850438432776040"),
            Some(0xd417_9780_7235_5f68)
        );
        assert_eq!(parse_trace_id("42"), Some(42));
        assert_eq!(parse_trace_id(&u128::MAX.to_string()), Some(u128::MAX));
        for bad in [
            "",
            "xyz",
            "6b14d25d",
            "1234567890123456789012345678901234567890",
            "-1",
            "12 34",
        ] {
            assert_eq!(parse_trace_id(bad), None, "{bad:?}");
        }
    }
}
