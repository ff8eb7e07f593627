//! `lab up`: the collector, the shop and its traffic, with the dashboard or headless, ending in the report.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::class::print_class;
use super::workshop::Workshop;
use clap::Args;
use lab::replay::Speed;
use lab::shop::ShopOptions;
use lab::up::{LabOptions, ReplaySettings, RunningLab};
use shop_runtime::{ShopState, serve};

use super::collect::ListenArgs;
use super::dashboard::dashboard_in_lab;
use super::export::{ExportArgs, describe};
use super::report::{ReportFormat, print_report};
use super::traffic::{load, read};

#[derive(Args, Debug)]
pub(crate) struct UpArgs {
    /// Which faults start switched on: broken (the workshop's start), broken-no-instrumentation, or fixed.
    #[arg(long, env = "LAB_STATE", default_value = "broken")]
    pub(crate) state: ShopState,

    /// PostgreSQL database for the three services (each keeps its tables in a schema of its own) instead of
    /// SQLite files in --data-dir.
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,

    /// Directory for the SQLite files, created and seeded on first start.
    #[arg(long, env = "LAB_DATA_DIR", default_value = "lab-data")]
    pub(crate) data_dir: PathBuf,

    /// Address the services listen on (127.0.0.1 keeps the shop on this machine).
    #[arg(long, default_value = "127.0.0.1")]
    host: std::net::IpAddr,

    /// GoReplay file to replay [default: the project's own recording, built into the binary].
    #[arg(long, value_name = "FILE")]
    replay: Option<PathBuf>,

    /// Replay speed: 1 is the recorded pace, 10 (or 10x) ten times faster, max no waiting.
    #[arg(long, default_value = "1")]
    speed: Speed,

    /// Most replayed requests in flight at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,

    /// Leave the traffic out: only the shop runs.
    #[arg(long)]
    no_replay: bool,

    /// Also walk a real headless Chromium through the shop, so the storefront's browser SDK reports what a
    /// shopper sees (the dashboard's Browser tab); see `lab browse`.
    #[arg(long)]
    pub(crate) browser: bool,

    #[command(flatten)]
    pub(crate) chromium: super::browse::ChromiumArg,

    #[command(flatten)]
    listen: ListenArgs,

    #[command(flatten)]
    export: ExportArgs,

    #[command(flatten)]
    rum_app: storefront::rum::RumAppArgs,

    /// The storefront's port (the ads and discounts services take theirs from --ads-port and
    /// --discounts-port; 0 lets the system pick).
    #[arg(long, default_value_t = storefront::PORT)]
    storefront_port: u16,

    /// The advertisements service's port.
    #[arg(long, default_value_t = ads_service::PORT)]
    ads_port: u16,

    /// The discounts service's port.
    #[arg(long, default_value_t = discounts_service::PORT)]
    discounts_port: u16,

    /// Most spans the collector keeps; past it the oldest whole traces are evicted.
    #[arg(long, env = "LAB_MAX_SPANS", default_value_t = collector::store::DEFAULT_CAPACITY)]
    max_spans: usize,

    /// Most MiB the stored spans may hold (about); past it, as past --max-spans, the oldest whole traces are
    /// evicted. Binds when spans are large: a million shop spans hold about 150 MiB.
    #[arg(long, value_name = "MIB", env = "LAB_MAX_STORE_MB", default_value_t = collector::store::DEFAULT_MAX_BYTES >> 20, value_parser = clap::value_parser!(u64).range(1..))]
    max_store_mb: u64,

    /// Append every span the collector accepts to this OTLP JSON-lines file, for `lab report FILE` later.
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,

    /// Rotate the recording when it reaches this many MiB: it becomes FILE.1 (replacing an older one) and a
    /// new FILE starts, so it takes at most twice this on disk and keeps the newest spans.
    #[arg(long, value_name = "MIB", default_value_t = collector::record::DEFAULT_MAX_BYTES >> 20, value_parser = clap::value_parser!(u64).range(1..))]
    record_max_mb: u64,

    /// No dashboard: run for --duration (or until Ctrl-C), then print the report. Without it the dashboard
    /// takes the terminal (the log goes to lab.log in --data-dir) and the report prints when you quit.
    #[arg(long)]
    headless: bool,

    /// How long a headless run lasts: `60s`, `5m`, `1h 30m`.
    #[arg(long, value_parser = humantime::parse_duration, requires = "headless")]
    duration: Option<Duration>,

    /// The report's format: `text` for people, `json` for scripts (the JSON alone goes to stdout).
    #[arg(long, default_value = "text")]
    pub(crate) report: ReportFormat,
}

/// The project's own recording of a visitor browsing the shop, made with `lab record`.
const RECORDING: &[u8] = include_bytes!("../../../recordings/storedog.gor");

pub(crate) async fn up(args: UpArgs) -> anyhow::Result<()> {
    run(args, Workshop::default()).await
}

