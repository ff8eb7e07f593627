//! The guided workshop (issue 19), its core: the workshop's steps in order, each a question about the student's
//! own lab, hints given one at a time, and a check against what the collector found in that lab — never against a
//! constant. A fix step is done when the student's own fix shows in the data (the new version's errors, latency or
//! loops), not when a switch is flipped. Progress is kept in the data directory, so a restarted lab resumes.
//!
//! `checks` holds the checks; this module the steps and the progress; `session` the [`Guide`] a running lab
//! shares between the dashboard's guide pane and `api`, the routes it adds to the query API.

pub mod api;
mod checks;
pub mod class;
mod session;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use collector::query::Query;
use serde::{Deserialize, Serialize};

pub use checks::Verdict;
pub use session::{Guide, GuideError};

/// What completes a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An answer, checked against the lab's figures.
    Answer(checks::Question),
    /// The named fault's fix, seen in the data.
    Fix(&'static str),
    /// Every fix seen, and the storefront fast again.
    Verify,
}

/// One step of the workshop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    pub id: &'static str,
    pub title: &'static str,
    /// What the student is asked, or asked to do.
    pub question: &'static str,
    /// Given one at a time, each closer to the answer, none of them the answer.
    pub hints: &'static [&'static str],
    pub kind: Kind,
}

/// The workshop's steps, in order.
pub const STEPS: &[Step] = &[
    Step {
        id: "error",
        title: "Find the error and its line",
        question: "Some pages answer 500. Which service fails, and at which file:line is the error raised?",
        hints: &[
            "The Services tab (2) sorted by errors (e) shows which service fails.",
            "The Errors tab (5) groups the failures; the group says where the error is raised.",
            "Answer with the service and the file:line on top of the group's stack.",
        ],
        kind: Kind::Answer(checks::Question::ErrorLocation),
    },
    Step {
        id: "logs",
        title: "Read what the logs said",
        question: "When those pages fail, the failing service writes a log record. What does it say? Quote a few \
                   of its words.",
        hints: &[
            "A log record written during a request carries the request's trace: open a failing trace.",
            "The Errors tab (5) shows the log line under the error group; the Logs tab (9, e for errors only) lists \
             every record.",
            "Quote three words of it in a row.",
        ],
        kind: Kind::Answer(checks::Question::LogLine),
    },
    Step {
        id: "browser",
        title: "See what the shopper saw",
        question: "Shoppers' browsers report a script error the servers never see. In which script, at which \
                   line, is it thrown?",
        hints: &[
            "Replayed traffic runs no JavaScript: only a real browser reports (lab workshop walks a headless \
             Chromium through the shop when it finds one).",
            "The Browser tab (8) lists the pages and the errors their browsers reported.",
            "The error's stack names the script and the line: answer as file:line.",
        ],
        kind: Kind::Answer(checks::Question::BrowserError),
    },
    Step {
        id: "bottleneck",
        title: "Find where the time goes",
        question: "The home page takes seconds. Which services does it wait on?",
        hints: &[
            "Sort the Services tab by p95 (p): the slowest first.",
            "Open the slowest trace (3, s, Enter): which calls take the time?",
            "Name every service whose own handler is slow, not the one waiting for them.",
        ],
        kind: Kind::Answer(checks::Question::SlowServices),
    },
    Step {
        id: "n-plus-one",
        title: "Find the N+1",
        question: "One service runs the same query once per row. Which service, and which table does the loop read?",
        hints: &[
            "The Insights tab (6) lists repeated statements.",
            "Enter on the finding folds the repeats into one row: read its statement.",
        ],
        kind: Kind::Answer(checks::Question::NPlusOne),
    },
    Step {
        id: "fix-banner",
        title: "Fix the misplaced banner call",
        question: "Fix the error you found (f, then Enter on it; or lab fix). Done when the new version serves without it.",
        hints: &["The fault panel (f) names the fault that misplaces the banner call."],
        kind: Kind::Fix("frontend.ads-in-layout"),
    },
    Step {
        id: "fix-ads",
        title: "Fix the slow ads service",
        question: "Fix the ads service's slowness. Done when its new version answers fast.",
        hints: &["In the fault panel (f), the ads service's fault is the one to flip."],
        kind: Kind::Fix("ads.sleep"),
    },
    Step {
        id: "fix-discounts",
        title: "Fix the slow discounts service",
        question: "Fix the discounts service's slowness. Done when its new version answers fast.",
        hints: &["In the fault panel (f), one of the discounts service's faults sleeps."],
        kind: Kind::Fix("discounts.sleep"),
    },
    Step {
        id: "fix-n-plus-one",
        title: "Fix the N+1",
        question: "Fix the loop. Done when the new version's requests run no N+1.",
        hints: &["In the fault panel (f), the discounts service's other fault is the loop."],
        kind: Kind::Fix("discounts.n-plus-one"),
    },
    Step {
        id: "verify",
        title: "Verify",
        question: "Check that the fixes worked: the Deployments tab (7) compares each version with the one before. \
                   Done when every fix shows and the storefront's pages are fast over the last minute.",
        hints: &["w then 1 shows the last minute on every tab."],
        kind: Kind::Verify,
    },
];

