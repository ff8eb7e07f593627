//! Replays the GoReplay recording of a person browsing the original shop (`../shared/recordings/requests_0.gor`)
//! against the in-process shop, broken and fixed. The recording is not part of the repository: without it the
//! tests say so and pass, except under CI=true, where its absence fails them.

use std::path::PathBuf;
use std::time::Duration;

use lab::gor;
use lab::replay::{Outcome, ReplayOptions, Speed, replay};
use lab::shop::{RunningShop, ShopOptions};
use shop_runtime::ShopState;
use tokio_util::sync::CancellationToken;

pub(crate) fn shared_recording() -> Option<Vec<gor::Request>> {
    let path = std::env::var_os("LAB_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")))
        .join("recordings/requests_0.gor");
    match std::fs::read(&path) {
        Ok(bytes) => {
            let parsed = gor::parse(&bytes);
            assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
            assert_eq!(
                parsed.requests.len(),
                101,
                "the recording holds 101 requests"
            );
            Some(parsed.requests)
        }
        Err(err) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!(
                "CI=true but the shared recording {} cannot be read: {err}",
                path.display()
            )
        }
        Err(err) => {
            eprintln!(
                "skipping: the shared recording {} is not here ({err})",
                path.display()
            );
            None
        }
    }
}

pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("lab-it-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn run(shop: &RunningShop, requests: &[gor::Request], concurrency: usize) -> Vec<Outcome> {
    let mut options = ReplayOptions::new(format!("http://{}", shop.storefront).parse().unwrap());
    options.speed = Speed::Max;
    options.concurrency = concurrency;
    options.timeout = Duration::from_secs(60);
    let report = replay(requests, &options, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(report.outcomes.len(), requests.len());
    report.outcomes
}

fn is_page_with_ad(outcome: &Outcome) -> bool {
    outcome.method == "GET"
        && (outcome.target == "/"
            || outcome.target.starts_with("/?page=")
            || outcome.target.starts_with("/products/"))
}

/// How many SQL statements one `GET /discount` runs.
async fn statements_per_discount_request(shop: &RunningShop) -> u64 {
    let before = shop.discounts_state.db.statements();
    let response = reqwest::get(format!("http://{}/discount", shop.discounts))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    shop.discounts_state.db.statements() - before
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broken_shop_fails_eight_requests_and_is_slow_where_it_shows_ads() {
    let Some(requests) = shared_recording() else {
        return;
    };
    let dir = TempDir::new("broken");
    let shop = RunningShop::start(&ShopOptions::ephemeral(ShopState::Broken, dir.0.clone()))
        .await
        .unwrap();
    let outcomes = run(&shop, &requests, 32).await;

    let mut failed: Vec<&str> = outcomes
        .iter()
        .filter(|o| o.status.is_none_or(|s| s >= 500))
        .map(|o| o.target.as_str())
        .collect();
    failed.sort_unstable();
    assert_eq!(
        failed,
        [
            "/cart",
            "/cart?variant_id=1",
            "/cart?variant_id=11",
            "/products?utf8=%E2%9C%93&taxon=&keywords=t+shirt",
            "/products?utf8=%E2%9C%93&taxon=3&keywords=tote",
            "/t/categories",
            "/t/categories",
            "/t/mugs",
        ],
        "exactly the search, taxon and cart pages fail"
    );
    assert!(
        outcomes
            .iter()
            .filter(|o| o.status.is_some_and(|s| s >= 500))
            .all(|o| o.status == Some(500))
    );

    let slow: Vec<&Outcome> = outcomes.iter().filter(|o| is_page_with_ad(o)).collect();
    assert_eq!(slow.len(), 27, "9 + 2 home pages and 16 product pages");
    for outcome in slow {
        assert_eq!(outcome.status, Some(200), "{}", outcome.target);
        assert!(
            outcome.latency >= Duration::from_millis(2500),
            "{} took {:?}: the ads call sleeps 2.5 s",
            outcome.target,
            outcome.latency
        );
    }

    let statements = statements_per_discount_request(&shop).await;
    assert!(
        statements > 200,
        "the N+1 runs {statements} statements per GET /discount"
    );
    shop.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fixed_shop_answers_everything_quickly() {
    let Some(requests) = shared_recording() else {
        return;
    };
    let dir = TempDir::new("fixed");
    let shop = RunningShop::start(&ShopOptions::ephemeral(ShopState::Fixed, dir.0.clone()))
        .await
        .unwrap();
    let outcomes = run(&shop, &requests, 4).await;
    for outcome in &outcomes {
        let status = outcome
            .status
            .unwrap_or_else(|| panic!("{}: {:?}", outcome.target, outcome.error));
        assert!(status < 500, "{} answered {status}", outcome.target);
        // Generous: the fixed shop has no sleep left; a loaded CI machine still answers well inside this.
        assert!(
            outcome.latency < Duration::from_secs(1),
            "{} took {:?}",
            outcome.target,
            outcome.latency
        );
    }
    let not_found: Vec<&str> = outcomes
        .iter()
        .filter(|o| o.status == Some(404))
        .map(|o| o.target.as_str())
        .collect();
    assert_eq!(
        not_found.len(),
        2,
        "only the two missing font files: {not_found:?}"
    );
    assert!(not_found.iter().all(|t| t.ends_with(".woff")));
    assert_eq!(statements_per_discount_request(&shop).await, 1);
    shop.stop().await.unwrap();
}
