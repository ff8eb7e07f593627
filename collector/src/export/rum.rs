//! The RUM forward: the browser's batches passed on to Datadog's browser intake as Datadog's proxy guide
//! says. The intake origin comes from the site (`DD_SITE`: `datadoghq.com` →
//! `https://browser-intake-datadoghq.com`, `us3.datadoghq.com` → `https://browser-intake-us3-datadoghq.com`);
//! the path and query are the batch's own `ddforward` (which carries the page's client token); the body goes on
//! byte for byte; of the browser's headers only the content type and encoding and the user agent go on, never
//! its cookies or credentials; and `X-Forwarded-For` carries the browser's address, for Datadog's geo-IP.

use bytes::Bytes;
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, HeaderValue, USER_AGENT};

use super::queue::Item;
use super::{Backend, Payload};

/// Datadog's browser intake path (the collector's own intake answers on it too).
pub const PATH: &str = "/api/v2/rum";

/// The exporter's name (`lab export on datadog-rum`, `POST /api/export/datadog-rum`); `datadog` switches it too.
pub const NAME: &str = "datadog-rum";
/// Datadog's default site.
pub const DEFAULT_SITE: &str = "datadoghq.com";
/// Browser batches the forward's queue holds before it drops its oldest.
pub const QUEUE_BATCHES: usize = 1_000;
/// About the most bytes of browser batches the queue holds before it drops its oldest.
pub const QUEUE_BYTES: usize = 64 << 20;

/// Where the browser's batches go.
#[derive(Debug, Clone)]
pub struct RumTarget {
    /// The intake's origin (`https://browser-intake-datadoghq.com`); a batch's `ddforward` path and query are
    /// put after it.
    pub origin: String,
}

impl RumTarget {
    /// Datadog's browser intake for `site` (`datadoghq.com`, `datadoghq.eu`, `us3.datadoghq.com`, …), as the
    /// browser SDK itself computes it: `browser-intake-` and the site's labels but its last joined by `-`.
    pub fn for_site(site: &str) -> anyhow::Result<RumTarget> {
        let site = site.trim().trim_end_matches('.').to_ascii_lowercase();
        let labels: Vec<&str> = site.split('.').collect();
        let valid = |label: &&str| {
            !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        if labels.len() < 2 || !labels.iter().all(valid) {
            anyhow::bail!(
                "DD_SITE {site:?} is not a Datadog site (datadoghq.com, datadoghq.eu, us3.datadoghq.com, …)"
            );
        }
        let (tld, rest) = labels.split_last().expect("two labels at least");
        Ok(RumTarget {
            origin: format!("https://browser-intake-{}.{tld}", rest.join("-")),
        })
    }
}

/// One browser batch as the intake received it, to be forwarded.
#[derive(Debug, Clone)]
pub struct Forward {
    /// The `ddforward` parameter: the intake path and its query (`/api/v2/rum?ddsource=browser&dd-api-key=…`).
    pub ddforward: String,
    /// The body, exactly as the browser sent it (compressed or not).
    pub body: Bytes,
    /// `Content-Type`, `Content-Encoding` and `User-Agent` as the browser sent them, and `X-Forwarded-For`
    /// ending in the browser's address.
    pub headers: HeaderMap,
}

impl Forward {
    /// A batch to forward: `ddforward` as the browser gave it, its body, the headers it came with and the
    /// address it came from (appended to any `X-Forwarded-For` it carried, as a proxy does). `None` when
    /// `ddforward` does not name the RUM intake.
    pub fn new(
        ddforward: &str,
        body: Bytes,
        received: &HeaderMap,
        peer: Option<std::net::IpAddr>,
    ) -> Option<Forward> {
        let rest = ddforward.strip_prefix(PATH)?;
        if !(rest.is_empty() || rest.starts_with('?')) {
            return None;
        }
        let mut headers = HeaderMap::new();
        for name in [CONTENT_TYPE, CONTENT_ENCODING, USER_AGENT] {
            if let Some(value) = received.get(&name) {
                headers.insert(name, value.clone());
            }
        }
        let before = (received.get_all("x-forwarded-for").iter())
            .filter_map(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect::<Vec<_>>()
            .join(", ");
        let chain = match (before.is_empty(), peer) {
            (true, Some(peer)) => peer.to_string(),
            (false, Some(peer)) => format!("{before}, {peer}"),
            (_, None) => before,
        };
        if let Ok(value) = HeaderValue::from_str(&chain)
            && !chain.is_empty()
        {
            headers.insert("x-forwarded-for", value);
        }
        Some(Forward {
            ddforward: ddforward.to_owned(),
            body,
            headers,
        })
    }

    /// About the memory it holds.
    pub fn weight(&self) -> usize {
        size_of::<Forward>() + self.ddforward.len() + self.body.len() + 64 * self.headers.len()
    }
}

/// The browser intake's sender.
pub(crate) struct RumForward {
    /// The origin with the intake's path: what the accounting names.
    url: reqwest::Url,
}

impl RumForward {
    pub(crate) fn new(target: &RumTarget) -> anyhow::Result<RumForward> {
        let url = super::endpoint("--export-rum", &target.origin, PATH.trim_start_matches('/'))?;
        if url.path() != PATH || url.query().is_some() {
            anyhow::bail!(
                "--export-rum {}: give the intake's origin only (https://browser-intake-datadoghq.com)",
                target.origin
            );
        }
        Ok(RumForward { url })
    }
}

impl Backend for RumForward {
    fn url(&self) -> &reqwest::Url {
        &self.url
    }

