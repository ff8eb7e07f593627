//! `lab workshop`: `lab up` with the workshop's guide — its pane in the dashboard (`W`), its routes on the
//! query API (`/api/workshop`), its progress kept in the data directory.

use clap::Args;
use lab::guide::Guide;
use shop_runtime::Variant;

use super::up::UpArgs;

#[derive(Args, Debug)]
pub(crate) struct WorkshopArgs {
    /// Your name, shown with your progress; it also picks your fault variant (unless --variant does).
    #[arg(long, env = "LAB_STUDENT")]
    student: Option<String>,

    /// Which version of each fault the shop runs, 0 to 2: which pages lack their ad and where the misplaced
    /// banner call sits, how long each slow service sleeps, which relation the N+1 walks. Students beside each
    /// other on different variants find different answers. [default: picked by --student's name, else 0, the
    /// original workshop]
    #[arg(long, env = "LAB_VARIANT")]
    variant: Option<Variant>,

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
    let variant = match (args.variant, &args.student) {
        (Some(variant), _) => variant,
        (None, Some(name)) => Variant::of_name(name),
        (None, None) => Variant::ORIGINAL,
    };
    let guide = Guide::open(&args.up.data_dir, args.student.clone(), variant)?;
    println!(
        "The shop's faults are variant {variant} (of 0 to {}).",
        Variant::COUNT - 1
    );
    println!(
        "The workshop's progress is kept in {} (a restart resumes it).",
        args.up.data_dir.join("guide.json").display()
    );
    super::up::run(args.up, Some(guide)).await
}