/// `lab up`, or with a workshop `lab workshop`: the guide's (and the class's) routes join the query API, its pane
/// the dashboard, and a student's lab reports to the class.
pub(crate) async fn run(args: UpArgs, workshop: Workshop) -> anyhow::Result<()> {
    let Workshop {
        guide,
        class,
        report_to,
    } = workshop;
    // What the dashboard's status line and the report say the data comes from.
    let label = match (&guide, &class) {
        (Some(guide), _) => format!("lab workshop, variant {}", guide.variant()),
        (None, Some(_)) => "lab workshop --instructor".to_owned(),
        (None, None) => format!("lab up --state {}", args.state),
    };
    use std::io::IsTerminal as _;
    let terminal = std::io::stdout().is_terminal() && std::io::stdin().is_terminal();
    if !args.headless && !terminal {
        anyhow::bail!(
            "the dashboard needs a terminal: run `lab up` in one, or add --headless (with --duration) for scripts"
        );
    }
    // Without a browser to drive, say so before anything starts.
    let chromium = match args.browser {
        true => Some(lab::browse::find_chromium(
            args.chromium.chromium.as_deref(),
        )?),
        false => None,
    };
    let requests = match (&args.replay, args.no_replay) {
        (_, true) => Vec::new(),
        (Some(path), false) => read(path)?,
        (None, false) => load("the built-in recording", RECORDING)?,
    };
    let mut shop = ShopOptions::new(args.state, args.data_dir.clone());
    shop.database_url = args.database_url.clone();
    shop.host = args.host;
    shop.storefront_port = args.storefront_port;
    shop.ads_port = args.ads_port;
    shop.discounts_port = args.discounts_port;
    shop.variant = guide
        .as_ref()
        .map_or(shop.variant, lab::guide::Guide::variant);
    shop.rum_app = args.rum_app.app(&args.export.dd_site);
    if args.export.export_rum.is_some() && !shop.rum_app.is_real() {
        anyhow::bail!(
            "--export-rum sends the pages' batches to Datadog, which refuses the lab's placeholder RUM \
             application: give the one to report as with --rum-application-id and --rum-client-token \
             (DD_RUM_APPLICATION_ID, DD_RUM_CLIENT_TOKEN; Datadog's RUM setup page shows both)"
        );
    }
    let replay_count = requests.len();
    let options = LabOptions {
        collector: collector::server::CollectorOptions {
            otlp_http: Some(args.listen.otlp_http),
            otlp_grpc: Some(args.listen.otlp_grpc),
            datadog: Some(args.listen.datadog),
            api: Some(args.listen.api),
            cors_origins: args.listen.cors_origins(),
            capacity: args.max_spans,
            max_bytes: args.max_store_mb << 20,
            record: args.record.clone(),
            record_max_bytes: args.record_max_mb << 20,
            export: args.export.options()?,
            datadog_steps_aside: args.listen.datadog_steps_aside(),
            // Dashboards elsewhere (`lab tui --connect`) are served the shop's source lines.
            source_root: super::dashboard::shop_workspace().map(Path::to_owned),
            api_extension: (guide.is_some() || class.is_some())
                .then(|| lab::guide::api::extension(guide.clone(), class.clone())),
            ..Default::default()
        },
        shop,
        replay: (!requests.is_empty()).then(|| {
            (
                requests,
                ReplaySettings {
                    speed: args.speed,
                    concurrency: args.concurrency,
                    loop_forever: true,
                    timeout: Duration::from_secs(30),
                },
            )
        }),
        export: None,
    };
    let lab = RunningLab::start(options).await?;
    // Headless JSON output is for scripts: everything but the report goes to stderr.
    let say = |line: String| {
        if matches!(args.report, ReportFormat::Json) {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    };
    say("The collector is up:".to_owned());
    for (what, addr) in [
        ("OTLP/HTTP receiver", lab.collector.otlp_http),
        ("OTLP/gRPC receiver", lab.collector.otlp_grpc),
        ("Datadog agent API", lab.collector.datadog),
    ] {
        if let Some(addr) = addr {
            say(format!("  {what:<24} {addr}"));
        }
    }
    if let Some(addr) = lab.collector.api {
        say(format!("  {:<24} http://{addr}/api/services", "query API"));
        if guide.is_some() {
            say(format!(
                "  {:<24} http://{addr}/api/workshop",
                "the workshop's guide"
            ));
        }
        if class.is_some() {
            say(format!("  {:<24} http://{addr}/api/class", "the class"));
            say(format!(
                "Students join with: lab workshop --student NAME --class http://{addr} (from another machine, \
                 serve the API on an address it reaches: --api 0.0.0.0:{})",
                addr.port()
            ));
        }
    }
    let reporter = report_to.zip(guide.clone()).map(|(url, guide)| {
        say(format!("Reporting your progress to the class at {url}."));
        let query = collector::query::Query::new(
            lab.collector.store.clone(),
            lab.collector.analysis.clone(),
        );
        let cancel = tokio_util::sync::CancellationToken::new();
        let task = tokio::spawn(lab::guide::class::report_to(
            url,
            move || guide.workshop(&query),
            cancel.clone(),
        ));
        (cancel, task)
    });
    if let Some(path) = &args.record {
        say(format!("  recording spans to {}", path.display()));
    }
    for line in describe(&lab.collector) {
        say(line);
    }
    let traced = if args.state.instrumented() {
        "tracing to the collector"
    } else {
        "no tracing"
    };
    say(format!("The shop is up ({} state, {traced}):", args.state));
    say(lab.shop.describe().trim_end().to_owned());
    say(format!("  browse it at http://{}/", lab.shop.storefront));
    if replay_count == 0 {
        say("No traffic replay (--no-replay).".to_owned());
    } else {
        say(format!(
            "Replaying {} ({replay_count} requests) in a loop at {} speed.",
            args.replay
                .as_ref()
                .map_or("the built-in recording".to_owned(), |p| p
                    .display()
                    .to_string()),
            args.speed
        ));
    }
    say(lab.shop.rum_notice());
    let browser = chromium.map(|chromium| {
        let options = lab::browse::BrowseOptions {
            target: format!("http://{}", lab.shop.storefront),
            chromium: Some(chromium),
            walks: None,
            // At the replay's pace: a second a page at the recorded speed.
            pause: Duration::from_secs(1).div_f64(match args.speed {
                Speed::Factor(factor) => factor.max(0.1),
                Speed::Max => 10.0,
            }),
        };
        say(format!(
            "Walking {} in headless Chromium (--browser).",
            options.target
        ));
        let cancel = tokio_util::sync::CancellationToken::new();
        let stop = cancel.clone();
        let task = tokio::spawn(async move {
            let walked = lab::browse::browse(&options, &cancel).await;
            if let Err(err) = &walked {
                tracing::warn!("the browser stopped: {err:#}");
            }
            walked
        });
        (stop, task)
    });
    say(
        "`lab fix <fault>` in another terminal deploys a fix; `lab fix --list` lists the faults."
            .to_owned(),
    );
    match (args.headless, args.duration) {
        (false, _) => {
            // Whatever happens to the dashboard, the lab stops and the report is printed.
            let dashboard = dashboard_in_lab(&args, &lab, &label, guide, class.clone()).await;
            stop_reporter(reporter).await;
            stop_browser(browser).await;
            let finished = stop_lab(lab, &label).await;
            serve::log_to_stderr();
            let printed = finished.and_then(|finished| print_end(&finished, class.as_ref(), &args));
            return dashboard.and(printed);
        }
        (true, Some(duration)) => {
            say(format!(
                "Running for {}; Ctrl-C stops sooner.",
                humantime::format_duration(duration)
            ));
            tokio::select! {
                () = tokio::time::sleep(duration) => {}
                () = serve::ctrl_c() => {}
            }
        }
        _ => {
            say("Ctrl-C stops the lab and prints the report.".to_owned());
            serve::ctrl_c().await;
        }
    }
    stop_reporter(reporter).await;
    stop_browser(browser).await;
    let finished = stop_lab(lab, &label).await?;
    print_end(&finished, class.as_ref(), &args)
}

/// The report of a stopped lab; in the instructor's lab the class instead (as JSON) or after it (as text).
fn print_end(
    finished: &lab::up::Finished,
    class: Option<&lab::guide::class::Class>,
    args: &UpArgs,
) -> anyhow::Result<()> {
    match (class, args.report) {
        (Some(class), ReportFormat::Json) => print_class(&class.students(), ReportFormat::Json),
        (Some(class), ReportFormat::Text) => {
            print_report(&finished.report, args.report)?;
            println!("\nThe class:");
            print_class(&class.students(), ReportFormat::Text)
        }
        (None, _) => print_report(&finished.report, args.report),
    }
}

type Reporter = (
    tokio_util::sync::CancellationToken,
    tokio::task::JoinHandle<()>,
);

/// Stops reporting to the class.
async fn stop_reporter(reporter: Option<Reporter>) {
    if let Some((cancel, task)) = reporter {
        cancel.cancel();
        let _ = task.await;
    }
}

type BrowserTask = (
    tokio_util::sync::CancellationToken,
    tokio::task::JoinHandle<anyhow::Result<lab::browse::BrowseReport>>,
);

/// Stops the browser's walks, saying what they came to.
async fn stop_browser(browser: Option<BrowserTask>) {
    let Some((cancel, task)) = browser else {
        return;
    };
    cancel.cancel();
    if let Ok(Ok(report)) = task.await {
        eprintln!(
            "The browser walked the shop {} times ({} pages); \"Add to cart\" confirmed {} of {} times.",
            report.walks,
            report.pages,
            report.confirmed_adds,
            report.confirmed_adds + report.unconfirmed_adds
        );
    }
}

/// Stops a lab, saying so, and what the replay did.
async fn stop_lab(lab: RunningLab, label: &str) -> anyhow::Result<lab::up::Finished> {
    eprintln!("Stopping…");
    let finished = lab.stop(label).await?;
    if let Some(replay) = &finished.replay {
        eprintln!("Traffic replayed:\n{}", replay.summary());
    }
    Ok(finished)
}
