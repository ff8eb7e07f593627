//! `lab browse`: a real headless Chromium through the shop's pages, so its browser SDK reports what a shopper
//! sees (`lab up --browser` runs the same beside the replay).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use lab::browse::{BrowseOptions, browse};
use shop_runtime::serve;
use tokio_util::sync::CancellationToken;

#[derive(Args, Debug)]
pub(crate) struct BrowseArgs {
    /// The shop to walk through.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    target: String,

    /// Walks through the shop (home, a product, "Add to cart", a search, the cart); without it, until Ctrl-C.
    #[arg(long)]
    walks: Option<usize>,

    /// How long the shopper stays on each page: `1s`, `500ms`.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1s")]
    pause: Duration,

    #[command(flatten)]
    pub(crate) chromium: ChromiumArg,
}

/// Which Chromium to drive.
#[derive(Args, Debug, Clone)]
pub(crate) struct ChromiumArg {
    /// Chromium's executable [default: `chromium` (Debian's package) or another Chromium found on PATH].
    #[arg(long, env = "LAB_CHROMIUM", value_name = "PATH")]
    pub(crate) chromium: Option<PathBuf>,
}

pub(crate) async fn run(args: BrowseArgs) -> anyhow::Result<()> {
    let options = BrowseOptions {
        target: args.target,
        chromium: args.chromium.chromium,
        walks: args.walks,
        pause: args.pause,
    };
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    tokio::spawn(async move {
        serve::ctrl_c().await;
        stop.cancel();
    });
    eprintln!(
        "Walking through {} in headless Chromium; Ctrl-C stops.",
        options.target
    );
    let report = browse(&options, &cancel).await?;
    println!(
        "{} walks, {} pages; \"Add to cart\" confirmed {} times, not confirmed {} times.",
        report.walks, report.pages, report.confirmed_adds, report.unconfirmed_adds
    );
    Ok(())
}
