//! The discounts service through its router, on SQLite and (when reachable) PostgreSQL.

use std::time::Instant;

use discounts_service::{AppState, Discount, N_PLUS_ONE, SLEEP, router, sleep_for};
use shop_runtime::Variant;
use shop_runtime::testing::{self, call};

async fn open(db: &testing::TestDb) -> AppState {
    let state = AppState::open(&db.options, true)
        .await
        .expect("opening the database");
    // The sleep has its own test; the others would only wait.
    state.faults.set(SLEEP, false).unwrap();
    state
}

#[tokio::test]
async fn discounts_are_seeded_with_types_and_influencers() {
    for db in testing::databases("discounts").await {
        let state = open(&db).await;
        let app = router(state);
        let response = call(&app, "GET", "/discount", None).await;
        assert_eq!(response.status, 200, "{}", db.name);
        let discounts: Vec<Discount> = serde_json::from_slice(&response.body).unwrap();
        assert_eq!(discounts.len(), 103, "{}", db.name);
        let by_code = |code: &str| {
            discounts
                .iter()
                .find(|d| d.code == code)
                .unwrap_or_else(|| panic!("{code}"))
        };
        let bfriday = by_code("BFRIDAY");
        assert_eq!((bfriday.name.as_str(), bfriday.value), ("Black Friday", 5));
        assert_eq!(
            bfriday.discount_type.influencer.as_ref().unwrap().name,
            "Sherry"
        );
        assert_eq!(by_code("OFF").value, 300);
        assert!(by_code("OFF").discount_type.influencer.is_none());
        assert_eq!(by_code("PARTY").value, 542);
        let with_influencer = discounts
            .iter()
            .filter(|d| d.discount_type.influencer.is_some())
            .count();
        assert_eq!(with_influencer, 101, "{}", db.name);
        let mut types: Vec<i64> = discounts.iter().map(|d| d.discount_type.id).collect();
        types.dedup();
        assert_eq!(types.len(), 103, "each discount has its own type");
    }
}

#[tokio::test]
async fn the_seed_is_the_same_on_every_database_and_start() {
    let mut answers = Vec::new();
    for db in testing::databases("discounts-seed").await {
        let app = router(open(&db).await);
        answers.push(call(&app, "GET", "/discount", None).await.json());
        // A second start finds the data and does not seed again.
        let again = router(open(&db).await);
        assert_eq!(
            call(&again, "GET", "/discount", None).await.json(),
            answers[0]
        );
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]));
}

