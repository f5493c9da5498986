//! API tokens (created, listed, revoked — never the last administrator
//! credential), signing keys (rotation, JWKS), revocations of user and
//! cluster tokens (and the signed list gateways fetch), and the audit log.

use chrono::{TimeDelta, Utc};
use slipway_api::types::*;
use slipway_auth::api_token::{hash_secret, new_secret};
use slipway_auth::jwt::{ISSUER_SUBJECT, REVOCATIONS_AUDIENCE, RevocationList, RevokedToken};
use slipway_auth::keys::Jwks;
use slipway_core::duration::{format_duration, parse_duration};
use slipway_core::{Level, Subject};
use slipway_store::{ApiToken, AuditQuery, NewApiToken};

use crate::Service;
use crate::caller::{Caller, scope};
use crate::error::{Error, Result};

/// The default lifetime of an API token.
const DEFAULT_API_TOKEN_TTL: &str = "30d";

/// The most characters a token's name has.
const MAX_TOKEN_NAME: usize = 100;

/// How long a revocation list is fresh: gateways refetch it far more often
/// (every few seconds); this bounds how long a list copied elsewhere is
/// believed.
const REVOCATION_LIST_TTL: TimeDelta = TimeDelta::minutes(10);

pub fn token_view(t: ApiToken) -> TokenView {
    TokenView {
        id: t.id,
        name: t.name,
        owner: t.owner.to_string(),
        scopes: t.scopes,
        created_at: t.created_at,
        expires_at: t.expires_at,
        revoked_at: t.revoked_at,
    }
}

/// Whether a token's scopes give administrator power.
fn has_admin_scope(token: &ApiToken) -> bool {
    token
        .scopes
        .iter()
        .any(|s| s == scope::ADMIN || s == scope::ALL)
}

/// A signed revocation list (see [`Service::revocation_list`]).
pub struct SignedRevocations {
    pub token: String,
    /// Names this list's content: equal lists have equal tags.
    pub etag: String,
}

