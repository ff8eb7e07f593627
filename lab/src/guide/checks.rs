//! The guide's checks: a student's answer against what the collector found in their lab, and a fix against
//! the versions their lab deployed. A wrong answer says what is wrong without giving the answer away.

use collector::query::Query;
use protocol::{Deployment, Sort, Window};

/// What an answer step asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Question {
    /// The failing service and the file:line where its error is raised.
    ErrorLocation,
    /// Every service the storefront waits on because its own handler is slow.
    SlowServices,
    /// The service that loops, and a table its repeated statement reads.
    NPlusOne,
    /// A few words of the log line the failing service wrote about its error.
    LogLine,
    /// The script file:line of the JavaScript error shoppers' browsers report most.
    BrowserError,
}

/// An answer's verdict, with why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub correct: bool,
    pub reason: String,
}

fn right(reason: impl Into<String>) -> Verdict {
    Verdict {
        correct: true,
        reason: reason.into(),
    }
}

fn wrong(reason: impl Into<String>) -> Verdict {
    Verdict {
        correct: false,
        reason: reason.into(),
    }
}

/// Requests a version needs before its figures say anything.
const ENOUGH: u64 = 5;

/// The words of an answer, lower case.
fn words(answer: &str) -> Vec<String> {
    answer
        .split(|c: char| {
            !(c.is_alphanumeric() || c == '_' || c == '-' || c == '.' || c == '/' || c == ':')
        })
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Whether `answer` names `service`: its whole name, or a word standing for its start (`discounts`, `disc`,
/// `storefront` for `store-frontend`, `ads` for `advertisements-service`).
fn names(answer: &[String], service: &str) -> bool {
    let service = service.to_lowercase();
    let first = service
        .split(['-', '_', '.'])
        .next()
        .unwrap_or(&service)
        .to_owned();
    let short: String = first.chars().take(2).chain(['s']).collect();
    let compact = |text: &str| text.replace(['-', '_', '.'], "");
    let whole = compact(&service);
    answer.iter().any(|word| {
        let word = word.trim_matches(|c: char| c == '.' || c == ':' || c == ',');
        word == service
            || word == first
            || word == short
            || (word.len() >= 3 && whole.starts_with(&compact(word)))
    })
}

/// The last path part of `file` (`layout.rs` of `services/storefront/src/layout.rs`).
fn base(file: &str) -> &str {
    file.rsplit('/').next().unwrap_or(file)
}

/// The (file's last part, line) pairs an answer gives: `layout.rs:76`, `src/layout.rs 76`, `layout.rs line 76`.
fn places(answer: &[String]) -> Vec<(String, Option<u32>)> {
    let mut out = Vec::new();
    for (k, word) in answer.iter().enumerate() {
        let word = word.trim_end_matches(['.', ',']);
        let (file, line) = match word.rsplit_once(':') {
            Some((file, line)) if line.parse::<u32>().is_ok() => (file, line.parse().ok()),
            // `layout.rs 76`, `layout.rs line 76`.
            _ => (
                word,
                answer[k + 1..]
                    .iter()
                    .take(2)
                    .find_map(|next| next.trim_end_matches(['.', ',']).parse().ok()),
            ),
        };
        if file.contains('.') && file.rsplit('.').next().is_some_and(|ext| ext.len() <= 4) {
            out.push((base(file).to_owned(), line));
        }
    }
    out
}

/// Checks `answer` to `question` against the lab `query` reads.
pub fn answer(question: Question, answer: &str, query: &Query) -> Verdict {
    let said = words(answer);
    match question {
        Question::ErrorLocation => error_location(&said, query),
        Question::SlowServices => slow_services(&said, query),
        Question::NPlusOne => n_plus_one(&said, query),
        Question::LogLine => log_line(&said, query),
        Question::BrowserError => browser_error(&said, query),
    }
}

/// The error group the workshop is about: the one seen most.
fn main_error(query: &Query) -> Option<protocol::ErrorGroup> {
    query.errors().errors.into_iter().max_by_key(|g| g.count)
}

/// Words of a log line, as an answer's are split (so `file:line` stays a word).
fn quoted(said: &[String], line: &str) -> bool {
    let line = words(line);
    // Three words of the line in a row, at least one of them longer than a short word.
    line.windows(3).any(|run| {
        run.iter().any(|w| w.len() > 3)
            && said.windows(3).any(|s| {
                s.iter().zip(run).all(|(a, b)| {
                    a.trim_matches([',', '.', ':']) == b.trim_matches([',', '.', ':'])
                })
            })
    })
}

fn log_line(said: &[String], query: &Query) -> Verdict {
    let Some(group) = main_error(query) else {
        return wrong("No error has been seen yet: let traffic run, then look again.");
    };
    let Some(line) = group.log_line.as_deref() else {
        return wrong(
            "No log record has come with the failures yet: let traffic run, then look again.",
        );
    };
    if quoted(said, line) {
        right(format!("{} logged: {line}", group.service))
    } else {
        wrong(
            "Those words are not in the log line written about the failure: quote three words in a row of it \
             (the Errors tab shows it; L on the failing trace lists its records).",
        )
    }
}

fn browser_error(said: &[String], query: &Query) -> Verdict {
    let errors = query.rum_errors().errors;
    let Some(group) = errors
        .iter()
        .filter(|g| g.file.is_some() && g.line.is_some())
        .max_by_key(|g| g.count)
    else {
        return wrong(
            "No browser has reported a script error yet: shoppers' browsers report only while a real one \
             browses (lab workshop walks Chromium through the shop when it finds one; --chromium PATH).",
        );
    };
    let (file, line) = (group.file.as_deref().unwrap_or(""), group.line.unwrap_or(0));
    let Some((said_file, said_line)) = places(said).into_iter().next() else {
        return wrong("Name the script and the line, as file:line.");
    };
    if said_file != base(file) {
        return wrong("Not that file: the Browser tab's errors (8, e) say which script throws.");
    }
    match said_line {
        Some(l) if l == line => right(format!(
            "{} {} thrown at {file}:{line}, on {}",
            group.r#type,
            group.message,
            group.pages.join(", ")
        )),
        Some(_) => wrong("The right script, not the right line: the error's stack says which."),
        None => wrong("The right script: which line?"),
    }
}

fn error_location(said: &[String], query: &Query) -> Verdict {
    let Some(group) = main_error(query) else {
        return wrong("No error has been seen yet: let traffic run, then look again.");
    };
    if !names(said, &group.service) {
        return wrong("That is not the service whose requests fail: sort the services by errors.");
    }
    let places = places(said);
    let Some((file, line)) = places.first() else {
        return wrong("Name the file and line too, as file:line.");
    };
    let in_stack = group.stack.contains(file.as_str());
    if *file != base(&group.file) {
        return wrong(if in_stack {
            "That file is in the stack, but the error is raised elsewhere: look at the top of the stack."
        } else {
            "That file is not where this error is raised: open the error group."
        });
    }
    match line {
        Some(line) if *line == group.line => right(format!(
            "{} raises {} at {}:{}",
            group.service, group.r#type, group.file, group.line
        )),
        Some(_) => wrong("The right file, not the right line: the group says which."),
        None => wrong("The right file: which line?"),
    }
}

/// Services called by other services that took a second or more in at least a twentieth of a version's
/// requests (the p95 of one of their versions, so a service fixed since still counts: the question is where the
/// time went). The p95, since a slow endpoint beside fast ones (the ads beside their banners) can leave a
/// version's p50 low.
/// `Err` with nothing to judge yet while a service called by others has too few requests in every version.
fn slow_called_services(query: &Query) -> Result<Vec<String>, ()> {
    let services: Vec<String> = (query.services(Window::All, Sort::Name).services.into_iter())
        .filter(|s| s.kind == "service")
        .map(|s| s.name)
        .collect();
    let map = query.map(Window::All);
    let called = |name: &str| {
        (map.edges.iter()).any(|e| e.to == name && e.from != name && services.contains(&e.from))
    };
    let deployments = query.deployments().deployments;
    let seen = |name: &str| (deployments.iter()).any(|d| d.service == name && d.requests >= ENOUGH);
    if services.iter().any(|s| called(s) && !seen(s)) {
        return Err(());
    }
    let mut slow: Vec<String> = (deployments.into_iter())
        .filter(|d| d.p95_ms >= 1000.0 && d.requests >= ENOUGH && called(&d.service))
        .map(|d| d.service)
        .collect();
    slow.sort();
    slow.dedup();
    Ok(slow)
}

fn slow_services(said: &[String], query: &Query) -> Verdict {
    let Ok(slow) = slow_called_services(query) else {
        return wrong(
            "The lab has seen too few requests of some services yet: let traffic run, then look again.",
        );
    };
    if slow.is_empty() {
        return wrong(
            "Nothing is slow in what the lab has seen: let traffic run, then look again.",
        );
    }
    let named: Vec<&String> = slow.iter().filter(|s| names(said, s)).collect();
    let services = query.services(Window::All, Sort::Latency).services;
    let extra = services
        .iter()
        .filter(|s| s.kind == "service" && !slow.contains(&s.name) && names(said, &s.name))
        .count();
    match (named.len(), extra) {
        (n, 0) if n == slow.len() => right(format!("slow on their own: {}", slow.join(", "))),
        (_, 1..) => wrong(
            "One of those is slow only because it waits: name the services whose own handler takes the time.",
        ),
        (0, _) => wrong("Not those: open the slowest trace and see which calls take the time."),
        (_, _) => wrong(format!(
            "Right, but not all of them: {} services are slow on their own.",
            slow.len()
        )),
    }
}

/// The tables a statement reads (the words after FROM and JOIN).
fn tables(statement: &str) -> Vec<String> {
    let words: Vec<String> = statement
        .split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')')
        .filter(|w| !w.is_empty())
        .map(|w| w.trim_matches('"').to_lowercase())
        .collect();
    words
        .windows(2)
        .filter(|pair| pair[0] == "from" || pair[0] == "join")
        .map(|pair| pair[1].rsplit('.').next().unwrap_or(&pair[1]).to_owned())
        .collect()
}

fn n_plus_one(said: &[String], query: &Query) -> Verdict {
    let findings = query.insights().n_plus_one;
    let Some(finding) = findings.iter().max_by_key(|f| f.count) else {
        return wrong("No N+1 has been found yet: let traffic run, then look again.");
    };
    if !names(said, &finding.service) {
        return wrong("Not that service: the Insights tab says which service repeats a statement.");
    }
    let read: Vec<String> = finding
        .statements
        .iter()
        .flat_map(|s| tables(&s.query))
        .chain(tables(&finding.query))
        .collect();
    let table = said.iter().find(|w| read.iter().any(|t| t == *w));
    match table {
        Some(table) => right(format!(
            "{} repeats a query of {} ×{} a request",
            finding.service, table, finding.repeats
        )),
        None => wrong("The right service; which table does the repeated statement read?"),
    }
}

/// The service a fault belongs to, by its name's first part.
fn owner(fault: &str) -> &'static str {
    match fault.split('.').next() {
        Some("frontend") => "store-frontend",
        Some("ads") => "advertisements-service",
        Some("discounts") => "discounts-service",
        _ => "",
    }
}