#[tokio::test]
async fn the_n_plus_one_runs_a_statement_per_relation_and_the_fix_runs_one() {
    for db in testing::databases("discounts-n1").await {
        let state = open(&db).await;
        let app = router(state.clone());
        let before = state.db.statements();
        let broken = call(&app, "GET", "/discount", None).await;
        let broken_statements = state.db.statements() - before;
        assert_eq!(broken_statements, 1 + 103 + 101, "{}", db.name);

        let flipped = call(
            &app,
            "POST",
            &format!("/admin/faults/{N_PLUS_ONE}"),
            Some(r#"{"broken": false}"#),
        )
        .await;
        assert_eq!(flipped.status, 200);
        assert_eq!(
            flipped.json()["version"],
            "1.2",
            "the sleep fix and this fix are two deployments"
        );

        let before = state.db.statements();
        let fixed = call(&app, "GET", "/discount", None).await;
        assert_eq!(state.db.statements() - before, 1, "{}", db.name);
        assert_eq!(
            fixed.json(),
            broken.json(),
            "the fix answers the same JSON ({})",
            db.name
        );

        let stats = call(&app, "GET", "/admin/stats", None).await.json();
        assert_eq!(
            stats["database"],
            if db.name == "sqlite" {
                "sqlite"
            } else {
                "postgresql"
            }
        );
        assert_eq!(
            stats["sql_statements"].as_u64(),
            Some(state.db.statements())
        );
    }
}

/// Each fault variant's loop walks its own relation, in its own number of statements, and answers the same JSON
/// as the fix; each variant's sleep is its own length.
#[tokio::test]
async fn every_variants_n_plus_one_answers_as_the_fix_does() {
    let db = testing::sqlite("discounts-variants");
    let fixed = {
        let state = open(&db).await;
        state.faults.set(N_PLUS_ONE, false).unwrap();
        call(&router(state), "GET", "/discount", None).await.json()
    };
    let mut sleeps = Vec::new();
    for (variant, statements) in [(0, 1 + 103 + 101), (1, 1 + 101), (2, 1 + 1 + 103)] {
        let variant = Variant::new(variant).unwrap();
        let state = AppState::open_variant(&db.options, true, variant)
            .await
            .unwrap();
        assert_eq!(state.faults.variant(), variant);
        state.faults.set(SLEEP, false).unwrap();
        let app = router(state.clone());
        let before = state.db.statements();
        let broken = call(&app, "GET", "/discount", None).await;
        assert_eq!(
            state.db.statements() - before,
            statements,
            "variant {variant}"
        );
        assert_eq!(broken.json(), fixed, "variant {variant} answers as the fix");
        sleeps.push(sleep_for(variant));
    }
    assert_eq!(
        sleeps[0],
        std::time::Duration::from_millis(2500),
        "the original"
    );
    sleeps.dedup();
    assert_eq!(sleeps.len(), 3, "each variant sleeps its own time");
}

#[tokio::test]
async fn the_sleep_fault_delays_the_answer_and_its_fix_removes_the_delay() {
    let db = testing::sqlite("discounts-sleep");
    let state = AppState::open(&db.options, true).await.unwrap();
    let app = router(state.clone());
    let started = Instant::now();
    assert_eq!(call(&app, "GET", "/discount", None).await.status, 200);
    assert!(
        started.elapsed().as_millis() >= 2500,
        "{:?}",
        started.elapsed()
    );
    state.faults.set(SLEEP, false).unwrap();
    state.faults.set(N_PLUS_ONE, false).unwrap();
    let started = Instant::now();
    assert_eq!(call(&app, "GET", "/discount", None).await.status, 200);
    assert!(
        started.elapsed().as_millis() < 1000,
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn the_admin_api_rejects_bad_input_with_a_message() {
    let db = testing::sqlite("discounts-admin");
    let app = router(open(&db).await);
    let faults = call(&app, "GET", "/admin/faults", None).await.json();
    assert_eq!(faults["service"], "discounts-service");
    let names: Vec<&str> = faults["faults"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, [SLEEP, N_PLUS_ONE]);

    let unknown = call(
        &app,
        "POST",
        "/admin/faults/discounts.nope",
        Some(r#"{"broken": false}"#),
    )
    .await;
    assert_eq!(unknown.status, 404);
    assert!(
        unknown.json()["error"]
            .as_str()
            .unwrap()
            .contains("discounts.nope")
    );

    let malformed = call(
        &app,
        "POST",
        &format!("/admin/faults/{SLEEP}"),
        Some("{broken"),
    )
    .await;
    assert_eq!(malformed.status, 400);
    assert!(
        malformed.json()["error"]
            .as_str()
            .unwrap()
            .contains("broken")
    );

    let hello = call(&app, "GET", "/", None).await;
    assert_eq!(hello.status, 200);
    assert!(hello.text().contains("discounts"));
    assert_eq!(call(&app, "GET", "/nope", None).await.status, 404);
}

/// Started alone, the service exports OTLP/HTTP where `OTEL_EXPORTER_OTLP_ENDPOINT` says, with the resource
/// `OTEL_RESOURCE_ATTRIBUTES` adds to, and flushes its spans when stopped with Ctrl-C.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alone_it_exports_otlp_where_the_otel_variables_say() {
    use std::io::{BufRead as _, BufReader};
    use std::process::{Command, Stdio};

    use collector::model::Value;
    use collector::server::{CollectorOptions, RunningCollector};

    let collector = RunningCollector::start(&CollectorOptions {
        otlp_http: Some("127.0.0.1:0".parse().unwrap()),
        otlp_grpc: None,
        datadog: None,
        api: None,
        ..Default::default()
    })
    .await
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_discounts-service"))
        .args(["--listen", "127.0.0.1:0", "--state", "broken", "--data-dir"])
        .arg(data.path())
        .env(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://{}", collector.otlp_http.unwrap()),
        )
        .env(
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment.name=classroom,team=blue",
        )
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let url = stderr
        .lines()
        .map_while(Result::ok)
        .find_map(|line| {
            line.split_once("listening on ")
                .map(|(_, url)| url.to_owned())
        })
        .expect("the service says where it listens");
    let response = reqwest::get(format!("{url}/discount")).await.unwrap();
    assert_eq!(response.status(), 200);
    // A fix deploys version 1.1, which says so in its log, exported over OTLP like its spans.
    let fixed = reqwest::Client::new()
        .post(format!("{url}/admin/faults/discounts.sleep"))
        .header("content-type", "application/json")
        .body(r#"{"broken": false}"#)
        .send()
        .await
        .unwrap();
    assert!(fixed.status().is_success(), "{}", fixed.status());
    let response = reqwest::get(format!("{url}/discount")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
    let store = collector.stop().await.unwrap();

    let deployed = store.logs().search(&collector::logs::LogQuery {
        service: Some("discounts-service".to_owned()),
        limit: 10,
        ..Default::default()
    });
    assert!(
        deployed
            .iter()
            .any(|r| r.body.starts_with("deployed version 1.1")
                && r.resource.service_version() == Some("1.1")),
        "{deployed:?}"
    );
    let traces = store.traces_for_service("discounts-service", 10);
    let traces: Vec<_> = traces
        .into_iter()
        .filter(|t| {
            t.root()
                .is_some_and(|r| r.resource.service_version() == Some("1.0"))
        })
        .collect();
    assert_eq!(traces.len(), 1, "one request of 1.0, one trace");
    let spans = traces[0].to_vec();
    let root = spans
        .iter()
        .find(|s| s.parent_span_id.is_none())
        .expect("a root span");
    assert_eq!(&*root.name, "GET /discount");
    let resource = |key: &str| {
        collector::model::attribute(&root.resource.attributes, key)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    assert_eq!(
        resource("service.name").as_deref(),
        Some("discounts-service")
    );
    assert_eq!(resource("service.version").as_deref(), Some("1.0"));
    assert_eq!(
        resource("deployment.environment.name").as_deref(),
        Some("classroom")
    );
    assert_eq!(resource("team").as_deref(), Some("blue"));
    let statements: Vec<_> = spans
        .iter()
        .filter(|s| s.attribute("db.system.name").and_then(Value::as_str) == Some("sqlite"))
        .collect();
    assert_eq!(statements.len(), 205, "1 + 103 + 101 statements");
    let mut lookups = 0;
    for statement in &statements {
        assert_eq!(statement.parent_span_id, Some(root.span_id));
        let text = statement
            .attribute("db.query.text")
            .and_then(Value::as_str)
            .unwrap();
        // The 204 lookups each bind an id (the seeded ids are numbers): the text holds the placeholder, and
        // no other digit, so no id, whichever was bound.
        if text.ends_with("WHERE id = $1") {
            lookups += 1;
        }
        assert!(
            !text.replace("$1", "").chars().any(|c| c.is_ascii_digit()),
            "placeholders, never values: {text}"
        );
    }
    assert_eq!(lookups, 103 + 101, "every lookup binds its id");
}
