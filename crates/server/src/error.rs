//! Errors as the API reports them: a status and `{"error": {"code",
//! "message"}}`. Store and engine failures are logged in full and reported
//! to the client without internals.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use slipway_api::types::{ErrorBody, ErrorDetail};
use slipway_core::{Refusal, ValidationError};
use slipway_store::StoreError;

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

    pub fn invalid(field: &str, rule: impl Into<String>) -> Self {
        ValidationError::new(field, rule).into()
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", what)
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        let mut err = Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message);
        err.retry_after = Some(5);
        err
    }

    pub fn forbidden(rule: impl Into<String>) -> Self {
        Refusal::Forbidden { rule: rule.into() }.into()
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        let mut err = Self::new(StatusCode::BAD_REQUEST, "invalid_request", e.to_string());
        err.detail.field = Some(e.field);
        err
    }
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Invalid(e) => e.into(),
            Refusal::Conflict { ref operation, .. } => {
                let mut err = Self::new(StatusCode::CONFLICT, refusal.code(), refusal.to_string());
                err.detail.operation = Some(operation.to_string());
                err
            }
            Refusal::Forbidden { .. } => {
                Self::new(StatusCode::FORBIDDEN, refusal.code(), refusal.to_string())
            }
            Refusal::OverLimit { ref limit, .. } => {
                let mut err = Self::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    refusal.code(),
                    refusal.to_string(),
                );
                err.detail.field = Some(limit.clone());
                err
            }
            other => Self::new(StatusCode::CONFLICT, other.code(), other.to_string()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Refused(refusal) => refusal.into(),
            StoreError::ClusterNotFound(name) => {
                Self::not_found(format!("cluster {name} does not exist"))
            }
            StoreError::OperationNotFound(id) => {
                Self::not_found(format!("operation {id} does not exist"))
            }
            StoreError::OrganizationNotFound(name) => {
                Self::not_found(format!("organization {name} does not exist"))
            }
            other => {
                tracing::error!(error = %other, "store failure");
                Self::unavailable("the database is unavailable; try again shortly")
            }
        }
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
