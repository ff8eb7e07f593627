//! Keys and clicks on the list: moving and paging the selection, scrolling to it, jumping to errors and the
//! critical path.

use super::*;

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
