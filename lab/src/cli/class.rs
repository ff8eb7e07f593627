//! `lab class`: the class of an instructor's lab (`lab workshop --instructor`), printed once, for people or for
//! grading scripts.

use anyhow::Context as _;
use clap::Args;

use super::report::ReportFormat;

#[derive(Args, Debug)]
pub(crate) struct ClassArgs {
    /// The query API of the instructor's lab.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8787")]
    connect: String,

    /// `text` for people, `json` for scripts (the students' progress as `GET /api/class` answers it).
    #[arg(long, default_value = "text")]
    report: ReportFormat,
}

pub(crate) async fn class(args: ClassArgs) -> anyhow::Result<()> {
    let url = format!("{}/api/class", args.connect.trim_end_matches('/'));
    let response = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()?
        .get(&url)
        .send()
        .await
        .with_context(|| format!("asking {url} (is `lab workshop --instructor` running there?)"))?;
    anyhow::ensure!(
        response.status().is_success(),
        "{url} answered {}: is it an instructor's lab (`lab workshop --instructor`)?",
        response.status()
    );
    let class: protocol::ClassResponse = response
        .json()
        .await
        .with_context(|| format!("reading the class from {url}"))?;
    print_class(&class, args.report)
}

/// Prints the class as text or JSON (`lab class`, and `lab workshop --instructor` when it stops).
pub(crate) fn print_class(
    class: &protocol::ClassResponse,
    format: ReportFormat,
) -> anyhow::Result<()> {
    match format {
        ReportFormat::Text => print!("{}", lab::guide::class::table(class)),
        ReportFormat::Json => println!("{}", serde_json::to_string_pretty(class)?),
    }
    Ok(())
}