/// What shows that `fault` was fixed in this lab, if it does: a version of its service, deployed after the
/// first, whose requests no longer show the fault.
pub fn fixed(fault: &str, query: &Query) -> Option<String> {
    let service = owner(fault);
    let versions: Vec<Deployment> = (query.deployments().deployments.into_iter())
        .filter(|d| d.service == service)
        .collect();
    let (first, later) = versions.split_first()?;
    let shows = |d: &Deployment| -> Option<String> {
        if d.requests < ENOUGH {
            return None;
        }
        match fault {
            "frontend.ads-in-layout" => (first.errors > 0 && d.errors == 0).then(|| {
                format!(
                    "{service} {}: no error in {} requests ({} had {})",
                    d.version,
                    d.requests,
                    first.version,
                    protocol::units::percent(first.error_rate)
                )
            }),
            // By p95: the sleep is in one endpoint of the service, at least a twentieth of its requests.
            "ads.sleep" | "discounts.sleep" => {
                (first.p95_ms >= 1000.0 && d.p95_ms < 1000.0).then(|| {
                    format!(
                        "{service} {}: p95 {} over {} requests ({} took {})",
                        d.version,
                        protocol::units::ms(d.p95_ms),
                        d.requests,
                        first.version,
                        protocol::units::ms(first.p95_ms)
                    )
                })
            }
            "discounts.n-plus-one" => {
                let worked_out = d.requests.saturating_sub(d.settling);
                let looped_before = versions
                    .iter()
                    .any(|v| v.n_plus_one > 0 && v.first_seen < d.first_seen);
                (looped_before && worked_out >= ENOUGH && d.n_plus_one == 0)
                    .then(|| format!("{service} {}: no N+1 in {worked_out} requests", d.version))
            }
            _ => None,
        }
    };
    later.iter().rev().find_map(shows)
}

