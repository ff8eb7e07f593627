//! Runs the discounts service alone.

use anyhow::Context as _;
use clap::Parser;
use shop_common::cli::ServiceArgs;
use shop_common::serve;

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
    .context("opening the discounts database")?;
    let addr = cli.service.listen_or(discounts_service::PORT);
    let listener = serve::bind(discounts_service::SERVICE, addr).await?;
    eprintln!(
        "{} {} listening on http://{addr}",
        discounts_service::SERVICE,
        state.faults.version()
    );
    serve::serve(listener, discounts_service::router(state), serve::ctrl_c()).await?;
    Ok(())
}
