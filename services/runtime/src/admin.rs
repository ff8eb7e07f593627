//! The admin API every service mounts under `/admin`: list and flip its faults (each flip deploys a new version)
//! and read its counters. `lab fix` and `lab break` drive it, as `curl` can.
//!
//! It answers only on this machine: a client connected from another address (a service started with
//! `--listen 0.0.0.0:…` is reachable from the network), a `Host` that is not a loopback name (a page that DNS
//! rebinding has pointed at 127.0.0.1), or an `Origin` of another site (a page in the student's browser) is
//! refused with 403 before any fault is touched.

use std::net::{IpAddr, SocketAddr};

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
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
        .route_layer(axum::middleware::from_fn(this_machine_only))
        .with_state(AdminState { faults, db })
}

/// Refuses a request that does not come from this machine (see the module's doc); the peer address is known
/// when the service is served with connection info, as [`crate::serve::serve`] does.
async fn this_machine_only(request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    match refusal(peer, request.headers()) {
        Some(why) => json_error(StatusCode::FORBIDDEN, why),
        None => next.run(request).await,
    }
}

/// Why a request to the admin API is refused, if it is.
fn refusal(peer: Option<IpAddr>, headers: &HeaderMap) -> Option<String> {
    if let Some(peer) = peer.filter(|ip| !ip.to_canonical().is_loopback()) {
        return Some(format!(
            "the admin API answers only on this machine, not to {peer}: use http://127.0.0.1:<port>/admin there"
        ));
    }
    let text = |name| headers.get(name).map(|v| v.to_str().unwrap_or("\u{fffd}"));
    if let Some(host) = text(header::HOST)
        && !is_loopback_host(host)
    {
        return Some(format!(
            "the admin API answers only to a loopback host (localhost, 127.0.0.1, [::1]), not {host:?}"
        ));
    }
    if let Some(origin) = text(header::ORIGIN) {
        let host = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"));
        if !host.is_some_and(is_loopback_host) {
            return Some(format!(
                "the admin API does not answer pages of other sites (Origin {origin:?})"
            ));
        }
    }
    None
}

/// Whether `host` (a `Host` header: a name or address, maybe with a port) names this machine's loopback.
fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(name, _)| name)
    };
    let name = name.to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.to_canonical().is_loopback())
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
