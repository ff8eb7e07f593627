//! The trace screen's details pane: the lines that show the selected span or group of repeated calls.

use protocol::LogView;
use ratatui::style::Style;
use ratatui::text::{Line, Span};

use super::rows::Item;
use super::source::Source;
use super::{TraceScreen, safe};
use crate::fmt;
use crate::theme::Theme;

/// What the details show of an error: its exceptions, and the source where it was raised.
#[derive(Debug)]
pub(super) struct Failure {
    pub(super) exceptions: Vec<Exception>,
    pub(super) source: Option<Source>,
}

#[derive(Debug)]
pub(super) struct Exception {
    pub(super) kind: String,
    pub(super) message: String,
    /// The project's own frames first, innermost call first within each part.
    pub(super) frames: Vec<Frame>,
}

#[derive(Debug)]
pub(super) struct Frame {
    pub(super) function: String,
    pub(super) location: String,
    pub(super) project: bool,
}

/// A JSON attribute value as one line of text: strings bare, the rest as JSON.
fn value_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => safe(s),
        other => safe(&other.to_string()),
    }
}

/// `SELECT a, b FROM t WHERE …` as `SELECT … FROM t WHERE …`: the table and the condition tell a repeated
/// statement apart, the column list rarely does.
pub(super) fn elide_columns(sql: &str) -> String {
    let bytes = sql.as_bytes();
    if bytes.len() < 7 || !bytes[..7].eq_ignore_ascii_case(b"SELECT ") {
        return sql.to_owned();
    }
    let mut depth = 0_i32;
    let mut i = 7;
    while i < bytes.len() {
        match bytes[i] {
            b'(' => depth += 1,
            b')' => depth -= 1,
            b' ' if depth == 0
                && bytes.len() >= i + 6
                && bytes[i + 1..i + 5].eq_ignore_ascii_case(b"FROM")
                && bytes[i + 5] == b' ' =>
            {
                if i == 7 {
                    return sql.to_owned();
                }
                return format!("SELECT … {}", &sql[i + 1..]);
            }
            _ => {}
        }
        i += 1;
    }
    sql.to_owned()
}