/// What the data shows of `fault`'s service so far, while its fix does not show: its latest version and that
/// version's figures (none of them judged, so nothing is given away).
pub fn waiting(fault: &str, query: &Query) -> String {
    let service = owner(fault);
    let versions: Vec<Deployment> = (query.deployments().deployments.into_iter())
        .filter(|d| d.service == service)
        .collect();
    match versions.last() {
        None => format!("no request of {service} seen yet"),
        Some(d) if versions.len() == 1 => format!(
            "{service} runs {} only: no new version deployed yet",
            d.version
        ),
        Some(d) => format!(
            "latest: {service} {}, {} requests, p95 {}, {} errors, {} N+1",
            d.version,
            d.requests,
            protocol::units::ms(d.p95_ms),
            d.errors,
            d.n_plus_one
        ),
    }
}

/// The storefront over the last minute, as the verification reads it.
pub fn last_minute(query: &Query) -> String {
    let minute = Window::Last(60_000_000_000);
    let services = query.services(minute, Sort::Latency).services;
    match services.iter().find(|s| s.name == "store-frontend") {
        None => "no storefront request in the last minute".to_owned(),
        Some(front) => format!(
            "store-frontend, last minute: {} requests, {} errors, p95 {}",
            front.requests,
            front.errors,
            protocol::units::ms(front.p95_ms)
        ),
    }
}

