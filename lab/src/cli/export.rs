//! The way out: `--export-datadog`, `--export-otlp` and `--export-rum` (for `lab up` and `lab collect`), and
//! `lab export on|off` against a running lab.

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use collector::export::ExportOptions;
use collector::export::datadog::DatadogTarget;
use collector::export::otlp::{self, OtlpTarget};
use collector::export::rum::RumTarget;

/// Where the collector forwards what it accepts.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct ExportArgs {
    /// Forward every accepted span to a Datadog Agent (and through it to Datadog APM) over its trace API
    /// (v0.4). Without a URL: DD_TRACE_AGENT_URL, else DD_AGENT_HOST and DD_TRACE_AGENT_PORT, else
    /// http://127.0.0.1:8126. An Agent on this machine owns port 8126, where the lab's own Datadog receiver
    /// listens by default: the lab's receiver then steps aside (--datadog moves it).
    #[arg(long, value_name = "URL", num_args = 0..=1, default_missing_value = "")]
    pub(crate) export_datadog: Option<String>,

    /// Forward every accepted span over OTLP/HTTP (protobuf, gzip) to this base URL, as
    /// OTEL_EXPORTER_OTLP_ENDPOINT takes it (`/v1/traces` is appended): an OpenTelemetry Collector in front of
    /// Jaeger, Tempo or a vendor, or another `lab collect`.
    #[arg(long, value_name = "URL")]
    pub(crate) export_otlp: Option<String>,

    /// A header every OTLP export request carries (an API key), `key=value`; repeat it for more.
    /// OTEL_EXPORTER_OTLP_HEADERS (`key1=value1,key2=value2`) is read too; a flag wins over it.
    #[arg(
        long = "export-otlp-header",
        value_name = "KEY=VALUE",
        requires = "export_otlp"
    )]
    pub(crate) export_otlp_headers: Vec<String>,

    /// Forward the browser's batches (real user monitoring) to Datadog's browser intake as well, as Datadog's
    /// proxy guide says: the body as the browser sent it, its `ddforward` path and query (which carry the
    /// page's client token), its content type and user agent, X-Forwarded-For naming the browser, never its
    /// cookies. Without an origin: https://browser-intake-<site> for DD_SITE (--dd-site). `lab up` needs the
    /// RUM application too (--rum-application-id, --rum-client-token), which its pages then report as.
    #[arg(long, value_name = "ORIGIN", num_args = 0..=1, default_missing_value = "")]
    pub(crate) export_rum: Option<String>,

    /// The Datadog site, for --export-rum's intake and the pages' RUM application: datadoghq.com,
    /// datadoghq.eu, us3.datadoghq.com, …
    #[arg(long, env = "DD_SITE", value_name = "SITE", default_value = collector::export::rum::DEFAULT_SITE)]
    pub(crate) dd_site: String,

    /// A root certificate (PEM) to trust beside the system's for https:// exports (a private CA, a TLS proxy);
    /// repeat it for more. OTEL_EXPORTER_OTLP_CERTIFICATE is read too.
    #[arg(long, value_name = "FILE", env = "OTEL_EXPORTER_OTLP_CERTIFICATE")]
    pub(crate) export_certificate: Vec<std::path::PathBuf>,

    /// Start with the exporters switched off: switch one on from the dashboard (`x` Datadog, spans and browser
    /// batches alike; `X` OTLP), with `lab export on NAME`, or with `POST /api/export/NAME {"enabled": true}`.
    #[arg(long)]
    pub(crate) export_off: bool,
}

