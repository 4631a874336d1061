//! API errors as `application/problem+json` (RFC 9457), in one
//! `IntoResponse` impl.

use axum::http::StatusCode;
use axum::http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::response::{IntoResponse, Response};
use niji_store::StoreError;

/// An API request that failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// No valid session or token.
    #[error("log in, or send a valid API token")]
    Unauthenticated,
    /// Authenticated, but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// No such object (or not visible to the caller).
    #[error("{0}")]
    NotFound(String),
    /// The request cannot be done as asked.
    #[error("{0}")]
    Unprocessable(String),
    /// Too many failed sign-ins (or guesses): try again after the wait,
    /// when one is known (sent as Retry-After).
    #[error("too many failed attempts; try again later")]
    TooMany(Option<std::time::Duration>),
    /// It was there, and is no more (a cancelled job).
    #[error("{0}")]
    Gone(String),
    /// Busy: try again after the wait (sent as Retry-After).
    #[error("{reason}")]
    Busy {
        /// What is busy, and what to do.
        reason: String,
        /// How long to wait before trying again.
        retry_after: std::time::Duration,
    },
    /// Something on our side; the detail goes to the log only.
    #[error("internal error")]
    Internal(String),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Forbidden(reason) => ApiError::Forbidden(reason),
            StoreError::Refused(reason) if reason.starts_with("no ") => ApiError::NotFound(reason),
            StoreError::Refused(reason) => ApiError::Unprocessable(reason),
            // What an admin typed: a clear refusal, not a server fault.
            e @ (StoreError::WeakSecret { .. }
            | StoreError::InvalidName { .. }
            | StoreError::AccountExists { .. }) => ApiError::Unprocessable(e.to_string()),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl ApiError {
    /// Busy for a moment: try again in a second.
    pub fn busy(reason: impl Into<String>) -> ApiError {
        ApiError::Busy {
            reason: reason.into(),
            retry_after: std::time::Duration::from_secs(1),
        }
    }

    /// The HTTP status of this failure (the API's and the pages' alike).
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthenticated => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooMany(_) | ApiError::Busy { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let ApiError::Internal(reason) = &self {
            tracing::error!(%reason, "API request failed");
        }
        let title = match status {
            // RFC 9110's name for 422.
            StatusCode::UNPROCESSABLE_ENTITY => "Unprocessable Content",
            other => other.canonical_reason().unwrap_or("Error"),
        };
        let body = serde_json::json!({
            "type": "about:blank",
            "title": title,
            "status": status.as_u16(),
            "detail": self.to_string(),
        });
        let mut response = (status, body.to_string()).into_response();
        response.headers_mut().insert(
            CONTENT_TYPE,
            "application/problem+json".parse().expect("a valid header"),
        );
        let retry = match &self {
            ApiError::Busy { retry_after, .. } => Some(retry_after.as_secs_f64().ceil() as u64),
            ApiError::TooMany(Some(wait)) => Some(wait.as_secs_f64().ceil() as u64),
            _ => None,
        };
        if let Some(seconds) = retry {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(seconds.max(1)),
            );
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                WWW_AUTHENTICATE,
                "Bearer realm=\"niji\"".parse().expect("a valid header"),
            );
        }
        response
    }
}

/// Runs store work on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
}
