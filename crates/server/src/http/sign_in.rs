//! Signing in (GitHub's device, web and token flows), signing out, and who
//! am I.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use slipway_api::types::*;
use slipway_service::sign_in::WEB_SIGN_IN_WINDOW;
use slipway_web::security::cookie;

use super::{ApiError, ApiJson, ApiQuery, AppState, Authenticated};

/// The cookie that binds a web sign-in to the browser that started it.
pub const SIGN_IN_COOKIE: &str = "slipway_sign_in";

/// Starts a GitHub device flow (`slipway login`).
#[utoipa::path(post, path = "/v1/auth/device", tag = "identity", responses((status = 200, body = DeviceStart)))]
pub async fn device_start(State(http): AppState) -> Result<Json<DeviceStart>, ApiError> {
    Ok(Json(http.service.device_start().await?))
}

/// Polls a device flow: `pending`, `slow_down` (with the longer interval),
/// or `complete` with the session; expired, denied and disabled flows are
/// refused (401).
#[utoipa::path(post, path = "/v1/auth/device/token", tag = "identity", request_body = DevicePoll,
    responses((status = 200, body = DevicePollResponse)))]
pub async fn device_poll(
    State(http): AppState,
    ApiJson(req): ApiJson<DevicePoll>,
) -> Result<Json<DevicePollResponse>, ApiError> {
    Ok(Json(http.service.device_poll(req).await?))
}

/// Signs in with a GitHub personal access token (CI).
#[utoipa::path(post, path = "/v1/auth/github-token", tag = "identity", request_body = GitHubTokenLogin,
    responses((status = 200, body = Session)))]
pub async fn github_token(
    State(http): AppState,
    ApiJson(req): ApiJson<GitHubTokenLogin>,
) -> Result<Json<Session>, ApiError> {
    Ok(Json(http.service.github_token_login(req).await?))
}

/// Whether cookies should be `Secure` (Slipway is reached over HTTPS).
pub fn secure_cookies(http: &super::Http) -> &'static str {
    if http.service.config.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WebLoginQuery {
    /// A path on this site to return to afterwards.
    return_to: Option<String>,
}

/// Starts a web sign-in: redirects to GitHub (authorization code with
/// PKCE S256 and a `state`), and binds the sign-in to this browser with a
/// short-lived `HttpOnly` cookie.
#[utoipa::path(get, path = "/v1/auth/web/login", tag = "identity", params(WebLoginQuery),
    responses((status = 303, description = "to GitHub")))]
pub async fn web_login(
    State(http): AppState,
    ApiQuery(query): ApiQuery<WebLoginQuery>,
) -> Result<Response, ApiError> {
    let started = http.service.web_login(query.return_to.as_deref()).await?;
    let cookie = format!(
        "{SIGN_IN_COOKIE}={}; Path=/v1/auth/web; HttpOnly; SameSite=Lax; Max-Age={}{}",
        started.binding,
        WEB_SIGN_IN_WINDOW.num_seconds(),
        secure_cookies(&http)
    );
    let mut response = Redirect::to(&started.redirect).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).expect("a cookie is ASCII"),
    );
    Ok(response)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// Where GitHub sends the browser back. The sign-in must have been started
/// in this browser. Sets the session as an `HttpOnly` `token` cookie and
/// answers it (or, for a sign-in started from the web UI, returns there).
#[utoipa::path(get, path = "/v1/auth/web/callback", tag = "identity", params(CallbackQuery),
    responses((status = 200, body = Session), (status = 303, description = "back to the page the sign-in started from")))]
pub async fn web_callback(
    State(http): AppState,
    ApiQuery(query): ApiQuery<CallbackQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(error) = query.error {
        return Err(slipway_service::Error::unauthenticated(format!(
            "GitHub did not sign you in: {}",
            error.chars().take(200).collect::<String>()
        ))
        .into());
    }
    let code = query
        .code
        .ok_or_else(|| slipway_core::ValidationError::new("code", "is missing"))?;
    let state = query
        .state
        .ok_or_else(|| slipway_core::ValidationError::new("state", "is missing"))?;
    let binding = cookie(&headers, SIGN_IN_COOKIE);
    let signed_in = http
        .service
        .web_callback(&code, &state, binding.as_deref())
        .await?;
    let session = signed_in.session;
    let secure = secure_cookies(&http);
    let session_cookie = format!(
        "token={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        session.token,
        (session.expires_at - chrono::Utc::now())
            .num_seconds()
            .max(0)
    );
    let spent =
        format!("{SIGN_IN_COOKIE}=; Path=/v1/auth/web; HttpOnly; SameSite=Lax; Max-Age=0{secure}");
    let mut response = match signed_in.return_to {
        Some(path) => Redirect::to(&path).into_response(),
        None => Json(session).into_response(),
    };
    for cookie in [session_cookie, spent] {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    Ok(response)
}

/// Logs out: the user token is revoked until it expires.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "identity", responses((status = 204)), security(("bearer" = [])))]
pub async fn logout(
    State(http): AppState,
    Authenticated(caller): Authenticated,
) -> Result<StatusCode, ApiError> {
    http.service.logout(&caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/v1/whoami", tag = "identity", responses((status = 200, body = WhoAmI)), security(("bearer" = [])))]
pub async fn whoami(State(http): AppState, Authenticated(caller): Authenticated) -> Json<WhoAmI> {
    Json(http.service.whoami(&caller))
}
