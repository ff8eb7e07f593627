//! A real browser through the shop: headless Chromium (Debian's `chromium`), driven over the DevTools protocol
//! by chromiumoxide through a shopper's walk — the home page, a product, "Add to cart", a search typed into the
//! search box, the cart — so the storefront's browser SDK reports what a shopper sees. Replayed GoReplay
//! traffic runs no JavaScript; this does.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow};
use chromiumoxide::browser::{Browser, BrowserConfig};
use chromiumoxide::page::Page;
use futures::StreamExt as _;
use tokio_util::sync::CancellationToken;

/// The names Chromium's executable goes by on PATH.
const EXECUTABLES: [&str; 4] = ["chromium", "chromium-browser", "google-chrome", "chrome"];

/// What to drive, and how.
#[derive(Debug, Clone)]
pub struct BrowseOptions {
    /// The shop's base URL (`http://127.0.0.1:3000`).
    pub target: String,
    /// Chromium's executable; `None` looks on PATH.
    pub chromium: Option<PathBuf>,
    /// Walks through the shop; `None` walks until cancelled.
    pub walks: Option<usize>,
    /// How long the shopper stays on each page once it has loaded (what they read before the next click).
    pub pause: Duration,
}

/// What the walks came to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrowseReport {
    pub walks: usize,
    /// Pages the browser loaded.
    pub pages: usize,
    /// Clicks on "Add to cart" that the page confirmed (no confirmation means the page script failed).
    pub confirmed_adds: usize,
    pub unconfirmed_adds: usize,
}

/// Chromium's executable: `explicit` when given, else the first of Chromium's names found on PATH; the error
/// says how to get one.
pub fn find_chromium(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(path) = explicit {
        return if path.is_file() {
            Ok(path.to_owned())
        } else {
            Err(anyhow!("no Chromium at {}", path.display()))
        };
    }
    find_on(&std::env::var_os("PATH").unwrap_or_default())
}

/// The first of Chromium's names found in the directories of `path` (as PATH lists them).
fn find_on(path: &std::ffi::OsStr) -> anyhow::Result<PathBuf> {
    std::env::split_paths(path)
        .flat_map(|dir| EXECUTABLES.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            anyhow!(
                "no Chromium on PATH (looked for {}): install Debian's `chromium` (apt-get install chromium) \
                 or name one with --chromium",
                EXECUTABLES.join(", ")
            )
        })
}

/// Drives a fresh headless Chromium (a profile of its own, deleted after) through the shop until `walks`
/// are done or `cancel` fires; each walk ends on a blank page, so the SDK sends the last page's figures.
pub async fn browse(
    options: &BrowseOptions,
    cancel: &CancellationToken,
) -> anyhow::Result<BrowseReport> {
    let chromium = find_chromium(options.chromium.as_deref())?;
    let profile = tempfile::Builder::new()
        .prefix("lab-chromium-")
        .tempdir()
        .context("making Chromium's profile directory")?;
    let config = BrowserConfig::builder()
        .chrome_executable(&chromium)
        .no_sandbox()
        .new_headless_mode()
        .user_data_dir(profile.path())
        .window_size(1280, 900)
        .launch_timeout(Duration::from_secs(30))
        .request_timeout(Duration::from_secs(60))
        .args(["disable-gpu", "disable-quic", "disable-component-update"])
        .build()
        .map_err(|e| anyhow!("configuring Chromium: {e}"))?;
    let (mut browser, mut handler) = Browser::launch(config)
        .await
        .with_context(|| format!("starting {}", chromium.display()))?;
    let events = tokio::spawn(async move { while handler.next().await.is_some() {} });
    let walked = async {
        let page = browser.new_page("about:blank").await?;
        let mut report = BrowseReport::default();
        while options.walks.is_none_or(|walks| report.walks < walks) && !cancel.is_cancelled() {
            tokio::select! {
                walked = walk(&page, options, &mut report) => walked?,
                () = cancel.cancelled() => break,
            }
            report.walks += 1;
        }
        // The last page is left, so the SDK flushes it.
        let _ = page.goto("about:blank").await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        anyhow::Ok(report)
    }
    .await;
    let _ = browser.close().await;
    let _ = browser.wait().await;
    events.abort();
    walked
}

/// One shopper's walk through the shop.
async fn walk(
    page: &Page,
    options: &BrowseOptions,
    report: &mut BrowseReport,
) -> anyhow::Result<()> {
    let base = options.target.trim_end_matches('/');
    visit(page, &format!("{base}/"), report).await?;
    tokio::time::sleep(options.pause).await;
    let product: String = page
        .evaluate(
            "(function () { var a = document.querySelector('a[href^=\"/products/\"]'); \
             return a ? a.getAttribute('href') : '/products/datadog-mug'; })()",
        )
        .await?
        .into_value()
        .unwrap_or_else(|_| "/products/datadog-mug".to_owned());
    visit(page, &format!("{base}{product}"), report).await?;
    tokio::time::sleep(options.pause).await;
    page.find_element("form.add-to-cart button")
        .await
        .context("the product page has no \"Add to cart\" button")?
        .click()
        .await?;
    // The page says "Added" once the XHR answered and its script updated the cart; a failing script never does.
    let added = "!!(document.querySelector('.added') || {}).textContent";
    let confirmed = until(page, added, Duration::from_secs(3)).await.is_ok();
    if confirmed {
        report.confirmed_adds += 1;
    } else {
        report.unconfirmed_adds += 1;
    }
    tokio::time::sleep(options.pause).await;
    // A search, typed into the box as a shopper would.
    page.find_element("input[name=keywords]")
        .await?
        .click()
        .await?
        .type_str("mug")
        .await?
        .press_key("Enter")
        .await?;
    // The key only starts the navigation: wait until the results (or the error page) have loaded.
    let searched = "location.search.includes('keywords=') && document.readyState === 'complete'";
    until(page, searched, Duration::from_secs(30)).await?;
    report.pages += 1;
    tokio::time::sleep(options.pause).await;
    visit(page, &format!("{base}/cart"), report).await?;
    tokio::time::sleep(options.pause).await;
    Ok(())
}

/// Waits until `condition` (JavaScript) holds on the page, for up to `patience`.
async fn until(page: &Page, condition: &str, patience: Duration) -> anyhow::Result<()> {
    let asked = Instant::now();
    loop {
        let holds: bool = match page.evaluate(condition).await {
            Ok(result) => result.into_value().unwrap_or(false),
            // The page is being replaced: ask the next one.
            Err(_) => false,
        };
        if holds {
            return Ok(());
        }
        if asked.elapsed() > patience {
            anyhow::bail!("the page never came to `{condition}`");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn visit(page: &Page, url: &str, report: &mut BrowseReport) -> anyhow::Result<()> {
    page.goto(url)
        .await
        .with_context(|| format!("loading {url}"))?;
    report.pages += 1;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_chromium_the_error_says_how_to_get_it() {
        let empty = tempfile::tempdir().unwrap();
        let err = find_on(empty.path().as_os_str()).unwrap_err().to_string();
        assert!(err.contains("apt-get install chromium"), "{err}");
        assert!(err.contains("--chromium"), "{err}");
        let err = find_chromium(Some(&empty.path().join("chromium"))).unwrap_err();
        assert!(err.to_string().contains("no Chromium at"), "{err}");
        let fake = empty.path().join("chromium");
        std::fs::write(&fake, "").unwrap();
        assert_eq!(find_on(empty.path().as_os_str()).unwrap(), fake);
    }
}
