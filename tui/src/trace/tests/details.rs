//! The details pane: source lines or why not, wrapping and eliding statements, what span limits left out,
//! log records.

use super::*;
use crate::trace::details::{elide_columns, wrap};

#[test]
fn a_source_outside_the_workspace_is_drawn_as_the_reason() {
    let view = error_trace();
    let id = failing_span(&view);
    // A project, without the file.
    let empty = tempfile::tempdir().unwrap();
    std::fs::write(empty.path().join("Cargo.toml"), "").unwrap();
    let mut screen = TraceScreen::new(view, Focus::Span(id), Some(empty.path()));
    let failing = screen
        .nodes
        .iter()
        .find_map(|n| n.failure.as_ref())
        .unwrap();
    let source = failing.source.as_ref().unwrap();
    assert_eq!(
        (source.path.as_str(), i64::from(source.line)),
        (BANNER_FILE, BANNER_LINE)
    );
    let why = source.lines.as_ref().unwrap_err();
    assert_eq!(why, &format!("source not in this workspace: {BANNER_FILE}"));
    assert!(
        draw(&mut screen, 140, 40)
            .to_string()
            .contains("source not in this workspace:")
    );
}

#[test]
fn a_refused_source_is_drawn_as_the_reason() {
    // A project holding a file that is no source file.
    let project = tempfile::tempdir().unwrap();
    let root = project.path();
    std::fs::write(root.join("Cargo.toml"), "[package]\n").unwrap();
    std::fs::create_dir_all(root.join(".ssh")).unwrap();
    std::fs::write(root.join(".ssh/id_rsa"), "one\ntwo\nthree\n").unwrap();

    // Drawn as the reason, where the lines would be.
    let mut view = error_trace();
    for span in &mut view.spans {
        if span.attributes.contains_key("code.file.path") {
            span.attributes
                .insert("code.file.path".to_owned(), ".ssh/id_rsa".into());
            if let Some(at) = &mut span.location {
                at.file = ".ssh/id_rsa".to_owned();
            }
        }
    }
    let id = failing_span(&view);
    let mut screen = TraceScreen::new(view, Focus::Span(id), Some(root));
    let text = draw(&mut screen, 140, 40).to_string();
    assert!(
        text.contains("source not shown (not a source file): .ssh/id_rsa"),
        "{text}"
    );
    assert!(!text.contains("three"));
}

#[test]
fn wrap_breaks_after_spaces() {
    assert_eq!(
        wrap("SELECT id, name FROM t", 12, 5),
        ["SELECT id,", "name FROM t"]
    );
    assert_eq!(wrap("abcdefghij", 4, 2), ["abcd", "efg…"]);
    assert_eq!(wrap("", 4, 2), [""]);
    assert!(wrap("x", 0, 2).is_empty());
}

#[test]
fn select_lists_are_elided() {
    assert_eq!(
        elide_columns("SELECT a, (SELECT 1 FROM x) FROM t WHERE id = ?"),
        "SELECT … FROM t WHERE id = ?"
    );
    assert_eq!(
        elide_columns("select a from t"),
        "select … from t".replacen("select … from", "SELECT … from", 1)
    );
    assert_eq!(elide_columns("SELECT 1"), "SELECT 1");
    assert_eq!(elide_columns("UPDATE t SET a = ?"), "UPDATE t SET a = ?");
}

#[test]
fn a_span_cut_by_span_limits_says_what_was_left_out() {
    let mut view = error_trace();
    let id = failing_span(&view);
    for span in &mut view.spans {
        if span.span_id == id {
            span.dropped = protocol::Dropped {
                attributes: 872,
                events: 1,
                links: 0,
            };
        }
    }
    let dir = workspace();
    let mut screen = TraceScreen::new(view, Focus::Span(id), Some(dir.path()));
    let text = draw(&mut screen, 140, 60).to_string();
    assert!(
        text.contains("left out by span limits: 872 attributes, 1 event"),
        "{text}"
    );
}

#[test]
fn a_spans_log_records_sit_in_its_details_and_l_shows_the_traces() {
    let view = error_trace();
    let root = view.spans.iter().position(|s| s.parent.is_none()).unwrap();
    let failing = view
        .spans
        .iter()
        .position(|s| s.error && s.parent.is_some())
        .unwrap();
    let record = |span: usize, at_ms: u64, severity: (&str, i32), body: &str| protocol::LogView {
        time_unix_nano: view.start_unix_nano + at_ms * 1_000_000,
        service: view.spans[span].service.clone(),
        severity: severity.0.to_owned(),
        severity_number: severity.1,
        body: body.to_owned(),
        trace_id: view.trace_id.clone(),
        span_id: view.spans[span].span_id.clone(),
        attributes: Default::default(),
    };
    let mut screen = TraceScreen::new(view.clone(), Focus::None, None);
    screen.set_logs(vec![
        record(root, 3, ("ERROR", 17), "undefined ad for the banner"),
        record(root, 1, ("INFO", 9), "cart opened"),
    ]);
    let details = |screen: &TraceScreen| -> Vec<String> {
        screen
            .detail_lines(70, &Theme::mono())
            .iter()
            .map(|line| line.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect()
    };
    // The request's own records, in time order, at their time on the trace.
    screen.select_item(Item::Span(root));
    let lines = details(&screen);
    let at = lines
        .iter()
        .position(|l| l.starts_with("logs (2)"))
        .expect("a logs section");
    assert!(
        lines[at + 1].contains("+1.0 ms INFO  cart opened"),
        "{lines:#?}"
    );
    assert!(
        lines[at + 2].contains("+3.0 ms ERROR undefined ad"),
        "{lines:#?}"
    );
    // The failing span wrote nothing: the trace's error shows there all the same.
    screen.select_item(Item::Span(failing));
    let lines = details(&screen);
    let at = (lines.iter())
        .position(|l| l.starts_with("logs: none in this span; the trace's warnings and errors (1)"))
        .expect("the trace's error");
    assert!(
        lines[at + 1].contains("undefined ad for the banner"),
        "{lines:#?}"
    );
    // L: every record, this span's marked (none here; both on the request's).
    assert!(screen.handle_key(KeyEvent::from(KeyCode::Char('L'))));
    let lines = details(&screen);
    let at = (lines.iter())
        .position(|l| l.starts_with("the trace's logs (2"))
        .unwrap();
    assert!(
        !lines[at + 1].starts_with('›') && lines[at + 2].contains("ERROR"),
        "{lines:#?}"
    );
    screen.select_item(Item::Span(root));
    let lines = details(&screen);
    let at = (lines.iter())
        .position(|l| l.starts_with("the trace's logs (2"))
        .unwrap();
    assert!(
        lines[at + 1].starts_with('›') && lines[at + 2].starts_with('›'),
        "{lines:#?}"
    );
}
