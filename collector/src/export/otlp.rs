//! The generic OTLP exporter: OTLP/HTTP protobuf, gzipped, to `<base URL>/v1/traces` as
//! `OTEL_EXPORTER_OTLP_ENDPOINT` takes it, with the headers an API key needs (`--export-otlp-header k=v`,
//! `OTEL_EXPORTER_OTLP_HEADERS`). An accepted answer's partial success counts the spans the backend refused.

use std::io::Write as _;

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message as _;
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};

use super::queue::Item;
use super::{Backend, Payload};

/// Where to send, and what to send with it.
#[derive(Debug, Clone, Default)]
pub struct OtlpTarget {
    /// The base URL (`http://collector:4318`): `/v1/traces` is appended.
    pub endpoint: String,
    /// Headers every request carries (an API key), as `(name, value)`.
    pub headers: Vec<(String, String)>,
}

/// `OTEL_EXPORTER_OTLP_HEADERS`' form: `key1=value1,key2=value2`, values percent-encoded. A pair without `=`
/// is an error naming it.
pub fn parse_headers(text: &str) -> Result<Vec<(String, String)>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .map(parse_header)
        .collect()
}

/// One `key=value` header (the value percent-decoded).
pub fn parse_header(pair: &str) -> Result<(String, String), String> {
    let (key, value) = pair
        .split_once('=')
        .ok_or_else(|| format!("{pair:?} is not key=value"))?;
    let key = key.trim();
    if key.is_empty() {
        return Err(format!("{pair:?} has no header name"));
    }
    Ok((key.to_owned(), percent_decode(value.trim())))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The OTLP/HTTP protobuf exporter.
pub(crate) struct Otlp {
    url: reqwest::Url,
    headers: HeaderMap,
}

impl Otlp {
    pub(crate) fn new(target: &OtlpTarget) -> anyhow::Result<Otlp> {
        let url = super::endpoint("--export-otlp", &target.endpoint, "v1/traces")?;
        let mut headers = HeaderMap::new();
        for (name, value) in &target.headers {
            let name: HeaderName = name
                .parse()
                .map_err(|_| anyhow::anyhow!("{name:?} is not an HTTP header name"))?;
            let value: HeaderValue = value.parse().map_err(|_| {
                anyhow::anyhow!("the value of header {name} is not allowed in HTTP")
            })?;
            headers.insert(name, value);
        }
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        );
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        Ok(Otlp { url, headers })
    }
}

impl Backend for Otlp {
    fn url(&self) -> &reqwest::Url {
        &self.url
    }

    fn encode(&self, items: &[Item], _spans: usize) -> Result<Payload, String> {
        let request = crate::otlp::to_request(items.iter().flat_map(Item::spans));
        let protobuf = request.encode_to_vec();
        let mut gzip = GzEncoder::new(Vec::with_capacity(protobuf.len() / 4), Compression::fast());
        gzip.write_all(&protobuf)
            .and_then(|()| gzip.finish())
            .map(|body| Payload {
                body: Bytes::from(body),
                headers: self.headers.clone(),
                unsendable: (0, None),
                url: None,
            })
            .map_err(|err| format!("compressing a request: {err}"))
    }

    fn rejected(&self, body: &[u8]) -> (u64, Option<String>) {
        // An answer that is not OTLP protobuf (an empty one, JSON from a proxy) says nothing was refused.
        let Ok(answer) = ExportTraceServiceResponse::decode(body) else {
            return (0, None);
        };
        match answer.partial_success {
            Some(partial) if partial.rejected_spans > 0 => (
                partial.rejected_spans.max(0) as u64,
                Some(format!(
                    "{} rejected {} spans: {}",
                    self.url, partial.rejected_spans, partial.error_message
                )),
            ),
            _ => (0, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_read_as_the_otlp_variable_says() {
        assert_eq!(
            parse_headers("api-key=s3cr%20t, x-tenant = class-a ,").unwrap(),
            vec![
                ("api-key".to_owned(), "s3cr t".to_owned()),
                ("x-tenant".to_owned(), "class-a".to_owned())
            ]
        );
        assert_eq!(parse_headers("").unwrap(), vec![]);
        assert!(parse_headers("novalue").unwrap_err().contains("novalue"));
        assert!(parse_headers("=v").is_err());
        assert_eq!(parse_header("k=a=b").unwrap().1, "a=b");
        assert_eq!(parse_header("k=100%").unwrap().1, "100%", "a lone % stays");
    }

    #[test]
    fn the_path_is_appended_to_the_base_url() {
        let target = |endpoint: &str| OtlpTarget {
            endpoint: endpoint.into(),
            headers: vec![("api-key".into(), "k".into())],
        };
        let otlp = Otlp::new(&target("http://127.0.0.1:4318/")).unwrap();
        assert_eq!(otlp.url.as_str(), "http://127.0.0.1:4318/v1/traces");
        assert_eq!(otlp.headers["api-key"], "k");
        let otlp = Otlp::new(&target("http://gateway/otel")).unwrap();
        assert_eq!(otlp.url.as_str(), "http://gateway/otel/v1/traces");
        assert!(Otlp::new(&target("not a url")).is_err());
    }
}
