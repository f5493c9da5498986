//! API tokens, signing keys and revocations — and what verifiers fetch:
//! the public keys (`/.well-known/jwks.json`) and the signed revocation list
//! (`/.well-known/revocations`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use slipway_api::types::*;

use super::{ApiError, ApiJson, AppState, Authenticated};

/// The published signing keys; verifiers (gateways, third parties) fetch
/// them here.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "identity",
    responses((status = 200, description = "JWKS: Ed25519 public keys with a kid each", body = Object)))]
pub async fn jwks(State(http): AppState) -> Response {
    let mut response = Json(http.service.jwks()).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    response
}

/// The signed list of what cluster gateways refuse — revoked token ids and
/// people's cluster tokens issued before a time, not yet expired: a JWT
/// (audience `slipway:revocations`, signed like every token, verified
/// against the JWKS), `{"token": "..."}`. Cluster gateways poll it with
/// `If-None-Match` and refuse what it lists. Signed once per change; a
/// matching `If-None-Match` is answered from the cache.
#[utoipa::path(get, path = "/.well-known/revocations", tag = "identity",
    responses((status = 200, body = RevocationListView), (status = 304, description = "unchanged since the ETag given")))]
pub async fn revocations(State(http): AppState, headers: HeaderMap) -> Result<Response, ApiError> {
    let list = http.service.revocation_list().await?;
    let etag = HeaderValue::from_str(&list.etag).expect("an etag is ASCII");
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|given| given.to_str().ok())
        .is_some_and(|given| list.matches(given))
    {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::ETAG, etag),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        list.body.clone(),
    )
        .into_response())
}

/// Creates an API token for the caller; the secret is in the answer only.
#[utoipa::path(post, path = "/v1/tokens", tag = "identity", request_body = CreateToken,
    responses((status = 201, body = CreatedToken)), security(("bearer" = [])))]
pub async fn create_token(
    State(http): AppState,
    Authenticated(caller): Authenticated,
    ApiJson(req): ApiJson<CreateToken>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(http.service.create_token(&caller, req).await?),
    ))
}

/// Your API tokens (administrators: everyone's).
#[utoipa::path(get, path = "/v1/tokens", tag = "identity", responses((status = 200, body = Vec<TokenView>)), security(("bearer" = [])))]
pub async fn tokens(
    State(http): AppState,
    Authenticated(caller): Authenticated,
) -> Result<Json<Vec<TokenView>>, ApiError> {
    Ok(Json(http.service.tokens(&caller).await?))
}

/// Revokes an API token (never the last administrator credential: 409).
#[utoipa::path(delete, path = "/v1/tokens/{id}", tag = "identity", params(("id" = String, Path)),
    responses((status = 204)), security(("bearer" = [])))]
pub async fn revoke_token(
    State(http): AppState,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    http.service.revoke_api_token(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Adds a signing key (administrators).
#[utoipa::path(post, path = "/v1/admin/rotate-keys", tag = "identity", responses((status = 200, body = RotatedKeys)),
    security(("bearer" = [])))]
pub async fn rotate_keys(
    State(http): AppState,
    Authenticated(caller): Authenticated,
) -> Result<Json<RotatedKeys>, ApiError> {
    Ok(Json(http.service.rotate_keys(&caller).await?))
}

/// Revokes a user or cluster token by its `jti` (administrators): refused
/// by the API at once, by cluster gateways within seconds.
#[utoipa::path(post, path = "/v1/admin/revoke", tag = "identity", request_body = RevokeToken,
    responses((status = 204)), security(("bearer" = [])))]
pub async fn revoke(
    State(http): AppState,
    Authenticated(caller): Authenticated,
    ApiJson(req): ApiJson<RevokeToken>,
) -> Result<StatusCode, ApiError> {
    http.service.revoke_jti(&caller, req).await?;
    Ok(StatusCode::NO_CONTENT)
}
