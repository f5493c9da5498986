//! API tokens (created, listed, revoked — never the last administrator
//! credential), signing keys (rotation, JWKS), revocations of user and
//! cluster tokens (and the signed list gateways fetch), and the audit log.
//!
//! The signed list is public and polled by every gateway every few
//! seconds, so it costs one signature per change, not per request:
//! [`RevocationCache`] keeps the signed document and its `ETag` until the
//! published revocations change — this process's notification, another
//! replica's (PostgreSQL relays them), or, should one be lost, the list's
//! version in the database, read at most once a second — or it is half as
//! old as it is fresh for. A request naming the current `ETag` is answered
//! from the cache without building or signing anything.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use prometheus_client::metrics::counter::Counter;
use slipway_api::types::*;
use slipway_auth::api_token::{hash_secret, new_secret};
use slipway_auth::jwt::{
    ISSUER_SUBJECT, REVOCATIONS_AUDIENCE, RevocationList, RevokedSubject, RevokedToken,
};
use slipway_auth::keys::Jwks;
use slipway_core::credentials::{AdminCredential, check_revocation, issued_before_cutoff};
use slipway_core::duration::{format_duration, parse_duration};
use slipway_core::{Level, Subject, Timestamp, ValidationError};
use slipway_store::{
    AdminCandidate, ApiToken, AuditQuery, NewApiToken, Notification, RefusedBy, Store,
};
use tokio::sync::broadcast::{self, error::TryRecvError};

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

/// A cached list is signed again once this old, though nothing changed:
/// well within its freshness, and expired entries leave it.
const RESIGN_AFTER: TimeDelta = TimeDelta::minutes(5);

/// How often, at most, a replica reads the list's version from the
/// database while it heard of no change: the fallback for a notification
/// lost on its way from another replica.
const VERSION_CHECK: Duration = Duration::from_secs(1);

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

/// A token as the last-administrator rule sees it: it administers if it
/// has an administrator scope and its owner is an administrator (the
/// bootstrap administrator, or a person recorded as one).
fn admin_credential(candidate: &AdminCandidate) -> AdminCredential {
    let token = &candidate.token;
    AdminCredential {
        id: token.id.clone(),
        administers: has_admin_scope(token)
            && (token.owner.is_bootstrap() || candidate.owner_admin),
        expires_at: token.expires_at,
        revoked: token.revoked_at.is_some(),
    }
}

/// A signed revocation list (see [`Service::revocation_list`]).
pub struct SignedRevocations {
    pub token: String,
    /// The answer's body, [`RevocationListView`] as JSON, made once.
    pub body: bytes::Bytes,
    /// Names this list's content: equal lists have equal tags, on every
    /// replica.
    pub etag: String,
}

impl SignedRevocations {
    /// Whether an `If-None-Match` header's value names this list (one tag,
    /// a comma-separated list of them, or `*`).
    pub fn matches(&self, if_none_match: &str) -> bool {
        if_none_match
            .split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || tag.trim_start_matches("W/") == self.etag)
    }
}

/// The signed list, kept until what it publishes changes.
pub struct RevocationCache {
    current: parking_lot::RwLock<Option<Cached>>,
    /// Held while the version is read or the list rebuilt: one rebuild at a
    /// time, however many requests arrive meanwhile.
    rebuilding: tokio::sync::Mutex<()>,
    /// Change notifications, drained at each request.
    notes: parking_lot::Mutex<broadcast::Receiver<Notification>>,
    /// A change was heard: read the version before serving the cache.
    changed: AtomicBool,
    /// Lists signed (`slipway_revocation_list_signatures_total`).
    signatures: Counter,
}

#[derive(Clone)]
struct Cached {
    list: Arc<SignedRevocations>,
    /// The store's version the list was built from.
    version: i64,
    signed_at: Timestamp,
    /// When the version was last confirmed.
    checked_at: Instant,
}

impl Cached {
    fn fresh(&self, now: Timestamp) -> bool {
        now.signed_duration_since(self.signed_at) < RESIGN_AFTER
    }
}

impl RevocationCache {
    pub fn new(store: &dyn Store) -> Self {
        Self {
            current: parking_lot::RwLock::new(None),
            rebuilding: tokio::sync::Mutex::new(()),
            notes: parking_lot::Mutex::new(store.subscribe()),
            changed: AtomicBool::new(false),
            signatures: Counter::default(),
        }
    }

    /// How many times this process signed the list.
    pub fn signatures(&self) -> Counter {
        self.signatures.clone()
    }

