//! Signing in, who am I, API tokens, keys, revocation, the audit log, and
//! the public keys (`/.well-known/jwks.json`).

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use slipway_api::types::*;
use slipway_store::AuditQuery;

use super::{ApiJson, ApiQuery, AppState};
use crate::auth::Caller;
use crate::error::ApiError;

/// The published signing keys; verifiers (gateways, third parties) fetch
/// them here.
#[utoipa::path(get, path = "/.well-known/jwks.json", responses((status = 200, description = "JWKS: Ed25519 public keys with a kid each")))]
pub async fn jwks(State(app): AppState) -> Response {
    let mut response = Json(app.identities.keys.jwks()).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    response
}

/// Starts a GitHub device flow (`slipway login`).
#[utoipa::path(post, path = "/v1/auth/device", responses((status = 200, body = DeviceStart), (status = 503, body = ErrorBody)))]
pub async fn device_start(State(app): AppState) -> Result<Json<DeviceStart>, ApiError> {
    Ok(Json(app.device_start().await?))
}

/// Polls a device flow: `pending`, `slow_down` (with the longer interval),
/// or `complete` with the session; expired, denied and disabled flows are
/// refused (401).
#[utoipa::path(post, path = "/v1/auth/device/token", request_body = DevicePoll,
    responses((status = 200, body = DevicePollResponse), (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn device_poll(
    State(app): AppState,
    ApiJson(req): ApiJson<DevicePoll>,
) -> Result<Json<DevicePollResponse>, ApiError> {
    Ok(Json(app.device_poll(req).await?))
}

/// Signs in with a GitHub personal access token (CI).
#[utoipa::path(post, path = "/v1/auth/github-token", request_body = GitHubTokenLogin,
    responses((status = 200, body = Session), (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn github_token(
    State(app): AppState,
    ApiJson(req): ApiJson<GitHubTokenLogin>,
) -> Result<Json<Session>, ApiError> {
    Ok(Json(app.github_token_login(req).await?))
}

/// Starts a web sign-in: redirects to GitHub (authorization code with
/// PKCE S256 and a `state`).
#[utoipa::path(get, path = "/v1/auth/web/login", responses((status = 303, description = "to GitHub")))]
pub async fn web_login(State(app): AppState) -> Result<Redirect, ApiError> {
    Ok(Redirect::to(&app.web_login().await?))
}

#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// Where GitHub sends the browser back. Answers the session and sets it as
/// an HttpOnly `token` cookie.
#[utoipa::path(get, path = "/v1/auth/web/callback", params(("code" = String, Query), ("state" = String, Query)),
    responses((status = 200, body = Session), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn web_callback(
    State(app): AppState,
    ApiQuery(query): ApiQuery<CallbackQuery>,
) -> Result<Response, ApiError> {
    if let Some(error) = query.error {
        return Err(ApiError::unauthenticated(format!(
            "GitHub did not sign you in: {error}"
        )));
    }
    let code = query
        .code
        .ok_or_else(|| ApiError::invalid("code", "is missing"))?;
    let state = query
        .state
        .ok_or_else(|| ApiError::invalid("state", "is missing"))?;
    let session = app.web_callback(&code, &state).await?;
    let secure = if app.config.public_url().starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "token={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        session.token,
        (session.expires_at - chrono::Utc::now())
            .num_seconds()
            .max(0)
    );
    let mut response = Json(session).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// Logs out: the user token is revoked until it expires.
#[utoipa::path(post, path = "/v1/auth/logout", responses((status = 204)), security(("bearer" = [])))]
pub async fn logout(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
) -> Result<StatusCode, ApiError> {
    app.logout(&caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/v1/whoami", responses((status = 200, body = WhoAmI)), security(("bearer" = [])))]
pub async fn whoami(State(app): AppState, Extension(caller): Extension<Caller>) -> Json<WhoAmI> {
    Json(app.whoami(&caller))
}

/// Creates an API token for the caller; the secret is in the answer only.
#[utoipa::path(post, path = "/v1/tokens", request_body = CreateToken,
    responses((status = 201, body = CreatedToken), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_token(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    ApiJson(req): ApiJson<CreateToken>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(app.create_token(&caller, req).await?),
    ))
}

#[utoipa::path(get, path = "/v1/tokens", responses((status = 200, body = Vec<TokenView>)), security(("bearer" = [])))]
pub async fn tokens(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Vec<TokenView>>, ApiError> {
    Ok(Json(app.tokens(&caller).await?))
}

#[utoipa::path(delete, path = "/v1/tokens/{id}", params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn revoke_token(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.revoke_api_token(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Adds a signing key (administrators).
#[utoipa::path(post, path = "/v1/admin/rotate-keys", responses((status = 200, body = RotatedKeys), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn rotate_keys(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
) -> Result<Json<RotatedKeys>, ApiError> {
    Ok(Json(app.rotate_keys(&caller).await?))
}

/// Revokes a user or cluster token by its `jti` (administrators).
#[utoipa::path(post, path = "/v1/admin/revoke", request_body = RevokeToken,
    responses((status = 204), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
pub async fn revoke(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    ApiJson(req): ApiJson<RevokeToken>,
) -> Result<StatusCode, ApiError> {
    app.revoke_jti(&caller, req).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    target: Option<String>,
    actor: Option<String>,
    action: Option<String>,
    /// Entries older than this id (paging backwards).
    before: Option<i64>,
    limit: Option<u32>,
}

/// The audit log, newest first (administrators).
#[utoipa::path(get, path = "/v1/audit",
    params(("target" = Option<String>, Query), ("actor" = Option<String>, Query), ("action" = Option<String>, Query),
        ("before" = Option<i64>, Query), ("limit" = Option<u32>, Query)),
    responses((status = 200, body = Vec<AuditEntryView>), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
pub async fn audit(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> Result<Json<Vec<AuditEntryView>>, ApiError> {
    let query = AuditQuery {
        target: params.target,
        actor: params.actor,
        action: params.action,
        before_id: params.before,
        limit: params.limit.unwrap_or(100).min(1000),
    };
    Ok(Json(app.audit_log(&caller, query).await?))
}
