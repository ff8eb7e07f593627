//! The guide pane (`lab workshop`): drawn beside each view at 80×24 and 160×45 without covering it, and its
//! keys as plain functions — `W` shows and hides it, `A` types an answer, `H` asks for a hint, `<` `>` go
//! through the steps — with the lab's replies taken in as the event loop hands them over.

use protocol::{AnswerResponse, HintResponse, StepKind, WorkshopResponse, WorkshopStep};
use ratatui::crossterm::event::KeyCode;
use tui::app::{Action, App, GuidePane, GuideReply, GuideRequest, Tab, Update};

use crate::fixture::{self, app, ch, draw, key};

fn step(id: &str, title: &str, kind: StepKind, hints_total: usize) -> WorkshopStep {
    WorkshopStep {
        id: id.into(),
        title: title.into(),
        question: format!("The question of {title}?"),
        kind,
        hints: Vec::new(),
        hints_total,
        wrong_answers: 0,
        done: false,
        done_at: None,
        evidence: None,
        waiting: None,
        started_at: None,
    }
}

/// A workshop as the lab serves it at the start: the first two steps to answer, a fix waiting for the data.
fn workshop() -> WorkshopResponse {
    let mut error = step("error", "Find the error and its line", StepKind::Answer, 3);
    error.question =
        "Some pages answer 500. Which service fails, and at which file:line is the error raised?"
            .into();
    let mut fix = step("fix-ads", "Fix the slow ads service", StepKind::Fix, 1);
    fix.waiting = Some("advertisements-service runs 1.0 only: no new version deployed yet".into());
    WorkshopResponse {
        student: Some("ada".into()),
        variant: 0,
        current: Some("error".into()),
        steps: vec![
            error,
            step("logs", "Read what the logs said", StepKind::Answer, 3),
            fix,
            step("verify", "Verify", StepKind::Verify, 1),
        ],
    }
}

/// The broken fixture's dashboard with a guide, as `lab workshop` opens it.
fn with_guide() -> App {
    let mut app = app(&fixture::broken());
    app.guide = Some(GuidePane {
        shown: true,
        ..GuidePane::default()
    });
    let refresh = tui::app::Refresh {
        guide: Some(workshop()),
        generation: app.generation,
        ..Default::default()
    };
    // Only the guide's part of a refresh: keep the fixture's figures.
    let overview = std::mem::take(&mut app.overview);
    app.apply(Update::Refreshed(Box::new(refresh)));
    app.overview = overview;
    app
}

fn guide_request(action: Option<Action>) -> GuideRequest {
    match action {
        Some(Action::Guide(request)) => request,
        other => panic!("expected a guide request, got {other:?}"),
    }
}

#[test]
fn the_pane_sits_beside_the_view_at_80x24_and_160x45() {
    let mut app = with_guide();
    app.tab = Tab::Errors;
    // A hint given and a wrong answer's verdict, as the lab replied.
    app.apply(Update::Guide(GuideReply::Hint(HintResponse {
        step: "error".into(),
        hint: Some(
            "The Errors tab (5) groups the failures; the group says where the error is raised."
                .into(),
        ),
        hints_used: 1,
        hints_total: 3,
    })));
    app.apply(Update::Guide(GuideReply::Answered(AnswerResponse {
        step: "error".into(),
        correct: false,
        reason: "That is not the service whose requests fail: sort the services by errors.".into(),
        next: Some("error".into()),
    })));
    let small = draw(&mut app, 80, 24);
    insta::assert_snapshot!("guide_errors_80x24", small);
    let text = format!("{small:?}");
    // The Errors tab's group is still in view above the pane, the verdict and the hint in the pane.
    assert!(text.contains("MissingAdError"), "{text}");
    assert!(text.contains("✗ That is not the service"), "{text}");
    assert!(text.contains("hint 1/3"), "{text}");
    insta::assert_snapshot!("guide_errors_160x45", draw(&mut app, 160, 45));

    // Typing an answer: the pane's last line is the answer line.
    app.handle_key(ch('A'));
    for c in "store-frontend layout.rs:76".chars() {
        app.handle_key(ch(c));
    }
    let typing = draw(&mut app, 80, 24);
    assert!(
        format!("{typing:?}").contains("answer> store-frontend layout.rs:76"),
        "{typing:?}"
    );
    insta::assert_snapshot!("guide_typing_80x24", typing);

    // Hidden, the view has the whole body again.
    app.handle_key(key(KeyCode::Esc));
    app.handle_key(ch('W'));
    let hidden = format!("{:?}", draw(&mut app, 80, 24));
    assert!(!hidden.contains("Guide 1/4"), "{hidden}");
}

