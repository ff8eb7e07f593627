//! The storefront (`store-frontend`, port 3000): a server-rendered store with Spree's URL space, so recorded
//! Spree traffic replays against it. It calls the ads service for a banner and the discounts service for a
//! promotion. Two faults live here: the ad banner rendered by the shared layout (the "wrong file" bug), and the
//! page script's cart badge update, which throws in the shopper's browser. Its pages load Datadog's browser SDK
//! (`rum`), which reports what the shopper saw through `/rum`.

mod api;
mod assets;
pub mod cart;
pub mod catalog;
pub mod error;
pub mod layout;
mod pages;
pub mod rum;
pub mod upstream;

use axum::Router;
use axum::routing::get;
use shop_runtime::db::{DbError, Migrations};
use shop_runtime::{
    Db, DbOptions, Export, FaultSpec, Faults, Service, ServiceState, Telemetry, Variant,
};

pub use error::ErrorDetails;
pub use upstream::{UpstreamConfig, Upstreams};

/// The service's name, as its telemetry and the other services call it.
pub const SERVICE: &str = "store-frontend";
/// The port it listens on by default.
pub const PORT: u16 = 3000;

/// The ad banner is rendered by the layout every page shares, so pages that load no ad fail with HTTP 500.
pub const ADS_IN_LAYOUT: &str = "frontend.ads-in-layout";

/// The page script updates the cart badge as if every page had one: adding to an empty cart throws in the
/// browser, so the shopper sees no count and no confirmation.
pub const CART_BADGE: &str = "frontend.cart-badge";

pub const FAULTS: &[FaultSpec] = &[
    FaultSpec {
        name: ADS_IN_LAYOUT,
        description: "the ad banner sits in the shared layout: search, taxon, cart and login pages answer 500",
    },
    FaultSpec {
        name: CART_BADGE,
        description: "the page script updates a cart badge the page may not have: adding to an empty cart throws in the browser",
    },
];

const MIGRATIONS: Migrations = Migrations {
    sqlite: &[(
        1,
        "store",
        include_str!("../migrations/sqlite/0001_store.sql"),
    )],
    postgres: &[(
        1,
        "store",
        include_str!("../migrations/postgres/0001_store.sql"),
    )],
};

/// The storefront, as shop-runtime opens it.
#[derive(Clone, Copy, Debug)]
pub struct Storefront;

impl Service for Storefront {
    const NAME: &'static str = SERVICE;
    const PORT: u16 = PORT;
    const FAULTS: &'static [FaultSpec] = FAULTS;
    const MIGRATIONS: Migrations = MIGRATIONS;
    const DATABASE: &'static str = "storefront";

    async fn seed(db: &Db) -> Result<(), sqlx::Error> {
        catalog::seed_if_empty(db).await
    }
}

/// Everything a request handler needs: the state every service has, and the clients of the services it calls.
/// Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    pub db: Db,
    pub faults: Faults,
    pub upstreams: Upstreams,
    /// Where its spans go: nowhere until [`AppState::with_telemetry`].
    pub telemetry: Telemetry,
}

impl AppState {
    /// Makes the service trace its requests, exporting as `export` says.
    pub fn with_telemetry(mut self, export: Export) -> anyhow::Result<AppState> {
        self.telemetry = Telemetry::new(&self.faults, export)?;
        Ok(self)
    }

    /// Opens (creating, migrating and seeding on first start) the storefront's database.
    pub async fn open(
        options: &DbOptions,
        faults_on: bool,
        upstreams: UpstreamConfig,
    ) -> Result<AppState, DbError> {
        AppState::open_variant(options, faults_on, Variant::ORIGINAL, upstreams).await
    }

    /// The same, its faults broken the way `variant` breaks them.
    pub async fn open_variant(
        options: &DbOptions,
        faults_on: bool,
        variant: Variant,
        upstreams: UpstreamConfig,
    ) -> Result<AppState, DbError> {
        let ServiceState {
            db,
            faults,
            telemetry,
            ..
        } = ServiceState::<Storefront>::open_variant(options, faults_on, variant).await?;
        Ok(AppState {
            db,
            faults,
            upstreams: Upstreams::new(upstreams),
            telemetry,
        })
    }
}

/// The storefront's routes, traced, and `/admin`, not traced.
pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .route("/", get(pages::home))
        .route("/products", get(pages::search))
        .route("/products/{slug}", get(pages::product))
        .route("/t/{*permalink}", get(pages::taxon))
        .route("/cart", get(pages::cart_page))
        .route("/cart_link", get(api::cart_link))
        .route("/api_tokens", get(api::api_tokens))
        .route(
            "/api/v2/storefront/cart",
            axum::routing::post(api::create_cart),
        )
        .route(
            "/api/v2/storefront/cart/add_item",
            axum::routing::post(api::add_item),
        )
        .route("/login", get(pages::login).post(pages::login_attempt))
        .route("/favicon.ico", get(assets::favicon))
        .route("/assets/{*path}", get(assets::asset))
        .fallback(|| async { error::Error::NotFound })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            rum::scope,
        ))
        .with_state(state.clone());
    // The SDK's batches are the lab's telemetry, not the shop's traffic: `/rum` is not traced.
    let rum = Router::new()
        .route("/rum", axum::routing::post(rum::forward))
        .with_state(
            state
                .upstreams
                .rum_intake()
                .map(|url| rum::Forwarder::new(url.to_owned())),
        );
    shop_runtime::service::router(routes, state.telemetry, state.faults, state.db).merge(rum)
}
