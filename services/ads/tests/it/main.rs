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
