//! The storefront through its router, with the real ads and discounts services on 127.0.0.1:0, on SQLite and
//! (when reachable) PostgreSQL.

use std::net::SocketAddr;
use std::time::Duration;

use shop_runtime::Variant;
use shop_runtime::testing::{self, TestResponse, call};
use storefront::{ADS_IN_LAYOUT, AppState, ErrorDetails, UpstreamConfig, router};

/// The three services on one kind of database; the ads and discounts services listen on real sockets.
struct Shop {
    app: axum::Router,
    state: AppState,
    _dbs: Vec<testing::TestDb>,
}

async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

/// Databases for the three services: all SQLite or all PostgreSQL (schemas of their own).
async fn database_sets(name: &str) -> Vec<Vec<testing::TestDb>> {
    let mut sets = vec![vec![
        testing::sqlite(&format!("{name}-sf")),
        testing::sqlite(&format!("{name}-ads")),
        testing::sqlite(&format!("{name}-disc")),
    ]];
    if let Some(sf) = testing::postgres(&format!("{name}-sf")).await {
        let ads = testing::postgres(&format!("{name}-ads")).await.unwrap();
        let disc = testing::postgres(&format!("{name}-disc")).await.unwrap();
        sets.push(vec![sf, ads, disc]);
    }
    sets
}

/// A shop whose faults are `frontend_broken` for the layout, and off for the sleeps (they only make tests wait).
async fn shop(dbs: Vec<testing::TestDb>, frontend_broken: bool) -> Shop {
    shop_variant(dbs, frontend_broken, Variant::ORIGINAL).await
}

/// The same, its faults broken the way `variant` breaks them.
async fn shop_variant(dbs: Vec<testing::TestDb>, frontend_broken: bool, variant: Variant) -> Shop {
    let ads = ads_service::AppState::open(&dbs[1].options, false)
        .await
        .unwrap();
    let discounts = discounts_service::AppState::open(&dbs[2].options, false)
        .await
        .unwrap();
    let upstreams = UpstreamConfig {
        ads_url: format!("http://{}", serve(ads_service::router(ads)).await),
        discounts_url: format!(
            "http://{}",
            serve(discounts_service::router(discounts)).await
        ),
        timeout: Duration::from_secs(5),
        rum_intake: None,
        ..UpstreamConfig::default()
    };
    let state = AppState::open_variant(&dbs[0].options, frontend_broken, variant, upstreams)
        .await
        .unwrap();
    Shop {
        app: router(state.clone()),
        state,
        _dbs: dbs,
    }
}

impl Shop {
    async fn get(&self, uri: &str) -> TestResponse {
        call(&self.app, "GET", uri, None).await
    }

    async fn get_with_cookie(&self, uri: &str, cookie: &str) -> TestResponse {
        let request = axum::http::Request::get(uri)
            .header("cookie", cookie)
            .body(axum::body::Body::empty())
            .unwrap();
        testing::send(&self.app, request).await
    }

    async fn post_api(&self, token: Option<&str>, body: &str) -> TestResponse {
        let mut request = axum::http::Request::post("/api/v2/storefront/cart/add_item")
            .header("content-type", "application/json")
            .header("accept", "application/json");
        if let Some(token) = token {
            request = request.header("x-spree-order-token", token);
        }
        let request = request
            .body(axum::body::Body::from(body.to_owned()))
            .unwrap();
        testing::send(&self.app, request).await
    }
}

