//! A recording reverse proxy: it forwards every request to a target and appends it to a
//! GoReplay file, so the lab can make its own recordings.
//!
//! Requests are recorded as they arrived (header names as hyper delivers them, lowercase),
//! including `Host`, and recorded before they are forwarded, so a request the target never
//! answered is in the file too. Each record is appended and flushed on its own.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use reqwest::{Client, Url};
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpListener;
use tokio::sync::Mutex;

use crate::gor;
use crate::replay::{check_target, forwardable_headers, http_client, target_url};

/// Largest request body the proxy accepts.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// What a proxy run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordStats {
    /// Requests written to the file.
    pub requests: u64,
}

struct Proxy {
    client: Client,
    target: Url,
    out: PathBuf,
    file: Mutex<tokio::fs::File>,
    recorded: AtomicU64,
}

/// Serves `listener` as a proxy to `target` (such as `http://127.0.0.1:3000`), appending
/// every request to the GoReplay file `out` (created if missing), until `shutdown`
/// completes and the open connections have finished.
///
/// The client gets the target's status, headers (minus hop-by-hop ones) and body, or a
/// 502 with a short text when the target cannot be reached. A request that cannot be
/// recorded is logged and still forwarded.
pub async fn run_proxy(
    listener: TcpListener,
    target: String,
    out: PathBuf,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<RecordStats> {
    let target = Url::parse(&target).with_context(|| format!("bad target URL {target:?}"))?;
    check_target(&target)?;
    let file = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&out)
        .await
        .with_context(|| format!("opening {} for appending", out.display()))?;
    let client = http_client()
        .connect_timeout(Duration::from_secs(10))
        .build()
        .context("building the HTTP client")?;
    let proxy = Arc::new(Proxy {
        client,
        target,
        out,
        file: Mutex::new(file),
        recorded: AtomicU64::new(0),
    });
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(proxy.clone());
    listener::serve(
        listener,
        "recording proxy",
        app,
        listener::Limits::default(),
        shutdown,
    )
    .await
    .context("serving the recording proxy")?;
    Ok(RecordStats {
        requests: proxy.recorded.load(Ordering::Relaxed),
    })
}

async fn handle(State(proxy): State<Arc<Proxy>>, request: axum::extract::Request) -> Response {
    let arrived = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
        });
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(body) => body,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("reading request body: {e}\n"),
            )
                .into_response();
        }
    };
    let target = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());

    let mut headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_owned(), value)
        })
        .collect();
    // HTTP/2 clients send the authority in the URI instead of a Host header.
    if let (false, Some(authority)) = (
        parts.headers.contains_key(header::HOST),
        parts.uri.authority(),
    ) {
        headers.insert(0, ("host".to_owned(), authority.to_string()));
    }
    let record = gor::Request {
        id: gor::new_id(),
        timestamp_ns: arrived,
        method: parts.method.to_string(),
        target: target.to_owned(),
        headers,
        body: body.clone(),
        offset: 0,
    };
    match proxy.append(&record).await {
        Ok(()) => {
            proxy.recorded.fetch_add(1, Ordering::Relaxed);
        }
        Err(e) => tracing::error!(
            "not recorded in {}: {} {}: {e:#}",
            proxy.out.display(),
            record.method,
            record.target
        ),
    }

    match proxy.forward(&record, parts.method).await {
        Ok(response) => response,
        Err(e) => {
            tracing::warn!("forwarding {} {}: {e:#}", record.method, record.target);
            let status = if e
                .downcast_ref::<reqwest::Error>()
                .is_some_and(|e| e.is_timeout())
            {
                StatusCode::GATEWAY_TIMEOUT
            } else {
                StatusCode::BAD_GATEWAY
            };
            let message = format!(
                "recording proxy: no response from {}: {e:#}\n",
                proxy.target
            );
            (status, message).into_response()
        }
    }
}

impl Proxy {
    async fn append(&self, record: &gor::Request) -> anyhow::Result<()> {
        let mut bytes = Vec::new();
        gor::write_record(&mut bytes, record)?;
        let mut file = self.file.lock().await;
        file.write_all(&bytes).await?;
        file.flush().await?;
        Ok(())
    }

