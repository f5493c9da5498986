//! Who is calling. Every action but signing in needs a credential — an API
//! token (`slw_…`) or a user token (`jwt_user`) — that the transport hands
//! over as it found it; [`Service::authenticate`] checks it before anything
//! else happens, limits the caller's rate, and counts failed attempts per
//! client address.

use std::net::IpAddr;
use std::time::Duration;

use chrono::Utc;
use slipway_auth::api_token::{hash_secret, looks_like_secret};
use slipway_core::{Identity, Level, OrgName, Subject, Timestamp};
use slipway_store::{Notification, Store};

use crate::Service;
use crate::error::{Error, Kind, Result};
use crate::memory::Memory;

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
    ApiToken {
        id: String,
        scopes: Vec<String>,
    },
    UserToken {
        jti: String,
        expires_at: Timestamp,
    },
    /// No credential, from a network trusted to act as a service identity
    /// (the first generation's gRPC clients).
    TrustedNetwork {
        address: IpAddr,
    },
}

/// Who a trusted network's calls act as: a Slipway identity of its own,
/// a member of these organizations (or a site administrator).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceIdentity {
    /// Its name: the subject is `slipway:<name>`.
    pub name: String,
    /// A site administrator (every organization).
    pub admin: bool,
    /// The organizations it is a member of.
    pub organizations: Vec<OrgName>,
}

