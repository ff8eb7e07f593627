//! Databases for the services' tests: a fresh SQLite file, and a fresh schema on the local PostgreSQL when one
//! can be reached (always under `CI=true`, where a missing PostgreSQL fails the run instead of skipping).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::db::DbOptions;

/// The PostgreSQL that tests use: `LAB_TEST_DATABASE_URL`, or the one `.ci/run` starts.
pub fn postgres_url() -> String {
    std::env::var("LAB_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://lab:lab@127.0.0.1:5432/lab_test".to_owned())
}

/// A database for one test. Holds the SQLite file's directory until dropped.
#[derive(Debug)]
pub struct TestDb {
    pub name: &'static str,
    pub options: DbOptions,
    _dir: Option<TempDir>,
}

/// The databases a test should run against: SQLite always, PostgreSQL when reachable (required under CI=true).
/// Each gets its own file or schema, so tests run in parallel without seeing each other's rows.
pub async fn databases(slug: &str) -> Vec<TestDb> {
    let mut out = vec![sqlite(slug)];
    if let Some(pg) = postgres(slug).await {
        out.push(pg);
    }
    out
}

/// A fresh SQLite database for `slug`.
pub fn sqlite(slug: &str) -> TestDb {
    let dir = TempDir::new();
    let options = DbOptions::for_service(None, &dir.0, slug);
    TestDb {
        name: "sqlite",
        options,
        _dir: Some(dir),
    }
}

/// A fresh schema on the test PostgreSQL, or `None` (with a note on stderr) when there is none outside CI.
pub async fn postgres(slug: &str) -> Option<TestDb> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let url = postgres_url();
    sqlx::any::install_default_drivers();
    if let Err(err) = reachable(&url).await {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!(
                "CI=true but the test PostgreSQL at {} is unreachable: {err}",
                crate::db::redact(&url)
            );
        }
        eprintln!(
            "skipping the PostgreSQL half of this test: no server at {} ({err}); `.ci/run` starts one",
            crate::db::redact(&url)
        );
        return None;
    }
    let schema = format!(
        "t{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        slug.replace('-', "_")
    );
    Some(TestDb {
        name: "postgresql",
        options: DbOptions {
            url,
            schema: Some(schema),
            max_connections: 5,
        },
        _dir: None,
    })
}

async fn reachable(url: &str) -> Result<(), sqlx::Error> {
    use sqlx::Connection as _;
    let connect = sqlx::AnyConnection::connect(url);
    match tokio::time::timeout(std::time::Duration::from_secs(5), connect).await {
        Ok(conn) => conn?.close().await,
        Err(_) => Err(sqlx::Error::PoolTimedOut),
    }
}

/// A temporary directory removed on drop (std has none, and tests of other crates share this one).
#[derive(Debug)]
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "lab-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("creating a temporary directory");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A response read to the end, for assertions.
#[derive(Debug)]
pub struct TestResponse {
    pub status: axum::http::StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: axum::body::Bytes,
    pub extensions: axum::http::Extensions,
}

impl TestResponse {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|err| panic!("not JSON ({err}): {}", self.text()))
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// Sends one request through `router` without a socket. `body` is sent as JSON when given.
pub async fn call(
    router: &axum::Router,
    method: &str,
    uri: &str,
    body: Option<&str>,
) -> TestResponse {
    let mut request = axum::http::Request::builder().method(method).uri(uri);
    if body.is_some() {
        request = request.header(axum::http::header::CONTENT_TYPE, "application/json");
    }
    let request = request
        .body(axum::body::Body::from(body.unwrap_or("").to_owned()))
        .expect("a valid request");
    send(router, request).await
}

/// Sends any request through `router` without a socket, and reads the whole response.
pub async fn send(
    router: &axum::Router,
    request: axum::http::Request<axum::body::Body>,
) -> TestResponse {
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;
    let response = router.clone().oneshot(request).await.expect("infallible");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("reading the body").to_bytes();
    TestResponse {
        status: parts.status,
        headers: parts.headers,
        body,
        extensions: parts.extensions,
    }
}