impl ExportArgs {
    /// The collector's export options, reading the `DD_*` and `OTEL_EXPORTER_OTLP_HEADERS` variables.
    pub(crate) fn options(&self) -> anyhow::Result<ExportOptions> {
        let var = |name: &str| std::env::var(name).ok();
        let datadog = self.export_datadog.as_ref().map(|url| {
            if url.is_empty() {
                DatadogTarget::from_env(var)
            } else {
                DatadogTarget { url: url.clone() }
            }
        });
        let otlp = match &self.export_otlp {
            None => None,
            Some(endpoint) => {
                let mut headers = match var("OTEL_EXPORTER_OTLP_HEADERS") {
                    Some(text) => otlp::parse_headers(&text)
                        .map_err(|err| anyhow::anyhow!("OTEL_EXPORTER_OTLP_HEADERS: {err}"))?,
                    None => Vec::new(),
                };
                for pair in &self.export_otlp_headers {
                    let (key, value) = otlp::parse_header(pair)
                        .map_err(|err| anyhow::anyhow!("--export-otlp-header: {err}"))?;
                    headers.retain(|(k, _)| !k.eq_ignore_ascii_case(&key));
                    headers.push((key, value));
                }
                Some(OtlpTarget {
                    endpoint: endpoint.clone(),
                    headers,
                })
            }
        };
        let rum = match self.export_rum.as_deref() {
            None => None,
            Some("") => Some(RumTarget::for_site(&self.dd_site)?),
            Some(origin) => Some(RumTarget {
                origin: origin.to_owned(),
            }),
        };
        Ok(ExportOptions {
            otlp,
            datadog,
            rum,
            root_certificates: self.export_certificate.clone(),
            enabled: !self.export_off,
            ..ExportOptions::default()
        })
    }
}

/// What the exporters do, for the lines `lab up` and `lab collect` print at start.
pub(crate) fn describe(running: &collector::server::RunningCollector) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(addr) = running.datadog_port_taken {
        lines.push(format!(
            "  {addr} is taken (a Datadog Agent?): the lab's Datadog receiver is off (--datadog ADDR moves it)"
        ));
    }
    for export in running.exports.stats() {
        lines.push(format!(
            "  exporting {:<8} to {} ({})",
            export.name,
            export.endpoint,
            if export.enabled { "on" } else { "off" }
        ));
    }
    lines
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum Switch {
    On,
    Off,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum ExporterName {
    /// The Datadog exporter and the RUM forward.
    Datadog,
    /// The RUM forward alone.
    DatadogRum,
    Otlp,
}

#[derive(Args, Debug)]
pub(crate) struct ExportCommand {
    /// Switch the exporter on or off.
    switch: Switch,

    /// Which exporter: the one `--export-datadog`, `--export-rum` or `--export-otlp` started (`datadog`
    /// switches both of Datadog's).
    exporter: ExporterName,

    /// The running lab's query API (`lab up`'s or `lab collect`'s --api).
    #[arg(long, default_value = "http://127.0.0.1:8787")]
    api: String,
}

/// `lab export on|off NAME`: switches an exporter of a running lab over its query API, and says what it has
/// done so far.
pub(crate) async fn export(command: ExportCommand) -> anyhow::Result<()> {
    let name = match command.exporter {
        ExporterName::Datadog => "datadog",
        ExporterName::DatadogRum => collector::export::rum::NAME,
        ExporterName::Otlp => "otlp",
    };
    let enabled = matches!(command.switch, Switch::On);
    let url = format!("{}/api/export/{name}", command.api.trim_end_matches('/'));
    let response = reqwest::Client::new()
        .post(&url)
        .json(&protocol::ExportToggle { enabled })
        .send()
        .await
        .with_context(|| format!("no lab answers at {} (--api)", command.api))?;
    let status = response.status();
    let body = response.bytes().await.context("reading the answer")?;
    if !status.is_success() {
        let message = serde_json::from_slice::<protocol::ApiError>(&body)
            .map(|e| e.error)
            .unwrap_or_else(|_| String::from_utf8_lossy(&body).into_owned());
        anyhow::bail!("{url}: {status}: {message}");
    }
    let stats: protocol::ExportStats =
        serde_json::from_slice(&body).context("reading the exporter's stats")?;
    let unit = if stats.name == collector::export::rum::NAME {
        "browser batches"
    } else {
        "spans"
    };
    println!(
        "{} export {} ({}): {unit}: {} sent, {} queued, {} retried, {} failed, {} rejected, {} dropped",
        stats.name,
        if stats.enabled { "on" } else { "off" },
        stats.endpoint,
        stats.sent,
        stats.queued + stats.in_flight,
        stats.retried,
        stats.failed,
        stats.rejected,
        stats.dropped
    );
    Ok(())
}