    /// Notes whether a change that concerns the list was heard since last
    /// time (a missed one counts as heard).
    fn heard_change(&self) -> bool {
        let mut notes = self.notes.lock();
        loop {
            match notes.try_recv() {
                Ok(Notification::Revoked | Notification::Resync) | Err(TryRecvError::Lagged(_)) => {
                    self.changed.store(true, Ordering::SeqCst);
                }
                Ok(_) => {}
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
        self.changed.load(Ordering::SeqCst)
    }

    /// The cached list, if nothing says it may be out of date.
    fn cached(&self, now: Timestamp) -> Option<Arc<SignedRevocations>> {
        if self.heard_change() {
            return None;
        }
        let current = self.current.read();
        let cached = current.as_ref()?;
        (cached.fresh(now) && cached.checked_at.elapsed() < VERSION_CHECK)
            .then(|| cached.list.clone())
    }
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

    /// Whether people can become administrators by signing in with GitHub:
    /// GitHub sign-in and administrator logins, organizations or teams are
    /// configured.
    fn github_admins(&self) -> bool {
        !self.config.auth.github.client_id.is_empty() && self.config.auth.admins.any()
    }

    /// Revokes an API token — never the last credential that can
    /// administer the site and stays valid (no expiry, or more than a day
    /// left), unless GitHub administrators are configured: decided on the
    /// tokens as they are inside the revocation's transaction.
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
        let github_admins = self.github_admins();
        let now = Utc::now();
        let check = move |target: &AdminCandidate, all: &[AdminCandidate]| {
            let all: Vec<AdminCredential> = all.iter().map(admin_credential).collect();
            check_revocation(&admin_credential(target), &all, github_admins, now)
        };
        self.store.revoke_api_token(id, now, &check).await?;
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
        self.store
            .revoke_token(jti, until, now, RefusedBy::Everyone)
            .await?;
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

    /// What the API and gateways refuse, as a list signed with the
    /// token-signing key: public (it holds only random token ids, and
    /// subjects with cluster names), and trusted by gateways because it
    /// verifies against the JWKS. Served from [`RevocationCache`]: signed
    /// once per change.
    pub async fn revocation_list(&self) -> Result<Arc<SignedRevocations>> {
        let cache = &self.revocations;
        if let Some(list) = cache.cached(Utc::now()) {
            return Ok(list);
        }
        let _rebuilding = cache.rebuilding.lock().await;
        // Another request may have done the work while this one waited.
        if let Some(list) = cache.cached(Utc::now()) {
            return Ok(list);
        }
        cache.changed.store(false, Ordering::SeqCst);
        let now = Utc::now();
        let version = self.store.revocations_version().await?;
        {
            let mut current = cache.current.write();
            if let Some(cached) = current.as_mut()
                && cached.version == version
                && cached.fresh(now)
            {
                cached.checked_at = Instant::now();
                return Ok(cached.list.clone());
            }
        }
        let published = self.store.revocations(now).await?;
        let list = Arc::new(self.sign_revocations(&published, now)?);
        cache.signatures.inc();
        *cache.current.write() = Some(Cached {
            list: list.clone(),
            version: published.version,
            signed_at: now,
            checked_at: Instant::now(),
        });
        Ok(list)
    }

    fn sign_revocations(
        &self,
        published: &slipway_store::PublishedRevocations,
        now: Timestamp,
    ) -> Result<SignedRevocations> {
        let revoked: Vec<RevokedToken> = published
            .tokens
            .iter()
            .map(|r| RevokedToken {
                jti: r.jti.clone(),
                exp: r.expires_at.timestamp(),
            })
            .collect();
        let subjects: Vec<RevokedSubject> = published
            .subjects
            .iter()
            .map(|r| RevokedSubject {
                sub: r.subject.to_string(),
                aud: r.cluster.to_string(),
                issued_before: issued_before_cutoff(r.issued_until),
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
            for r in &subjects {
                digest.update([0]);
                digest.update(r.sub.as_bytes());
                digest.update([0]);
                digest.update(r.aud.as_bytes());
                digest.update(r.issued_before.to_be_bytes());
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
            subjects,
        };
        let token = self.identities.signer.keys.sign(&list)?;
        let body = serde_json::to_vec(&RevocationListView {
            token: token.clone(),
        })
        .expect("a revocation list serializes")
        .into();
        Ok(SignedRevocations { token, body, etag })
    }

    /// The audit log, newest first (administrators): at most
    /// `filter.limit` entries (1 to 1000, default 100).
    pub async fn audit_log(
        &self,
        caller: &Caller,
        filter: AuditFilter,
    ) -> Result<Vec<AuditEntryView>> {
        caller.require_admin()?;
        let limit = filter.limit.unwrap_or(100);
        if !(1..=1000).contains(&limit) {
            return Err(ValidationError::new("limit", "must be between 1 and 1000").into());
        }
        let query = AuditQuery {
            target: filter.target,
            actor: filter.actor,
            action: filter.action,
            before_id: filter.before,
            limit,
        };
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
/// bootstrap-token`): earlier bootstrap tokens — and only those, never an
/// API token the bootstrap administrator created — are revoked in the same
/// transaction, the new one's secret returned once, and the act audited.
/// Works on the database alone, so it recovers a server nobody can
/// administer any more.
pub async fn mint_bootstrap_token(
    store: &dyn slipway_store::Store,
    operator: &str,
) -> anyhow::Result<(ApiToken, String)> {
    let now = Utc::now();
    let secret = new_secret();
    let (token, revoked) = store
        .replace_bootstrap_token(NewApiToken {
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
        .append_audit(
            slipway_store::AuditIntent::system(
                &Subject::slipway("host-operator"),
                "token.bootstrap",
            )
            .named(operator)
            .entry(
                now,
                token.id.clone(),
                "created",
                serde_json::json!({"revoked": revoked}),
            ),
        )
        .await?;
    Ok((token, secret))
}

/// The name of the bootstrap administrator's token.
pub const BOOTSTRAP_TOKEN_NAME: &str = "bootstrap-admin";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_names_the_list_by_its_tag_among_others_or_any() {
        let list = SignedRevocations {
            token: String::new(),
            body: bytes::Bytes::new(),
            etag: "\"abc\"".into(),
        };
        for matching in ["\"abc\"", "W/\"abc\"", "\"x\", \"abc\"", "*"] {
            assert!(list.matches(matching), "{matching}");
        }
        for other in ["\"abd\"", "abc", "", "\"x\""] {
            assert!(!list.matches(other), "{other}");
        }
    }
}

/// Which audit entries to read.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub target: Option<String>,
    /// A subject, or the name (login) an entry recorded.
    pub actor: Option<String>,
    pub action: Option<String>,
    /// Only entries with an id below this one (paging backwards).
    pub before: Option<i64>,
    /// 1 to 1000; 100 when not given.
    pub limit: Option<u32>,
}
