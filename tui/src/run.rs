//! The event loop: one thread owns the state and the terminal (input, updates, drawing), another fetches
//! from the data source, so a slow or unreachable collector never freezes the screen. Effects the state asks
//! for ([`Action`]) are carried out here: the fetching thread fetches, flips faults and answers with
//! [`Update`]s.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use ratatui::crossterm::event::{
    self, DisableMouseCapture, EnableMouseCapture, Event, MouseEventKind,
};
use ratatui::crossterm::execute;

use crate::app::{
    Action, App, Fault, GuidePane, GuideReply, GuideRequest, Params, Refresh, Update,
};
use crate::source::DataSource;
use crate::theme::Theme;
use crate::trace::{Focus, TraceScreen};

/// Lists and flips the shop's faults; `lab up` gives one, so the fault panel can deploy fixes.
pub trait FaultControl: Send {
    fn list(&self) -> anyhow::Result<Vec<Fault>>;
    /// Sets a fault; answers what changed, for the status line.
    fn set(&self, name: &str, broken: bool) -> anyhow::Result<String>;
}

/// The workshop's guide (`lab workshop`, or a remote one): its steps, answers and hints, for the guide pane.
pub trait GuideSource: Send {
    /// Every step and where the student stands.
    fn workshop(&self) -> anyhow::Result<protocol::WorkshopResponse>;
    fn answer(&self, step: &str, answer: &str) -> anyhow::Result<protocol::AnswerResponse>;
    fn hint(&self, step: &str) -> anyhow::Result<protocol::HintResponse>;
    /// The class, in the instructor's lab (`lab workshop --instructor`); `None` elsewhere.
    fn class(&self) -> Option<anyhow::Result<protocol::ClassResponse>> {
        None
    }
}

/// How the dashboard runs.
pub struct Options {
    pub theme: Theme,
    /// Where source files of error locations are looked up (the workspace root).
    pub workspace: Option<PathBuf>,
    /// How often live data refreshes.
    pub refresh: Duration,
    pub faults: Option<Box<dyn FaultControl>>,
    /// The workshop's guide: with one, the guide pane (`W`) shows, open at start.
    pub guide: Option<Box<dyn GuideSource>>,
    /// Set from elsewhere (a signal handler) to make the dashboard quit as if `q` was pressed.
    pub quit: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("theme", &self.theme)
            .field("workspace", &self.workspace)
            .field("refresh", &self.refresh)
            .field("faults", &self.faults.is_some())
            .field("guide", &self.guide.is_some())
            .finish()
    }
}

impl Default for Options {
    fn default() -> Options {
        Options {
            theme: Theme::from_env(),
            workspace: std::env::current_dir().ok(),
            refresh: Duration::from_secs(1),
            faults: None,
            guide: None,
            quit: None,
        }
    }
}

/// What the drawing thread asks of the fetching one.
#[derive(Debug)]
enum Request {
    Refresh(Box<Params>),
    OpenTrace { trace_id: String, focus: Focus },
    SetFault { name: String, broken: bool },
    SetExport { name: String, enabled: bool },
    Guide(GuideRequest),
}

/// An error with its causes, on one line.
fn chain(error: &anyhow::Error) -> String {
    format!("{error:#}")
}

/// One refresh: everything the tabs show for `params`.
pub fn refresh(
    source: &dyn DataSource,
    faults: Option<&dyn FaultControl>,
    params: &Params,
) -> anyhow::Result<Refresh> {
    let overview = source.overview(params.window)?;
    let mut latency = std::collections::BTreeMap::new();
    for service in overview.services.iter().filter(|s| s.kind == "service") {
        latency.insert(service.name.clone(), source.latency(&service.name)?);
    }
    let traces = source.traces(&params.trace_search())?;
    let endpoints = match &params.service {
        Some(service) => Some((service.clone(), source.endpoints(service, params.window)?)),
        None => None,
    };
    let faults = match faults {
        Some(control) => Some(control.list().context("listing the shop's faults")?),
        None => None,
    };
    let journey = match &params.session {
        Some(id) => Some(source.session(id)?),
        None => None,
    };
    // Only for the Logs tab, while shown. A collector without logs (or an older one) leaves it empty; the rest
    // still shows.
    let logs = (params.logs.as_ref()).map(|search| source.logs(search).unwrap_or_default());
    Ok(Refresh {
        overview,
        latency,
        traces,
        endpoints,
        faults,
        journey,
        guide: None,
        class: None,
        logs,
        generation: params.generation,
    })
}