/// The step called `id`.
pub fn step(id: &str) -> Option<&'static Step> {
    STEPS.iter().find(|step| step.id == id)
}

/// Where one step stands.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StepProgress {
    /// Hints shown so far.
    pub hints_used: usize,
    pub wrong_answers: u32,
    /// When it was done (unix seconds), and what showed it.
    pub done_at: Option<u64>,
    pub evidence: Option<String>,
    /// When the student first looked at it (unix seconds).
    pub started_at: Option<u64>,
}

/// A student's progress through the steps, kept in `guide.json` in the data directory.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// The fault variant the workshop was begun on (absent in a file written before variants).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<u32>,
    pub steps: BTreeMap<String, StepProgress>,
    #[serde(skip)]
    path: Option<PathBuf>,
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Progress {
    /// The progress kept in `data_dir`, or a fresh one.
    pub fn load(data_dir: &Path) -> anyhow::Result<Progress> {
        let path = data_dir.join("guide.json");
        let mut progress = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| {
                format!("reading the workshop's progress in {}", path.display())
            })?,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Progress::default(),
            Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
        };
        progress.path = Some(path);
        Ok(progress)
    }

    fn save(&self) -> anyhow::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        // Written aside and renamed, so a crash never leaves half a file.
        let aside = path.with_extension("json.new");
        std::fs::write(&aside, serde_json::to_vec_pretty(self)?)
            .with_context(|| format!("writing {}", aside.display()))?;
        std::fs::rename(&aside, path).with_context(|| format!("writing {}", path.display()))
    }

    fn entry(&mut self, id: &str) -> &mut StepProgress {
        let entry = self.steps.entry(id.to_owned()).or_default();
        entry.started_at.get_or_insert_with(now);
        entry
    }

    /// Whether step `id` is done.
    pub fn is_done(&self, id: &str) -> bool {
        self.steps.get(id).is_some_and(|s| s.done_at.is_some())
    }

    /// The first step not done, if any is left.
    pub fn current(&self) -> Option<&'static Step> {
        STEPS.iter().find(|step| !self.is_done(step.id))
    }

    /// The next hint of step `id` (and counts it), or `None` when every hint was given.
    pub fn hint(&mut self, id: &str) -> anyhow::Result<Option<&'static str>> {
        let step = step(id).with_context(|| format!("no step {id:?}"))?;
        let entry = self.entry(id);
        let hint = step.hints.get(entry.hints_used).copied();
        if hint.is_some() {
            entry.hints_used += 1;
        }
        self.save()?;
        Ok(hint)
    }

    /// Checks `answer` to step `id` against the lab `query` reads; a right answer completes the step.
    pub fn answer(&mut self, id: &str, answer: &str, query: &Query) -> anyhow::Result<Verdict> {
        let step = step(id).with_context(|| format!("no step {id:?}"))?;
        let Kind::Answer(question) = step.kind else {
            anyhow::bail!("step {id:?} asks for no answer: it is done when the data shows it");
        };
        let verdict = checks::answer(question, answer, query);
        let entry = self.entry(id);
        if verdict.correct {
            entry.done_at.get_or_insert_with(now);
            entry.evidence = Some(verdict.reason.clone());
        } else {
            entry.wrong_answers += 1;
        }
        self.save()?;
        Ok(verdict)
    }

    /// Completes the fix and verify steps whose outcome now shows in the data; the ids of those completed now.
    pub fn observe(&mut self, query: &Query) -> anyhow::Result<Vec<&'static str>> {
        let mut completed = Vec::new();
        for step in STEPS {
            if self.is_done(step.id) {
                continue;
            }
            let evidence = match step.kind {
                Kind::Answer(_) => None,
                Kind::Fix(fault) => checks::fixed(fault, query),
                Kind::Verify => {
                    let fixes_done = STEPS
                        .iter()
                        .filter(|s| matches!(s.kind, Kind::Fix(_)))
                        .all(|s| self.is_done(s.id));
                    fixes_done.then(|| checks::verified(query)).flatten()
                }
            };
            if let Some(evidence) = evidence {
                let entry = self.entry(step.id);
                entry.done_at = Some(now());
                entry.evidence = Some(evidence);
                completed.push(step.id);
            }
        }
        if !completed.is_empty() {
            self.save()?;
        }
        Ok(completed)
    }
}

