//! The discounts service (`discounts-service`, port 5001): `GET /discount` answers every discount with its type and
//! the type's influencer. Two faults live here: a sleep and an N+1 query, each broken by variant (`shop_runtime::Variant`).

mod discounts;
mod seed;

use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use shop_runtime::db::Migrations;
use shop_runtime::{Db, FaultSpec, Service, ServiceState};

pub use discounts::{Discount, DiscountType, Influencer};

/// The service's name, as its telemetry and the other services call it.
pub const SERVICE: &str = "discounts-service";
/// The port it listens on by default.
pub const PORT: u16 = 5001;

/// `GET /discount` sleeps before answering ([`sleep_for`]).
pub const SLEEP: &str = "discounts.sleep";
/// `GET /discount` loads a relation of each discount with a query of its own: each discount's type and each
/// type's influencer (the original workshop), the influencers only, or the types only, by variant.
pub const N_PLUS_ONE: &str = "discounts.n-plus-one";

pub const FAULTS: &[FaultSpec] = &[
    FaultSpec {
        name: SLEEP,
        description: "GET /discount sleeps before answering",
    },
    FaultSpec {
        name: N_PLUS_ONE,
        description: "GET /discount runs one query per discount for its relations (N+1)",
    },
];

/// How long the sleep fault sleeps in `variant`: 2.5 s in the original workshop.
pub fn sleep_for(variant: shop_runtime::Variant) -> Duration {
    Duration::from_millis(variant.pick([2500, 3500, 1500]))
}

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

/// The discounts service, as shop-runtime opens and runs it.
#[derive(Clone, Copy, Debug)]
pub struct DiscountsService;

impl Service for DiscountsService {
    const NAME: &'static str = SERVICE;
    const PORT: u16 = PORT;
    const FAULTS: &'static [FaultSpec] = FAULTS;
    const MIGRATIONS: Migrations = MIGRATIONS;
    const DATABASE: &'static str = "discounts";

    async fn seed(db: &Db) -> Result<(), sqlx::Error> {
        seed::seed_if_empty(db).await
    }
}

/// Everything a request handler needs: the state every service has, and nothing of its own. Cheap to clone.
pub type AppState = ServiceState<DiscountsService>;

/// The service's routes, traced, and `/admin`, not traced.
pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .route("/", get(|| async { "Hello from the discounts service!\n" }))
        .route("/discount", get(discounts::list))
        // A fallback of its own, inside the tracing: merging keeps it (an unknown path is a traced 404).
        .fallback(|| async { StatusCode::NOT_FOUND })
        .with_state(state.clone());
    shop_runtime::service::router(routes, state.telemetry, state.faults, state.db)
}

/// The service's one error: the database failed. Logged in full; the client sees a generic JSON 500.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        tracing::error!(
            service = SERVICE,
            trace_id = %shop_runtime::telemetry::current_trace_id(),
            error = %self,
            "request failed"
        );
        shop_runtime::admin::json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    }
}
