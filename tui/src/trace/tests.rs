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
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;
use ratatui::style::Modifier;

use super::details::{elide_columns, wrap};
use super::draw::bar;
use super::flame::cells;
use super::keys::DETAIL_STEP;
use super::layout::Columns;
use super::rows::{Item, Mark};
use super::{Focus, Target, TraceScreen};
use crate::theme::Theme;

/// `insta::assert_snapshot!`, reading and writing the snapshots in `src/snapshots/`, where they were kept before
/// the trace screen became a folder (their names, `tui__trace__tests__*`, follow this module's path).
macro_rules! assert_snapshot {
    ($($snapshot:tt)*) => {
        insta::with_settings!({ snapshot_path => "../snapshots" }, {
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

#[test]
fn empty_trace() {
    let view = TraceView {
        trace_id: String::new(),
        start_unix_nano: 0,
        duration_ms: f64::NAN,
        spans: Vec::new(),
        critical_path: Vec::new(),
        repeat_groups: Vec::new(),
        services: Vec::new(),
    };
    let mut screen = TraceScreen::new(view, Focus::Span("x".to_owned()), None);
    for code in [
        KeyCode::Down,
        KeyCode::End,
        KeyCode::Enter,
        KeyCode::Left,
        KeyCode::Char('e'),
        KeyCode::Char('c'),
    ] {
        assert!(screen.handle_key(key(code)));
    }
    assert!(draw(&mut screen, 80, 24).to_string().contains("no spans"));
    assert!(!click(&mut screen, Rect::new(0, 0, 80, 24), 5, 3));
}

#[test]
fn every_small_size_draws() {
    let dir = workspace();
    let view = error_trace();
    let id = failing_span(&view);
    let mut screens = [
        TraceScreen::new(view, Focus::Span(id), Some(dir.path())),
        TraceScreen::new(
            discounts_trace(),
            Focus::Repeated(vec![DISCOUNT_TYPE.to_owned()]),
            None,
        ),
        TraceScreen::new(degenerate(), Focus::None, None),
    ];
    for screen in &mut screens {
        for width in 0..=30 {
            for height in 0..=12 {
                draw(screen, width, height);
            }
        }
        // Where the flame comes and goes, beside the list and above it.
        for width in (31..=170).step_by(3) {
            for height in 0..=30 {
                draw(screen, width, height);
            }
        }
        // An area larger than the buffer, and one off its edge.
        let mut buf = Buffer::empty(Rect::new(0, 0, 10, 3));
        screen.render(Rect::new(5, 1, 40, 40), &mut buf, &Theme::default());
        screen.render(Rect::new(50, 50, 10, 10), &mut buf, &Theme::default());
    }
}

#[test]
fn keys_move_the_selection() {
    let query = Focus::Repeated(vec![DISCOUNT_TYPE.to_owned()]);
    let mut screen = TraceScreen::new(discounts_trace(), query, None);
    screen.handle_key(key(KeyCode::Enter)); // unfold the ×103 row: a long list
    screen.handle_key(key(KeyCode::Home));
    assert_eq!(screen.selected, 0);
    assert!(screen.handle_key(key(KeyCode::Char('j'))));
    assert!(screen.handle_key(key(KeyCode::Down)));
    assert_eq!(screen.selected, 2);
    assert!(screen.handle_key(key(KeyCode::Char('k'))));
    assert_eq!(screen.selected, 1);
    assert!(screen.handle_key(key(KeyCode::Char('G'))));
    assert_eq!(screen.selected, screen.rows.len() - 1);
    screen.handle_key(key(KeyCode::Down));
    assert_eq!(
        screen.selected,
        screen.rows.len() - 1,
        "stays on the last row"
    );
    assert!(screen.handle_key(key(KeyCode::Char('g'))));
    assert_eq!(screen.selected, 0);
    screen.handle_key(key(KeyCode::Up));
    assert_eq!(screen.selected, 0);

    // Pages are as tall as the list last drawn, below the flame.
    draw(&mut screen, 80, 24);
    let page = screen.page();
    let areas = screen.areas(Rect::new(0, 0, 80, 24));
    assert_eq!(areas.flame.height, 4);
    assert_eq!(page, usize::from(areas.rows.height));
    assert_eq!(page, 9);
    screen.handle_key(key(KeyCode::Enter)); // nothing to fold on the root
    screen.handle_key(key(KeyCode::End));
    screen.handle_key(key(KeyCode::PageUp));
    assert_eq!(screen.selected, screen.rows.len() - 1 - page);
    assert!(screen.handle_key(KeyEvent::new(KeyCode::Char('d'), KeyModifiers::CONTROL)));
    assert_eq!(screen.selected, screen.rows.len() - 1);
    assert!(screen.handle_key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL)));
    assert_eq!(screen.selected, screen.rows.len() - 1 - page);

    // Keys of the app are left to it.
    for code in [
        KeyCode::Esc,
        KeyCode::Char('q'),
        KeyCode::Tab,
        KeyCode::Char('1'),
        KeyCode::Char('?'),
    ] {
        assert!(!screen.handle_key(key(code)), "{code:?}");
    }
    assert!(!screen.handle_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)));
}

