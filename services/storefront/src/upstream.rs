//! The storefront's calls to the other services: a random ad (and its banner image) from the ads service and a
//! random discount from the discounts service. Each call has a timeout; when a service is down or slow past it,
//! the page renders without that part.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use opentelemetry::trace::Status;
use rand::seq::IndexedRandom as _;
use serde::Deserialize;
use shop_runtime::telemetry::outside;
use tracing::field::Empty;
use tracing::instrument::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::layout::{AdSlot, Banner};

/// Where the other services are, and how long to wait for them.
#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    pub ads_url: String,
    pub discounts_url: String,
    /// Longer than the 2.5 s sleep faults, so the broken shop is slow rather than broken.
    pub timeout: Duration,
    /// The collector's OTLP/HTTP base URL, where `/rum` forwards the browser SDK's batches; without one the
    /// pages are served without RUM.
    pub rum_intake: Option<String>,
    /// The RUM application the pages initialise the SDK with.
    pub rum_app: crate::rum::RumApp,
    /// The browser SDK the pages load (the one built in, by default); without one they load none.
    pub rum_sdk: Option<crate::rum::Sdk>,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        UpstreamConfig {
            ads_url: "http://127.0.0.1:5002".to_owned(),
            discounts_url: "http://127.0.0.1:5001".to_owned(),
            timeout: Duration::from_secs(5),
            rum_intake: None,
            rum_app: crate::rum::RumApp::default(),
            rum_sdk: crate::rum::Sdk::built_in(),
        }
    }
}

/// A client for the ads and discounts services. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Upstreams {
    client: reqwest::Client,
    config: UpstreamConfig,
    /// Banner images by file: they never change, so each is fetched once.
    banners: Arc<Mutex<HashMap<String, (String, bytes::Bytes)>>>,
}

/// More banner files than the ads service has; past it, banners are fetched every time.
const MAX_CACHED_BANNERS: usize = 64;

#[derive(Debug, Deserialize)]
struct Ad {
    name: String,
    url: String,
    path: String,
}

#[derive(Debug, Deserialize)]
struct Discount {
    name: String,
    code: String,
    value: i64,
}

/// The home page's promotion, from the discounts service.
#[derive(Debug, Clone, PartialEq)]
pub struct Promotion {
    pub name: String,
    pub code: String,
    pub value: String,
}

/// A call to another service taking this long or more is logged as slow.
const SLOW_CALL: Duration = Duration::from_secs(1);

impl Upstreams {
    pub fn new(config: UpstreamConfig) -> Upstreams {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(Duration::from_secs(1))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a plain HTTP client builds");
        Upstreams {
            client,
            config,
            banners: Arc::default(),
        }
    }

    /// Where `/rum` forwards to, if anywhere.
    pub fn rum_intake(&self) -> Option<&str> {
        self.config.rum_intake.as_deref()
    }

    pub fn config(&self) -> &UpstreamConfig {
        &self.config
    }

    /// One ad at random, its banner image fetched (once per file, then cached) and inlined. `Unavailable` when the
    /// ads service fails.
    pub async fn random_ad(&self) -> AdSlot {
        let span = tracing::info_span!("fetch banner", otel.name = "fetch banner");
        match self.fetch_banner().instrument(span).await {
            Ok(Some(banner)) => AdSlot::Loaded(banner),
            Ok(None) => AdSlot::Unavailable,
            Err(err) => {
                tracing::warn!(error = %err, "ads service unavailable: rendering without a banner");
                AdSlot::Unavailable
            }
        }
    }

