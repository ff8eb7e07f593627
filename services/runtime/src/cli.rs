//! The command-line options every service binary shares (`lab up` takes the same ones for all three).

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::db::DbOptions;
use crate::faults::ShopState;
use crate::telemetry::Export;

/// Options common to the three service binaries.
#[derive(Debug, Clone, clap::Args)]
pub struct ServiceArgs {
    /// Address to listen on [default: the service's own port on 127.0.0.1].
    #[arg(long)]
    pub listen: Option<SocketAddr>,

    /// PostgreSQL database to use instead of SQLite (each service keeps its tables in its own schema);
    /// `sqlite://DIR` puts the SQLite files in DIR.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,

    /// Directory for the SQLite files, created and seeded on first start.
    #[arg(long, env = "LAB_DATA_DIR", default_value = "lab-data")]
    pub data_dir: PathBuf,

    /// Which faults start switched on: broken, broken-no-instrumentation or fixed.
    #[arg(long, env = "LAB_STATE", default_value = "broken")]
    pub state: ShopState,

    /// Which version of each fault (`lab workshop --variant`): 0, the original workshop, to 2.
    #[arg(long, env = "LAB_VARIANT", default_value = "0")]
    pub variant: crate::Variant,
}

impl ServiceArgs {
    pub fn listen_or(&self, port: u16) -> SocketAddr {
        self.listen
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], port)))
    }

    pub fn db_options(&self, slug: &str) -> DbOptions {
        DbOptions::for_service(self.database_url.as_deref(), &self.data_dir, slug)
    }

    /// Where a service started alone sends its spans: OTLP as the `OTEL_*` variables say, or nowhere in the
    /// `broken-no-instrumentation` state.
    pub fn export(&self) -> Export {
        if self.state.instrumented() {
            Export::from_env()
        } else {
            Export::Off
        }
    }
}
