//! The `lab` binary as a user runs it: `lab up --headless`, stopped by Ctrl-C or by `--duration`, prints its
//! report and leaves a recording that `lab report` reads back to the same figures. Every port is picked by
//! the system, so this runs beside a lab of the user's own.

use std::io::{BufRead as _, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use collector::report::Report;

use crate::replay_shop::TempDir;

pub(crate) const EPHEMERAL: [&str; 14] = [
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

/// Reads `pipe` to its end on a thread of its own: a child blocks once a pipe nobody reads is full, so both
/// of its pipes are read while the test waits for it.
fn drain(pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = BufReader::new(pipe).read_to_end(&mut text);
        String::from_utf8_lossy(&text).into_owned()
    })
}

/// A `lab` started with its stdout read as it comes (see [`drain`]).
struct Running {
    child: Child,
    stdout: JoinHandle<String>,
}

impl Running {
    fn spawn(mut command: Command) -> Running {
        let mut child = command.spawn().unwrap();
        let stdout = drain(child.stdout.take().unwrap());
        Running { child, stdout }
    }

    /// Waits for the child to exit, killing it past `limit`; its stdout. Its stderr is read here too,
    /// unless the caller took it.
    fn finish(self, limit: Duration) -> String {
        self.finish_both(limit).0
    }

    /// As [`Running::finish`], with its stderr too.
    fn finish_both(mut self, limit: Duration) -> (String, String) {
        let stderr = self.child.stderr.take().map(drain);
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break Some(status);
            }
            if start.elapsed() > limit {
                self.child.kill().unwrap();
                self.child.wait().unwrap();
                break None;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let stdout = self.stdout.join().unwrap();
        let stderr = stderr.map_or_else(String::new, |stderr| stderr.join().unwrap());
        match status {
            Some(status) => assert!(status.success(), "lab exited with {status}:\n{stderr}"),
            None => panic!("lab did not stop within {limit:?}:\n{stderr}"),
        }
        (stdout, stderr)
    }
}

/// Each service's request count as the query API at `api` answers it; none before it answers.
fn requests_by_service(
    runtime: &tokio::runtime::Runtime,
    api: &str,
) -> std::collections::BTreeMap<String, u64> {
    runtime.block_on(async {
        let Ok(response) = reqwest::get(format!("{api}/api/services")).await else {
            return Default::default();
        };
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        body["services"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|service| {
                Some((
                    service["name"].as_str()?.to_owned(),
                    service["requests"].as_u64()?,
                ))
            })
            .collect()
    })
}

#[test]
fn ctrl_c_stops_the_lab_with_a_report_and_a_recording_that_reports_the_same() {
    let dir = TempDir::new("cli-ctrl-c");
    std::fs::create_dir_all(&dir.0).unwrap();
    let recording = dir.0.join("spans.jsonl");
    let mut running = Running::spawn(lab(
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
    ));
    // With a JSON report, everything else goes to stderr: wait there for the lab to be up.
    let stderr = running.child.stderr.take().unwrap();
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
    // The rest of stderr is read as it comes, and checked once the lab has stopped.
    let rest = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());
    assert!(
        seen.iter().any(|l| l.contains("store-frontend")),
        "{seen:#?}"
    );
    let api = seen
        .iter()
        .find(|l| l.contains("query API"))
        .and_then(|l| {
            l.split_whitespace()
                .find(|word| word.starts_with("http://"))
        })
        .and_then(|url| url.strip_suffix("/api/services"))
        .unwrap_or_else(|| panic!("the lab says where its query API is: {seen:#?}"))
        .to_owned();
    // Let some traffic through, as the query API counts it, then interrupt as a user would. The broken home
    // page takes 5 s: the ads and discounts services report once its first calls to them end.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let requests = requests_by_service(&runtime, &api);
        let count = |service: &str| requests.get(service).copied().unwrap_or(0);
        if count("store-frontend") > 10
            && count("advertisements-service") > 0
            && count("discounts-service") > 0
        {
            break;
        }
        if Instant::now() > deadline {
            let _ = running.child.kill();
            panic!("not enough traffic after 120 s: {requests:?}");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let status = Command::new("kill")
        .args(["-INT", &running.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let stdout = running.finish(Duration::from_secs(60));
    let stderr = rest.join().unwrap();
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
    assert_eq!(replayed.accounting.damaged_lines, 0);

    // A damaged recording: the report counts what it skipped, and --strict makes that an error.
    let mut damaged = std::fs::read(&recording).unwrap();
    damaged.extend(b"{\"resourceSpans\": [\n");
    std::fs::write(&recording, damaged).unwrap();
    let report = |strict: bool| {
        let mut args = vec!["report", recording.to_str().unwrap(), "--report", "json"];
        if strict {
            args.push("--strict");
        }
        Command::new(env!("CARGO_BIN_EXE_lab"))
            .args(args)
            .output()
            .unwrap()
    };
    let lenient = report(false);
    assert!(lenient.status.success());
    let counted: Report = serde_json::from_slice(&lenient.stdout).unwrap();
    assert_eq!(counted.accounting.damaged_lines, 1);
    assert_eq!(counted.accounting.accepted, live.accounting.accepted);
    assert!(String::from_utf8_lossy(&lenient.stderr).contains("skipped"));
    let strict = report(true);
    assert_eq!(strict.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&strict.stderr).contains("1 damaged lines (--strict)"),
        "{}",
        String::from_utf8_lossy(&strict.stderr)
    );
}

#[test]
fn a_headless_run_lasts_its_duration_and_prints_a_text_report() {
    let dir = TempDir::new("cli-duration");
    let started = Instant::now();
    let running = Running::spawn(lab(
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
    ));
    let stdout = running.finish(Duration::from_secs(60));
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

/// The log, redirected (not a terminal), has no colour codes, and a failed request's error line names its
/// trace, so "a trace id from a log" leads to the trace.
#[test]
fn the_log_off_a_terminal_is_plain_and_an_error_line_names_its_trace() {
    let dir = TempDir::new("cli-log");
    let mut command = lab(
        &["up", "--headless", "--duration", "3s", "--speed", "max"],
        &dir.0.join("data"),
    );
    command.env("RUST_LOG", "warn,storefront=error");
    let (_, stderr) = Running::spawn(command).finish_both(Duration::from_secs(60));
    assert!(
        !stderr.contains('\x1b'),
        "colour codes in a redirected log:\n{stderr}"
    );
    let line = stderr
        .lines()
        .find(|line| line.contains("ERROR") && line.contains("MissingAdError"))
        .unwrap_or_else(|| panic!("no error line of the misplaced banner:\n{stderr}"));
    let id = line
        .split("trace_id=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no trace_id in {line}"));
    assert!(
        id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) && id != "0".repeat(32),
        "{line}"
    );
}
