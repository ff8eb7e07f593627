//! The storefront's calls to the other services: a random ad (and its banner image) from the ads service and a
//! random discount from the discounts service. Each call has a timeout; when a service is down or slow past it,
//! the page renders without that part.

use std::time::Duration;

use base64::Engine as _;
use rand::seq::IndexedRandom as _;
use serde::Deserialize;

use crate::layout::{AdSlot, Banner};

/// Where the other services are, and how long to wait for them.
#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    pub ads_url: String,
    pub discounts_url: String,
    /// Longer than the 2.5 s sleep faults, so the broken shop is slow rather than broken.
    pub timeout: Duration,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        UpstreamConfig {
            ads_url: "http://127.0.0.1:5002".to_owned(),
            discounts_url: "http://127.0.0.1:5001".to_owned(),
            timeout: Duration::from_secs(5),
        }
    }
}

/// A client for the ads and discounts services. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Upstreams {
    client: reqwest::Client,
    config: UpstreamConfig,
}

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

impl Upstreams {
    pub fn new(config: UpstreamConfig) -> Upstreams {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(Duration::from_secs(1))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a plain HTTP client builds");
        Upstreams { client, config }
    }

    pub fn config(&self) -> &UpstreamConfig {
        &self.config
    }

    /// One ad at random, its banner image fetched and inlined. `Unavailable` when the ads service fails.
    pub async fn random_ad(&self) -> AdSlot {
        match self.fetch_banner().await {
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
            .client
            .get(format!("{base}/ads"))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let Some(ad) = ads.choose(&mut rand::rng()) else {
            return Ok(None);
        };
        let response = self
            .client
            .get(format!("{base}/banners/{}", ad.path))
            .send()
            .await?
            .error_for_status()?;
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("image/svg+xml")
            .to_owned();
        let bytes = response.bytes().await?;
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

    /// One discount at random, or `None` when the discounts service fails.
    pub async fn random_discount(&self) -> Option<Promotion> {
        let base = self.config.discounts_url.trim_end_matches('/');
        let result: Result<Vec<Discount>, reqwest::Error> = async {
            self.client
                .get(format!("{base}/discount"))
                .send()
                .await?
                .error_for_status()?
                .json()
                .await
        }
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
