//! The dashboard as a user meets it: the real `lab up` in a real terminal (tmux), driven by key presses,
//! checked by what the screen shows; and `lab tui --connect`'s data source reading a lab that runs in
//! another process. Every port is picked by the system, so this runs beside a lab of the user's own.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use collector::analysis::Window;
use tui::source::{DataSource as _, Remote};

use crate::replay_shop::TempDir;

pub(crate) const EPHEMERAL: &str = "--otlp-http 127.0.0.1:0 --otlp-grpc 127.0.0.1:0 --datadog 127.0.0.1:0 \
    --api 127.0.0.1:0 --storefront-port 0 --ads-port 0 --discounts-port 0";

/// The workspace root: `lab up` runs there, as the README has it, so the dashboard finds the source files.
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// tmux, or `None` (with the reason printed) where it is missing; under CI=true a missing tmux fails.
pub(crate) fn tmux_available() -> bool {
    let found = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "tmux is needed for the dashboard's end-to-end tests (apt-get install tmux)"
        );
        eprintln!(
            "skipped: tmux is not installed, so the dashboard cannot be driven in a terminal"
        );
    }
    found
}

/// A terminal of its own (a private tmux server) running one command.
pub(crate) struct Tmux {
    socket: String,
}

impl Tmux {
    pub(crate) fn start(name: &str, width: u16, height: u16, command: &str) -> Tmux {
        let tmux = Tmux {
            socket: format!("lab-test-{name}-{}", std::process::id()),
        };
        let status = tmux
            .run(&[
                "new-session",
                "-d",
                "-x",
                &width.to_string(),
                "-y",
                &height.to_string(),
                command,
            ])
            .status
            .success();
        assert!(status, "tmux could not start");
        // Keep the pane after the command exits, to read what it printed last.
        tmux.run(&["set-option", "-g", "remain-on-exit", "on"]);
        tmux
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .env_remove("TMUX")
            .output()
            .unwrap()
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-J"]).stdout).into_owned()
    }