fn product_links(html: &str) -> usize {
    html.matches(r#"<li class="card">"#).count()
}

const SLUGS: [&str; 15] = [
    "datadog-tote",
    "datadog-bag",
    "datadog-baseball-jersey",
    "datadog-jr-spaghetti",
    "datadog-ringer-t-shirt",
    "apache-baseball-jersey",
    "spree-baseball-jersey",
    "spree-jr-spaghetti",
    "spree-ringer-t-shirt",
    "spree-tote",
    "spree-bag",
    "datadog-mug",
    "datadog-stein",
    "monitoring-stein",
    "monitoring-mug",
];

#[tokio::test]
async fn every_page_renders_in_the_fixed_shop() {
    for dbs in database_sets("pages").await {
        let db = dbs[0].name;
        let shop = shop(dbs, false).await;

        let home = shop.get("/").await;
        assert_eq!(home.status, 200, "{db}");
        let html = home.text();
        assert_eq!(
            product_links(&html),
            12,
            "{db}: the first page holds 12 products"
        );
        assert!(
            html.contains("Enter coupon code '"),
            "{db}: the home page shows a discount"
        );
        assert!(html.contains("at checkout for a $"), "{db}");
        assert!(
            html.contains(r#"<img src="data:image/svg+xml;base64,"#),
            "{db}: the banner is inlined"
        );
        assert!(
            // Both of its faults fixed at start: 1.2.
            html.contains("store-frontend 1.2"),
            "{db}: the footer names the deployed version"
        );

        let page2 = shop.get("/?page=2").await;
        assert_eq!(page2.status, 200);
        assert_eq!(product_links(&page2.text()), 3, "{db}");
        assert_eq!(
            product_links(&shop.get("/?page=zwei").await.text()),
            12,
            "an unreadable page is page 1"
        );

        for slug in SLUGS {
            let page = shop.get(&format!("/products/{slug}")).await;
            assert_eq!(page.status, 200, "{db}: {slug}");
            let html = page.text();
            assert!(
                html.contains("data:image/svg+xml;base64,"),
                "{db}: {slug} shows a banner"
            );
            assert!(
                !html.contains("Enter coupon code"),
                "{db}: product pages show no discount"
            );
            let picture = shop.get(&format!("/assets/products/{slug}.svg")).await;
            assert_eq!(picture.content_type(), "image/svg+xml");
        }
        let tote = shop.get("/products/datadog-tote").await.text();
        assert!(
            tote.contains("$15.99") && tote.contains(r#"name="variant_id" value="1""#),
            "{db}"
        );

        let missing = shop.get("/products/no-such-thing").await;
        assert_eq!(missing.status, 404, "{db}");
        assert!(missing.text().contains("The page you were looking for"));

        for (path, count) in [
            ("/t/categories", 15),
            ("/t/brands", 15),
            ("/t/bags", 4),
            ("/t/mugs", 4),
            ("/t/clothing", 7),
            ("/t/shirts", 3),
            ("/t/t-shirts", 4),
            ("/t/categories/clothing", 7),
        ] {
            let page = shop.get(path).await;
            assert_eq!(page.status, 200, "{db}: {path}");
            assert_eq!(product_links(&page.text()), count, "{db}: {path}");
        }
        assert_eq!(shop.get("/t/hats").await.status, 404);

        let search = shop
            .get("/products?utf8=%E2%9C%93&taxon=&keywords=t+shirt")
            .await;
        assert_eq!(search.status, 200);
        assert_eq!(
            product_links(&search.text()),
            2,
            "{db}: the two ringer T-shirts"
        );
        let search = shop
            .get("/products?utf8=%E2%9C%93&taxon=3&keywords=tote")
            .await;
        assert_eq!(
            product_links(&search.text()),
            2,
            "{db}: two totes among the bags"
        );
        let search = shop.get("/products?keywords=TOTE&taxon=4").await;
        assert_eq!(
            product_links(&search.text()),
            0,
            "{db}: no tote among the mugs"
        );
        assert_eq!(
            shop.get("/products?keywords=mug&taxon=mugs").await.status,
            400
        );

        assert_eq!(shop.get("/login").await.status, 200);
        let login = call(&shop.app, "POST", "/login", None).await;
        assert!(login.text().contains("Invalid email or password."));

        let favicon = shop.get("/favicon.ico").await;
        assert_eq!(
            (favicon.status.as_u16(), favicon.content_type()),
            (200, "image/x-icon")
        );
        let fingerprinted = shop.get("/assets/favicon-92e86d463e909754599d66730477622cd3dd0b9bff58c47c9c38bebceb8073e5.ico").await;
        assert_eq!(fingerprinted.status, 200);
        assert_eq!(shop.get("/assets/storefront.css").await.status, 200);
        assert_eq!(
            shop.get("/assets/glyphicons-halflings-regular.woff")
                .await
                .status,
            404
        );
    }
}

#[tokio::test]
async fn carts_follow_the_cookie_and_the_api_token() {
    for dbs in database_sets("carts").await {
        let db = dbs[0].name;
        let shop = shop(dbs, false).await;

        let empty = shop.get("/cart").await;
        assert_eq!(empty.status, 200);
        assert!(empty.text().contains("Your cart is empty"), "{db}");
        assert!(shop.get("/cart_link").await.text().contains("Cart: (0)"));
        assert_eq!(
            shop.get("/api_tokens").await.json()["order_token"],
            serde_json::Value::Null
        );

        let added = shop.get("/cart?variant_id=11").await;
        assert_eq!(added.status, 200, "{db}");
        assert!(added.text().contains("Spree Bag"), "{db}");
        let cookie = added.headers["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        assert!(cookie.starts_with("guest_token="), "{cookie}");
        let again = shop
            .get_with_cookie("/cart?variant_id=11&quantity=2", &cookie)
            .await;
        assert!(again.text().contains("$68.97"), "{db}: 3 × $22.99");
        assert!(
            shop.get_with_cookie("/cart_link", &cookie)
                .await
                .text()
                .contains("Cart: (3)"),
            "{db}"
        );
        let token = cookie.trim_start_matches("guest_token=");
        assert_eq!(
            shop.get_with_cookie("/api_tokens", &cookie).await.json()["order_token"],
            token
        );

        // The recorded session's Spree cookie names the seeded guest order, which the API adds to.
        let spree_cookie = "guest_token=ImFlaWhSUTFOblg3VGJmdmhodFFOTmcxNTY3NjExNTc4OTE5Ig%3D%3D--7ffb6f32af134e6e0f1337c397e3f453060c333a";
        let seeded = "aeihRQ1NnX7TbfvhhtQNNg1567611578919";
        let api = shop
            .post_api(
                Some(seeded),
                r#"{"variant_id":"11","quantity":1,"options":{}}"#,
            )
            .await;
        assert_eq!(api.status, 200, "{db}: {}", api.text());
        assert_eq!(api.json()["data"]["attributes"]["item_count"], 1);
        let api = shop
            .post_api(Some(seeded), r#"{"variant_id":1,"quantity":2}"#)
            .await;
        assert_eq!(
            api.json()["data"]["attributes"]["display_total"],
            "$54.97",
            "{db}"
        );
        assert!(
            shop.get_with_cookie("/cart_link", spree_cookie)
                .await
                .text()
                .contains("Cart: (3)")
        );

        let unknown = shop
            .post_api(Some("no-such-order"), r#"{"variant_id":"1"}"#)
            .await;
        assert_eq!(unknown.status, 404, "{db}");
        assert!(unknown.content_type().starts_with("application/json"));
        assert!(
            unknown.json()["error"]
                .as_str()
                .unwrap()
                .contains("could not be found")
        );
        assert_eq!(
            shop.post_api(None, r#"{"variant_id":"1"}"#).await.status,
            404
        );

        let malformed = shop.post_api(Some(seeded), r#"{"variant_id": "#).await;
        assert_eq!(malformed.status, 400, "{db}");
        assert!(malformed.content_type().starts_with("application/json"));
        assert!(!malformed.json()["error"].as_str().unwrap().is_empty());
        let bad_id = shop
            .post_api(Some(seeded), r#"{"variant_id":"eleven"}"#)
            .await;
        assert_eq!(bad_id.status, 400);
        assert!(bad_id.json()["error"].as_str().unwrap().contains("eleven"));
        assert_eq!(
            shop.post_api(Some(seeded), r#"{"variant_id":"999"}"#)
                .await
                .status,
            404
        );
        assert_eq!(
            shop.post_api(Some(seeded), r#"{"variant_id":"1","quantity":0}"#)
                .await
                .status,
            422
        );

        let not_a_number = shop.get("/cart?variant_id=abc").await;
        assert_eq!(not_a_number.status, 400, "{db}");
        assert!(not_a_number.text().contains("variant_id must be a number"));
        assert_eq!(shop.get("/cart?variant_id=999").await.status, 404);
        assert_eq!(shop.get("/cart?variant_id=1&quantity=-3").await.status, 400);
    }
}

#[tokio::test]
async fn user_input_is_escaped_and_never_sql() {
    for dbs in database_sets("input").await {
        let db = dbs[0].name;
        let shop = shop(dbs, false).await;
        let page = shop
            .get("/products?keywords=%3Cscript%3Ealert(1)%3C%2Fscript%3E")
            .await;
        assert_eq!(page.status, 200);
        let html = page.text();
        assert!(
            !html.contains("<script>alert(1)</script>"),
            "{db}: input must not reach the page raw"
        );
        assert!(
            html.contains("&#60;script&#62;alert(1)&#60;/script&#62;")
                || html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );

        let injection = shop.get("/products?keywords=%27+OR+1%3D1+--").await;
        assert_eq!(injection.status, 200, "{db}");
        assert_eq!(
            product_links(&injection.text()),
            0,
            "{db}: ' OR 1=1 -- finds nothing"
        );
        let wildcard = shop.get("/products?keywords=%25").await;
        assert_eq!(
            product_links(&wildcard.text()),
            0,
            "{db}: % is a literal, not a wildcard"
        );
        let everything = shop.get("/products?keywords=").await;
        assert_eq!(product_links(&everything.text()), 15);
    }
}

/// Each fault variant loads an ad on other pages and makes the misplaced call from its own line: the pages
/// that fail and the line they fail at are the variant's; fixed, every page answers and the listing that
/// loaded an ad shows it.
#[tokio::test]
async fn each_variant_fails_its_own_pages_at_its_own_line() {
    let source = include_str!("../../src/layout.rs");
    let mut lines = Vec::new();
    for (variant, with_ad, without_ad) in [
        (0, None, ["/t/mugs", "/products?keywords=tote"]),
        (1, Some("/t/mugs"), ["/products?keywords=tote", "/cart"]),
        (2, Some("/products?keywords=tote"), ["/t/mugs", "/cart"]),
    ] {
        let variant = Variant::new(variant).unwrap();
        let dbs = vec![
            testing::sqlite(&format!("variant{variant}-sf")),
            testing::sqlite(&format!("variant{variant}-ads")),
            testing::sqlite(&format!("variant{variant}-disc")),
        ];
        let shop = shop_variant(dbs, true, variant).await;
        if let Some(page) = with_ad {
            let answered = shop.get(page).await;
            assert_eq!(answered.status, 200, "variant {variant}: {page}");
            assert_eq!(
                answered
                    .text()
                    .matches("data:image/svg+xml;base64,")
                    .count(),
                1,
                "variant {variant}: {page} shows its banner"
            );
        }
        for page in without_ad {
            let failed = shop.get(page).await;
            assert_eq!(failed.status, 500, "variant {variant}: {page}");
            let details = failed.extensions.get::<ErrorDetails>().unwrap();
            let line = details.line.unwrap();
            let text = source.lines().nth(line as usize - 1).unwrap();
            assert!(
                text.contains("banner(ad)"),
                "variant {variant}: line {line} is {text:?}"
            );
            lines.push(line);
        }
        shop.state.faults.set(ADS_IN_LAYOUT, false).unwrap();
        for page in without_ad.into_iter().chain(with_ad) {
            assert_eq!(
                shop.get(page).await.status,
                200,
                "variant {variant} fixed: {page}"
            );
        }
        if let Some(page) = with_ad {
            assert_eq!(
                (shop.get(page).await.text())
                    .matches("data:image/svg+xml;base64,")
                    .count(),
                1,
                "variant {variant} fixed: {page}'s view shows the banner"
            );
        }
    }
    lines.dedup();
    assert_eq!(
        lines.len(),
        3,
        "each variant fails at a line of its own: {lines:?}"
    );
}

#[tokio::test]
async fn the_misplaced_banner_fails_every_page_that_loads_no_ad() {
    for dbs in database_sets("broken").await {
        let db = dbs[0].name;
        let shop = shop(dbs, true).await;
        assert!(shop.state.faults.is_on(ADS_IN_LAYOUT));
        assert_eq!(shop.state.faults.version(), "1.0");

        for ok in [
            "/",
            "/?page=2",
            "/products/datadog-stein",
            "/cart_link",
            "/api_tokens",
            "/favicon.ico",
        ] {
            assert_eq!(shop.get(ok).await.status, 200, "{db}: {ok}");
        }
        let home = shop.get("/").await.text();
        assert_eq!(
            home.matches("data:image/svg+xml;base64,").count(),
            1,
            "{db}: the layout renders the banner once"
        );

        for failing in [
            "/products?keywords=tote",
            "/t/mugs",
            "/t/categories",
            "/cart",
            "/cart?variant_id=1",
            "/login",
        ] {
            let page = shop.get(failing).await;
            assert_eq!(page.status, 500, "{db}: {failing}");
            assert!(page.text().contains("something went wrong"));
            assert!(
                !page.text().contains("layout.rs"),
                "the 500 page does not leak internals"
            );
            let details = page
                .extensions
                .get::<ErrorDetails>()
                .expect("5xx carry their details");
            assert_eq!(details.kind, "MissingAdError");
            assert_eq!(details.file, Some("services/storefront/src/layout.rs"));
            // The line is the misplaced call itself, as a student reading the file would find it.
            let source =
                std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/layout.rs"))
                    .unwrap();
            let line = source
                .lines()
                .nth(details.line.unwrap() as usize - 1)
                .unwrap();
            assert!(line.contains("banner(ad)?"), "{db}: {failing}: {line}");
        }
        assert_eq!(
            shop.get("/products/nope").await.status,
            404,
            "a missing product is still a 404"
        );

        // The fix, deployed at run time: the layout no longer renders the banner, the views do.
        let fixed = call(
            &shop.app,
            "POST",
            &format!("/admin/faults/{ADS_IN_LAYOUT}"),
            Some(r#"{"broken":false}"#),
        )
        .await;
        assert_eq!(fixed.json()["version"], "1.1");
        for path in ["/products?keywords=tote", "/t/mugs", "/cart", "/login"] {
            assert_eq!(shop.get(path).await.status, 200, "{db}: {path}");
        }
        let home = shop.get("/").await.text();
        assert_eq!(
            home.matches("data:image/svg+xml;base64,").count(),
            1,
            "{db}: the view renders the banner once"
        );
    }
}

#[tokio::test]
async fn pages_render_without_the_parts_whose_service_is_down() {
    let dbs = [testing::sqlite("down-sf")];
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let upstreams = UpstreamConfig {
        ads_url: format!("http://{closed}"),
        discounts_url: format!("http://{closed}"),
        timeout: Duration::from_secs(2),
        rum_intake: None,
        ..UpstreamConfig::default()
    };
    for broken in [false, true] {
        let state = AppState::open(&dbs[0].options, broken, upstreams.clone())
            .await
            .unwrap();
        let app = router(state);
        for path in ["/", "/products/spree-tote"] {
            let page = call(&app, "GET", path, None).await;
            assert_eq!(page.status, 200, "{path} (broken: {broken})");
            let html = page.text();
            assert!(
                !html.contains("data:image"),
                "no banner without the ads service"
            );
            assert!(
                !html.contains("coupon code"),
                "no discount without the discounts service"
            );
        }
    }
}

#[tokio::test]
async fn a_service_that_never_answers_costs_a_page_its_timeout_not_more() {
    let dbs = [testing::sqlite("slow-sf")];
    // Accepts connections and reads nothing, answers nothing: a hung service.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hung = listener.local_addr().unwrap();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let timeout = Duration::from_millis(300);
    let upstreams = UpstreamConfig {
        ads_url: format!("http://{hung}"),
        discounts_url: format!("http://{hung}"),
        timeout,
        rum_intake: None,
        ..UpstreamConfig::default()
    };
    let state = AppState::open(&dbs[0].options, false, upstreams)
        .await
        .unwrap();
    let app = router(state);
    let started = std::time::Instant::now();
    let page = call(&app, "GET", "/", None).await;
    let took = started.elapsed();
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(
        !html.contains("data:image"),
        "no banner from a hung service"
    );
    assert!(
        !html.contains("coupon code"),
        "no discount from a hung service"
    );
    // At least one timeout was waited out; a generous bound shows nobody waited for the hung service itself.
    assert!(took >= timeout, "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    holder.abort();
}

/// What the page script does on "Add to cart": a new cart by `POST /api/v2/storefront/cart` (its token in the
/// answer and the visitor's cookie), then `add_item` with that token; the cart link then carries the badge the
/// script updates, which an empty cart's link has not (the `frontend.cart-badge` fault's premise). The script's
/// broken branch is chosen by the page: `data-fault-cart-badge` on the body while the fault is on.
#[tokio::test]
async fn the_page_script_makes_a_cart_and_the_badge_appears_with_its_first_item() {
    for dbs in database_sets("badge").await {
        let db = dbs[0].name;
        let shop = shop(dbs, true).await;
        let empty = shop.get("/cart_link").await.text();
        assert!(!empty.contains("cart-count"), "{db}: {empty}");

        let request = axum::http::Request::post("/api/v2/storefront/cart")
            .body(axum::body::Body::empty())
            .unwrap();
        let created = testing::send(&shop.app, request).await;
        assert_eq!(created.status, 201, "{db}");
        let token = created.json()["data"]["attributes"]["token"]
            .as_str()
            .unwrap()
            .to_owned();
        let cookie = created.headers["set-cookie"].to_str().unwrap().to_owned();
        assert!(
            cookie.contains(&token) && cookie.contains("HttpOnly"),
            "{cookie}"
        );

        let added = shop
            .post_api(Some(&token), r#"{"variant_id":"11","quantity":2}"#)
            .await;
        assert_eq!(added.status, 200, "{db}: {}", added.text());
        assert_eq!(added.json()["data"]["attributes"]["item_count"], 2);
        let cookie = cookie.split(';').next().unwrap();
        let link = shop.get_with_cookie("/cart_link", cookie).await.text();
        assert!(
            link.contains(r#"<span id="cart-count" class="badge">2</span>"#),
            "{db}: {link}"
        );

        // The fault is the page's: on in the broken shop, off once fixed.
        assert!(
            shop.get("/")
                .await
                .text()
                .contains(r#"<body data-fault-cart-badge="on">"#)
        );
        shop.state
            .faults
            .set(storefront::CART_BADGE, false)
            .unwrap();
        assert!(shop.get("/").await.text().contains("<body>"), "{db}");
        // Without an intake to send to, the pages load no browser SDK.
        assert!(
            !shop.get("/").await.text().contains("datadog-rum-slim"),
            "{db}"
        );
    }
}
