//! The event loop: one thread owns the state and the terminal (input, updates, drawing), another fetches
//! from the data source, so a slow or unreachable collector never freezes the screen. Effects the state asks
//! for ([`Action`]) are carried out here: the fetching thread fetches, flips faults and answers with
//! [`Update`]s.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use ratatui::crossterm::event::{self, DisableMouseCapture, EnableMouseCapture, Event};
use ratatui::crossterm::execute;

use crate::app::{Action, App, Fault, Params, Refresh, Update};
use crate::source::DataSource;
use crate::theme::Theme;
use crate::trace::{Focus, TraceScreen};

/// Lists and flips the shop's faults; `lab up` gives one, so the fault panel can deploy fixes.
pub trait FaultControl: Send {
    fn list(&self) -> anyhow::Result<Vec<Fault>>;
    /// Sets a fault; answers what changed, for the status line.
    fn set(&self, name: &str, broken: bool) -> anyhow::Result<String>;
}

/// How the dashboard runs.
pub struct Options {
    pub theme: Theme,
    /// Where source files of error locations are looked up (the workspace root).
    pub workspace: Option<PathBuf>,
    /// How often live data refreshes.
    pub refresh: Duration,
    pub faults: Option<Box<dyn FaultControl>>,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("theme", &self.theme)
            .field("workspace", &self.workspace)
            .field("refresh", &self.refresh)
            .field("faults", &self.faults.is_some())
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
        }
    }
}

/// What the drawing thread asks of the fetching one.
#[derive(Debug)]
enum Request {
    Refresh(Params),
    OpenTrace { trace_id: String, focus: Focus },
    SetFault { name: String, broken: bool },
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
    let traces = source.traces(&params.filter)?;
    let endpoints = match &params.service {
        Some(service) => Some((service.clone(), source.endpoints(service, params.window)?)),
        None => None,
    };
    let faults = match faults {
        Some(control) => Some(control.list().context("listing the shop's faults")?),
        None => None,
    };
    Ok(Refresh {
        overview,
        latency,
        traces,
        endpoints,
        faults,
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
        Ok(Some(view)) => Update::Trace(Box::new(TraceScreen::new(view, focus, workspace))),
        Ok(None) => Update::TraceMissing(trace_id.to_owned()),
        Err(error) => Update::Failed(chain(&error)),
    }
}

fn fetcher(
    source: Box<dyn DataSource>,
    faults: Option<Box<dyn FaultControl>>,
    workspace: Option<PathBuf>,
    every: Duration,
    requests: Receiver<Request>,
    updates: Sender<Update>,
) {
    let live = source.is_live();
    let mut params: Option<Params> = None;
    let mut next = Instant::now();
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
            Some(Request::OpenTrace { trace_id, focus }) => {
                open_trace(source.as_ref(), &trace_id, focus, workspace.as_deref())
            }
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
            Some(Request::Refresh(new)) => {
                params = Some(new);
                (pending, next) = (true, Instant::now());
                continue;
            }
            None => {
                let Some(params) = &params else { continue };
                (pending, next) = (false, Instant::now() + every);
                match refresh(source.as_ref(), faults.as_deref(), params) {
                    Ok(data) => Update::Refreshed(Box::new(data)),
                    Err(error) => Update::Failed(chain(&error)),
                }
            }
        };
        if updates.send(update).is_err() {
            return;
        }
    }
}

/// Restores the terminal when dropped, also when the loop returns early with an error.
struct Terminal {
    inner: ratatui::DefaultTerminal,
}

impl Terminal {
    fn start() -> anyhow::Result<Terminal> {
        let inner = ratatui::try_init().context("setting up the terminal")?;
        // ratatui's panic hook restores the screen; give the mouse back too before it does.
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let _ = execute!(std::io::stdout(), DisableMouseCapture);
            hook(info);
        }));
        execute!(std::io::stdout(), EnableMouseCapture).context("enabling the mouse")?;
        Ok(Terminal { inner })
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = execute!(std::io::stdout(), DisableMouseCapture);
        ratatui::restore();
        let _ = std::io::stdout().flush();
    }
}

/// Runs the dashboard in this terminal until `q`. Blocks: call it from a thread of its own (in an async
/// program, `spawn_blocking`).
pub fn run(source: Box<dyn DataSource>, options: Options) -> anyhow::Result<()> {
    let mut app = App::new(source.describe(), source.is_live(), options.theme);
    if options.faults.is_some() {
        app.faults = Some(Vec::new());
    }
    let (request_tx, request_rx) = mpsc::channel();
    let (update_tx, update_rx) = mpsc::channel();
    let workspace = options.workspace.clone();
    let refresh_every = options.refresh;
    let faults = options.faults;
    let fetching = std::thread::Builder::new()
        .name("dashboard-fetch".to_owned())
        .spawn(move || {
            fetcher(
                source,
                faults,
                workspace,
                refresh_every,
                request_rx,
                update_tx,
            )
        })
        .context("starting the dashboard's fetching thread")?;
    let mut terminal = Terminal::start()?;
    let _ = request_tx.send(Request::Refresh(app.params()));
    let mut dirty = true;
    loop {
        if dirty {
            terminal
                .inner
                .draw(|frame| frame.render_widget(&app, frame.area()))
                .context("drawing")?;
            dirty = false;
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
                    action = app.handle_mouse(mouse, size.into());
                    dirty = true;
                }
                Event::Resize(..) => dirty = true,
                _ => {}
            }
        }
        while let Ok(update) = update_rx.try_recv() {
            app.apply(update);
            dirty = true;
        }
        let request = match action {
            None => None,
            Some(Action::Quit) => break,
            Some(Action::Refresh(params)) => Some(Request::Refresh(params)),
            Some(Action::OpenTrace { trace_id, focus }) => {
                Some(Request::OpenTrace { trace_id, focus })
            }
            Some(Action::SetFault { name, broken }) => Some(Request::SetFault { name, broken }),
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
