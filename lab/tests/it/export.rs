//! The way out, end to end: the broken shop's spans exported to Datadog's own Agent emulator
//! (`ddapm-test-agent`, from the venv `scripts/test` makes in `.venv-ddapm`), whose trace checks must pass and
//! whose snapshots of an error, a slow and an N+1 trace must match the committed ones (`SNAPSHOT_CI=1`); and
//! `lab export on|off` and the loop refusal as a user meets them. Without the emulator or the shared
//! recording the tests say they are skipped, except under CI=true.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use collector::export::ExportOptions;
use collector::export::datadog::DatadogTarget;
use collector::export::otlp::OtlpTarget;
use collector::server::{CollectorOptions, RunningCollector};
use lab::replay::Speed;
use lab::shop::ShopOptions;
use lab::up::{LabOptions, ReplaySettings, RunningLab};
use serde_json::Value;
use shop_runtime::ShopState;

use crate::dashboard::KillOnDrop;
use crate::replay_shop::{TempDir, shared_recording};

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// A free port on loopback (bound, then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The committed snapshots of the emulator.
fn snapshot_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/it/snapshots/datadog"
    ))
}

/// Datadog's Agent emulator, running on loopback ports of its own; killed when dropped.
struct TestAgent {
    _child: KillOnDrop,
    base: String,
}