#[test]
fn answers_and_hints_go_to_the_lab_and_its_verdicts_come_back() {
    let mut app = with_guide();
    // Keys the guide does not take still mean what they mean: a tab, its list.
    assert_eq!(app.handle_key(ch('5')), None);
    assert_eq!(app.tab, Tab::Errors);

    // H asks the lab for the step's next hint.
    assert_eq!(
        guide_request(app.handle_key(ch('H'))),
        GuideRequest::Hint {
            step: "error".into()
        }
    );

    // A types an answer: every key goes to it (q does not quit, 2 does not switch tabs), Enter sends it.
    assert_eq!(app.handle_key(ch('A')), None);
    for c in "q2 store-frontend layout.rs:76".chars() {
        assert_eq!(app.handle_key(ch(c)), None, "{c}");
    }
    assert_eq!(app.tab, Tab::Errors);
    for _ in 0..3 {
        app.handle_key(key(KeyCode::Backspace));
    }
    let request = guide_request(app.handle_key(key(KeyCode::Enter)));
    assert_eq!(
        request,
        GuideRequest::Answer {
            step: "error".into(),
            answer: "q2 store-frontend layout.rs".into()
        }
    );

    // A wrong verdict stays on the step and counts; a right one moves the pane on to the next step.
    app.apply(Update::Guide(GuideReply::Answered(AnswerResponse {
        step: "error".into(),
        correct: false,
        reason: "The right file: which line?".into(),
        next: Some("error".into()),
    })));
    let guide = app.guide.as_ref().unwrap();
    assert_eq!(guide.step().unwrap().id, "error");
    assert_eq!(guide.step().unwrap().wrong_answers, 1);
    assert_eq!(guide.said(), Some(("The right file: which line?", false)));
    app.apply(Update::Guide(GuideReply::Answered(AnswerResponse {
        step: "error".into(),
        correct: true,
        reason: "store-frontend raises MissingAdError at src/layout.rs:76".into(),
        next: Some("logs".into()),
    })));
    let guide = app.guide.as_ref().unwrap();
    assert_eq!(guide.step().unwrap().id, "logs");
    assert!(guide.workshop.as_ref().unwrap().steps[0].done);
    let screen = format!("{:?}", draw(&mut app, 80, 24));
    assert!(
        screen.contains("✓ Find the error and its line: store-frontend raises"),
        "the right answer's verdict shows on the next step: {screen}"
    );

    // A step the data completes takes no answer; > and < go through the steps.
    app.handle_key(ch('>'));
    assert_eq!(app.guide.as_ref().unwrap().step().unwrap().id, "fix-ads");
    assert_eq!(app.handle_key(ch('A')), None);
    assert!(!app.guide_typing());
    let screen = format!("{:?}", draw(&mut app, 80, 24));
    assert!(
        screen.contains("not yet: advertisements-service runs 1.0 only"),
        "{screen}"
    );
    app.handle_key(ch('<'));
    app.handle_key(ch('<'));
    app.handle_key(ch('<'));
    assert_eq!(app.guide.as_ref().unwrap().step().unwrap().id, "error");

    // Hidden, A and H are not the guide's.
    app.handle_key(ch('W'));
    assert_eq!(app.handle_key(ch('H')), None);
    assert!(!app.guide_typing());
}

#[test]
fn without_a_guide_w_says_where_to_find_one() {
    let mut app = app(&fixture::broken());
    assert_eq!(app.handle_key(ch('W')), None);
    let (message, problem) = app.message.clone().unwrap();
    assert!(problem && message.contains("lab workshop"), "{message}");
}

#[test]
fn the_instructors_pane_is_the_class_table() {
    use protocol::{ClassResponse, ClassStudent, StudentProgress};
    let mut app = app(&fixture::broken());
    app.guide = Some(GuidePane {
        shown: true,
        ..GuidePane::default()
    });
    let student =
        |name: &str, variant, current: Option<&str>, done, hints, wrong, quiet_s| ClassStudent {
            progress: StudentProgress {
                student: name.into(),
                variant,
                current: current.map(Into::into),
                done,
                total: 10,
                hints_used: hints,
                wrong_answers: wrong,
                time_spent_s: 754,
                steps: Vec::new(),
            },
            last_report: 1_790_000_000,
            quiet_s,
        };
    let class = ClassResponse {
        students: vec![
            student("ada", 1, Some("logs"), 1, 1, 0, 2),
            student("barbara", 2, Some("error"), 0, 0, 0, 95),
            student("grace", 0, None, 10, 4, 3, 1),
        ],
    };
    let overview = std::mem::take(&mut app.overview);
    app.apply(Update::Refreshed(Box::new(tui::app::Refresh {
        class: Some(class),
        generation: app.generation,
        ..Default::default()
    })));
    app.overview = overview;
    let small = draw(&mut app, 80, 24);
    let text = format!("{small:?}");
    assert!(text.contains("Class · 3 students"), "{text}");
    assert!(text.contains("0  1m35"), "barbara's lab is quiet: {text}");
    assert!(text.contains("all done"), "{text}");
    insta::assert_snapshot!("class_80x24", small);
    insta::assert_snapshot!("class_160x45", draw(&mut app, 160, 45));
    // The instructor has no step to answer.
    assert_eq!(app.handle_key(ch('A')), None);
    assert!(!app.guide_typing());
}
