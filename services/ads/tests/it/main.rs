//! The advertisements service through its router, on SQLite and (when reachable) PostgreSQL.

use std::time::Instant;

use ads_service::{Ad, AppState, SLEEP, router};
use shop_runtime::testing::{self, call};

#[tokio::test]
async fn every_route_answers_on_both_databases() {
    for db in testing::databases("ads").await {
        let state = AppState::open(&db.options, false)
            .await
            .expect("opening the database");
        let app = router(state);

        let hello = call(&app, "GET", "/", None).await;
        assert_eq!(hello.status, 200);
        assert!(hello.text().contains("advertisements"));

        let ads: Vec<Ad> =
            serde_json::from_slice(&call(&app, "GET", "/ads", None).await.body).unwrap();
        let names: Vec<(&str, &str, f64)> = ads
            .iter()
            .map(|a| (a.name.as_str(), a.url.as_str(), a.weight))
            .collect();
        assert_eq!(
            names,
            [
                ("Discount Clothing", "/t/clothing", 15.1),
                ("Cool Hats", "/products/datadog-ringer-t-shirt", 300.1),
                ("Nice Bags", "/t/bags", 5242.1),
            ],
            "{}",
            db.name
        );

        for ad in &ads {
            let banner = call(&app, "GET", &format!("/banners/{}", ad.path), None).await;
            assert_eq!(banner.status, 200);
            assert_eq!(banner.content_type(), "image/svg+xml");
            assert!(
                banner.text().contains(r#"width="728" height="90""#),
                "{}",
                ad.path
            );
        }
        assert_eq!(
            call(&app, "GET", "/banners/nope.svg", None).await.status,
            404
        );
        assert_eq!(
            call(&app, "GET", "/banners/..%2F..%2Fetc%2Fpasswd", None)
                .await
                .status,
            404
        );

        let weighted = call(&app, "GET", "/weighted-banners/100", None)
            .await
            .json();
        assert_eq!(weighted["name"], "Discount Clothing", "{}", db.name);
        let weighted = call(&app, "GET", "/weighted-banners/5000", None)
            .await
            .json();
        assert_eq!(weighted["name"], "Discount Clothing");
        let none = call(&app, "GET", "/weighted-banners/1.5", None).await;
        assert_eq!(none.status, 404);
        assert!(none.json()["error"].as_str().unwrap().contains("1.5"));
        let bad = call(&app, "GET", "/weighted-banners/heavy", None).await;
        assert_eq!(bad.status, 400);
        assert!(bad.json()["error"].as_str().unwrap().contains("heavy"));
        assert_eq!(
            call(&app, "GET", "/weighted-banners/NaN", None)
                .await
                .status,
            400
        );
    }
}

#[tokio::test]
async fn the_sleep_fault_delays_ads_and_its_fix_deploys_a_new_version() {
    let db = testing::sqlite("ads-sleep");
    let state = AppState::open(&db.options, true).await.unwrap();
    let app = router(state.clone());
    assert_eq!(state.faults.version(), "1.0");
    let started = Instant::now();
    assert_eq!(call(&app, "GET", "/ads", None).await.status, 200);
    assert!(
        started.elapsed().as_millis() >= 2500,
        "{:?}",
        started.elapsed()
    );

    let fixed = call(
        &app,
        "POST",
        &format!("/admin/faults/{SLEEP}"),
        Some(r#"{"broken": false}"#),
    )
    .await;
    assert_eq!(fixed.json()["version"], "1.1");
    let started = Instant::now();
    assert_eq!(call(&app, "GET", "/ads", None).await.status, 200);
    assert!(
        started.elapsed().as_millis() < 1000,
        "{:?}",
        started.elapsed()
    );
    // The banners never slept.
    let started = Instant::now();
    state.faults.set(SLEEP, true).unwrap();
    assert_eq!(call(&app, "GET", "/banners/1.svg", None).await.status, 200);
    assert!(started.elapsed().as_millis() < 1000);
}

/// The admin API answers only on this machine: not to another address, not to a page whose name DNS
/// rebinding pointed here, not to another site's page; and what it refuses touches no fault.
#[tokio::test]
async fn the_admin_api_answers_only_on_this_machine() {
    use axum::extract::ConnectInfo;
    use std::net::SocketAddr;

    let db = testing::sqlite("ads-admin");
    let state = AppState::open(&db.options, false).await.unwrap();
    let app = router(state.clone());
    let flip = |peer: Option<SocketAddr>, headers: &[(&str, &str)]| {
        let mut request = axum::http::Request::builder()
            .method("POST")
            .uri(format!("/admin/faults/{SLEEP}"))
            .header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut request = request
            .body(axum::body::Body::from(r#"{"broken": false}"#))
            .unwrap();
        if let Some(peer) = peer {
            request.extensions_mut().insert(ConnectInfo(peer));
        }
        testing::send(&app, request)
    };
    let local: SocketAddr = "127.0.0.1:50000".parse().unwrap();
    let before = (state.faults.is_on(SLEEP), state.faults.version());
    for (peer, headers, says) in [
        (
            Some("192.168.1.20:50000".parse().unwrap()),
            vec![("host", "192.168.1.10:5002")],
            "only on this machine",
        ),
        (
            Some(local),
            vec![("host", "attacker.example:5002")],
            "loopback host",
        ),
        (
            Some(local),
            vec![("host", "127.0.0.1.nip.io")],
            "loopback host",
        ),
        (
            Some(local),
            vec![
                ("host", "127.0.0.1:5002"),
                ("origin", "http://attacker.example"),
            ],
            "other sites",
        ),
        (
            Some(local),
            vec![("host", "localhost:5002"), ("origin", "null")],
            "other sites",
        ),
    ] {
        let refused = flip(peer, &headers).await;
        assert_eq!(refused.status, 403, "{headers:?}");
        assert!(
            refused.json()["error"].as_str().unwrap().contains(says),
            "{headers:?}"
        );
    }
    assert_eq!(
        (state.faults.is_on(SLEEP), state.faults.version()),
        before,
        "nothing refused flipped the fault or deployed a version"
    );

    for host in [
        "127.0.0.1:5002",
        "localhost:5002",
        "[::1]:5002",
        "LOCALHOST",
    ] {
        let ok = flip(
            Some(local),
            &[("host", host), ("origin", &format!("http://{host}"))],
        )
        .await;
        assert_eq!(ok.status, 200, "{host}");
    }
    // Through a real socket, as `lab fix` and curl reach it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(shop_runtime::serve::serve(
        ads_service::SERVICE,
        listener,
        app.clone(),
        std::future::pending(),
    ));
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/admin/faults");
    assert_eq!(client.get(&url).send().await.unwrap().status(), 200);
    let rebound = client
        .get(&url)
        .header("host", format!("shop.attacker.example:{}", addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status(), 403);
    // The shop's own pages are not the admin API's: any host may read them.
    let page = client
        .get(format!("http://{addr}/"))
        .header("host", "shop.example")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
}
