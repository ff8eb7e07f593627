//! Runs the advertisements service alone.

use anyhow::Context as _;
use clap::Parser;
use shop_runtime::cli::ServiceArgs;
use shop_runtime::serve;

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
    let state = ads_service::AppState::open(
        &cli.service.db_options(ads_service::SERVICE),
        cli.service.state.faults_on(),
    )
    .await
    .context("opening the advertisements database")?
    .with_telemetry(cli.service.export())?;
    serve::run_alone(
        ads_service::SERVICE,
        &state.faults.version(),
        cli.service.listen_or(ads_service::PORT),
        ads_service::router(state.clone()),
        state.telemetry,
    )
    .await
}
