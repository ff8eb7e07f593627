//! The Logs tab's state and keys: the log records the collector holds, newest first, as a live tail; a
//! filter line (`/`: `service:NAME severity:warn words`), `e` for errors only, `v` to raise the lowest
//! severity shown, and Enter to open the trace a record was written in, on its span.

use protocol::LogView;
use protocol::query::{LogSearch, severity_name, severity_number};
use ratatui::crossterm::event::{KeyCode, KeyEvent};

use super::filter::words;
use super::{Action, App, FilterInput, Tab};
use crate::trace::Focus;

/// Records the Logs tab lists: the newest that match its filter.
pub const LOG_LIMIT: usize = 200;

/// The Logs tab's own state.
#[derive(Clone, Debug, PartialEq)]
pub struct LogsState {
    /// The row selected; the top row (the newest record) follows the tail as records arrive.
    pub selected: usize,
    /// What the tab searches for: a service, the lowest severity, text. No trace id: a trace's records are
    /// the trace screen's (`L`).
    pub filter: LogSearch,
    /// The filter line, while it is being typed.
    pub input: Option<FilterInput>,
}

impl Default for LogsState {
    fn default() -> LogsState {
        LogsState {
            selected: 0,
            filter: default_log_filter(),
            input: None,
        }
    }
}

/// The tab's search before any filter is typed: the newest [`LOG_LIMIT`] records of every service.
pub fn default_log_filter() -> LogSearch {
    LogSearch {
        limit: LOG_LIMIT,
        ..LogSearch::default()
    }
}

/// The lowest severities `v` steps through, then back to every record.
const SEVERITIES: [&str; 3] = ["INFO", "WARN", "ERROR"];

/// A record's identity across refreshes: the list reorders (new records come in on top), so the
/// selection follows the record, not the row.
pub(super) fn log_key(log: &LogView) -> String {
    format!(
        "{}\n{}\n{}\n{}",
        log.time_unix_nano, log.service, log.span_id, log.body
    )
}

/// The filter line that shows `filter`: the words `/` starts from.
pub fn log_filter_text(filter: &LogSearch) -> String {
    let mut words = Vec::new();
    if let Some(service) = &filter.service {
        words.push(format!("service:{service}"));
    }
    if let Some(severity) = &filter.severity {
        words.push(format!("severity:{}", severity.to_ascii_lowercase()));
    }
    if let Some(text) = &filter.text {
        words.push(text.clone());
    }
    words.join(" ")
}

/// What the Logs tab lists, in words.
pub fn describe_logs(filter: &LogSearch) -> String {
    let mut parts = Vec::new();
    if let Some(severity) = filter.severity.as_deref().and_then(severity_number) {
        parts.push(format!("{} or worse", severity_name(severity)));
    }
    if let Some(service) = &filter.service {
        parts.push(format!("from {service}"));
    }
    if let Some(text) = &filter.text {
        parts.push(format!("mentioning \"{text}\""));
    }
    match parts.is_empty() {
        true => "every record".to_owned(),
        false => format!("records {}", parts.join(", ")),
    }
}

/// Reads the Logs tab's filter line: `service:NAME`, `severity:LEVEL` (or `level:`; TRACE … FATAL, or a
/// number 1–24: that level or worse), `error` (ERROR or worse), and bare words, looked for in the body and
/// the attributes' values.
pub fn parse_log_filter(text: &str) -> Result<LogSearch, String> {
    let mut filter = default_log_filter();
    let mut text_words = Vec::new();
    for word in words(text)? {
        if let Some(service) = word.strip_prefix("service:") {
            filter.service = Some(service.to_owned());
        } else if let Some(level) =
            (word.strip_prefix("severity:")).or_else(|| word.strip_prefix("level:"))
        {
            let number = severity_number(level).ok_or_else(|| {
                format!("{word:?}: a severity is TRACE, DEBUG, INFO, WARN, ERROR, FATAL or 1-24")
            })?;
            filter.severity = Some(severity_name(number).to_owned());
        } else if word == "error" || word == "errors" {
            filter.severity = Some("ERROR".to_owned());
        } else if let Some(words) = word.strip_prefix("text:") {
            text_words.push(words.to_owned());
        } else if word.contains(':') && !word.starts_with('/') && !word.contains("://") {
            return Err(format!(
                "{word:?}: filters are service:NAME, severity:warn, error, text:WORDS (or bare words)"
            ));
        } else {
            text_words.push(word);
        }
    }
    if !text_words.is_empty() {
        filter.text = Some(text_words.join(" "));
    }
    Ok(filter)
}

impl App {
    /// The Logs tab's search within the window: as every other tab, it shows the window's records only.
    pub fn log_search(&self) -> LogSearch {
        let since = match self.window {
            protocol::Window::Last(ns) => Some(protocol::query::Since::Ago(ns)),
            protocol::Window::All => None,
        };
        LogSearch {
            since,
            ..self.logs_tab.filter.clone()
        }
    }

    /// Takes in a refresh's records: the selection stays on the newest when it was there (a tail), else on
    /// the record it was on, wherever that moved.
    pub(super) fn take_logs(&mut self, logs: Vec<LogView>) {
        let selected = (self.logs_tab.selected > 0)
            .then(|| self.logs.get(self.logs_tab.selected).map(log_key))
            .flatten();
        self.logs = logs;
        if let Some(key) = selected
            && let Some(at) = self.logs.iter().position(|log| log_key(log) == key)
        {
            self.logs_tab.selected = at;
        }
        self.logs_tab.selected = (self.logs_tab.selected).min(self.logs.len().saturating_sub(1));
    }

