//! Keys and clicks as plain functions: what each does to the state, and the effect it asks for.

use protocol::TraceSearch;
use ratatui::crossterm::event::{
    KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::layout::Rect;
use tui::app::{Action, App, Column, Tab, parse_filter};
use tui::source::default_filter;
use tui::trace::Focus;

use crate::fixture::{self, app, ch, key, open, refresh};

#[test]
fn numbers_tab_and_backtab_switch_tabs() {
    let mut app = app(&fixture::broken());
    assert_eq!(app.tab, Tab::Map);
    for (c, tab) in ('1'..='8').zip(Tab::ALL) {
        assert_eq!(app.handle_key(ch(c)), None);
        assert_eq!(app.tab, tab);
        assert_eq!(
            app.params().logs,
            None,
            "log records are fetched for the Logs tab only"
        );
    }
    // The Logs tab's records are fetched only while it is shown: arriving on it asks for them.
    match app.handle_key(ch('9')) {
        Some(Action::Refresh(params)) => assert!(params.logs.is_some()),
        other => panic!("expected a refresh with the log search, got {other:?}"),
    }
    assert_eq!(app.tab, Tab::Logs);
    app.handle_key(key(KeyCode::Tab));
    assert_eq!(app.tab, Tab::Map, "Tab wraps around");
    assert!(
        matches!(
            app.handle_key(key(KeyCode::BackTab)),
            Some(Action::Refresh(_))
        ),
        "back on the Logs tab: its records are asked for again"
    );
    assert_eq!(app.tab, Tab::Logs);
}

#[test]
fn q_and_ctrl_c_quit_and_question_mark_shows_help_until_any_key() {
    let mut app = app(&fixture::broken());
    assert_eq!(app.handle_key(ch('q')), Some(Action::Quit));
    assert_eq!(
        app.handle_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
        Some(Action::Quit)
    );
    app.handle_key(ch('?'));
    assert!(app.help);
    assert_eq!(
        app.handle_key(ch('3')),
        None,
        "the key that closes help does nothing else"
    );
    assert!(!app.help);
    assert_eq!(app.tab, Tab::Map);
}

#[test]
fn services_sort_by_column_and_invert() {
    let mut app = app(&fixture::broken());
    app.handle_key(ch('2'));
    assert_eq!(app.sort, Column::P95);
    let first = |app: &App| app.sorted_services()[0].name.clone();
    let slowest = first(&app);
    app.handle_key(ch('i'));
    assert!(app.inverted);
    assert_ne!(first(&app), slowest, "inverted, the slowest is last");
    app.handle_key(ch('e'));
    assert_eq!((app.sort, app.inverted), (Column::Errors, false));
    assert_eq!(
        first(&app),
        "store-frontend",
        "the only service with errors comes first"
    );
    app.handle_key(key(KeyCode::Right));
    assert_eq!(app.sort, Column::P50);
    app.handle_key(ch('h'));
    assert_eq!(app.sort, Column::Errors);
}

#[test]
fn enter_opens_a_service_and_esc_closes_it() {
    let source = fixture::broken();
    let mut app = app(&source);
    app.handle_key(ch('2'));
    app.handle_key(ch('e'));
    let action = app.handle_key(key(KeyCode::Enter));
    let Some(Action::Refresh(params)) = action else {
        panic!("Enter asks for the service's endpoints: {action:?}");
    };
    assert_eq!(params.service.as_deref(), Some("store-frontend"));
    refresh(&mut app, &source);
    let page = app.service_page.as_ref().unwrap();
    assert!(
        page.endpoints
            .iter()
            .any(|e| e.name == "GET /t/{*permalink}"),
        "{:?}",
        page.endpoints
    );
    // Enter on an endpoint lists its traces.
    let action = app.handle_key(key(KeyCode::Enter));
    assert_eq!(app.tab, Tab::Traces);
    let Some(Action::Refresh(params)) = action else {
        panic!("{action:?}")
    };
    assert_eq!(params.filter.service.as_deref(), Some("store-frontend"));
    assert!(params.filter.endpoint.is_some());
    // A number key lands on the tab's top level: the page opened earlier is closed, so "2, then p" sorts
    // the service list as the README says.
    assert!(matches!(app.handle_key(ch('2')), Some(Action::Refresh(_))));
    assert!(app.service_page.is_none());
    app.handle_key(ch('p'));
    assert_eq!(app.sort, Column::P95);
}

#[test]
fn the_services_tab_opens_on_a_service_not_a_database() {
    let source = fixture::broken();
    let mut app = app(&source);
    app.handle_key(ch('2'));
    // As if the Map had selected a database.
    let rows = app.sorted_services();
    let database = rows.iter().position(|row| row.kind == "database").unwrap();
    app.services_selected = database;
    app.handle_key(ch('1'));
    app.handle_key(ch('2'));
    assert_eq!(app.sorted_services()[app.services_selected].kind, "service");
}

#[test]
fn the_map_opens_the_selected_node() {
    let source = fixture::broken();
    let mut app = app(&source);
    let order = app.map_order();
    let first = app.overview.map.nodes[order[0]].name.clone();
    assert_eq!(
        first, "store-frontend",
        "layer 0 holds the caller nobody calls"
    );
    app.handle_key(ch('j'));
    let second = app.overview.map.nodes[order[1]].name.clone();
    let Some(Action::Refresh(params)) = app.handle_key(key(KeyCode::Enter)) else {
        panic!()
    };
    assert_eq!(params.service, Some(second));
    assert_eq!(app.tab, Tab::Services);
}

#[test]
fn lists_move_and_stay_inside() {
    let mut app = app(&fixture::broken());
    app.handle_key(ch('3'));
    let len = app.traces.len();
    assert!(len > 10);
    app.handle_key(ch('k'));
    assert_eq!(app.traces_selected, 0);
    app.handle_key(key(KeyCode::PageDown));
    assert_eq!(app.traces_selected, 10);
    app.handle_key(ch('G'));
    assert_eq!(app.traces_selected, len - 1);
    app.handle_key(ch('j'));
    assert_eq!(app.traces_selected, len - 1);
    app.handle_key(ch('g'));
    assert_eq!(app.traces_selected, 0);
}

#[test]
fn errors_open_the_failing_span_and_insights_the_repeated_statement() {
    let mut app = app(&fixture::broken());
    app.handle_key(ch('5'));
    let group = app.overview.errors[0].clone();
    match app.handle_key(key(KeyCode::Enter)) {
        Some(Action::OpenTrace { trace_id, focus }) => {
            assert_eq!(trace_id, group.example_trace_id);
            assert_eq!(focus, Focus::Span(group.example_span_id));
        }
        other => panic!("{other:?}"),
    }
    app.handle_key(ch('6'));
    let finding = app.overview.n_plus_one[0].clone();
    match app.handle_key(key(KeyCode::Enter)) {
        Some(Action::OpenTrace { trace_id, focus }) => {
            assert_eq!(trace_id, finding.traces[0]);
            // Every statement of the loop is lit, its most repeated first.
            let Focus::Repeated(queries) = focus else {
                panic!("{focus:?}")
            };
            assert_eq!(queries[0], finding.query);
            assert_eq!(queries.len(), finding.statements.len());
            for statement in &finding.statements {
                assert!(queries.contains(&statement.query), "{queries:?}");
            }
        }
        other => panic!("{other:?}"),
    }
    // Esc on the Trace tab goes back where it came from.
    let source = fixture::broken();
    let action = app.handle_key(key(KeyCode::Enter));
    crate::fixture::open(&mut app, &source, action);
    assert_eq!(app.tab, Tab::Trace);
    app.handle_key(key(KeyCode::Esc));
    assert_eq!(app.tab, Tab::Insights);
}

#[test]
fn a_trace_id_in_the_filter_line_opens_that_trace() {
    let source = fixture::broken();
    let mut app = app(&source);
    let id = app.traces[3].trace_id.clone();
    let typed = |app: &mut App, text: &str| {
        app.handle_key(ch('3'));
        app.handle_key(ch('/'));
        for c in text.chars() {
            app.handle_key(ch(c));
        }
        app.handle_key(key(KeyCode::Enter))
    };
    // Its low 64 bits in decimal, as Datadog shows ids: the collector finds the trace ending in them.
    let low = u128::from_str_radix(&id, 16).unwrap() as u64;
    let decimal = (low.to_string(), format!("{low:032x}"));
    let action = typed(&mut app, &decimal.0);
    assert_eq!(
        action,
        Some(Action::OpenTrace {
            trace_id: decimal.1,
            focus: Focus::None
        })
    );
    open(&mut app, &source, action);
    assert_eq!(
        app.tab,
        Tab::Trace,
        "the trace ending in those 64 bits is shown"
    );
    assert_eq!(app.trace.as_ref().unwrap().trace_id(), id);
    app.handle_key(key(KeyCode::Esc));
    for text in [
        id.clone(),
        id.to_uppercase(),
        format!("trace:{id}"),
        format!(" {id} "),
    ] {
        assert_eq!(
            typed(&mut app, &text),
            Some(Action::OpenTrace {
                trace_id: id.clone(),
                focus: Focus::None
            }),
            "{text:?}"
        );
        assert!(app.filter_input.is_none());
    }
    // Opened, it is the trace screen of that trace.
    let action = typed(&mut app, &id);
    crate::fixture::open(&mut app, &source, action);
    assert_eq!(app.tab, Tab::Trace);
    let text = fixture::draw(&mut app, 120, 30).to_string();
    assert!(text.contains(&format!("Trace {id}")), "{text}");

    // A 64-bit id (Datadog's) is the 128-bit one with zeros in front; other lengths are filters.
    assert_eq!(
        typed(&mut app, "00000000000000ab"),
        Some(Action::OpenTrace {
            trace_id: format!("{:0>32}", "ab"),
            focus: Focus::None
        })
    );
    assert!(matches!(
        typed(&mut app, "abc123"),
        Some(Action::Refresh(_))
    ));
    assert_eq!(app.filter.text.as_deref(), Some("abc123"));
    // A bare word naming a service the collector knows is that service.
    app.handle_key(key(KeyCode::Esc));
    typed(&mut app, "discounts-service");
    assert_eq!(
        (app.filter.service.as_deref(), app.filter.text.as_deref()),
        (Some("discounts-service"), None)
    );
}

#[test]
fn the_filter_line_is_typed_applied_and_cleared() {
    let mut app = app(&fixture::broken());
    app.handle_key(ch('3'));
    app.handle_key(ch('/'));
    for c in "service:store-frontend error >2ms".chars() {
        assert_eq!(
            app.handle_key(ch(c)),
            None,
            "typing does not trigger keys ({c})"
        );
    }
    assert_eq!(app.tab, Tab::Traces);
    let Some(Action::Refresh(params)) = app.handle_key(key(KeyCode::Enter)) else {
        panic!()
    };
    assert_eq!(
        params.filter,
        TraceSearch {
            service: Some("store-frontend".into()),
            error: Some(true),
            min_duration_ms: 2.0,
            ..default_filter()
        }
    );
    // A bad line stays open with the reason.
    app.handle_key(ch('/'));
    for c in " >fast".chars() {
        app.handle_key(ch(c));
    }
    assert_eq!(app.handle_key(key(KeyCode::Enter)), None);
    assert!(app.filter_input.as_ref().unwrap().problem.is_some());
    app.handle_key(key(KeyCode::Esc));
    assert!(app.filter_input.is_none());
    // Esc clears the filter.
    assert!(matches!(
        app.handle_key(key(KeyCode::Esc)),
        Some(Action::Refresh(_))
    ));
    assert_eq!(app.filter, default_filter());
}

#[test]
fn filters_parse() {
    let check = |text: &str, expected: Result<TraceSearch, ()>| {
        assert_eq!(parse_filter(text).map_err(|_| ()), expected, "{text:?}");
    };
    check("", Ok(default_filter()));
    // Bare words are text looked for in the spans, whatever they look like.
    for (typed, text) in [
        ("SELECT", "SELECT"),
        ("discount_type WHERE", "discount_type WHERE"),
        ("/cart", "/cart"),
        ("text:\"no such order\"", "no such order"),
    ] {
        check(
            typed,
            Ok(TraceSearch {
                text: Some(text.into()),
                ..default_filter()
            }),
        );
    }
    // A method and a path after `endpoint:` are one endpoint, quoted or not.
    check(
        "endpoint:GET /cart",
        Ok(TraceSearch {
            endpoint: Some("GET /cart".into()),
            ..default_filter()
        }),
    );
    check("<1ms >100us", Err(()));
    check(
        "<1ms service:ads",
        Ok(TraceSearch {
            service: Some("ads".into()),
            max_duration_ms: Some(1.0),
            ..default_filter()
        }),
    );
    check(
        "endpoint:\"GET /discount\" >2.5s",
        Ok(TraceSearch {
            endpoint: Some("GET /discount".into()),
            min_duration_ms: 2500.0,
            ..default_filter()
        }),
    );
    check(
        "errors",
        Ok(TraceSearch {
            error: Some(true),
            ..default_filter()
        }),
    );
    check("endpoint:\"GET /x", Err(()));
    check(">-5ms", Err(()));
    check("colour:red", Err(()));
}

#[test]
fn space_pauses_live_views_only() {
    let mut live = App::new("live", true, tui::theme::Theme::mono());
    let Some(Action::Refresh(params)) = live.handle_key(ch(' ')) else {
        panic!()
    };
    assert!(params.paused && live.paused);
    live.handle_key(ch(' '));
    assert!(!live.paused);
    let mut recording = app(&fixture::broken());
    assert_eq!(recording.handle_key(ch(' ')), None);
    assert!(!recording.paused);
}

#[test]
fn w_picks_the_window_by_its_number_and_the_traces_search_follows_it() {
    let mut app = App::new("live", true, tui::theme::Theme::mono());
    assert_eq!(app.window_name(), "5m");
    // One key after `w`, whatever the window was: the window a student needs after a fix is two keys away.
    for (key, expected) in [('4', "all"), ('1', "1m"), ('3', "15m"), ('2', "5m")] {
        assert_eq!(app.handle_key(ch('w')), None, "w asks which");
        assert!(app.picking_window);
        assert!(matches!(app.handle_key(ch(key)), Some(Action::Refresh(_))));
        assert_eq!(app.window_name(), expected);
        assert!(!app.picking_window);
    }
    // Any other key leaves the window as it was.
    app.handle_key(ch('w'));
    assert_eq!(app.handle_key(key(KeyCode::Esc)), None);
    assert_eq!(app.window_name(), "5m");
    // `w` twice still steps to the next one.
    app.handle_key(ch('w'));
    app.handle_key(ch('w'));
    assert_eq!(app.window_name(), "15m");
    // The Traces tab searches within the window, unless its filter says `since:` itself.
    let search = app.params().trace_search();
    assert_eq!(
        search.since,
        Some(protocol::query::Since::Ago(15 * 60_000_000_000))
    );
    app.handle_key(ch('w'));
    app.handle_key(ch('4'));
    assert_eq!(app.params().trace_search().since, None);
}

#[test]
fn the_fault_panel_flips_the_selected_fault() {
    let mut app = app(&fixture::broken());
    assert_eq!(app.handle_key(ch('f')), None);
    assert!(
        app.fault_panel.is_none(),
        "no fault panel where faults cannot be flipped"
    );
    let (said, _) = app.message.clone().expect("f says why not");
    assert!(said.contains("lab fix"), "{said}");
    app.faults = Some(vec![
        tui::app::Fault {
            name: "ads.sleep".into(),
            broken: true,
            description: String::new(),
            service: "advertisements-service".into(),
            version: "1.0".into(),
        },
        tui::app::Fault {
            name: "discounts.n-plus-one".into(),
            broken: false,
            description: String::new(),
            service: "discounts-service".into(),
            version: "1.1".into(),
        },
    ]);
    app.handle_key(ch('f'));
    app.handle_key(ch('j'));
    assert_eq!(
        app.handle_key(key(KeyCode::Enter)),
        Some(Action::SetFault {
            name: "discounts.n-plus-one".into(),
            broken: true
        })
    );
    // A tab's number closes the panel and switches.
    app.handle_key(ch('7'));
    assert!(app.fault_panel.is_none());
    assert_eq!(app.tab, Tab::Deployments);
}

fn click(column: u16, row: u16) -> MouseEvent {
    MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column,
        row,
        modifiers: KeyModifiers::NONE,
    }
}

