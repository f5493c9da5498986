//! Who people are: signing in with GitHub, their level and organizations
//! (re-checked with GitHub every few minutes), the signing keys of their
//! tokens, and the secrets key that seals what is stored.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::RwLock;

use anyhow::Context as _;
use base64::Engine as _;
use chrono::{TimeDelta, Utc};
use slipway_auth::github::{GitHub, GitHubConfig, GitHubError};
use slipway_auth::jwt::{self, API_AUDIENCE, Claims, KeySet, Verifier};
use slipway_auth::keys::{Jwks, Sealer, SigningKey};
use slipway_core::{Identity, Level, OrgName, Timestamp};
use slipway_store::{MembershipState, Store, StoredSigningKey, User};

use crate::config::{AuthConfig, Config};
use crate::error::ApiError;

/// The login that owns the bootstrap admin token.
pub const BOOTSTRAP_ADMIN: &str = "admin";

/// Loads the secrets key: from the configuration, or from
/// `<data_dir>/secrets.key` (created, mode 600, at first start).
pub fn load_sealer(config: &Config) -> anyhow::Result<Sealer> {
    let engine = base64::engine::general_purpose::STANDARD;
    let key = match &config.auth.secrets_key {
        Some(text) => engine
            .decode(text.trim())
            .context("auth.secrets_key must be base64")?,
        None => {
            let path = config.data_dir.join("secrets.key");
            if !path.exists() {
                let key = Sealer::generate_key()?;
                write_private(&path, engine.encode(key).as_bytes())?;
            }
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            engine
                .decode(text.trim())
                .with_context(|| format!("{} must hold a base64 key", path.display()))?
        }
    };
    Ok(Sealer::new(&key)?)
}

/// Writes a file only its owner can read.
pub fn write_private(path: &Path, content: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(content)?;
    Ok(())
}

/// The signing keys in use: the newest signs, and every key that signed a
/// token still unexpired is published and verifies.
pub struct KeyRing {
    state: RwLock<KeyRingState>,
}

struct KeyRingState {
    signing: SigningKey,
    jwks: Jwks,
    keys: KeySet,
}

fn seal_context(kid: &str) -> String {
    format!("signing-key:{kid}")
}

impl KeyRing {
    /// Loads the keys, creating the first one at first start.
    pub async fn load(
        store: &dyn Store,
        sealer: &Sealer,
        config: &AuthConfig,
    ) -> anyhow::Result<Self> {
        if store.signing_keys().await?.is_empty() {
            Self::add_key(store, sealer).await?;
        }
        let state = Self::read(store, sealer, config).await?;
        Ok(Self {
            state: RwLock::new(state),
        })
    }

    async fn add_key(store: &dyn Store, sealer: &Sealer) -> anyhow::Result<String> {
        let key = SigningKey::generate()?;
        store
            .rotate_signing_key(StoredSigningKey {
                private_key: sealer.seal(&seal_context(&key.kid), key.pkcs8())?,
                public_key: key.public_key().to_vec(),
                kid: key.kid.clone(),
                created_at: Utc::now(),
                retired_at: None,
            })
            .await?;
        Ok(key.kid)
    }

    async fn read(
        store: &dyn Store,
        sealer: &Sealer,
        config: &AuthConfig,
    ) -> anyhow::Result<KeyRingState> {
        let stored = store.signing_keys().await?;
        let newest = stored
            .iter()
            .find(|k| k.retired_at.is_none())
            .or(stored.first())
            .context("no signing key is stored")?;
        let pkcs8 = sealer
            .open(&seal_context(&newest.kid), &newest.private_key)
            .map_err(|e| anyhow::anyhow!("signing key {}: {e}", newest.kid))?;
        let signing = SigningKey::from_pkcs8(&newest.kid, &pkcs8)?;
        // A retired key stays published as long as a token it signed may live.
        let longest = TimeDelta::from_std(config.user_token_ttl.max(config.cluster_token_ttl))
            .unwrap_or(TimeDelta::MAX)
            + TimeDelta::seconds(jwt::LEEWAY_SECS as i64);
        let now = Utc::now();
        let jwks = Jwks {
            keys: stored
                .iter()
                .filter(|k| k.retired_at.is_none_or(|at| at + longest > now))
                .map(|k| slipway_auth::keys::Jwk::ed25519(&k.kid, &k.public_key))
                .collect(),
        };
        Ok(KeyRingState {
            keys: KeySet::from_jwks(&jwks),
            signing,
            jwks,
        })
    }

