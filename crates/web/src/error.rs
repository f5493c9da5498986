//! How a refusal of the service reads in a page: the status its kind maps
//! to (as in the API) and a heading a person understands; the message is
//! the service's own.

use axum::http::StatusCode;
use slipway_service::Kind;

pub fn status_and_title(kind: Kind) -> (StatusCode, &'static str) {
    match kind {
        Kind::Invalid => (StatusCode::BAD_REQUEST, "That did not work"),
        Kind::Unauthenticated => (StatusCode::UNAUTHORIZED, "Sign in again"),
        Kind::Forbidden => (StatusCode::FORBIDDEN, "Not allowed"),
        Kind::NotFound => (StatusCode::NOT_FOUND, "Not found"),
        Kind::Conflict => (StatusCode::CONFLICT, "Not now"),
        Kind::OverLimit => (StatusCode::UNPROCESSABLE_ENTITY, "Over a limit"),
        Kind::RateLimited => (StatusCode::TOO_MANY_REQUESTS, "Too many requests"),
        Kind::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "Unavailable"),
    }
}
