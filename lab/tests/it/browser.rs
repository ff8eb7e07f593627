//! The shop seen from a real browser: headless Chromium (Debian's `chromium`) walks the running lab's shop —
//! home, a product, "Add to cart" (an XHR), a search answering 500 in the broken shop, the cart — with the
//! storefront's real browser SDK reporting to the collector, and the query API must show what the shopper
//! saw. Without Chromium the tests say they are skipped, except under CI=true, where they fail.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use collector::export::ExportOptions;
use collector::server::CollectorOptions;
use lab::browse::{BrowseOptions, browse, find_chromium};
use lab::shop::ShopOptions;
use lab::up::{LabOptions, RunningLab};
use protocol::{
    RumErrorsResponse, RumPage, RumPagesResponse, RumSession, RumSessionsResponse, TraceView,
};
use serde::de::DeserializeOwned;
use shop_runtime::ShopState;
use tokio_util::sync::CancellationToken;

use crate::replay_shop::TempDir;

pub(crate) fn chromium() -> Option<PathBuf> {
    match find_chromium(None) {
        Ok(path) => Some(path),
        Err(err) if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            panic!("CI=true: the browser tests need Chromium: {err}")
        }
        Err(err) => {
            eprintln!("skipped: {err}");
            None
        }
    }
}

struct Walked {
    lab: RunningLab,
    api: String,
    _dir: TempDir,
}

impl Walked {
    async fn get<T: DeserializeOwned>(&self, path: &str) -> T {
        let response = reqwest::get(format!("{}{path}", self.api)).await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
    }

    async fn pages(&self) -> Vec<RumPage> {
        self.get::<RumPagesResponse>("/api/rum/pages").await.pages
    }
}

/// A lab in `state` (no replay) whose collector has its OTLP/HTTP listener (the browser intake) and query API
/// on ports of their own.
async fn start(state: ShopState, dir: &TempDir) -> RunningLab {
    start_with(
        ShopOptions::ephemeral(state, dir.0.clone()),
        ExportOptions::default(),
    )
    .await
}

/// A lab of `shop` (no replay) whose collector has its OTLP/HTTP listener (the browser intake) and query API on
/// ports of their own, and exports as `export` says.
pub(crate) async fn start_with(shop: ShopOptions, export: ExportOptions) -> RunningLab {
    let local = Some("127.0.0.1:0".parse().unwrap());
    RunningLab::start(LabOptions {
        collector: CollectorOptions {
            otlp_http: local,
            otlp_grpc: None,
            datadog: None,
            api: local,
            export,
            ..Default::default()
        },
        shop,
        replay: None,
        export: None,
    })
    .await
    .unwrap()
}

/// A lab in `state` (no replay), walked once by a real Chromium; waits until the collector holds the four
/// pages' views with their load times.
async fn walk(state: ShopState, name: &str) -> Option<Walked> {
    let chromium = chromium()?;
    let dir = TempDir::new(name);
    let lab = start(state, &dir).await;
    assert!(
        storefront::rum::sdk_built_in(),
        "the storefront was built without the browser SDK"
    );
    let options = BrowseOptions {
        target: format!("http://{}", lab.shop.storefront),
        chromium: Some(chromium),
        walks: Some(1),
        // Long enough for each page's own calls to end, so the SDK has its load time before it leaves.
        pause: Duration::from_secs(1),
    };
    let report = browse(&options, &CancellationToken::new()).await.unwrap();
    assert_eq!((report.walks, report.pages), (1, 4));
    let walked = Walked {
        api: format!("http://{}", lab.collector.api.unwrap()),
        lab,
        _dir: dir,
    };
    let asked = Instant::now();
    loop {
        let pages = walked.pages().await;
        if pages.len() >= 4 && pages.iter().all(|p| p.loaded == p.views) {
            break;
        }
        assert!(
            asked.elapsed() < Duration::from_secs(60),
            "the browser's views did not all arrive: {pages:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Some(walked)
}

fn page<'a>(pages: &'a [RumPage], name: &str) -> &'a RumPage {
    pages
        .iter()
        .find(|p| p.page == name)
        .unwrap_or_else(|| panic!("no page {name}: {pages:#?}"))
}

