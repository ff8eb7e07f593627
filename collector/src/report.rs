//! The report a run ends with: what the workshop asks of an APM (which services are slow or failing, what
//! calls what, the errors and where they are raised, the N+1 queries, how each deployment did, and whether
//! any span was lost), as JSON for scripts and as text for people. The text escapes the control characters
//! of what senders named (services, routes, messages, queries), which a terminal would otherwise obey.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::analysis::results::{
    Deployment, ErrorGroup, LogCount, MapEdge, NPlusOne, ServiceStats, VersionChange,
};
use crate::analysis::stats::{ms, percent};
use anyhow::Context as _;

use crate::analysis::{Analysis, Settings, Sort, Window};
use crate::ingest::{DEFAULT_QUEUE_BATCHES, Ingest};
use crate::playback::Loaded;
use crate::store::{DEFAULT_CAPACITY, Store};

/// Everything the collector knows at the end of a run. Field names are an interface (scripts read the JSON).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// What was analysed: `lab up …` or a recording's path.
    pub source: String,
    /// Services, then the databases and peers they call, slowest p95 first.
    pub services: Vec<ServiceStats>,
    /// Calls from one node of the service map to another.
    pub edges: Vec<MapEdge>,
    /// Error groups, most frequent first.
    pub errors: Vec<ErrorGroup>,
    /// N+1 findings, most costly first.
    pub n_plus_one: Vec<NPlusOne>,
    /// Each service's versions, oldest first.
    pub deployments: Vec<Deployment>,
    /// What the browser's events came to (real user monitoring).
    #[serde(default)]
    pub browser: crate::rum::report::Browser,
    /// How many log records each service wrote at each severity (those still stored).
    #[serde(default)]
    pub logs: Vec<LogCount>,
    pub accounting: ReportAccounting,
    /// Each exporter's accounting at the end of the run (`--export-otlp`, `--export-datadog`).
    #[serde(default)]
    pub exports: Vec<protocol::ExportStats>,
}

/// Whether anything was lost: every span accepted is stored or was evicted; rejected payloads and spans are
/// counted by reason.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportAccounting {
    pub accepted: u64,
    pub stored: u64,
    pub evicted: u64,
    /// Payloads refused, all reasons together.
    pub rejected: u64,
    pub rejected_by_reason: std::collections::BTreeMap<String, u64>,
    /// Spans refused one by one inside otherwise accepted payloads.
    pub rejected_spans: u64,
    /// Lines of the recording that could not be read (a report of a recording only; a truncated last line
    /// after a crash is one).
    #[serde(default)]
    pub damaged_lines: u64,
}

impl Report {
    /// The report of what `store` holds and `analysis` worked out; call [`Analysis::flush`] first so traces
    /// still settling are counted.
    pub fn build(source: impl Into<String>, store: &Store, analysis: &Analysis) -> Report {
        let accounting = store.accounting();
        Report {
            source: source.into(),
            services: analysis.services(Window::All, Sort::Latency),
            edges: analysis.map(Window::All).edges,
            errors: {
                let mut errors = analysis.errors();
                crate::logs::attach_log_lines(store.logs(), &mut errors);
                errors
            },
            n_plus_one: analysis.n_plus_one(),
            deployments: analysis.deployments(),
            browser: crate::rum::report::Browser::build(&crate::query::Query::new(
                store.clone(),
                analysis.clone(),
            )),
            logs: store.logs().counts(),
            accounting: ReportAccounting {
                accepted: accounting.accepted,
                stored: accounting.stored,
                evicted: accounting.evicted,
                rejected: accounting.rejected_total(),
                rejected_by_reason: accounting.rejected.clone(),
                rejected_spans: accounting.rejected_spans,
                damaged_lines: 0,
            },
            exports: Vec::new(),
        }
    }