/// Fetches a trace and builds its screen.
pub fn open_trace(
    source: &dyn DataSource,
    trace_id: &str,
    focus: Focus,
    workspace: Option<&std::path::Path>,
) -> Update {
    match source.trace(trace_id) {
        Ok(Some(view)) => {
            let served = |file: &str, line: u32| source.source(file, line);
            let mut screen = TraceScreen::with_sources(view, focus, workspace, Some(&served));
            // Without its logs the trace is still worth showing.
            screen.set_logs(source.trace_logs(trace_id).unwrap_or_default());
            Update::Trace(Box::new(screen))
        }
        Ok(None) => Update::TraceMissing(trace_id.to_owned()),
        Err(error) => Update::TraceFailed(chain(&error)),
    }
}

/// Runs `work`, turning a panic into a message: a bug met on odd data must not take the dashboard down.
fn guarded(what: &str, work: impl FnOnce() -> Update) -> Update {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).unwrap_or_else(|panic| {
        let reason = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Update::Failed(format!("{what} failed (a bug: {reason})"))
    })
}

/// The longest wait between refreshes after failures.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The fetching side: answers requests and refreshes live data every `every` (backing off while the source
/// fails), until the drawing side hangs up.
fn fetcher(
    source: Box<dyn DataSource>,
    faults: Option<Box<dyn FaultControl>>,
    guide: Option<Box<dyn GuideSource>>,
    workspace: Option<PathBuf>,
    every: Duration,
    requests: Receiver<Request>,
    updates: Sender<Update>,
) {
    let live = source.is_live();
    let mut params: Option<Params> = None;
    let mut next = Instant::now();
    let mut failures = 0u32;
    // A refresh asked for (new parameters, a fault flipped), due at once even when not live or paused.
    let mut pending = false;
    loop {
        let due = pending || params.as_ref().is_some_and(|p| live && !p.paused);
        let wait = if due {
            next.saturating_duration_since(Instant::now())
        } else {
            Duration::from_secs(3600)
        };
        let request = match requests.recv_timeout(wait) {
            Ok(request) => Some(request),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let update = match request {
            Some(Request::OpenTrace { trace_id, focus }) => guarded("opening the trace", || {
                open_trace(source.as_ref(), &trace_id, focus, workspace.as_deref())
            }),
            Some(Request::SetFault { name, broken }) => {
                let Some(control) = &faults else { continue };
                let done = match control.set(&name, broken) {
                    Ok(message) => Update::Done(message),
                    Err(error) => Update::Failed(chain(&error)),
                };
                if updates.send(done).is_err() {
                    return;
                }
                // Show the new version at once.
                (pending, next) = (true, Instant::now());
                continue;
            }
            Some(Request::SetExport { name, enabled }) => {
                let done = match source.set_export(&name, enabled) {
                    Ok(stats) => Update::Done(format!(
                        "{name} export {} ({})",
                        if stats.enabled { "on" } else { "off" },
                        stats.endpoint
                    )),
                    Err(error) => Update::Failed(chain(&error)),
                };
                if updates.send(done).is_err() {
                    return;
                }
                (pending, next) = (true, Instant::now());
                continue;
            }
            Some(Request::Guide(request)) => {
                let Some(guide) = &guide else { continue };
                let reply = match &request {
                    GuideRequest::Answer { step, answer } => {
                        guide.answer(step, answer).map(GuideReply::Answered)
                    }
                    GuideRequest::Hint { step } => guide.hint(step).map(GuideReply::Hint),
                };
                if updates
                    .send(Update::Guide(
                        reply.unwrap_or_else(|error| GuideReply::Failed(chain(&error))),
                    ))
                    .is_err()
                {
                    return;
                }
                // The steps as they now stand, at once.
                (pending, next) = (true, Instant::now());
                continue;
            }
            Some(Request::Refresh(new)) => {
                // Pausing asks for nothing new: the view freezes as it is.
                let just_paused = new.paused
                    && params.as_ref().is_some_and(|old| {
                        Params {
                            paused: true,
                            ..old.clone()
                        } == *new
                    });
                params = Some(*new);
                if !just_paused {
                    (pending, next) = (true, Instant::now());
                }
                continue;
            }
            None if !due => continue,
            None => {
                let Some(params) = &params else { continue };
                pending = false;
                let update = guarded("refreshing", || {
                    match refresh(source.as_ref(), faults.as_deref(), params) {
                        Ok(mut data) => {
                            // Without its guide the dashboard is still worth refreshing.
                            data.guide = guide.as_ref().and_then(|g| g.workshop().ok());
                            data.class = guide.as_ref().and_then(|g| g.class()?.ok());
                            Update::Refreshed(Box::new(data))
                        }
                        Err(error) => Update::Failed(chain(&error)),
                    }
                });
                // The next one is `every` after this one ended, so a slow source is not asked back to back;
                // after failures, less and less often.
                failures = match update {
                    Update::Failed(_) => failures.saturating_add(1),
                    _ => 0,
                };
                let backoff = every
                    .saturating_mul(1 << failures.min(5))
                    .min(MAX_BACKOFF.max(every));
                next = Instant::now() + if failures == 0 { every } else { backoff };
                update
            }
        };
        if updates.send(update).is_err() {
            return;
        }
    }
}

/// The thread drawing the dashboard, while one does: a panic there restores the terminal first; a panic
/// elsewhere in the process (a shop handler in `lab up`) must not, since the dashboard goes on drawing.
static DRAWING_THREAD: std::sync::Mutex<Option<std::thread::ThreadId>> =
    std::sync::Mutex::new(None);

fn restore_terminal() {
    let _ = ratatui::crossterm::terminal::disable_raw_mode();
    let _ = execute!(
        std::io::stdout(),
        DisableMouseCapture,
        ratatui::crossterm::terminal::LeaveAlternateScreen,
        ratatui::crossterm::cursor::Show
    );
    let _ = std::io::stdout().flush();
}

fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let drawing = DRAWING_THREAD.lock().ok().and_then(|thread| *thread);
            match drawing {
                Some(thread) if thread == std::thread::current().id() => {
                    restore_terminal();
                    previous(info);
                }
                // Printed on the dashboard's screen, the message would be torn and lost: it goes to the
                // log (a file while the dashboard runs in `lab up`).
                Some(_) => tracing::error!(panic = %info, "a thread panicked"),
                None => previous(info),
            }
        }));
    });
}

