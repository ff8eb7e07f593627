//! Recording an error on a span as the semantic conventions say ([`record_error`]), with the stack it was
//! raised from.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::panic::Location;
use std::path::Path;

use opentelemetry::KeyValue;
use opentelemetry::trace::Status;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// Records an error on `span` the way the semantic conventions say: an `exception` event with its type,
/// message and stack trace (frames as repo-relative `file:line`), `code.file.path` and `code.line.number`
/// where it was raised (unless the span declares them as fields: their values stand), `error.type`, and an
/// error status. Does nothing, and captures no stack, when the service makes no spans.
pub fn record_error(
    span: &tracing::Span,
    kind: &'static str,
    message: &str,
    location: &'static Location<'static>,
) {
    if span.is_disabled() {
        return;
    }
    span.add_event(
        "exception",
        vec![
            KeyValue::new("exception.type", kind),
            KeyValue::new("exception.message", message.to_owned()),
            KeyValue::new("exception.stacktrace", stacktrace()),
        ],
    );
    // Spans that say where they run declare these fields (a query's calling line, the banner's caller), and
    // tracing-opentelemetry would add a second attribute of the same key: they keep their own.
    let declares = |key: &str| {
        span.metadata()
            .is_some_and(|metadata| metadata.fields().field(key).is_some())
    };
    if !declares("code.file.path") {
        span.set_attribute("code.file.path", location.file());
    }
    if !declares("code.line.number") {
        span.set_attribute("code.line.number", i64::from(location.line()));
    }
    span.set_attribute("error.type", kind);
    span.set_status(Status::error(message.to_owned()));
}

/// Most frames a recorded stack trace keeps.
const MAX_FRAMES: usize = 48;

/// The stack of the caller of [`record_error`], one `N: function` line and one `at file:line:column` line a
/// frame, as Rust prints backtraces; files under the workspace are given relative to it.
pub(super) fn stacktrace() -> String {
    let root = workspace_root();
    let trace = backtrace::Backtrace::new();
    let mut out = String::new();
    let mut frames = 0;
    let mut started = false;
    for symbol in trace.frames().iter().flat_map(|frame| frame.symbols()) {
        let name = symbol.name().map_or(Cow::Borrowed("<unknown>"), |name| {
            Cow::Owned(format!("{name:#}"))
        });
        if !started {
            // Leave out the capture itself: the backtrace crate and this module (the telemetry folder).
            let here = symbol.filename().is_some_and(|file| {
                file.parent()
                    .is_some_and(|dir| dir.ends_with("services/runtime/src/telemetry"))
            });
            if name.starts_with("backtrace::") || here {
                continue;
            }
            started = true;
        }
        if frames == MAX_FRAMES {
            let _ = writeln!(out, "      …");
            break;
        }
        let _ = writeln!(out, "{frames:>4}: {name}");
        if let (Some(file), Some(line)) = (symbol.filename(), symbol.lineno()) {
            let file = root
                .and_then(|root| file.strip_prefix(root).ok())
                .unwrap_or(file);
            let _ = match symbol.colno() {
                Some(column) => writeln!(out, "             at {}:{line}:{column}", file.display()),
                None => writeln!(out, "             at {}:{line}", file.display()),
            };
        }
        frames += 1;
    }
    out
}

/// The workspace this crate was built in (`services/runtime` is two levels below it).
fn workspace_root() -> Option<&'static Path> {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent()?.parent()
}