#[cfg(test)]
mod tests {
    use collector::analysis::{Analysis, Settings};
    use collector::store::Store;
    use collector::workshop::{self, Workshop};

    use super::*;

    fn lab(states: &[Workshop]) -> Query {
        let store = Store::new(100_000);
        let analysis = Analysis::new(Settings::default());
        for (i, state) in states.iter().enumerate() {
            let spans = workshop::generate(
                *state,
                80,
                1_790_000_000_000_000_000 + i as u64 * 3_600_000_000_000,
            );
            analysis.observe(&spans);
            store.insert(spans);
        }
        analysis.flush(&store);
        Query::new(store, analysis)
    }

    #[test]
    fn progress_is_kept_and_resumed_and_fixes_complete_from_the_data() {
        let dir = tempfile::tempdir().unwrap();
        let broken = lab(&[Workshop::Broken]);
        let mut progress = Progress::load(dir.path()).unwrap();
        assert_eq!(progress.current().unwrap().id, "error");
        // Hints one at a time, then none.
        let hints: Vec<_> = (0..4).map(|_| progress.hint("error").unwrap()).collect();
        assert_eq!(hints.iter().filter(|h| h.is_some()).count(), 3);
        assert_eq!(hints[3], None);
        // A wrong answer, then the right one.
        assert!(
            !progress
                .answer("error", "ads layout.rs:1", &broken)
                .unwrap()
                .correct
        );
        let right = progress
            .answer("error", "store-frontend layout.rs:76", &broken)
            .unwrap();
        assert!(right.correct, "{right:?}");
        assert!(
            progress.answer("fix-ads", "done", &broken).is_err(),
            "a fix is not answered"
        );
        // Nothing is fixed in the broken lab.
        assert!(progress.observe(&broken).unwrap().is_empty());

        // A restarted lab resumes where the student was.
        let mut resumed = Progress::load(dir.path()).unwrap();
        assert_eq!(resumed.current().unwrap().id, "logs");
        let error = &resumed.steps["error"];
        assert_eq!((error.hints_used, error.wrong_answers), (3, 1));
        assert!(error.evidence.as_deref().unwrap().contains("layout.rs:76"));

        // The student's fixes deployed: each fix step completes from the data, then the verification.
        let fixed = lab(&[Workshop::Broken, Workshop::Fixed]);
        let completed = resumed.observe(&fixed).unwrap();
        assert_eq!(
            completed,
            [
                "fix-banner",
                "fix-ads",
                "fix-discounts",
                "fix-n-plus-one",
                "verify"
            ]
        );
        assert_eq!(
            resumed.current().unwrap().id,
            "logs",
            "answers still to give"
        );
        for (id, said) in [
            ("bottleneck", "ads, discounts"),
            ("n-plus-one", "discounts discount_type"),
        ] {
            assert!(resumed.answer(id, said, &fixed).unwrap().correct, "{id}");
        }
        // This lab holds no log record and no browser event: those steps stay to do, saying why.
        for id in ["logs", "browser"] {
            let verdict = resumed.answer(id, "anything at all.js:1", &fixed).unwrap();
            assert!(
                !verdict.correct && verdict.reason.contains("yet"),
                "{id}: {verdict:?}"
            );
        }
        assert_eq!(resumed.current().unwrap().id, "logs");
        assert_eq!(
            STEPS.iter().filter(|s| !resumed.is_done(s.id)).count(),
            2,
            "every other step done"
        );
    }
}
