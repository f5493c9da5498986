//! Errors as the HTTP API reports them: a status and `{"error": {"code",
//! "message"}}` (with `field`, `operation` and `Retry-After` where they
//! apply). The service's errors map by their kind; the transport's own
//! (a body too large or of the wrong type, a method not allowed) are made
//! here.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use slipway_api::types::{ErrorBody, ErrorDetail};
use slipway_service::{Error, Kind};

/// An error answer of the API.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub detail: ErrorDetail,
    /// Seconds to wait before trying again (`Retry-After`).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            detail: ErrorDetail {
                code: code.to_owned(),
                message: message.into(),
                field: None,
                operation: None,
            },
            retry_after: None,
        }
    }
}

/// The status of each kind of failure.
pub fn status_of(kind: Kind) -> StatusCode {
    match kind {
        Kind::Invalid => StatusCode::BAD_REQUEST,
        Kind::Unauthenticated => StatusCode::UNAUTHORIZED,
        Kind::Forbidden => StatusCode::FORBIDDEN,
        Kind::NotFound => StatusCode::NOT_FOUND,
        Kind::Conflict => StatusCode::CONFLICT,
        Kind::OverLimit => StatusCode::UNPROCESSABLE_ENTITY,
        Kind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        Kind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        Self {
            status: status_of(e.kind),
            detail: ErrorDetail {
                code: e.code,
                message: e.message,
                field: e.field,
                operation: e.operation,
            },
            retry_after: e.retry_after,
        }
    }
}

impl From<slipway_core::ValidationError> for ApiError {
    fn from(e: slipway_core::ValidationError) -> Self {
        Error::from(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry = self.retry_after;
        let unauthenticated = self.status == StatusCode::UNAUTHORIZED;
        let mut response = (self.status, Json(ErrorBody { error: self.detail })).into_response();
        if let Some(seconds) = retry {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if unauthenticated {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"slipway\""),
            );
        }
        response
    }
}
