//! Real user monitoring of the storefront's pages: Datadog's browser SDK (`@datadog/browser-rum-slim`, fetched
//! at build time by `build.rs`, embedded here and served by the storefront itself), what the layout initialises
//! it with, and `POST /rum`, the same-origin proxy that forwards the SDK's batches to the collector's intake.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The SDK as built in; empty when the build had neither the registry nor `LAB_RUM_SDK`.
const SDK: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/rum-sdk.js"));
/// Its licence notice, served beside it.
const LICENSE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/rum-sdk-LICENSE"));
/// Where the build found it (`npm @datadog/browser-rum-slim@7.16.0`, `LAB_RUM_SDK …`), empty without it.
pub const SDK_ORIGIN: &str = env!("LAB_RUM_SDK_ORIGIN");

/// The SDK's path on the storefront.
pub const SDK_PATH: &str = "/assets/datadog-rum-slim.js";
/// Its licence's path.
pub const LICENSE_PATH: &str = "/assets/datadog-rum-slim.LICENSE.txt";

/// Largest batch forwarded (the collector's intake default).
const MAX_BATCH: usize = 5 * 1024 * 1024;

/// Whether the build has the SDK: without it the pages are served without RUM.
pub fn sdk_built_in() -> bool {
    Sdk::built_in().is_some()
}

/// Datadog's browser SDK as the build found it. A storefront serves it when its configuration holds one
/// ([`crate::UpstreamConfig::rum_sdk`]: the one built in, by default); without one its pages load no SDK, as
/// a build that found none serves them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sdk {
    /// Where the build found it (`npm @datadog/browser-rum-slim@7.16.0`, `LAB_RUM_SDK …`).
    pub origin: &'static str,
}

impl Sdk {
    /// The SDK built in; `None` when the build had neither the registry nor `LAB_RUM_SDK`.
    pub fn built_in() -> Option<Sdk> {
        (!SDK.is_empty()).then_some(Sdk { origin: SDK_ORIGIN })
    }

    /// `GET /assets/datadog-rum-slim.js`: the SDK headed by where it came from and where its licence is.
    pub(crate) fn served(self) -> &'static [u8] {
        static SERVED: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(|| {
            let head = format!("/*! {SDK_ORIGIN} | Apache-2.0 | licence: {LICENSE_PATH} */\n");
            [head.as_bytes(), SDK].concat()
        });
        &SERVED
    }

    /// Its licence notice.
    pub(crate) fn license(self) -> &'static [u8] {
        LICENSE
    }
}

/// What the layout initialises the SDK with on a page.
#[derive(Debug, Clone)]
pub struct RumInit {
    pub app: RumApp,
    pub env: String,
    pub version: String,
    /// The server trace that rendered the page, as Datadog's `dd-trace-id` meta tag wants it: the trace id's
    /// low 64 bits in decimal. `None` outside a traced request.
    pub trace_id: Option<String>,
    /// Unix milliseconds, for `dd-trace-time`.
    pub trace_time: u128,
}

/// The Datadog RUM application the pages report as: its id, its client token and its site. The lab's
/// placeholders by default (the collector takes any); a real application's when the batches also go on to
/// Datadog (`lab up --export-rum`), which refuses placeholders.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RumApp {
    pub application_id: String,
    pub client_token: String,
    /// `datadoghq.com`, `datadoghq.eu`, `us3.datadoghq.com`, … (`DD_SITE`).
    pub site: String,
}

impl Default for RumApp {
    fn default() -> RumApp {
        RumApp {
            application_id: APPLICATION_ID.to_owned(),
            client_token: CLIENT_TOKEN.to_owned(),
            site: "datadoghq.com".to_owned(),
        }
    }
}

/// The RUM application's flags (its site comes from `DD_SITE`, beside them).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct RumAppArgs {
    /// The Datadog RUM application the shop's pages report as (its application ID, from Datadog's RUM setup
    /// page); without it a placeholder, which the lab's collector takes and Datadog refuses.
    #[arg(long, env = "DD_RUM_APPLICATION_ID", value_name = "ID")]
    pub rum_application_id: Option<String>,

    /// That application's client token (`pub…`: public by design, every page carries it); without it a
    /// placeholder.
    #[arg(long, env = "DD_RUM_CLIENT_TOKEN", value_name = "TOKEN")]
    pub rum_client_token: Option<String>,
}

