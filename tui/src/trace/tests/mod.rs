//! The trace screen's tests: its snapshots, keys, clicks, folding and layout (the source reader's are in
//! `source.rs`).

use collector::model::{Event, KeyValue, Resource, SpanKind, Status, StatusCode, Value};
use collector::view::trace_view;
use collector::workshop::{BANNER_FILE, BANNER_LINE, Workshop, generate};
use collector::{Span, SpanId, TraceId};
use protocol::SpanView;
use protocol::TraceView;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;

use super::rows::{Item, Mark};
use super::{Focus, TraceScreen};
use crate::theme::Theme;

mod details;
mod draw;
mod flame;
mod keys;
mod rows;

/// `insta::assert_snapshot!`, reading and writing the snapshots in `src/snapshots/`, where they were kept before
/// the trace screen became a folder (their names, `tui__trace__tests__*`, follow this module's path).
macro_rules! assert_snapshot {
    ($($snapshot:tt)*) => {
        insta::with_settings!({ snapshot_path => "../../snapshots" }, {
            insta::assert_snapshot!($($snapshot)*);
        })
    };
}

const START: u64 = 1_700_000_000_000_000_000;
const DISCOUNT_TYPE: &str =
    "SELECT id, name, discount_query, influencer_id FROM discount_type WHERE id = ?";

/// The broken workshop's four traces: home (discounts' N+1), product, taxon (error), cart (error).
fn workshop() -> Vec<TraceView> {
    let spans = generate(Workshop::Broken, 4, START);
    let mut ids = Vec::new();
    for span in &spans {
        if !ids.contains(&span.trace_id) {
            ids.push(span.trace_id);
        }
    }
    ids.into_iter()
        .map(|id| {
            let mine: Vec<_> = spans.iter().filter(|s| s.trace_id == id).cloned().collect();
            trace_view(id, &mine)
        })
        .collect()
}

fn error_trace() -> TraceView {
    workshop()
        .into_iter()
        .find(|t| {
            t.spans
                .iter()
                .any(|s| s.events.iter().any(|e| e.name == "exception"))
        })
        .expect("the broken workshop has an erroring trace")
}

fn discounts_trace() -> TraceView {
    workshop()
        .into_iter()
        .find(|t| t.spans.len() > 200)
        .expect("the broken workshop has an N+1 trace")
}

fn failing_span(view: &TraceView) -> String {
    view.spans
        .iter()
        .find(|s| s.events.iter().any(|e| e.name == "exception"))
        .map(|s| s.span_id.clone())
        .unwrap()
}

/// A project (a `Cargo.toml` marks it) holding the banner's source at its repo-relative path.
pub(super) fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Cargo.toml"), "[workspace]\n").unwrap();
    let file = dir.path().join(BANNER_FILE);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let banner = BANNER_LINE;
    let mut text = String::new();
    for n in 1..=banner + 20 {
        let line = match n - banner {
            -2 => "        let banner = if state.faults.is_on(ADS_IN_LAYOUT) {".to_owned(),
            -1 => "            // FAULT frontend.ads-in-layout: every page renders the banner"
                .to_owned(),
            0 => "            banner(ad)?".to_owned(),
            1 => "        } else {".to_owned(),
            2 => "            None".to_owned(),
            _ => format!("// line {n}"),
        };
        text.push_str(&line);
        text.push('\n');
    }
    std::fs::write(file, text).unwrap();
    dir
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

/// What the event loop does: tells the screen its size, then draws it.
fn draw(screen: &mut TraceScreen, width: u16, height: u16) -> TestBackend {
    screen.resize(Rect::new(0, 0, width, height));
    let screen = &*screen;
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|f| screen.render(f.area(), f.buffer_mut(), &Theme::mono()))
        .unwrap();
    terminal.backend().clone()
}

/// What the event loop does with a click: asks the screen what lies under it, and clicks that.
fn click(screen: &mut TraceScreen, area: Rect, column: u16, row: u16) -> bool {
    match screen.hit(area, column, row) {
        Some(target) => {
            screen.click(target);
            true
        }
        None => false,
    }
}

fn selected_index(screen: &TraceScreen) -> usize {
    match screen.selected_row().unwrap().item {
        Item::Span(i) => i,
        Item::Group(g) => panic!("group {g} selected"),
    }
}

fn selected_span(screen: &TraceScreen) -> Option<&SpanView> {
    match screen.selected_row()?.item {
        Item::Span(i) => Some(&screen.view.spans[i]),
        Item::Group(_) => None,
    }
}

/// A span id for a name (the same name, the same id).
fn id(name: &str) -> SpanId {
    // FNV-1a: stable, and never zero for these names.
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    SpanId::from_u64(hash)
}

fn text(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Value::Str(value.into()),
    }
}

