//! Runs the discounts service alone.

use anyhow::Context as _;
use clap::Parser;
use shop_runtime::cli::ServiceArgs;
use shop_runtime::serve;

/// The shop's discounts service: GET /discount answers every discount with its type and influencer.
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
    let state = discounts_service::AppState::open(
        &cli.service.db_options(discounts_service::SERVICE),
        cli.service.state.faults_on(),
    )
    .await
    .context("opening the discounts database")?
    .with_telemetry(cli.service.export())?;
    serve::run_alone(
        discounts_service::SERVICE,
        &state.faults.version(),
        cli.service.listen_or(discounts_service::PORT),
        discounts_service::router(state.clone()),
        state.telemetry,
    )
    .await
}
