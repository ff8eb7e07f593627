//! Every view, drawn from the deterministic fixture in the broken and the fixed state (`cargo insta review`
//! after a deliberate change of the picture).

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use tui::app::Tab;

use crate::fixture::{self, app, ch, draw, key, open, refresh};

/// Draws every tab of `source`'s dashboard at 100×30 and the main ones at 80×24, naming the snapshots
/// `<state>_<view>`.
fn every_view(state: &str, source: &fixture::Served) {
    let mut app = app(source);
    for (tab, name) in [
        (Tab::Map, "map"),
        (Tab::Services, "services"),
        (Tab::Traces, "traces"),
        (Tab::Errors, "errors"),
        (Tab::Insights, "insights"),
        (Tab::Deployments, "deployments"),
    ] {
        app.tab = tab;
        insta::assert_snapshot!(format!("{state}_{name}"), draw(&mut app, 100, 30));
        insta::assert_snapshot!(format!("{state}_{name}_80x24"), draw(&mut app, 80, 24));
    }

    // The page of the slowest service, from the Services table.
    app.tab = Tab::Services;
    app.services_selected = 0;
    assert!(
        app.handle_key(key(KeyCode::Enter)).is_some(),
        "Enter opens the service and refreshes"
    );
    refresh(&mut app, source);
    insta::assert_snapshot!(format!("{state}_service_page"), draw(&mut app, 100, 30));
    insta::assert_snapshot!(
        format!("{state}_service_page_80x24"),
        draw(&mut app, 80, 24)
    );
    app.handle_key(key(KeyCode::Esc));

    // The Trace tab: the error's trace when there is an error, else the longest trace.
    if app.overview.errors.is_empty() {
        app.handle_key(ch('3'));
        app.handle_key(ch('s'));
        refresh(&mut app, source);
        let action = app.handle_key(key(KeyCode::Enter));
        open(&mut app, source, action);
    } else {
        app.handle_key(ch('5'));
        let action = app.handle_key(key(KeyCode::Enter));
        open(&mut app, source, action);
    }
    assert_eq!(app.tab, Tab::Trace);
    insta::assert_snapshot!(format!("{state}_trace"), draw(&mut app, 100, 30));
    insta::assert_snapshot!(format!("{state}_trace_80x24"), draw(&mut app, 80, 24));
}

#[test]
fn broken_views() {
    every_view("broken", &fixture::broken());
}

#[test]
fn fixed_views() {
    every_view("fixed", &fixture::fixed());
}

#[test]
fn deployments_after_the_fix() {
    let source = fixture::redeployed();
    let mut app = app(&source);
    app.tab = Tab::Deployments;
    insta::assert_snapshot!(draw(&mut app, 100, 30));
    // Wide, on the discounts service's fix: the N+1 column, and what changed spelled out below.
    for _ in 0..3 {
        app.handle_key(ch('j'));
    }
    insta::assert_snapshot!("deployments_after_the_fix_wide", draw(&mut app, 140, 30));
}

#[test]
fn deployments_after_a_fix_downstream() {
    // The storefront, not redeployed, under the two deployments of the services it calls.
    let source = fixture::slow_services_fixed();
    let mut app = app(&source);
    app.tab = Tab::Deployments;
    while app.overview.deployments[app.deployments_selected].service != "store-frontend" {
        app.handle_key(ch('j'));
    }
    insta::assert_snapshot!("deployments_downstream_fixed_wide", draw(&mut app, 140, 30));
    insta::assert_snapshot!("deployments_downstream_fixed_80x24", draw(&mut app, 80, 24));
}

#[test]
fn the_n_plus_one_opens_folded_and_lit_in_the_flame_view() {
    let source = fixture::broken();
    let mut app = app(&source);
    app.handle_key(ch('6'));
    let action = app.handle_key(key(KeyCode::Enter));
    open(&mut app, &source, action);
    insta::assert_snapshot!(draw(&mut app, 120, 36));
}

#[test]
fn help_and_waiting() {
    let mut app = tui::app::App::new("http://127.0.0.1:8787", true, tui::theme::Theme::mono());
    insta::assert_snapshot!("waiting", draw(&mut app, 80, 24));
    app.handle_key(ch('?'));
    insta::assert_snapshot!("help", draw(&mut app, 80, 24));
}