/// The terminal in raw mode on the alternate screen with the mouse captured, restored when dropped (also when
/// the loop returns early with an error, and by the panic hook on a panic of the drawing thread).
struct Terminal {
    inner: ratatui::Terminal<ratatui::backend::CrosstermBackend<std::io::Stdout>>,
}

impl Terminal {
    fn start() -> anyhow::Result<Terminal> {
        install_panic_hook();
        if let Ok(mut thread) = DRAWING_THREAD.lock() {
            *thread = Some(std::thread::current().id());
        }
        let setup = || -> std::io::Result<ratatui::Terminal<_>> {
            ratatui::crossterm::terminal::enable_raw_mode()?;
            execute!(
                std::io::stdout(),
                ratatui::crossterm::terminal::EnterAlternateScreen,
                EnableMouseCapture
            )?;
            ratatui::Terminal::new(ratatui::backend::CrosstermBackend::new(std::io::stdout()))
        };
        match setup() {
            Ok(inner) => Ok(Terminal { inner }),
            Err(error) => {
                // Whatever part was set up is undone before saying why.
                restore_terminal();
                if let Ok(mut thread) = DRAWING_THREAD.lock() {
                    *thread = None;
                }
                Err(error).context("setting up the terminal")
            }
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        restore_terminal();
        if let Ok(mut thread) = DRAWING_THREAD.lock() {
            *thread = None;
        }
    }
}

/// Runs the dashboard in this terminal until `q`. Blocks: call it from a thread of its own (in an async
/// program, `spawn_blocking`).
pub fn run(source: Box<dyn DataSource>, options: Options) -> anyhow::Result<()> {
    let mut app = App::new(source.describe(), source.is_live(), options.theme);
    if options.faults.is_some() {
        app.faults = Some(Vec::new());
    }
    if options.guide.is_some() {
        app.guide = Some(GuidePane {
            shown: true,
            ..GuidePane::default()
        });
    }
    let (request_tx, request_rx) = mpsc::channel();
    let (update_tx, update_rx) = mpsc::channel();
    let workspace = options.workspace.clone();
    let refresh_every = options.refresh;
    let faults = options.faults;
    let guide = options.guide;
    let quit = options.quit;
    let fetching = std::thread::Builder::new()
        .name("dashboard-fetch".to_owned())
        .spawn(move || {
            fetcher(
                source,
                faults,
                guide,
                workspace,
                refresh_every,
                request_rx,
                update_tx,
            )
        })
        .context("starting the dashboard's fetching thread")?;
    let mut terminal = Terminal::start()?;
    let _ = request_tx.send(Request::Refresh(Box::new(app.params())));
    let mut dirty = true;
    loop {
        if dirty {
            let size = terminal.inner.size().context("the terminal's size")?;
            app.resize(crate::view::screen(&app, size.into()).body);
            terminal
                .inner
                .draw(|frame| frame.render_widget(&app, frame.area()))
                .context("drawing")?;
            dirty = false;
        }
        if quit
            .as_ref()
            .is_some_and(|quit| quit.load(std::sync::atomic::Ordering::Acquire))
        {
            break;
        }
        let mut action = None;
        if event::poll(Duration::from_millis(50)).context("reading the terminal")? {
            match event::read().context("reading the terminal")? {
                Event::Key(key) => {
                    action = app.handle_key(key);
                    dirty = true;
                }
                Event::Mouse(mouse) => {
                    let size = terminal.inner.size().context("the terminal's size")?;
                    let hit = match mouse.kind {
                        MouseEventKind::ScrollUp | MouseEventKind::ScrollDown => {
                            crate::view::wheel_hit
                        }
                        _ => crate::view::hit,
                    };
                    let target = hit(&app, size.into(), mouse.column, mouse.row);
                    action = app.handle_mouse(mouse, target);
                    dirty = true;
                }
                Event::Resize(..) => dirty = true,
                _ => {}
            }
        }
        loop {
            match update_rx.try_recv() {
                Ok(update) => {
                    app.apply(update);
                    dirty = true;
                }
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => {
                    anyhow::bail!("the dashboard's fetching thread stopped")
                }
            }
        }
        let request = match action {
            None => None,
            Some(Action::Quit) => break,
            Some(Action::Refresh(params)) => Some(Request::Refresh(params)),
            Some(Action::OpenTrace { trace_id, focus }) => {
                Some(Request::OpenTrace { trace_id, focus })
            }
            Some(Action::SetFault { name, broken }) => Some(Request::SetFault { name, broken }),
            Some(Action::SetExport { name, enabled }) => Some(Request::SetExport { name, enabled }),
            Some(Action::Guide(request)) => Some(Request::Guide(request)),
        };
        if let Some(request) = request
            && request_tx.send(request).is_err()
        {
            anyhow::bail!("the dashboard's fetching thread stopped");
        }
    }
    drop(terminal);
    drop(request_tx);
    // The fetcher ends at its next wake-up; a fetch in flight is not waited for.
    drop(fetching);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use protocol::ServiceStats;
    use protocol::Window;
    use protocol::{TraceSummary, TraceView};

    use super::*;
    use crate::source::{Overview, default_filter};
    use protocol::TraceSearch;

    /// A source that counts the refreshes it answers.
    struct Counting {
        live: bool,
        refreshes: Arc<AtomicUsize>,
    }

    impl DataSource for Counting {
        fn describe(&self) -> String {
            "counting".into()
        }
        fn is_live(&self) -> bool {
            self.live
        }
        fn overview(&self, _: Window) -> anyhow::Result<Overview> {
            self.refreshes.fetch_add(1, Ordering::SeqCst);
            Ok(Overview::default())
        }
        fn endpoints(&self, _: &str, _: Window) -> anyhow::Result<Vec<ServiceStats>> {
            Ok(Vec::new())
        }
        fn latency(&self, _: &str) -> anyhow::Result<Vec<f64>> {
            Ok(Vec::new())
        }
        fn traces(&self, _: &TraceSearch) -> anyhow::Result<Vec<TraceSummary>> {
            Ok(Vec::new())
        }
        fn trace(&self, _: &str) -> anyhow::Result<Option<TraceView>> {
            panic!("a bug met while fetching")
        }
    }

    struct Fetching {
        requests: Sender<Request>,
        updates: Receiver<Update>,
        refreshes: Arc<AtomicUsize>,
    }

    fn start(live: bool) -> Fetching {
        let refreshes = Arc::new(AtomicUsize::new(0));
        let source = Counting {
            live,
            refreshes: refreshes.clone(),
        };
        let (requests, request_rx) = mpsc::channel();
        let (update_tx, updates) = mpsc::channel();
        std::thread::spawn(move || {
            fetcher(
                Box::new(source),
                None,
                None,
                None,
                Duration::from_millis(20),
                request_rx,
                update_tx,
            )
        });
        Fetching {
            requests,
            updates,
            refreshes,
        }
    }

    fn params(paused: bool, generation: u64) -> Box<Params> {
        Box::new(Params {
            window: Window::All,
            filter: default_filter(),
            service: None,
            session: None,
            logs: Some(crate::app::default_log_filter()),
            paused,
            generation,
        })
    }

    #[test]
    fn live_data_refreshes_on_its_own_until_paused() {
        let f = start(true);
        f.requests.send(Request::Refresh(params(false, 1))).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        // Every 20 ms for 300 ms: far more than one, whatever the machine's load.
        assert!(f.refreshes.load(Ordering::SeqCst) >= 3);
        f.requests.send(Request::Refresh(params(true, 1))).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let paused = f.refreshes.load(Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(
            f.refreshes.load(Ordering::SeqCst),
            paused,
            "paused: nothing fetched"
        );
        // New parameters while paused are fetched once.
        f.requests.send(Request::Refresh(params(true, 2))).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(f.refreshes.load(Ordering::SeqCst), paused + 1);
        let generations: Vec<u64> = f
            .updates
            .try_iter()
            .filter_map(|u| match u {
                Update::Refreshed(r) => Some(r.generation),
                _ => None,
            })
            .collect();
        assert_eq!(generations.last(), Some(&2));
    }

    #[test]
    fn a_recording_is_fetched_once_per_parameters() {
        let f = start(false);
        f.requests.send(Request::Refresh(params(false, 1))).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(f.refreshes.load(Ordering::SeqCst), 1);
        f.requests.send(Request::Refresh(params(false, 2))).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(f.refreshes.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_panic_while_fetching_is_a_message_and_fetching_goes_on() {
        let f = start(false);
        f.requests
            .send(Request::OpenTrace {
                trace_id: "0123456789abcdef0123456789abcdef".into(),
                focus: Focus::None,
            })
            .unwrap();
        match f.updates.recv_timeout(Duration::from_secs(10)).unwrap() {
            Update::Failed(message) => assert!(message.contains("a bug"), "{message}"),
            other => panic!("{other:?}"),
        }
        f.requests.send(Request::Refresh(params(false, 1))).unwrap();
        assert!(matches!(
            f.updates.recv_timeout(Duration::from_secs(10)).unwrap(),
            Update::Refreshed(_)
        ));
    }
}
