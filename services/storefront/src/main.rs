//! Runs the storefront alone.

use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use shop_runtime::cli::ServiceArgs;
use shop_runtime::serve;
use storefront::UpstreamConfig;

/// The shop's storefront: a server-rendered store that calls the ads and discounts services.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    service: ServiceArgs,

    /// Base URL of the advertisements service.
    #[arg(long, env = "ADS_URL", default_value = "http://127.0.0.1:5002")]
    ads_url: String,

    /// Base URL of the discounts service.
    #[arg(long, env = "DISCOUNTS_URL", default_value = "http://127.0.0.1:5001")]
    discounts_url: String,

    /// The collector's OTLP/HTTP base URL, where `/rum` forwards the browser SDK's batches (real user
    /// monitoring); without it the pages load no SDK.
    #[arg(long, env = "LAB_RUM_INTAKE")]
    rum_intake: Option<String>,

    #[command(flatten)]
    rum_app: storefront::rum::RumAppArgs,

    /// The Datadog site the RUM application lives on: datadoghq.com, datadoghq.eu, us3.datadoghq.com, …
    #[arg(
        long,
        env = "DD_SITE",
        value_name = "SITE",
        default_value = "datadoghq.com"
    )]
    dd_site: String,

    /// How long to wait for the ads and discounts services, in milliseconds, before rendering without them.
    #[arg(long, default_value_t = 5000)]
    upstream_timeout_ms: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    serve::init_logging();
    let cli = Cli::parse();
    let upstreams = UpstreamConfig {
        ads_url: cli.ads_url,
        discounts_url: cli.discounts_url,
        timeout: Duration::from_millis(cli.upstream_timeout_ms),
        rum_intake: cli.rum_intake,
        rum_app: cli.rum_app.app(&cli.dd_site),
        ..UpstreamConfig::default()
    };
    let state = storefront::AppState::open_variant(
        &cli.service.db_options(storefront::SERVICE),
        cli.service.state.faults_on(),
        cli.service.variant,
        upstreams,
    )
    .await
    .context("opening the storefront database")?
    .with_telemetry(cli.service.export())?;
    serve::run_alone(
        storefront::SERVICE,
        &state.faults.version(),
        cli.service.listen_or(storefront::PORT),
        storefront::router(state.clone()),
        state.telemetry,
    )
    .await
}
