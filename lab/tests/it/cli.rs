//! The `lab` binary as a user runs it: `lab up --headless`, stopped by Ctrl-C or by `--duration`, prints its
//! report and leaves a recording that `lab report` reads back to the same figures. Every port is picked by
//! the system, so this runs beside a lab of the user's own.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use collector::report::Report;

use crate::replay_shop::TempDir;

const EPHEMERAL: [&str; 14] = [
    "--otlp-http",
    "127.0.0.1:0",
    "--otlp-grpc",
    "127.0.0.1:0",
    "--datadog",
    "127.0.0.1:0",
    "--api",
    "127.0.0.1:0",
    "--storefront-port",
    "0",
    "--ads-port",
    "0",
    "--discounts-port",
    "0",
];

fn lab(args: &[&str], data: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lab"));
    command
        .args(args)
        .args(EPHEMERAL)
        .arg("--data-dir")
        .arg(data)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Waits for the child to exit, killing it past `limit`; its stdout.
fn finish(mut child: Child, limit: Duration) -> String {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let output = child.wait_with_output().unwrap();
            assert!(
                status.success(),
                "lab exited with {status}:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
            return String::from_utf8(output.stdout).unwrap();
        }
        if start.elapsed() > limit {
            child.kill().unwrap();
            let output = child.wait_with_output().unwrap();
            panic!(
                "lab did not stop within {limit:?}:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn ctrl_c_stops_the_lab_with_a_report_and_a_recording_that_reports_the_same() {
    let dir = TempDir::new("cli-ctrl-c");
    std::fs::create_dir_all(&dir.0).unwrap();
    let recording = dir.0.join("spans.jsonl");
    let mut child = lab(
        &[
            "up",
            "--headless",
            "--speed",
            "max",
            "--report",
            "json",
            "--record",
            recording.to_str().unwrap(),
        ],
        &dir.0.join("data"),
    )
    .spawn()
    .unwrap();
    // With a JSON report, everything else goes to stderr: wait there for the lab to be up.
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let up = line.contains("Ctrl-C stops");
        seen.push(line);
        if up {
            break;
        }
    }
    assert!(
        seen.iter().any(|l| l.contains("store-frontend")),
        "{seen:#?}"
    );
    // Let some traffic through (the broken home page takes 5 s), then interrupt as a user would.
    std::thread::sleep(Duration::from_secs(7));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let drain = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());
    let stdout = finish(child, Duration::from_secs(60));
    let stderr = drain.join().unwrap();
    let live: Report = serde_json::from_str(&stdout)
        .unwrap_or_else(|err| panic!("{err}: the report is JSON alone:\n{stdout}"));
    assert!(stderr.iter().any(|l| l.contains("Stopping")), "{stderr:#?}");

    let frontend = live
        .service("store-frontend")
        .expect("the storefront reported");
    assert!(frontend.requests > 10, "{frontend:?}");
    for service in ["advertisements-service", "discounts-service"] {
        assert!(live.service(service).is_some(), "{service}: {live:#?}");
    }
    assert!(live.accounting.accepted > 0);
    assert_eq!(live.accounting.accepted, live.accounting.stored);

    let output = Command::new(env!("CARGO_BIN_EXE_lab"))
        .args(["report", recording.to_str().unwrap(), "--report", "json"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let replayed: Report = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        replayed.accounting.accepted, live.accounting.accepted,
        "the recording holds every span the live lab accepted"
    );
    for live_service in &live.services {
        let from_file = replayed.service(&live_service.name).unwrap();
        assert_eq!(
            (from_file.requests, from_file.errors),
            (live_service.requests, live_service.errors),
            "{}",
            live_service.name
        );
    }
    let groups = |r: &Report| -> Vec<(String, String, u32, u64)> {
        r.errors
            .iter()
            .map(|e| (e.service.clone(), e.file.clone(), e.line, e.count))
            .collect()
    };
    assert_eq!(groups(&replayed), groups(&live));
}

#[test]
fn a_headless_run_lasts_its_duration_and_prints_a_text_report() {
    let dir = TempDir::new("cli-duration");
    let started = Instant::now();
    let child = lab(
        &[
            "up",
            "--headless",
            "--duration",
            "3s",
            "--state",
            "fixed",
            "--speed",
            "max",
        ],
        &dir.0.join("data"),
    )
    .spawn()
    .unwrap();
    let stdout = finish(child, Duration::from_secs(60));
    assert!(started.elapsed() >= Duration::from_secs(3));
    assert!(
        stdout.contains("Report of lab up --state fixed"),
        "{stdout}"
    );
    assert!(stdout.contains("store-frontend"), "{stdout}");
    assert!(
        stdout.contains("Errors (most frequent first)\n  none"),
        "{stdout}"
    );
    assert!(stdout.contains("N+1 queries\n  none"), "{stdout}");
}
