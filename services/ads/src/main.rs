//! Runs the advertisements service alone.

use clap::Parser;
use shop_runtime::cli::ServiceArgs;
use shop_runtime::{serve, service};

/// The shop's advertisements service: ads as JSON and their banner images.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    service: ServiceArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    serve::init_logging();
    let cli = Cli::parse();
    service::run_service::<ads_service::AdsService>(&cli.service, ads_service::router).await
}
