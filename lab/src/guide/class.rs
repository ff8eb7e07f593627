//! The class: each student's lab (`lab workshop --student NAME --class URL`) reports its progress to the
//! instructor's (`lab workshop --instructor`), which keeps the latest report of each student and lists them.
//!
//! | request (on the instructor's query API) | answer |
//! |---|---|
//! | `POST /api/class/report` with a `StudentProgress` | 204; a 400 saying what is wrong with the report |
//! | `GET /api/class` | `ClassResponse`: every student who reported, by name |

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use protocol::{ClassResponse, ClassStudent, StepReport, StudentProgress, WorkshopResponse};
use tokio_util::sync::CancellationToken;

/// Most students a class holds; a report from one more is refused.
pub const MAX_STUDENTS: usize = 500;
/// Longest student name, and longest step id, in characters.
const MAX_NAME: usize = 64;
/// Most steps a report may list.
const MAX_STEPS: usize = 64;
/// Largest report body.
const MAX_REPORT: usize = 64 * 1024;
/// How often a student's lab reports.
pub const REPORT_EVERY: Duration = Duration::from_secs(3);

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A student's progress summed up from their workshop, at `now` (unix seconds); `None` without a name.
pub fn progress(workshop: &WorkshopResponse, now: u64) -> Option<StudentProgress> {
    let student = workshop.student.clone()?;
    let began = workshop.steps.iter().filter_map(|s| s.started_at).min();
    let ended = match workshop.current {
        None => workshop.steps.iter().filter_map(|s| s.done_at).max(),
        Some(_) => Some(now),
    };
    Some(StudentProgress {
        student,
        variant: workshop.variant,
        current: workshop.current.clone(),
        done: workshop.done(),
        total: workshop.steps.len(),
        hints_used: workshop.steps.iter().map(|s| s.hints.len()).sum(),
        wrong_answers: workshop.steps.iter().map(|s| s.wrong_answers).sum(),
        time_spent_s: match (began, ended) {
            (Some(began), Some(ended)) => ended.saturating_sub(began),
            _ => 0,
        },
        steps: (workshop.steps.iter())
            .map(|s| StepReport {
                id: s.id.clone(),
                done: s.done,
                hints_used: s.hints.len(),
                wrong_answers: s.wrong_answers,
                seconds: s
                    .done_at
                    .zip(s.started_at)
                    .map(|(d, b)| d.saturating_sub(b)),
            })
            .collect(),
    })
}

/// The class as the instructor's lab holds it: the latest report of each student. Clones share it.
#[derive(Clone, Debug, Default)]
pub struct Class {
    students: Arc<Mutex<BTreeMap<String, ClassStudent>>>,
}

impl Class {
    /// Takes a student's report in, or says why not.
    pub fn report(&self, progress: StudentProgress) -> Result<(), String> {
        let name = progress.student.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME {
            return Err(format!(
                "the student's name must be 1 to {MAX_NAME} characters"
            ));
        }
        if progress.steps.len() > MAX_STEPS
            || progress
                .steps
                .iter()
                .any(|s| s.id.chars().count() > MAX_NAME)
        {
            return Err(format!(
                "a report lists at most {MAX_STEPS} steps, each id at most {MAX_NAME} characters"
            ));
        }
        let name = name.to_owned();
        let mut students = self.students.lock().unwrap_or_else(|e| e.into_inner());
        if !students.contains_key(&name) && students.len() >= MAX_STUDENTS {
            return Err(format!("the class is full ({MAX_STUDENTS} students)"));
        }
        students.insert(
            name.clone(),
            ClassStudent {
                progress: StudentProgress {
                    student: name,
                    ..progress
                },
                last_report: now(),
                quiet_s: 0,
            },
        );
        Ok(())
    }

    /// Every student who reported, by name.
    pub fn students(&self) -> ClassResponse {
        let now = now();
        let students = self.students.lock().unwrap_or_else(|e| e.into_inner());
        ClassResponse {
            students: (students.values())
                .map(|s| ClassStudent {
                    quiet_s: now.saturating_sub(s.last_report),
                    ..s.clone()
                })
                .collect(),
        }
    }
}

/// The class's routes on the instructor's query API.
pub fn router(class: Class) -> axum::Router {
    axum::Router::new()
        .route("/api/class", get(list))
        .route("/api/class/report", post(report))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_REPORT))
        .with_state(class)
}

fn refuse(message: String) -> Response {
    let body = protocol::ApiError { error: message };
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

async fn list(State(class): State<Class>) -> Json<ClassResponse> {
    Json(class.students())
}

async fn report(
    State(class): State<Class>,
    body: Result<Json<StudentProgress>, JsonRejection>,
) -> Response {
    let progress = match body {
        Ok(Json(progress)) => progress,
        Err(rejection) => {
            return refuse(format!(
                "a report is a student's progress as JSON: {}",
                rejection.body_text()
            ));
        }
    };
    match class.report(progress) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(message) => refuse(message),
    }
}

/// Reports the student's progress to the class at `url` (the instructor's query API) every [`REPORT_EVERY`]
/// until cancelled; a failure is logged (once until a report goes through again) and retried.
pub async fn report_to(
    url: String,
    workshop: impl Fn() -> WorkshopResponse + Send + 'static,
    cancel: CancellationToken,
) {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
    {
        Ok(client) => client,
        Err(err) => {
            tracing::warn!("no class reports: {err}");
            return;
        }
    };
    let endpoint = format!("{}/api/class/report", url.trim_end_matches('/'));
    let mut failing = false;
    loop {
        if let Some(progress) = progress(&workshop(), now()) {
            let sent = client.post(&endpoint).json(&progress).send().await;
            match sent.map(|r| r.error_for_status()) {
                Ok(Ok(_)) => failing = false,
                Ok(Err(err)) | Err(err) => {
                    if !failing {
                        tracing::warn!("reporting to the class at {endpoint}: {err}");
                    }
                    failing = true;
                }
            }
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(REPORT_EVERY) => {}
        }
    }
}

/// The class as a text table, for people: a student a line, the step they are on, steps done, time spent,
/// hints used, wrong answers, and how long since their lab last reported.
pub fn table(class: &ClassResponse) -> String {
    use std::fmt::Write as _;
    let mut out = format!(
        "{:<20} {:>7} {:<16} {:>5} {:>8} {:>5} {:>5} {:>9}\n",
        "student", "variant", "step", "done", "time", "hints", "wrong", "reported"
    );
    for s in &class.students {
        let p = &s.progress;
        let _ = writeln!(
            out,
            "{:<20} {:>7} {:<16} {:>2}/{:<2} {:>7}s {:>5} {:>5} {:>7}s ago",
            protocol::text::for_cells(&p.student),
            p.variant,
            protocol::text::for_cells(p.current.as_deref().unwrap_or("all done")),
            p.done,
            p.total,
            p.time_spent_s,
            p.hints_used,
            p.wrong_answers,
            s.quiet_s
        );
    }
    if class.students.is_empty() {
        out.push_str("no student has reported yet\n");
    }
    out
}
