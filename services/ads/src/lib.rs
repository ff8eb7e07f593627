//! The advertisements service (`advertisements-service`, port 5002): the ads as JSON and their banner images.
//! One fault lives here: `GET /ads` sleeps (2.5 s in the original workshop; each fault variant its own time).

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use shop_runtime::admin::json_error;
use shop_runtime::db::{Migrations, Query};
use shop_runtime::{Db, FaultSpec, Service, ServiceState};
use sqlx::Row as _;
use sqlx::any::AnyRow;

/// The service's name, as its telemetry and the other services call it.
pub const SERVICE: &str = "advertisements-service";
/// The port it listens on by default.
pub const PORT: u16 = 5002;

/// `GET /ads` sleeps before answering ([`sleep_for`]).
pub const SLEEP: &str = "ads.sleep";

pub const FAULTS: &[FaultSpec] = &[FaultSpec {
    name: SLEEP,
    description: "GET /ads sleeps before answering",
}];

/// How long the sleep fault sleeps in `variant`: 2.5 s in the original workshop.
pub fn sleep_for(variant: shop_runtime::Variant) -> Duration {
    Duration::from_millis(variant.pick([2500, 1500, 3500]))
}

const MIGRATIONS: Migrations = Migrations {
    sqlite: &[(
        1,
        "advertisement",
        include_str!("../migrations/sqlite/0001_advertisement.sql"),
    )],
    postgres: &[(
        1,
        "advertisement",
        include_str!("../migrations/postgres/0001_advertisement.sql"),
    )],
};

/// The banner images, made for this project (728×90, SVG), served from the binary.
const BANNERS: &[(&str, &[u8])] = &[
    ("1.svg", include_bytes!("../banners/1.svg")),
    ("2.svg", include_bytes!("../banners/2.svg")),
    ("3.svg", include_bytes!("../banners/3.svg")),
];

/// The seeded ads: (name, url on the storefront, weight, banner).
const SEED: &[(&str, &str, f64, &str)] = &[
    ("Discount Clothing", "/t/clothing", 15.1, "1.svg"),
    (
        "Cool Hats",
        "/products/datadog-ringer-t-shirt",
        300.1,
        "2.svg",
    ),
    ("Nice Bags", "/t/bags", 5242.1, "3.svg"),
];

/// One ad, as `GET /ads` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ad {
    pub id: i64,
    pub name: String,
    pub url: String,
    pub weight: f64,
    pub path: String,
}

/// The advertisements service, as shop-runtime opens and runs it.
#[derive(Clone, Copy, Debug)]
pub struct AdsService;

impl Service for AdsService {
    const NAME: &'static str = SERVICE;
    const PORT: u16 = PORT;
    const FAULTS: &'static [FaultSpec] = FAULTS;
    const MIGRATIONS: Migrations = MIGRATIONS;
    const DATABASE: &'static str = "advertisements";

    async fn seed(db: &Db) -> Result<(), sqlx::Error> {
        let count: i64 = db
            .fetch_one(shop_runtime::db::query(
                "SELECT COUNT(*) AS n FROM advertisement",
            ))
            .await?
            .try_get("n")?;
        if count == 0 {
            db.execute_all(SEED.iter().enumerate().map(|(i, &(name, url, weight, path))| -> Query {
                shop_runtime::db::query("INSERT INTO advertisement (id, name, url, weight, path) VALUES ($1, $2, $3, $4, $5)")
                    .bind(i as i64 + 1)
                    .bind(name)
                    .bind(url)
                    .bind(weight)
                    .bind(path)
            }))
            .await?;
            tracing::info!(ads = SEED.len(), "seeded the advertisements database");
        }
        Ok(())
    }
}

/// Everything a request handler needs: the state every service has, and nothing of its own. Cheap to clone.
pub type AppState = ServiceState<AdsService>;

/// The service's routes, traced, and `/admin`, not traced.
pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .route(
            "/",
            get(|| async { "Hello from the advertisements service!\n" }),
        )
        .route("/ads", get(list_ads))
        .route("/banners/{file}", get(banner))
        .route("/weighted-banners/{weight}", get(weighted_banner))
        // A fallback of its own, inside the tracing: merging keeps it (an unknown path is a traced 404).
        .fallback(|| async { StatusCode::NOT_FOUND })
        .with_state(state.clone());
    shop_runtime::service::router(routes, state.telemetry, state.faults, state.db)
}

/// The service's errors, each with its status; a database failure is logged and answered as a generic 500.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        match self {
            Error::Db(_) => {
                tracing::error!(
                    service = SERVICE,
                    trace_id = %shop_runtime::telemetry::current_trace_id(),
                    error = %self,
                    "request failed"
                );
                json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
            }
            Error::BadRequest(message) => json_error(StatusCode::BAD_REQUEST, message),
            Error::NotFound(message) => json_error(StatusCode::NOT_FOUND, message),
        }
    }
}

fn ad(row: &AnyRow) -> Result<Ad, sqlx::Error> {
    Ok(Ad {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        url: row.try_get("url")?,
        weight: row.try_get("weight")?,
        path: row.try_get("path")?,
    })
}

async fn list_ads(State(state): State<AppState>) -> Result<Json<Vec<Ad>>, Error> {
    if state.faults.is_on(SLEEP) {
        // FAULT ads.sleep: every request waits (2.5 s in the original workshop) for nothing. The fix deletes this
        // sleep.
        tokio::time::sleep(sleep_for(state.faults.variant())).await;
    }
    let rows = state
        .db
        .fetch_all(shop_runtime::db::query(
            "SELECT id, name, url, weight, path FROM advertisement ORDER BY id",
        ))
        .await?;
    Ok(Json(rows.iter().map(ad).collect::<Result<_, _>>()?))
}

async fn banner(Path(file): Path<String>) -> Result<Response, Error> {
    let (_, bytes) = BANNERS
        .iter()
        .find(|(name, _)| *name == file)
        .ok_or_else(|| Error::NotFound(format!("no banner {file:?}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        *bytes,
    )
        .into_response())
}

async fn weighted_banner(
    State(state): State<AppState>,
    Path(weight): Path<String>,
) -> Result<Json<Ad>, Error> {
    let weight: f64 = weight
        .parse()
        .ok()
        .filter(|w: &f64| w.is_finite())
        .ok_or_else(|| Error::BadRequest(format!("weight {weight:?} is not a number")))?;
    let row = state
        .db
        .fetch_optional(
            shop_runtime::db::query("SELECT id, name, url, weight, path FROM advertisement WHERE weight < $1 ORDER BY id LIMIT 1")
                .bind(weight),
        )
        .await?
        .ok_or_else(|| Error::NotFound(format!("no ad weighs less than {weight}")))?;
    Ok(Json(ad(&row)?))
}
