//! Real user monitoring beyond the lab: with a RUM application given, the storefront's pages initialise the
//! real SDK with it, and `--export-rum` passes what a real Chromium's SDK sends on to Datadog's browser intake
//! (a local stub here) as Datadog's proxy guide says. And a storefront without the SDK serves its pages
//! without RUM, which `lab up` says.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use collector::export::ExportOptions;
use collector::export::rum::RumTarget;
use lab::browse::{BrowseOptions, browse, find_chromium};
use lab::shop::ShopOptions;
use shop_runtime::ShopState;
use storefront::rum::RumApp;
use tokio_util::sync::CancellationToken;

use crate::browser::start_with as start;
use crate::replay_shop::TempDir;

/// A request the stub intake received.
struct Received {
    path: String,
    query: String,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
}

/// A stub of Datadog's browser intake on loopback, answering 202 and keeping what it received.
async fn intake() -> (SocketAddr, Arc<Mutex<Vec<Received>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let log = log.clone();
        async move {
            let (parts, body) = request.into_parts();
            let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
            log.lock().unwrap().push(Received {
                path: parts.uri.path().to_owned(),
                query: parts.uri.query().unwrap_or_default().to_owned(),
                headers: parts.headers,
                body,
            });
            axum::http::StatusCode::ACCEPTED
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, seen)
}