impl Default for ServiceIdentity {
    fn default() -> Self {
        Self {
            name: "gen1".into(),
            admin: false,
            organizations: Vec::new(),
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub identity: Identity,
    pub credential: Credential,
}

impl Caller {
    pub fn subject(&self) -> &Subject {
        &self.identity.subject
    }

    /// What to call the caller (a login).
    pub fn name(&self) -> &str {
        &self.identity.name
    }

    pub fn level_for(&self, organization: &OrgName) -> Level {
        self.identity.level_for(organization)
    }

    /// Whether the credential allows `scope` (a user token allows all that
    /// its person may do; an API token only its scopes).
    pub fn allows(&self, wanted: &str) -> bool {
        match &self.credential {
            Credential::UserToken { .. } | Credential::TrustedNetwork { .. } => true,
            Credential::ApiToken { scopes, .. } => {
                scopes.iter().any(|s| s == wanted || s == scope::ALL)
            }
        }
    }

    /// Refuses unless the credential allows `scope`.
    pub fn require(&self, wanted: &str) -> Result<()> {
        if self.allows(wanted) {
            Ok(())
        } else {
            Err(Error::forbidden(format!(
                "this API token's scopes do not include {wanted}"
            )))
        }
    }

    /// Refuses unless the caller is a site administrator.
    pub fn require_admin(&self) -> Result<()> {
        self.require(scope::ADMIN)?;
        if self.identity.admin {
            Ok(())
        } else {
            Err(Error::forbidden(format!(
                "only site administrators may do this (your level: {})",
                self.identity.site_level()
            )))
        }
    }
}

/// Authentications remembered (see [`crate::memory`]), so that a request
/// costs no database read for its credential: the caller a credential's
/// SHA-256 authenticates, and when the credential expires. Only credentials
/// that were accepted are remembered, so what an unauthenticated client
/// sends cannot grow it. Every change that can alter whom a credential
/// authenticates is announced (`Notification::CredentialsChanged`: a token
/// revoked, a user or membership changed, a signing key rotated).
pub(crate) type Authentications = Memory<(Caller, Option<Timestamp>)>;

/// Remembers for at most `longest` (a membership recheck due sooner is not
/// delayed; none at all means every request checks with GitHub).
pub(crate) fn authentications(store: &dyn Store, longest: Duration) -> Authentications {
    Memory::new(store, longest, |note| {
        matches!(note, Notification::CredentialsChanged)
    })
}

impl Service {
    /// Authenticates a request from `client` carrying `secret` (a bearer
    /// token or session cookie, as the transport found it). An address that
    /// keeps failing is refused (429) before its credential is looked at.
    pub async fn authenticate(&self, secret: Option<&str>, client: IpAddr) -> Result<Caller> {
        self.rate_limiters.check_not_blocked(client)?;
        match self.check_credential(secret).await {
            Ok(caller) => {
                self.rate_limiters.request(caller.subject().as_str())?;
                Ok(caller)
            }
            Err(e) if e.kind == Kind::Unauthenticated => {
                Err(self.rate_limiters.failed_authentication(client, e))
            }
            Err(e) => Err(e),
        }
    }

    /// The caller `secret` authenticates: as remembered, or as read.
    async fn check_credential(&self, secret: Option<&str>) -> Result<Caller> {
        let secret = secret.map(str::trim).filter(|s| !s.is_empty()).ok_or_else(|| {
            Error::unauthenticated(
                "this needs a token: run slipway login, or pass --token / SLIPWAY_TOKEN (header Authorization: Bearer TOKEN)",
            )
        })?;
        let key = hash_secret(secret);
        if let Some((caller, expires_at)) = self.authentications.recall(&key)
            && expires_at.is_none_or(|at| Utc::now() < at)
        {
            return Ok(caller);
        }
        let generation = self.authentications.generation();
        let (caller, expires_at) = self.read_credential(secret, &key).await?;
        self.authentications
            .remember(key, generation, (caller.clone(), expires_at));
        Ok(caller)
    }

    /// The caller `secret` (whose SHA-256 is `hash`) authenticates, read
    /// from the store, and when the credential expires.
    async fn read_credential(
        &self,
        secret: &str,
        hash: &str,
    ) -> Result<(Caller, Option<Timestamp>)> {
        if looks_like_secret(secret) {
            let token = self
                .store
                .api_token_by_hash(hash)
                .await?
                .ok_or_else(|| Error::unauthenticated("the token is not valid"))?;
            if token.revoked_at.is_some() {
                return Err(Error::unauthenticated("the token was revoked"));
            }
            if !token.is_valid_at(Utc::now()) {
                return Err(Error::unauthenticated("the token has expired"));
            }
            let identity = self.identities.identity(self, &token.owner).await?;
            let caller = Caller {
                identity,
                credential: Credential::ApiToken {
                    id: token.id,
                    scopes: token.scopes,
                },
            };
            return Ok((caller, token.expires_at));
        }
        let claims = self
            .identities
            .verify_user_token(secret)
            .map_err(|e| Error::unauthenticated(e.to_string()))?;
        if self.store.token_revoked(&claims.jti).await? {
            return Err(Error::unauthenticated(
                "the token was revoked; log in again",
            ));
        }
        let subject = Subject::parse(&claims.sub)
            .map_err(|_| Error::unauthenticated("the token names no valid subject"))?;
        let identity = self.identities.identity(self, &subject).await?;
        let expires_at = chrono::DateTime::from_timestamp(claims.exp, 0).unwrap_or_default();
        let caller = Caller {
            identity,
            credential: Credential::UserToken {
                jti: claims.jti,
                expires_at,
            },
        };
        Ok((caller, Some(expires_at)))
    }

    /// A sign-in attempt from `client`: limited per address.
    pub fn sign_in_attempt(&self, client: IpAddr) -> Result<()> {
        self.rate_limiters.check_not_blocked(client)?;
        self.rate_limiters.sign_in(client)
    }

    /// A caller with no credential from a network trusted to act as
    /// `identity` (the first generation's gRPC clients): `Subject
    /// slipway:<name>`, audited under its name and the address it came
    /// from, and rate limited like anyone.
    pub fn trusted_network_caller(
        &self,
        identity: &ServiceIdentity,
        address: IpAddr,
    ) -> Result<Caller> {
        let subject = Subject::slipway(&identity.name);
        self.rate_limiters.request(subject.as_str())?;
        Ok(Caller {
            identity: Identity {
                subject,
                name: format!("{} (trusted network, {address})", identity.name),
                admin: identity.admin,
                organizations: identity.organizations.iter().cloned().collect(),
            },
            credential: Credential::TrustedNetwork { address },
        })
    }

    /// The client's address behind the configured trusted proxies.
    pub fn client_address<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl IntoIterator<Item = Option<&'a str>>,
    ) -> IpAddr {
        slipway_core::net::client_address(
            peer,
            forwarded_for,
            &self.config.auth.rate_limits.trusted_proxies,
        )
    }
}