#[test]
fn clicks_select_tabs_and_rows_and_a_second_click_drills_in() {
    let mut app = app(&fixture::broken());
    let screen = Rect::new(0, 0, 100, 30);
    crate::fixture::mouse(&mut app, click(9, 0), screen);
    assert_eq!(app.tab, Tab::Services, "a click on the tab line");
    // Rows start below the tab line, the pane's border and the header.
    crate::fixture::mouse(&mut app, click(10, 4), screen);
    assert_eq!(app.services_selected, 1);
    let action = crate::fixture::mouse(&mut app, click(10, 4), screen);
    assert!(matches!(action, Some(Action::Refresh(_))), "{action:?}");
    assert!(app.service_page.is_some());
    // The wheel moves the selection.
    app.handle_key(key(KeyCode::Esc));
    crate::fixture::mouse(
        &mut app,
        MouseEvent {
            kind: MouseEventKind::ScrollDown,
            ..click(10, 10)
        },
        screen,
    );
    assert_eq!(app.services_selected, 2);
}

#[test]
fn a_new_order_or_filter_selects_the_first_trace_it_lists() {
    let source = fixture::broken();
    let mut app = app(&source);
    app.handle_key(ch('3'));
    app.handle_key(ch('j'));
    app.handle_key(ch('j'));
    let Some(Action::Refresh(_)) = app.handle_key(ch('s')) else {
        panic!()
    };
    refresh(&mut app, &source);
    assert_eq!(app.traces_selected, 0);
    let longest = app.traces.iter().map(|t| t.duration_ms).fold(0.0, f64::max);
    assert_eq!(
        app.traces[0].duration_ms, longest,
        "longest first, and selected"
    );
    // A refresh with the same order keeps the selection on its trace.
    app.handle_key(ch('j'));
    let id = app.traces[1].trace_id.clone();
    refresh(&mut app, &source);
    assert_eq!(app.traces[app.traces_selected].trace_id, id);
}

