//! `lab workshop`: `lab up` with the workshop's guide — its pane in the dashboard (`W`), its routes on the
//! query API (`/api/workshop`), its progress kept in the data directory.

use clap::Args;
use lab::guide::Guide;

use super::up::UpArgs;

#[derive(Args, Debug)]
pub(crate) struct WorkshopArgs {
    /// Your name, shown with your progress.
    #[arg(long, env = "LAB_STUDENT")]
    student: Option<String>,

    /// Leave the headless Chromium out: without it no browser reports what a shopper saw, and the
    /// "what the shopper saw" step cannot be answered. By default it walks the shop when Chromium is found.
    #[arg(long, conflicts_with = "browser")]
    no_browser: bool,

    #[command(flatten)]
    up: UpArgs,
}

pub(crate) async fn workshop(mut args: WorkshopArgs) -> anyhow::Result<()> {
    if !args.up.browser && !args.no_browser {
        match lab::browse::find_chromium(args.up.chromium.chromium.as_deref()) {
            Ok(_) => args.up.browser = true,
            Err(err) => eprintln!(
                "No headless Chromium ({err:#}): the \"what the shopper saw\" step will have no browser data."
            ),
        }
    }
    let guide = Guide::open(&args.up.data_dir, args.student.clone(), 0)?;
    println!(
        "The workshop's progress is kept in {} (a restart resumes it).",
        args.up.data_dir.join("guide.json").display()
    );
    super::up::run(args.up, Some(guide)).await
}