/// A span of service `svc` in the trace `…dead`, `parent` empty for a root.
fn span(name_id: &str, parent: &str, name: &str, start_ms: u64, end_ms: u64) -> Span {
    Span {
        trace_id: TraceId::from_hex(DEAD).unwrap(),
        span_id: id(name_id),
        parent_span_id: (!parent.is_empty()).then(|| id(parent)),
        name: name.into(),
        kind: SpanKind::Internal,
        start_ns: START + start_ms * 1_000_000,
        end_ns: START + end_ms * 1_000_000,
        status: Status::default(),
        attributes: Vec::new(),
        events: Vec::new(),
        links: Vec::new(),
        resource: std::sync::Arc::new(Resource {
            attributes: vec![text("service.name", "svc")],
        }),
        scope: Default::default(),
        dropped: Default::default(),
    }
}

const DEAD: &str = "0000000000000000000000000000dead";

/// Orphans, a parent cycle, a self-parent, a zero-duration span, one ending before it starts, one outside
/// the trace's bounds, escapes and a huge attribute; the root alone on the critical path.
fn degenerate() -> TraceView {
    let mut huge = span("h", "a", "huge\x1b[2J attribute", 2, 3);
    huge.attributes.push(text("blob", &"x".repeat(100_000)));
    huge.attributes.push(KeyValue {
        key: "list".into(),
        value: Value::Array(
            vec![
                Value::Int(1),
                Value::Int(2),
                Value::Map(vec![text("k", "v\nw")].into()),
            ]
            .into(),
        ),
    });
    let mut failing = span("f", "missing-parent", "orphan\nfails", 4, 4);
    failing.status = Status {
        code: StatusCode::Error,
        message: Some("bad\x07 news".into()),
    };
    failing
        .attributes
        .push(text("code.file.path", "../../etc/passwd"));
    failing.attributes.push(KeyValue {
        key: "code.line.number".into(),
        value: Value::Int(3),
    });
    failing.events.push(Event {
        name: "exception".into(),
        time_ns: START + 4_000_000,
        attributes: vec![
            text("exception.type", "Boom"),
            text("exception.message", "it broke"),
            text("exception.stacktrace", "not a stack at all"),
        ],
    });
    let mut backwards = span("b", "", "ends before it starts", 9, 8);
    backwards.end_ns = START;
    let spans = vec![
        span("a", "", "root", 1, 10),
        huge,
        span("c1", "c2", "cycle one", 3, 5),
        span("c2", "c1", "cycle two", 4, 6),
        span("s", "s", "own parent", 5, 5),
        failing,
        backwards,
        span("late", "a", "after the trace", 20, 30),
        span("wide", "a", &"幅広い名前".repeat(20), 2, 4),
        span("a", "", "duplicate id", 2, 2),
    ];
    let mut view = trace_view(TraceId::from_hex(DEAD).unwrap(), &spans);
    view.duration_ms = 0.0;
    view.critical_path = vec![view.spans[0].span_id.clone(), "nowhere".to_owned()];
    for (i, span) in view.spans.iter_mut().enumerate() {
        span.critical = i == 0;
    }
    view
}

#[test]
fn error_trace_80x24() {
    let view = error_trace();
    let id = failing_span(&view);
    let dir = workspace();
    let mut screen = TraceScreen::new(view, Focus::Span(id.clone()), Some(dir.path()));
    assert_eq!(selected_span(&screen).unwrap().span_id, id);
    assert_snapshot!(draw(&mut screen, 80, 24));
}

#[test]
fn error_trace_140x40() {
    let view = error_trace();
    let id = failing_span(&view);
    let dir = workspace();
    let mut screen = TraceScreen::new(view, Focus::Span(id), Some(dir.path()));
    let drawn = draw(&mut screen, 140, 40);
    let text = drawn.to_string();
    assert!(
        text.contains(&format!("> {BANNER_LINE} │")),
        "the failing line is marked"
    );
    assert!(text.contains("MissingAdError"));
    assert_snapshot!(drawn);
}

#[test]
fn discounts_folded_80x24() {
    let mut screen = TraceScreen::new(discounts_trace(), Focus::None, None);
    assert!(
        screen.rows.len() < 20,
        "the N+1 is folded: {} rows",
        screen.rows.len()
    );
    assert!(screen.rows.iter().any(|r| r.mark == Mark::Folded));
    assert_snapshot!(draw(&mut screen, 80, 24));
}

#[test]
fn discounts_repeated_140x40() {
    let mut screen = TraceScreen::new(
        discounts_trace(),
        Focus::Repeated(vec![DISCOUNT_TYPE.to_owned()]),
        None,
    );
    assert_snapshot!(draw(&mut screen, 140, 40));
}

#[test]
fn degenerate_trace_80x24() {
    let mut screen = TraceScreen::new(degenerate(), Focus::None, None);
    assert_eq!(
        screen.rows.len(),
        10,
        "every span is shown, cycles included"
    );
    assert_eq!(
        selected_span(&screen).unwrap().span_id,
        id("f").to_string(),
        "the error is selected"
    );
    let text = draw(&mut screen, 80, 24).to_string();
    assert!(!text.contains('\x1b') && !text.contains('\x07'));
    assert_snapshot!(text);
}
