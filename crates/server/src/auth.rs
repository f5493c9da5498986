//! Who is calling. Every `/v1` route but the sign-in ones needs a
//! credential — an API token (`slw_…`) or a user token (`jwt_user`), as a
//! bearer token or a `token` cookie — checked here before any handler runs.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use slipway_auth::api_token::{hash_secret, looks_like_secret};
use slipway_core::{Identity, Level, OrgName, Timestamp};

use crate::app::App;
use crate::error::ApiError;

/// The scopes an API token may carry.
pub mod scope {
    pub const CLUSTERS_READ: &str = "clusters:read";
    pub const CLUSTERS_WRITE: &str = "clusters:write";
    pub const CLUSTERS_ACCESS: &str = "clusters:access";
    pub const ORGS_WRITE: &str = "orgs:write";
    pub const TOKENS: &str = "tokens";
    pub const ADMIN: &str = "admin";
    pub const ALL: &str = "*";
    pub const KNOWN: &[&str] = &[
        CLUSTERS_READ,
        CLUSTERS_WRITE,
        CLUSTERS_ACCESS,
        ORGS_WRITE,
        TOKENS,
        ADMIN,
        ALL,
    ];
}

/// The credential a request came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    ApiToken { id: String, scopes: Vec<String> },
    UserToken { jti: String, expires_at: Timestamp },
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub identity: Identity,
    pub credential: Credential,
}

impl Caller {
    pub fn login(&self) -> &str {
        &self.identity.login
    }

    pub fn level_for(&self, organization: &OrgName) -> Level {
        self.identity.level_for(organization)
    }

    /// Whether the credential allows `scope` (a user token allows all that
    /// its person may do; an API token only its scopes).
    pub fn allows(&self, wanted: &str) -> bool {
        match &self.credential {
            Credential::UserToken { .. } => true,
            Credential::ApiToken { scopes, .. } => {
                scopes.iter().any(|s| s == wanted || s == scope::ALL)
            }
        }
    }

    /// Refuses unless the credential allows `scope`.
    pub fn require(&self, wanted: &str) -> Result<(), ApiError> {
        if self.allows(wanted) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "this API token's scopes do not include {wanted}"
            )))
        }
    }

    /// Refuses unless the caller is a site administrator.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        self.require(scope::ADMIN)?;
        if self.identity.admin {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "only site administrators may do this (your level: {})",
                self.identity.site_level()
            )))
        }
    }
}

/// The credential of a request: the bearer token, else the `token` cookie.
pub fn credential(headers: &HeaderMap) -> Option<String> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_owned());
    bearer.or_else(|| {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == "token")
            .map(|(_, value)| value.to_owned())
    })
}

async fn authenticate(app: &App, secret: Option<String>) -> Result<Caller, ApiError> {
    let secret = secret.ok_or_else(|| {
        ApiError::unauthenticated(
            "this route needs a token: run slipway login, or pass --token / SLIPWAY_TOKEN (header Authorization: Bearer TOKEN)",
        )
    })?;
    if looks_like_secret(&secret) {
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
        let identity = app
            .identities
            .identity(app.store.as_ref(), &app.config.auth, &token.owner)
            .await?;
        return Ok(Caller {
            identity,
            credential: Credential::ApiToken {
                id: token.id,
                scopes: token.scopes,
            },
        });
    }
    let claims = app
        .identities
        .verify_user_token(&secret)
        .map_err(|e| ApiError::unauthenticated(e.to_string()))?;
    if app.store.token_revoked(&claims.jti).await? {
        return Err(ApiError::unauthenticated(
            "the token was revoked; log in again",
        ));
    }
    let identity = app
        .identities
        .identity(app.store.as_ref(), &app.config.auth, &claims.sub)
        .await?;
    Ok(Caller {
        identity,
        credential: Credential::UserToken {
            jti: claims.jti,
            expires_at: chrono::DateTime::from_timestamp(claims.exp, 0).unwrap_or_default(),
        },
    })
}

/// Middleware: authenticates the caller and hands it to the handler as a
/// request extension, or answers 401 (503 if GitHub must be asked and
/// cannot answer).
pub async fn require_caller(
    State(app): State<Arc<App>>,
    mut request: Request,
    next: Next,
) -> Response {
    let secret = credential(request.headers());
    match authenticate(&app, secret).await {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_credential_comes_from_the_bearer_or_the_cookie() {
        let mut headers = HeaderMap::new();
        assert_eq!(credential(&headers), None);
        headers.insert(
            header::COOKIE,
            "a=1; token=jwt.from.cookie".parse().unwrap(),
        );
        assert_eq!(credential(&headers).as_deref(), Some("jwt.from.cookie"));
        headers.insert(header::AUTHORIZATION, "Bearer slw_x".parse().unwrap());
        assert_eq!(credential(&headers).as_deref(), Some("slw_x"));
        headers.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(credential(&headers).as_deref(), Some("jwt.from.cookie"));
    }
}
