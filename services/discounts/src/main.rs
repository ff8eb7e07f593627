//! Runs the discounts service alone.

use clap::Parser;
use shop_runtime::cli::ServiceArgs;
use shop_runtime::{serve, service};

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
    service::run_service::<discounts_service::DiscountsService>(
        &cli.service,
        discounts_service::router,
    )
    .await
}
