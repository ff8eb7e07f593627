//! A class on loopback: an instructor's lab (`lab workshop --instructor`) and three students' labs (`lab
//! workshop --student NAME --class URL`), each a real `lab` process with its shop. The students work through
//! their own labs' APIs; the instructor's class table (`GET /api/class`, `lab class`, and what it prints when it
//! stops) shows each student's real progress: the step they are on, steps done, hints used, wrong answers.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use protocol::{ClassResponse, ErrorsResponse};
use shop_runtime::Variant;

use crate::cli::EPHEMERAL;
use crate::replay_shop::TempDir;

/// A `lab workshop --headless` process, and its query API's base URL (read from what it prints).
struct Lab {
    child: Child,
    api: String,
    /// The rest of its standard output, read on a thread of its own.
    rest: std::sync::mpsc::Receiver<String>,
}

impl Lab {
    fn start(data: &std::path::Path, args: &[&str]) -> Lab {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lab"))
            .arg("workshop")
            .args(["--headless", "--no-browser", "--data-dir"])
            .arg(data)
            .args(EPHEMERAL)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let api = loop {
            let line = lines
                .next()
                .expect("lab workshop printed where its query API listens")
                .unwrap();
            if let Some(url) = line
                .split_whitespace()
                .find(|w| w.starts_with("http://") && w.ends_with("/api/services"))
            {
                break url.trim_end_matches("/api/services").to_owned();
            }
        };
        let (send, rest) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let _ = send.send(line);
            }
        });
        Lab { child, api, rest }
    }

    fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> T {
        let response = reqwest::blocking::get(format!("{}{path}", self.api)).unwrap();
        assert!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        response.json().unwrap()
    }

    fn post(&self, path: &str, body: &str) -> serde_json::Value {
        let response = reqwest::blocking::Client::new()
            .post(format!("{}{path}", self.api))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .unwrap();
        assert!(
            response.status().is_success(),
            "POST {path}: {}",
            response.status()
        );
        response.json().unwrap()
    }

    /// Stops it as Ctrl-C does; what it printed after starting.
    fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{status}");
        self.rest.try_iter().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls until `ready` holds, up to `limit`.
