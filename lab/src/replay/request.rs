//! Building the requests a replay sends from recorded ones, and sending them: `Host` rewritten to the target,
//! hop-by-hop headers and the recorded trace context dropped. The recording proxy forwards with the same
//! helpers.

use anyhow::bail;
use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Client, Method, Url};
use tokio::time::Instant;

use super::Outcome;
use crate::gor::Request;

/// Headers that describe one connection, not the request, so a proxy or replayer must not
/// pass them on (RFC 9110 section 7.6.1, plus the common non-standard ones).
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Recorded headers a replay does not send, besides hop-by-hop ones: `Host` and
/// `Content-Length` are the client's to set, and the W3C trace context and baggage name the
/// recorded trace, which every replayed request (on every pass) would otherwise join.
const NOT_REPLAYED: [&str; 5] = [
    "host",
    "content-length",
    "traceparent",
    "tracestate",
    "baggage",
];

/// One request, converted for sending once for all passes.
pub(super) struct Job {
    pub(super) method: String,
    pub(super) target: String,
    pub(super) prepared: Result<Prepared, String>,
}

pub(super) struct Prepared {
    method: Method,
    url: Url,
    pub(super) headers: HeaderMap,
    body: Option<Bytes>,
}

pub(super) fn prepare(req: &Request, base: &Url) -> Result<Prepared, String> {
    let method = Method::from_bytes(req.method.as_bytes())
        .map_err(|_| format!("invalid method {:?}", req.method))?;
    let url = target_url(base, &req.target)?;
    let headers = forwardable_headers(
        req.headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes())),
        &NOT_REPLAYED,
    )?;
    // Send a body when there is one, and an empty one where the recording framed one.
    let body =
        (!req.body.is_empty() || req.header("content-length").is_some()).then(|| req.body.clone());
    Ok(Prepared {
        method,
        url,
        headers,
        body,
    })
}

pub(super) async fn send(client: &Client, job: &Job, index: usize, pass: u64) -> Outcome {
    let started = Instant::now();
    let result = match &job.prepared {
        Ok(prepared) => {
            let mut request = client
                .request(prepared.method.clone(), prepared.url.clone())
                .headers(prepared.headers.clone());
            if let Some(body) = &prepared.body {
                request = request.body(body.clone());
            }
            match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    match response.bytes().await {
                        Ok(_) => Ok(status),
                        Err(e) => Err(format!("{:#}", anyhow::Error::from(e))),
                    }
                }
                Err(e) => Err(format!("{:#}", anyhow::Error::from(e))),
            }
        }
        Err(why) => Err(why.clone()),
    };
    Outcome {
        index,
        pass,
        method: job.method.clone(),
        target: job.target.clone(),
        status: result.as_ref().ok().copied(),
        error: result.err(),
        latency: started.elapsed(),
    }
}

/// A client that sends requests as given: no redirects, no proxies, no decompression.
pub(crate) fn http_client() -> reqwest::ClientBuilder {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
}

/// Checks that `base` can be a replay or proxy target.
pub(crate) fn check_target(base: &Url) -> anyhow::Result<()> {
    if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
        bail!("target {base} is not an http:// URL with a host");
    }
    Ok(())
}

/// The URL for sending a request recorded with `target` (path and query, or an absolute
/// URL whose path and query are used) to `base`, appending to any path `base` has.
pub(crate) fn target_url(base: &Url, target: &str) -> Result<Url, String> {
    let path_and_query = if target.starts_with('/') {
        target.to_owned()
    } else if let Ok(absolute) = Url::parse(target) {
        match absolute.query() {
            Some(query) => format!("{}?{query}", absolute.path()),
            None => absolute.path().to_owned(),
        }
    } else {
        return Err(format!("request target {target:?} is not a path"));
    };
    let mut base = base.clone();
    base.set_query(None);
    base.set_fragment(None);
    let url = format!("{}{path_and_query}", base.as_str().trim_end_matches('/'));
    Url::parse(&url).map_err(|e| format!("bad URL {url:?}: {e}"))
}

/// Converts headers for forwarding, dropping hop-by-hop ones, those the `Connection`
/// header names, and those in `also_drop` (lowercase).
pub(crate) fn forwardable_headers<'a>(
    headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    also_drop: &[&str],
) -> Result<HeaderMap, String> {
    let headers: Vec<_> = headers.into_iter().collect();
    let named_by_connection: Vec<String> = headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("connection"))
        .flat_map(|(_, value)| {
            String::from_utf8_lossy(value)
                .split(',')
                .map(|token| token.trim().to_ascii_lowercase())
                .collect::<Vec<_>>()
        })
        .collect();
    let mut map = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        if HOP_BY_HOP.contains(&lower.as_str())
            || also_drop.contains(&lower.as_str())
            || named_by_connection.contains(&lower)
        {
            continue;
        }
        let name =
            HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("bad header {name:?}"))?;
        let value =
            HeaderValue::from_bytes(value).map_err(|_| format!("bad value for header {name:?}"))?;
        map.append(name, value);
    }
    Ok(map)
}