/// `text` in lines of at most `width` characters, broken after a space where there is one, at most
/// `max_lines` of them (the last ending in `…` when the text goes on).
pub(super) fn wrap(text: &str, width: usize, max_lines: usize) -> Vec<String> {
    if width == 0 || max_lines == 0 {
        return Vec::new();
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out: Vec<String> = Vec::new();
    let mut start = 0;
    while start < chars.len() && out.len() < max_lines {
        let mut end = (start + width).min(chars.len());
        if end < chars.len()
            && chars[end] != ' '
            && let Some(space) = chars[start..end].iter().rposition(|&c| c == ' ')
            && space > 0
        {
            end = start + space + 1;
        }
        out.push(
            chars[start..end]
                .iter()
                .collect::<String>()
                .trim_end()
                .to_owned(),
        );
        start = end;
        while start < chars.len() && chars[start] == ' ' {
            start += 1;
        }
    }
    if start < chars.len()
        && let Some(last) = out.last_mut()
    {
        let mut cut: String = last.chars().take(width - 1).collect();
        cut.push('…');
        *last = cut;
    }
    if out.is_empty() {
        out.push(String::new());
    }
    out
}

/// A signed offset in milliseconds: `+1.5 ms`, `-800 µs`.
fn offset(ns: i128) -> String {
    let sign = if ns < 0 { '-' } else { '+' };
    format!("{sign}{}", fmt::ms(ns.unsigned_abs() as f64 / 1e6))
}

impl TraceScreen {
    /// How far the details can scroll in the area the screen is drawn into: their lines less the pane's
    /// height.
    pub(super) fn detail_max(&self) -> usize {
        let areas = self.areas(self.viewport);
        if areas.details.is_empty() {
            return 0;
        }
        let (_, width) = Self::detail_text(&areas);
        let lines = self.detail_lines(width, &Theme::mono()).len();
        lines.saturating_sub(usize::from(areas.details.height))
    }

    pub(super) fn detail_lines(&self, width: usize, theme: &Theme) -> Vec<Line<'static>> {
        let mut out: Vec<Line<'static>> = Vec::new();
        if width == 0 {
            return out;
        }
        let text = |s: String| Line::raw(fmt::fit(&s, width));
        let styled = |s: String, style: Style| Line::styled(fmt::fit(&s, width), style);
        let Some(row) = self.selected_row() else {
            out.push(styled("This trace has no spans.".to_owned(), theme.dim()));
            return out;
        };
        match row.item {
            Item::Group(g) => {
                let group = &self.groups[g];
                let style = if group.lit {
                    theme.highlight()
                } else {
                    theme.header()
                };
                out.push(styled(
                    format!("×{} repeated calls", group.members.len()),
                    theme.warn(),
                ));
                for piece in wrap(&group.statement, width, 6) {
                    out.push(Line::styled(piece, style));
                }
                let under = group
                    .parent
                    .map(|p| format!(" · under {}", self.nodes[p].name))
                    .unwrap_or_default();
                out.push(Line::from(vec![
                    Span::styled(group.service.clone(), theme.service(&group.service)),
                    Span::raw(fmt::fit(
                        &under,
                        width.saturating_sub(group.service.chars().count()),
                    )),
                ]));
                let n = group.members.len().max(1) as f64;
                out.push(text(format!(
                    "{} in this trace · {} each · {} to {}",
                    fmt::ms(group.total_ms),
                    fmt::ms(group.total_ms / n),
                    offset(i128::from(group.start) + self.axis_shift()),
                    offset(i128::from(group.end) + self.axis_shift()),
                )));
                if group.critical_ms > 0.0 && self.duration_ms > 0.0 {
                    let line = format!(
                        "{} {} of the trace on its critical path ({:.1}%)",
                        if group.critical { "◆ hold" } else { "hold" },
                        fmt::ms(group.critical_ms),
                        group.critical_ms / self.duration_ms * 100.0
                    );
                    out.push(styled(line, theme.warn()));
                }
                if group.error {
                    out.push(styled(
                        "some of these calls failed".to_owned(),
                        theme.error(),
                    ));
                }
                out.push(styled("Enter or → unfolds them".to_owned(), theme.dim()));
                if let Some((file, line, source)) = &group.location {
                    let section = if *line > 0 {
                        format!("called from {file}:{line}")
                    } else {
                        format!("called from {file}")
                    };
                    out.push(Line::styled(fmt::fit(&section, width), theme.header()));
                    source_block(
                        source,
                        width,
                        (theme.dim(), theme.header()),
                        theme,
                        &mut out,
                    );
                }
                if !group.label.is_empty() && group.statement != group.short {
                    // A statement repeated once per row of an earlier one: an N+1.
                    out.push(Line::styled(fmt::fit("the fix", width), theme.header()));
                    for piece in wrap(N_PLUS_ONE_FIX, width, 5) {
                        out.push(Line::raw(piece));
                    }
                }
            }
            Item::Span(i) => self.span_lines(i, width, theme, &mut out),
        }
        out
    }

    /// Nanoseconds from the trace's own start to the axis start (spans may start before the trace says).
    fn axis_shift(&self) -> i128 {
        i128::from(self.axis_start) - i128::from(self.view.start_unix_nano)
    }

    fn span_lines(&self, i: usize, width: usize, theme: &Theme, out: &mut Vec<Line<'static>>) {
        let span = &self.view.spans[i];
        let node = &self.nodes[i];
        let text = |s: String| Line::raw(fmt::fit(&s, width));
        let styled = |s: String, style: Style| Line::styled(fmt::fit(&s, width), style);
        let section = |s: &str| Line::styled(fmt::fit(s, width), theme.header());

        out.push(Line::from(vec![
            Span::styled(fmt::fit(&node.service, width), theme.service(&node.service)),
            Span::styled(
                fmt::fit(
                    &format!(" {}", node.name),
                    width.saturating_sub(node.service.chars().count()),
                ),
                theme.header(),
            ),
        ]));
        let start = i128::from(span.start_unix_nano) - i128::from(self.view.start_unix_nano);
        let figures = format!(
            "{} · {} · self {} · at {}{}",
            safe(&span.kind),
            fmt::ms(span.duration_ms),
            fmt::ms(span.self_ms),
            offset(start),
            if node.critical_ms > 0.0 && self.duration_ms > 0.0 {
                format!(
                    " · {}critical path: holds {} ({:.1}% of the trace)",
                    if node.critical { "◆ " } else { "" },
                    fmt::ms(node.critical_ms),
                    node.critical_ms / self.duration_ms * 100.0
                )
            } else {
                String::new()
            },
        );
        out.extend(wrap(&figures, width, 2).into_iter().map(Line::raw));
        if let Some(g) = node.group {
            let group = &self.groups[g];
            let at = group.members.iter().position(|&m| m == i).unwrap_or(0) + 1;
            let style = if group.lit {
                theme.highlight()
            } else {
                theme.warn()
            };
            let line = format!(
                "repeat {at} of ×{}, {} in this trace · ← folds them",
                group.members.len(),
                fmt::ms(group.total_ms)
            );
            out.extend(
                wrap(&line, width, 2)
                    .into_iter()
                    .map(|l| Line::styled(l, style)),
            );
        }
        let status = safe(&span.status);
        if span.status == "error" {
            let message = safe(&span.status_message);
            // The exception below says it again: once is enough on a small screen.
            let repeated = node.failure.as_ref().is_some_and(|f| {
                f.exceptions
                    .iter()
                    .any(|e| !message.is_empty() && e.message == message)
            });
            let line = if message.is_empty() || repeated {
                "status error".to_owned()
            } else {
                format!("status error: {message}")
            };
            for piece in wrap(&line, width, 3) {
                out.push(Line::styled(piece, theme.error()));
            }
        } else {
            out.push(styled(format!("status {status}"), theme.dim()));
        }

        if let Some(failure) = &node.failure {
            // What failed, then where (the source line: what a student looks for, so it stays in view on a
            // small screen), then how it got there.
            for exception in &failure.exceptions {
                let head = match (exception.kind.is_empty(), exception.message.is_empty()) {
                    (false, false) => format!("{}: {}", exception.kind, exception.message),
                    (false, true) => exception.kind.clone(),
                    (true, false) => exception.message.clone(),
                    (true, true) => "exception".to_owned(),
                };
                for piece in wrap(&head, width, 4) {
                    out.push(Line::styled(piece, theme.error()));
                }
            }
            if let Some(source) = &failure.source {
                out.push(section(&format!("source {}:{}", source.path, source.line)));
                source_block(source, width, (theme.error(), theme.error()), theme, out);
            }
            // What the service logged about it, next to where it was raised.
            self.log_lines(&span.span_id, width, theme, out);
            for exception in &failure.exceptions {
                let own = exception.frames.iter().filter(|f| f.project).count();
                if own > 0 {
                    out.push(section(&format!("stack · {own} in the project")));
                    for frame in exception.frames.iter().filter(|f| f.project) {
                        frame_lines(frame, width, Style::new(), theme, out);
                    }
                }
            }
            for exception in &failure.exceptions {
                let library = exception.frames.iter().filter(|f| !f.project).count();
                if library > 0 {
                    out.push(styled(format!("library frames ({library})"), theme.dim()));
                    for frame in exception.frames.iter().filter(|f| !f.project) {
                        frame_lines(frame, width, theme.dim(), theme, out);
                    }
                }
            }
        }

        if node.failure.is_none() {
            self.log_lines(&span.span_id, width, theme, out);
        }

        if !span.attributes.is_empty() {
            out.push(section(&format!("attributes ({})", span.attributes.len())));
            for (key, value) in &span.attributes {
                let head = format!("  {} = ", safe(key));
                let head_len = head.chars().count();
                let value = value_text(value);
                if head_len + 8 > width {
                    out.push(Line::from(vec![
                        Span::styled(fmt::fit(&head, width), theme.dim()),
                        Span::raw(fmt::fit(&value, width.saturating_sub(head_len))),
                    ]));
                    continue;
                }
                // Long values wrap under themselves, four lines at most.
                for (k, piece) in wrap(&value, width - head_len, 4).into_iter().enumerate() {
                    let lead = if k == 0 {
                        Span::styled(head.clone(), theme.dim())
                    } else {
                        Span::raw(" ".repeat(head_len))
                    };
                    out.push(Line::from(vec![lead, Span::raw(piece)]));
                }
            }
        }
        let dropped = span.dropped;
        let left_out: Vec<String> = [
            (dropped.attributes, "attribute"),
            (dropped.events, "event"),
            (dropped.links, "link"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| fmt::counted(u64::from(*n), what))
        .collect();
        if !left_out.is_empty() {
            let line = format!("  left out by span limits: {}", left_out.join(", "));
            out.push(Line::from(Span::styled(
                fmt::fit(&line, width),
                theme.dim(),
            )));
        }
        if !span.events.is_empty() {
            out.push(section(&format!("events ({})", span.events.len())));
            for event in &span.events {
                let at = i128::from(event.time_unix_nano) - i128::from(self.view.start_unix_nano);
                let mut line = format!("  {} {}", offset(at), safe(&event.name));
                if event.name == "exception"
                    && let Some(kind) = event.attributes.get("exception.type")
                {
                    line.push(' ');
                    line.push_str(&value_text(kind));
                    out.push(text(line));
                    continue;
                }
                out.push(text(line));
                for (key, value) in &event.attributes {
                    out.push(text(format!("      {} = {}", safe(key), value_text(value))));
                }
            }
        }
    }
}

impl TraceScreen {
    /// The selected span's log records (or, after `L`, the whole trace's, the span's marked), each at its time
    /// on the trace's axis with its severity.
    fn log_lines(&self, span_id: &str, width: usize, theme: &Theme, out: &mut Vec<Line<'static>>) {
        let own = self
            .logs
            .iter()
            .filter(|log| log.span_id == span_id)
            .count();
        // A span that wrote nothing still shows what went wrong in its trace (a request logs the error its
        // child span raised).
        let loud = |log: &&LogView| log.severity_number >= 13;
        let (shown, title): (Vec<&LogView>, String) = match (self.all_logs, self.logs.len()) {
            (_, 0) => return,
            (true, all) => (
                self.logs.iter().collect(),
                format!("the trace's logs ({all}; › this span's) · L: this span's"),
            ),
            (false, all) if own > 0 => (
                self.logs
                    .iter()
                    .filter(|log| log.span_id == span_id)
                    .collect(),
                format!("logs ({own}) · L: the trace's {all}"),
            ),
            (false, all) => {
                let warnings: Vec<&LogView> = self.logs.iter().filter(loud).collect();
                if warnings.is_empty() {
                    out.push(Line::styled(
                        fmt::fit(
                            &format!("logs: none in this span · L: the trace's {all}"),
                            width,
                        ),
                        theme.dim(),
                    ));
                    return;
                }
                let title = format!(
                    "logs: none in this span; the trace's warnings and errors ({}) · L: all {all}",
                    warnings.len()
                );
                (warnings, title)
            }
        };
        out.push(Line::styled(fmt::fit(&title, width), theme.header()));
        for log in shown {
            let at = i128::from(log.time_unix_nano) - i128::from(self.view.start_unix_nano);
            let style = theme.severity(log.severity_number);
            let mark = if self.all_logs && log.span_id == span_id {
                '›'
            } else {
                ' '
            };
            let head = format!("{mark} {} {:<5} ", offset(at), safe(&log.severity));
            let room = width.saturating_sub(head.chars().count());
            let mut pieces = wrap(&safe(&log.body), room.max(10), 3).into_iter();
            out.push(Line::from(vec![
                Span::styled(head.clone(), style),
                Span::raw(pieces.next().unwrap_or_default()),
            ]));
            let indent = " ".repeat(head.chars().count());
            for piece in pieces {
                out.push(Line::raw(format!("{indent}{piece}")));
            }
        }
    }
}

/// One stack frame: the function and where it is on one line when both fit, else on two.
fn frame_lines(
    frame: &Frame,
    width: usize,
    style: Style,
    theme: &Theme,
    out: &mut Vec<Line<'static>>,
) {
    let function = format!("  {}", frame.function);
    let location = frame.location.as_str();
    let one = function.chars().count() + 2 + location.chars().count();
    if frame.function.is_empty() || location.is_empty() || one <= width {
        let rest = width.saturating_sub(function.chars().count());
        out.push(Line::from(vec![
            Span::styled(fmt::fit(&function, width), style),
            Span::styled(fmt::fit(&format!("  {location}"), rest), theme.dim()),
        ]));
    } else {
        out.push(Line::styled(fmt::fit(&function, width), style));
        out.push(Line::styled(
            fmt::fit(&format!("      at {location}"), width),
            theme.dim(),
        ));
    }
}

/// What to do about a statement run once per row of an earlier one, as an N+1 finding explains it.
pub(crate) const N_PLUS_ONE_FIX: &str = "The loop runs this statement once per row of the query before it. \
    Load what it needs with that query instead: one statement with a JOIN (eager loading, in an ORM), or one \
    batched statement per table with WHERE id IN (…) over the ids collected first.";

/// The source lines around `source.line`, that line marked, or why they are not shown.
/// `(prefix, code)` are the styles of the marked line's number and code (the others' numbers are dim).
fn source_block(
    source: &Source,
    width: usize,
    (here_prefix, here_code): (Style, Style),
    theme: &Theme,
    out: &mut Vec<Line<'static>>,
) {
    match &source.lines {
        Ok(lines) => {
            let digits = lines.last().map_or(1, |(n, _)| n.to_string().len());
            for (number, code) in lines {
                let here = *number == source.line;
                let prefix = format!("{} {number:>digits$} │ ", if here { '>' } else { ' ' });
                let style = if here { here_code } else { Style::new() };
                out.push(Line::from(vec![
                    Span::styled(prefix.clone(), if here { here_prefix } else { theme.dim() }),
                    Span::styled(
                        fmt::fit(code, width.saturating_sub(prefix.chars().count())),
                        style,
                    ),
                ]));
            }
        }
        Err(why) => out.extend(
            wrap(why, width, 5)
                .into_iter()
                .map(|l| Line::styled(l, theme.dim())),
        ),
    }
}