    /// The report of a recording (`lab collect --record`, `lab up --record`): its spans go through the
    /// analyses as if they arrived now. Lines that could not be read are returned beside it.
    pub async fn from_recording(
        path: &std::path::Path,
        settings: Settings,
    ) -> anyhow::Result<(Report, Loaded)> {
        let store = Store::new(DEFAULT_CAPACITY);
        let analysis = Analysis::new(settings);
        let (ingest, writer) = Ingest::new(store.clone(), DEFAULT_QUEUE_BATCHES, None)?;
        let writer = tokio::spawn(writer.analyse(analysis.clone()).run());
        let loaded = crate::playback::feed(path, &ingest)
            .await
            .with_context(|| format!("reading {}", path.display()))?;
        drop(ingest);
        writer.await.context("the ingest writer panicked")??;
        let mut report = Report::build(path.display().to_string(), &store, &analysis);
        report.accounting.damaged_lines = loaded.damaged;
        Ok((report, loaded))
    }

    /// The service called `name`, if it reported.
    pub fn service(&self, name: &str) -> Option<&ServiceStats> {
        self.services.iter().find(|s| s.name == name)
    }
}

/// `text` as it is safe to print on a terminal: every unsafe character (`protocol::text`) written as its
/// `\u{..}` escape. Strings from senders end up in the report, and one with an escape sequence (they start with
/// ESC or CSI) or a line break could recolour, retitle or clear the terminal, or forge lines of the report.
fn clean(text: &str) -> Cow<'_, str> {
    protocol::text::escaped(text)
}

/// The widest a table's name column gets: the tables fit 80 columns with it.
const NAME_WIDTH: usize = 24;

/// The width of a name column: its longest name, up to [`NAME_WIDTH`].
fn column<'a>(names: impl Iterator<Item = Cow<'a, str>>) -> usize {
    names
        .map(|name| name.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(4, NAME_WIDTH)
}

/// The name cell of a table row: a name wider than the column gets a line of its own, and the row's figures
/// go on the next line under an empty cell, so no row is wider than the table.
fn long_name<'a>(
    f: &mut fmt::Formatter<'_>,
    name: &'a str,
    width: usize,
) -> Result<&'a str, fmt::Error> {
    if name.chars().count() > width {
        writeln!(f, "  {name}")?;
        return Ok("");
    }
    Ok(name)
}

