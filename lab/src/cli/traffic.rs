//! `lab replay` and `lab record`, and reading GoReplay files (`lab up` replays one too).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use lab::replay::{ReplayOptions, Speed};
use shop_runtime::serve;
use tokio_util::sync::CancellationToken;

#[derive(Args, Debug)]
pub(crate) struct ReplayArgs {
    /// The GoReplay file (records separated by 🐵🙈🙉 lines, as `gor --output-file` writes them).
    file: PathBuf,

    /// Where to send the requests; the Host header is rewritten to it.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    target: String,

    /// Start again after the last request, until Ctrl-C (like gor's --input-file-loop).
    #[arg(long = "loop")]
    loop_forever: bool,

    /// 1 is the recorded pace, 10 (or 10x) ten times faster, 0.5 half as fast, max no waiting.
    #[arg(long, default_value = "1")]
    speed: Speed,

    /// Most requests in flight at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,

    /// Give up on a request after this many seconds.
    #[arg(long, default_value_t = 30)]
    timeout: u64,

    /// No progress line, only the summary.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Args, Debug)]
pub(crate) struct RecordArgs {
    /// The GoReplay file to append to (created when missing).
    #[arg(long, short)]
    output: PathBuf,

    /// Where the proxy listens: point the browser or the load here.
    #[arg(long, default_value = "127.0.0.1:3080")]
    listen: SocketAddr,

    /// Where requests are forwarded.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    target: String,
}

/// Reads and parses a GoReplay file, reporting the records it skips.
pub(crate) fn load(name: &str, bytes: &[u8]) -> anyhow::Result<Vec<lab::gor::Request>> {
    let parsed = lab::gor::parse(bytes);
    for problem in &parsed.problems {
        eprintln!(
            "{name}: skipped the record at byte {}: {}",
            problem.offset, problem.message
        );
    }
    anyhow::ensure!(!parsed.requests.is_empty(), "{name} holds no requests");
    Ok(parsed.requests)
}

pub(crate) fn read(path: &PathBuf) -> anyhow::Result<Vec<lab::gor::Request>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    load(&path.display().to_string(), &bytes)
}

pub(crate) async fn replay(args: ReplayArgs) -> anyhow::Result<()> {
    let requests = read(&args.file)?;
    let target = args
        .target
        .parse()
        .with_context(|| format!("--target {:?} is not a URL", args.target))?;
    let mut opts = ReplayOptions::new(target);
    opts.speed = args.speed;
    opts.concurrency = args.concurrency;
    opts.loop_forever = args.loop_forever;
    opts.timeout = Duration::from_secs(args.timeout);
    opts.progress = !args.quiet;
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    tokio::spawn(async move {
        serve::ctrl_c().await;
        stop.cancel();
    });
    let report = lab::replay::replay(&requests, &opts, &cancel).await?;
    println!("{}", report.summary());
    Ok(())
}

pub(crate) async fn record(args: RecordArgs) -> anyhow::Result<()> {
    let listener = serve::bind("the recording proxy", args.listen).await?;
    eprintln!(
        "Recording requests to {} into {}: send traffic to http://{}/ (Ctrl-C stops).",
        args.target,
        args.output.display(),
        listener.local_addr()?
    );
    let stats =
        lab::record::run_proxy(listener, args.target, args.output.clone(), serve::ctrl_c()).await?;
    eprintln!(
        "Recorded {} requests into {}.",
        stats.requests,
        args.output.display()
    );
    Ok(())
}
