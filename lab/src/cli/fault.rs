//! `lab fix` and `lab break`: flipping the running shop's faults over its admin APIs.

use clap::Args;
use lab::control::ShopUrls;

#[derive(Args, Debug)]
pub(crate) struct FaultArgs {
    /// The fault, as `lab fix --list` names it.
    #[arg(required_unless_present_any = ["all", "list"], conflicts_with = "all")]
    fault: Option<String>,

    /// Every fault.
    #[arg(long)]
    all: bool,

    /// List the faults and whether each is broken, and change nothing.
    #[arg(long, conflicts_with_all = ["fault", "all"])]
    list: bool,

    /// The storefront's base URL.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    storefront: String,

    /// The advertisements service's base URL.
    #[arg(long, default_value = "http://127.0.0.1:5002")]
    ads: String,

    /// The discounts service's base URL.
    #[arg(long, default_value = "http://127.0.0.1:5001")]
    discounts: String,
}

pub(crate) async fn flip(args: FaultArgs, broken: bool) -> anyhow::Result<()> {
    let urls = ShopUrls {
        storefront: args.storefront,
        ads: args.ads,
        discounts: args.discounts,
    };
    if args.list {
        for fault in lab::control::list(&urls).await? {
            println!("{fault}");
        }
        return Ok(());
    }
    let flipped = match &args.fault {
        Some(fault) => vec![lab::control::set_fault(&urls, fault, broken).await?],
        None => lab::control::set_all(&urls, broken).await?,
    };
    if flipped.is_empty() {
        println!(
            "Nothing to do: every fault is already {}.",
            if broken { "broken" } else { "fixed" }
        );
    }
    for flip in flipped {
        println!("{flip}");
    }
    Ok(())
}