    async fn forward(
        &self,
        record: &gor::Request,
        method: axum::http::Method,
    ) -> anyhow::Result<Response> {
        let url = target_url(&self.target, &record.target).map_err(anyhow::Error::msg)?;
        let headers = forwardable_headers(
            record
                .headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_bytes())),
            &["host", "content-length"],
        )
        .map_err(anyhow::Error::msg)?;
        let mut request = self.client.request(method, url).headers(headers);
        if !record.body.is_empty() || record.header("content-length").is_some() {
            request = request.body(record.body.clone());
        }
        let upstream = request.send().await?;

        let status = upstream.status();
        let headers = forwardable_headers(
            upstream
                .headers()
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_bytes())),
            &[],
        )
        .map_err(anyhow::Error::msg)?;
        let body = upstream.bytes().await?;
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use axum::http::HeaderValue;
    use axum::routing::{get, post};
    use std::net::SocketAddr;

    async fn serve(app: axum::Router) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        addr
    }

    struct RunningProxy {
        addr: SocketAddr,
        stop: tokio::sync::oneshot::Sender<()>,
        task: tokio::task::JoinHandle<anyhow::Result<RecordStats>>,
    }

    async fn start_proxy(target: String, out: PathBuf) -> RunningProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(run_proxy(listener, target, out, async move {
            let _ = stopped.await;
        }));
        RunningProxy { addr, stop, task }
    }

    fn client() -> Client {
        Client::builder().no_proxy().build().unwrap()
    }

    #[tokio::test]
    async fn records_and_forwards_requests() {
        let target = serve(
            axum::Router::new()
                .route(
                    "/hello",
                    get(|| async { ([("x-target", "yes")], "hi there") }),
                )
                .route(
                    "/echo",
                    post(|body: axum::body::Bytes| async move { (StatusCode::CREATED, body) }),
                ),
        )
        .await;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("recorded.gor");
        let proxy = start_proxy(format!("http://{target}"), out.clone()).await;
        let client = client();

        let hello = client
            .get(format!("http://{}/hello?name=lab", proxy.addr))
            .header("x-trace", "abc")
            .send()
            .await
            .unwrap();
        assert_eq!(hello.status(), StatusCode::OK);
        assert_eq!(hello.headers()["x-target"], HeaderValue::from_static("yes"));
        assert_eq!(hello.text().await.unwrap(), "hi there");

        let json = r#"{"product":7,"quantity":2}"#;
        let echo = client
            .post(format!("http://{}/echo", proxy.addr))
            .header("content-type", "application/json")
            .body(json)
            .send()
            .await
            .unwrap();
        assert_eq!(echo.status(), StatusCode::CREATED);
        assert_eq!(echo.text().await.unwrap(), json);

        proxy.stop.send(()).unwrap();
        let stats = proxy.task.await.unwrap().unwrap();
        assert_eq!(stats, RecordStats { requests: 2 });

        let parsed = gor::parse(&std::fs::read(&out).unwrap());
        assert_eq!(parsed.problems, vec![]);
        let [get, post] = parsed.requests.as_slice() else {
            panic!("expected two records, got {:?}", parsed.requests);
        };
        let proxy_host = proxy.addr.to_string();
        assert_eq!(
            (get.method.as_str(), get.target.as_str()),
            ("GET", "/hello?name=lab")
        );
        assert_eq!(get.header("host"), Some(proxy_host.as_str()));
        assert_eq!(get.header("x-trace"), Some("abc"));
        assert!(get.body.is_empty());
        assert_eq!(
            (post.method.as_str(), post.target.as_str()),
            ("POST", "/echo")
        );
        assert_eq!(post.header("host"), Some(proxy_host.as_str()));
        assert_eq!(post.header("content-type"), Some("application/json"));
        assert_eq!(&post.body[..], json.as_bytes());
        assert!(get.timestamp_ns > 1_600_000_000_000_000_000);
        assert!(get.timestamp_ns <= post.timestamp_ns);
        assert_eq!(get.id.len(), 40);
    }

    #[tokio::test]
    async fn target_down_gives_502_and_is_still_recorded() {
        let closed = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("recorded.gor");
        // Appending keeps what is already in the file.
        let mut existing = Vec::new();
        let old = gor::Request {
            id: gor::new_id(),
            timestamp_ns: 1,
            method: "GET".to_owned(),
            target: "/old".to_owned(),
            headers: vec![],
            body: bytes::Bytes::new(),
            offset: 0,
        };
        gor::write_record(&mut existing, &old).unwrap();
        std::fs::write(&out, &existing).unwrap();

        let proxy = start_proxy(format!("http://{closed}"), out.clone()).await;
        let response = client()
            .put(format!("http://{}/down", proxy.addr))
            .body("payload")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
        assert!(response.text().await.unwrap().contains("no response"));

        proxy.stop.send(()).unwrap();
        assert_eq!(proxy.task.await.unwrap().unwrap().requests, 1);
        let parsed = gor::parse(&std::fs::read(&out).unwrap());
        assert_eq!(parsed.problems, vec![]);
        let targets: Vec<_> = parsed.requests.iter().map(|r| r.target.as_str()).collect();
        assert_eq!(targets, ["/old", "/down"]);
        assert_eq!(&parsed.requests[1].body[..], b"payload");
    }
}
