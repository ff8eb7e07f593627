//! The guide's routes, served on the collector's query API beside its own (`collector::api::Extension`):
//!
//! | request | answer |
//! |---|---|
//! | `GET /api/workshop` | `WorkshopResponse`: every step, where the student stands, hints given, what the data shows |
//! | `POST /api/workshop/steps/{id}/answer` with `{"answer": "…"}` | `AnswerResponse`: right or not, and why |
//! | `POST /api/workshop/steps/{id}/hint` | `HintResponse`: the step's next hint, counted |
//!
//! The instructor's lab serves the class's routes beside them (`class`).
//!
//! An unknown step is a 404, an answer to a step the data completes or a body that is not `{"answer": "…"}` a
//! 400, each with `{"error": message}` as the rest of the API answers.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use collector::api::Extension;
use collector::query::Query;
use protocol::AnswerRequest;

use super::class::Class;
use super::{Guide, GuideError};

/// Longest answer taken, in bytes: a sentence, not a file.
pub const MAX_ANSWER: usize = 4096;

/// The guide's routes over the lab's query API, and the class's in the instructor's lab.
pub fn extension(guide: Option<Guide>, class: Option<Class>) -> Extension {
    Extension::new(move |query| {
        let mut routes = axum::Router::new();
        if let Some(guide) = &guide {
            routes = routes.merge(router(guide.clone(), query));
        }
        if let Some(class) = &class {
            routes = routes.merge(super::class::router(class.clone()));
        }
        routes
    })
}

fn router(guide: Guide, query: Query) -> axum::Router {
    axum::Router::new()
        .route("/api/workshop", get(workshop))
        .route("/api/workshop/steps/{id}/answer", post(answer))
        .route("/api/workshop/steps/{id}/hint", post(hint))
        // A body larger than an answer can be is refused before it is read whole.
        .layer(axum::extract::DefaultBodyLimit::max(MAX_ANSWER + 1024))
        .with_state((guide, query))
}

type Shared = State<(Guide, Query)>;

fn refuse(status: StatusCode, message: impl Into<String>) -> Response {
    let body = protocol::ApiError {
        error: message.into(),
    };
    (status, Json(body)).into_response()
}

fn refused(err: GuideError) -> Response {
    let status = match err {
        GuideError::NoStep(_) => StatusCode::NOT_FOUND,
        GuideError::NotAnswered(_) => StatusCode::BAD_REQUEST,
        GuideError::Save(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    refuse(status, err.to_string())
}

async fn workshop(State((guide, query)): Shared) -> Response {
    // The fix checks read the analyses: off the async workers, as the API's heavier answers are.
    match tokio::task::spawn_blocking(move || guide.workshop(&query)).await {
        Ok(workshop) => Json(workshop).into_response(),
        Err(_) => refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the workshop's check failed",
        ),
    }
}

async fn answer(
    State((guide, query)): Shared,
    Path(id): Path<String>,
    body: Result<Json<AnswerRequest>, JsonRejection>,
) -> Response {
    let answer = match body {
        Ok(Json(body)) => body.answer,
        Err(rejection) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                format!(
                    "the body must be JSON {{\"answer\": \"…\"}}: {}",
                    rejection.body_text()
                ),
            );
        }
    };
    if answer.len() > MAX_ANSWER {
        return refuse(
            StatusCode::BAD_REQUEST,
            format!("an answer is at most {MAX_ANSWER} bytes"),
        );
    }
    if answer.trim().is_empty() {
        return refuse(StatusCode::BAD_REQUEST, "the answer is empty");
    }
    match tokio::task::spawn_blocking(move || guide.answer(&id, &answer, &query)).await {
        Ok(Ok(verdict)) => Json(verdict).into_response(),
        Ok(Err(err)) => refused(err),
        Err(_) => refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the answer's check failed",
        ),
    }
}

async fn hint(State((guide, _)): Shared, Path(id): Path<String>) -> Response {
    match guide.hint(&id) {
        Ok(hint) => Json(hint).into_response(),
        Err(err) => refused(err),
    }
}