    /// Starts the list over for a new filter: the newest record selected when it comes.
    fn new_log_search(&mut self, filter: LogSearch) -> Option<Action> {
        self.logs_tab.filter = filter;
        self.logs_tab.selected = 0;
        self.logs.clear();
        self.refresh()
    }

    /// Enter on the Logs tab: the trace the record was written in, on its span.
    pub(super) fn logs_enter(&mut self) -> Option<Action> {
        let log = self.logs.get(self.logs_tab.selected)?;
        if log.trace_id.is_empty() {
            self.say(
                "this record was written outside any trace: no trace to open",
                true,
            );
            return None;
        }
        let focus = match log.span_id.is_empty() {
            true => Focus::None,
            false => Focus::Span(log.span_id.clone()),
        };
        let id = log.trace_id.clone();
        self.open_trace(id, focus)
    }

    /// Esc on the Logs tab: clears the filter.
    pub(super) fn logs_back(&mut self) -> Option<Action> {
        if self.logs_tab.filter == default_log_filter() {
            return None;
        }
        self.new_log_search(default_log_filter())
    }

    /// The Logs tab's own keys: `/` the filter line, `e` errors only (or every record again), `v` the next
    /// lowest severity.
    pub(super) fn logs_key(&mut self, key: KeyEvent) -> Option<Action> {
        if self.tab != Tab::Logs {
            return None;
        }
        let filter = &self.logs_tab.filter;
        match key.code {
            KeyCode::Char('/') => {
                self.logs_tab.input = Some(FilterInput {
                    text: log_filter_text(filter),
                    problem: None,
                });
                None
            }
            KeyCode::Char('e') => {
                let severity = match filter.severity.as_deref() {
                    Some("ERROR") => None,
                    _ => Some("ERROR".to_owned()),
                };
                self.new_log_search(LogSearch {
                    severity,
                    ..filter.clone()
                })
            }
            KeyCode::Char('v') => {
                let at = SEVERITIES
                    .iter()
                    .position(|s| filter.severity.as_deref() == Some(*s));
                let severity = match at {
                    None => Some(SEVERITIES[0]),
                    Some(at) => SEVERITIES.get(at + 1).copied(),
                };
                self.new_log_search(LogSearch {
                    severity: severity.map(str::to_owned),
                    ..filter.clone()
                })
            }
            _ => None,
        }
    }

    /// A key while the Logs tab's filter line is open.
    pub(super) fn log_filter_key(&mut self, key: KeyEvent) -> Option<Action> {
        let input = self.logs_tab.input.as_mut()?;
        match key.code {
            KeyCode::Esc => self.logs_tab.input = None,
            KeyCode::Enter => match parse_log_filter(&input.text) {
                Ok(filter) => {
                    self.logs_tab.input = None;
                    return self.new_log_search(filter);
                }
                Err(problem) => input.problem = Some(problem),
            },
            _ => input.edit(key),
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_line_reads_services_severities_and_words() {
        let filter = parse_log_filter("service:storefront severity:warning slow \"ads call\"")
            .expect("a good filter");
        assert_eq!(filter.service.as_deref(), Some("storefront"));
        assert_eq!(filter.severity.as_deref(), Some("WARN"));
        assert_eq!(filter.text.as_deref(), Some("slow ads call"));
        assert_eq!(
            log_filter_text(&filter),
            "service:storefront severity:warn slow ads call"
        );
        assert_eq!(
            describe_logs(&filter),
            "records WARN or worse, from storefront, mentioning \"slow ads call\""
        );
        let errors = parse_log_filter("errors").expect("a good filter");
        assert_eq!(errors.severity.as_deref(), Some("ERROR"));
        assert_eq!(parse_log_filter("").expect("empty"), default_log_filter());
        assert_eq!(describe_logs(&default_log_filter()), "every record");
    }

    fn record(at: u64, body: &str) -> LogView {
        LogView {
            time_unix_nano: at,
            service: "store-frontend".to_owned(),
            body: body.to_owned(),
            ..LogView::default()
        }
    }

    #[test]
    fn the_top_row_follows_the_tail_and_any_other_follows_its_record() {
        let mut app = App::new("test", true, crate::theme::Theme::mono());
        let [a, b, c, d] = [1, 2, 3, 4].map(|at| record(at, &format!("record {at}")));
        app.take_logs(vec![c.clone(), b.clone(), a.clone()]);
        assert_eq!(app.logs_tab.selected, 0);
        app.take_logs(vec![d.clone(), c.clone(), b.clone(), a.clone()]);
        assert_eq!(app.logs[app.logs_tab.selected], d, "the newest, as a tail");
        app.logs_tab.selected = 2;
        let e = record(5, "record 5");
        app.take_logs(vec![e, d, c, b.clone(), a]);
        assert_eq!(
            app.logs[app.logs_tab.selected], b,
            "the same record, moved down"
        );
        app.take_logs(vec![record(9, "only")]);
        assert_eq!(app.logs_tab.selected, 0, "kept inside the list");
    }

    #[test]
    fn a_bad_filter_says_what_is_wrong() {
        let problem = parse_log_filter("severity:loud").expect_err("no such severity");
        assert!(
            problem.contains("TRACE, DEBUG, INFO, WARN, ERROR, FATAL"),
            "{problem}"
        );
        let problem = parse_log_filter("endpoint:x").expect_err("not a log filter");
        assert!(problem.contains("service:NAME, severity:warn"), "{problem}");
        let problem = parse_log_filter("\"open").expect_err("an open quote");
        assert!(problem.contains("quote"), "{problem}");
    }
}