/// The body as the intake reads it: deflated (as the SDK sends it) or plain.
fn inflate(body: &[u8]) -> String {
    let mut plain = String::new();
    match std::io::Read::read_to_string(&mut flate2::read::ZlibDecoder::new(body), &mut plain) {
        Ok(_) => plain,
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_browsers_batches_go_on_to_datadog_as_the_application_given() {
    let app = RumApp {
        application_id: "6d1e0f5a-7f43-4c2b-9a0e-2b8d1c4e5f60".into(),
        client_token: "pub5e7c1d0b9a8f7e6d5c4b3a2918070605".into(),
        site: "datadoghq.eu".into(),
    };
    let (stub, seen) = intake().await;
    let dir = TempDir::new("rum-export");
    let mut shop = ShopOptions::ephemeral(ShopState::Fixed, dir.0.clone());
    shop.rum_app = app.clone();
    let lab = start(
        shop,
        ExportOptions {
            rum: Some(RumTarget {
                origin: format!("http://{stub}"),
            }),
            ..ExportOptions::default()
        },
    )
    .await;
    let shop = format!("http://{}", lab.shop.storefront);
    let html = reqwest::get(format!("{shop}/login"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for option in [
        format!(r#""applicationId":"{}""#, app.application_id),
        format!(r#""clientToken":"{}""#, app.client_token),
        r#""site":"datadoghq.eu""#.to_owned(),
        r#""proxy":"/rum""#.to_owned(),
    ] {
        assert!(html.contains(&option), "{option} missing:\n{html}");
    }
    assert!(
        !html.contains(storefront::rum::CLIENT_TOKEN),
        "no placeholder left"
    );

    let chromium = match find_chromium(None) {
        Ok(path) => path,
        Err(err) if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            panic!("CI=true: this test needs Chromium: {err}")
        }
        Err(err) => {
            eprintln!("skipped the browser half: {err}");
            return;
        }
    };
    let options = BrowseOptions {
        target: shop.clone(),
        chromium: Some(chromium),
        walks: Some(1),
        pause: Duration::from_secs(1),
    };
    browse(&options, &CancellationToken::new()).await.unwrap();
    // The SDK sends when a page is left; what it sent goes on to the stub as well as into the collector.
    let asked = Instant::now();
    let views = |seen: &[Received]| {
        (seen.iter())
            .map(|r| inflate(&r.body).matches(r#""type":"view""#).count())
            .sum::<usize>()
    };
    while views(&seen.lock().unwrap()) < 3 {
        assert!(
            asked.elapsed() < Duration::from_secs(30),
            "the browser's views never reached the intake stub"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let stats = (lab.collector.exports.stats().into_iter())
        .find(|e| e.name == "datadog-rum")
        .unwrap();
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert_eq!((stats.failed, stats.dropped), (0, 0), "{stats:?}");
    assert!(
        stats.sent + stats.in_flight >= seen.len() as u64,
        "{stats:?}, {} seen",
        seen.len()
    );
    for got in seen.iter() {
        assert_eq!(got.path, "/api/v2/rum");
        let url = reqwest::Url::parse(&format!("http://intake/?{}", got.query)).unwrap();
        let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let param = |name: &str| {
            query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(param("ddsource"), Some("browser"), "{}", got.query);
        assert_eq!(
            param("dd-api-key"),
            Some(app.client_token.as_str()),
            "the page's token"
        );
        assert!(got.headers.get("cookie").is_none(), "{:?}", got.headers);
        let forwarded = got.headers["x-forwarded-for"].to_str().unwrap();
        assert!(
            forwarded.starts_with("127.0.0.1"),
            "the browser's address first: {forwarded}"
        );
        assert!(
            got.headers["user-agent"]
                .to_str()
                .unwrap()
                .contains("Chrome"),
            "the browser's user agent"
        );
        let events = inflate(&got.body);
        assert!(
            events.contains(&format!(r#""application":{{"id":"{}""#, app.application_id)),
            "the events name the application given: {}",
            &events[..events.len().min(400)]
        );
    }
    lab.stop("test").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storefront_without_the_sdk_serves_its_pages_without_rum_and_says_so() {
    let dir = TempDir::new("rum-absent");
    let mut shop = ShopOptions::ephemeral(ShopState::Broken, dir.0.clone());
    shop.rum_sdk = None;
    let lab = start(shop, ExportOptions::default()).await;
    let base = format!("http://{}", lab.shop.storefront);
    for path in ["/", "/login", "/products?keywords=mug"] {
        let html = reqwest::get(format!("{base}{path}"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(html.contains("</html>"), "{path}: a whole page");
        assert!(!html.contains("datadog-rum-slim"), "{path}: {html}");
        assert!(!html.contains("DD_RUM"), "{path}: {html}");
    }
    for asset in ["datadog-rum-slim.js", "datadog-rum-slim.LICENSE.txt"] {
        let status = reqwest::get(format!("{base}/assets/{asset}"))
            .await
            .unwrap()
            .status();
        assert_eq!(status, 404, "{asset}");
    }
    let notice = lab.shop.rum_notice();
    assert!(
        notice.contains("built without Datadog's browser SDK")
            && notice.contains("served without RUM")
            && notice.contains("LAB_RUM_SDK=/path/to/datadog-rum-slim.js"),
        "{notice}"
    );
    lab.stop("test").await.unwrap();

    // The same lab with the SDK this build has: the notice says where it came from.
    let dir = TempDir::new("rum-present");
    let lab = start(
        ShopOptions::ephemeral(ShopState::Broken, dir.0.clone()),
        ExportOptions::default(),
    )
    .await;
    if let Some(sdk) = storefront::rum::Sdk::built_in() {
        let notice = lab.shop.rum_notice();
        assert!(
            notice.contains(sdk.origin) && notice.starts_with("Real user monitoring"),
            "{notice}"
        );
    }
    lab.stop("test").await.unwrap();
}

/// `lab up --export-rum` without a RUM application refuses to start, saying what to give.
#[test]
fn export_rum_without_an_application_is_refused_with_what_to_give() {
    let dir = TempDir::new("rum-export-refused");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_lab"))
        .args([
            "up",
            "--headless",
            "--duration",
            "1s",
            "--export-rum",
            "--data-dir",
        ])
        .arg(&dir.0)
        .args(crate::cli::EPHEMERAL)
        .env_remove("DD_RUM_APPLICATION_ID")
        .env_remove("DD_RUM_CLIENT_TOKEN")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("--rum-application-id") && stderr.contains("--rum-client-token"),
        "{stderr}"
    );
    assert!(!String::from_utf8_lossy(&output.stdout).contains("The collector is up"));
}
