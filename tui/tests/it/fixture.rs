//! Deterministic data: the spans `collector::workshop::generate` makes for the broken or the fixed shop,
//! stored and analysed synchronously, the way the collector's writer does it.

use collector::analysis::{Analysis, Settings};
use collector::store::Store;
use collector::workshop::{self, Workshop};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tui::app::{App, Update};
use tui::source::InProcess;
use tui::theme::Theme;

/// 2026-09-21 12:00:00 UTC, so clocks on screen read the same in every run.
pub const START_NS: u64 = 1_790_000_000_000_000_000;

/// The store and analyses after `requests` storefront requests of each state in turn, an hour apart.
pub fn source(states: &[Workshop], requests: usize) -> InProcess {
    let store = Store::new(collector::store::DEFAULT_CAPACITY);
    let analysis = Analysis::new(Settings::default());
    for (i, state) in states.iter().enumerate() {
        let spans = workshop::generate(*state, requests, START_NS + i as u64 * 3_600_000_000_000);
        // Split mid-trace, as exporters do.
        for batch in spans.chunks(97) {
            analysis.observe(batch);
            store.insert(batch.to_vec());
        }
    }
    analysis.flush(&store);
    InProcess::live(store, analysis, "fixture")
}

pub fn broken() -> InProcess {
    source(&[Workshop::Broken], 40)
}

pub fn fixed() -> InProcess {
    source(&[Workshop::Fixed], 40)
}

/// The broken shop, then fixed: two versions of every service.
pub fn redeployed() -> InProcess {
    source(&[Workshop::Broken, Workshop::Fixed], 40)
}

/// A dashboard over `source` after its first refresh, showing everything the store holds.
pub fn app(source: &InProcess) -> App {
    let mut app = App::new("fixture", false, Theme::mono());
    refresh(&mut app, source);
    app
}

/// What the event loop does after an `Action::Refresh`.
pub fn refresh(app: &mut App, source: &InProcess) {
    let refresh = tui::run::refresh(source, None, &app.params()).expect("the fixture answers");
    app.apply(Update::Refreshed(Box::new(refresh)));
}

/// What the event loop does after an `Action::OpenTrace`.
pub fn open(app: &mut App, source: &InProcess, action: Option<tui::app::Action>) {
    match action {
        Some(tui::app::Action::OpenTrace { trace_id, focus }) => {
            let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
            app.apply(tui::run::open_trace(
                source,
                &trace_id,
                focus,
                Some(&workspace),
            ));
        }
        other => panic!("expected a trace to open, got {other:?}"),
    }
}

/// The screen as text, `width`×`height`.
pub fn draw(app: &App, width: u16, height: u16) -> TestBackend {
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