    fn browser(&self) -> bool {
        true
    }

    fn encode(&self, items: &[Item], _count: usize) -> Result<Payload, String> {
        let Some(Item::Browser(forward)) = items.first() else {
            return Err("the RUM forward was handed spans".into());
        };
        // Only the path's query is the batch's own: the origin and path are fixed, so no `ddforward` can send
        // the batch anywhere but the intake.
        let mut url = self.url.clone();
        url.set_query(forward.ddforward.split_once('?').map(|(_, query)| query));
        Ok(Payload {
            body: forward.body.clone(),
            headers: forward.headers.clone(),
            unsendable: (0, None),
            url: Some(url),
        })
    }

    fn rejected(&self, _body: &[u8]) -> (u64, Option<String>) {
        (0, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_intake_origin_is_the_sdks_for_each_site() {
        for (site, origin) in [
            ("datadoghq.com", "https://browser-intake-datadoghq.com"),
            ("datadoghq.eu", "https://browser-intake-datadoghq.eu"),
            (
                "us3.datadoghq.com",
                "https://browser-intake-us3-datadoghq.com",
            ),
            (
                "US5.datadoghq.com",
                "https://browser-intake-us5-datadoghq.com",
            ),
            (
                "ap1.datadoghq.com",
                "https://browser-intake-ap1-datadoghq.com",
            ),
            ("ddog-gov.com", "https://browser-intake-ddog-gov.com"),
        ] {
            assert_eq!(RumTarget::for_site(site).unwrap().origin, origin, "{site}");
        }
        for bad in ["", "datadoghq", "evil.com/x", "a..com", "x.com:443"] {
            assert!(RumTarget::for_site(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_forward_keeps_the_body_and_safe_headers_only_and_names_the_browser() {
        let mut received = HeaderMap::new();
        received.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain;charset=UTF-8"),
        );
        received.insert(CONTENT_ENCODING, HeaderValue::from_static("deflate"));
        received.insert(USER_AGENT, HeaderValue::from_static("Chromium"));
        received.insert("cookie", HeaderValue::from_static("session=secret"));
        received.insert("authorization", HeaderValue::from_static("Bearer x"));
        received.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.9"));
        let body = Bytes::from_static(b"\x78\x9c binary");
        let peer = Some("127.0.0.1".parse().unwrap());
        let forward = Forward::new(
            "/api/v2/rum?ddsource=browser",
            body.clone(),
            &received,
            peer,
        )
        .unwrap();
        assert_eq!(forward.body, body);
        assert_eq!(forward.headers.len(), 4, "{:?}", forward.headers);
        assert_eq!(forward.headers["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
        assert!(forward.headers.get("cookie").is_none());
        assert!(forward.headers.get("authorization").is_none());
        let alone = Forward::new(PATH, body.clone(), &HeaderMap::new(), peer).unwrap();
        assert_eq!(alone.headers["x-forwarded-for"], "127.0.0.1");
        for elsewhere in [
            "/api/v2/replay?x=1",
            "/api/v2/rumx",
            "https://evil/api/v2/rum",
            "",
        ] {
            assert!(
                Forward::new(elsewhere, body.clone(), &received, peer).is_none(),
                "{elsewhere}"
            );
        }
    }

    #[test]
    fn a_batch_goes_to_the_intake_with_its_own_query_only() {
        let forward = RumForward::new(&RumTarget {
            origin: "https://browser-intake-datadoghq.com".into(),
        })
        .unwrap();
        let batch = Forward::new(
            "/api/v2/rum?ddsource=browser&dd-api-key=pub1&dd-request-id=7",
            Bytes::from_static(b"{}"),
            &HeaderMap::new(),
            None,
        )
        .unwrap();
        let payload = forward
            .encode(&[Item::Browser(std::sync::Arc::new(batch))], 1)
            .unwrap();
        assert_eq!(
            payload.url.unwrap().as_str(),
            "https://browser-intake-datadoghq.com/api/v2/rum?ddsource=browser&dd-api-key=pub1&dd-request-id=7"
        );
        assert!(
            RumForward::new(&RumTarget {
                origin: "https://browser-intake-datadoghq.com/somewhere".into()
            })
            .is_err()
        );
    }
}