    /// Re-reads the keys (another replica may have rotated them).
    pub async fn refresh(
        &self,
        store: &dyn Store,
        sealer: &Sealer,
        config: &AuthConfig,
    ) -> anyhow::Result<()> {
        let state = Self::read(store, sealer, config).await?;
        *self.state.write().expect("key ring lock") = state;
        Ok(())
    }

    /// Adds a new key that signs from now on; the old ones stay published
    /// until every token they signed has expired. Returns the new key id.
    pub async fn rotate(
        &self,
        store: &dyn Store,
        sealer: &Sealer,
        config: &AuthConfig,
    ) -> anyhow::Result<String> {
        let kid = Self::add_key(store, sealer).await?;
        self.refresh(store, sealer, config).await?;
        Ok(kid)
    }

    pub fn jwks(&self) -> Jwks {
        self.state.read().expect("key ring lock").jwks.clone()
    }

    pub fn sign(&self, claims: &Claims) -> Result<String, ApiError> {
        let state = self.state.read().expect("key ring lock");
        jwt::sign(&state.signing, claims).map_err(|e| {
            tracing::error!(error = %e, "cannot sign a token");
            ApiError::unavailable("cannot sign tokens right now")
        })
    }

    pub fn verify(&self, verifier: &Verifier, token: &str) -> Result<Claims, jwt::Rejection> {
        let state = self.state.read().expect("key ring lock");
        verifier.verify(token, &state.keys)
    }
}

/// Turns GitHub failures into API errors: unavailability is 503 with a
/// retry hint, refused credentials 401 — never a silently lower level.
pub fn github_error(e: GitHubError) -> ApiError {
    match e {
        GitHubError::Unavailable {
            reason,
            retry_after,
        } => {
            let mut err = ApiError::unavailable(format!(
                "GitHub is unavailable ({reason}); try again shortly"
            ));
            err.retry_after = retry_after.or(Some(5));
            err
        }
        GitHubError::Unauthorized(reason) => ApiError::unauthenticated(format!(
            "GitHub refused the credentials ({reason}); log in again"
        )),
        GitHubError::Protocol(reason) => {
            tracing::warn!(%reason, "unexpected answer from GitHub");
            ApiError::unavailable("GitHub answered unexpectedly; try again shortly")
        }
    }
}

/// Signing in and knowing who people are.
pub struct Identities {
    pub github: GitHub,
    pub keys: KeyRing,
    pub sealer: Sealer,
    pub issuer: String,
    user_verifier: Verifier,
}

/// A freshly issued user token.
pub struct Session {
    pub token: String,
    pub identity: Identity,
    pub expires_at: Timestamp,
    /// Scopes asked of GitHub but not granted (organization membership may
    /// then be invisible).
    pub missing_scopes: Vec<String>,
}

impl Identities {
    pub fn new(config: &Config, keys: KeyRing, sealer: Sealer) -> Self {
        let gh = &config.auth.github;
        let issuer = config.public_url();
        Self {
            github: GitHub::new(GitHubConfig {
                oauth_url: gh.oauth_url.clone(),
                api_url: gh.api_url.clone(),
                client_id: gh.client_id.clone(),
                client_secret: gh.client_secret.clone(),
                scopes: gh.scopes.clone(),
                timeout: gh.timeout,
            }),
            keys,
            sealer,
            user_verifier: Verifier::new(&issuer, API_AUDIENCE),
            issuer,
        }
    }

    /// Verifies a user token (`jwt_user`).
    pub fn verify_user_token(&self, token: &str) -> Result<Claims, jwt::Rejection> {
        self.keys.verify(&self.user_verifier, token)
    }

    /// Signs in with a GitHub token: asks GitHub who it is and what it
    /// belongs to, records the person, and issues a user token.
    pub async fn sign_in(
        &self,
        store: &dyn Store,
        config: &AuthConfig,
        github_token: &str,
    ) -> Result<Session, ApiError> {
        let gh_user = self.github.user(github_token).await.map_err(github_error)?;
        let missing_scopes = config
            .github
            .scopes
            .iter()
            .filter(|s| !gh_user.scopes.contains(s))
            .cloned()
            .collect();
        let user = self
            .check_with_github(store, config, &gh_user.login, gh_user.id, github_token)
            .await?;
        let identity = self.identity_of_user(store, &user).await?;
        let (token, expires_at) = self.issue(
            &identity,
            API_AUDIENCE,
            identity.site_level(),
            config.user_token_ttl,
        )?;
        Ok(Session {
            token,
            identity,
            expires_at,
            missing_scopes,
        })
    }

