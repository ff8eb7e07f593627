//! The flame pane: clicks on its bars, the wide flame and its zoom, the wheel.

use super::*;
use crate::trace::Target;
use crate::trace::flame::cells;
use crate::trace::layout::Columns;

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
