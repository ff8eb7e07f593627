//! One student's workshop while their lab runs: the progress, shared by the dashboard's guide pane and the
//! API, answered as the contract's types. Every read first completes the steps the data now shows done.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::Context as _;
use collector::query::Query;
use protocol::{AnswerResponse, HintResponse, StepKind, WorkshopResponse, WorkshopStep};
use shop_runtime::Variant;

use super::{Kind, Progress, STEPS, checks};

/// Why the guide refused a request.
#[derive(Debug, thiserror::Error)]
pub enum GuideError {
    #[error("no step {0:?}: GET /api/workshop lists them")]
    NoStep(String),
    #[error("step {0:?} asks for no answer: it is done when the data shows it")]
    NotAnswered(String),
    #[error("saving the workshop's progress: {0:#}")]
    Save(anyhow::Error),
}

/// A student's workshop, shared (clones share the progress).
#[derive(Clone, Debug)]
pub struct Guide {
    progress: Arc<Mutex<Progress>>,
    student: Option<String>,
    variant: Variant,
}

impl Guide {
    /// The workshop kept in `data_dir` (resumed where it was), for `student` on fault `variant`. A workshop
    /// begun on another variant is refused: its answers are not this one's.
    pub fn open(
        data_dir: &Path,
        student: Option<String>,
        variant: Variant,
    ) -> anyhow::Result<Guide> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
        let mut progress = Progress::load(data_dir)?;
        match progress.variant {
            Some(began) if began != variant.number() => anyhow::bail!(
                "the workshop in {} was begun on variant {began}: go on with --variant {began}, or start \
                 variant {variant} in another --data-dir",
                data_dir.display()
            ),
            _ => progress.variant = Some(variant.number()),
        }
        Ok(Guide {
            progress: Arc::new(Mutex::new(progress)),
            student,
            variant,
        })
    }

    /// Which version of each fault this workshop's shop runs.
    pub fn variant(&self) -> Variant {
        self.variant
    }

    fn lock(&self) -> MutexGuard<'_, Progress> {
        // A panic while holding it left plain data behind, still good to read.
        self.progress.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every step and where the student stands, after completing what the data of `query` now shows.
    pub fn workshop(&self, query: &Query) -> WorkshopResponse {
        let mut progress = self.lock();
        if let Err(err) = progress.observe(query) {
            tracing::warn!("the workshop's progress: {err:#}");
        }
        let steps = STEPS
            .iter()
            .map(|step| {
                let at = progress.steps.get(step.id).cloned().unwrap_or_default();
                let done = at.done_at.is_some();
                let waiting = match (done, step.kind) {
                    (true, _) | (_, Kind::Answer(_)) => None,
                    (false, Kind::Fix(fault)) => Some(checks::waiting(fault, query)),
                    (false, Kind::Verify) => Some(checks::last_minute(query)),
                };
                WorkshopStep {
                    id: step.id.to_owned(),
                    title: step.title.to_owned(),
                    question: step.question.to_owned(),
                    kind: match step.kind {
                        Kind::Answer(_) => StepKind::Answer,
                        Kind::Fix(_) => StepKind::Fix,
                        Kind::Verify => StepKind::Verify,
                    },
                    hints: (step.hints.iter())
                        .take(at.hints_used)
                        .map(|h| (*h).to_owned())
                        .collect(),
                    hints_total: step.hints.len(),
                    wrong_answers: at.wrong_answers,
                    done,
                    done_at: at.done_at,
                    evidence: at.evidence,
                    waiting,
                    started_at: at.started_at,
                }
            })
            .collect();
        WorkshopResponse {
            student: self.student.clone(),
            variant: self.variant.number(),
            current: progress.current().map(|s| s.id.to_owned()),
            steps,
        }
    }

    /// Checks `answer` to step `id` against the data of `query`.
    pub fn answer(
        &self,
        id: &str,
        answer: &str,
        query: &Query,
    ) -> Result<AnswerResponse, GuideError> {
        let step = super::step(id).ok_or_else(|| GuideError::NoStep(id.to_owned()))?;
        if !matches!(step.kind, Kind::Answer(_)) {
            return Err(GuideError::NotAnswered(id.to_owned()));
        }
        let mut progress = self.lock();
        let verdict = progress
            .answer(id, answer, query)
            .map_err(GuideError::Save)?;
        Ok(AnswerResponse {
            step: id.to_owned(),
            correct: verdict.correct,
            reason: verdict.reason,
            next: progress.current().map(|s| s.id.to_owned()),
        })
    }

    /// Step `id`'s next hint, counted as used.
    pub fn hint(&self, id: &str) -> Result<HintResponse, GuideError> {
        let step = super::step(id).ok_or_else(|| GuideError::NoStep(id.to_owned()))?;
        let mut progress = self.lock();
        let hint = progress.hint(id).map_err(GuideError::Save)?;
        Ok(HintResponse {
            step: id.to_owned(),
            hint: hint.map(str::to_owned),
            hints_used: progress.steps.get(id).map_or(0, |s| s.hints_used),
            hints_total: step.hints.len(),
        })
    }
}