#[test]
fn the_fault_panel() {
    let source = fixture::broken();
    let mut app = app(&source);
    app.faults = Some(
        [
            ("frontend.ads-in-layout", true, "store-frontend"),
            ("discounts.n-plus-one", false, "discounts-service"),
        ]
        .into_iter()
        .map(|(name, broken, service)| tui::app::Fault {
            name: name.to_owned(),
            broken,
            description: format!("what {name} does"),
            service: service.to_owned(),
            version: "1.0".to_owned(),
        })
        .collect(),
    );
    app.handle_key(ch('f'));
    insta::assert_snapshot!(draw(&mut app, 100, 30));
    insta::assert_snapshot!("the_fault_panel_80x24", draw(&mut app, 80, 24));
    // A broken fault's description would answer the workshop's questions: hidden until `d`; a fixed one's shows.
    let drawn = draw(&mut app, 100, 30).to_string();
    assert!(
        !drawn.contains("what frontend.ads-in-layout does"),
        "{drawn}"
    );
    assert!(drawn.contains("what discounts.n-plus-one does"), "{drawn}");
    app.handle_key(ch('d'));
    let drawn = draw(&mut app, 100, 30).to_string();
    assert!(
        drawn.contains("what frontend.ads-in-layout does"),
        "{drawn}"
    );
}

#[test]
fn every_view_draws_at_any_size_without_panicking() {
    let source = fixture::broken();
    let mut app = app(&source);
    app.handle_key(ch('5'));
    let action = app.handle_key(key(KeyCode::Enter));
    open(&mut app, &source, action);
    app.faults = Some(vec![tui::app::Fault {
        name: "ads.sleep".into(),
        broken: true,
        description: "GET /ads sleeps 2.5 s".into(),
        service: "advertisements-service".into(),
        version: "1.0".into(),
    }]);
    let sizes = || {
        (0..=100u16)
            .step_by(7)
            .flat_map(|width| (0..=30u16).step_by(3).map(move |height| (width, height)))
    };
    for tab in Tab::ALL {
        app.tab = tab;
        for (width, height) in sizes() {
            draw(&mut app, width, height);
        }
    }
    // The service page, the filter line and the overlays too.
    app.handle_key(ch('2'));
    app.handle_key(key(KeyCode::Enter));
    refresh(&mut app, &source);
    assert!(app.service_page.is_some());
    for (width, height) in sizes() {
        draw(&mut app, width, height);
    }
    app.handle_key(ch('3'));
    app.handle_key(ch('/'));
    app.handle_key(ch('x'));
    for (width, height) in sizes() {
        draw(&mut app, width, height);
    }
    app.handle_key(key(KeyCode::Esc));
    for overlay in ['?', 'f'] {
        app.handle_key(ch(overlay));
        for (width, height) in sizes() {
            draw(&mut app, width, height);
        }
        app.handle_key(key(KeyCode::Esc));
    }
}

#[test]
fn the_errors_tab_says_how_many_failed_traces_are_not_grouped_yet() {
    let source = fixture::broken();
    let mut app = app(&source);
    app.tab = Tab::Errors;
    // As the collector counts them while a trace's errors wait to settle.
    app.overview.counts.settling_errors = 3;
    let drawn = draw(&mut app, 160, 30).to_string();
    assert!(
        drawn.contains("3 failed traces still settling (grouped 2 s after its last span)"),
        "{drawn}"
    );
    app.overview.counts.settling_errors = 0;
    assert!(!draw(&mut app, 160, 30).to_string().contains("settling"));
}

