//! The dashboard on a terminal: over the running lab (`lab up`), a collector elsewhere or a recording
//! (`lab tui`); the data source is handed to `tui::run::run` on a blocking thread.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use lab::up::RunningLab;
use shop_runtime::serve;

use super::up::UpArgs;

#[derive(Args, Debug)]
pub(crate) struct TuiArgs {
    /// A recording to browse offline (`lab up --record FILE`, `lab collect --record FILE`).
    #[arg(conflicts_with = "connect")]
    file: Option<PathBuf>,

    /// The query API of a running collector (`lab up`, `lab collect`), here or on another machine.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8787")]
    connect: String,

    /// Where the source files of error locations are read from [default: the current directory]; a file
    /// not found there is asked of the collector (`lab up` serves the shop's own, `lab collect --workspace
    /// DIR` a tree of yours).
    #[arg(long, value_name = "DIR")]
    workspace: Option<PathBuf>,
}

/// A flag a SIGINT or SIGTERM sets, and the task that waits for them. In raw mode Ctrl-C is a key the
/// dashboard reads itself; a signal from elsewhere (kill, a closing terminal multiplexer) quits it the same way.
fn quit_on_signal() -> (
    std::sync::Arc<std::sync::atomic::AtomicBool>,
    tokio::task::JoinHandle<()>,
) {
    let quit = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let signal = tokio::spawn({
        let quit = quit.clone();
        async move {
            serve::ctrl_c().await;
            quit.store(true, std::sync::atomic::Ordering::Release);
        }
    });
    (quit, signal)
}

/// The source tree this `lab` was built from, while it is still there: the shop's spans name their files
/// relative to it, so `lab up` shows their source lines wherever it is started from.
pub(crate) fn shop_workspace() -> Option<&'static Path> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent()?;
    root.join("services/storefront/src")
        .is_dir()
        .then_some(root)
}

/// Runs the dashboard over a running lab until `q`, Ctrl-C or SIGTERM; the log goes to a file meanwhile.
pub(crate) async fn dashboard_in_lab(
    args: &UpArgs,
    lab: &RunningLab,
    label: &str,
    guide: Option<lab::guide::Guide>,
    class: Option<lab::guide::class::Class>,
) -> anyhow::Result<()> {
    let log = args.data_dir.join("lab.log");
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    serve::log_to_file(&log).with_context(|| format!("opening the log file {}", log.display()))?;
    println!(
        "The log goes to {} while the dashboard runs.",
        log.display()
    );
    let source = lab::dashboard::InProcess::live(
        lab.collector.store.clone(),
        lab.collector.analysis.clone(),
        label.to_owned(),
    )
    .with_exports(lab.collector.exports.clone());
    let (quit, signal) = quit_on_signal();
    let mut options = tui::run::Options {
        faults: Some(Box::new(lab::dashboard::ShopFaults::of(&lab.shop))),
        guide: (guide.is_some() || class.is_some()).then(|| {
            let query = collector::query::Query::new(
                lab.collector.store.clone(),
                lab.collector.analysis.clone(),
            );
            Box::new(lab::dashboard::LabGuide::new(guide, class, query))
                as Box<dyn tui::run::GuideSource>
        }),
        quit: Some(quit),
        ..Default::default()
    };
    if let Some(workspace) = shop_workspace() {
        options.workspace = Some(workspace.to_owned());
    }
    let result = tokio::task::spawn_blocking(move || tui::run::run(Box::new(source), options))
        .await
        .context("the dashboard panicked")
        .and_then(|result| result);
    signal.abort();
    result
}

pub(crate) async fn dashboard(args: TuiArgs) -> anyhow::Result<()> {
    use std::io::IsTerminal as _;
    anyhow::ensure!(
        std::io::stdout().is_terminal() && std::io::stdin().is_terminal(),
        "the dashboard needs a terminal (for a report without one: `lab report FILE`)"
    );
    let source: Box<dyn tui::source::DataSource> = match &args.file {
        Some(file) => {
            let (source, problems) = lab::dashboard::InProcess::recording(file).await?;
            for (line, problem) in &problems {
                eprintln!("{}: line {line} skipped: {problem}", file.display());
            }
            Box::new(source)
        }
        None => {
            let connect = args.connect.clone();
            Box::new(
                tokio::task::spawn_blocking(move || tui::source::Remote::connect(&connect))
                    .await
                    .context("connecting panicked")??,
            )
        }
    };
    // Connected to a workshop (or an instructor's lab), the guide pane shows its guide (or its class).
    let guide = match &args.file {
        Some(_) => None,
        None => {
            let connect = args.connect.clone();
            tokio::task::spawn_blocking(move || tui::remote_guide::RemoteGuide::probe(&connect))
                .await
                .context("asking for the workshop panicked")??
        }
    };
    let (quit, signal) = quit_on_signal();
    let mut options = tui::run::Options {
        guide: guide.map(|g| Box::new(g) as Box<dyn tui::run::GuideSource>),
        quit: Some(quit),
        ..Default::default()
    };
    if let Some(workspace) = args.workspace {
        options.workspace = Some(workspace);
    }
    let result = tokio::task::spawn_blocking(move || tui::run::run(source, options))
        .await
        .context("the dashboard panicked")
        .and_then(|result| result);
    signal.abort();
    result
}
