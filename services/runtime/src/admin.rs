//! The admin API every service mounts under `/admin`: list and flip its faults (each flip deploys a new version)
//! and read its counters. `lab fix` and `lab break` (the lab issue) will drive it; `curl` does today.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::db::Db;
use crate::faults::{FaultStatus, Faults};

/// What `GET /admin/faults` answers.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct FaultsDoc<S = FaultStatus> {
    pub service: String,
    pub version: String,
    pub faults: Vec<S>,
}

/// The body of `POST /admin/faults/{name}`.
#[derive(Debug, Serialize, Deserialize)]
pub struct SetFault {
    pub broken: bool,
}

/// What `GET /admin/stats` answers.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct StatsDoc {
    pub service: String,
    pub version: String,
    pub database: String,
    pub sql_statements: u64,
}

#[derive(Clone)]
struct AdminState {
    faults: Faults,
    db: Db,
}

/// The `/admin` routes of one service.
pub fn router(faults: Faults, db: Db) -> Router {
    Router::new()
        .route("/admin/faults", get(list_faults))
        .route("/admin/faults/{name}", post(set_fault))
        .route("/admin/stats", get(stats))
        .with_state(AdminState { faults, db })
}

fn faults_doc(faults: &Faults) -> FaultsDoc {
    FaultsDoc {
        service: faults.service().to_owned(),
        version: faults.version(),
        faults: faults.statuses(),
    }
}

async fn list_faults(State(state): State<AdminState>) -> Json<FaultsDoc> {
    Json(faults_doc(&state.faults))
}

async fn set_fault(
    State(state): State<AdminState>,
    Path(name): Path<String>,
    body: Result<Json<SetFault>, JsonRejection>,
) -> Response {
    let Json(body) = match body {
        Ok(body) => body,
        Err(rejection) => {
            return json_error(
                rejection.status(),
                format!(
                    "{}; expected {{\"broken\": true|false}}",
                    rejection.body_text()
                ),
            );
        }
    };
    match state.faults.set(&name, body.broken) {
        Ok(_) => Json(faults_doc(&state.faults)).into_response(),
        Err(unknown) => json_error(StatusCode::NOT_FOUND, unknown.to_string()),
    }
}

async fn stats(State(state): State<AdminState>) -> Json<StatsDoc> {
    Json(StatsDoc {
        service: state.faults.service().to_owned(),
        version: state.faults.version(),
        database: state.db.backend().system_name().to_owned(),
        sql_statements: state.db.statements(),
    })
}

/// A JSON error body, `{"error": "..."}`, with its status.
pub fn json_error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({ "error": message.into() }))).into_response()
}