#[test]
fn the_service_page_lists_its_error_groups_and_opens_their_trace() {
    let source = fixture::broken();
    let mut app = app(&source);
    app.handle_key(ch('2'));
    app.handle_key(ch('e'));
    app.handle_key(key(KeyCode::Enter));
    refresh(&mut app, &source);
    let page = app.service_page.clone().unwrap();
    assert_eq!(page.name, "store-frontend");
    let group = app.page_errors("store-frontend")[0].clone();
    // The groups come after the endpoints: the last row.
    app.handle_key(ch('G'));
    assert_eq!(
        app.service_page.as_ref().unwrap().selected,
        page.endpoints.len()
    );
    match app.handle_key(key(KeyCode::Enter)) {
        Some(Action::OpenTrace { trace_id, focus }) => {
            assert_eq!(trace_id, group.example_trace_id);
            assert_eq!(focus, Focus::Span(group.example_span_id));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_answer_to_parameters_since_changed_is_dropped() {
    let source = fixture::broken();
    let mut app = app(&source);
    app.handle_key(ch('3'));
    let stale = tui::run::refresh(&source.remote, None, &app.params()).unwrap();
    app.handle_key(ch('e'));
    assert!(app.traces.is_empty() && app.searching);
    app.apply(tui::app::Update::Refreshed(Box::new(stale)));
    assert!(
        app.traces.is_empty(),
        "the old list is not shown under the new filter"
    );
    refresh(&mut app, &source);
    assert!(!app.traces.is_empty() && app.traces.iter().all(|t| t.error));
    assert!(!app.searching);
}

#[test]
fn live_lists_keep_the_selected_item_when_their_order_changes() {
    let source = fixture::broken();
    let mut app = app(&source);
    app.handle_key(ch('2'));
    app.handle_key(ch('j'));
    let picked = app.sorted_services()[1].name.clone();
    // The next refresh makes the picked service the slowest.
    let mut next = tui::run::refresh(&source.remote, None, &app.params()).unwrap();
    for service in &mut next.overview.services {
        if service.name == picked {
            service.p95_ms = 1e9;
        }
    }
    app.apply(tui::app::Update::Refreshed(Box::new(next)));
    assert_eq!(app.sorted_services()[0].name, picked);
    assert_eq!(app.sorted_services()[app.services_selected].name, picked);
    // A new order asked for selects its first row.
    app.handle_key(ch('e'));
    assert_eq!(app.services_selected, 0);
}

#[test]
fn pausing_freezes_without_asking_for_new_data() {
    let mut app = App::new("live", true, tui::theme::Theme::mono());
    let before = app.params().generation;
    let Some(Action::Refresh(params)) = app.handle_key(ch(' ')) else {
        panic!()
    };
    assert_eq!(params.generation, before);
    assert!(params.paused);
}

#[test]
fn space_in_the_fault_panel_does_not_deploy_and_a_click_closes_it() {
    let mut app = app(&fixture::broken());
    app.faults = Some(vec![tui::app::Fault {
        name: "ads.sleep".into(),
        broken: true,
        description: String::new(),
        service: "advertisements-service".into(),
        version: "1.0".into(),
    }]);
    app.handle_key(ch('f'));
    assert!(!matches!(
        app.handle_key(ch(' ')),
        Some(Action::SetFault { .. })
    ));
    app.handle_key(ch('f'));
    assert!(app.fault_panel.is_some());
    let before = app.services_selected;
    crate::fixture::mouse(&mut app, click(10, 4), Rect::new(0, 0, 100, 30));
    assert!(app.fault_panel.is_none());
    assert_eq!(
        app.services_selected, before,
        "the click hit nothing under the panel"
    );
}

#[test]
fn a_trace_that_arrives_after_the_user_moved_on_waits_on_its_tab() {
    let source = fixture::broken();
    let mut app = app(&source);
    app.handle_key(ch('5'));
    let action = app.handle_key(key(KeyCode::Enter));
    app.handle_key(ch('2'));
    crate::fixture::open(&mut app, &source, action);
    assert_eq!(app.tab, Tab::Services, "no jump");
    assert!(app.trace.is_some());
    assert!(
        app.message
            .as_ref()
            .is_some_and(|(m, _)| m.contains("ready"))
    );
}

#[test]
fn x_and_shift_x_switch_the_exporters_the_status_line_shows() {
    let mut app = app(&fixture::broken());
    assert_eq!(app.handle_key(ch('x')), None);
    let (said, problem) = app.message.clone().expect("x says there is no exporter");
    assert!(problem && said.contains("--export-datadog"), "{said}");
    let export = |name: &str, enabled: bool, dropped: u64| protocol::ExportStats {
        name: name.into(),
        endpoint: "http://127.0.0.1:8126/v0.4/traces".into(),
        enabled,
        offered: 10,
        sent: 10 - dropped,
        dropped,
        ..Default::default()
    };
    app.overview.exports = vec![export("otlp", false, 0), export("datadog", true, 3)];
    assert_eq!(
        app.handle_key(ch('x')),
        Some(Action::SetExport {
            name: "datadog".into(),
            enabled: false
        })
    );
    assert_eq!(
        app.handle_key(ch('X')),
        Some(Action::SetExport {
            name: "otlp".into(),
            enabled: true
        })
    );
    app.message = None;
    let narrow = crate::fixture::draw(&mut app, 80, 24).to_string();
    assert!(
        narrow
            .lines()
            .last()
            .unwrap()
            .contains("spans in/stored/evicted/rejected"),
        "the counts keep their place at 80 columns: {narrow}"
    );
    let drawn = crate::fixture::draw(&mut app, 160, 30).to_string();
    let status = drawn.lines().last().unwrap();
    assert!(status.contains("otlp off (X)"), "{status}");
    assert!(status.contains("dd on 3 lost (x)"), "{status}");
    app.handle_key(ch('?'));
    let help = crate::fixture::draw(&mut app, 100, 40).to_string();
    assert!(help.contains("Datadog, OTLP export on or off"), "{help}");

    // The RUM forward alone is Datadog's too: `x` switches it, and the status line names it.
    app.handle_key(ch('?'));
    app.overview.exports = vec![export("datadog-rum", true, 0)];
    assert_eq!(
        app.handle_key(ch('x')),
        Some(Action::SetExport {
            name: "datadog".into(),
            enabled: false
        })
    );
    app.message = None;
    let drawn = crate::fixture::draw(&mut app, 160, 30).to_string();
    let status = drawn.lines().last().unwrap();
    assert!(status.contains("dd-rum on (x)"), "{status}");
}