#[test]
fn the_list_scrolls_to_the_selection() {
    let mut screen = TraceScreen::new(
        discounts_trace(),
        Focus::Repeated(vec![DISCOUNT_TYPE.to_owned()]),
        None,
    );
    screen.handle_key(key(KeyCode::Char('G')));
    let text = draw(&mut screen, 80, 24).to_string();
    let last = screen.rows.len();
    assert!(text.contains(&format!("span {last}/{last}")));
    assert!(text.contains("render layout"), "the last row is on screen");
    // Moving up inside the page does not scroll.
    let offset = screen.offset;
    screen.handle_key(key(KeyCode::Up));
    draw(&mut screen, 80, 24);
    assert_eq!(screen.offset, offset);
    // A click selects the row under it; the details follow.
    let area = Rect::new(0, 0, 80, 24);
    let areas = screen.areas(area);
    assert!(!areas.flame.is_empty());
    assert!(!click(&mut screen, area, 10, 0), "the header is no row");
    for y in areas.flame.top()..areas.rows.top() {
        assert!(
            !click(&mut screen, area, 10, y),
            "nor are the flame's labels and the head"
        );
    }
    assert!(!click(&mut screen, area, 10, 20), "nor are the details");
    assert!(click(&mut screen, area, 10, areas.rows.y));
    assert_eq!(screen.selected, offset);
    assert!(click(&mut screen, area, 10, areas.rows.bottom() - 1));
    assert_eq!(screen.selected, offset + usize::from(areas.rows.height) - 1);
}

