//! Signing in (GitHub device flow, personal access token, web flow with
//! PKCE), who am I, API tokens, key rotation, revocation, the audit log.

use chrono::{TimeDelta, Utc};
use slipway_api::types::*;
use slipway_auth::api_token::{hash_secret, new_secret};
use slipway_auth::github::{DevicePoll as GitHubPoll, Pkce};
use slipway_core::duration::parse_duration;
use slipway_core::{Identity, Level};
use slipway_store::{ApiToken, AuditQuery, NewApiToken, NewAuditEntry};

use crate::app::App;
use crate::auth::{Caller, Credential, scope};
use crate::error::ApiError;
use crate::identity::{Session as IssuedSession, github_error};

/// How long a web sign-in may take between the redirect to GitHub and the
/// callback (GitHub's codes live 10 minutes).
const WEB_SIGN_IN_WINDOW: TimeDelta = TimeDelta::minutes(10);

/// The default lifetime of an API token.
const DEFAULT_API_TOKEN_TTL: &str = "30d";

fn session_view(session: IssuedSession) -> Session {
    let warnings = if session.missing_scopes.is_empty() {
        Vec::new()
    } else {
        vec![format!(
            "GitHub did not grant the scopes {}: organization membership may not be visible to Slipway",
            session.missing_scopes.join(", ")
        )]
    };
    Session {
        token: session.token,
        login: session.identity.login.clone(),
        level: session.identity.site_level(),
        organizations: organizations(&session.identity),
        expires_at: session.expires_at,
        warnings,
    }
}

fn organizations(identity: &Identity) -> Vec<String> {
    identity
        .organizations
        .iter()
        .map(|o| o.to_string())
        .collect()
}

pub fn token_view(t: ApiToken) -> TokenView {
    TokenView {
        id: t.id,
        name: t.name,
        owner: t.owner,
        scopes: t.scopes,
        created_at: t.created_at,
        expires_at: t.expires_at,
        revoked_at: t.revoked_at,
    }
}