/// What shows the fixes worked, if it does: the storefront's requests of the last minute, enough of them, none
/// failing and all fast.
pub fn verified(query: &Query) -> Option<String> {
    let minute = Window::Last(60_000_000_000);
    let services = query.services(minute, Sort::Latency).services;
    let front = services.iter().find(|s| s.name == "store-frontend")?;
    (front.requests >= ENOUGH && front.errors == 0 && front.p95_ms < 1000.0).then(|| {
        format!(
            "store-frontend over the last minute: {} requests, no error, p95 {}",
            front.requests,
            protocol::units::ms(front.p95_ms)
        )
    })
}

#[cfg(test)]
mod tests {
    use collector::analysis::{Analysis, Settings};
    use collector::store::Store;
    use collector::workshop::{self, Workshop};

    use super::*;

    /// A lab that saw `states` in turn, an hour apart, `requests` each.
    fn lab(states: &[Workshop], requests: usize) -> Query {
        let store = Store::new(100_000);
        let analysis = Analysis::new(Settings::default());
        let start = 1_790_000_000_000_000_000;
        for (i, state) in states.iter().enumerate() {
            let spans = workshop::generate(*state, requests, start + i as u64 * 3_600_000_000_000);
            analysis.observe(&spans);
            store.insert(spans);
        }
        analysis.flush(&store);
        Query::new(store, analysis)
    }

    #[test]
    fn answers_are_checked_against_the_labs_own_findings() {
        let broken = lab(&[Workshop::Broken], 40);
        let cases: &[(Question, &str, bool, &str)] = &[
            (
                Question::ErrorLocation,
                "store-frontend services/storefront/src/layout.rs:76",
                true,
                "raises",
            ),
            (
                Question::ErrorLocation,
                "the storefront, layout.rs line 76",
                true,
                "raises",
            ),
            (
                Question::ErrorLocation,
                "store-frontend layout.rs:75",
                false,
                "not the right line",
            ),
            (
                Question::ErrorLocation,
                "store-frontend pages.rs:120",
                false,
                "in the stack",
            ),
            (
                Question::ErrorLocation,
                "discounts-service layout.rs:76",
                false,
                "not the service",
            ),
            (
                Question::ErrorLocation,
                "store-frontend",
                false,
                "file:line",
            ),
            (
                Question::SlowServices,
                "ads and discounts",
                true,
                "slow on their own",
            ),
            (
                Question::SlowServices,
                "advertisements-service, discounts-service",
                true,
                "slow on their own",
            ),
            (
                Question::SlowServices,
                "the ads service",
                false,
                "not all of them",
            ),
            (
                Question::SlowServices,
                "store-frontend, ads, discounts",
                false,
                "only because it waits",
            ),
            (Question::SlowServices, "the database", false, "Not those"),
            (
                Question::NPlusOne,
                "discounts-service reads discount_type",
                true,
                "repeats",
            ),
            (Question::NPlusOne, "discounts: influencer", true, "repeats"),
            (
                Question::NPlusOne,
                "discounts-service",
                false,
                "which table",
            ),
            (
                Question::NPlusOne,
                "ads discount_type",
                false,
                "Not that service",
            ),
        ];
        for (question, said, correct, says) in cases {
            let verdict = answer(*question, said, &broken);
            assert_eq!(verdict.correct, *correct, "{said:?}: {verdict:?}");
            assert!(verdict.reason.contains(says), "{said:?}: {verdict:?}");
            if !verdict.correct {
                // A wrong answer never gives the right one away.
                for secret in [
                    "layout.rs",
                    ":76",
                    "discount_type",
                    "advertisements-service",
                ] {
                    assert!(
                        !verdict.reason.contains(secret),
                        "{said:?} gave away {secret}: {verdict:?}"
                    );
                }
            }
        }
        // A lab that has seen nothing says so.
        let empty = Query::new(Store::new(10), Analysis::default());
        assert!(
            answer(Question::ErrorLocation, "x.rs:1", &empty)
                .reason
                .contains("No error")
        );
    }

