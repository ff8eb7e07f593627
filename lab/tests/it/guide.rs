//! The guided workshop played through its API (`/api/workshop`) against a real lab: the shop, its replayed
//! traffic and a headless Chromium, the guide's routes on the collector's query API. Wrong answers are refused
//! with a reason that gives nothing away, right ones (read off the lab's own findings, as a student reads
//! them) accepted, and each fix step completes only once the new version's figures show the fix. A guide
//! opened again on the same data directory resumes where the student was.

use std::time::{Duration, Instant};

use collector::server::CollectorOptions;
use lab::guide::Guide;
use lab::replay::Speed;
use lab::shop::ShopOptions;
use lab::up::{LabOptions, ReplaySettings, RunningLab};
use protocol::{AnswerResponse, HintResponse, WorkshopResponse};
use shop_runtime::{ShopState, Variant};
use tui::run::FaultControl as _;

use crate::replay_shop::TempDir;

/// The guide's API of a running lab, as a script or another front end reads it.
struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> T {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        response.json().await.unwrap()
    }

    async fn workshop(&self) -> WorkshopResponse {
        self.get("/api/workshop").await
    }

    /// POSTs `body` to a step's `action`: the status and the body.
    async fn post(&self, step: &str, action: &str, body: &str) -> (u16, serde_json::Value) {
        let response = self
            .client
            .post(format!("{}/api/workshop/steps/{step}/{action}", self.base))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    async fn answer(&self, step: &str, answer: &str) -> AnswerResponse {
        let body = serde_json::json!({ "answer": answer }).to_string();
        let (status, body) = self.post(step, "answer", &body).await;
        assert_eq!(status, 200, "{step}: {body}");
        serde_json::from_value(body).unwrap()
    }

    /// A wrong answer: refused, with a reason that says `says` and none of `secrets`.
    async fn refused(&self, step: &str, answer: &str, says: &str, secrets: &[&str]) {
        let verdict = self.answer(step, answer).await;
        assert!(
            !verdict.correct,
            "{step}: {answer:?} was taken: {verdict:?}"
        );
        assert!(
            verdict.reason.contains(says),
            "{step}: {answer:?}: {verdict:?}"
        );
        for secret in secrets {
            assert!(
                !verdict.reason.contains(secret),
                "{step}: {answer:?} gave away {secret:?}: {verdict:?}"
            );
        }
    }

    async fn accepted(&self, step: &str, answer: &str) -> AnswerResponse {
        let verdict = self.answer(step, answer).await;
        assert!(
            verdict.correct,
            "{step}: {answer:?} was refused: {verdict:?}"
        );
        verdict
    }

    /// Polls `GET path` until `ready` finds what it wants in it, up to `limit`.
    async fn until<T: serde::de::DeserializeOwned + std::fmt::Debug, R>(
        &self,
        path: &str,
        limit: Duration,
        ready: impl Fn(&T) -> Option<R>,
    ) -> R {
        let start = Instant::now();
        loop {
            let answer: T = self.get(path).await;
            if let Some(found) = ready(&answer) {
                return found;
            }
            assert!(
                start.elapsed() < limit,
                "waited {limit:?} on {path}; it answers {answer:#?}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// The service a fault belongs to.
fn faults_service(fault: &str) -> &'static str {
    match fault.split('.').next() {
        Some("frontend") => "store-frontend",
        Some("ads") => "advertisements-service",
        _ => "discounts-service",
    }
}

/// The table a statement reads first (the word after its first FROM).
fn first_table(statement: &str) -> String {
    let words: Vec<&str> = statement.split_whitespace().collect();
    let at = words
        .iter()
        .position(|w| w.eq_ignore_ascii_case("from"))
        .expect("a FROM");
    words[at + 1].trim_matches('"').to_owned()
}

/// The line of `services/storefront/src/layout.rs` where `variant`'s misplaced banner call sits, read from the
/// source as it is now.
fn banner_call(variant: Variant) -> u32 {
    let source = include_str!("../../../services/storefront/src/layout.rs");
    let (from, call) = match variant.number() {
        0 => ("impl Layout", "Some(0) => banner(ad)?"),
        1 => ("fn navigation_banner", "banner(ad)"),
        _ => ("fn footer_banner", "banner(ad)"),
    };
    let start = source.find(from).expect("the variant's place");
    let offset = start + source[start..].find(call).expect("the banner call");
    source[..offset].matches('\n').count() as u32 + 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_original_workshop_played_through_the_api() {
    play(Variant::ORIGINAL).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn variant_1_played_through_the_api() {
    play(Variant::new(1).unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn variant_2_played_through_the_api() {
    play(Variant::new(2).unwrap()).await;
}

/// The whole workshop on fault `variant`, through the API, as a student would play it.
async fn play(variant: Variant) {
    let dir = TempDir::new(&format!("guide-api-{variant}"));
    let chromium = crate::browser::chromium();
    let guide = Guide::open(&dir.0, Some("ada".into()), variant).unwrap();
    let requests = lab::gor::parse(include_bytes!("../../../recordings/storedog.gor")).requests;
    let lab = RunningLab::start(LabOptions {
        collector: CollectorOptions {
            otlp_http: Some("127.0.0.1:0".parse().unwrap()),
            otlp_grpc: None,
            datadog: None,
            api: Some("127.0.0.1:0".parse().unwrap()),
            api_extension: Some(lab::guide::api::extension(Some(guide.clone()), None)),
            ..Default::default()
        },
        shop: ShopOptions {
            variant,
            ..ShopOptions::ephemeral(ShopState::Broken, dir.0.clone())
        },
        replay: Some((
            requests,
            ReplaySettings {
                speed: Speed::Max,
                concurrency: 4,
                loop_forever: true,
                timeout: Duration::from_secs(30),
            },
        )),
        export: None,
    })
    .await
    .unwrap();
    let cancel = tokio_util::sync::CancellationToken::new();
    let browser = chromium.map(|chromium| {
        let options = lab::browse::BrowseOptions {
            target: format!("http://{}", lab.shop.storefront),
            chromium: Some(chromium),
            walks: Some(2),
            pause: Duration::from_millis(300),
        };
        let cancel = cancel.clone();
        tokio::spawn(async move { lab::browse::browse(&options, &cancel).await })
    });
    let api = Api {
        client: reqwest::Client::new(),
        base: format!("http://{}", lab.collector.api.unwrap()),
    };
    let minutes = |n: u64| Duration::from_secs(60 * n);

    // The steps, none done, the first current.
    let start = api.workshop().await;
    assert_eq!(start.student.as_deref(), Some("ada"));
    assert_eq!(start.variant, variant.number());
    assert_eq!(start.current.as_deref(), Some("error"));
    assert_eq!(start.steps.len(), lab::guide::STEPS.len());
    assert!(start.steps.iter().all(|s| !s.done));

    // What the API refuses, and why.
    for (step, action, body, status, says) in [
        ("nope", "answer", r#"{"answer": "x"}"#, 404, "no step"),
        (
            "fix-ads",
            "answer",
            r#"{"answer": "x"}"#,
            400,
            "asks for no answer",
        ),
        ("error", "answer", "store-frontend", 400, "must be JSON"),
        ("error", "answer", r#"{"answer": "  "}"#, 400, "empty"),
        ("nope", "hint", "", 404, "no step"),
    ] {
        let (got, body) = api.post(step, action, body).await;
        assert_eq!(got, status, "{step} {action}: {body}");
        assert!(body["error"].as_str().unwrap().contains(says), "{body}");
    }
    let long = serde_json::json!({ "answer": "x".repeat(5000) }).to_string();
    assert_eq!(api.post("error", "answer", &long).await.0, 400);

    // Hints one at a time, then none; counted.
    let mut hints = Vec::new();
    for _ in 0..4 {
        let (status, body) = api.post("error", "hint", "").await;
        assert_eq!(status, 200);
        hints.push(serde_json::from_value::<HintResponse>(body).unwrap());
    }
    assert!(hints[..3].iter().all(|h| h.hint.is_some()));
    assert_eq!((hints[3].hint.as_ref(), hints[3].hints_used), (None, 3));
    assert_eq!(api.workshop().await.step("error").unwrap().hints.len(), 3);

    // 1. The error and its line, as the Errors tab shows them.
    let group = api
        .until("/api/errors", minutes(2), |e: &protocol::ErrorsResponse| {
            // The misplaced call's group (a loaded machine can add a timeout's, with no place in the code).
            (e.errors.iter())
                .find(|g| g.log_line.is_some() && !g.file.is_empty())
                .cloned()
        })
        .await;
    // The variant's own misplaced call, and the original workshop's answer refused where it is not this one's.
    assert_eq!(
        (group.file.as_str(), group.line),
        ("services/storefront/src/layout.rs", banner_call(variant))
    );
    if variant != Variant::ORIGINAL {
        let original = banner_call(Variant::ORIGINAL);
        api.refused(
            "error",
            &format!("store-frontend layout.rs:{original}"),
            "not the right line",
            &[],
        )
        .await;
    }
    let place = format!("{}:{}", group.file, group.line);
    let base = group.file.rsplit('/').next().unwrap().to_owned();
    let line = format!(":{}", group.line);
    let secrets = [base.as_str(), line.as_str()];
    api.refused(
        "error",
        &format!("discounts-service {place}"),
        "not the service",
        &secrets,
    )
    .await;
    api.refused(
        "error",
        &format!("{} {base}:1", group.service),
        "not the right line",
        &secrets,
    )
    .await;
    let verdict = api
        .accepted("error", &format!("{} {place}", group.service))
        .await;
    assert_eq!(verdict.next.as_deref(), Some("logs"));

    // 2. What the logs said: three words of the line in a row.
    let log_line = group.log_line.unwrap();
    api.refused(
        "logs",
        "something went wrong",
        "not in the log line",
        &[&log_line],
    )
    .await;
    let quote: Vec<&str> = log_line.split_whitespace().take(4).collect();
    api.accepted("logs", &quote.join(" ")).await;

    // 3. What the shopper saw: the script error their browsers reported.
    if browser.is_some() {
        let (file, line) = api
            .until(
                "/api/rum/errors",
                minutes(2),
                |e: &protocol::RumErrorsResponse| {
                    e.errors
                        .iter()
                        .find_map(|g| Some((g.file.clone()?, g.line?)))
                },
            )
            .await;
        let script = file.rsplit('/').next().unwrap().to_owned();
        api.refused("browser", "layout.rs:76", "Not that file", &[&script])
            .await;
        api.refused(
            "browser",
            &format!("{script}:{}", line + 1000),
            "not the right line",
            &[],
        )
        .await;
        api.accepted("browser", &format!("{script}:{line}")).await;
    }

    // 4. Where the time goes: the services slow on their own, once the lab has seen enough of them.
    api.until(
        "/api/deployments",
        minutes(2),
        |d: &protocol::DeploymentsResponse| {
            let slow = |name: &str| {
                d.deployments
                    .iter()
                    .any(|v| v.service == name && v.p95_ms >= 1000.0 && v.requests >= 5)
            };
            (slow("advertisements-service") && slow("discounts-service")).then_some(())
        },
    )
    .await;
    // Each slow service sleeps as long as its variant says.
    let deployments: protocol::DeploymentsResponse = api.get("/api/deployments").await;
    for (service, slept) in [
        ("advertisements-service", ads_service::sleep_for(variant)),
        ("discounts-service", discounts_service::sleep_for(variant)),
    ] {
        let p95 = (deployments.deployments.iter())
            .find(|d| d.service == service)
            .unwrap()
            .p95_ms;
        // The p95 (the sleeping endpoint is far more than a twentieth of the requests), a sketch's: within 1 %.
        let slept = slept.as_secs_f64() * 1000.0;
        assert!(
            (slept * 0.97..slept + 400.0).contains(&p95),
            "{service}: p95 {p95} ms, sleeps {slept} ms"
        );
    }
    api.refused(
        "bottleneck",
        "the storefront, ads and discounts",
        "only because it waits",
        &[],
    )
    .await;
    api.refused("bottleneck", "ads", "not all of them", &["discounts"])
        .await;
    api.accepted("bottleneck", "advertisements-service and discounts-service")
        .await;

    // 5. The N+1: its service and a table its loop reads, from the Insights tab's finding.
    let finding = api
        .until(
            "/api/insights",
            minutes(2),
            |i: &protocol::InsightsResponse| i.n_plus_one.first().cloned(),
        )
        .await;
    let table = first_table(&finding.query);
    // The relation the variant's loop walks.
    let walked = variant.pick(["discount_type", "influencer", "discount_type"]);
    assert_eq!(table, walked, "{finding:?}");
    api.refused(
        "n-plus-one",
        &format!("store-frontend {table}"),
        "Not that service",
        &[&table],
    )
    .await;
    api.refused("n-plus-one", &finding.service, "which table", &[&table])
        .await;
    api.accepted("n-plus-one", &format!("{} {table}", finding.service))
        .await;

    // 6–9. Each fix: not done while the fault is on; done once the new version's requests show it.
    let faults = lab::dashboard::ShopFaults::of(&lab.shop);
    for (step, fault) in [
        ("fix-banner", "frontend.ads-in-layout"),
        ("fix-ads", "ads.sleep"),
        ("fix-discounts", "discounts.sleep"),
        ("fix-n-plus-one", "discounts.n-plus-one"),
    ] {
        let before = api.workshop().await;
        let waiting = before.step(step).unwrap();
        assert!(!waiting.done, "{step} done before its fix: {waiting:?}");
        // What the data shows meanwhile: the service's latest version and its figures.
        assert!(
            waiting
                .waiting
                .as_deref()
                .unwrap()
                .contains(&format!("{} ", faults_service(fault))),
            "{waiting:?}"
        );
        faults.set(fault, false).unwrap();
        let version = (faults.list().unwrap().into_iter())
            .find(|f| f.name == fault)
            .unwrap()
            .version;
        let evidence = api
            .until("/api/workshop", minutes(2), |w: &WorkshopResponse| {
                let step = w.step(step)?;
                step.done.then(|| step.evidence.clone().unwrap())
            })
            .await;
        assert!(
            evidence.contains(&format!(" {version}:")),
            "{step} ({version}): {evidence}"
        );
    }

    // 10. Verified: a minute of the storefront without an error, fast.
    let evidence = api
        .until("/api/workshop", minutes(3), |w: &WorkshopResponse| {
            let step = w.step("verify")?;
            step.done.then(|| step.evidence.clone().unwrap())
        })
        .await;
    assert!(evidence.contains("no error"), "{evidence}");
    let end = api.workshop().await;
    match browser {
        Some(_) => assert_eq!(end.current, None, "every step done: {end:#?}"),
        None => assert_eq!(end.current.as_deref(), Some("browser")),
    }
    let wrong: u32 = end.steps.iter().map(|s| s.wrong_answers).sum();
    let other_variant = u32::from(variant != Variant::ORIGINAL);
    assert_eq!(wrong, other_variant + if browser.is_some() { 9 } else { 7 });

    cancel.cancel();
    if let Some(browser) = browser {
        browser.await.unwrap().unwrap();
    }
    lab.stop("test").await.unwrap();

    // The workshop is this variant's: opening it on another is refused.
    let other = Variant::new((variant.number() + 1) % u32::from(Variant::COUNT)).unwrap();
    let refused = Guide::open(&dir.0, Some("ada".into()), other).unwrap_err();
    assert!(
        refused.to_string().contains("begun on variant"),
        "{refused:#}"
    );

    // A restarted lab resumes: the same steps done, the same hints and wrong answers.
    let resumed = Guide::open(&dir.0, Some("ada".into()), variant).unwrap();
    let empty = collector::query::Query::new(
        collector::store::Store::new(10),
        collector::analysis::Analysis::default(),
    );
    let again = resumed.workshop(&empty);
    for (before, after) in end.steps.iter().zip(&again.steps) {
        assert_eq!(
            (
                before.done,
                &before.hints,
                before.wrong_answers,
                &before.evidence
            ),
            (
                after.done,
                &after.hints,
                after.wrong_answers,
                &after.evidence
            ),
            "{}",
            before.id
        );
    }
}