/// A comparison under its version's row: `against 1.0: better`, then what changed, a line each, so that
/// the report keeps to 80 columns.
fn verdict_lines(f: &mut fmt::Formatter<'_>, what: &str, change: &VersionChange) -> fmt::Result {
    writeln!(f, "      {what}: {}", clean(&change.verdict))?;
    for line in &change.changes {
        writeln!(f, "        {}", clean(line))?;
    }
    Ok(())
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Report of {}", clean(&self.source))?;
        writeln!(f)?;
        writeln!(f, "Services (slowest first)")?;
        if self.services.is_empty() {
            writeln!(f, "  none: no span arrived")?;
        } else {
            let names = self.services.iter().map(|s| clean(&s.name));
            let width = column(names);
            writeln!(
                f,
                "  {:<width$} {:<4} {:>8} {:>6} {:>7} {:>7} {:>7} {:>7}",
                "name", "kind", "requests", "errors", "error %", "p50", "p95", "p99"
            )?;
            for s in &self.services {
                let kind = match s.kind.as_str() {
                    "service" => "svc".into(),
                    "database" => "db".into(),
                    "external" => "ext".into(),
                    other => clean(other),
                };
                let name = clean(&s.name);
                let name = long_name(f, &name, width)?;
                writeln!(
                    f,
                    "  {name:<width$} {kind:<4} {:>8} {:>6} {:>7} {:>7} {:>7} {:>7}",
                    s.requests,
                    s.errors,
                    percent(s.error_rate),
                    ms(s.p50_ms),
                    ms(s.p95_ms),
                    ms(s.p99_ms)
                )?;
            }
        }
        writeln!(f)?;
        writeln!(f, "Service map")?;
        if self.edges.is_empty() {
            writeln!(f, "  no calls between services")?;
        }
        for e in &self.edges {
            let call = format!("  {} → {}", clean(&e.from), clean(&e.to));
            let figures = format!(
                "{} calls, {} errors, p95 {}",
                e.calls,
                e.errors,
                ms(e.p95_ms)
            );
            if call.chars().count() + 2 + figures.len() <= 80 {
                writeln!(f, "{call}: {figures}")?;
            } else {
                writeln!(f, "{call}\n      {figures}")?;
            }
        }
        writeln!(f)?;
        writeln!(f, "Errors (most frequent first)")?;
        if self.errors.is_empty() {
            writeln!(f, "  none")?;
        }
        for e in &self.errors {
            let place = if e.file.is_empty() {
                "unknown location".to_owned()
            } else {
                format!("{}:{}", clean(&e.file), e.line)
            };
            writeln!(
                f,
                "  {} × {} in {} at {}",
                e.count,
                clean(&e.r#type),
                clean(&e.service),
                place
            )?;
            writeln!(f, "      {}", clean(&e.message))?;
            if let Some(line) = &e.log_line {
                writeln!(f, "      logged: {}", clean(line))?;
            }
            writeln!(f, "      example trace {}", clean(&e.example_trace_id))?;
        }
        writeln!(f)?;
        writeln!(f, "N+1 queries")?;
        if self.n_plus_one.is_empty() {
            writeln!(f, "  none")?;
        }
        for n in &self.n_plus_one {
            writeln!(f, "  {} {}", clean(&n.service), clean(&n.endpoint))?;
            writeln!(
                f,
                "      up to ×{} a request, {} a request, {} of the trace",
                n.repeats,
                ms(n.total_ms),
                percent(n.share),
            )?;
            writeln!(f, "      {}", clean(&n.query))?;
            match n.traces.first() {
                Some(trace) => writeln!(
                    f,
                    "      in {} traces, for example {}",
                    n.count,
                    clean(trace)
                )?,
                None => writeln!(f, "      in {} traces", n.count)?,
            }
        }
        writeln!(f)?;
        writeln!(f, "Deployments (each version over all its requests)")?;
        let width = column(self.deployments.iter().map(|d| clean(&d.service)));
        if self.deployments.is_empty() {
            writeln!(f, "  none")?;
        } else {
            writeln!(
                f,
                "  {:<width$} {:<8} {:>8} {:>7} {:>7} {:>8}",
                "service", "version", "requests", "error %", "p95", "with N+1"
            )?;
        }
        for d in &self.deployments {
            let name = clean(&d.service);
            let name = long_name(f, &name, width)?;
            writeln!(
                f,
                "  {name:<width$} {:<8} {:>8} {:>7} {:>7} {:>8}",
                clean(&d.version),
                d.requests,
                percent(d.error_rate),
                ms(d.p95_ms),
                d.n_plus_one
            )?;
            if let Some(change) = &d.change {
                verdict_lines(f, &format!("against {}", clean(&change.against)), change)?;
            }
            for dependency in &d.dependencies {
                let after = format!("after {}", clean(&dependency.deployed()));
                verdict_lines(f, &after, &dependency.change)?;
            }
        }
        writeln!(f)?;
        writeln!(f, "Log records")?;
        if self.logs.is_empty() {
            writeln!(f, "  none")?;
        }
        let width = column(self.logs.iter().map(|l| clean(&l.service)));
        for l in &self.logs {
            let name = clean(&l.service);
            let name = long_name(f, &name, width)?;
            writeln!(
                f,
                "  {name:<width$} {:<11} {:>8}",
                clean(&l.severity),
                l.count
            )?;
        }
        writeln!(f)?;
        writeln!(f, "{}", self.browser)?;
        let a = &self.accounting;
        writeln!(
            f,
            "Spans: {} accepted, {} stored, {} evicted.",
            a.accepted, a.stored, a.evicted
        )?;
        write!(f, "Rejected: {} payloads", a.rejected)?;
        if !a.rejected_by_reason.is_empty() {
            let reasons: Vec<String> = a
                .rejected_by_reason
                .iter()
                .map(|(reason, n)| format!("{}: {n}", clean(reason)))
                .collect();
            write!(f, " ({})", reasons.join(", "))?;
        }
        writeln!(f, ", {} spans refused.", a.rejected_spans)?;
        if a.damaged_lines > 0 {
            writeln!(
                f,
                "Recording: {} damaged lines skipped (each named on stderr).",
                a.damaged_lines
            )?;
        }
        for e in &self.exports {
            writeln!(f, "Exported to {} ({}):", e.name, clean(&e.endpoint))?;
            writeln!(
                f,
                "  {} offered: {} sent ({} retried), {} still queued;",
                e.offered,
                e.sent,
                e.retried,
                e.queued + e.in_flight
            )?;
            writeln!(
                f,
                "  lost: {} failed, {} rejected by the backend, {} dropped.",
                e.failed, e.rejected, e.dropped
            )?;
            if let Some(error) = &e.last_error {
                writeln!(f, "  last error: {}", clean(error))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workshop::{self, Workshop};

    /// Eight requests of the broken shop an hour ago, stored and analysed: every section has lines.
    fn broken_shop() -> (Store, Analysis) {
        let an_hour_ago = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            - 3_600_000_000_000;
        let spans = workshop::generate(Workshop::Broken, 8, an_hour_ago);
        let store = Store::new(DEFAULT_CAPACITY);
        let analysis = Analysis::new(Settings::default());
        analysis.observe(&spans);
        store.insert(spans);
        analysis.flush(&store);
        (store, analysis)
    }

    #[test]
    fn control_characters_from_senders_are_escaped_in_the_text() {
        let (store, analysis) = broken_shop();
        let mut report = Report::build("test", &store, &analysis);
        assert!(
            !report.services.is_empty()
                && !report.edges.is_empty()
                && !report.errors.is_empty()
                && !report.n_plus_one.is_empty()
                && !report.deployments.is_empty(),
            "every section has a line to check: {report:#?}"
        );

        // A title, a screen clear, a line break forging a line of the report, an 8-bit CSI, and a right-to-left
        // override that would show `gnp.exe` as `exe.png`.
        let hostile = "evil\u{1b}]0;owned\u{7}\u{1b}[2J\r\nfake line\u{9b}31m\u{202e}gnp.exe";
        let hostile = || hostile.to_owned();
        report.source = hostile();
        for s in &mut report.services {
            (s.name, s.kind) = (hostile(), hostile());
        }
        for e in &mut report.edges {
            (e.from, e.to) = (hostile(), hostile());
        }
        for e in &mut report.errors {
            (e.service, e.r#type, e.message) = (hostile(), hostile(), hostile());
            (e.file, e.example_trace_id) = (hostile(), hostile());
        }
        for n in &mut report.n_plus_one {
            (n.service, n.endpoint, n.query) = (hostile(), hostile(), hostile());
            n.traces = vec![hostile()];
        }
        for d in &mut report.deployments {
            (d.service, d.version) = (hostile(), hostile());
        }
        for e in &mut report.errors {
            e.log_line = Some(hostile());
        }
        report.logs = vec![LogCount {
            service: hostile(),
            severity: hostile(),
            count: 1,
        }];
        report.accounting.rejected_by_reason.insert(hostile(), 1);

        let text = report.to_string();
        let controls: Vec<char> = text
            .chars()
            .filter(|c| (c.is_control() && *c != '\n') || *c == '\u{202e}')
            .collect();
        assert!(controls.is_empty(), "{controls:?} in:\n{text}");
        assert!(
            !text.lines().any(|line| line.starts_with("fake line")),
            "{text}"
        );
        let escaped =
            r"evil\u{1b}]0;owned\u{7}\u{1b}[2J\u{d}\u{a}fake line\u{9b}31m\u{202e}gnp.exe";
        assert!(text.contains(escaped), "{text}");
        assert_eq!(clean("store-frontend"), Cow::Borrowed("store-frontend"));
    }

    #[test]
    fn deployments_say_what_changed_and_what_a_fix_downstream_did() {
        let start = 1_700_000_000_000_000_000;
        let store = Store::new(DEFAULT_CAPACITY);
        let analysis = Analysis::new(Settings::default());
        for (i, state) in [Workshop::Broken, Workshop::SlowServicesFixed]
            .into_iter()
            .enumerate()
        {
            let spans = workshop::generate(state, 40, start + i as u64 * 3_600_000_000_000);
            analysis.observe(&spans);
            store.insert(spans);
        }
        analysis.flush(&store);
        let text = Report::build("test", &store, &analysis).to_string();
        let deployments = &text[text.find("Deployments").unwrap()..text.find("Spans:").unwrap()];
        for said in [
            "  discounts-service      1.1",
            "      against 1.0: better",
            "        GET /discount p50 2.60 s → 3.5 ms",
            "        N+1 gone",
            "  store-frontend         1.0",
            "      after discounts-service 1.1 and advertisements-service 1.1: better",
            "        GET / p50 5.07 s → 10 ms",
        ] {
            assert!(
                deployments.lines().any(|line| line.starts_with(said)),
                "{said:?} in\n{deployments}"
            );
        }
    }

    #[test]
    fn the_report_says_what_each_exporter_did() {
        let (store, analysis) = broken_shop();
        let mut report = Report::build("test", &store, &analysis);
        report.exports = vec![protocol::ExportStats {
            name: "datadog".into(),
            endpoint: "http://127.0.0.1:8126/v0.4/traces".into(),
            enabled: true,
            offered: 1_000,
            sent: 900,
            retried: 40,
            failed: 20,
            rejected: 0,
            dropped: 70,
            queued: 10,
            last_error: Some("http://127.0.0.1:8126/v0.4/traces answered 503".into()),
            ..Default::default()
        }];
        let text = report.to_string();
        assert!(
            text.contains(
                "Exported to datadog (http://127.0.0.1:8126/v0.4/traces):\n  1000 offered: 900 sent (40 \
                 retried), 10 still queued;\n  lost: 20 failed, 0 rejected by the backend, 70 dropped.\n  \
                 last error: http://127.0.0.1:8126/v0.4/traces answered 503\n"
            ),
            "{text}"
        );
        for line in (text.lines()).filter(|l| l.contains("offered") || l.contains("lost:")) {
            assert!(line.chars().count() <= 80, "{line}");
        }
        let json = serde_json::to_string(&report).unwrap();
        let back: Report = serde_json::from_str(&json).unwrap();
        assert_eq!(back.exports, report.exports);
    }

    /// The broken shop, then its ads and discounts services fixed (the storefront not redeployed), with the
    /// log records the shop writes: every kind of line the report writes.
    fn redeployed_shop_with_logs() -> (Store, Analysis) {
        let two_hours_ago = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            - 7_200_000_000_000;
        let store = Store::new(DEFAULT_CAPACITY);
        let analysis = Analysis::new(Settings::default());
        for (i, state) in [Workshop::Broken, Workshop::SlowServicesFixed]
            .iter()
            .enumerate()
        {
            let mut spans =
                workshop::generate(*state, 40, two_hours_ago + i as u64 * 600_000_000_000);
            // Traces of their own: the generator numbers each state's from the same first id.
            for span in &mut spans {
                span.trace_id =
                    crate::model::TraceId::from_u128(span.trace_id.to_u128() + i as u128 * 1000);
            }
            store.logs().insert(workshop::log_records(&spans));
            analysis.observe(&spans);
            store.insert(spans);
        }
        analysis.flush(&store);
        (store, analysis)
    }

    #[test]
    fn the_text_report_fits_80_columns() {
        let (store, analysis) = redeployed_shop_with_logs();
        let text = Report::build("test", &store, &analysis).to_string();
        // Every kind of line is there: a version against the one before, a caller's endpoints after a
        // service it calls was redeployed, the log records by service and severity.
        for line in [
            "against 1.0",
            "after discounts-service 1.1 and advertisements-service 1.1: better",
            "Log records",
            "store-frontend",
        ] {
            assert!(text.contains(line), "{line:?} missing from\n{text}");
        }
        assert!(
            (text.lines()).any(|l| l.contains("ERROR") && l.trim_end().ends_with(" 40")),
            "{text}"
        );
        // A statement or an error message is as long as its sender wrote it; every line the report lays out
        // (tables, headings, figures) fits.
        let statements: Vec<String> = (analysis.n_plus_one().iter())
            .map(|n| format!("      {}", n.query))
            .collect();
        for line in text.lines() {
            if statements.iter().any(|s| s == line) {
                continue;
            }
            assert!(
                line.chars().count() <= 80,
                "{} columns: {line}\n{text}",
                line.chars().count()
            );
        }
        assert!(text.contains("store-frontend.db (sqlite)"), "{text}");
    }
}
