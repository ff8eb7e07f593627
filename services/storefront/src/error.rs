//! The storefront's errors: each maps to a status and a page (or a JSON body on the API), and never shows
//! internals to the visitor. 5xx responses carry [`ErrorDetails`] for logs and telemetry.

use std::panic::Location;

use askama::Template;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

/// What went wrong in a request that failed with a 5xx: the exception type, its message and where it was
/// raised. Attached to the response's extensions; the visitor only sees a generic page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorDetails {
    pub kind: &'static str,
    pub message: String,
    /// Repo-relative path of the source file, as the compiler saw it.
    pub file: Option<&'static str>,
    pub line: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("rendering a template: {0}")]
    Template(#[from] askama::Error),
    /// A page rendered an ad banner it never loaded: the `frontend.ads-in-layout` fault.
    #[error("undefined ad for the banner: this page's handler did not load one (at {}:{})", location.file(), location.line())]
    MissingAd {
        location: &'static Location<'static>,
    },
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    BadRequest(String),
}

impl Error {
    /// The exception type telemetry and logs give it.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Db(_) => "sqlx::Error",
            Error::Template(_) => "askama::Error",
            Error::MissingAd { .. } => "MissingAdError",
            Error::NotFound => "NotFound",
            Error::BadRequest(_) => "BadRequest",
        }
    }

    fn details(&self) -> ErrorDetails {
        let location = match self {
            Error::MissingAd { location } => Some(*location),
            _ => None,
        };
        ErrorDetails {
            kind: self.kind(),
            message: self.to_string(),
            file: location.map(Location::file),
            line: location.map(Location::line),
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    title: &'a str,
    message: &'a str,
    /// A failed page reports to RUM too: the shopper saw it.
    rum: Option<crate::rum::RumInit>,
}

fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    let page = ErrorPage {
        status: status.as_u16(),
        title,
        message,
        rum: crate::rum::RumInit::for_page(),
    };
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(_) => (status, title.to_owned()).into_response(),
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        match &self {
            Error::NotFound => error_page(
                StatusCode::NOT_FOUND,
                "The page you were looking for doesn't exist.",
                "You may have mistyped the address or the page may have moved.",
            ),
            Error::BadRequest(message) => {
                error_page(StatusCode::BAD_REQUEST, "Bad request", message)
            }
            Error::Db(_) | Error::Template(_) | Error::MissingAd { .. } => {
                let details = self.details();
                tracing::error!(
                    service = crate::SERVICE,
                    trace_id = %shop_runtime::telemetry::current_trace_id(),
                    error.kind = details.kind,
                    code.file.path = details.file,
                    code.line.number = details.line,
                    "{}",
                    details.message
                );
                let mut response = error_page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "We're sorry, but something went wrong.",
                    "If you are the application owner check the logs for more information.",
                );
                response.extensions_mut().insert(details);
                response
            }
        }
    }
}

/// The JSON API's errors, in the shape Spree's storefront API answers them: `{"error": "..."}`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("The resource you were looking for could not be found.")]
    NotFound,
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unprocessable(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::Db(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
        };
        if let ApiError::Db(err) = &self {
            tracing::error!(
                service = crate::SERVICE,
                trace_id = %shop_runtime::telemetry::current_trace_id(),
                error = %err,
                "API request failed"
            );
            let mut response =
                (status, Json(serde_json::json!({"error": "internal error"}))).into_response();
            response.extensions_mut().insert(ErrorDetails {
                kind: "sqlx::Error",
                message: self.to_string(),
                file: None,
                line: None,
            });
            return response;
        }
        (
            status,
            Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response()
    }
}