    #[test]
    fn a_log_line_is_quoted_by_three_words_in_a_row() {
        let line = "undefined ad for the banner: this page's handler did not load one (at src/layout.rs:76)";
        for (said, quoted_it) in [
            ("undefined ad for the banner", true),
            ("it says: Undefined AD for...", true),
            ("the handler did not load one", true),
            ("ad for the", false),
            ("banner undefined ad", false),
            ("", false),
        ] {
            assert_eq!(quoted(&words(said), line), quoted_it, "{said:?}");
        }
    }

    #[test]
    fn the_browsers_script_error_is_found_by_its_file_and_line() {
        let store = Store::new(100_000);
        let taken = store
            .rum()
            .take(workshop::browser_session(1_790_000_000_000_000_000).as_bytes());
        assert_eq!(taken.rejected, 0);
        let lab = Query::new(store, Analysis::default());
        for (said, correct, says) in [
            ("storefront.js:21", true, "TypeError"),
            ("/assets/storefront.js line 21", true, "/products/"),
            ("storefront.js:49", false, "not the right line"),
            ("layout.rs:76", false, "Not that file"),
            ("the cart badge", false, "file:line"),
        ] {
            let verdict = answer(Question::BrowserError, said, &lab);
            assert_eq!(verdict.correct, correct, "{said:?}: {verdict:?}");
            assert!(verdict.reason.contains(says), "{said:?}: {verdict:?}");
            if !correct {
                assert!(!verdict.reason.contains(":21"), "{verdict:?}");
            }
        }
        let empty = Query::new(Store::new(10), Analysis::default());
        assert!(
            answer(Question::BrowserError, "storefront.js:21", &empty)
                .reason
                .contains("No browser")
        );
    }

    #[test]
    fn a_fix_counts_when_its_new_version_shows_it() {
        // Nothing fixed yet.
        let broken = lab(&[Workshop::Broken], 40);
        for fault in [
            "frontend.ads-in-layout",
            "ads.sleep",
            "discounts.sleep",
            "discounts.n-plus-one",
        ] {
            assert_eq!(fixed(fault, &broken), None, "{fault}");
        }
        // The ads and discounts services redeployed fixed, the storefront not.
        let downstream = lab(&[Workshop::Broken, Workshop::SlowServicesFixed], 40);
        assert_eq!(fixed("frontend.ads-in-layout", &downstream), None);
        for fault in ["ads.sleep", "discounts.sleep", "discounts.n-plus-one"] {
            let evidence = fixed(fault, &downstream).unwrap_or_else(|| panic!("{fault}"));
            assert!(evidence.contains(" 1.1:"), "{fault}: {evidence}");
        }
        // Everything fixed: the storefront too, and the last minute of it is fast.
        let fixed_lab = lab(&[Workshop::Broken, Workshop::Fixed], 80);
        let evidence = fixed("frontend.ads-in-layout", &fixed_lab).unwrap();
        assert!(
            evidence.starts_with("store-frontend 1.1: no error in"),
            "{evidence}"
        );
        assert!(verified(&fixed_lab).is_some());
        assert!(
            verified(&broken).is_none(),
            "the broken shop's last minute fails"
        );
    }
}
