//! `lab report FILE`, and printing a report as text or JSON (`lab up` prints one too).

use std::path::PathBuf;

use clap::Args;

#[derive(Args, Debug)]
pub(crate) struct ReportArgs {
    /// The OTLP JSON-lines recording.
    file: PathBuf,

    /// `text` for people, `json` for scripts.
    #[arg(long, default_value = "text")]
    report: ReportFormat,

    /// Exit with an error (status 1, after the report) when any line of the recording could not be read.
    #[arg(long)]
    strict: bool,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub(crate) enum ReportFormat {
    Text,
    Json,
}

pub(crate) fn print_report(
    report: &collector::report::Report,
    format: ReportFormat,
) -> anyhow::Result<()> {
    match format {
        ReportFormat::Text => print!("{report}"),
        ReportFormat::Json => println!("{}", serde_json::to_string_pretty(report)?),
    }
    Ok(())
}

pub(crate) async fn report(args: ReportArgs) -> anyhow::Result<()> {
    let (report, loaded) =
        collector::report::Report::from_recording(&args.file, Default::default()).await?;
    for (line, problem) in &loaded.problems {
        eprintln!("{}: line {line} skipped: {problem}", args.file.display());
    }
    if loaded.damaged > loaded.problems.len() as u64 {
        eprintln!(
            "{}: {} more damaged lines not listed",
            args.file.display(),
            loaded.damaged - loaded.problems.len() as u64
        );
    }
    print_report(&report, args.report)?;
    if args.strict && report.accounting.damaged_lines > 0 {
        anyhow::bail!(
            "{}: {} damaged lines (--strict)",
            args.file.display(),
            report.accounting.damaged_lines
        );
    }
    Ok(())
}