#[test]
fn a_click_on_a_flame_bar_selects_its_span() {
    let mut screen = TraceScreen::new(
        discounts_trace(),
        Focus::Repeated(vec![DISCOUNT_TYPE.to_owned()]),
        None,
    );
    let area = Rect::new(0, 0, 80, 24);
    let areas = screen.areas(area);
    let drawn = draw(&mut screen, 80, 24);
    let line = |y: u16| -> String {
        (0..80)
            .map(|x| drawn.buffer()[(x, y)].symbol().to_owned())
            .collect()
    };
    // Depth 2: the two services called, named on their bars.
    let y = areas.flame.y + 2;
    let text = line(y);
    let x = text.find("GET /ads").expect(&text);
    let x = u16::try_from(text[..x].chars().count()).unwrap();
    assert!(click(&mut screen, area, x + 2, y));
    let span = selected_span(&screen).unwrap();
    assert_eq!(
        (span.service.as_str(), span.name.as_str()),
        ("advertisements-service", "GET /ads")
    );
    let rows = screen.rows.len();

    // Depth 3, at the start of the axis: the repeats the screen was opened for are painted over the other
    // statements there; a click selects one of them, unfolding their group.
    let axis_x = Columns::of(areas.list).bar_x;
    assert!(click(&mut screen, area, axis_x, areas.flame.y + 3));
    let span = selected_span(&screen).unwrap();
    assert_eq!(span.service, "discounts-service");
    assert!(span.name.contains("discount_type"), "{}", span.name);
    assert!(screen.rows.len() > rows, "its group was unfolded");
    assert!(matches!(
        screen.selected_row().unwrap().mark,
        Mark::FirstMember | Mark::Member
    ));

    // The selection is drawn over everything: a click on it keeps it, even where other bars lie below, and
    // zooms into it.
    let group = screen.nodes[selected_index(&screen)].group.unwrap();
    let member = screen.groups[group].members[50];
    screen.select_item(Item::Span(member));
    let node = &screen.nodes[member];
    let (start, end) = (node.start, node.end);
    let width = Columns::of(areas.list).bar_w;
    let (from, _) = cells(start, end, screen.axis_ns, width);
    assert!(click(
        &mut screen,
        area,
        axis_x + from as u16,
        areas.flame.y + 3
    ));
    assert_eq!(selected_index(&screen), member);
    assert_eq!(screen.zoom, (start, end), "a second click zooms into it");
    assert!(screen.zoom_out());
    assert_eq!(screen.zoom, (0, screen.axis_ns));

    // A click on another bar shows its details from the top.
    let other = screen.groups[group].members[49];
    screen.detail_scroll = 2;
    let (from, _) = cells(
        screen.nodes[other].start,
        screen.nodes[other].end,
        screen.axis_ns,
        width,
    );
    screen.select_item(Item::Span(screen.nodes[other].parent.unwrap()));
    assert!(click(
        &mut screen,
        area,
        axis_x + from as u16,
        areas.flame.y + 3
    ));
    assert_eq!(
        screen.detail_scroll, 0,
        "a click shows the details from the top"
    );

    // The labels and the axis past the last bar select nothing.
    let selected = screen.selected;
    assert!(!click(&mut screen, area, 5, areas.flame.y + 3));
    assert!(!click(
        &mut screen,
        area,
        areas.list.right() - 1,
        areas.flame.y + 3
    ));
    assert_eq!(screen.selected, selected);
}

#[test]
fn folding_changes_the_rows() {
    let mut screen = TraceScreen::new(discounts_trace(), Focus::None, None);
    let folded = screen.rows.len();
    let group = screen
        .rows
        .iter()
        .position(|r| r.mark == Mark::Folded)
        .unwrap();
    let Item::Group(g) = screen.rows[group].item else {
        unreachable!()
    };
    let members = screen.groups[g].members.len();
    assert!(members >= 101);
    screen.select(group);
    assert!(screen.handle_key(key(KeyCode::Enter)));
    assert_eq!(screen.rows.len(), folded + members - 1);
    assert_eq!(screen.selected_row().unwrap().mark, Mark::FirstMember);
    // From any span of the group, ← folds it back onto the group's row.
    screen.handle_key(key(KeyCode::Down));
    screen.handle_key(key(KeyCode::Down));
    assert_eq!(screen.selected_row().unwrap().mark, Mark::Member);
    assert!(screen.handle_key(key(KeyCode::Char('h'))));
    assert_eq!(screen.rows.len(), folded);
    assert_eq!(screen.selected, group);
    assert!(screen.handle_key(key(KeyCode::Char('l'))));
    assert_eq!(screen.rows.len(), folded + members - 1);
    assert!(screen.handle_key(key(KeyCode::Enter)));
    assert_eq!(screen.rows.len(), folded);
    // ← on a plain span goes to its parent.
    let Item::Group(g) = screen.selected_row().unwrap().item else {
        unreachable!()
    };
    let parent = screen.groups[g].parent.unwrap();
    screen.handle_key(key(KeyCode::Left));
    assert_eq!(screen.selected_row().unwrap().item, Item::Span(parent));
    // Clicking the selected folded row twice unfolds it.
    draw(&mut screen, 80, 24);
    screen.select(group);
    draw(&mut screen, 80, 24);
    let area = Rect::new(0, 0, 80, 24);
    let y = screen.areas(area).rows.y + (group - screen.offset) as u16;
    assert!(click(&mut screen, area, 10, y));
    assert_eq!(screen.rows.len(), folded + members - 1);
}

#[test]
fn the_n_plus_one_is_folded_by_statement() {
    let screen = TraceScreen::new(discounts_trace(), Focus::None, None);
    let labels: Vec<(usize, &str)> = screen
        .groups
        .iter()
        .map(|g| (g.members.len(), g.label.as_str()))
        .collect();
    assert_eq!(
        labels,
        [
            (103, "SELECT … FROM discount_type WHERE id = ?"),
            (101, "SELECT … FROM influencer WHERE id = ?"),
        ]
    );
}

