//! CORS for the OTLP/HTTP listener, so a web page of an allowed origin (an OpenTelemetry web SDK, a browser
//! SDK without a proxy) can send to it: preflights answered, answers to allowed origins marked readable. Any
//! other origin's preflight gets a 403 saying so; requests without `Origin` are not concerned.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The shop's origins: what the OTLP/HTTP listener allows by default.
pub const DEFAULT_ORIGINS: [&str; 2] = ["http://127.0.0.1:3000", "http://localhost:3000"];

/// How long a browser may cache a preflight's answer, in seconds.
const MAX_AGE: &str = "7200";

/// The origins allowed (`*` allows any).
#[derive(Clone, Debug)]
pub struct Cors {
    origins: Arc<[String]>,
}

impl Default for Cors {
    fn default() -> Self {
        Cors::new(DEFAULT_ORIGINS.iter().map(|o| (*o).to_owned()))
    }
}

impl Cors {
    pub fn new(origins: impl IntoIterator<Item = String>) -> Cors {
        Cors {
            origins: origins
                .into_iter()
                .map(|o| o.trim_end_matches('/').to_owned())
                .collect(),
        }
    }

    fn allows(&self, origin: &str) -> bool {
        self.origins.iter().any(|o| o == "*" || o == origin)
    }

    /// The middleware: `axum::middleware::from_fn_with_state(cors, cors::layer)`.
    pub async fn layer(State(cors): State<Cors>, request: Request, next: Next) -> Response {
        let origin = request
            .headers()
            .get(header::ORIGIN)
            .and_then(|o| o.to_str().ok())
            .map(str::to_owned);
        let Some(origin) = origin else {
            return next.run(request).await;
        };
        let preflight = request.method() == Method::OPTIONS
            && request
                .headers()
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        if preflight {
            return cors.preflight(&origin, request.headers());
        }
        let mut response = next.run(request).await;
        if cors.allows(&origin) {
            allow(response.headers_mut(), &origin);
        }
        response
    }

    fn preflight(&self, origin: &str, asked: &HeaderMap) -> Response {
        if !self.allows(origin) {
            let message = format!(
                "origin {origin:?} may not send here: allowed are {} (the collector's --cors-origin)",
                self.origins.join(", ")
            );
            return (
                StatusCode::FORBIDDEN,
                axum::Json(serde_json::json!({ "error": message })),
            )
                .into_response();
        }
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::NO_CONTENT;
        let headers = response.headers_mut();
        allow(headers, origin);
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("POST, OPTIONS"),
        );
        if let Some(requested) = asked.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested.clone());
        }
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static(MAX_AGE),
        );
        response
    }
}

fn allow(headers: &mut HeaderMap, origin: &str) {
    if let Ok(origin) = HeaderValue::from_str(origin) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
}