impl App {
    fn github_configured(&self) -> Result<(), ApiError> {
        if self.config.auth.github.client_id.is_empty() {
            return Err(ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "github_not_configured",
                "sign-in with GitHub is not configured on this server (auth.github.client_id)",
            ));
        }
        Ok(())
    }

    async fn audit_sign_in(&self, login: &str, how: &str, result: &str) {
        let entry = NewAuditEntry {
            at: Utc::now(),
            actor: login.to_owned(),
            level: Level::Member.to_string(),
            action: "auth.login".into(),
            target: login.to_owned(),
            result: result.to_owned(),
            detail: serde_json::json!({ "method": how }),
        };
        if let Err(e) = self.store.append_audit(entry).await {
            tracing::error!(error = %e, "cannot write the audit log");
        }
    }

    async fn sign_in(&self, github_token: &str, how: &str) -> Result<Session, ApiError> {
        let session = self
            .identities
            .sign_in(self.store.as_ref(), &self.config.auth, github_token)
            .await?;
        self.audit_sign_in(&session.identity.login, how, "signed_in")
            .await;
        Ok(session_view(session))
    }

    /// Starts a GitHub device flow for the CLI.
    pub async fn device_start(&self) -> Result<DeviceStart, ApiError> {
        self.github_configured()?;
        let code = self
            .identities
            .github
            .start_device_flow()
            .await
            .map_err(github_error)?;
        Ok(DeviceStart {
            device_code: code.device_code,
            user_code: code.user_code,
            verification_uri: code.verification_uri,
            expires_in: code.expires_in,
            interval: code.interval,
        })
    }

    /// Polls a device flow once; on approval, signs the person in.
    pub async fn device_poll(&self, req: DevicePoll) -> Result<DevicePollResponse, ApiError> {
        self.github_configured()?;
        let poll = self
            .identities
            .github
            .poll_device_flow(&req.device_code)
            .await
            .map_err(github_error)?;
        let refused = |code: &str, message: &str| {
            ApiError::new(axum::http::StatusCode::UNAUTHORIZED, code, message)
        };
        match poll {
            GitHubPoll::Pending => Ok(DevicePollResponse {
                status: DeviceStatus::Pending,
                interval: None,
                session: None,
            }),
            GitHubPoll::SlowDown { interval } => Ok(DevicePollResponse {
                status: DeviceStatus::SlowDown,
                interval: Some(interval),
                session: None,
            }),
            GitHubPoll::Expired => Err(refused(
                "device_code_expired",
                "the code expired before it was approved; run slipway login again",
            )),
            GitHubPoll::Denied => Err(refused("access_denied", "the sign-in was denied on GitHub")),
            GitHubPoll::Disabled => Err(refused(
                "device_flow_disabled",
                "the device flow is disabled for Slipway's GitHub app",
            )),
            GitHubPoll::IncorrectCode => Err(ApiError::invalid(
                "device_code",
                "is not a device code GitHub knows",
            )),
            GitHubPoll::Authorized { access_token } => Ok(DevicePollResponse {
                status: DeviceStatus::Complete,
                interval: None,
                session: Some(self.sign_in(&access_token, "device_flow").await?),
            }),
        }
    }

    /// Signs in with a GitHub personal access token (CI).
    pub async fn github_token_login(&self, req: GitHubTokenLogin) -> Result<Session, ApiError> {
        if req.token.trim().is_empty() {
            return Err(ApiError::invalid("token", "must be a GitHub token"));
        }
        self.sign_in(req.token.trim(), "github_token").await
    }

    fn web_callback_url(&self) -> String {
        format!("{}/v1/auth/web/callback", self.config.public_url())
    }

    /// Starts a web sign-in: remembers a state and a PKCE verifier, and
    /// answers where to send the browser.
    pub async fn web_login(&self) -> Result<String, ApiError> {
        self.github_configured()?;
        let state = uuid::Uuid::new_v4().simple().to_string();
        let pkce = Pkce::generate();
        let sealed = self
            .identities
            .sealer
            .seal(&format!("login-state:{state}"), pkce.verifier.as_bytes())
            .map_err(|_| ApiError::unavailable("cannot seal secrets right now"))?;
        self.store
            .put_login_state(&state, &sealed, Utc::now() + WEB_SIGN_IN_WINDOW)
            .await?;
        Ok(self
            .identities
            .github
            .authorize_url(&self.web_callback_url(), &state, &pkce.challenge))
    }

    /// Finishes a web sign-in: the state must be one Slipway issued, unused
    /// and unexpired; the code is exchanged with its PKCE verifier.
    pub async fn web_callback(&self, code: &str, state: &str) -> Result<Session, ApiError> {
        self.github_configured()?;
        let sealed = self
            .store
            .take_login_state(state, Utc::now())
            .await?
            .ok_or_else(|| {
                ApiError::new(
                    axum::http::StatusCode::BAD_REQUEST,
                    "invalid_state",
                    "state: unknown, used or expired sign-in state; start the sign-in again",
                )
            })?;
        let verifier = self
            .identities
            .sealer
            .open(&format!("login-state:{state}"), &sealed)
            .map_err(|_| {
                ApiError::invalid("state", "the sign-in state cannot be read; start again")
            })?;
        let verifier =
            String::from_utf8(verifier).map_err(|_| ApiError::invalid("state", "is corrupt"))?;
        let token = self
            .identities
            .github
            .exchange_code(code, &self.web_callback_url(), &verifier)
            .await
            .map_err(github_error)?;
        self.sign_in(&token, "web").await
    }

    /// Logs out: the user token's `jti` is denied until it expires.
    pub async fn logout(&self, caller: &Caller) -> Result<(), ApiError> {
        match &caller.credential {
            Credential::UserToken { jti, expires_at } => {
                self.store.revoke_token(jti, *expires_at).await?;
                self.audit(
                    caller,
                    caller.identity.site_level(),
                    "auth.logout",
                    caller.login(),
                    "revoked",
                    serde_json::json!({"jti": jti}),
                )
                .await;
                Ok(())
            }
            Credential::ApiToken { .. } => Err(ApiError::invalid(
                "token",
                "API tokens are revoked with slipway token revoke, not logout",
            )),
        }
    }

    pub fn whoami(&self, caller: &Caller) -> WhoAmI {
        let credential = match &caller.credential {
            Credential::ApiToken { id, scopes } => CredentialView {
                kind: "api_token".into(),
                id: id.clone(),
                scopes: scopes.clone(),
                expires_at: None,
            },
            Credential::UserToken { jti, expires_at } => CredentialView {
                kind: "user_token".into(),
                id: jti.clone(),
                scopes: vec![scope::ALL.into()],
                expires_at: Some(*expires_at),
            },
        };
        WhoAmI {
            login: caller.login().to_owned(),
            level: caller.identity.site_level(),
            organizations: organizations(&caller.identity),
            credential,
        }
    }

    /// Creates an API token owned by the caller; its secret is shown once.
    pub async fn create_token(
        &self,
        caller: &Caller,
        req: CreateToken,
    ) -> Result<CreatedToken, ApiError> {
        caller.require(scope::TOKENS)?;
        let name = req.name.trim();
        if name.is_empty() || name.len() > 100 {
            return Err(ApiError::invalid("name", "must be 1 to 100 characters"));
        }
        if req.scopes.is_empty() {
            return Err(ApiError::invalid(
                "scopes",
                format!("name at least one of {}", scope::KNOWN.join(", ")),
            ));
        }
        for s in &req.scopes {
            if !scope::KNOWN.contains(&s.as_str()) {
                return Err(ApiError::invalid(
                    "scopes",
                    format!(
                        "unknown scope {s:?}; scopes are {}",
                        scope::KNOWN.join(", ")
                    ),
                ));
            }
            // A token cannot carry more than its creator may do.
            if !caller.allows(s) {
                return Err(ApiError::forbidden(format!(
                    "your credential does not have the scope {s}"
                )));
            }
        }
        if req
            .scopes
            .iter()
            .any(|s| s == scope::ADMIN || s == scope::ALL)
            && !caller.identity.admin
        {
            return Err(ApiError::forbidden(
                "only site administrators may create admin tokens",
            ));
        }
        let ttl = parse_duration(
            "expires",
            req.expires.as_deref().unwrap_or(DEFAULT_API_TOKEN_TTL),
        )?;
        let ttl =
            TimeDelta::from_std(ttl).map_err(|_| ApiError::invalid("expires", "is too long"))?;
        if ttl <= TimeDelta::zero() {
            return Err(ApiError::invalid("expires", "must be longer than zero"));
        }
        let now = Utc::now();
        let secret = new_secret();
        let token = self
            .store
            .create_api_token(NewApiToken {
                id: format!("tok_{}", uuid::Uuid::now_v7().simple()),
                name: name.to_owned(),
                owner: caller.login().to_owned(),
                secret_hash: hash_secret(&secret),
                scopes: req.scopes,
                created_at: now,
                expires_at: now.checked_add_signed(ttl),
            })
            .await?;
        self.audit(
            caller,
            caller.identity.site_level(),
            "token.create",
            &token.id,
            "created",
            serde_json::json!({"name": token.name, "scopes": token.scopes}),
        )
        .await;
        Ok(CreatedToken {
            token: token_view(token),
            secret,
        })
    }

    /// The caller's tokens (an administrator's: everyone's).
    pub async fn tokens(&self, caller: &Caller) -> Result<Vec<TokenView>, ApiError> {
        caller.require(scope::TOKENS)?;
        Ok(self
            .store
            .api_tokens()
            .await?
            .into_iter()
            .filter(|t| caller.identity.admin || t.owner == caller.login())
            .map(token_view)
            .collect())
    }

    pub async fn revoke_api_token(&self, caller: &Caller, id: &str) -> Result<(), ApiError> {
        caller.require(scope::TOKENS)?;
        let token = self
            .store
            .api_tokens()
            .await?
            .into_iter()
            .find(|t| t.id == id)
            .ok_or_else(|| ApiError::not_found(format!("token {id} does not exist")))?;
        if token.owner != caller.login() && !caller.identity.admin {
            return Err(ApiError::forbidden(
                "only the token's owner or an administrator may revoke it",
            ));
        }
        self.store.revoke_api_token(id, Utc::now()).await?;
        self.audit(
            caller,
            caller.identity.site_level(),
            "token.revoke",
            id,
            "revoked",
            serde_json::json!({}),
        )
        .await;
        Ok(())
    }

    /// Adds a signing key; the old ones stay published until the tokens they
    /// signed have expired.
    pub async fn rotate_keys(&self, caller: &Caller) -> Result<RotatedKeys, ApiError> {
        caller.require_admin()?;
        let kid = self
            .identities
            .keys
            .rotate(
                self.store.as_ref(),
                &self.identities.sealer,
                &self.config.auth,
            )
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "key rotation failed");
                ApiError::unavailable("key rotation failed; see the server log")
            })?;
        self.audit(
            caller,
            Level::Admin,
            "keys.rotate",
            &kid,
            "rotated",
            serde_json::json!({}),
        )
        .await;
        Ok(RotatedKeys {
            signing_kid: kid,
            published: self
                .identities
                .keys
                .jwks()
                .keys
                .into_iter()
                .filter_map(|k| k.kid)
                .collect(),
        })
    }

    /// Denies a token id (user or cluster token) until the longest a token
    /// may live.
    pub async fn revoke_jti(&self, caller: &Caller, req: RevokeToken) -> Result<(), ApiError> {
        caller.require_admin()?;
        if req.jti.trim().is_empty() {
            return Err(ApiError::invalid("jti", "must name a token id"));
        }
        let longest = self
            .config
            .auth
            .user_token_ttl
            .max(self.config.auth.cluster_token_ttl);
        let until = Utc::now() + TimeDelta::from_std(longest).unwrap_or(TimeDelta::days(1));
        self.store.revoke_token(req.jti.trim(), until).await?;
        self.audit(
            caller,
            Level::Admin,
            "token.revoke_jti",
            req.jti.trim(),
            "revoked",
            serde_json::json!({}),
        )
        .await;
        Ok(())
    }

    pub async fn audit_log(
        &self,
        caller: &Caller,
        query: AuditQuery,
    ) -> Result<Vec<AuditEntryView>, ApiError> {
        caller.require_admin()?;
        Ok(self
            .store
            .audit_log(&query)
            .await?
            .into_iter()
            .map(|e| AuditEntryView {
                id: e.id,
                at: e.at,
                actor: e.actor,
                level: e.level,
                action: e.action,
                target: e.target,
                result: e.result,
                detail: e.detail,
            })
            .collect())
    }
}