#[test]
fn e_and_c_jump() {
    let view = error_trace();
    let failing = failing_span(&view);
    let mut screen = TraceScreen::new(view, Focus::None, None);
    assert_eq!(
        selected_span(&screen).unwrap().span_id,
        failing,
        "opens on the raised error"
    );
    screen.handle_key(key(KeyCode::Home));
    let root_is_error = screen.item_error(screen.rows[0].item);
    assert!(screen.handle_key(key(KeyCode::Char('e'))));
    assert_eq!(selected_span(&screen).unwrap().span_id, failing);
    assert!(screen.handle_key(key(KeyCode::Char('e'))));
    assert_eq!(
        screen.selected == 0,
        root_is_error,
        "wraps round to the root's error"
    );
    assert!(screen.handle_key(key(KeyCode::Char('c'))));
    assert!(screen.item_critical(screen.rows[screen.selected].item));

    let mut screen = TraceScreen::new(discounts_trace(), Focus::None, None);
    screen.handle_key(key(KeyCode::Home));
    screen.handle_key(key(KeyCode::Char('e')));
    assert_eq!(screen.selected, 0, "no error: the selection stays");
}

#[test]
fn focus_repeated_selects_the_lit_folded_row_and_enter_unfolds_it() {
    let mut screen = TraceScreen::new(
        discounts_trace(),
        Focus::Repeated(vec![DISCOUNT_TYPE.to_owned()]),
        None,
    );
    let lit = screen.groups.iter().position(|g| g.lit).unwrap();
    assert!(screen.groups[lit].folded, "the ×N row is the finding");
    assert_eq!(screen.groups[lit].members.len(), 103);
    assert!(matches!(screen.rows[screen.selected].item, Item::Group(g) if g == lit));
    let folded_rows = screen.rows.len();
    assert!(draw(&mut screen, 80, 24).to_string().contains("×103"));
    // Enter unfolds it: the repeats appear, lit (bold and underlined without colour), the first selected.
    assert!(screen.handle_key(key(KeyCode::Enter)));
    assert!(!screen.groups[lit].folded);
    assert_eq!(screen.rows.len(), folded_rows + 102);
    let drawn = draw(&mut screen, 80, 24);
    let buffer = drawn.buffer();
    let top = screen.areas(Rect::new(0, 0, 80, 24)).rows.y;
    let row_y = |row: usize| top + (row - screen.offset) as u16;
    let label_x = 3 + 6 + 2; // gutter, indent of depth 3, the fold mark
    let selected = buffer[(label_x, row_y(screen.selected))].modifier;
    assert!(selected.contains(Modifier::REVERSED), "{selected:?}");
    let next = buffer[(label_x, row_y(screen.selected + 1))].modifier;
    assert!(
        next.contains(Modifier::UNDERLINED | Modifier::BOLD),
        "{next:?}"
    );
    assert!(!next.contains(Modifier::REVERSED));
    // The raw text is accepted too.
    let raw = "SELECT id, name FROM influencer WHERE id = $1";
    let screen = TraceScreen::new(
        discounts_trace(),
        Focus::Repeated(vec![raw.to_owned()]),
        None,
    );
    assert!(
        screen
            .groups
            .iter()
            .any(|g| g.lit && g.label.contains("influencer"))
    );
}

#[test]
fn focus_span_unfolds_its_group() {
    let view = discounts_trace();
    let screen = TraceScreen::new(view.clone(), Focus::None, None);
    let g = &screen.groups[0];
    let member = view.spans[g.members[50]].span_id.clone();
    let mut screen = TraceScreen::new(view, Focus::Span(member.clone()), None);
    assert_eq!(selected_span(&screen).unwrap().span_id, member);
    assert!(!screen.groups[0].folded);
    // J and K scroll the details, within what there is.
    draw(&mut screen, 80, 24);
    let most = screen.detail_max();
    assert!(most > 0, "the details are longer than their pane");
    assert!(screen.handle_key(key(KeyCode::Char('J'))));
    assert_eq!(screen.detail_scroll, DETAIL_STEP.min(most), "J scrolled");
    for _ in 0..100 {
        screen.handle_key(key(KeyCode::Char('J')));
    }
    assert_eq!(screen.detail_scroll, most, "no further than the end");
    for _ in 0..100 {
        screen.handle_key(key(KeyCode::Char('K')));
    }
    assert_eq!(screen.detail_scroll, 0);
}

