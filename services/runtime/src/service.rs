//! What the three services do alike: open their state (database, fault switches, telemetry), serve their traced
//! routes beside the untraced `/admin`, and run alone from their binaries. A service says only what is its own
//! by implementing [`Service`].

use std::future::Future;
use std::marker::PhantomData;

use anyhow::Context as _;
use axum::Router;

use crate::cli::ServiceArgs;
use crate::db::{DbError, Migrations};
use crate::{Db, DbOptions, Export, FaultSpec, Faults, Telemetry, Variant};

/// What makes a service itself, as far as opening and running it goes.
pub trait Service: 'static {
    /// Its name, as its telemetry and the other services call it.
    const NAME: &'static str;
    /// The port it listens on by default.
    const PORT: u16;
    /// Its fault switches.
    const FAULTS: &'static [FaultSpec];
    /// Its numbered migrations, one list per dialect.
    const MIGRATIONS: Migrations;
    /// Its database in messages: `advertisements` says "opening the advertisements database".
    const DATABASE: &'static str;

    /// Seeds its database if it is empty (on first start).
    fn seed(db: &Db) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
}

/// What every service's state holds: its database, its fault switches and its telemetry. Cheap to clone.
#[derive(Debug)]
pub struct ServiceState<S> {
    pub db: Db,
    pub faults: Faults,
    /// Where its spans go: nowhere until [`ServiceState::with_telemetry`].
    pub telemetry: Telemetry,
    service: PhantomData<fn() -> S>,
}

// Not derived: that would ask `S`, a marker, to be `Clone` too.
impl<S> Clone for ServiceState<S> {
    fn clone(&self) -> ServiceState<S> {
        ServiceState {
            db: self.db.clone(),
            faults: self.faults.clone(),
            telemetry: self.telemetry.clone(),
            service: PhantomData,
        }
    }
}

impl<S: Service> ServiceState<S> {
    /// Opens (creating, migrating and seeding on first start) the service's database.
    pub async fn open(options: &DbOptions, faults_on: bool) -> Result<ServiceState<S>, DbError> {
        ServiceState::open_variant(options, faults_on, Variant::ORIGINAL).await
    }

    /// The same, its faults broken the way `variant` breaks them.
    pub async fn open_variant(
        options: &DbOptions,
        faults_on: bool,
        variant: Variant,
    ) -> Result<ServiceState<S>, DbError> {
        let db = Db::open(options, &S::MIGRATIONS).await?;
        S::seed(&db).await?;
        Ok(ServiceState {
            db,
            faults: Faults::new_variant(S::NAME, S::FAULTS, faults_on, variant),
            telemetry: Telemetry::off(),
            service: PhantomData,
        })
    }

    /// Makes the service trace its requests, exporting as `export` says.
    pub fn with_telemetry(mut self, export: Export) -> anyhow::Result<ServiceState<S>> {
        self.telemetry = Telemetry::new(&self.faults, export)?;
        Ok(self)
    }
}

/// A service's whole router: its `routes`, traced, and `/admin`, not traced (fault flips and stats are the
/// lab's requests, not the shop's). `routes` sets a fallback of its own first: merging keeps it, so an unknown
/// path is a traced 404.
pub fn router(routes: Router, telemetry: Telemetry, faults: Faults, db: Db) -> Router {
    crate::telemetry::instrument(routes, telemetry).merge(crate::admin::router(faults, db))
}

/// Runs service `S` alone until Ctrl-C, as its binary does: opens its state, exports as `args` say, and
/// serves `router(state)` on `--listen` or its own port.
pub async fn run_service<S: Service>(
    args: &ServiceArgs,
    router: fn(ServiceState<S>) -> Router,
) -> anyhow::Result<()> {
    let state = ServiceState::<S>::open_variant(
        &args.db_options(S::NAME),
        args.state.faults_on(),
        args.variant,
    )
    .await
    .with_context(|| format!("opening the {} database", S::DATABASE))?
    .with_telemetry(args.export())?;
    crate::serve::run_alone(
        S::NAME,
        &state.faults.version(),
        args.listen_or(S::PORT),
        router(state.clone()),
        state.telemetry,
    )
    .await
}
