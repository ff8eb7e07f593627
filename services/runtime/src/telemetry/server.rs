//! The server-span middleware: [`instrument`] gives every request of a router a span named after its route,
//! its parent taken from the W3C `traceparent` header, run under the service's current deployment.

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::Status;
use opentelemetry_http::HeaderExtractor;
use tracing::field::Empty;
use tracing::instrument::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use super::Telemetry;
use super::propagation::propagator;
use super::scope::Scoped;

/// Traces every request of `router`: a server span each, run under the service's current deployment.
pub fn instrument(router: Router, telemetry: Telemetry) -> Router {
    if !telemetry.is_on() {
        return router;
    }
    router
        .route_layer(middleware::from_fn(name_after_route))
        .layer(middleware::from_fn_with_state(telemetry, trace_request))
}

async fn trace_request(
    State(telemetry): State<Telemetry>,
    request: Request,
    next: Next,
) -> Response {
    let Some(dispatch) = telemetry.dispatch() else {
        return next.run(request).await;
    };
    let traced = async move {
        let method = request.method().as_str();
        let known = known_method(method);
        let uri = request.uri();
        let span = tracing::info_span!(
            target: "shop_runtime::telemetry",
            "request",
            otel.name = known.unwrap_or("HTTP"),
            otel.kind = "server",
            http.request.method = known.unwrap_or("_OTHER"),
            http.request.method_original = known.is_none().then_some(method),
            http.route = Empty,
            url.path = uri.path(),
            url.query = uri.query(),
            url.scheme = "http",
            user_agent.original = request
                .headers()
                .get(axum::http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok()),
            http.response.status_code = Empty,
            error.type = Empty,
        );
        let parent = propagator().extract(&HeaderExtractor(request.headers()));
        let _ = span.set_parent(parent);
        let mut unanswered = Unanswered(Some(span.clone()));
        let response = next.run(request).instrument(span.clone()).await;
        unanswered.0 = None;
        let status = response.status();
        span.record("http.response.status_code", status.as_u16());
        if status.is_server_error() {
            span.record("error.type", status.as_str());
            span.set_status(Status::error(
                status.canonical_reason().unwrap_or("server error"),
            ));
        }
        response
    };
    Scoped {
        dispatch,
        future: Some(Box::pin(traced)),
    }
    .await
}

/// Marks a request's span when the request is dropped before it is answered (the client went away, or the
/// service stopped before its handler finished): failed, `error.type` `cancelled`, rather than an ok request
/// with a cut-short duration and no status code.
struct Unanswered(Option<tracing::Span>);

impl Drop for Unanswered {
    fn drop(&mut self) {
        if let Some(span) = self.0.take() {
            span.record("error.type", "cancelled");
            span.set_status(Status::error(
                "cut off before it was answered: the client went away or the service stopped",
            ));
        }
    }
}

/// The methods the HTTP semantic conventions know. Any other (`PURGE`, or `get` in lower case) is recorded as
/// `_OTHER`, with the method as sent in `http.request.method_original`, and names its span `HTTP`: methods are
/// whatever a client sends, and an attribute and a span name must not take every value a client makes up.
pub(super) const KNOWN_METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

/// `method` if the semantic conventions know it (case-sensitively, as they say).
pub(super) fn known_method(method: &str) -> Option<&'static str> {
    KNOWN_METHODS.into_iter().find(|known| *known == method)
}

/// Names the server span after the matched route (`GET /products/{slug}`), once routing has found it.
async fn name_after_route(request: Request, next: Next) -> Response {
    if let Some(route) = request.extensions().get::<MatchedPath>() {
        let span = tracing::Span::current();
        span.record("http.route", route.as_str());
        let method = known_method(request.method().as_str()).unwrap_or("HTTP");
        span.record("otel.name", format!("{method} {}", route.as_str()));
    }
    next.run(request).await
}
