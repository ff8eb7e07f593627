//! The instructor's class view: what each student's lab reports of its workshop (`POST /api/class/report` on
//! the instructor's lab) and the class as the instructor's lab lists it (`GET /api/class`). The student's lab
//! sums its own progress up; the instructor's keeps the latest report of each student and serves them.

use serde::{Deserialize, Serialize};

/// One step as a student's lab reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepReport {
    pub id: String,
    pub done: bool,
    pub hints_used: usize,
    pub wrong_answers: u32,
    /// How long it took, from when the student first worked on it to when it was done (seconds).
    pub seconds: Option<u64>,
}

/// A student's progress, as their lab reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StudentProgress {
    pub student: String,
    /// The fault variant the student's shop runs.
    pub variant: u32,
    /// The step the student is on (the first not done); `None` once every step is done.
    pub current: Option<String>,
    pub done: usize,
    pub total: usize,
    pub hints_used: usize,
    pub wrong_answers: u32,
    /// Seconds from the student's first step to now, or to their last step once every one is done.
    pub time_spent_s: u64,
    pub steps: Vec<StepReport>,
}

/// A student in the class, with when their lab last reported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassStudent {
    #[serde(flatten)]
    pub progress: StudentProgress,
    /// When the instructor's lab last heard from the student's (unix seconds).
    pub last_report: u64,
    /// How long ago that was, when the class was listed (seconds).
    pub quiet_s: u64,
}

/// `GET /api/class`: every student who reported, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassResponse {
    pub students: Vec<ClassStudent>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_class_round_trips_through_json() {
        let class = ClassResponse {
            students: vec![ClassStudent {
                progress: StudentProgress {
                    student: "ada".into(),
                    variant: 1,
                    current: Some("logs".into()),
                    done: 1,
                    total: 10,
                    hints_used: 2,
                    wrong_answers: 3,
                    time_spent_s: 95,
                    steps: vec![StepReport {
                        id: "error".into(),
                        done: true,
                        hints_used: 2,
                        wrong_answers: 3,
                        seconds: Some(80),
                    }],
                },
                last_report: 1_790_000_000,
                quiet_s: 2,
            }],
        };
        let json = serde_json::to_string(&class).unwrap();
        assert!(json.contains(r#""student":"ada""#), "flattened: {json}");
        assert_eq!(serde_json::from_str::<ClassResponse>(&json).unwrap(), class);
    }
}
