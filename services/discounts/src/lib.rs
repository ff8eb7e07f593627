//! The discounts service (`discounts-service`, port 5001): `GET /discount` answers every discount with its type and
//! the type's influencer. Two faults live here: a 2.5 s sleep and an N+1 query.

mod discounts;
mod seed;

use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use shop_runtime::db::{DbError, Migrations};
use shop_runtime::{Db, DbOptions, Export, FaultSpec, Faults, Telemetry};

pub use discounts::{Discount, DiscountType, Influencer};

/// The service's name, as its telemetry and the other services call it.
pub const SERVICE: &str = "discounts-service";
/// The port it listens on by default.
pub const PORT: u16 = 5001;

/// `GET /discount` sleeps 2.5 s before answering.
pub const SLEEP: &str = "discounts.sleep";
/// `GET /discount` loads each discount's type and each type's influencer with a query of its own.
pub const N_PLUS_ONE: &str = "discounts.n-plus-one";

pub const FAULTS: &[FaultSpec] = &[
    FaultSpec {
        name: SLEEP,
        description: "GET /discount sleeps 2.5 s",
    },
    FaultSpec {
        name: N_PLUS_ONE,
        description: "GET /discount runs one query per discount type and per influencer (N+1)",
    },
];

/// How long the sleep fault sleeps.
pub const SLEEP_FOR: Duration = Duration::from_millis(2500);

const MIGRATIONS: Migrations = Migrations {
    sqlite: &[(
        1,
        "discounts",
        include_str!("../migrations/sqlite/0001_discounts.sql"),
    )],
    postgres: &[(
        1,
        "discounts",
        include_str!("../migrations/postgres/0001_discounts.sql"),
    )],
};

/// Everything a request handler needs. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    pub db: Db,
    pub faults: Faults,
    /// Where its spans go: nowhere until [`AppState::with_telemetry`].
    pub telemetry: Telemetry,
}

impl AppState {
    /// Makes the service trace its requests, exporting as `export` says.
    pub fn with_telemetry(mut self, export: Export) -> anyhow::Result<AppState> {
        self.telemetry = Telemetry::new(&self.faults, export)?;
        Ok(self)
    }

    /// Opens (creating, migrating and seeding on first start) the service's database.
    pub async fn open(options: &DbOptions, faults_on: bool) -> Result<AppState, DbError> {
        let db = Db::open(options, &MIGRATIONS).await?;
        seed::seed_if_empty(&db).await?;
        Ok(AppState {
            db,
            faults: Faults::new(SERVICE, FAULTS, faults_on),
            telemetry: Telemetry::off(),
        })
    }
}

/// The service's routes, traced, and `/admin`, not traced.
pub fn router(state: AppState) -> Router {
    let router = Router::new()
        .route("/", get(|| async { "Hello from the discounts service!\n" }))
        .route("/discount", get(discounts::list))
        // A fallback of its own, inside the tracing: merging keeps it (an unknown path is a traced 404).
        .fallback(|| async { StatusCode::NOT_FOUND })
        .with_state(state.clone());
    // The admin API (fault flips, stats) is the lab's, not the shop's: its requests are not traced.
    shop_runtime::telemetry::instrument(router, state.telemetry)
        .merge(shop_runtime::admin::router(state.faults, state.db))
}

/// The service's one error: the database failed. Logged in full; the client sees a generic JSON 500.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        tracing::error!(service = SERVICE, error = %self, "request failed");
        shop_runtime::admin::json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    }
}
