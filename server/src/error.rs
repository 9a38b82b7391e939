//! Errors as the API returns them: a status and `{"error": message}` (plus the engine's error
//! fields when the engine refused the request), and what the run scheduler refuses.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::time::Duration;

/// Why a submission was refused.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// The engine refused the request (400): unknown language or backend, no sessions...; the
    /// response carries the engine's error fields (`kind`, `available`).
    #[error("{}", .0.message)]
    Engine(Box<polyrun_engine::WireError>),
    /// Conflicts with an earlier request (409).
    #[error("{0}")]
    Conflict(String),
    /// Too many runs: queue full, token concurrency or rate (429).
    #[error("{message}")]
    TooMany {
        /// What is full.
        message: String,
        /// When to try again.
        retry_after: Duration,
    },
    /// The server is shutting down (503).
    #[error("the server is shutting down")]
    ShuttingDown,
}

/// An error as the API returns it: a status and `{"error": message}`, plus the engine's error
/// fields (`kind`, `name`, `available`...) when the engine refused the request.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    retry_after: Option<Duration>,
    engine: Option<polyrun_engine::WireError>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            retry_after: None,
            engine: None,
        }
    }

    /// A 400 for an error of the engine, with its fields.
    pub fn engine(e: &polyrun_engine::Error) -> Self {
        ApiError {
            engine: Some(e.to_wire()),
            ..ApiError::new(StatusCode::BAD_REQUEST, e.to_string())
        }
    }

    pub(crate) fn no_run(id: &str) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, format!("no run `{id}`"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = match &self.engine {
            Some(w) => serde_json::to_value(w).unwrap_or_default(),
            None => serde_json::json!({}),
        };
        body["error"] = self.message.into();
        let mut r = (self.status, Json(body)).into_response();
        if let Some(wait) = self.retry_after {
            let secs = wait.as_secs().max(1).to_string();
            r.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_str(&secs).expect("digits"),
            );
        }
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        r
    }
}

impl From<Refused> for ApiError {
    fn from(r: Refused) -> Self {
        let status = match &r {
            Refused::Engine(_) => StatusCode::BAD_REQUEST,
            Refused::Conflict(_) => StatusCode::CONFLICT,
            Refused::TooMany { .. } => StatusCode::TOO_MANY_REQUESTS,
            Refused::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
        };
        let retry_after = match &r {
            Refused::TooMany { retry_after, .. } => Some(*retry_after),
            _ => None,
        };
        let engine = match &r {
            Refused::Engine(w) => Some((**w).clone()),
            _ => None,
        };
        ApiError {
            status,
            message: r.to_string(),
            retry_after,
            engine,
        }
    }
}

impl From<JsonRejection> for ApiError {
    /// A body that stopped arriving ([`crate::Config::body_read_timeout`]) is `408`, any other
    /// rejection keeps axum's status.
    fn from(r: JsonRejection) -> Self {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&r);
        while let Some(e) = source {
            if e.is::<tower_http::timeout::TimeoutError>() {
                return ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "the request body did not arrive in time",
                );
            }
            source = e.source();
        }
        ApiError::new(r.status(), r.body_text())
    }
}