    /// Asks GitHub whether the person is an administrator and which
    /// organizations they belong to through GitHub, and records it.
    async fn check_with_github(
        &self,
        store: &dyn Store,
        config: &AuthConfig,
        login: &str,
        github_id: i64,
        github_token: &str,
    ) -> Result<User, ApiError> {
        let gh = &self.github;
        let mut admin = config
            .admins
            .logins
            .iter()
            .any(|l| l.eq_ignore_ascii_case(login));
        for org in &config.admins.github_orgs {
            if admin {
                break;
            }
            admin = gh
                .org_member(github_token, org)
                .await
                .map_err(github_error)?;
        }
        for team in &config.admins.github_teams {
            if admin {
                break;
            }
            if let Some((org, slug)) = team.split_once('/') {
                admin = gh
                    .team_member(github_token, org, slug, login)
                    .await
                    .map_err(github_error)?;
            }
        }
        let mut github_orgs = Vec::new();
        for org in store.organizations().await? {
            let Some(gh_org) = &org.github_org else {
                continue;
            };
            let member = match &org.github_team {
                Some(team) => gh.team_member(github_token, gh_org, team, login).await,
                None => gh.org_member(github_token, gh_org).await,
            }
            .map_err(github_error)?;
            if member {
                github_orgs.push(org.name);
            }
        }
        let now = Utc::now();
        let created_at = store.user(login).await?.map_or(now, |u| u.created_at);
        let user = User {
            login: login.to_owned(),
            github_id,
            github_token: Some(
                self.sealer
                    .seal(&format!("github-token:{login}"), github_token.as_bytes())
                    .map_err(|_| ApiError::unavailable("cannot seal secrets right now"))?,
            ),
            admin,
            github_orgs,
            checked_at: now,
            created_at,
        };
        store.put_user(user.clone()).await?;
        Ok(user)
    }

    /// A person's identity now: GitHub-derived facts (re-checked when older
    /// than `membership_recheck`) plus memberships approved in Slipway.
    pub async fn identity(
        &self,
        store: &dyn Store,
        config: &AuthConfig,
        login: &str,
    ) -> Result<Identity, ApiError> {
        if login == BOOTSTRAP_ADMIN {
            return Ok(Identity {
                login: login.to_owned(),
                admin: true,
                organizations: BTreeSet::new(),
            });
        }
        let Some(mut user) = store.user(login).await? else {
            return Err(ApiError::unauthenticated(format!(
                "{login} has not signed in to Slipway; run slipway login"
            )));
        };
        let stale = Utc::now() - user.checked_at
            > TimeDelta::from_std(config.membership_recheck).unwrap_or(TimeDelta::MAX);
        if stale {
            let sealed = user.github_token.clone().ok_or_else(|| {
                ApiError::unauthenticated("no GitHub authorization is on record; log in again")
            })?;
            let token = self
                .sealer
                .open(&format!("github-token:{login}"), &sealed)
                .map_err(|_| {
                    ApiError::unauthenticated(
                        "the GitHub authorization on record cannot be read; log in again",
                    )
                })?;
            let token = String::from_utf8(token).map_err(|_| {
                ApiError::unauthenticated(
                    "the GitHub authorization on record is corrupt; log in again",
                )
            })?;
            user = self
                .check_with_github(store, config, login, user.github_id, &token)
                .await?;
        }
        self.identity_of_user(store, &user).await
    }

    async fn identity_of_user(&self, store: &dyn Store, user: &User) -> Result<Identity, ApiError> {
        let mut organizations: BTreeSet<OrgName> = user.github_orgs.iter().cloned().collect();
        organizations.extend(
            store
                .memberships_of(&user.login)
                .await?
                .into_iter()
                .filter(|m| m.state == MembershipState::Approved)
                .map(|m| m.organization),
        );
        Ok(Identity {
            login: user.login.clone(),
            admin: user.admin,
            organizations,
        })
    }

    /// Issues a token for `audience` at `level`.
    pub fn issue(
        &self,
        identity: &Identity,
        audience: &str,
        level: Level,
        ttl: std::time::Duration,
    ) -> Result<(String, Timestamp), ApiError> {
        let now = Utc::now();
        let expires_at = now + TimeDelta::from_std(ttl).unwrap_or(TimeDelta::hours(1));
        let claims = Claims {
            iss: self.issuer.clone(),
            sub: identity.login.clone(),
            aud: audience.to_owned(),
            exp: expires_at.timestamp(),
            nbf: now.timestamp(),
            iat: now.timestamp(),
            jti: uuid::Uuid::new_v4().simple().to_string(),
            level,
            orgs: identity
                .organizations
                .iter()
                .map(|o| o.to_string())
                .collect(),
        };
        Ok((self.keys.sign(&claims)?, expires_at))
    }
}