impl TestAgent {
    /// Starts the emulator from `LAB_DDAPM_TEST_AGENT` or `.venv-ddapm/bin/ddapm-test-agent`, with its header
    /// checks on and their failures pooled; `None` (with a note) when it is not installed, except under CI.
    async fn start() -> Option<TestAgent> {
        let program = std::env::var_os("LAB_DDAPM_TEST_AGENT")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/../.venv-ddapm/bin/ddapm-test-agent"
                ))
            });
        if !program.exists() {
            assert!(
                !ci(),
                "CI=true but {} is missing: scripts/test installs it",
                program.display()
            );
            eprintln!(
                "skipping: {} is missing (scripts/test installs ddapm-test-agent there)",
                program.display()
            );
            return None;
        }
        let port = free_port();
        // Regenerate the snapshots with LAB_UPDATE_DATADOG_SNAPSHOTS=1 (then review the diff).
        let update = std::env::var_os("LAB_UPDATE_DATADOG_SNAPSHOTS").is_some();
        let child = Command::new(&program)
            .args(["--port", &port.to_string()])
            .args(["--otlp-http-port", &free_port().to_string()])
            .args(["--otlp-grpc-port", &free_port().to_string()])
            .arg("--snapshot-dir")
            .arg(snapshot_dir())
            .env("SNAPSHOT_CI", if update { "0" } else { "1" })
            .env(
                "ENABLED_CHECKS",
                "trace_count_header,meta_tracer_version_header,trace_content_length,\
                 meta_events_is_valid_json",
            )
            .env("DD_POOL_TRACE_CHECK_FAILURES", "true")
            .env("LOG_LEVEL", "WARNING")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting ddapm-test-agent");
        let agent = TestAgent {
            _child: KillOnDrop(child),
            base: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while reqwest::get(format!("{}/info", agent.base)).await.is_err() {
            assert!(Instant::now() < deadline, "ddapm-test-agent never answered");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Some(agent)
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let response = reqwest::get(format!("{}{path}", self.base)).await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    async fn start_session(&self, token: &str) {
        let (status, body) = self
            .get(&format!("/test/session/start?test_session_token={token}"))
            .await;
        assert_eq!(status, 200, "{body}");
    }

    /// The traces the emulator holds for a session, once it holds `at_least` spans and their count has held
    /// still for a moment.
    async fn traces(&self, token: &str, at_least: usize) -> Vec<Vec<Value>> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut last = usize::MAX;
        loop {
            let (status, body) = self
                .get(&format!("/test/session/traces?test_session_token={token}"))
                .await;
            assert_eq!(status, 200, "{body}");
            let traces: Vec<Vec<Value>> = serde_json::from_str(&body).unwrap();
            let spans = traces.iter().map(Vec::len).sum::<usize>();
            if spans >= at_least && spans == last {
                return traces;
            }
            assert!(
                Instant::now() < deadline,
                "the emulator holds {spans} spans of session {token}, not {at_least}"
            );
            last = spans;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// Waits until the lab's exporter has sent everything the collector accepted, which has stopped growing.
async fn exported(collector: &RunningCollector) -> protocol::ExportStats {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = u64::MAX;
    loop {
        let accepted = collector.store.accounting().accepted;
        let stats = collector.exports.stats().remove(0);
        if stats.offered == accepted
            && stats.queued + stats.in_flight == 0
            && accepted == last
            && accepted > 0
        {
            return stats;
        }
        assert!(Instant::now() < deadline, "never exported: {stats:?}");
        last = accepted;
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
}

/// Source lines in messages (`layout.rs:76`) as a placeholder, so an edit elsewhere in a file leaves the
/// snapshots alone: the regular expression `\.rs:[0-9]+`, URL-encoded.
const SNAPSHOT_PLACEHOLDERS: &str = "line:%5C.rs:%5B0-9%5D%2B";

/// What varies from run to run and is not the mapping's doing: addresses and ports the system picks, ids, the
/// calling lines and stacks (checked apart above; a stack, which names this machine's paths, is left out of the
/// committed snapshots), the shop's random ad.
const SNAPSHOT_IGNORES: &str = "meta.otel.trace_id,meta.url.full,meta.server.address,metrics.server.port,\
meta.server.port,\
meta.network.peer.address,metrics.network.peer.port,meta.client.address,metrics.client.port,\
meta.network.local.address,metrics.network.local.port,metrics.code.line.number,meta.error.stack,\
meta.url.path,meta.http.target,meta.events,meta.peer.hostname,metrics.http.response.body.size,\
metrics.http.response.header.content-length,meta.user_agent.original";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_broken_shop_exported_to_datadogs_agent_emulator() {
    let Some(requests) = shared_recording() else {
        return;
    };
    let Some(agent) = TestAgent::start().await else {
        return;
    };
    agent.start_session("workshop").await;
    let dir = TempDir::new("export-datadog");
    let mut lab = RunningLab::start(LabOptions {
        collector: CollectorOptions {
            otlp_http: None,
            otlp_grpc: None,
            datadog: None,
            api: None,
            export: ExportOptions {
                datadog: Some(DatadogTarget {
                    url: agent.base.clone(),
                }),
                ..ExportOptions::default()
            },
            ..CollectorOptions::default()
        },
        shop: ShopOptions::ephemeral(ShopState::Broken, dir.0.clone()),
        replay: Some((
            requests,
            ReplaySettings {
                speed: Speed::Max,
                concurrency: 16,
                loop_forever: false,
                timeout: Duration::from_secs(60),
            },
        )),
        export: None,
    })
    .await
    .unwrap();
    lab.replay_finished().await.unwrap();
    let stats = exported(&lab.collector).await;
    assert_eq!(
        (stats.failed, stats.dropped, stats.rejected),
        (0, 0, 0),
        "{stats:?}"
    );

    // What the emulator received: every span, each with the unified service tags.
    let traces = agent.traces("workshop", stats.sent as usize).await;
    let spans: Vec<&Value> = traces.iter().flatten().collect();
    assert_eq!(spans.len() as u64, stats.sent, "every span sent arrived");
    for span in &spans {
        for tag in ["env", "version"] {
            assert!(
                span["meta"][tag].as_str().is_some_and(|v| !v.is_empty()),
                "{tag} missing: {span}"
            );
        }
        assert!(span["service"].as_str().is_some_and(|v| !v.is_empty()));
    }
    assert!(spans.iter().all(|s| s["meta"]["env"] == "lab"));
    // The failing span carries what Error Tracking reads, down to the banner call's line.
    let failing: Vec<&&Value> = spans
        .iter()
        .filter(|s| s["error"] == 1 && s["meta"]["error.type"] == "MissingAdError")
        .collect();
    assert_eq!(
        failing.len(),
        8,
        "the recording's eight failing pages, each failing at the banner"
    );
    let banner = {
        let (file, line) = crate::workshop::banner_call();
        format!("{file}:{line}")
    };
    for span in &failing {
        assert_eq!(span["service"], "store-frontend");
        assert!(
            span["meta"]["error.message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
        let stack = span["meta"]["error.stack"].as_str().unwrap();
        assert!(stack.contains(&banner), "{banner} not in {stack}");
        let events: Value = serde_json::from_str(span["meta"]["events"].as_str().unwrap()).unwrap();
        assert_eq!(
            events[0]["name"], "exception",
            "span events as meta.events: {events}"
        );
    }
    // The mapping: web, http and sql spans, resources as Datadog names them.
    let resources: std::collections::BTreeSet<(&str, &str, &str)> = spans
        .iter()
        .map(|s| {
            (
                s["service"].as_str().unwrap(),
                s["type"].as_str().unwrap(),
                s["resource"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(resources.contains(&("discounts-service", "web", "GET /discount")));
    assert!(resources.contains(&("store-frontend", "http", "GET")));
    assert!(
        resources
            .iter()
            .any(|(service, kind, resource)| *service == "discounts-service"
                && *kind == "sql"
                && resource.contains("FROM discount_type")
                && resource.contains("WHERE id = $1")),
        "{:#?}",
        resources
            .iter()
            .filter(|r| r.0 == "discounts-service")
            .collect::<Vec<_>>()
    );
    // The emulator's own checks of every payload (trace count header, tracer version header, size).
    let (status, body) = agent
        .get("/test/trace_check/failures?return_all=true")
        .await;
    assert_eq!(status, 200, "trace checks failed: {body}");

    // One error trace, one slow trace and one N+1 trace, each in a session of its own, against the committed
    // snapshots.
    let storefront = format!("http://{}", lab.shop.storefront);
    for (token, path) in [
        ("error_trace", "/cart"),
        ("slow_trace", "/products/datadog-mug"),
        ("n_plus_one_trace", "/"),
    ] {
        agent.start_session(token).await;
        let before = lab.collector.exports.stats()[0].sent;
        let response = reqwest::get(format!("{storefront}{path}")).await.unwrap();
        assert!(response.status().as_u16() >= 200);
        // The request's whole trace is in the lab (its root too: the services export apart) and sent on.
        let deadline = Instant::now() + Duration::from_secs(60);
        let spans = loop {
            let stats = exported(&lab.collector).await;
            let latest = lab.collector.store.latest(1);
            if latest[0].root().is_some() {
                assert_eq!(
                    stats.sent - before,
                    latest[0].len() as u64,
                    "{token}: only its trace"
                );
                break latest[0].len();
            }
            assert!(Instant::now() < deadline, "{token}: its root never came");
        };
        let traces = agent.traces(token, spans).await;
        assert_eq!(traces.len(), 1, "{token}: one trace");
        assert_eq!(traces[0].len(), spans, "{token}: every span of it");
        let (status, body) = agent
            .get(&format!(
                "/test/session/snapshot?test_session_token={token}&ignores={SNAPSHOT_IGNORES}\
                 &regex_placeholders={SNAPSHOT_PLACEHOLDERS}&removes=meta.error.stack,meta.events"
            ))
            .await;
        assert_eq!(status, 200, "{token} differs from its snapshot: {body}");
        assert!(
            snapshot_dir().join(format!("{token}.json")).exists(),
            "{token}.json committed"
        );
    }
    let (status, body) = agent
        .get("/test/trace_check/failures?return_all=true")
        .await;
    assert_eq!(status, 200, "trace checks failed: {body}");
    lab.stop("test").await.unwrap();
}

fn lab_command(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lab"))
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[tokio::test]
async fn lab_export_switches_a_running_labs_exporter() {
    let second = RunningCollector::start(&CollectorOptions {
        otlp_http: Some("127.0.0.1:0".parse().unwrap()),
        otlp_grpc: None,
        datadog: None,
        api: None,
        ..CollectorOptions::default()
    })
    .await
    .unwrap();
    let local: Option<SocketAddr> = Some("127.0.0.1:0".parse().unwrap());
    let running = RunningCollector::start(&CollectorOptions {
        otlp_http: None,
        otlp_grpc: None,
        datadog: None,
        api: local,
        export: ExportOptions {
            otlp: Some(OtlpTarget {
                endpoint: format!("http://{}", second.otlp_http.unwrap()),
                headers: Vec::new(),
            }),
            ..ExportOptions::default()
        },
        ..CollectorOptions::default()
    })
    .await
    .unwrap();
    let api = format!("http://{}", running.api.unwrap());
    let off = tokio::task::spawn_blocking({
        let api = api.clone();
        move || lab_command(&["export", "off", "otlp", "--api", &api])
    })
    .await
    .unwrap();
    let said = String::from_utf8_lossy(&off.stdout);
    assert!(
        off.status.success(),
        "{said} {}",
        String::from_utf8_lossy(&off.stderr)
    );
    assert!(said.starts_with("otlp export off"), "{said}");
    assert!(!running.exports.stats()[0].enabled);
    let on = tokio::task::spawn_blocking({
        let api = api.clone();
        move || lab_command(&["export", "on", "otlp", "--api", &api])
    })
    .await
    .unwrap();
    assert!(String::from_utf8_lossy(&on.stdout).starts_with("otlp export on"));
    assert!(running.exports.stats()[0].enabled);
    let missing = tokio::task::spawn_blocking(move || {
        lab_command(&["export", "on", "datadog", "--api", &api])
    })
    .await
    .unwrap();
    assert!(!missing.status.success());
    let said = String::from_utf8_lossy(&missing.stderr);
    assert!(said.contains("no exporter named"), "{said}");
    running.stop().await.unwrap();
    second.stop().await.unwrap();
}

#[test]
fn lab_collect_refuses_to_export_to_its_own_receiver() {
    let port = free_port().to_string();
    let own = format!("127.0.0.1:{port}");
    let out = lab_command(&[
        "collect",
        "--otlp-http",
        "127.0.0.1:0",
        "--otlp-grpc",
        "127.0.0.1:0",
        "--api",
        "127.0.0.1:0",
        "--datadog",
        &own,
        "--export-datadog",
        &format!("http://localhost:{port}"),
    ]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("would loop") || said.contains("come back in"),
        "{said}"
    );
    assert!(said.contains(&own), "names the receiver: {said}");
}

/// A `lab collect` on loopback ports of its own, with `extra` arguments; killed when dropped.
struct Collect {
    child: KillOnDrop,
    otlp_http: u16,
    api: String,
}

impl Collect {
    async fn start(extra: &[&str]) -> Collect {
        Collect::start_with(extra, &[]).await
    }

    /// The same, with these environment variables.
    async fn start_with(extra: &[&str], env: &[(&str, &str)]) -> Collect {
        let (otlp_http, api) = (free_port(), free_port());
        let child = Command::new(env!("CARGO_BIN_EXE_lab"))
            .envs(env.iter().copied())
            .arg("collect")
            .args(["--otlp-http", &format!("127.0.0.1:{otlp_http}")])
            .args(["--otlp-grpc", "127.0.0.1:0", "--datadog", "127.0.0.1:0"])
            .args(["--api", &format!("127.0.0.1:{api}")])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let collect = Collect {
            child: KillOnDrop(child),
            otlp_http,
            api: format!("http://127.0.0.1:{api}"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while reqwest::get(format!("{}/api/stats", collect.api))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "lab collect never answered");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        collect
    }

    async fn stats(&self) -> protocol::Stats {
        reqwest::get(format!("{}/api/stats", self.api))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn get(&self, path: &str) -> Value {
        reqwest::get(format!("{}{path}", self.api))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Stops it as Ctrl-C does: what it printed.
    fn interrupt(mut self) -> String {
        let pid = self.child.0.id().to_string();
        Command::new("kill").args(["-INT", &pid]).status().unwrap();
        let mut out = String::new();
        std::io::Read::read_to_string(self.child.0.stdout.as_mut().unwrap(), &mut out).unwrap();
        out
    }
}

#[tokio::test]
async fn a_lab_collect_forwards_everything_to_a_second_over_otlp() {
    use prost::Message as _;
    let second = Collect::start(&[]).await;
    let backend = format!("http://127.0.0.1:{}", second.otlp_http);
    let first = Collect::start(&[
        "--export-otlp",
        &backend,
        "--export-otlp-header",
        "x-class=a",
    ])
    .await;
    let client = reqwest::Client::new();
    for seed in 1..=4 {
        let body = collector::synth::shop_batch(512, seed).encode_to_vec();
        let answer = client
            .post(format!("http://127.0.0.1:{}/v1/traces", first.otlp_http))
            .header("content-type", "application/x-protobuf")
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success());
    }
    // The workshop's traces too: errors with their exception events.
    let workshop = collector::workshop::generate(
        collector::workshop::Workshop::Broken,
        4,
        1_790_000_000_000_000_000,
    );
    let events = workshop.iter().filter(|s| !s.events.is_empty()).count();
    assert!(events > 0);
    let total = 2048 + workshop.len() as u64;
    let answer = client
        .post(format!("http://127.0.0.1:{}/v1/traces", first.otlp_http))
        .header("content-type", "application/x-protobuf")
        .body(collector::otlp::to_request(&workshop).encode_to_vec())
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let stats = loop {
        let stats = first.stats().await;
        let export = &stats.exports[0];
        if stats.accepted == total && export.sent == total && export.queued + export.in_flight == 0
        {
            break stats;
        }
        assert!(Instant::now() < deadline, "{stats:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(stats.exports[0].name, "otlp");
    assert_eq!(stats.exports[0].endpoint, format!("{backend}/v1/traces"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while second.stats().await.accepted < total {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        second.stats().await.accepted,
        total,
        "counted equal on both sides"
    );
    // Every trace, as each side's query API shows it: the same spans, ids, names, attributes and events.
    let listed = first.get("/api/traces?limit=1000").await;
    let ids: Vec<&str> = listed["traces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["trace_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2048 / 8 + 4);
    let mut with_events = 0;
    for id in ids {
        let (sent, got) = (
            first.get(&format!("/api/traces/{id}")).await,
            second.get(&format!("/api/traces/{id}")).await,
        );
        assert!(!sent["spans"].as_array().unwrap().is_empty());
        with_events += sent.to_string().contains("\"exception\"") as usize;
        assert_eq!(sent, got, "trace {id}");
    }
    assert!(
        with_events >= 2,
        "the failing traces' exceptions came through"
    );
    let said = first.interrupt();
    assert!(
        said.contains(&format!(
            "exported to otlp ({backend}/v1/traces): {total} sent"
        )),
        "{said}"
    );
}

/// The dashboard's status line, drawn at `width` columns, over `source`'s answers.
fn status_line(app: &mut tui::app::App, source: &dyn tui::source::DataSource) -> String {
    let refresh = tui::run::refresh(source, None, &app.params()).expect("the source answers");
    app.apply(tui::app::Update::Refreshed(Box::new(refresh)));
    let (width, height) = (150, 30);
    app.resize(tui::view::layout(ratatui::layout::Rect::new(0, 0, width, height)).body);
    let mut terminal =
        ratatui::Terminal::new(ratatui::backend::TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|frame| frame.render_widget(&*app, frame.area()))
        .unwrap();
    let drawn = terminal.backend().to_string();
    let last = drawn.lines().last().unwrap().to_owned();
    assert!(
        drawn.contains("store-frontend"),
        "the map is drawn: {drawn}"
    );
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_carries_on_and_switches_while_the_backend_is_down() {
    use tui::source::DataSource as _;
    let dead = format!("http://127.0.0.1:{}", free_port());
    let running = RunningCollector::start(&CollectorOptions {
        otlp_http: None,
        otlp_grpc: None,
        datadog: None,
        api: Some("127.0.0.1:0".parse().unwrap()),
        export: ExportOptions {
            otlp: Some(OtlpTarget {
                endpoint: dead,
                headers: Vec::new(),
            }),
            retry: collector::export::Retry {
                initial: Duration::from_millis(50),
                max: Duration::from_millis(100),
                max_elapsed: Duration::from_millis(400),
            },
            ..ExportOptions::default()
        },
        ..CollectorOptions::default()
    })
    .await
    .unwrap();
    running
        .ingest
        .submit(collector::workshop::generate(
            collector::workshop::Workshop::Broken,
            20,
            1_790_000_000_000_000_000,
        ))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while running.exports.stats()[0].failed == 0 {
        assert!(Instant::now() < deadline, "{:?}", running.exports.stats());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let api = format!("http://{}", running.api.unwrap());
    let in_process =
        lab::dashboard::InProcess::live(running.store.clone(), running.analysis.clone(), "lab up")
            .with_exports(running.exports.clone());
    tokio::task::spawn_blocking(move || {
        // Over the query API, as `lab tui --connect` reads a lab.
        let remote = tui::source::Remote::new(&api).unwrap();
        let mut app = tui::app::App::new("remote", true, tui::theme::Theme::mono());
        let status = status_line(&mut app, &remote);
        assert!(status.contains("otlp on"), "{status}");
        assert!(
            status.contains("lost (X)"),
            "what the dead backend cost: {status}"
        );
        let Some(tui::app::Action::SetExport { name, enabled }) =
            app.handle_key(ratatui::crossterm::event::KeyEvent::new(
                ratatui::crossterm::event::KeyCode::Char('X'),
                ratatui::crossterm::event::KeyModifiers::SHIFT,
            ))
        else {
            panic!("X asks to switch the OTLP exporter")
        };
        let after = remote.set_export(&name, enabled).unwrap();
        assert!(!after.enabled);
        assert!(status_line(&mut app, &remote).contains("otlp off"));
        // In-process, as `lab up`'s own dashboard switches it.
        assert!(in_process.set_export("otlp", true).unwrap().enabled);
        let mut app = tui::app::App::new("lab up", true, tui::theme::Theme::mono());
        assert!(status_line(&mut app, &in_process).contains("otlp on"));
        assert!(in_process.set_export("datadog", true).is_err());
    })
    .await
    .unwrap();
    running.stop().await.unwrap();
}

#[tokio::test]
async fn export_datadog_finds_the_agent_as_datadogs_libraries_do() {
    let port = free_port().to_string();
    let by_host = Collect::start_with(
        &["--export-datadog"],
        &[
            ("DD_AGENT_HOST", "localhost"),
            ("DD_TRACE_AGENT_PORT", &port),
        ],
    )
    .await;
    let stats = by_host.stats().await;
    assert_eq!(
        stats.exports[0].endpoint,
        format!("http://localhost:{port}/v0.4/traces")
    );
    let by_url = Collect::start_with(
        &["--export-datadog"],
        &[
            ("DD_TRACE_AGENT_URL", "http://127.0.0.2:9126"),
            ("DD_AGENT_HOST", "ignored"),
        ],
    )
    .await;
    assert_eq!(
        by_url.stats().await.exports[0].endpoint,
        "http://127.0.0.2:9126/v0.4/traces"
    );
    let given = Collect::start_with(
        &["--export-datadog", "http://127.0.0.3:8126", "--export-off"],
        &[("DD_TRACE_AGENT_URL", "http://127.0.0.2:9126")],
    )
    .await;
    let export = &given.stats().await.exports[0];
    assert_eq!(
        export.endpoint, "http://127.0.0.3:8126/v0.4/traces",
        "the flag wins"
    );
    assert!(!export.enabled, "--export-off");
}
