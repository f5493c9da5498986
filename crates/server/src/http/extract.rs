//! What handlers take from a request: the caller (authenticated before the
//! handler, and before any body is read), a JSON object body that names the
//! field at fault, query parameters.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use slipway_auth::credential;
use slipway_service::Caller;

use super::{ApiError, AppState, client_address};
use crate::listener::BodyTimedOut;

/// The credential of a request: the bearer token; for a request that only
/// reads (GET, HEAD), else the `token` cookie the web sign-in sets. A
/// request that changes something must carry its token itself: a browser
/// attaches cookies to requests other pages of the same site make (another
/// port, a sibling subdomain), and a POST without a body needs no preflight.
pub fn credential(method: &Method, headers: &HeaderMap) -> Option<String> {
    let values = |name| headers.get_all(name).iter().map(|v| v.as_bytes());
    let reads = *method == Method::GET || *method == Method::HEAD;
    credential::bearer(values(header::AUTHORIZATION))
        .or_else(|| {
            reads
                .then(|| credential::cookie(values(header::COOKIE), "token"))
                .flatten()
        })
        .map(str::to_owned)
}

/// Middleware of every `/v1` route that needs a caller: authenticates it
/// (429 first for an address that keeps failing) and hands it to the
/// handler, or answers the refusal. Runs before any body is read.
pub async fn authenticate(
    State(http): AppState,
    peer: ConnectInfo<SocketAddr>,
    mut request: Request,
    next: Next,
) -> Response {
    let client = client_address(&http.service, peer, request.headers());
    let secret = credential(request.method(), request.headers());
    match http.service.authenticate(secret.as_deref(), client).await {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// Middleware of the sign-in routes: limited per client address.
pub async fn limit_sign_in(
    State(http): AppState,
    peer: ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let client = client_address(&http.service, peer, request.headers());
    match http.service.sign_in_attempt(client) {
        Ok(()) => next.run(request).await,
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// The authenticated caller.
pub struct Authenticated(pub Caller);

impl<S: Send + Sync> FromRequestParts<S> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .map(Authenticated)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthenticated",
                    "this route needs a token",
                )
            })
    }
}

/// Whether `Content-Type` says JSON: `application/json` (any parameters,
/// such as a charset), nothing else.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// A JSON object body, rejected with a JSON error naming the field at
/// fault: 415 for another media type, 413 past the route's limit, 408 when
/// the client stops sending it, 400 for anything but a JSON object.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(request.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send a JSON body with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                let status = rejection.status();
                if status == StatusCode::PAYLOAD_TOO_LARGE {
                    return ApiError::new(
                        status,
                        "body_too_large",
                        "the request body is too large",
                    );
                }
                if let Some(late) = cause::<BodyTimedOut>(&rejection) {
                    return ApiError::new(
                        StatusCode::REQUEST_TIMEOUT,
                        "body_timeout",
                        late.to_string(),
                    );
                }
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_body",
                    rejection.body_text(),
                )
            })?;
        parse_object(&bytes).map(ApiJson)
    }
}

/// The first error of type `E` in `error`'s chain of causes.
fn cause<'a, E: std::error::Error + 'static>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a E> {
    std::iter::successors(Some(error), |e| e.source()).find_map(|e| e.downcast_ref::<E>())
}

/// Parses a JSON object (a JSON array is not an object with no fields).
pub fn parse_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{') {
        return Err(ApiError::from(slipway_core::ValidationError::new(
            "body",
            "must be a JSON object",
        )));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize(&mut deserializer) {
        Ok(value) => Ok(value),
        Err(e) => {
            let field = e.path().to_string();
            let inner = e.into_inner();
            if inner.is_syntax() || inner.is_eof() {
                Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "malformed_json",
                    format!("the body is not valid JSON: {inner}"),
                ))
            } else {
                let field = if field == "." {
                    "body".to_owned()
                } else {
                    field
                };
                Err(ApiError::from(slipway_core::ValidationError::new(
                    &field,
                    inner.to_string(),
                )))
            }
        }
    }
}

/// An optional JSON body: a request without one (no `Content-Type` and no
/// body) reads as `None`.
impl<S: Send + Sync, T: DeserializeOwned> axum::extract::OptionalFromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Option<Self>, ApiError> {
        let empty = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v == "0");
        if request.headers().get(header::CONTENT_TYPE).is_none() && empty {
            return Ok(None);
        }
        if request.headers().get(header::CONTENT_TYPE).is_none()
            && request.headers().get(header::CONTENT_LENGTH).is_none()
            && request.headers().get(header::TRANSFER_ENCODING).is_none()
        {
            return Ok(None);
        }
        <Self as FromRequest<S>>::from_request(request, state)
            .await
            .map(Some)
    }
}

/// Query parameters, rejected with a JSON error naming the parameter.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(ApiQuery)
            .map_err(|e| {
                let field = e.path().to_string();
                let field = if field == "." {
                    "query".to_owned()
                } else {
                    field
                };
                ApiError::from(slipway_core::ValidationError::new(
                    &field,
                    e.into_inner().to_string(),
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_credential_comes_from_the_bearer_or_for_reads_the_cookie() {
        let get = Method::GET;
        let mut headers = HeaderMap::new();
        assert_eq!(credential(&get, &headers), None);
        headers.insert(
            header::COOKIE,
            "a=1; token=jwt.from.cookie".parse().unwrap(),
        );
        assert_eq!(
            credential(&get, &headers).as_deref(),
            Some("jwt.from.cookie")
        );
        // A cookie alone never changes anything.
        for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            assert_eq!(credential(&method, &headers), None, "{method}");
        }
        headers.insert(header::AUTHORIZATION, "Bearer slw_x".parse().unwrap());
        assert_eq!(credential(&get, &headers).as_deref(), Some("slw_x"));
        assert_eq!(
            credential(&Method::POST, &headers).as_deref(),
            Some("slw_x")
        );
        headers.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(
            credential(&get, &headers).as_deref(),
            Some("jwt.from.cookie")
        );
    }

    #[test]
    fn only_json_is_json() {
        let with = |ct: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, ct.parse().unwrap());
            is_json(&h)
        };
        assert!(with("application/json"));
        assert!(with("application/json; charset=utf-8"));
        assert!(with("Application/JSON"));
        assert!(!with("application/jsonx"));
        assert!(!with("application/json-patch+json"));
        assert!(!with("text/json"));
        assert!(!is_json(&HeaderMap::new()));
    }

    #[test]
    fn only_objects_are_bodies() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Body {
            #[serde(default)]
            nodes: Option<u32>,
        }
        assert!(parse_object::<Body>(b"{}").is_ok());
        assert!(parse_object::<Body>(b" {\"nodes\": 2}").is_ok());
        let array = parse_object::<Body>(b"[]").unwrap_err();
        assert_eq!(array.detail.field.as_deref(), Some("body"));
        let wrong = parse_object::<Body>(b"{\"nodes\": \"x\"}").unwrap_err();
        assert_eq!(wrong.detail.field.as_deref(), Some("nodes"));
    }
}