/// The line of the broken cart badge update in the served script, read from the script as it is now.
fn cart_badge_line() -> u32 {
    let script = include_str!("../../../services/storefront/assets/storefront.js");
    let marker = script
        .find("FAULT frontend.cart-badge")
        .expect("the fault's comment");
    script[..marker].matches('\n').count() as u32 + 2
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broken_shop_seen_from_a_real_browser() {
    let Some(walked) = walk(ShopState::Broken, "browser-broken").await else {
        return;
    };
    let pages = walked.pages().await;
    // A view per page with its load time: the home page waits on the ads (and discounts) service's sleep.
    let home = page(&pages, "/");
    assert!(home.load_p50_ms >= 2500.0, "{home:#?}");
    assert!(home.lcp_p75_ms.is_some(), "{home:#?}");
    let product = page(&pages, "/products/{slug}");
    assert!(product.load_p50_ms >= 2500.0, "{product:#?}");
    // The search answers 500: its view is an error.
    let search = page(&pages, "/products");
    assert_eq!((search.views, search.error_views), (1, 1), "{search:#?}");
    assert_eq!(page(&pages, "/cart").error_views, 1);

    let errors: RumErrorsResponse = walked.get("/api/rum/errors").await;
    let script = errors
        .errors
        .iter()
        .find(|e| e.source == "source")
        .unwrap_or_else(|| panic!("no front-end error: {errors:#?}"));
    assert_eq!(script.file.as_deref(), Some("/assets/storefront.js"));
    assert_eq!(script.line, Some(cart_badge_line()), "{script:#?}");
    assert_eq!(script.r#type, "TypeError");
    assert_eq!(script.pages, ["/products/{slug}"]);
    let document = errors
        .errors
        .iter()
        .find(|e| e.source == "document" && e.pages == ["/products"])
        .unwrap_or_else(|| panic!("the search's 500 is not an error: {errors:#?}"));
    assert_eq!(document.message, "GET /products answered 500");

    // The journey: the click, and the add-to-cart call linked to the backend trace it caused.
    let sessions: RumSessionsResponse = walked.get("/api/rum/sessions").await;
    assert_eq!(sessions.sessions.len(), 1);
    let journey: RumSession = walked
        .get(&format!("/api/rum/sessions/{}", sessions.sessions[0].id))
        .await;
    let pages_walked: Vec<&str> = journey.views.iter().map(|v| v.page.as_str()).collect();
    assert_eq!(
        pages_walked,
        ["/", "/products/{slug}", "/products", "/cart"]
    );
    let product = &journey.views[1];
    assert!(
        (product.events.iter()).any(|e| e.kind == "action" && e.name == "click on Add to cart"),
        "{product:#?}"
    );
    let add = (product.events.iter())
        .find(|e| e.name == "xhr POST /api/v2/storefront/cart/add_item")
        .unwrap_or_else(|| panic!("no add-to-cart call: {product:#?}"));
    assert_eq!(add.status, Some(200));
    let trace_id = add.trace_id.clone().expect("the call carries its trace");
    assert_eq!(trace_id.len(), 32, "the trace is stored: {trace_id}");
    // The same trace id: the storefront's server span of that very call.
    let trace: TraceView = walked.get(&format!("/api/traces/{trace_id}")).await;
    assert_eq!(trace.trace_id, trace_id);
    let server = (trace.spans.iter())
        .find(|s| s.service == "store-frontend" && s.kind == "server")
        .unwrap_or_else(|| panic!("no storefront server span: {trace:#?}"));
    assert_eq!(
        server.attributes["http.route"],
        "/api/v2/storefront/cart/add_item"
    );
    // The document load joins the server trace that rendered it.
    let home_trace = journey.views[0]
        .trace_id
        .clone()
        .expect("the home page's trace");
    let rendered: TraceView = walked.get(&format!("/api/traces/{home_trace}")).await;
    assert!(
        rendered
            .spans
            .iter()
            .any(|s| s.attributes.get("http.route") == Some(&"/".into()))
    );
    walked.lab.stop("test").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fixed_shop_seen_from_a_real_browser() {
    let Some(walked) = walk(ShopState::Fixed, "browser-fixed").await else {
        return;
    };
    let pages = walked.pages().await;
    // No page waits for the broken shop's 2.5 s sleeps (its pages take at least that, above); how much less
    // one takes is the machine's (a headless Chromium on two busy cores has taken just over a second).
    for page in &pages {
        assert!(page.load_max_ms < 2500.0, "{page:#?}");
        assert_eq!(page.error_views, 0, "{page:#?}");
    }
    let errors: RumErrorsResponse = walked.get("/api/rum/errors").await;
    assert!(errors.errors.is_empty(), "{errors:#?}");
    walked.lab.stop("test").await.unwrap();
}

/// What a page of the lab's storefront carries for RUM, and `/rum` forwarding a batch (deflated, as the SDK
/// may send it) to the collector's intake: no browser needed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_storefront_serves_the_sdk_and_forwards_its_batches_to_the_collector() {
    use std::io::Write as _;
    let dir = TempDir::new("browser-forward");
    let lab = start(ShopState::Fixed, &dir).await;
    let shop = format!("http://{}", lab.shop.storefront);
    let client = reqwest::Client::new();
    let login = client.get(format!("{shop}/login")).send().await.unwrap();
    assert_eq!(login.status(), 200);
    let html = login.text().await.unwrap();
    assert!(
        html.contains(r#"<script src="/assets/datadog-rum-slim.js"></script>"#),
        "{html}"
    );
    for option in [
        r#""proxy":"/rum""#,
        r#""service":"store-frontend""#,
        r#""sessionSampleRate":100"#,
        r#""telemetrySampleRate":0"#,
        r#""env":"lab""#,
        "propagatorTypes: ['tracecontext']",
    ] {
        assert!(html.contains(option), "{option} missing:\n{html}");
    }
    let version = lab.shop.storefront_state.faults.version();
    assert!(
        html.contains(&format!(r#""version":"{version}""#)),
        "{html}"
    );
    // The document joins the server trace that rendered it: the meta tag names a stored trace.
    let meta = html
        .split(r#"<meta name="dd-trace-id" content=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a dd-trace-id meta tag");
    let low: u64 = meta.parse().expect("decimal, as Datadog's SDK reads it");
    let api = format!("http://{}", lab.collector.api.unwrap());
    let asked = Instant::now();
    let trace: TraceView = loop {
        let response = reqwest::get(format!("{api}/api/traces/{low}"))
            .await
            .unwrap();
        if response.status() == 200 {
            break serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        }
        assert!(
            asked.elapsed() < Duration::from_secs(10),
            "trace {low} never stored"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        (trace.spans.iter()).any(|s| s.attributes.get("http.route") == Some(&"/login".into())),
        "{trace:#?}"
    );
    // The SDK itself, and its licence.
    let sdk = client
        .get(format!("{shop}/assets/datadog-rum-slim.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(sdk.status(), 200);
    let sdk = sdk.text().await.unwrap();
    assert!(
        sdk.starts_with("/*! npm @datadog/browser-rum-slim@7.16.0 | Apache-2.0"),
        "{}",
        &sdk[..200]
    );
    assert!(sdk.len() > 100_000);
    let licence = client
        .get(format!("{shop}/assets/datadog-rum-slim.LICENSE.txt"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(licence.contains("Apache License"));

    // A batch through /rum, as the SDK posts it.
    let event = serde_json::json!({
        "type": "view", "date": 1_790_000_000_000u64, "service": "store-frontend",
        "session": { "id": "s-forward" },
        "view": { "id": "v-forward", "url": format!("{shop}/login"), "loading_time": 120_000_000u64 },
        "_dd": { "document_version": 1 },
    });
    let mut deflated = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    deflated.write_all(event.to_string().as_bytes()).unwrap();
    let answer = client
        .post(format!(
            "{shop}/rum?ddforward=%2Fapi%2Fv2%2Frum%3Fddsource%3Dbrowser"
        ))
        .header("content-type", "text/plain;charset=UTF-8")
        .header("content-encoding", "deflate")
        .header("cookie", "guest_token=secret")
        .body(deflated.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 202);
    let sessions: RumSessionsResponse = serde_json::from_slice(
        &reqwest::get(format!("{api}/api/rum/sessions"))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(sessions.sessions[0].id, "s-forward");
    assert_eq!(sessions.sessions[0].pages, ["/login"]);
    // The forwarding is the lab's, not the shop's traffic: no span of it.
    let traces = reqwest::get(format!("{api}/api/traces?text=%2Frum"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(traces, r#"{"traces":[]}"#);
    lab.stop("test").await.unwrap();
}

/// Without Chromium, `lab browse` and `lab up --browser` say what is missing and how to get it, and the lab
/// does not start.
#[test]
fn without_chromium_the_commands_say_so_and_start_nothing() {
    let dir = TempDir::new("browser-missing");
    let missing = dir.0.join("no-chromium-here");
    let missing = missing.to_str().unwrap();
    let data = dir.0.to_str().unwrap();
    for args in [
        vec!["browse", "--chromium", missing, "--walks", "1"],
        vec![
            "up",
            "--headless",
            "--duration",
            "1s",
            "--browser",
            "--chromium",
            missing,
            "--data-dir",
            data,
        ]
        .into_iter()
        .chain(crate::cli::EPHEMERAL)
        .collect(),
    ] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_lab"))
            .args(&args)
            .env_remove("LAB_CHROMIUM")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(!output.status.success(), "{args:?}: {stdout}");
        assert!(
            stderr.contains(&format!("no Chromium at {missing}")),
            "{args:?}: {stderr}"
        );
        assert!(
            !stdout.contains("The collector is up"),
            "{args:?} started the lab: {stdout}"
        );
    }
}