#[test]
fn the_screen_can_be_built_on_another_thread() {
    fn send<T: Send>() {}
    send::<TraceScreen>();
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
fn bars_sit_on_the_time_axis() {
    assert_eq!(bar(0, 100, 100, 10), "██████████");
    assert_eq!(bar(50, 100, 100, 10), "     █████");
    assert_eq!(bar(0, 5, 100, 10), "▌");
    assert_eq!(bar(30, 30, 100, 10), "   ▏");
    assert_eq!(bar(0, 0, 0, 4), "▏");
    assert_eq!(bar(0, 10, 10, 0), "");
    assert_eq!(bar(200, 300, 100, 4), "   ▕");
    assert_eq!(bar(100, 100, 100, 4), "   ▕");
    assert_eq!(bar(0, 1, 1_000_000, 4), "▏");
}

#[test]
fn a_large_trace_is_quick() {
    // 2,000 spans: a root, 40 handlers of 49 queries each (some repeating).
    let mut spans = vec![span("root", "", "GET /big", 0, 2_000)];
    for h in 0..40 {
        let id = format!("h{h}");
        spans.push(span(&id, "root", "handler", h * 50, h * 50 + 49));
        for q in 0..49 {
            let mut s = span(
                &format!("{id}q{q}"),
                &id,
                "SELECT",
                h * 50 + q,
                h * 50 + q + 1,
            );
            let query = format!("SELECT * FROM t{} WHERE id = {q}", q % 7);
            s.attributes.push(text("db.query.text", &query));
            spans.push(s);
        }
    }
    let view = trace_view(TraceId::from_hex(DEAD).unwrap(), &spans);
    let started = std::time::Instant::now();
    let mut screen = TraceScreen::new(
        view,
        Focus::Repeated(vec!["SELECT * FROM t3 WHERE id = ?".to_owned()]),
        None,
    );
    let built = started.elapsed();
    let mut buf = Buffer::empty(Rect::new(0, 0, 200, 60));
    let started = std::time::Instant::now();
    for _ in 0..10 {
        screen.handle_key(key(KeyCode::PageDown));
        screen.render(buf.area, &mut buf, &Theme::default());
    }
    let drawn = started.elapsed() / 10;
    eprintln!("2,000 spans: built in {built:?}, drawn in {drawn:?}");
    // A debug build on a shared machine: bounds this generous only catch work quadratic in the spans
    // (a tree walk per row, a pass over the spans per flame bar), not a slower machine.
    assert!(built.as_millis() < 3_000, "{built:?}");
    assert!(drawn.as_millis() < 500, "{drawn:?}");
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
fn the_flame_takes_the_whole_width_and_zooms_into_the_loop() {
    let mut screen = TraceScreen::new(
        discounts_trace(),
        Focus::Repeated(vec![DISCOUNT_TYPE.to_owned()]),
        None,
    );
    let area = Rect::new(0, 0, 140, 40);
    let text = |screen: &mut TraceScreen| -> Vec<String> {
        let drawn = draw(screen, 140, 40);
        (0..40)
            .map(|y| {
                (0..140)
                    .map(|x| drawn.buffer()[(x, y)].symbol().to_owned())
                    .collect()
            })
            .collect()
    };
    assert!(screen.handle_key(KeyEvent::from(KeyCode::Char('F'))));
    let areas = screen.areas(area);
    assert!(areas.wide_flame);
    assert_eq!(areas.flame.width, 140, "the flame takes the whole width");
    let lines = text(&mut screen);
    assert!(
        lines[2].starts_with("0 µs") || lines[2].starts_with("0"),
        "{}",
        lines[2]
    );
    assert!(lines[2].trim_end().ends_with("5.11 s"), "{}", lines[2]);

    // The loop is selected (the screen was opened for it): z zooms into its time, and both axes say so.
    assert!(screen.handle_key(KeyEvent::from(KeyCode::Char('z'))));
    let lines = text(&mut screen);
    assert!(lines[2].starts_with("+3.0 ms"), "{}", lines[2]);
    assert!(lines[2].trim_end().ends_with("105 ms"), "{}", lines[2]);
    // Zoomed in, the loop's statements spread over the bottom line instead of a cell or two: the selected
    // ones (reversed, blank) between the others, each a bar of its own.
    let deepest = &lines[usize::from(areas.flame.y) + 3];
    assert!(
        deepest.chars().filter(|&c| c != ' ').count() > 15,
        "{deepest}"
    );

    // - backs out, F narrows it again.
    assert!(screen.handle_key(KeyEvent::from(KeyCode::Char('-'))));
    assert_eq!(screen.zoom, (0, screen.axis_ns));
    assert!(screen.handle_key(KeyEvent::from(KeyCode::Char('F'))));
    assert!(!screen.areas(area).wide_flame);
}

#[test]
fn the_wheel_zooms_the_flame_about_the_pointer() {
    let mut screen = TraceScreen::new(discounts_trace(), Focus::None, None);
    let area = Rect::new(0, 0, 140, 40);
    assert!(screen.handle_key(KeyEvent::from(KeyCode::Char('F'))));
    draw(&mut screen, 140, 40);
    let areas = screen.areas(area);
    let (column, row) = (areas.flame.x + 10, areas.flame.y + 1);
    let under = |screen: &TraceScreen| match screen.wheel_hit(area, column, row) {
        Some(Target::Flame { at_ns, .. }) => at_ns,
        other => panic!("the flame pane is under the pointer, not {other:?}"),
    };
    let whole = screen.zoom;
    let pointed = under(&screen);
    // Three turns in: an eighth of the trace, the time under the pointer kept there (to within a cell).
    for _ in 0..3 {
        let target = screen.wheel_hit(area, column, row).unwrap();
        assert!(screen.wheel(target, true));
    }
    let (lo, hi) = screen.zoom;
    assert_eq!(hi - lo, whole.1 / 8, "{:?}", screen.zoom);
    let cell = (hi - lo) / u64::from(areas.flame.width);
    assert!(
        under(&screen).abs_diff(pointed) <= cell,
        "{} vs {pointed}",
        under(&screen)
    );
    // Drawn, the ruler says the zoomed range.
    let drawn = draw(&mut screen, 140, 40);
    let ruler: String = (0..140)
        .map(|x| drawn.buffer()[(x, areas.flame.y - 1)].symbol().to_owned())
        .collect();
    assert!(ruler.starts_with('+'), "{ruler}");
    // Turned back out, past the whole trace: the whole trace, nothing left to back out of.
    for _ in 0..5 {
        let target = screen.wheel_hit(area, column, row).unwrap();
        assert!(screen.wheel(target, false));
    }
    assert_eq!(screen.zoom, whole);
    assert!(!screen.zoom_out());
    // The wheel over the waterfall list is not the flame's: it moves the selection (the app's part).
    let list = areas.rows;
    let target = screen.wheel_hit(area, list.x + 2, list.y + 1);
    assert!(matches!(target, Some(Target::Row(_))), "{target:?}");
    assert!(!screen.wheel(target.unwrap(), true));
}

#[test]
fn the_loop_says_where_it_is_and_a_traces_services_differ() {
    let screen = TraceScreen::new(discounts_trace(), Focus::None, None);
    // In order of appearance: each service its own colour.
    let colours: Vec<usize> = screen.services.iter().enumerate().map(|(k, _)| k).collect();
    assert_eq!(colours.len(), 3);
    let ads = screen
        .nodes
        .iter()
        .find(|n| n.service == "advertisements-service")
        .unwrap();
    let discounts = screen
        .nodes
        .iter()
        .find(|n| n.service == "discounts-service")
        .unwrap();
    assert_ne!(ads.colour, discounts.colour);
    // Only the two slow handlers bound the trace.
    let marked: Vec<&str> = screen
        .nodes
        .iter()
        .filter(|n| n.critical)
        .map(|n| n.name.as_str())
        .collect();
    assert_eq!(marked, ["GET /discount", "GET /ads"]);
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
