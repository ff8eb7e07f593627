//! Drawing the dashboard from a store of 1,000,000 spans: every tab, at a laptop terminal's 160×48 and at
//! 80×24, from the state one refresh left; and that refresh itself (once a second, on the fetching thread).
//! The target (BENCHMARKS.md) is under 10 ms a frame.

use std::hint::black_box;

use collector::analysis::{Analysis, Settings};
use collector::store::Store;
use collector::workshop::{self, Workshop};
use collector::{Interner, otlp, synth};
use criterion::{Criterion, criterion_group, criterion_main};
use lab::dashboard::InProcess;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use tui::app::{Action, App, Tab, Update};
use tui::theme::Theme;

const SPANS: usize = 1_000_000;

/// A store of about a million shop-like spans (synthetic batches, then the broken workshop's traces so
/// that every tab has something to show), analysed.
fn million() -> InProcess {
    let store = Store::new(SPANS + 10_000);
    let analysis = Analysis::new(Settings::default());
    let interner = Interner::new();
    let mut seed = 0;
    while store.len() < SPANS {
        seed += 1;
        let spans = otlp::from_request(&synth::shop_batch(512, seed), &interner).spans;
        analysis.observe(&spans);
        store.insert(spans);
    }
    let now = store.oldest_start_ns().unwrap_or(0) + 60_000_000_000;
    for batch in workshop::generate(Workshop::Broken, 40, now).chunks(97) {
        analysis.observe(batch);
        store.insert(batch.to_vec());
    }
    analysis.flush(&store);
    InProcess::live(store, analysis, "bench")
}

fn press(app: &mut App, source: &InProcess, code: KeyCode) {
    match app.handle_key(KeyEvent::new(code, KeyModifiers::NONE)) {
        Some(Action::Refresh(params)) => {
            let refresh = tui::run::refresh(source, None, &params).unwrap();
            app.apply(Update::Refreshed(Box::new(refresh)));
        }
        Some(Action::OpenTrace { trace_id, focus }) => {
            // The workspace, so the error's trace screen reads and shows its source lines.
            let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
            app.apply(tui::run::open_trace(
                source,
                &trace_id,
                focus,
                Some(&workspace),
            ));
        }
        _ => {}
    }
}

fn render(c: &mut Criterion) {
    let source = million();
    let mut app = App::new("bench", true, Theme::default());
    let params = app.params();
    c.bench_function("refresh_1m_spans", |b| {
        b.iter(|| tui::run::refresh(black_box(&source), None, &params).unwrap())
    });
    let refresh = tui::run::refresh(&source, None, &params).unwrap();
    app.apply(Update::Refreshed(Box::new(refresh)));

    let mut group = c.benchmark_group("draw_1m_spans");
    for (width, height) in [(160u16, 48u16), (80, 24)] {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        let mut frame = |app: &App, name: &str, group: &mut criterion::BenchmarkGroup<_>| {
            group.bench_function(format!("{name}_{width}x{height}"), |b| {
                b.iter(|| {
                    terminal
                        .draw(|f| f.render_widget(black_box(app), f.area()))
                        .unwrap();
                })
            });
        };
        for (tab, name) in [
            (Tab::Map, "map"),
            (Tab::Services, "services"),
            (Tab::Traces, "traces"),
            (Tab::Errors, "errors"),
            (Tab::Insights, "insights"),
            (Tab::Deployments, "deployments"),
        ] {
            app.tab = tab;
            frame(&app, name, &mut group);
        }
        // The N+1 trace in the flame view, and the error's trace with its source.
        app.tab = Tab::Insights;
        press(&mut app, &source, KeyCode::Enter);
        frame(&app, "trace_n_plus_one", &mut group);
        // The flame graph across the whole width, zoomed into the loop, then back.
        press(&mut app, &source, KeyCode::Char('F'));
        press(&mut app, &source, KeyCode::Char('z'));
        frame(&app, "trace_flame_full_zoomed", &mut group);
        press(&mut app, &source, KeyCode::Char('-'));
        press(&mut app, &source, KeyCode::Char('F'));
        app.tab = Tab::Errors;
        press(&mut app, &source, KeyCode::Enter);
        frame(&app, "trace_error", &mut group);
        // A service's page.
        app.tab = Tab::Services;
        press(&mut app, &source, KeyCode::Enter);
        frame(&app, "service_page", &mut group);
        press(&mut app, &source, KeyCode::Esc);
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = render
}
criterion_main!(benches);
