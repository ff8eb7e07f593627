//! Binding and serving a service's router, with logging set up the same way in every binary.

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context as _;
use axum::Router;
use tokio::net::TcpListener;

/// Binds `addr`, saying which service failed to bind where.
pub async fn bind(service: &str, addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {service} on {addr}"))
}

/// Serves `router` on `listener` until `shutdown` completes, then finishes the requests in flight. Like
/// every listener of the lab, under [`listener::Limits`] (timeouts and a connection cap); each request
/// carries its connection's peer address (`ConnectInfo<SocketAddr>`), which the admin API checks.
pub async fn serve(
    service: &'static str,
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    listener::serve(
        listener,
        service,
        router,
        listener::Limits::default(),
        shutdown,
    )
    .await
}

/// Runs one service alone until Ctrl-C: binds `addr`, says where it listens, serves `router`, then exports
/// the spans `telemetry` still holds.
pub async fn run_alone(
    service: &'static str,
    version: &str,
    addr: SocketAddr,
    router: Router,
    telemetry: crate::Telemetry,
) -> anyhow::Result<()> {
    listener::open_files::raise_and_log();
    let listener = bind(service, addr).await?;
    eprintln!(
        "{service} {version} listening on http://{}",
        listener.local_addr()?
    );
    serve(service, listener, router, ctrl_c()).await?;
    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .context("flushing the spans")?;
    Ok(())
}

/// Resolves on Ctrl-C (or SIGTERM on Unix).
pub async fn ctrl_c() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

/// Where the log goes instead of stderr, once [`log_to_file`] is called.
static LOG_FILE: std::sync::RwLock<Option<std::sync::Arc<std::fs::File>>> =
    std::sync::RwLock::new(None);

/// Sends the log to `path` (appended) instead of stderr from now on: a full-screen terminal interface owns
/// stderr's terminal, and a log line would tear its picture.
pub fn log_to_file(path: &std::path::Path) -> std::io::Result<()> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    if let Ok(mut sink) = LOG_FILE.write() {
        *sink = Some(std::sync::Arc::new(file));
    }
    Ok(())
}

/// Sends the log back to stderr (after [`log_to_file`], once the terminal is free again).
pub fn log_to_stderr() {
    if let Ok(mut sink) = LOG_FILE.write() {
        *sink = None;
    }
}

enum LogSink {
    Stderr(std::io::Stderr),
    File(std::sync::Arc<std::fs::File>),
}

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            LogSink::Stderr(stderr) => stderr.write(buf),
            LogSink::File(file) => (&**file).write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            LogSink::Stderr(stderr) => stderr.flush(),
            LogSink::File(file) => (&**file).flush(),
        }
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (default: info for the shop, warn for the rest).
pub fn init_logging() {
    use tracing_subscriber::prelude::*;
    let _ = tracing_subscriber::registry().with(log_layer()).try_init();
}

/// The log: events (not spans) to stderr, filtered by `RUST_LOG`. Every subscriber of the shop has it, the
/// services' traced ones included. Coloured only on a terminal without `NO_COLOR`; the log file never is.
pub fn log_layer<S>() -> impl tracing_subscriber::Layer<S> + Send + Sync
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    use std::io::IsTerminal as _;
    use tracing_subscriber::{EnvFilter, Layer as _, filter};
    let levels = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new("warn,chromiumoxide=error,lab=info,shop_runtime=info,storefront=info,ads_service=info,discounts_service=info,listener=info")
    });
    let to_file = || LOG_FILE.read().ok().is_some_and(|file| file.is_some());
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
    let terminal = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_filter(filter::dynamic_filter_fn(move |_, _| !to_file()));
    let file = tracing_subscriber::fmt::layer()
        .with_writer(
            || match LOG_FILE.read().ok().and_then(|file| file.clone()) {
                Some(file) => LogSink::File(file),
                None => LogSink::Stderr(std::io::stderr()),
            },
        )
        .with_ansi(false)
        .with_filter(filter::dynamic_filter_fn(move |_, _| to_file()));
    terminal
        .and_then(file)
        .with_filter(levels)
        .with_filter(filter::filter_fn(|meta| meta.is_event()))
}