/// The Browser tab: pages, front-end errors and sessions; by errors; a session's journey, whose add-to-cart
/// call opens the backend trace it caused.
#[test]
fn browser_views() {
    let source = fixture::browsed();
    let mut app = app(&source);
    app.handle_key(ch('8'));
    assert_eq!(app.tab, Tab::Browser);
    insta::assert_snapshot!("browser_pages", draw(&mut app, 100, 30));
    insta::assert_snapshot!("browser_pages_80x24", draw(&mut app, 80, 24));
    app.handle_key(ch('e'));
    insta::assert_snapshot!("browser_by_errors_80x24", draw(&mut app, 80, 24));
    // The error's example session, as a journey.
    let pages = app.overview.browser.pages.len();
    for _ in 0..pages {
        app.handle_key(key(KeyCode::Down));
    }
    assert!(
        app.handle_key(key(KeyCode::Enter)).is_some(),
        "Enter opens the journey and refreshes"
    );
    refresh(&mut app, &source);
    insta::assert_snapshot!("browser_journey", draw(&mut app, 100, 30));
    insta::assert_snapshot!("browser_journey_80x24", draw(&mut app, 80, 24));
    // Down to the add-to-cart call: Enter opens the trace it caused.
    let call = app
        .journey_rows()
        .iter()
        .position(
            |row| matches!(row, tui::app::JourneyRow::Event(e) if e.name.contains("add_item")),
        )
        .expect("the call");
    for _ in 0..call {
        app.handle_key(key(KeyCode::Down));
    }
    let action = app.handle_key(key(KeyCode::Enter));
    assert!(
        matches!(&action, Some(tui::app::Action::OpenTrace { trace_id, .. }) if trace_id.ends_with("0000000000000005")),
        "{action:?}"
    );
    open(&mut app, &source, action);
    assert_eq!(app.tab, Tab::Trace);
    // Esc goes back to the journey; Enter on the first page view opens the trace that rendered it.
    app.handle_key(key(KeyCode::Esc));
    assert_eq!(app.tab, Tab::Browser);
    assert!(app.browser.journey.is_some());
    app.handle_key(ch('g'));
    let action = app.handle_key(key(KeyCode::Enter));
    assert!(
        matches!(&action, Some(tui::app::Action::OpenTrace { trace_id, .. }) if trace_id.ends_with("0000000000000004")),
        "{action:?}"
    );
    open(&mut app, &source, action);
    app.handle_key(key(KeyCode::Esc));
    assert!(app.browser.journey.is_some());
    app.handle_key(key(KeyCode::Esc));
    assert!(app.browser.journey.is_none());
    // The map: the browser in front of the storefront.
    app.handle_key(ch('1'));
    insta::assert_snapshot!("browser_map_80x24", draw(&mut app, 80, 24));
}

