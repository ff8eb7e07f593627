//! Drawing: an empty trace, every small size, the list's bars on the time axis, a large trace's speed.

use ratatui::buffer::Buffer;

use super::*;
use crate::trace::draw::bar;

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
fn the_screen_can_be_built_on_another_thread() {
    fn send<T: Send>() {}
    send::<TraceScreen>();
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