    pub(crate) fn keys(&self, keys: &[&str]) {
        for key in keys {
            self.run(&["send-keys", key]);
            // Esc followed at once by another key reads as Alt+key: a person types slower than that.
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    /// Types `text` as it is (no key names), as a person would.
    pub(crate) fn type_text(&self, text: &str) {
        self.run(&["send-keys", "-l", text]);
        std::thread::sleep(Duration::from_millis(150));
    }

    /// Waits until the screen satisfies `ready`, up to `limit`; the screen then.
    pub(crate) fn wait_for(
        &self,
        what: &str,
        limit: Duration,
        ready: impl Fn(&str) -> bool,
    ) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if ready(&screen) {
                return screen;
            }
            assert!(
                start.elapsed() < limit,
                "waited {limit:?} for {what}; the screen shows:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.run(&["kill-server"]);
    }
}

/// `lab up`, started away from the workspace (in its data directory): it finds the shop's source anyway.
fn lab_up(data: &Path) -> String {
    format!(
        "mkdir -p {0} && cd {0} && {1} up --speed max --data-dir {0} {EPHEMERAL}; echo LAB-EXITED $?",
        data.display(),
        env!("CARGO_BIN_EXE_lab"),
    )
}

/// The line `path:line` names, trimmed, as the dashboard should quote it.
fn source_line(path: &str, line: usize) -> String {
    let text = std::fs::read_to_string(workspace().join(path)).unwrap();
    text.lines().nth(line - 1).unwrap().trim().to_owned()
}

#[test]
fn from_the_erroring_service_to_the_source_line_of_the_banner_call() {
    if !tmux_available() {
        return;
    }
    let data = TempDir::new("dashboard-error");
    let term = Tmux::start("error", 120, 40, &lab_up(&data.0));
    let minute = Duration::from_secs(60);
    term.wait_for("the map with the failing storefront", minute, |s| {
        s.contains("Service map") && s.contains("store-frontend") && s.contains("discounts-service")
    });

    // Services, sorted by errors: the storefront comes first; its page lists the error group.
    term.keys(&["2", "e"]);
    term.wait_for("the services sorted by errors", minute, |s| {
        s.contains("sorted by error %")
            && s.lines()
                .find(|l| l.contains("service ") && !l.contains("name"))
                .is_some_and(|l| l.contains("store-frontend"))
    });
    term.keys(&["Enter"]);
    let page = term.wait_for("the storefront's page with its error", minute, |s| {
        s.contains("store-frontend · service") && s.contains("MissingAdError")
    });
    let place = page
        .split_whitespace()
        .find(|w| w.starts_with("services/storefront/src/") && w.contains(".rs:"))
        .unwrap_or_else(|| panic!("no file:line on the service page:\n{page}"))
        .trim_end_matches(|c: char| !c.is_ascii_digit())
        .to_owned();
    let (path, line) = place.rsplit_once(':').unwrap();
    let line: usize = line.parse().unwrap();

    // Its error group (listed after its endpoints: the last row of the page), then the group's latest trace,
    // opened on the failing span with its source line.
    term.keys(&["G", "Enter"]);
    let wanted = source_line(path, line);
    assert!(
        wanted.contains("banner("),
        "the error group points at the banner call, not at {path}:{line}: {wanted}"
    );
    let trace = term.wait_for("the trace with the source line", minute, |s| {
        s.contains(&format!("{path}:{line}"))
            && s.lines()
                .any(|l| l.contains(&format!("> {line} ")) && l.contains(&wanted))
    });
    assert!(trace.contains("MissingAdError"), "{trace}");

    // q leaves the terminal as it was, with the report printed.
    term.keys(&["q"]);
    let end = term.wait_for("the report after quitting", minute, |s| {
        s.contains("LAB-EXITED")
    });
    assert!(end.contains("LAB-EXITED 0"), "{end}");
    // The report's end (its head has scrolled past the pane's 40 lines).
    assert!(
        end.contains("Deployments") && end.contains("Spans: ") && end.contains("store-frontend"),
        "{end}"
    );
}

#[test]
fn the_n_plus_one_opens_in_the_flame_view() {
    if !tmux_available() {
        return;
    }
    let data = TempDir::new("dashboard-n-plus-one");
    let term = Tmux::start("n1", 120, 40, &lab_up(&data.0));
    let minute = Duration::from_secs(60);
    term.wait_for("the map", minute, |s| s.contains("Service map"));
    term.keys(&["6"]);
    term.wait_for("the N+1 finding", Duration::from_secs(90), |s| {
        s.contains("Insights ·") && s.contains("GET /discount") && s.contains("discount_type")
    });
    term.keys(&["Enter"]);
    // The trace screen's header, and its folded row: `▸ ×103 SELECT discount_type`.
    let folded = |l: &str| l.contains('▸') && l.contains('×') && l.contains("discount_type");
    let flame = term.wait_for("the folded repeated statements", minute, |s| {
        s.lines()
            .any(|l| l.starts_with("Trace ") && l.contains("spans"))
            && s.lines().any(folded)
    });
    let repeats: u64 = flame
        .lines()
        .find(|l| folded(l))
        .and_then(|l| l.split('×').nth(1))
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no ×N row:\n{flame}"));
    assert!(repeats >= 100, "{repeats} repeats:\n{flame}");
    term.keys(&["q"]);
    term.wait_for("the lab to stop", minute, |s| s.contains("LAB-EXITED"));
}

/// A child process killed when dropped, so a failed assertion leaves no lab running.
pub(crate) struct KillOnDrop(pub(crate) std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_remote_source_reads_a_lab_running_in_another_process() {
    let data = TempDir::new("dashboard-remote");
    let child = Command::new(env!("CARGO_BIN_EXE_lab"))
        .args(["up", "--headless", "--duration", "120s", "--speed", "max"])
        .args(EPHEMERAL.split_whitespace())
        .arg("--data-dir")
        .arg(&data.0)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let (lines_tx, lines) = mpsc::channel();
    let stdout = child.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let api = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(60))
            .expect("lab up says where its query API listens");
        if let Some(url) = line
            .split_whitespace()
            .find(|w| w.ends_with("/api/services"))
        {
            break url.trim_end_matches("/api/services").to_owned();
        }
    };
    let remote = Remote::connect(&api).unwrap();
    assert_eq!(remote.describe(), format!("remote {api}"));
    let start = Instant::now();
    let overview = loop {
        let overview = remote.overview(Window::All).unwrap();
        if !overview.errors.is_empty() && !overview.n_plus_one.is_empty() {
            break overview;
        }
        assert!(start.elapsed() < Duration::from_secs(90), "{overview:#?}");
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(overview.errors[0].service, "store-frontend");
    assert_eq!(overview.errors[0].file, "services/storefront/src/layout.rs");
    assert_eq!(overview.n_plus_one[0].endpoint, "GET /discount");
    assert!(overview.counts.accepted > 0);
    let trace = remote
        .trace(&overview.errors[0].example_trace_id)
        .unwrap()
        .expect("the example trace is held");
    let services: std::collections::BTreeSet<&str> =
        trace.spans.iter().map(|s| s.service.as_str()).collect();
    assert!(services.contains("store-frontend"), "{services:?}");
    let endpoints = remote.endpoints("discounts-service", Window::All).unwrap();
    assert!(
        endpoints.iter().any(|e| e.name == "GET /discount"),
        "{endpoints:?}"
    );
    // A dashboard without the tree is served the banner call's lines by the lab, which knows the shop's.
    let error = &overview.errors[0];
    let lines = remote
        .source(&error.file, error.line)
        .expect("the remote asks the collector")
        .expect("lab up serves the shop's source");
    let called = lines
        .iter()
        .find(|(number, _)| *number == error.line)
        .map(|(_, text)| text.trim().to_owned());
    assert_eq!(called, Some(source_line(&error.file, error.line as usize)));
    let refused = remote.source(".git/config", 1).unwrap().unwrap_err();
    assert!(refused.contains("not a source file"), "{refused}");
    drop(remote);
    let _ = Command::new("kill")
        .args(["-INT", &child.0.id().to_string()])
        .status();
    let _ = child.0.wait();
}

/// The README's workshop, "with the dashboard", key by key, at `width`×`height`: each step's screen is
/// checked for what the README says it shows.
fn the_readme_walkthrough(name: &str, width: u16, height: u16) {
    if !tmux_available() {
        return;
    }
    let data = TempDir::new(&format!("dashboard-walk-{name}"));
    let term = Tmux::start(name, width, height, &lab_up(&data.0));
    let minute = Duration::from_secs(60);
    term.wait_for("the map", minute, |s| {
        s.contains("store-frontend") && s.contains("discounts-service")
    });

    // 1. The error and its line: `2` then `e`; Enter on store-frontend; its error group; Enter.
    term.keys(&["2", "e"]);
    term.wait_for("the services sorted by errors", minute, |s| {
        table_rows(s, 1)
            .first()
            .is_some_and(|l| l.contains("store-frontend"))
    });
    term.keys(&["Enter"]);
    term.wait_for("the storefront's page with its error group", minute, |s| {
        s.contains("MissingAdError")
    });
    term.keys(&["G", "Enter"]);
    term.wait_for("the failing trace", minute, |s| {
        s.lines().any(|l| l.starts_with("Trace ")) && s.contains("MissingAdError")
    });
    // Its error group, on the Errors tab, with the line the storefront logged about it.
    term.keys(&["5"]);
    term.wait_for("the error group's log line", minute, |s| {
        s.contains("MissingAdError") && s.contains(" logged undefined ad for the banner")
    });
    // The same line on the Logs tab, errors only; Enter opens the trace it was written in.
    term.keys(&["9", "e"]);
    term.wait_for("the storefront's error on the Logs tab", minute, |s| {
        s.contains("records ERROR or worse")
            && table_rows_after(s, "message", 1)
                .first()
                .is_some_and(|l| l.contains("store-frontend") && l.contains("ERROR"))
    });
    term.keys(&["Enter"]);
    // On the span that wrote it (the request's), with the line in its logs.
    term.wait_for("the trace the error was logged in", minute, |s| {
        s.lines().any(|l| l.starts_with("Trace "))
            && s.contains("ERROR undefined ad for the banner")
    });

    // 2. The bottleneck: `2` lands on the service list again, `p` sorts it by p95: the two slow services
    // first after the storefront; `3`, `s`, Enter: the slowest trace.
    term.keys(&["2", "p"]);
    term.wait_for("the services sorted by p95", minute, |s| {
        let rows = table_rows(s, 3);
        rows.iter().any(|l| l.contains("advertisements-service"))
            && rows.iter().any(|l| l.contains("discounts-service"))
            && rows.iter().all(|l| l.contains(" s "))
    });
    term.keys(&["3", "s"]);
    term.wait_for("the traces, longest first", minute, |s| {
        s.contains("longest first")
    });
    term.keys(&["Enter"]);
    term.wait_for("the slowest trace, waiting on the two calls", minute, |s| {
        s.lines()
            .any(|l| l.starts_with("Trace ") && l.contains("GET /"))
            && s.contains("GET /ads")
            && s.contains("GET /discount")
    });

    // 3. The N+1: `6`, Enter: the repeats folded into one lit row.
    term.keys(&["6"]);
    term.wait_for("the N+1 finding", Duration::from_secs(90), |s| {
        s.contains("GET /discount") && s.contains("discount_type")
    });
    term.keys(&["Enter"]);
    term.wait_for("the folded repeats", minute, |s| {
        s.lines()
            .any(|l| l.contains('▸') && l.contains("×10") && l.contains("discount_type"))
    });

    // 4. Fix one: `f`, the third fault (the ads service's sleep, after the storefront's two), Enter: its
    // service deploys a new version.
    term.keys(&["f"]);
    term.wait_for("the fault panel", minute, |s| {
        s.contains("Faults") && s.contains("[broken]")
    });
    term.keys(&["j", "j", "Enter"]);
    term.wait_for("the fault fixed", minute, |s| s.contains("[fixed]"));
    term.keys(&["Escape"]);

    // 5. Verify: `7`: the new version under the old one, compared with it, and under the storefront (not
    // redeployed) what the fix did to its pages.
    term.keys(&["7"]);
    // Five home pages after the fix are needed to judge it: on a loaded machine that takes a while.
    let verified = term.wait_for("the fix, and the storefront after it", 2 * minute, |s| {
        let line = |what: &str| s.lines().find(|l| l.contains(what)).unwrap_or_default();
        line("↳ advertisements-serv").contains("better after it")
            && s.lines()
                .any(|l| l.contains(" 1.1 ") && l.contains("better"))
    });
    assert!(
        !verified.contains("store-frontend 1.1") && !verified.contains("N+1 gone"),
        "only the ads service was redeployed: {verified}"
    );

    term.keys(&["q"]);
    let end = term.wait_for("the lab to stop", minute, |s| s.contains("LAB-EXITED"));
    assert!(end.contains("LAB-EXITED 0"), "{end}");
}

/// The first `n` rows of the table on the screen: the lines after its header (the line naming `requests`).
fn table_rows(screen: &str, n: usize) -> Vec<&str> {
    table_rows_after(screen, "requests", n)
}

/// The first `n` rows of the table whose header line names `column`.
fn table_rows_after<'s>(screen: &'s str, column: &str, n: usize) -> Vec<&'s str> {
    screen
        .lines()
        .skip_while(|l| !l.contains(column))
        .skip(1)
        .take(n)
        .collect()
}

#[test]
fn the_readme_walkthrough_at_160x45() {
    the_readme_walkthrough("walk-wide", 160, 45);
}

#[test]
fn the_readme_walkthrough_at_80x24() {
    the_readme_walkthrough("walk-small", 80, 24);
}
