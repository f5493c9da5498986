//! Who is calling: every `/v1` route needs a bearer token, checked here
//! before any handler runs.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use std::sync::Arc;

use crate::app::App;
use crate::error::ApiError;
use crate::tokens::hash_secret;

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The user (or token owner) acting.
    pub name: String,
    /// The caller's access level, as the audit log records it.
    pub level: String,
    /// The API token used.
    pub token_id: String,
}

/// Reads the bearer token of a request.
fn bearer(request: &Request) -> Option<&str> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

async fn authenticate(app: &App, secret: Option<String>) -> Result<Caller, ApiError> {
    let secret = secret.ok_or_else(|| {
        ApiError::unauthenticated(
            "this route needs a token: pass --token or set SLIPWAY_TOKEN (header Authorization: Bearer TOKEN)",
        )
    })?;
    let token = app
        .store
        .api_token_by_hash(&hash_secret(&secret))
        .await?
        .ok_or_else(|| ApiError::unauthenticated("the token is not valid"))?;
    if token.revoked_at.is_some() {
        return Err(ApiError::unauthenticated("the token was revoked"));
    }
    if !token.is_valid_at(Utc::now()) {
        return Err(ApiError::unauthenticated("the token has expired"));
    }
    Ok(Caller {
        name: token.owner,
        level: "admin".into(),
        token_id: token.id,
    })
}

/// Middleware: authenticates the caller and hands it to the handler as a
/// request extension, or answers 401.
pub async fn require_caller(
    State(app): State<Arc<App>>,
    mut request: Request,
    next: Next,
) -> Response {
    let secret = bearer(&request).map(str::to_owned);
    match authenticate(&app, secret).await {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(e) => e.into_response(),
    }
}
