//! The token-signing keys and the tokens they sign.
//!
//! [`KeyRing`]: the newest key signs; every key that signed a token still
//! unexpired is published (JWKS) and verifies. Private keys are sealed in
//! the store. [`TokenSigner`] issues tokens with the ring: user tokens,
//! cluster tokens, and the cluster tokens of TEST and RELEASE runs (it is
//! the worker's [`TokenIssuer`]).

use std::sync::RwLock;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{TimeDelta, Utc};
use slipway_auth::TokenIssuer;
use slipway_auth::jwt::{self, Claims, KeySet, Verifier};
use slipway_auth::keys::{Jwk, Jwks, Sealer, SigningKey};
use slipway_core::{ClusterName, Identity, Level, Subject, Timestamp};
use slipway_store::{IdentityStore, StoredSigningKey};

use crate::error::{Error, Result};

/// The signing keys in use.
pub struct KeyRing {
    state: RwLock<KeyRingState>,
    /// The longest any token lives: a retired key stays published that long.
    longest_token: TimeDelta,
}

struct KeyRingState {
    signing: SigningKey,
    jwks: Jwks,
    keys: KeySet,
}

/// What a signing key's private half is sealed to (with the secrets key).
pub fn seal_context(kid: &str) -> String {
    format!("signing-key:{kid}")
}

impl KeyRing {
    /// Loads the keys, creating the first one at first start. Tokens live
    /// at most `longest_token`.
    pub async fn load(
        store: &dyn IdentityStore,
        sealer: &Sealer,
        longest_token: Duration,
    ) -> anyhow::Result<Self> {
        if store.signing_keys().await?.is_empty() {
            Self::add_key(store, sealer).await?;
        }
        let longest_token = TimeDelta::from_std(longest_token).unwrap_or(TimeDelta::MAX)
            + TimeDelta::seconds(jwt::LEEWAY_SECS as i64);
        let state = Self::read(store, sealer, longest_token).await?;
        Ok(Self {
            state: RwLock::new(state),
            longest_token,
        })
    }

    async fn add_key(store: &dyn IdentityStore, sealer: &Sealer) -> anyhow::Result<String> {
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
        store: &dyn IdentityStore,
        sealer: &Sealer,
        longest_token: TimeDelta,
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
        let now = Utc::now();
        let jwks = Jwks {
            keys: stored
                .iter()
                .filter(|k| k.retired_at.is_none_or(|at| at + longest_token > now))
                .map(|k| Jwk::ed25519(&k.kid, &k.public_key))
                .collect(),
        };
        Ok(KeyRingState {
            keys: KeySet::from_jwks(&jwks),
            signing,
            jwks,
        })
    }

    /// Re-reads the keys (another replica may have rotated them).
    pub async fn refresh(&self, store: &dyn IdentityStore, sealer: &Sealer) -> anyhow::Result<()> {
        let state = Self::read(store, sealer, self.longest_token).await?;
        *self.state.write().expect("key ring lock") = state;
        Ok(())
    }

    /// Adds a new key that signs from now on; the old ones stay published
    /// until every token they signed has expired. Returns the new key id.
    pub async fn rotate(
        &self,
        store: &dyn IdentityStore,
        sealer: &Sealer,
    ) -> anyhow::Result<String> {
        let kid = Self::add_key(store, sealer).await?;
        self.refresh(store, sealer).await?;
        Ok(kid)
    }

    pub fn jwks(&self) -> Jwks {
        self.state.read().expect("key ring lock").jwks.clone()
    }

    /// Signs claims with the newest key.
    pub fn sign(&self, claims: &impl serde::Serialize) -> Result<String> {
        let state = self.state.read().expect("key ring lock");
        jwt::sign(&state.signing, claims).map_err(|e| {
            tracing::error!(error = %e, "cannot sign a token");
            Error::unavailable("cannot sign tokens right now")
        })
    }

    pub fn verify(
        &self,
        verifier: &Verifier,
        token: &str,
    ) -> std::result::Result<Claims, jwt::Rejection> {
        let state = self.state.read().expect("key ring lock");
        verifier.verify(token, &state.keys)
    }
}

/// Issues Slipway's tokens: signed by the key ring, issued by this Slipway
/// (its public URL).
pub struct TokenSigner {
    pub keys: KeyRing,
    pub issuer: String,
}

/// A token just signed.
pub struct Issued {
    pub token: String,
    /// Its id, which revocations name.
    pub jti: String,
    pub expires_at: Timestamp,
}

impl TokenSigner {
    /// Issues a token for `identity` with `audience` at `level`.
    pub fn issue(
        &self,
        identity: &Identity,
        audience: &str,
        level: Level,
        ttl: Duration,
    ) -> Result<Issued> {
        let now = Utc::now();
        let expires_at = now + TimeDelta::from_std(ttl).unwrap_or(TimeDelta::hours(1));
        let claims = Claims {
            iss: self.issuer.clone(),
            sub: identity.subject.to_string(),
            name: identity.name.clone(),
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
        Ok(Issued {
            token: self.keys.sign(&claims)?,
            jti: claims.jti,
            expires_at,
        })
    }
}

impl TokenIssuer for TokenSigner {
    fn run_token(
        &self,
        requested_by: &Subject,
        cluster: &ClusterName,
        ttl: Duration,
    ) -> std::result::Result<String, String> {
        let identity = Identity {
            subject: requested_by.clone(),
            name: requested_by.to_string(),
            admin: true,
            organizations: Default::default(),
        };
        self.issue(&identity, cluster.as_str(), Level::Admin, ttl)
            .map(|issued| issued.token)
            .map_err(|e| e.message)
    }
}