impl RumAppArgs {
    /// The application the flags name on `site`, placeholders for what they leave out.
    pub fn app(&self, site: &str) -> RumApp {
        let placeholder = RumApp::default();
        let given = |value: &Option<String>| {
            value
                .as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        RumApp {
            application_id: given(&self.rum_application_id).unwrap_or(placeholder.application_id),
            client_token: given(&self.rum_client_token).unwrap_or(placeholder.client_token),
            site: site.trim().to_owned(),
        }
    }
}

impl RumApp {
    /// Whether it is a real application (its id and token both given), as Datadog needs.
    pub fn is_real(&self) -> bool {
        let placeholder = RumApp::default();
        self.application_id != placeholder.application_id
            && self.client_token != placeholder.client_token
    }
}

/// What the page being served needs to know of the storefront for its browser side.
#[derive(Clone, Debug)]
struct PageContext {
    /// The storefront's version when its pages load the SDK, `None` when not.
    version: Option<String>,
    app: RumApp,
    /// Whether `frontend.cart-badge` is on.
    cart_badge_fault: bool,
}

tokio::task_local! {
    static PAGE: PageContext;
}

/// Whether the page being served gets the broken cart badge update (`frontend.cart-badge`).
pub fn cart_badge_fault() -> bool {
    PAGE.try_with(|page| page.cart_badge_fault).unwrap_or(false)
}

/// The middleware every page runs in (`from_fn_with_state`): whether its page loads the SDK (built in, and
/// an intake to send to), for the layout and the error page alike, and whether its script is broken.
pub(crate) async fn scope(
    State(state): State<crate::AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let page = PageContext {
        version: (state.upstreams.config().rum_sdk.is_some()
            && state.upstreams.rum_intake().is_some())
        .then(|| state.faults.version()),
        cart_badge_fault: state.faults.is_on(crate::CART_BADGE),
        app: state.upstreams.config().rum_app.clone(),
    };
    PAGE.scope(page, next.run(request)).await
}

impl RumInit {
    /// For the page being served (inside [`scope`]), when it loads the SDK.
    pub fn for_page() -> Option<RumInit> {
        let (version, app) = PAGE
            .try_with(|page| Some((page.version.clone()?, page.app.clone())))
            .ok()
            .flatten()?;
        let trace = shop_runtime::telemetry::current_trace_id();
        Some(RumInit {
            app,
            env: environment(),
            version,
            trace_id: u128::from_str_radix(&trace, 16)
                .ok()
                .map(|id| (id as u64).to_string()),
            trace_time: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis()),
        })
    }
}

impl RumInit {
    /// The SDK's init options the server decides, as a JavaScript object literal (JSON, with `<` escaped so
    /// it cannot close the script element). The page adds `allowedTracingUrls` for its own origin.
    pub fn options(&self) -> String {
        let options = serde_json::json!({
            "applicationId": self.app.application_id,
            "clientToken": self.app.client_token,
            "site": self.app.site,
            "proxy": "/rum",
            "service": crate::SERVICE,
            "env": self.env,
            "version": self.version,
            "sessionSampleRate": 100,
            "sessionReplaySampleRate": 0,
            "telemetrySampleRate": 0,
            "traceSampleRate": 100,
            "trackUserInteractions": true,
            "trackResources": true,
            "trackLongTasks": true,
            "defaultPrivacyLevel": "mask-user-input",
        });
        options.to_string().replace('<', "\\u003c")
    }
}

/// The lab's placeholders for the RUM application and its client token (the collector takes any).
pub const APPLICATION_ID: &str = "00000000-0000-4000-8000-00000000000b";
pub const CLIENT_TOKEN: &str = "pub00000000000000000000000000000lab";

/// The shop's `deployment.environment.name`, as its spans say it.
fn environment() -> String {
    std::env::var("OTEL_RESOURCE_ATTRIBUTES")
        .ok()
        .and_then(|attributes| {
            attributes.split(',').find_map(|pair| {
                let (key, value) = pair.split_once('=')?;
                (key.trim() == "deployment.environment.name").then(|| value.trim().to_owned())
            })
        })
        .unwrap_or_else(|| shop_runtime::telemetry::DEFAULT_ENVIRONMENT.to_owned())
}

/// Where `/rum` forwards to, and the client it uses. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Forwarder {
    client: reqwest::Client,
    /// The collector's OTLP/HTTP base URL (`http://127.0.0.1:4318`).
    intake: String,
}

impl Forwarder {
    pub fn new(intake: String) -> Forwarder {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(1))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a plain HTTP client builds");
        Forwarder {
            client,
            intake: intake.trim_end_matches('/').to_owned(),
        }
    }
}

/// `POST /rum?ddforward=…`: the SDK's batch, forwarded as it came (body, query, content type and encoding, user
/// agent; never the visitor's cookies) to the collector's intake, with `X-Forwarded-For` naming the browser
/// (as Datadog's proxy guide asks, for when the collector passes it on to Datadog), whose answer is passed back.
pub(crate) async fn forward(
    State(forwarder): State<Option<Forwarder>>,
    RawQuery(query): RawQuery,
    request: axum::extract::Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    let peer = (parts.extensions)
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip());
    let Some(forwarder) = forwarder else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "no RUM intake is configured (--rum-intake)",
        )
            .into_response();
    };
    let body: Bytes = match axum::body::to_bytes(body, MAX_BATCH).await {
        Ok(body) => body,
        Err(_) => {
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("a RUM batch is at most {MAX_BATCH} bytes"),
            )
                .into_response();
        }
    };
    let url = match query {
        Some(query) => format!("{}/api/v2/rum?{query}", forwarder.intake),
        None => format!("{}/api/v2/rum", forwarder.intake),
    };
    let mut request = forwarder.client.post(url).body(body);
    for name in [
        header::CONTENT_TYPE,
        header::CONTENT_ENCODING,
        header::USER_AGENT,
    ] {
        if let Some(value) = headers.get(&name) {
            request = request.header(name, value);
        }
    }
    if let Some(peer) = peer {
        let before = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.trim().is_empty());
        let chain = match before {
            Some(before) => format!("{}, {peer}", before.trim()),
            None => peer.to_string(),
        };
        request = request.header("x-forwarded-for", chain);
    }
    match request.send().await {
        Ok(answer) => {
            let status = answer.status();
            let bytes = answer.bytes().await.unwrap_or_default();
            (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response()
        }
        Err(err) => {
            tracing::warn!("forwarding a RUM batch to {}: {err}", forwarder.intake);
            let mut response = (
                StatusCode::SERVICE_UNAVAILABLE,
                "the RUM intake is unreachable",
            )
                .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
            response
        }
    }
}
