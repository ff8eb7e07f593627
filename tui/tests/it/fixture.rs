//! Deterministic data: the spans `collector::workshop::generate` makes for the broken or the fixed shop,
//! stored and analysed synchronously, the way the collector's writer does it, and served by the collector's
//! real query API on 127.0.0.1:0. The dashboard reads it through its [`Remote`] source, so every view drawn
//! here has crossed the contract (`protocol`) as JSON both ways.

use collector::analysis::{Analysis, Settings};
use collector::store::Store;
use collector::workshop::{self, Workshop};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tui::app::{App, Update};
use tui::source::Remote;
use tui::theme::Theme;

/// 2026-09-21 12:00:00 UTC, so clocks on screen read the same in every run.
pub const START_NS: u64 = 1_790_000_000_000_000_000;

/// The store and analyses after `requests` storefront requests of each state in turn, an hour apart.
pub fn source(states: &[Workshop], requests: usize) -> Served {
    let (store, analysis) = stored(states, requests);
    Served::new(store, analysis)
}

fn stored(states: &[Workshop], requests: usize) -> (Store, Analysis) {
    let store = Store::new(collector::store::DEFAULT_CAPACITY);
    let analysis = Analysis::new(Settings::default());
    for (i, state) in states.iter().enumerate() {
        let mut spans =
            workshop::generate(*state, requests, START_NS + i as u64 * 3_600_000_000_000);
        // Traces of their own: the generator numbers each state's from the same first id.
        for span in &mut spans {
            span.trace_id =
                collector::TraceId::from_u128(span.trace_id.to_u128() + i as u128 * 1000);
        }
        // Split mid-trace, as exporters do.
        for batch in spans.chunks(97) {
            analysis.observe(batch);
            store.insert(batch.to_vec());
        }
    }
    analysis.flush(&store);
    (store, analysis)
}

/// A collector's query API over a store, served on 127.0.0.1 for as long as this lives, and the dashboard's
/// source reading it.
pub struct Served {
    pub remote: Remote,
    _runtime: tokio::runtime::Runtime,
}

/// The repository: the generated shop's spans name its files.
pub fn repository() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

impl Served {
    /// Serving the repository's source lines, as `lab up` does.
    fn new(store: Store, analysis: Analysis) -> Served {
        Served::serving(store, analysis, Some(&repository()))
    }

    fn serving(store: Store, analysis: Analysis, source_root: Option<&std::path::Path>) -> Served {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let source_root = source_root.map(std::path::Path::to_owned);
        runtime.spawn(async move {
            let query = collector::query::Query::new(store, analysis)
                .with_source_root(source_root.as_deref());
            axum::serve(listener, collector::api::serve(query))
                .await
                .unwrap();
        });
        Served {
            remote: Remote::new(&format!("http://{addr}")).unwrap(),
            _runtime: runtime,
        }
    }
}

/// The broken shop, from a collector that serves no source lines.
pub fn broken_without_source() -> Served {
    let (store, analysis) = stored(&[Workshop::Broken], 40);
    Served::serving(store, analysis, None)
}

pub fn broken() -> Served {
    source(&[Workshop::Broken], 40)
}

pub fn fixed() -> Served {
    source(&[Workshop::Fixed], 40)
}

/// The broken shop, then fixed: two versions of every service.
pub fn redeployed() -> Served {
    source(&[Workshop::Broken, Workshop::Fixed], 40)
}

/// The broken shop, and a shopper's session in it as the browser SDK reported it (the Browser tab's data).
pub fn browsed() -> Served {
    let store = Store::new(collector::store::DEFAULT_CAPACITY);
    let analysis = Analysis::new(Settings::default());
    let spans = workshop::generate(Workshop::Broken, 40, START_NS);
    analysis.observe(&spans);
    store.insert(spans);
    analysis.flush(&store);
    let taken = store
        .rum()
        .take(workshop::browser_session(START_NS).as_bytes());
    assert_eq!(taken.rejected, 0);
    Served::new(store, analysis)
}

/// The broken shop with the log records its services write (an error in each failing render, a warning
/// for each slow call), and one written outside any trace, as a service's start-up line is.
pub fn logged() -> Served {
    let (store, analysis) = stored(&[Workshop::Broken], 40);
    let spans = workshop::generate(Workshop::Broken, 40, START_NS);
    let mut records = workshop::log_records(&spans);
    let mut seeded = records[0].clone();
    seeded.time_ns = START_NS - 1_000_000_000;
    seeded.severity_number = 9;
    seeded.severity_text = "INFO".into();
    seeded.body = "seeded the storefront database".to_owned();
    seeded.attributes.clear();
    seeded.trace = collector::logs::TraceRef::None;
    seeded.span_id = None;
    records.insert(0, seeded);
    store.logs().insert(records);
    Served::new(store, analysis)
}

/// The broken shop, then the ads and discounts services fixed: the storefront keeps its version.
pub fn slow_services_fixed() -> Served {
    source(&[Workshop::Broken, Workshop::SlowServicesFixed], 40)
}

/// A dashboard over `source` after its first refresh, showing everything the store holds.
pub fn app(source: &Served) -> App {
    let mut app = App::new("fixture", false, Theme::mono());
    refresh(&mut app, source);
    app
}

/// What the event loop does after an `Action::Refresh`.
pub fn refresh(app: &mut App, source: &Served) {
    let refresh =
        tui::run::refresh(&source.remote, None, &app.params()).expect("the fixture answers");
    app.apply(Update::Refreshed(Box::new(refresh)));
}

/// What the event loop does after an `Action::OpenTrace`, beside the repository.
pub fn open(app: &mut App, source: &Served, action: Option<tui::app::Action>) {
    open_in(app, source, action, Some(&repository()));
}

/// What the event loop does after an `Action::OpenTrace`, in `workspace`.
pub fn open_in(
    app: &mut App,
    source: &Served,
    action: Option<tui::app::Action>,
    workspace: Option<&std::path::Path>,
) {
    match action {
        Some(tui::app::Action::OpenTrace { trace_id, focus }) => {
            app.apply(tui::run::open_trace(
                &source.remote,
                &trace_id,
                focus,
                workspace,
            ));
        }
        other => panic!("expected a trace to open, got {other:?}"),
    }
}

/// The screen as text, `width`×`height`, after telling the state its size, as the event loop does.
pub fn draw(app: &mut App, width: u16, height: u16) -> TestBackend {
    app.resize(tui::view::screen(app, ratatui::layout::Rect::new(0, 0, width, height)).body);
    let app = &*app;
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|frame| frame.render_widget(app, frame.area()))
        .unwrap();
    terminal.backend().clone()
}

pub fn key(code: ratatui::crossterm::event::KeyCode) -> ratatui::crossterm::event::KeyEvent {
    ratatui::crossterm::event::KeyEvent::new(code, ratatui::crossterm::event::KeyModifiers::NONE)
}

pub fn ch(c: char) -> ratatui::crossterm::event::KeyEvent {
    key(ratatui::crossterm::event::KeyCode::Char(c))
}

/// What the event loop does with a mouse event on a screen of `area`: asks the views what lies under it, then
/// hands the state both.
pub fn mouse(
    app: &mut App,
    event: ratatui::crossterm::event::MouseEvent,
    area: ratatui::layout::Rect,
) -> Option<tui::app::Action> {
    let target = tui::view::hit(app, area, event.column, event.row);
    app.handle_mouse(event, target)
}
