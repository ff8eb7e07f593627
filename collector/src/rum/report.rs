//! The report's `browser` section: what the shopper saw (pages, load times, front-end errors), as the query
//! API answers it, printed in 80 columns.

use std::fmt;

use protocol::{RumErrorGroup, RumPage, RumStats, Sort};
use serde::{Deserialize, Serialize};

use crate::analysis::stats::{ms, percent};
use crate::query::Query;

/// What the browser's events came to.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Browser {
    /// Pages, slowest p75 load first.
    pub pages: Vec<RumPage>,
    /// Front-end errors, most frequent first.
    pub errors: Vec<RumErrorGroup>,
    /// Sessions held.
    pub sessions: u64,
    pub accounting: RumStats,
}

/// Sessions counted at most (the report says "at least" past it).
const MAX_SESSIONS: usize = 100_000;

impl Browser {
    pub fn build(query: &Query) -> Browser {
        Browser {
            pages: query.rum_pages(Sort::Latency).pages,
            errors: query.rum_errors().errors,
            sessions: query.rum_sessions(MAX_SESSIONS).sessions.len() as u64,
            accounting: query.store.rum().stats(),
        }
    }
}

fn clean(text: &str) -> std::borrow::Cow<'_, str> {
    protocol::text::escaped(text)
}

impl fmt::Display for Browser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Browser (what the shoppers saw)")?;
        if self.pages.is_empty() {
            writeln!(
                f,
                "  no page view arrived (drive a browser: lab up --browser)"
            )?;
        } else {
            writeln!(
                f,
                "  {} session{}; page loads, slowest p75 first:",
                self.sessions,
                if self.sessions == 1 { "" } else { "s" }
            )?;
            writeln!(
                f,
                "  {:<24} {:>5} {:>8} {:>8} {:>8} {:>8} {:>7}",
                "page", "views", "p50", "p75", "p95", "LCP p75", "error %"
            )?;
            for p in &self.pages {
                let page = clean(&p.page);
                let page = if page.chars().count() > 24 {
                    writeln!(f, "  {page}")?;
                    String::new()
                } else {
                    page.into_owned()
                };
                writeln!(
                    f,
                    "  {page:<24} {:>5} {:>8} {:>8} {:>8} {:>8} {:>7}",
                    p.views,
                    ms(p.load_p50_ms),
                    ms(p.load_p75_ms),
                    ms(p.load_p95_ms),
                    p.lcp_p75_ms.map_or("-".to_owned(), ms),
                    percent(p.error_rate)
                )?;
            }
        }
        writeln!(f)?;
        writeln!(f, "Front-end errors (most frequent first)")?;
        if self.errors.is_empty() {
            writeln!(f, "  none")?;
        }
        for e in &self.errors {
            let place = match (&e.file, e.line) {
                (Some(file), Some(line)) => format!("{}:{line}", clean(file)),
                _ => format!("({})", clean(&e.source)),
            };
            writeln!(f, "  {} × {place}", e.count)?;
            let message = if e.r#type.is_empty() || e.message.starts_with(&e.r#type) {
                clean(&e.message).into_owned()
            } else {
                format!("{}: {}", clean(&e.r#type), clean(&e.message))
            };
            writeln!(f, "      {}", cut(&message, 74))?;
            writeln!(f, "      on {}", cut(&clean(&e.pages.join(", ")), 71))?;
            writeln!(f, "      example session {}", clean(&e.example_session))?;
        }
        writeln!(f)?;
        let a = &self.accounting;
        writeln!(
            f,
            "Browser events: {} accepted, {} stored, {} merged into views, {} evicted;",
            a.accepted, a.stored, a.merged, a.evicted
        )?;
        let lines: u64 = a.rejected_events.values().sum();
        let batches: u64 = a.rejected.values().sum();
        writeln!(
            f,
            "  {} of unknown types ignored, {lines} lines and {batches} batches refused.",
            a.ignored
        )
    }
}

/// `text` cut to `width` characters, ending in `…` when cut.
fn cut(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{Analysis, Settings};
    use crate::store::Store;
    use crate::workshop::{self, Workshop};

    #[test]
    fn the_browser_section_says_what_the_shopper_saw_in_80_columns() {
        let store = Store::new(crate::store::DEFAULT_CAPACITY);
        let analysis = Analysis::new(Settings::default());
        let spans = workshop::generate(Workshop::Broken, 8, 1_790_000_000_000_000_000);
        analysis.observe(&spans);
        store.insert(spans);
        store
            .rum()
            .take(workshop::browser_session(1_790_000_000_000_000_000).as_bytes());
        // An unknown type and a malformed line, counted.
        store.rum().take(b"{\"type\":\"vital\",\"date\":1,\"session\":{\"id\":\"s\"},\"view\":{\"id\":\"v\"}}\nnot json");
        let browser = Browser::build(&Query::new(store, analysis));
        let text = browser.to_string();
        for line in text.lines() {
            assert!(
                line.chars().count() <= 80,
                "{line:?} is {} wide",
                line.chars().count()
            );
        }
        assert!(text.contains("/products/{slug}"), "{text}");
        assert!(text.contains("1 × /assets/storefront.js:21"), "{text}");
        assert!(text.contains("GET /cart answered 500"), "{text}");
        assert!(
            text.contains("1 of unknown types ignored, 1 lines"),
            "{text}"
        );
        assert_eq!(browser.sessions, 1);
        let json = serde_json::to_value(&browser).unwrap();
        assert_eq!(json["pages"][0]["page"], "/");
        assert_eq!(json["errors"][0]["count"], 1);
    }
}