fn until<T>(what: &str, limit: Duration, mut ready: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(found) = ready() {
            return found;
        }
        assert!(start.elapsed() < limit, "waited {limit:?} for {what}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn three_students_and_their_instructor_on_loopback() {
    let dirs: Vec<TempDir> = ["teacher", "ada", "grace", "barbara"]
        .iter()
        .map(|name| TempDir::new(&format!("class-{name}")))
        .collect();
    let teacher = Lab::start(&dirs[0].0, &["--instructor", "--no-replay"]);
    let class = teacher.api.clone();
    // Ada's lab replays traffic, so she can answer; Grace's and Barbara's do not.
    let ada = Lab::start(
        &dirs[1].0,
        &["--student", "ada", "--class", &class, "--speed", "max"],
    );
    let grace = Lab::start(
        &dirs[2].0,
        &["--student", "grace", "--class", &class, "--no-replay"],
    );
    let barbara = Lab::start(
        &dirs[3].0,
        &["--student", "barbara", "--class", &class, "--no-replay"],
    );

    // Ada: a hint, then the first step answered from what her lab found.
    ada.post("/api/workshop/steps/error/hint", "");
    let group = until(
        "Ada's lab to see the error",
        Duration::from_secs(90),
        || {
            let errors: ErrorsResponse = ada.get("/api/errors");
            errors.errors.into_iter().next()
        },
    );
    let answer = serde_json::json!({
        "answer": format!("{} {}:{}", group.service, group.file, group.line)
    });
    let verdict = ada.post("/api/workshop/steps/error/answer", &answer.to_string());
    assert_eq!(verdict["correct"], true, "{verdict}");
    // Grace: two hints and a wrong answer (her lab has no traffic: no error seen yet).
    grace.post("/api/workshop/steps/error/hint", "");
    grace.post("/api/workshop/steps/error/hint", "");
    let verdict = grace.post(
        "/api/workshop/steps/error/answer",
        r#"{"answer": "discounts-service discounts.rs:1"}"#,
    );
    assert_eq!(verdict["correct"], false, "{verdict}");
    // Barbara has not started.

    // The instructor's class table shows each of them as they are.
    let seen = until("the class table", Duration::from_secs(60), || {
        let class: ClassResponse = teacher.get("/api/class");
        let row = |name: &str| {
            class
                .students
                .iter()
                .find(|s| s.progress.student == name)
                .map(|s| &s.progress)
                .cloned()
        };
        let (ada, grace, barbara) = (row("ada")?, row("grace")?, row("barbara")?);
        (ada.done == 1 && grace.wrong_answers == 1 && grace.hints_used == 2)
            .then(|| (class.clone(), ada, grace, barbara))
    });
    let (class, ada_row, grace_row, barbara_row) = seen;
    assert_eq!(class.students.len(), 3);
    assert_eq!(
        (
            ada_row.current.as_deref(),
            ada_row.hints_used,
            ada_row.wrong_answers
        ),
        (Some("logs"), 1, 0)
    );
    assert_eq!(ada_row.steps[0].hints_used, 1);
    assert!(ada_row.steps[0].done);
    assert_eq!(
        (
            grace_row.current.as_deref(),
            grace_row.done,
            grace_row.hints_used
        ),
        (Some("error"), 0, 2)
    );
    assert_eq!(
        (
            barbara_row.done,
            barbara_row.hints_used,
            barbara_row.wrong_answers
        ),
        (0, 0, 0)
    );
    assert_eq!(barbara_row.total, lab::guide::STEPS.len());
    // Each on the variant their name picks.
    for row in [&ada_row, &grace_row, &barbara_row] {
        assert_eq!(
            row.variant,
            Variant::of_name(&row.student).number(),
            "{row:?}"
        );
    }
    assert!(class.students.iter().all(|s| s.quiet_s < 30));

    // For grading: `lab class` prints the same, as JSON or as a table.
    let json = Command::new(env!("CARGO_BIN_EXE_lab"))
        .args(["class", "--report", "json", "--connect", &teacher.api])
        .output()
        .unwrap();
    assert!(
        json.status.success(),
        "{}",
        String::from_utf8_lossy(&json.stderr)
    );
    let printed: ClassResponse = serde_json::from_slice(&json.stdout).unwrap();
    let names: Vec<&str> = printed
        .students
        .iter()
        .map(|s| s.progress.student.as_str())
        .collect();
    assert_eq!(names, ["ada", "barbara", "grace"]);
    let text = Command::new(env!("CARGO_BIN_EXE_lab"))
        .args(["class", "--connect", &teacher.api])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    let grace_line = text.lines().find(|l| l.starts_with("grace")).unwrap();
    assert!(
        grace_line.contains("error") && grace_line.contains(" 0/10"),
        "{text}"
    );

    // `lab tui --connect` shows the same through the guide pane: a student's guide, the instructor's class.
    use tui::run::GuideSource as _;
    let remote = tui::remote_guide::RemoteGuide::probe(&grace.api)
        .unwrap()
        .expect("a workshop's API serves its guide");
    assert_eq!(
        remote
            .workshop()
            .unwrap()
            .step("error")
            .unwrap()
            .hints
            .len(),
        2
    );
    assert!(remote.class().is_none(), "a student's lab keeps no class");
    let hint = remote.hint("error").unwrap();
    assert_eq!(hint.hints_used, 3);
    assert!(!remote.answer("error", "nowhere.rs:1").unwrap().correct);
    let refused = remote.answer("fix-ads", "done").unwrap_err();
    assert!(
        refused.to_string().contains("asks for no answer"),
        "{refused:#}"
    );
    let instructor = tui::remote_guide::RemoteGuide::probe(&teacher.api)
        .unwrap()
        .expect("the instructor's API serves the class");
    assert_eq!(instructor.class().unwrap().unwrap().students.len(), 3);
    assert!(
        instructor.workshop().is_err(),
        "the instructor has no steps"
    );

    // A report the class cannot take is refused, saying why.
    let refused = reqwest::blocking::Client::new()
        .post(format!("{}/api/class/report", teacher.api))
        .header("content-type", "application/json")
        .body(r#"{"student": "x"}"#)
        .send()
        .unwrap();
    assert_eq!(refused.status(), 400);

    for student in [ada, grace, barbara] {
        student.stop();
    }
    // Stopping, the instructor's lab prints the class.
    let printed = teacher.stop();
    assert!(
        printed.contains("student") && printed.lines().any(|l| l.starts_with("ada")),
        "{printed}"
    );
}