/// The Logs tab: every record newest first; errors only; a filter typed, and one refused; Enter opens the
/// trace a record was written in on its span, and says so for a record written outside any trace.
#[test]
fn logs_views() {
    let source = fixture::logged();
    let mut app = app(&source);
    assert!(app.logs.is_empty(), "not fetched before the tab is shown");
    assert!(
        app.handle_key(ch('9')).is_some(),
        "the tab asks for its records"
    );
    refresh(&mut app, &source);
    assert_eq!(app.tab, Tab::Logs);
    // 20 failing renders, 30 slow calls (the home page's two, a product page's one, in 10 of each), and
    // the start-up line: newest first.
    assert_eq!(app.logs.len(), 51);
    assert!(
        (app.logs.windows(2)).all(|w| w[0].time_unix_nano >= w[1].time_unix_nano),
        "newest first"
    );
    insta::assert_snapshot!("logs", draw(&mut app, 100, 30));
    insta::assert_snapshot!("logs_80x24", draw(&mut app, 80, 24));

    // Errors only: the misplaced banner call's line, with where it was raised.
    assert!(app.handle_key(ch('e')).is_some(), "e searches again");
    refresh(&mut app, &source);
    assert_eq!(app.logs.len(), 20);
    assert!(app.logs.iter().all(|log| log.severity == "ERROR"));
    let drawn = draw(&mut app, 100, 30).to_string();
    assert!(drawn.contains("no ad was loaded for this page"), "{drawn}");
    assert!(
        drawn.contains("code.file.path=services/storefront/src/layout.rs"),
        "{drawn}"
    );
    insta::assert_snapshot!("logs_errors_80x24", draw(&mut app, 80, 24));

    // Enter: the record's trace, on the span that wrote it; Esc comes back.
    let log = app.logs[0].clone();
    let action = app.handle_key(key(KeyCode::Enter));
    assert_eq!(
        action,
        Some(tui::app::Action::OpenTrace {
            trace_id: log.trace_id.clone(),
            focus: tui::trace::Focus::Span(log.span_id.clone()),
        })
    );
    open(&mut app, &source, action);
    assert_eq!(app.tab, Tab::Trace);
    let screen = app.trace.as_ref().expect("the trace");
    assert_eq!(screen.trace_id(), log.trace_id);
    assert_eq!(screen.selected_span_id(), Some(log.span_id.as_str()));
    app.handle_key(key(KeyCode::Esc));
    assert_eq!(app.tab, Tab::Logs);

    // A filter: the slow calls, words looked for in the bodies.
    app.handle_key(ch('/'));
    for c in "service:store-frontend severity:warn slow".chars() {
        app.handle_key(ch(c));
    }
    // Ctrl-U clears what the line held first (`severity:error` from `e`).
    assert!(
        app.logs_tab
            .input
            .as_ref()
            .is_some_and(|i| i.text.starts_with("severity:error"))
    );
    app.handle_key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
    for c in "service:store-frontend severity:warn slow".chars() {
        app.handle_key(ch(c));
    }
    assert!(app.handle_key(key(KeyCode::Enter)).is_some());
    refresh(&mut app, &source);
    assert_eq!(app.logs.len(), 30);
    assert!(
        (app.logs.iter())
            .all(|log| log.severity == "WARN" && log.body.starts_with("slow answer from")),
        "{:?}",
        app.logs
    );
    let drawn = draw(&mut app, 160, 30).to_string();
    assert!(
        drawn.contains("filter: service:store-frontend severity:warn slow = records WARN or worse, from store-frontend, mentioning \"slow\""),
        "{drawn}"
    );

    // A refused filter says why, and keeps the list.
    app.handle_key(ch('/'));
    app.handle_key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
    for c in "severity:loud".chars() {
        app.handle_key(ch(c));
    }
    assert_eq!(app.handle_key(key(KeyCode::Enter)), None);
    let drawn = draw(&mut app, 100, 30).to_string();
    assert!(
        drawn.contains("a severity is TRACE, DEBUG, INFO, WARN, ERROR, FATAL"),
        "{drawn}"
    );
    app.handle_key(key(KeyCode::Esc));
    assert_eq!(app.logs.len(), 30);

    // Esc clears the filter; the oldest record was written outside any trace: nothing to open.
    assert!(app.handle_key(key(KeyCode::Esc)).is_some());
    refresh(&mut app, &source);
    assert_eq!(app.logs.len(), 51);
    app.handle_key(ch('G'));
    assert_eq!(
        app.logs[app.logs_tab.selected].body,
        "seeded the storefront database"
    );
    assert_eq!(app.handle_key(key(KeyCode::Enter)), None);
    let drawn = draw(&mut app, 100, 30).to_string();
    assert!(drawn.contains("written outside any trace"), "{drawn}");
}

/// The error's trace opened from the Errors tab, drawn at 140×40.
fn error_trace_in(source: &fixture::Served, workspace: Option<&std::path::Path>) -> String {
    let mut app = app(source);
    app.handle_key(ch('5'));
    let action = app.handle_key(key(KeyCode::Enter));
    fixture::open_in(&mut app, source, action, workspace);
    assert_eq!(app.tab, Tab::Trace);
    format!("{:?}", draw(&mut app, 140, 40))
}

#[test]
fn a_dashboard_without_the_source_tree_is_served_its_lines_by_the_collector() {
    // `lab tui --connect` from a folder that is no project: the lines come from the collector, which serves
    // the repository as `lab up` serves the shop's tree; the screen is the one drawn beside the tree.
    let elsewhere = tempfile::tempdir().unwrap();
    let served = fixture::broken();
    let beside = error_trace_in(&served, Some(&fixture::repository()));
    let remote = error_trace_in(&served, Some(elsewhere.path()));
    assert!(beside.contains("banner(ad)"), "{beside}");
    assert_eq!(remote, beside);
    let remote = error_trace_in(&served, None);
    assert_eq!(remote, beside);

    // A collector that serves none: both reasons, and the flag that would help.
    let unserved = fixture::broken_without_source();
    let screen = error_trace_in(&unserved, Some(elsewhere.path()));
    assert!(!screen.contains("banner(ad)"), "{screen}");
    assert!(
        screen.contains("--workspace DIR names one")
            && screen.contains("collector: no source tree given to it"),
        "{screen}"
    );
}
