//! The guided workshop's answers (`lab workshop`): its steps with where the student stands on each, an
//! answer's verdict and a hint. The lab fills them, its query API serves them under `/api/workshop`, and the
//! dashboard's guide pane draws them, in the same process or over the API.

use serde::{Deserialize, Serialize};

/// What completes a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// An answer, checked against what the collector found in this lab.
    Answer,
    /// A fault's fix, once the data shows it (a later version of its service without the fault).
    Fix,
    /// Every fix seen, and the storefront sound again.
    Verify,
}

/// One step of the workshop and where the student stands on it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkshopStep {
    pub id: String,
    pub title: String,
    /// What the student is asked, or asked to do.
    pub question: String,
    pub kind: StepKind,
    /// The hints given so far, in order (`hints_total` exist).
    pub hints: Vec<String>,
    pub hints_total: usize,
    pub wrong_answers: u32,
    pub done: bool,
    /// When it was done (unix seconds).
    pub done_at: Option<u64>,
    /// What showed it done: the right answer's reading of the data, or the fix's figures.
    pub evidence: Option<String>,
    /// For a step not done that the data completes: what the data shows so far.
    pub waiting: Option<String>,
    /// When the student first worked on it (unix seconds).
    pub started_at: Option<u64>,
}

/// `GET /api/workshop`: every step in order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkshopResponse {
    /// The student's name, when one was given (`--student`).
    pub student: Option<String>,
    /// The fault variant this lab runs (0 is the original workshop).
    pub variant: u32,
    /// The first step not done, if any is left.
    pub current: Option<String>,
    pub steps: Vec<WorkshopStep>,
}

impl WorkshopResponse {
    /// The step called `id`.
    pub fn step(&self, id: &str) -> Option<&WorkshopStep> {
        self.steps.iter().find(|s| s.id == id)
    }

    /// How many steps are done.
    pub fn done(&self) -> usize {
        self.steps.iter().filter(|s| s.done).count()
    }
}

/// `POST /api/workshop/steps/{id}/answer`'s body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnswerRequest {
    pub answer: String,
}

/// An answer's verdict: right or not, and why (a wrong one says what is wrong without giving the answer away).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnswerResponse {
    pub step: String,
    pub correct: bool,
    pub reason: String,
    /// The first step not done after this answer.
    pub next: Option<String>,
}

/// `POST /api/workshop/steps/{id}/hint`: the step's next hint, counted as used.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HintResponse {
    pub step: String,
    /// `None` when every hint was already given.
    pub hint: Option<String>,
    pub hints_used: usize,
    pub hints_total: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_workshop_round_trips_through_json() {
        let workshop = WorkshopResponse {
            student: Some("ada".into()),
            variant: 2,
            current: Some("error".into()),
            steps: vec![WorkshopStep {
                id: "error".into(),
                title: "Find the error".into(),
                question: "Which service fails?".into(),
                kind: StepKind::Answer,
                hints: vec!["The Errors tab".into()],
                hints_total: 3,
                wrong_answers: 1,
                done: false,
                done_at: None,
                evidence: None,
                waiting: None,
                started_at: Some(1),
            }],
        };
        let json = serde_json::to_string(&workshop).unwrap();
        assert!(json.contains(r#""kind":"answer""#), "{json}");
        let back: WorkshopResponse = serde_json::from_str(&json).unwrap();
        assert_eq!(back, workshop);
        assert_eq!(back.done(), 0);
        assert_eq!(back.step("error").unwrap().hints_total, 3);
    }
}