    async fn fetch_banner(&self) -> Result<Option<Banner>, reqwest::Error> {
        let base = self.config.ads_url.trim_end_matches('/');
        let ads: Vec<Ad> = self
            .get(&format!("{base}/ads"), "/ads", |response| async move {
                response.error_for_status()?.json().await
            })
            .await?;
        let Some(ad) = ads.choose(&mut rand::rng()) else {
            return Ok(None);
        };
        let cached = self
            .banners
            .lock()
            .expect("banner cache")
            .get(&ad.path)
            .cloned();
        let (content_type, bytes) = match cached {
            Some(image) => image,
            None => {
                let image = self
                    .get(
                        &format!("{base}/banners/{}", ad.path),
                        "/banners/{file}",
                        |response| async move {
                            let response = response.error_for_status()?;
                            let content_type = response
                                .headers()
                                .get(reqwest::header::CONTENT_TYPE)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("image/svg+xml")
                                .to_owned();
                            Ok((content_type, response.bytes().await?))
                        },
                    )
                    .await?;
                let mut banners = self.banners.lock().expect("banner cache");
                if banners.len() < MAX_CACHED_BANNERS {
                    banners.insert(ad.path.clone(), image.clone());
                }
                image
            }
        };
        let image = format!(
            "data:{content_type};base64,{}",
            base64::engine::general_purpose::STANDARD.encode(&bytes)
        );
        Ok(Some(Banner {
            name: ad.name.clone(),
            url: ad.url.clone(),
            image,
        }))
    }

    /// `GET url` in a client span (`GET /ads`, after `template`, the route it calls) that carries the trace
    /// to the called service in a `traceparent` header; `read` takes the response apart inside the span.
    async fn get<T, F>(
        &self,
        url: &str,
        template: &'static str,
        read: impl FnOnce(reqwest::Response) -> F,
    ) -> Result<T, reqwest::Error>
    where
        F: Future<Output = Result<T, reqwest::Error>> + Send,
        T: Send,
    {
        let parsed = reqwest::Url::parse(url).ok();
        let span = tracing::info_span!(
            "call",
            otel.name = format!("GET {template}"),
            otel.kind = "client",
            http.request.method = "GET",
            url.full = url,
            url.template = template,
            server.address = parsed.as_ref().and_then(|u| u.host_str().map(str::to_owned)),
            server.port = parsed.as_ref().and_then(reqwest::Url::port_or_known_default),
            http.response.status_code = Empty,
            error.type = Empty,
        );
        let mut headers = reqwest::header::HeaderMap::new();
        shop_runtime::telemetry::inject(&span, &mut headers);
        // The HTTP client runs under the log's subscriber, never holding one of our spans.
        let call = async {
            let response = outside(self.client.get(url).headers(headers).send()).await?;
            span.record("http.response.status_code", response.status().as_u16());
            outside(read(response)).await
        };
        let started = std::time::Instant::now();
        let result = call.instrument(span.clone()).await;
        let took = started.elapsed();
        if took >= SLOW_CALL {
            // Written in the call's span, so the line sits on the trace where the time went.
            span.in_scope(|| {
                tracing::warn!(
                    url.template = template,
                    duration_ms = took.as_millis() as i64,
                    "slow answer from {template}: {} ms (over {} ms)",
                    took.as_millis(),
                    SLOW_CALL.as_millis()
                )
            });
        }
        if let Err(err) = &result {
            let kind = if err.is_timeout() {
                "timeout".to_owned()
            } else if err.is_connect() {
                "connection refused".to_owned()
            } else if let Some(status) = err.status() {
                status.as_u16().to_string()
            } else {
                "reqwest::Error".to_owned()
            };
            span.record("error.type", kind);
            span.set_status(Status::error(err.to_string()));
        }
        result
    }

    /// One discount at random, or `None` when the discounts service fails.
    pub async fn random_discount(&self) -> Option<Promotion> {
        let base = self.config.discounts_url.trim_end_matches('/');
        let result: Result<Vec<Discount>, reqwest::Error> = self
            .get(
                &format!("{base}/discount"),
                "/discount",
                |response| async move { response.error_for_status()?.json().await },
            )
            .await;
        match result {
            Ok(discounts) => discounts.choose(&mut rand::rng()).map(|d| Promotion {
                name: d.name.clone(),
                code: d.code.clone(),
                value: crate::catalog::dollars(d.value * 100),
            }),
            Err(err) => {
                tracing::warn!(error = %err, "discounts service unavailable: rendering without a discount");
                None
            }
        }
    }
}