impl Service {
    /// Creates an API token owned by the caller; its secret is shown once.
    pub async fn create_token(&self, caller: &Caller, req: CreateToken) -> Result<CreatedToken> {
        caller.require(scope::TOKENS)?;
        let name = req.name.trim();
        if name.is_empty()
            || name.chars().count() > MAX_TOKEN_NAME
            || name.chars().any(char::is_control)
        {
            return Err(Error::invalid(
                "name",
                format!("must be 1 to {MAX_TOKEN_NAME} characters, without control characters"),
            ));
        }
        if req.scopes.is_empty() {
            return Err(Error::invalid(
                "scopes",
                format!("name at least one of {}", scope::KNOWN.join(", ")),
            ));
        }
        for s in &req.scopes {
            if !scope::KNOWN.contains(&s.as_str()) {
                return Err(Error::invalid(
                    "scopes",
                    format!(
                        "unknown scope {s:?}; scopes are {}",
                        scope::KNOWN.join(", ")
                    ),
                ));
            }
            // A token cannot carry more than its creator may do.
            if !caller.allows(s) {
                return Err(Error::forbidden(format!(
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
            return Err(Error::forbidden(
                "only site administrators may create admin tokens",
            ));
        }
        let max = self.config.auth.max_api_token_ttl;
        let ttl = parse_duration(
            "expires",
            req.expires.as_deref().unwrap_or(DEFAULT_API_TOKEN_TTL),
        )?;
        if ttl.is_zero() {
            return Err(Error::invalid("expires", "must be longer than zero"));
        }
        if ttl > max {
            return Err(Error::invalid(
                "expires",
                format!("must be at most {}", format_duration(max)),
            ));
        }
        let ttl = TimeDelta::from_std(ttl).map_err(|_| Error::invalid("expires", "is too long"))?;
        let now = Utc::now();
        let secret = new_secret();
        let token = self
            .store
            .create_api_token(NewApiToken {
                id: format!("tok_{}", uuid::Uuid::now_v7().simple()),
                name: name.to_owned(),
                owner: caller.subject().clone(),
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
    pub async fn tokens(&self, caller: &Caller) -> Result<Vec<TokenView>> {
        caller.require(scope::TOKENS)?;
        Ok(self
            .store
            .api_tokens()
            .await?
            .into_iter()
            .filter(|t| caller.identity.admin || t.owner == *caller.subject())
            .map(token_view)
            .collect())
    }

    /// Whether a token is, now, a way to administer the site.
    async fn is_admin_credential(&self, token: &ApiToken) -> Result<bool> {
        if !token.is_valid_at(Utc::now()) || !has_admin_scope(token) {
            return Ok(false);
        }
        Ok(token.owner.is_bootstrap()
            || self
                .store
                .user(&token.owner)
                .await?
                .is_some_and(|u| u.admin))
    }

    pub async fn revoke_api_token(&self, caller: &Caller, id: &str) -> Result<()> {
        caller.require(scope::TOKENS)?;
        let token = self
            .store
            .api_token(id)
            .await?
            .ok_or_else(|| Error::not_found(format!("token {id} does not exist")))?;
        if token.owner != *caller.subject() && !caller.identity.admin {
            return Err(Error::forbidden(
                "only the token's owner or an administrator may revoke it",
            ));
        }
        // Nobody could administer the server any more: refuse. (With GitHub
        // administrators configured, they still can.)
        if !self.config.auth.admins.any() && self.is_admin_credential(&token).await? {
            let mut others = false;
            for other in self.store.api_tokens().await? {
                if other.id != token.id && self.is_admin_credential(&other).await? {
                    others = true;
                    break;
                }
            }
            if !others {
                return Err(Error::conflict(
                    "last_admin_credential",
                    format!(
                        "token {id} is the last credential that can administer this server, and no GitHub administrators are configured: create another admin token first (or run slipway admin bootstrap-token on the server's host)"
                    ),
                ));
            }
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
    pub async fn rotate_keys(&self, caller: &Caller) -> Result<RotatedKeys> {
        caller.require_admin()?;
        let kid = self
            .identities
            .signer
            .keys
            .rotate(self.store.as_ref(), &self.identities.sealer)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "key rotation failed");
                Error::unavailable("key rotation failed; see the server log")
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
            published: self.jwks().keys.into_iter().filter_map(|k| k.kid).collect(),
        })
    }

    /// The published signing keys.
    pub fn jwks(&self) -> Jwks {
        self.identities.signer.keys.jwks()
    }

    /// Re-reads the signing keys (another replica may have rotated them).
    pub async fn refresh_keys(&self) -> anyhow::Result<()> {
        self.identities
            .signer
            .keys
            .refresh(self.store.as_ref(), &self.identities.sealer)
            .await
    }

    /// Denies a token id (user or cluster token) until the longest a token
    /// may live — at the API at once, at every cluster gateway within its
    /// revocation refresh.
    pub async fn revoke_jti(&self, caller: &Caller, req: RevokeToken) -> Result<()> {
        caller.require_admin()?;
        let jti = req.jti.trim();
        if jti.is_empty() || jti.len() > 128 || !jti.chars().all(|c| c.is_ascii_graphic()) {
            return Err(Error::invalid(
                "jti",
                "must name a token id (1 to 128 visible ASCII characters)",
            ));
        }
        let now = Utc::now();
        let until = now
            + TimeDelta::from_std(self.config.auth.longest_token()).unwrap_or(TimeDelta::days(1));
        self.store.revoke_token(jti, until, now).await?;
        self.audit(
            caller,
            Level::Admin,
            "token.revoke_jti",
            jti,
            "revoked",
            serde_json::json!({}),
        )
        .await;
        Ok(())
    }

    /// Every revoked token not yet expired, as a list signed with the
    /// token-signing key: public (it holds only random token ids), and
    /// trusted by gateways because it verifies against the JWKS.
    pub async fn revocation_list(&self) -> Result<SignedRevocations> {
        let now = Utc::now();
        let revoked: Vec<RevokedToken> = self
            .store
            .revocations(now)
            .await?
            .into_iter()
            .map(|r| RevokedToken {
                jti: r.jti,
                exp: r.expires_at.timestamp(),
            })
            .collect();
        let etag = {
            use sha2::{Digest, Sha256};
            let mut digest = Sha256::new();
            for r in &revoked {
                digest.update(r.jti.as_bytes());
                digest.update(r.exp.to_be_bytes());
            }
            format!("\"{}\"", &hex::encode(digest.finalize())[..32])
        };
        let list = RevocationList {
            iss: self.identities.signer.issuer.clone(),
            sub: ISSUER_SUBJECT.into(),
            aud: REVOCATIONS_AUDIENCE.into(),
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: (now + REVOCATION_LIST_TTL).timestamp(),
            revoked,
        };
        Ok(SignedRevocations {
            token: self.identities.signer.keys.sign(&list)?,
            etag,
        })
    }

    pub async fn audit_log(
        &self,
        caller: &Caller,
        query: AuditQuery,
    ) -> Result<Vec<AuditEntryView>> {
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
                actor_name: e.actor_name,
                level: e.level,
                action: e.action,
                target: e.target,
                result: e.result,
                detail: e.detail,
            })
            .collect())
    }
}

/// Mints a new bootstrap token for the host's operator (`slipway admin
/// bootstrap-token`): earlier bootstrap tokens are revoked, the new one's
/// secret returned once, and the act audited. Works on the database alone,
/// so it recovers a server nobody can administer any more.
pub async fn mint_bootstrap_token(
    store: &dyn slipway_store::Store,
    operator: &str,
) -> anyhow::Result<(ApiToken, String)> {
    let now = Utc::now();
    let mut revoked = Vec::new();
    for token in store.api_tokens().await? {
        if token.owner.is_bootstrap() && token.revoked_at.is_none() {
            store.revoke_api_token(&token.id, now).await?;
            revoked.push(token.id);
        }
    }
    let secret = new_secret();
    let token = store
        .create_api_token(NewApiToken {
            id: format!("tok_{}", uuid::Uuid::now_v7().simple()),
            name: BOOTSTRAP_TOKEN_NAME.into(),
            owner: Subject::bootstrap(),
            secret_hash: hash_secret(&secret),
            scopes: vec![scope::ALL.into()],
            created_at: now,
            expires_at: None,
        })
        .await?;
    store
        .append_audit(slipway_store::NewAuditEntry {
            at: now,
            actor: Subject::slipway("host-operator").to_string(),
            actor_name: operator.to_owned(),
            level: "system".into(),
            action: "token.bootstrap".into(),
            target: token.id.clone(),
            result: "created".into(),
            detail: serde_json::json!({"revoked": revoked}),
        })
        .await?;
    Ok((token, secret))
}

/// The name of the bootstrap administrator's token.
pub const BOOTSTRAP_TOKEN_NAME: &str = "bootstrap-admin";
