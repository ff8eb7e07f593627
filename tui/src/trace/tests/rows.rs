//! The tree and its folding: the N+1 folded by statement, unfolded by keys, clicks and focus; the nodes'
//! colours and critical marks.

use ratatui::style::Modifier;

use super::*;
use crate::trace::keys::DETAIL_STEP;

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
